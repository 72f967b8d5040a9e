"""Losses J(A[L], Y), each computed from the output layer's logits Z[L] where it can be.

Each loss is paired with the output activation whose derivative cancels with
its own: sigmoid with binary cross-entropy, softmax with categorical
cross-entropy, identity with mean squared error, exp with the Poisson deviance. For these pairs the output
layer's error is one fused expression, dZ[L] = (A[L] - Y) / m, that never
divides by a probability. Y has the shape of A[L], ``(n[L], m)``.

With sample weights s ``(1, m)``, each sample's loss counts s⁽ⁱ⁾ times:
J = (1/m) Σ s⁽ⁱ⁾·ℓ(a⁽ⁱ⁾, y⁽ⁱ⁾) and dZ[L] = s ∗ (A[L] - Y) / m.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .activations import shifted_exp
from .backends.fusion import elementwise
from .registry import Registry


@dataclass(frozen=True)
class Loss:
    """One cost function and the output activation it is fused with.

    cost(xp, ZL, AL, Y, s=None) -> a 0-d array on the device (no host synchronisation); s: sample
    weights ``(1, m)`` or None.
    """

    name: str
    output_activation: str
    cost: Callable


def binary_cross_entropy(xp, ZL, AL, Y, s=None):
    """-(1/m) Σ [Y·log σ(Z) + (1-Y)·log(1-σ(Z))], computed from the logits.

    Per element this equals max(Z, 0) - Z·Y + log(1 + e^-|Z|): finite for any Z.
    """
    return _weighted_sum(xp, _binary_cross_entropy_terms(xp, ZL, Y, Y.shape[1]), s)


@elementwise
def _binary_cross_entropy_terms(xp, Z, Y, m):
    """(max(Z, 0) - Z·Y + log(1 + e^-|Z|)) / m, element by element."""
    return (xp.maximum(Z, 0.0) - Z * Y + xp.log1p(xp.exp(-xp.abs(Z)))) / m


def categorical_cross_entropy(xp, ZL, AL, Y, s=None):
    """-(1/m) Σ Y·log softmax(Z), with log softmax(Z) = Z - logsumexp(Z) over each column.

    logsumexp(Z) = Z_max + log Σ e^(Z - Z_max), with Z_max the column's largest logit, never overflows.
    """
    Z_max = xp.max(ZL, axis=0, keepdims=True)
    sum_exp = xp.sum(shifted_exp(xp, ZL, Z_max), axis=0, keepdims=True)
    return _weighted_sum(xp, _categorical_cross_entropy_terms(xp, ZL, Y, Z_max, sum_exp, Y.shape[1]), s)


@elementwise
def _categorical_cross_entropy_terms(xp, Z, Y, Z_max, sum_exp, m):
    """Y·(logsumexp(Z) - Z) / m, element by element, from each column's Z_max and Σ e^(Z - Z_max)."""
    return Y * (Z_max + xp.log(sum_exp) - Z) / m


def mean_squared_error(xp, ZL, AL, Y, s=None):
    """(1/2m) Σ (A - Y)²: half the squared error, summed over outputs, averaged over samples."""
    return _weighted_sum(xp, _half_squared_error(xp, AL, Y, 2 * Y.shape[1]), s)


@elementwise
def _half_squared_error(xp, AL, Y, two_m):
    """(A - Y)² / 2m, element by element."""
    return (AL - Y) * (AL - Y) / two_m


def poisson_deviance(xp, ZL, AL, Y, s=None):
    """(1/m) Σ [e^Z - Y·Z + Y·log Y - Y]: half the Poisson deviance of rates A = e^Z, computed from the logits
    (Y·log Y is 0 where Y = 0). Y holds counts or rates, Y >= 0."""
    return _weighted_sum(xp, _poisson_terms(xp, ZL, Y, Y.shape[1]), s)


@elementwise
def _poisson_terms(xp, Z, Y, m):
    """(e^Z - Y·Z + Y·log Y - Y) / m, element by element."""
    Y_log_Y = xp.where(Y > 0, Y * xp.log(xp.where(Y > 0, Y, 1.0)), 0.0)
    return (xp.exp(Z) - Y * Z + Y_log_Y - Y) / m


def _weighted_sum(xp, terms, s):
    """Σ terms, each column (sample) weighted by s ``(1, m)`` when there are sample weights."""
    return xp.sum(terms if s is None else terms * s)


def output_delta(xp, AL, Y, s=None):
    """dZ[L] = (A[L] - Y) / m, the output error shared by every loss with its matching activation;
    s ∗ (A[L] - Y) / m with sample weights s ``(1, m)``."""
    dZ = _difference_over(xp, AL, Y, Y.shape[1])
    return dZ if s is None else dZ * s


@elementwise
def _difference_over(xp, AL, Y, m):
    """(A[L] - Y) / m, as one kernel on CuPy."""
    return (AL - Y) / m


LOSSES = Registry.of("loss", {entry.name: entry for entry in (
    Loss("binary_cross_entropy", "sigmoid", binary_cross_entropy),
    Loss("categorical_cross_entropy", "softmax", categorical_cross_entropy),
    Loss("mean_squared_error", "identity", mean_squared_error),
    Loss("poisson", "exp", poisson_deviance),
)}, plural="losses")


def check_pair(output_activation: str, loss: Loss) -> None:
    """``ValueError`` unless ``output_activation`` is the one ``loss`` is fused with."""
    if output_activation != loss.output_activation:
        raise ValueError(
            f"loss {loss.name!r} needs the output activation {loss.output_activation!r}, "
            f"got {output_activation!r}: dZ[L] = (A[L] - Y)/m holds only for matching pairs "
            f"({', '.join(f'{l.output_activation} with {l.name}' for l in LOSSES.values())})"
        )
