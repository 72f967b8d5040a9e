"""Full-batch training with L-BFGS: the network's cost over every sample, as a function of the one flat
parameter vector (``Parameters.flat``), minimised by ``gpudeep.lbfgs``. Forward and backward are the
training step's own (``gradients``), so the solver adds no math of its own."""

from __future__ import annotations

from ..backends import Backend
from ..lbfgs import Result, minimize
from ..network import l2_gradient, l2_penalty
from .progress import Progress
from .state import History, TrainingDivergedError, TrainingState
from .step import gradients


def objective(xp, state: TrainingState, X, Y, *, l2: float = 0.0, s=None):
    """cost(x) -> (J, dJ/dx): J with its L2 term over the whole of X ``(n[0], m)``, Y ``(n[L], m)``, at
    parameters x (written into ``state.params.flat``), and its gradient as a new array of x's shape.
    s: sample weights ``(1, m)`` or None."""
    params, m = state.params, Y.shape[1]

    def cost(x):
        params.flat[...] = x
        J, _, grads = gradients(xp, state.arch, params, X, Y, s=s)
        if l2:
            l2_gradient(xp, params, grads, l2, m)  # dW[l] += (λ/m)·W[l]
            J = J + l2_penalty(xp, params, l2, m)  # J += (λ/2m)·Σ‖W[l]‖²
        return float(J), grads.flat * 1  # a copy: the kept gradient buffer is rewritten by the next call

    return cost


def train_lbfgs(backend: Backend, state: TrainingState, X, Y, *, max_iter: int, max_fun: int, tol: float,
                l2: float = 0.0, sample_weight=None, verbose=0, score_name: str = "score") -> Result:
    """Minimise the cost over device arrays X ``(m, n[0])``, Y ``(m, n[L])`` (samples as rows) from the
    current parameters, for at most ``max_iter`` iterations and ``max_fun`` evaluations; ``tol`` is the
    gradient tolerance (scikit-learn's ``gtol``). Each iteration counts as an epoch of ``state``, its cost
    appended to the history. Raises ``TrainingDivergedError`` if the parameters end up not finite."""
    xp = backend.xp
    s = None if sample_weight is None else xp.reshape(sample_weight, (1, -1))
    cost = objective(xp, state, X.T, Y.T, l2=l2, s=s)
    history: History = state.history
    progress = Progress(0, verbose, score_name, False)

    def record(iteration, x, f):
        history.loss.append(f)
        progress.show(state.epoch + iteration, {"loss": f})

    start = state.epoch
    result = minimize(xp, cost, state.params.flat * 1, max_iter=max_iter, max_fun=max_fun, gtol=tol,
                      callback=record)
    progress.close()
    state.params.flat[...] = result.x
    state.epoch = start + result.nit
    state.step += result.nfev
    if not bool(xp.all(xp.isfinite(state.params.flat))):
        raise TrainingDivergedError(f"the weights stopped being finite by L-BFGS iteration {result.nit}; scale the "
                                    f"inputs or use float64")
    return result
