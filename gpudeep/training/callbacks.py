"""Callbacks: hooks the loop calls around epochs, and the ones training needs itself (early stopping, the
last finished epoch for an interrupted run, a file written every epoch)."""

from __future__ import annotations

import math
from collections.abc import Callable

from ..backends import Backend
from .progress import display_name
from .state import History, TrainingState


class Callback:
    """Hooks the loop calls: once before the first epoch, once per epoch after the metrics reach the host
    (return True to stop training), and once when training ends, whatever the reason.

    ``logs`` holds the epoch's ``loss`` and, where they are computed, ``score``, ``val_loss`` and
    ``val_score`` (see ``History``); an estimator's ``fit`` names ``score`` as ``history_`` does
    (``accuracy``, ``val_accuracy``: ``NamedLogs``) and hands itself to its callbacks through ``set_model``
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


class LastFinishedEpoch(Callback):
    """The parameters, epoch and step counts and history as they were when the last epoch ended (or when this
    was made), for a run interrupted mid-epoch to go back to with ``restore``. The optimizer's state is not
    kept: a model, not a resumable run (that is a checkpoint's job)."""

    def __init__(self, state: TrainingState, backend: Backend):
        self.params = state.params.copy()
        self._count(state)

    def on_epoch_end(self, state, logs, backend):
        self.params.put_back(state.params)  # into the copies: no new arrays each epoch
        self._count(state)
        return False

    def restore(self, state: TrainingState) -> None:
        state.params.put_back(self.params)
        state.epoch, state.step = self.epoch, self.step
        for name, values in state.history.as_dict().items():
            del values[self.lengths[name]:]

    def _count(self, state: TrainingState) -> None:
        self.epoch, self.step = state.epoch, state.step
        self.lengths = {name: len(values) for name, values in state.history.as_dict().items()}


class EarlyStopping(Callback):
    """Stop once more than ``patience`` epochs in a row have not improved the best ``monitor`` by ``min_delta``:
    scikit-learn's rule for its MLP estimators.

    After each epoch, ``count`` goes up by one if the epoch's value is not better than the best so far by
    more than ``min_delta``, and back to 0 otherwise; training stops when ``count`` exceeds ``patience``.
    monitor: "loss" or "val_loss" (lower is better) or "val_score" (higher is better).
    patience: a positive integer, or ``math.inf`` (never stop).
    restore_best_weights: put back the parameters of the best epoch when training ends (the starting
    parameters if no epoch improved on them), whatever ends it.
    reduce_learning_rate: when the rule fires, divide the learning rate by 5 and go on instead, until it is
    below 1e-6 (scikit-learn's ``learning_rate='adaptive'``).
    verbose: print why training stops (or the rate drops), as scikit-learn does.
    """

    SMALLEST_RATE = 1e-6
    WHAT = {"loss": "Training loss", "val_loss": "Validation loss", "val_score": "Validation score"}

    def __init__(self, monitor: str = "val_loss", patience: int = 10, min_delta: float = 0.0,
                 restore_best_weights: bool = False, reduce_learning_rate: bool = False, verbose: bool = False):
        if monitor not in ("loss", "val_loss", "val_score"):
            raise ValueError(f"monitor must be 'loss', 'val_loss' or 'val_score', got {monitor!r}")
        if isinstance(patience, bool) or not (isinstance(patience, int) and patience >= 1 or patience == math.inf):
            raise ValueError(f"patience must be a positive integer or math.inf, got {patience!r}")
        self.monitor, self.patience, self.min_delta = monitor, patience, float(min_delta)
        self.restore_best_weights, self.reduce_learning_rate = restore_best_weights, reduce_learning_rate
        self.verbose = verbose
        self.sign = 1.0 if monitor == "val_score" else -1.0
        self.best, self.best_epoch, self.count, self.best_params, self.stopped = -math.inf, 0, 0, None, False

    def on_train_begin(self, state, backend):
        if self.restore_best_weights:
            self.best_params = state.params.copy()  # the best known yet: what training starts from

    def on_epoch_end(self, state, logs, backend):
        value = self.sign * logs[self.monitor]
        self._count(value)
        if value > self.best:
            self.best, self.best_epoch = value, state.epoch
            if self.restore_best_weights:
                self.best_params.put_back(state.params)
        if self.count <= self.patience:
            return False
        message = (f"{self.WHAT[self.monitor]} did not improve more than tol={self.min_delta:f} for {self.patience} "
                   f"consecutive epochs.")
        optimizer = state.optimizer
        if self.reduce_learning_rate and optimizer.learning_rate > self.SMALLEST_RATE:
            optimizer.learning_rate /= 5.0
            self.count = 0
            self._say(f"{message} Setting learning rate to {optimizer.learning_rate:f}")
            return False
        self._say(f"{message} {'Learning rate too small. ' if self.reduce_learning_rate else ''}Stopping.")
        self.stopped = True
        return True

    def _count(self, value: float) -> None:
        """The rule's count after an epoch's ``value`` (higher is better); a NaN resets it, as in scikit-learn."""
        self.count = self.count + 1 if value < self.best + self.min_delta else 0

    def _say(self, message: str) -> None:
        if self.verbose:
            print(message, flush=True)

    def resume(self, history: History) -> None:
        """Take up the count and the best value from an earlier fit's (or a resumed run's) history."""
        for epoch, value in enumerate(getattr(history, self.monitor), start=1):
            self._count(self.sign * value)
            if self.sign * value > self.best:
                self.best, self.best_epoch = self.sign * value, epoch
            if self.count > self.patience and self.reduce_learning_rate:
                self.count = 0

    def on_train_end(self, state, backend, error=None):
        if self.restore_best_weights and self.best_params is not None:
            state.params.put_back(self.best_params)

    @property
    def best_value(self) -> float:
        return self.sign * self.best


class NamedLogs(Callback):
    """``callback`` seeing each epoch's logs under ``history_``'s names: ``score`` called what it is
    (``accuracy``, ``r2``), so ``val_accuracy`` rather than ``val_score``; how an estimator's ``fit`` hands
    the logs to the callbacks it is given."""

    def __init__(self, callback: Callback, score_name: str):
        self.callback, self.score_name = callback, score_name

    def set_model(self, model) -> None:
        self.callback.set_model(model)

    def on_train_begin(self, state, backend):
        self.callback.on_train_begin(state, backend)

    def on_epoch_end(self, state, logs, backend):
        return self.callback.on_epoch_end(state, {display_name(name, self.score_name): value
                                                  for name, value in logs.items()}, backend)

    def on_train_end(self, state, backend, error=None):
        self.callback.on_train_end(state, backend, error)


class EveryEpoch(Callback):
    """Call ``action()`` at the end of every epoch (e.g. write a checkpoint)."""

    def __init__(self, action: Callable[[], object]):
        self.action = action

    def on_epoch_end(self, state, logs, backend):
        self.action()
        return False
