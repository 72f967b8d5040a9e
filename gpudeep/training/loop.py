"""The training loop: mini-batches, epochs, history, callbacks, the divergence guard.

Data sets stay on the device for the whole run, samples as rows ``(m, n)``: a
mini-batch is a gather of rows by shuffled index (contiguous, and cheap on every
backend), and the math receives it as the transposed view ``(n, m_batch)``, which
matrix products take without a copy. Costs accumulate on the device; they reach
the host once per epoch, together with the validation metrics and a check that
every weight is finite.

The loop trains each batch through a ``Step`` (``gpudeep.training.step``); data-parallel training passes
a step of its own, so this module knows nothing of MPI.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..backends import Backend
from ..network import forward
from ..optim import dropout_masks
from .callbacks import Callback
from .progress import Progress
from .state import History, TrainingDivergedError, TrainingState
from .step import Step

VALIDATION_MEMORY_BYTES = 256 * 2**20  # device memory the validation data's forward pass may use at once


def train(
    backend: Backend,
    state: TrainingState,
    X,
    Y,
    *,
    epochs: int,
    batch_size: int,
    shuffle: bool = True,
    l2: float = 0.0,
    dropout: float = 0.0,
    schedule: Callable[[int, int], float] | None = None,
    sample_weight=None,
    validation: tuple | None = None,
    score: Callable | None = None,
    callbacks: Sequence[Callback] = (),
    verbose: int = 0,
    score_name: str = "score",
    step: Step | None = None,
    n_jobs: int | None = None,
) -> History:
    """Run ``epochs`` more epochs of mini-batch training on device arrays X ``(m, n[0])``, Y ``(m, n[L])``.

    X and Y hold samples as rows (C-contiguous, so that gathering a batch's rows is cheap); X may instead be
    kept on the host by an object with ``shape``, ``dtype`` and ``rows(indices)`` (a sparse X's dense rows on
    the device, for host indices);
    each batch reaches the math as ``X_batch.T``, ``(n[0], m_batch)``.
    sample_weight: a device array ``(m,)`` weighting each sample's loss (the batch's rows reach the math
    as s ``(1, m_batch)``), or None.
    validation: device arrays (X_val, Y_val), samples as rows too, evaluated once per epoch without dropout.
    score(xp, A_L, Y) -> 0-d array: a metric where higher is better (accuracy, R²), kept for
    the training batches and the validation data.
    schedule(epoch, samples) -> the learning rate after that many epochs and samples trained on, set after
    every epoch (and before the first when the optimizer has stepped before), or None: the rate is left alone.
    verbose: 0 silent; 1 a progress bar on a terminal, else a line per epoch on stderr; 2 a line per epoch;
    "iterations" scikit-learn's "Iteration N, loss = ..." lines on stdout.
    score_name: what ``score`` is (accuracy, r2), for the printed lines.
    step: how each batch is trained (``Step()``, the default: ``train_step`` on the whole batch).
    n_jobs: BLAS threads on the CPU; None chooses them by the size of a step (see ``gpudeep.threads``).
    Raises ``TrainingDivergedError`` when a cost or a weight is not finite (that epoch's logs not recorded).
    """
    progress = Progress(epochs, verbose, score_name, validation is not None)
    step = step or Step()
    draw = backend.uniform(0) if dropout else None  # one generator for the run, reseeded every epoch
    settings = {"batch_size": batch_size, "shuffle": shuffle, "l2": l2, "dropout": dropout, "draw": draw,
                "score": score, "step": step, "sample_weight": sample_weight}
    memory_guard = backend.memory_guard(
        f"training with batch_size {batch_size}",
        "lower batch_size or the layer sizes (float32 halves float64's memory)",
    )
    rows_per_step = step.shard(np.arange(batch_size)).shape[0]
    try:
        for callback in callbacks:
            callback.on_train_begin(state, backend)
        if schedule is not None and state.optimizer.t:  # going on: the rate the schedule gives by now
            state.optimizer.learning_rate = schedule(state.epoch, state.samples)
        with memory_guard, backend.computing(state.arch.step_flops(rows_per_step), n_jobs):
            for _ in progress:
                costs, scores, shares = _run_epoch(backend, state, X, Y, **settings)
                logs = _epoch_logs(backend, state, costs, scores, shares, validation, score, step)
                if schedule is not None:
                    state.optimizer.learning_rate = schedule(state.epoch, state.samples)
                for name, value in logs.items():
                    getattr(state.history, name).append(value)
                progress.show(state.epoch, logs)
                stops = [callback.on_epoch_end(state, logs, backend) for callback in callbacks]  # every one runs
                if any(stops):
                    break
    except BaseException as error:
        _end(callbacks, state, backend, progress, error)
        raise
    _end(callbacks, state, backend, progress, None)
    return state.history


def _end(callbacks: Sequence[Callback], state: TrainingState, backend: Backend, progress: Progress,
         error) -> None:
    progress.close()
    for callback in callbacks:
        callback.on_train_end(state, backend, error)


def _run_epoch(backend: Backend, state: TrainingState, X, Y, *, batch_size, shuffle, l2, dropout, draw, score,
               step: Step, sample_weight):
    """One pass over X ``(m, n[0])``, Y ``(m, n[L])`` in shuffled mini-batches of rows; returns the steps'
    costs and scores on the device, and each step's share of the epoch's rows that this process trained on (the
    host weights them after the epoch's one transfer: no kernel per step).
    draw: the run's ``backend.uniform`` for the dropout masks, reseeded here from the state's generator."""
    xp, arch, m = backend.xp, state.arch, X.shape[0]
    dtype = backend.dtype_name(X)
    permutation = state.rng.permutation(m) if shuffle else np.arange(m)
    order = backend.asarray(permutation)
    if dropout:
        draw.seed(int(state.rng.integers(2**63)))
    costs, scores, shares = [], [], []
    for start in range(0, m, batch_size):
        batch = step.shard(order[start:min(start + batch_size, m)])  # a stop past the end: undefined in the Array API
        rows = step.shard(permutation[start:min(start + batch_size, m)]) if hasattr(X, "rows") else batch
        X_batch, Y_batch = _rows(xp, X, rows).T, xp.take(Y, batch, axis=0).T  # (n, m_batch), views
        m_batch = X_batch.shape[1]
        masks = None  # a part of a batch that holds no rows (more processes than rows left) draws none
        if dropout and m_batch:
            masks = dropout_masks(backend, draw, arch.layer_sizes, m_batch, dropout, dtype)
        s = None if sample_weight is None else xp.reshape(xp.take(sample_weight, batch), (1, m_batch))
        cost, A_L = step(xp, arch, state.params, state.optimizer, X_batch, Y_batch, l2=l2, masks=masks, s=s)
        costs.append(cost)
        shares.append(m_batch / m)
        if score is not None:  # a part of a batch can hold no rows (more processes than rows left): it scores 0
            scores.append(score(xp, A_L, Y_batch) if m_batch else xp.zeros((), dtype=X.dtype))
        state.step += 1
    state.epoch += 1
    state.samples += m
    return costs, scores, np.asarray(shares)


def _rows(xp, X, batch):
    """X's rows of indices ``batch``: gathered on the device, or made dense from a sparse X kept on the host
    (an object with ``rows(batch)``, such as ``gpudeep.estimators.inputs.SparseRows``, given the host's indices:
    nothing waits for the device to send them back)."""
    return X.rows(batch) if hasattr(X, "rows") else xp.take(X, batch, axis=0)


def _output_layer(xp, state: TrainingState, X_val):
    """(Z[L], A[L]) ``(n[L], m_val)`` of the validation rows ``(m_val, n[0])``, forward in chunks of rows whose
    layers fit in ``VALIDATION_MEMORY_BYTES``: only the output layer is kept of each."""
    rows = state.arch.forward_rows(VALIDATION_MEMORY_BYTES, "float32" if X_val.dtype == xp.float32 else "float64")
    Z, A = [], []
    for start in range(0, X_val.shape[0], rows):
        cache = forward(xp, state.arch, state.params, X_val[start:min(start + rows, X_val.shape[0]), :].T)
        Z.append(cache.Z[state.arch.L])
        A.append(cache.A[state.arch.L])
    if len(Z) == 1:
        return Z[0], A[0]
    return xp.concat(Z, axis=1), xp.concat(A, axis=1)


def _epoch_logs(backend: Backend, state: TrainingState, costs: list, scores: list, shares: np.ndarray, validation,
                score, step: Step) -> dict:
    """The epoch's metrics, moved to the host in one transfer; raises if anything diverged.

    costs, scores: each step's cost and score on the device; shares: each step's share of the epoch's samples.
    """
    xp = backend.xp
    params = state.params
    finite = xp.all(xp.isfinite(params.flat)) & xp.all(xp.isfinite(params.running_flat))
    values = [xp.astype(finite, costs[0].dtype)]
    if validation is not None:
        X_val, Y_val = validation
        Z_L, A_L = _output_layer(xp, state, X_val)
        values.append(state.arch.loss_function.cost(xp, Z_L, A_L, Y_val.T, None))
        if score is not None:
            values.append(score(xp, A_L, Y_val.T))
    host = backend.to_numpy(xp.stack(costs + scores + values)).astype(np.float64)
    n_steps = len(costs)
    host[:n_steps] *= shares
    host[n_steps:n_steps + len(scores)] *= shares[:len(scores)]
    host[:n_steps + len(scores)] = step.total(host[:n_steps + len(scores)])
    per_step, (weights_finite, *val) = host[:n_steps], host[n_steps + len(scores):]
    logs = {"loss": float(per_step.sum(dtype=np.float64))}
    if scores:
        logs["score"] = float(host[n_steps:n_steps + len(scores)].sum(dtype=np.float64))
    if val:
        logs["val_loss"] = float(val[0])
    if len(val) > 1:
        logs["val_score"] = float(val[1])
    first_step = state.step - n_steps + 1
    if not np.all(np.isfinite(per_step)):
        bad = first_step + int(np.argmin(np.isfinite(per_step)))
        raise TrainingDivergedError(
            f"the loss became {per_step[bad - first_step]} at epoch {state.epoch}, step {bad}; lower the learning "
            f"rate, scale the inputs, or use float64", logs)
    if not weights_finite:
        raise TrainingDivergedError(
            f"the weights stopped being finite at epoch {state.epoch}, by step {state.step}; lower the learning "
            f"rate or scale the inputs", logs)
    return logs
