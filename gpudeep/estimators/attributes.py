"""The fitted attributes scikit-learn users look for (``n_iter_``, ``loss_curve_``, ``history_``,
``n_layers_``, ...), from a run's history and network."""

from __future__ import annotations

import math

from ..activations import ACTIVATIONS
from ..training import History
from ..training.progress import display_name


def record(model, history: History, group, *, has_validation: bool) -> None:
    """The fitted attributes scikit-learn users look for, from the run's history."""
    model.rank_ = 0 if group is None else group.rank
    model.allreduce_seconds_ = 0.0 if group is None else group.allreduce_seconds
    model.n_iter_ = model.state_.epoch
    model.n_steps_ = model.state_.step
    model.loss_curve_ = list(history.loss)
    model.loss_ = history.loss[-1] if history.loss else math.nan
    model.best_loss_ = None if has_validation else min(history.loss, default=math.nan)
    model.validation_scores_ = list(history.val_score) if has_validation else None
    model.best_validation_score_ = max(history.val_score, default=math.nan) if has_validation else None
    model.history_ = {display_name(name, model._score_name): list(values)
                      for name, values in history.as_dict().items() if values}
    describe_network(model)


def describe_network(model) -> None:
    """The fitted network's shape, named as scikit-learn's MLP names it."""
    arch = model.state_.arch
    model.n_layers_ = arch.L + 1  # counting the input layer
    model.n_outputs_ = arch.layer_sizes[-1]
    model.out_activation_ = ACTIVATIONS.get(arch.activations[-1]).sklearn_name
