"""Activations g(Z) and their backward steps dA ↦ dA ∗ g'(Z), kept together in one registry entry.

Every function takes the array namespace ``xp`` first and works elementwise on
arrays of shape ``(n[l], m)``. A backward step also receives the cached
``A = g(Z)`` so that it can reuse it instead of recomputing the activation.
The elementwise ones run as one fused kernel each on CuPy (``backend.elementwise``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .backends.fusion import elementwise
from .registry import Registry

LEAKY_RELU_SLOPE = 0.01


@dataclass(frozen=True)
class Activation:
    """g and the backward step through it, for one activation.

    forward(xp, Z) -> A = g(Z).
    backward(xp, dA, Z, A) -> dZ = dA ∗ g'(Z); None for softmax and exp, output activations whose
    derivative is only used fused with their loss.
    init: the initializer of the weights feeding it (He for ReLUs, Glorot for the rest).
    sklearn_name: scikit-learn's name for it, where scikit-learn names it differently.
    """

    name: str
    forward: Callable
    backward: Callable | None
    init: str = "xavier"
    sklearn_name: str | None = None

    def __post_init__(self):
        if self.sklearn_name is None:
            object.__setattr__(self, "sklearn_name", self.name)

    @property
    def hidden_ok(self) -> bool:
        """Whether the activation may be used on a hidden layer."""
        return self.backward is not None


@elementwise
def sigmoid(xp, Z):
    """σ(Z) = 1 / (1 + e^-Z), evaluated with E = e^-|Z| as 1 / (1 + E) for Z ≥ 0 and E / (1 + E) for Z < 0:
    E never overflows, and each tail keeps full relative precision (σ(-40) = 4.2e-18, not 0)."""
    E = xp.exp(-xp.abs(Z))
    return xp.where(Z >= 0, 1.0, E) / (1.0 + E)


@elementwise
def sigmoid_backward(xp, dA, Z, A):
    """dA ∗ σ'(Z) with σ'(Z) = σ(Z)·(1 - σ(Z)), from the cached A = σ(Z)."""
    return dA * A * (1 - A)


@elementwise
def relu(xp, Z):
    """max(Z, 0)."""
    return xp.maximum(Z, 0.0)


@elementwise
def relu_backward(xp, dA, Z, A):
    """dA ∗ relu'(Z), with relu'(Z) = 1 where Z > 0, else 0."""
    return dA * xp.astype(Z > 0, dA.dtype)


@elementwise
def leaky_relu(xp, Z):
    """Z where Z > 0, else 0.01·Z: the larger of the two, as the slope is below 1."""
    return xp.maximum(Z, LEAKY_RELU_SLOPE * Z)


@elementwise
def leaky_relu_backward(xp, dA, Z, A):
    """dA ∗ g'(Z), with g'(Z) = 1 where Z > 0, else 0.01."""
    return dA * (LEAKY_RELU_SLOPE + (1 - LEAKY_RELU_SLOPE) * xp.astype(Z > 0, dA.dtype))


@elementwise
def tanh(xp, Z):
    """tanh(Z)."""
    return xp.tanh(Z)


@elementwise
def tanh_backward(xp, dA, Z, A):
    """dA ∗ (1 - tanh²(Z)), from the cached A = tanh(Z)."""
    return dA * (1 - A * A)


def identity(xp, Z):
    """Z itself (the output of a regression network)."""
    return Z


def identity_backward(xp, dA, Z, A):
    """dA ∗ 1 = dA."""
    return dA


@elementwise
def exp(xp, Z):
    """e^Z (the output of a Poisson regression network: a positive rate)."""
    return xp.exp(Z)


def softmax(xp, Z):
    """exp(Z) / Σ exp(Z) over each column (one column per sample), shifted so it never overflows."""
    E = shifted_exp(xp, Z, xp.max(Z, axis=0, keepdims=True))
    return E / xp.sum(E, axis=0, keepdims=True)


@elementwise
def shifted_exp(xp, Z, Z_max):
    """e^(Z - Z_max), with Z_max each column's largest value: every entry in (0, 1]."""
    return xp.exp(Z - Z_max)


ACTIVATIONS = Registry.of("activation", {entry.name: entry for entry in (
    Activation("sigmoid", sigmoid, sigmoid_backward, init="xavier", sklearn_name="logistic"),
    Activation("relu", relu, relu_backward, init="he"),
    Activation("leaky_relu", leaky_relu, leaky_relu_backward, init="he"),
    Activation("tanh", tanh, tanh_backward, init="xavier"),
    Activation("identity", identity, identity_backward, init="xavier"),
    Activation("softmax", softmax, None),
    Activation("exp", exp, None),
)})
HIDDEN = tuple(name for name, entry in ACTIVATIONS.items() if entry.hidden_ok)  # those a hidden layer may use


def by_sklearn_name(name: str) -> str:
    """Our name of an activation scikit-learn names ``name`` ("logistic" is "sigmoid"); other names as given."""
    return next((ours for ours, entry in ACTIVATIONS.items() if entry.sklearn_name == name), name)
