"""Numerical gradient check: central differences in float64 against ``backward``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .backends import Backend
from .network import Architecture, compute_cost, forward, init_parameters, l2_gradient, l2_penalty
from .parameters import Parameters
from .training.step import gradients

DEFAULT_TOLERANCE = 1e-7


@dataclass(frozen=True)
class GradientCheck:
    """Relative error ‖numerical - analytic‖ / (‖numerical‖ + ‖analytic‖) per gradient.

    errors: [("dW[1]", error), ("db[1]", error), ..., ("db[L]", error)], each layer's arrays in its order.
    """

    errors: list[tuple[str, float]]

    @property
    def max_error(self) -> float:
        return max(error for _, error in self.errors)

    def passed(self, tolerance: float = DEFAULT_TOLERANCE) -> bool:
        return self.max_error <= tolerance

    def __str__(self) -> str:
        rows = [f"{name:>8}  {error:.3e}" for name, error in self.errors]
        return "\n".join(["gradient  relative error", *rows, f"{'max':>8}  {self.max_error:.3e}"])


def relative_error(numerical: np.ndarray, analytic: np.ndarray) -> float:
    """‖numerical - analytic‖ / (‖numerical‖ + ‖analytic‖), and 0 when both are zero."""
    scale = np.linalg.norm(numerical) + np.linalg.norm(analytic)
    return 0.0 if scale == 0 else float(np.linalg.norm(numerical - analytic) / scale)


def gradient_check(
    backend: Backend, arch: Architecture, params, X, Y, *, l2: float = 0.0, masks=None, s=None,
    epsilon: float = 1e-5,
) -> GradientCheck:
    """Compare the training step's gradients (``gpudeep.training.gradients`` and the L2 term) with
    (J(θ + ε) - J(θ - ε)) / 2ε for every parameter.

    Runs in float64 on copies of ``params`` (``Parameters`` or per-layer tuples), ``X`` ``(n[0], m)`` and
    ``Y`` ``(n[L], m)``, which may be of any dtype on ``backend``; the caller's arrays are left untouched.
    ``l2``, the sample weights ``s`` ``(1, m)`` and the dropout ``masks`` (fixed, so the cost is
    deterministic) are as for ``backward``; batch normalization uses the batch's statistics, as in training.
    Where a ReLU input Z is exactly 0 the derivative is undefined and the check
    fails there; zero biases behind a layer that is dead for some sample do that,
    which is why ``check_architecture`` draws nonzero biases.
    """
    xp = backend.xp
    params = _float64_copy(backend, arch, params)
    X, Y = xp.astype(X, xp.float64), xp.astype(Y, xp.float64)
    masks = masks and [None if D is None else xp.astype(D, xp.float64) for D in masks]
    s = None if s is None else xp.astype(s, xp.float64)
    m = Y.shape[1]

    def cost() -> float:
        cache = forward(xp, arch, params, X, masks, training=True)
        return float(backend.to_numpy(compute_cost(xp, arch, cache, Y, s) + l2_penalty(xp, params, l2, m)))

    _, _, grads = gradients(xp, arch, params, X, Y, masks=masks, s=s)
    if l2:
        l2_gradient(xp, params, grads, l2, m)
    errors = []
    for l, (layer, p, g) in enumerate(zip(arch.layers, params, grads), start=1):
        for name, P, dP in zip(layer.names, p, g):
            numerical = _numerical_gradient(backend, P, cost, epsilon)
            errors.append((f"d{name}[{l}]", relative_error(numerical, backend.to_numpy(dP))))
    return GradientCheck(errors)


def _float64_copy(backend: Backend, arch: Architecture, params) -> Parameters:
    if isinstance(params, Parameters):
        return params.copy(backend.xp.float64)
    host = {name: backend.to_numpy(P) for layer, p in zip(arch.layout(), params) for (name, _), P in zip(layer, p)}
    return Parameters.from_host(backend, arch.layout(), host, "float64", arch.running_layout())


def _numerical_gradient(backend: Backend, P, cost, epsilon: float) -> np.ndarray:
    """Central differences of ``cost()`` with respect to each element of ``P``, which is perturbed in place."""
    original = backend.to_numpy(P).copy()
    gradient = np.empty_like(original)
    for index in np.ndindex(original.shape):
        P[index] = float(original[index]) + epsilon
        cost_plus = cost()
        P[index] = float(original[index]) - epsilon
        cost_minus = cost()
        P[index] = float(original[index])
        gradient[index] = (cost_plus - cost_minus) / (2 * epsilon)
    return gradient


def check_architecture(arch: Architecture, backend: Backend, *, m: int = 5, rng=None) -> GradientCheck:
    """``gradient_check`` of ``arch`` at random He weights, nonzero biases and a random problem of m samples."""
    rng = np.random.default_rng(rng)
    params = init_parameters(arch, backend, init="he", dtype="float64", rng=rng)
    for p in params:
        for P in p[1:]:  # every array but W[l]: the biases (and batch norm's scale and shift)
            P[...] = backend.asarray(rng.normal(0.0, 0.5, size=P.shape), "float64")
    X, Y = random_problem(arch, m, rng)
    return gradient_check(backend, arch, params, backend.asarray(X, "float64"), backend.asarray(Y, "float64"))


def random_problem(arch: Architecture, m: int, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """Host data for a check: X ``(n[0], m)`` standard normal, Y ``(n[L], m)`` suited to the loss.

    Binary cross-entropy gets 0/1 labels, categorical cross-entropy one-hot
    columns, mean squared error real targets, the Poisson deviance counts (some of them 0).
    """
    rng = np.random.default_rng(rng)
    n_x, n_y = arch.layer_sizes[0], arch.layer_sizes[-1]
    X = rng.standard_normal((n_x, m))
    if arch.loss == "binary_cross_entropy":
        Y = rng.integers(0, 2, size=(n_y, m)).astype(np.float64)
    elif arch.loss == "categorical_cross_entropy":
        Y = np.eye(n_y)[:, rng.integers(0, n_y, size=m)]
    elif arch.loss == "poisson":
        Y = rng.poisson(1.5, size=(n_y, m)).astype(np.float64)
    else:
        Y = rng.standard_normal((n_y, m))
    return X, Y
