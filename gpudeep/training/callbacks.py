"""Callbacks: hooks the loop calls around epochs, and the ones training needs itself (early stopping, the
last finished epoch for an interrupted run, a file written every epoch)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..backends import Backend
from .state import History, TrainingState


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
                self.best_params = state.params.copy()
        self.stopped = state.epoch - self.best_epoch >= self.patience
        return self.stopped

    def resume(self, history: History) -> None:
        """Take up the count from a resumed run's history (its best weights are not known)."""
        for epoch, value in enumerate(getattr(history, self.monitor), start=1):
            if self.sign * value > self.best + self.min_delta:
                self.best, self.best_epoch = self.sign * value, epoch

    def on_train_end(self, state, backend, error=None):
        if self.restore_best_weights and self.best_params is not None:
            state.params.put_back(self.best_params)

    @property
    def best_value(self) -> float:
        return self.sign * self.best


class EveryEpoch(Callback):
    """Call ``action()`` at the end of every epoch (e.g. write a checkpoint)."""

    def __init__(self, action: Callable[[], object]):
        self.action = action

    def on_epoch_end(self, state, logs, backend):
        self.action()
        return False
