"""The training loop: mini-batches, epochs, history, callbacks, the divergence guard, progress.

Data sets stay on the device for the whole run, samples as rows ``(m, n)``: a
mini-batch is a gather of rows by shuffled index (contiguous, and cheap on every
backend), and the math receives it as the transposed view ``(n, m_batch)``, which
matrix products take without a copy. Costs accumulate on the device; they reach
the host once per epoch, together with the validation metrics and a check that
every weight is finite.

The loop trains each batch through a ``Step``: by default ``train_step`` on the whole batch in this
process; data-parallel training (``gpudeep.distributed``) passes a step of its own, so this module
knows nothing of MPI.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm  # the console bar: tqdm.auto would pick a notebook widget, and warn without ipywidgets

from .backends import Backend
from .network import Architecture, backward, compute_cost, forward, l2_penalty
from .optim import Optimizer, dropout_masks


class TrainingDivergedError(FloatingPointError):
    """The loss or the weights stopped being finite; the message names the epoch and the step."""


@dataclass
class History:
    """Per-epoch records: the training loss and score (averaged over the epoch's batches, as
    they were trained), and the validation loss and score when there is validation data."""

    loss: list[float] = field(default_factory=list)
    score: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_score: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[float]]:
        return {"loss": self.loss, "score": self.score, "val_loss": self.val_loss, "val_score": self.val_score}


@dataclass
class TrainingState:
    """Everything a run needs to go on: a checkpoint saves exactly this.

    params: [(W[l], b[l])] on the device. rng: the host generator for shuffles and
    dropout seeds. epoch and step count what is done so far.
    """

    arch: Architecture
    params: list
    optimizer: Optimizer
    rng: np.random.Generator
    epoch: int = 0
    step: int = 0
    history: History = field(default_factory=History)


class Callback:
    """Hooks the loop calls: once before the first epoch, once per epoch after the metrics reach the host
    (return True to stop training), and once when training ends, whatever the reason.

    ``logs`` holds the epoch's ``loss`` and, where they are computed, ``score``, ``val_loss`` and
    ``val_score`` (see ``History``). An estimator hands itself to its callbacks through ``set_model``
    before training, as ``self.model``.
    """

    model = None

    def set_model(self, model) -> None:
        self.model = model

    def on_train_begin(self, state: TrainingState, backend: Backend) -> None:
        """Called before the first epoch."""

    def on_epoch_end(self, state: TrainingState, logs: dict[str, float], backend: Backend) -> bool:
        return False

    def on_train_end(self, state: TrainingState, backend: Backend, error: BaseException | None = None) -> None:
        """Called when training ends; ``error`` is the exception that ended it, or None when it ended normally."""


def copy_parameters(xp, params) -> list:
    """A copy of per-layer pairs (W[l], b[l]) on the same device."""
    return [(xp.astype(W, W.dtype, copy=True), xp.astype(b, b.dtype, copy=True)) for W, b in params]


def put_back(params, copies) -> None:
    """Overwrite per-layer pairs with ``copies`` of them, in place."""
    for (W, b), (W_copy, b_copy) in zip(params, copies, strict=True):
        W[...] = W_copy
        b[...] = b_copy


class LastFinishedEpoch(Callback):
    """The parameters, epoch and step counts and history as they were when the last epoch ended (or when this
    was made), for a run interrupted mid-epoch to go back to with ``restore``. The optimizer's state is not
    kept: a model, not a resumable run (that is a checkpoint's job)."""

    def __init__(self, state: TrainingState, backend: Backend):
        self.params = copy_parameters(backend.xp, state.params)
        self._count(state)

    def on_epoch_end(self, state, logs, backend):
        put_back(self.params, state.params)  # into the copies: no new arrays each epoch
        self._count(state)
        return False

    def restore(self, state: TrainingState) -> None:
        put_back(state.params, self.params)
        state.epoch, state.step = self.epoch, self.step
        for name, values in state.history.as_dict().items():
            del values[self.lengths[name]:]

    def _count(self, state: TrainingState) -> None:
        self.epoch, self.step = state.epoch, state.step
        self.lengths = {name: len(values) for name, values in state.history.as_dict().items()}


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    monitor: "loss" or "val_loss" (lower is better) or "val_score" (higher is better).
    restore_best_weights: put back the parameters of the best epoch when stopping.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 10, min_delta: float = 0.0,
                 restore_best_weights: bool = False):
        if monitor not in ("loss", "val_loss", "val_score"):
            raise ValueError(f"monitor must be 'loss', 'val_loss' or 'val_score', got {monitor!r}")
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience must be a positive integer, got {patience!r}")
        self.monitor, self.patience, self.min_delta = monitor, patience, float(min_delta)
        self.restore_best_weights = restore_best_weights
        self.sign = 1.0 if monitor == "val_score" else -1.0
        self.best, self.best_epoch, self.best_params, self.stopped = -np.inf, 0, None, False

    def on_epoch_end(self, state, logs, backend):
        value = self.sign * logs[self.monitor]
        if value > self.best + self.min_delta:
            self.best, self.best_epoch = value, state.epoch
            if self.restore_best_weights:
                self.best_params = copy_parameters(backend.xp, state.params)
        self.stopped = state.epoch - self.best_epoch >= self.patience
        return self.stopped

    def resume(self, history: History) -> None:
        """Take up the count from a resumed run's history (its best weights are not known)."""
        for epoch, value in enumerate(getattr(history, self.monitor), start=1):
            if self.sign * value > self.best + self.min_delta:
                self.best, self.best_epoch = self.sign * value, epoch

    def on_train_end(self, state, backend, error=None):
        if self.restore_best_weights and self.best_params is not None:
            put_back(state.params, self.best_params)

    @property
    def best_value(self) -> float:
        return self.sign * self.best


class Step:
    """How the loop trains on a batch; this one runs ``train_step`` on the whole batch, in this process.

    A step that shares each batch with other processes (``gpudeep.distributed.DataParallelStep``) overrides
    all three methods, with the same signatures.
    """

    def shard(self, batch):
        """The part of a batch (a 1-d array of row indices) this process trains on; called just before each step."""
        return batch

    def __call__(self, xp, arch: Architecture, params, optimizer: Optimizer, X, Y, *, l2: float = 0.0,
                 masks=None, s=None):
        """``train_step`` on X ``(n[0], m)``, Y ``(n[L], m)``, sample weights s ``(1, m)`` or None: returns
        (the batch's cost, A[L])."""
        return train_step(xp, arch, params, optimizer, X, Y, l2=l2, masks=masks, s=s)

    def total(self, values: np.ndarray) -> np.ndarray:
        """This process's per-step metrics (host, each weighted by its rows' share of the epoch), summed over
        the processes that share the batches."""
        return values


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
    schedule: Callable[[int], float] | None = None,
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

    X and Y hold samples as rows (C-contiguous, so that gathering a batch's rows is cheap);
    each batch reaches the math as ``X_batch.T``, ``(n[0], m_batch)``.
    sample_weight: a device array ``(m,)`` weighting each sample's loss (the batch's rows reach the math
    as s ``(1, m_batch)``), or None.
    validation: device arrays (X_val, Y_val), samples as rows too, evaluated once per epoch without dropout.
    score(xp, A_L, Y) -> 0-d array: a metric where higher is better (accuracy, R²), kept for
    the training batches and the validation data.
    verbose: 0 silent; 1 a progress bar on a terminal, else a line per epoch on stderr; 2 a line per epoch.
    score_name: what ``score`` is (accuracy, r2), for the printed lines.
    step: how each batch is trained (``Step()``, the default: ``train_step`` on the whole batch).
    n_jobs: BLAS threads on the CPU; None chooses them by the size of a step (see ``gpudeep.threads``).
    Raises ``TrainingDivergedError`` when a cost or a weight is not finite.
    """
    lines = verbose >= 2 or (verbose == 1 and not sys.stderr.isatty())
    bar = tqdm(range(epochs), desc="training", unit="epoch", disable=not verbose or lines, leave=False)
    if lines:
        print(_legend(score_name, validation is not None), file=sys.stderr)
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
        with memory_guard, backend.blas_threads(state.arch.step_flops(rows_per_step), n_jobs):
            for _ in bar:
                if schedule is not None:
                    state.optimizer.learning_rate = schedule(state.epoch)
                costs, scores = _run_epoch(backend, state, X, Y, **settings)
                logs = _epoch_logs(backend, state, costs, scores, validation, score, step)
                for name, value in logs.items():
                    getattr(state.history, name).append(value)
                shown = {_shown_name(name, score_name): value for name, value in logs.items()}
                bar.set_postfix(shown, refresh=False)
                if lines:
                    print(f"epoch {state.epoch}: " + ", ".join(f"{k} {v:.6g}" for k, v in shown.items()),
                          file=sys.stderr, flush=True)
                stops = [callback.on_epoch_end(state, logs, backend) for callback in callbacks]  # every one runs
                if any(stops):
                    break
    except BaseException as error:
        _end(callbacks, state, backend, bar, error)
        raise
    _end(callbacks, state, backend, bar, None)
    return state.history


def _end(callbacks: Sequence[Callback], state: TrainingState, backend: Backend, bar, error) -> None:
    bar.close()
    for callback in callbacks:
        callback.on_train_end(state, backend, error)


def _shown_name(name: str, score_name: str) -> str:
    """A log's name as printed: ``score`` is called what it is (accuracy, r2)."""
    return name.replace("score", score_name)


def _legend(score_name: str, validation: bool) -> str:
    """What the per-epoch lines report."""
    text = (f"loss: the training cost with its L2 term, and {score_name}: on the training batches, each averaged "
            f"over the epoch's batches as they were trained (with dropout)")
    return text + (f"; val_loss and val_{score_name}: on the validation data after the epoch" if validation else "")


def train_step(xp, arch: Architecture, params, optimizer: Optimizer, X, Y, *, l2: float = 0.0, masks=None,
               s=None):
    """One training step on a batch X ``(n[0], m)``, Y ``(n[L], m)``: forward, cost, backward, update.
    s: sample weights ``(1, m)`` or None.

    Returns (cost, A[L]): the cost with its L2 term as a 0-d device array, and the output before the update.
    The gradients are the optimizer's to use up (see ``Optimizer.step``).
    """
    cache = forward(xp, arch, params, X, masks)
    cost = compute_cost(xp, arch, cache, Y, s)
    if l2:
        cost = cost + l2_penalty(xp, params, l2, Y.shape[1])
    optimizer.step(xp, params, backward(xp, arch, params, cache, Y, l2, s))
    return cost, cache.A[arch.L]


def _run_epoch(backend: Backend, state: TrainingState, X, Y, *, batch_size, shuffle, l2, dropout, draw, score,
               step: Step, sample_weight):
    """One pass over X ``(m, n[0])``, Y ``(m, n[L])`` in shuffled mini-batches of rows; returns the steps'
    (costs, scores) on the device, each weighted by the share of the epoch's rows this process trained on.
    draw: the run's ``backend.uniform`` for the dropout masks, reseeded here from the state's generator."""
    xp, arch, m = backend.xp, state.arch, X.shape[0]
    dtype = backend.dtype_name(X)
    order = backend.asarray(state.rng.permutation(m) if shuffle else np.arange(m))
    if dropout:
        draw.seed(int(state.rng.integers(2**63)))
    costs, scores = [], []
    for start in range(0, m, batch_size):
        batch = step.shard(order[start:start + batch_size])
        X_batch, Y_batch = xp.take(X, batch, axis=0).T, xp.take(Y, batch, axis=0).T  # (n, m_batch) views
        m_batch = X_batch.shape[1]
        masks = dropout_masks(backend, draw, arch.layer_sizes, m_batch, dropout, dtype) if dropout else None
        s = None if sample_weight is None else xp.reshape(xp.take(sample_weight, batch), (1, m_batch))
        cost, A_L = step(xp, arch, state.params, state.optimizer, X_batch, Y_batch, l2=l2, masks=masks, s=s)
        costs.append(cost * (m_batch / m))
        if score is not None:  # a part of a batch can hold no rows (more processes than rows left): it scores 0
            scores.append(score(xp, A_L, Y_batch) * (m_batch / m) if m_batch else xp.zeros((), dtype=X.dtype))
        state.step += 1
    state.epoch += 1
    return costs, scores


def _epoch_logs(backend: Backend, state: TrainingState, costs: list, scores: list, validation, score,
                step: Step) -> dict:
    """The epoch's metrics, moved to the host in one transfer; raises if anything diverged.

    costs, scores: each step's cost and score on the device, weighted by its share of the epoch's samples.
    """
    xp = backend.xp
    finite = xp.all(xp.stack([xp.all(xp.isfinite(P)) for pair in state.params for P in pair]))
    values = [xp.astype(finite, costs[0].dtype)]
    if validation is not None:
        X_val, Y_val = (rows.T for rows in validation)
        cache = forward(xp, state.arch, state.params, X_val)
        values.append(compute_cost(xp, state.arch, cache, Y_val))
        if score is not None:
            values.append(score(xp, cache.A[state.arch.L], Y_val))
    host = backend.to_numpy(xp.stack(costs + scores + values))
    n_steps = len(costs)
    host[:n_steps + len(scores)] = step.total(host[:n_steps + len(scores)])
    per_step, (weights_finite, *val) = host[:n_steps], host[n_steps + len(scores):]
    loss = per_step.sum(dtype=np.float64)
    first_step = state.step - n_steps + 1
    if not np.all(np.isfinite(per_step)):
        bad = first_step + int(np.argmin(np.isfinite(per_step)))
        raise TrainingDivergedError(
            f"training diverged: the loss became {per_step[bad - first_step]} at epoch {state.epoch}, step {bad}; "
            f"lower the learning rate, scale the inputs, or use float64"
        )
    if not weights_finite:
        raise TrainingDivergedError(
            f"training diverged: the weights stopped being finite at epoch {state.epoch}, by step {state.step}; "
            f"lower the learning rate or scale the inputs"
        )
    logs = {"loss": float(loss)}
    if scores:
        logs["score"] = float(host[n_steps:n_steps + len(scores)].sum(dtype=np.float64))
    if val:
        logs["val_loss"] = float(val[0])
    if len(val) > 1:
        logs["val_score"] = float(val[1])
    return logs
