"""Activations g(Z) and their derivatives g'(Z), kept together in one registry entry.

Every function takes the array namespace ``xp`` first and works elementwise on
``Z`` of shape ``(n[l], m)``. A derivative also receives the cached ``A = g(Z)``
so that it can reuse it instead of recomputing the activation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

LEAKY_RELU_SLOPE = 0.01


@dataclass(frozen=True)
class Activation:
    """g and g' of one activation.

    forward(xp, Z) -> A = g(Z).
    derivative(xp, Z, A) -> g'(Z); None for softmax, whose derivative only
    exists fused with its loss in the output layer.
    """

    name: str
    forward: Callable
    derivative: Callable | None

    @property
    def hidden_ok(self) -> bool:
        """Whether the activation may be used on a hidden layer."""
        return self.derivative is not None


def sigmoid(xp, Z):
    """σ(Z) = 1 / (1 + e^-Z), evaluated as (1 + tanh(Z/2)) / 2, which never overflows."""
    return 0.5 * xp.tanh(0.5 * Z) + 0.5


def sigmoid_prime(xp, Z, A):
    """σ'(Z) = σ(Z)·(1 - σ(Z)), from the cached A = σ(Z)."""
    return A * (1 - A)


def relu(xp, Z):
    """max(Z, 0)."""
    return xp.maximum(Z, 0.0)


def relu_prime(xp, Z, A):
    """1 where Z > 0, else 0."""
    return xp.astype(Z > 0, Z.dtype)


def leaky_relu(xp, Z):
    """Z where Z > 0, else 0.01·Z."""
    return xp.where(Z > 0, Z, LEAKY_RELU_SLOPE * Z)


def leaky_relu_prime(xp, Z, A):
    """1 where Z > 0, else 0.01."""
    ones = xp.ones_like(Z)
    return xp.where(Z > 0, ones, LEAKY_RELU_SLOPE * ones)


def tanh(xp, Z):
    """tanh(Z)."""
    return xp.tanh(Z)


def tanh_prime(xp, Z, A):
    """1 - tanh²(Z), from the cached A = tanh(Z)."""
    return 1 - A * A


def identity(xp, Z):
    """Z itself (the output of a regression network)."""
    return Z


def identity_prime(xp, Z, A):
    """1 everywhere."""
    return xp.ones_like(Z)


def softmax(xp, Z):
    """exp(Z) / Σ exp(Z) over each column (one column per sample), shifted so it never overflows."""
    E = xp.exp(Z - xp.max(Z, axis=0, keepdims=True))
    return E / xp.sum(E, axis=0, keepdims=True)


ACTIVATIONS: dict[str, Activation] = {
    entry.name: entry
    for entry in (
        Activation("sigmoid", sigmoid, sigmoid_prime),
        Activation("relu", relu, relu_prime),
        Activation("leaky_relu", leaky_relu, leaky_relu_prime),
        Activation("tanh", tanh, tanh_prime),
        Activation("identity", identity, identity_prime),
        Activation("softmax", softmax, None),
    )
}


def get_activation(name: str) -> Activation:
    """The registry entry for ``name``; ``ValueError`` listing the valid names otherwise."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown activation {name!r}; valid activations are {', '.join(ACTIVATIONS)}") from None
