"""Losses J(A[L], Y), each computed from the output layer's logits Z[L] where it can be.

Each loss is paired with the output activation whose derivative cancels with
its own: sigmoid with binary cross-entropy, softmax with categorical
cross-entropy, identity with mean squared error. For these pairs the output
layer's error is one fused expression, dZ[L] = (A[L] - Y) / m, that never
divides by a probability. Y has the shape of A[L], ``(n[L], m)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .backend import elementwise


@dataclass(frozen=True)
class Loss:
    """One cost function and the output activation it is fused with.

    cost(xp, ZL, AL, Y) -> a 0-d array on the device (no host synchronisation).
    """

    name: str
    output_activation: str
    cost: Callable


def binary_cross_entropy(xp, ZL, AL, Y):
    """-(1/m) Σ [Y·log σ(Z) + (1-Y)·log(1-σ(Z))], computed from the logits.

    Per element this equals max(Z, 0) - Z·Y + log(1 + e^-|Z|): finite for any Z.
    """
    m = Y.shape[1]
    return xp.sum(xp.maximum(ZL, 0.0) - ZL * Y + xp.log1p(xp.exp(-xp.abs(ZL)))) / m


def categorical_cross_entropy(xp, ZL, AL, Y):
    """-(1/m) Σ Y·log softmax(Z), with log softmax(Z) = Z - logsumexp(Z) over each column."""
    m = Y.shape[1]
    Z_max = xp.max(ZL, axis=0, keepdims=True)
    log_sum_exp = Z_max + xp.log(xp.sum(xp.exp(ZL - Z_max), axis=0, keepdims=True))
    return xp.sum(Y * (log_sum_exp - ZL)) / m


def mean_squared_error(xp, ZL, AL, Y):
    """(1/2m) Σ (A - Y)²: half the squared error, summed over outputs, averaged over samples."""
    m = Y.shape[1]
    return xp.sum((AL - Y) ** 2) / (2 * m)


def output_delta(xp, AL, Y):
    """dZ[L] = (A[L] - Y) / m, the output error shared by every loss with its matching activation."""
    return _difference_over(xp, AL, Y, Y.shape[1])


@elementwise
def _difference_over(xp, AL, Y, m):
    """(A[L] - Y) / m, as one kernel on CuPy."""
    return (AL - Y) / m


LOSSES: dict[str, Loss] = {
    entry.name: entry
    for entry in (
        Loss("binary_cross_entropy", "sigmoid", binary_cross_entropy),
        Loss("categorical_cross_entropy", "softmax", categorical_cross_entropy),
        Loss("mean_squared_error", "identity", mean_squared_error),
    )
}


def get_loss(name: str) -> Loss:
    """The registry entry for ``name``; ``ValueError`` listing the valid names otherwise."""
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {name!r}; valid losses are {', '.join(LOSSES)}") from None


def check_pair(output_activation: str, loss: Loss) -> None:
    """``ValueError`` unless ``output_activation`` is the one ``loss`` is fused with."""
    if output_activation != loss.output_activation:
        raise ValueError(
            f"loss {loss.name!r} needs the output activation {loss.output_activation!r}, "
            f"got {output_activation!r}: dZ[L] = (A[L] - Y)/m holds only for matching pairs "
            f"({', '.join(f'{l.output_activation} with {l.name}' for l in LOSSES.values())})"
        )
