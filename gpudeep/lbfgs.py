"""L-BFGS: the limited-memory quasi-Newton minimiser, written in the array namespace.

The parameter vector x, the gradients and the last ``memory`` pairs of steps s = x_{k+1} - x_k and
gradient changes y = g_{k+1} - g_k stay on the device; the host sees one number per evaluation (the
cost, and the slope along the search direction for the line search). Each iteration:

    d = -H·g          H from the stored pairs by the two-loop recursion, H0 = (sᵀy / yᵀy)·I
    x ← x + t·d       t from a line search meeting the strong Wolfe conditions

It stops as scipy's L-BFGS-B stops when it has no bounds: when max|g| ≤ gtol, when the cost fell by less than
ftol·max(|f|, |f_new|, 1) in an iteration, or after ``max_iter`` iterations or ``max_fun`` evaluations.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

FTOL = 2.220446049250313e-09  # scipy's default factr 1e7 times the float64 machine epsilon
C1, C2 = 1e-3, 0.9  # sufficient decrease and curvature, as in L-BFGS-B's line search
SEARCH_EVALUATIONS = 20  # the most evaluations one line search makes


@dataclass
class Result:
    """x: the minimiser found (a device array); fun: the cost there; nit, nfev: iterations and evaluations;
    converged: whether a convergence test (not a limit) stopped it; message: why it stopped."""

    x: object
    fun: float
    nit: int
    nfev: int
    converged: bool
    message: str


def minimize(xp, fun: Callable, x0, *, max_iter: int, max_fun: int, gtol: float = 1e-5, ftol: float = FTOL,
             memory: int = 10, callback: Callable | None = None) -> Result:
    """Minimise ``fun`` from x0 (a 1-d device array, not changed).

    fun(x) -> (cost as a float, gradient as a new device array of x's shape).
    callback(iteration, x, cost) after every iteration.
    """
    x = x0  # never written to: every new x is a new array
    f, g = fun(x)
    nfev, pairs = 1, deque(maxlen=memory)
    for nit in range(max_iter):
        if _largest(xp, g) <= gtol:
            return Result(x, f, nit, nfev, True, "the largest gradient entry is at most gtol")
        if nfev >= max_fun:
            return Result(x, f, nit, nfev, False, f"stopped after max_fun={max_fun} evaluations")
        d = _direction(xp, g, pairs)
        slope = float(xp.sum(g * d))
        if not slope < 0:  # not a descent direction: forget the curvature pairs and go down the gradient
            pairs.clear()
            d, slope = -g, -float(xp.sum(g * g))
        first = 1.0 / math.sqrt(-slope) if not pairs else 1.0  # the first step: of length 1 along -g
        search = _LineSearch(xp, fun, x, d, f, slope, min(SEARCH_EVALUATIONS, max_fun - nfev))
        found = search.run(first)
        nfev += search.evaluations
        if not found:
            return Result(x, f, nit, nfev, False, "the line search found no step that lowers the cost enough")
        t, f_new, g_new = found
        s, y = t * d, g_new - g
        curvature = xp.sum(s * y)
        if float(curvature) > 1e-10 * float(xp.sum(y * y)):  # keeps H positive definite
            pairs.append((s, y, 1.0 / curvature))
        x = x + s
        decrease = (f - f_new) / max(abs(f), abs(f_new), 1.0)
        f, g = f_new, g_new
        if callback is not None:
            callback(nit + 1, x, f)
        if decrease <= ftol:
            return Result(x, f, nit + 1, nfev, True, "the relative decrease of the cost is at most ftol")
    converged = _largest(xp, g) <= gtol
    return Result(x, f, max_iter, nfev, converged, "the largest gradient entry is at most gtol" if converged
                  else f"stopped after max_iter={max_iter} iterations")


def _largest(xp, g) -> float:
    return float(xp.max(xp.abs(g))) if g.shape[0] else 0.0


def _direction(xp, g, pairs):
    """-H·g by the two-loop recursion over the stored (s, y, 1/sᵀy), oldest first; -g without pairs."""
    q = -g
    alphas = []
    for s, y, rho in reversed(pairs):
        alpha = rho * xp.sum(s * q)
        q = q - alpha * y
        alphas.append(alpha)
    if pairs:
        s, y, _ = pairs[-1]
        q = q * (xp.sum(s * y) / xp.sum(y * y))  # H0 = (sᵀy / yᵀy)·I
    for (s, y, rho), alpha in zip(pairs, reversed(alphas)):
        beta = rho * xp.sum(y * q)
        q = q + (alpha - beta) * s
    return q


class _LineSearch:
    """A step t along d with f(x + t·d) ≤ f + C1·t·slope and |f'(x + t·d)| ≤ C2·|slope| (strong Wolfe):
    bracketing by doubling, then zooming in by safeguarded cubic interpolation (Nocedal and Wright,
    algorithms 3.5 and 3.6). A cost that is not finite counts as too far."""

    def __init__(self, xp, fun, x, d, f0: float, slope0: float, budget: int):
        self.xp, self.fun, self.x, self.d = xp, fun, x, d
        self.f0, self.slope0, self.budget, self.evaluations = f0, slope0, budget, 0

    def evaluate(self, t: float):
        self.evaluations += 1
        f, g = self.fun(self.x + t * self.d)
        slope = float(self.xp.sum(g * self.d)) if math.isfinite(f) else math.nan
        return (f if math.isfinite(f) else math.inf), slope, g

    def run(self, t: float):
        """(t, f, g) at an accepted step, or None when the budget ran out first."""
        previous = (0.0, self.f0, self.slope0)
        while self.evaluations < self.budget:
            f, slope, g = self.evaluate(t)
            if f > self.f0 + C1 * t * self.slope0 or (self.evaluations > 1 and f >= previous[1]):
                return self.zoom(previous, (t, f, slope))
            if abs(slope) <= -C2 * self.slope0:
                return t, f, g
            if slope >= 0:
                return self.zoom((t, f, slope), previous)
            previous, t = (t, f, slope), 2.0 * t
        return None

    def zoom(self, low, high):
        """Narrow [low, high] (``low`` the lower cost, each (t, f, slope)) until a step is accepted."""
        while self.evaluations < self.budget:
            t = _cubic_minimum(low, high)
            f, slope, g = self.evaluate(t)
            if f > self.f0 + C1 * t * self.slope0 or f >= low[1]:
                high = (t, f, slope)
                continue
            if abs(slope) <= -C2 * self.slope0:
                return t, f, g
            if slope * (high[0] - low[0]) >= 0:
                high = low
            low = (t, f, slope)
        return None


def _cubic_minimum(a, b) -> float:
    """The minimiser of the cubic through (t, f, slope) at a and b, kept within the middle 80% of the
    interval; its midpoint where the cubic has none or a value is not finite."""
    (ta, fa, da), (tb, fb, db) = a, b
    low, high = min(ta, tb), max(ta, tb)
    margin = 0.1 * (high - low)
    midpoint = 0.5 * (ta + tb)
    if not all(math.isfinite(v) for v in (fa, fb, da, db)):
        return midpoint
    d1 = da + db - 3 * (fa - fb) / (ta - tb)
    root = d1 * d1 - da * db
    if root < 0:
        return midpoint
    d2 = math.copysign(math.sqrt(root), tb - ta)
    denominator = db - da + 2 * d2
    if denominator == 0:
        return midpoint
    t = tb - (tb - ta) * (db + d2 - d1) / denominator
    return min(max(t, low + margin), high - margin) if math.isfinite(t) else midpoint
