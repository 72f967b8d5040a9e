"""The fitted attributes scikit-learn users look for (``n_iter_``, ``loss_curve_``, ``history_``,
``n_layers_``, ...), from a run's history and network; and ``coefs_`` and ``intercepts_``, scikit-learn's
layout of the weights, which may be read and set."""

from __future__ import annotations

import math

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..activations import ACTIVATIONS
from ..parameters import Parameters
from ..training import History
from ..training.progress import display_name


def record(model, history: History, group, *, has_validation: bool) -> None:
    """The fitted attributes scikit-learn users look for, from the run's history (``n_iter_``, the epochs of
    the last fit, is the caller's)."""
    model.rank_ = 0 if group is None else group.rank
    model.allreduce_seconds_ = 0.0 if group is None else group.allreduce_seconds
    model.n_steps_ = model.state_.step
    model.t_ = model.state_.samples
    model.loss_curve_ = list(history.loss)
    model.loss_ = history.loss[-1] if history.loss else math.nan
    model.best_loss_ = None if has_validation else min(history.loss, default=math.nan)
    model.validation_scores_ = list(history.val_score) if has_validation else None
    model.best_validation_score_ = max(history.val_score, default=math.nan) if has_validation else None
    model.history_ = named_history(history, model._score_name)
    describe_network(model)


def named_history(history: History, score_name: str) -> dict[str, list[float]]:
    """``history_``: the history's records that hold values, the score named (``accuracy``, ``r2``)."""
    return {display_name(name, score_name): list(values) for name, values in history.as_dict().items() if values}


def describe_network(model) -> None:
    """The fitted network's shape, named as scikit-learn's MLP names it."""
    arch = model.state_.arch
    model.n_layers_ = arch.L + 1  # counting the input layer
    model.n_outputs_ = arch.layer_sizes[-1]
    model.out_activation_ = ACTIVATIONS.get(arch.activations[-1]).sklearn_name


def get_coefs(model) -> list[np.ndarray]:
    """[W[1]ᵀ, ..., W[L]ᵀ] as host arrays ``(n[l-1], n[l])``: scikit-learn's layout, a copy of the weights.
    May be set (a list of such arrays): the next ``partial_fit``, or ``fit`` with ``warm_start``, starts
    from them."""
    if "_set_coefs" in vars(model):
        return model._set_coefs
    check_is_fitted(model, "state_")
    return [model.backend_.to_numpy(p[0]).T.copy() for p in model.state_.params]


def get_intercepts(model) -> list[np.ndarray]:
    """[b[1], ..., b[L]] as host arrays ``(n[l],)`` (the shifts β[l] of batch-normalised layers): scikit-learn's
    layout, a copy. May be set, as ``coefs_`` may."""
    if "_set_intercepts" in vars(model):
        return model._set_intercepts
    check_is_fitted(model, "state_")
    return [model.backend_.to_numpy(p[-1])[:, 0].copy() for p in model.state_.params]


def set_coefs(model, coefs) -> None:
    model._set_coefs = coefs  # kept as given (scikit-learn's users fill the list in place) until a fit reads it


def set_intercepts(model, intercepts) -> None:
    model._set_intercepts = intercepts


def weights_set(model) -> bool:
    """Whether ``coefs_`` or ``intercepts_`` were set and no fit has read them yet."""
    return "_set_coefs" in vars(model) or "_set_intercepts" in vars(model)


def put_set_weights(model, *, keep: bool) -> None:
    """Write the ``coefs_`` and ``intercepts_`` that were set into the network (``keep``), or forget them (a
    fit that starts anew); ``ValueError`` unless their shapes are the network's."""
    coefs, intercepts = vars(model).pop("_set_coefs", None), vars(model).pop("_set_intercepts", None)
    if not keep or (coefs is None and intercepts is None):
        return
    params = model.state_.params
    host = params.to_host(model.backend_)
    layout = params.layout
    for what, given, position in (("coefs_", coefs, 0), ("intercepts_", intercepts, -1)):
        if given is None:
            continue
        if len(given) != len(layout):
            raise ValueError(f"{what} must hold one array per layer ({len(layout)}), got {len(given)}")
        for l, (entries, array) in enumerate(zip(layout, given), start=1):
            name, shape = entries[position]
            value = np.asarray(array, dtype=np.float64)
            value = value.T if position == 0 else value.reshape(-1, 1)
            if value.shape != shape:
                raise ValueError(f"{what}[{l - 1}] must have shape {shape[::-1] if position == 0 else shape[:1]} "
                                 f"for this network, got {np.shape(array)}")
            host[name] = value
    with model.backend_.on_device():
        params.put_back(Parameters.from_host(model.backend_, layout, host, model.dtype_, params.running_layout))


def sklearn_order(params: Parameters) -> np.ndarray:
    """Indices into ``params.flat`` in scikit-learn's packing of the weights: every W[l]ᵀ raveled, then every
    b[l] (``packed = flat[order]``); ``ValueError`` for batch-normalised layers, which scikit-learn has not."""
    if any(len(entries) != 2 for entries in params.layout):
        raise ValueError("scikit-learn's packing of the weights holds dense layers only; this network has batch "
                         "normalization (batch_norm=True)")
    offsets = np.cumsum([0] + [int(np.prod(shape)) for entries in params.layout for _, shape in entries])
    weights, biases = [], []
    for l, entries in enumerate(params.layout):
        (_, (n, n_prev)), _ = entries
        W_start, b_start = offsets[2 * l], offsets[2 * l + 1]
        weights.append(W_start + np.arange(n * n_prev).reshape(n, n_prev).T.ravel())  # Wᵀ row by row
        biases.append(b_start + np.arange(n))
    return np.concatenate(weights + biases)


def sklearn_start(arch, random_state: np.random.RandomState, *, logistic: bool) -> dict[str, np.ndarray]:
    """scikit-learn's MLP start for a dense network: layer by layer, W[l]ᵀ ``(n[l-1], n[l])`` and then b[l]
    drawn uniform on ±√(f / (n[l-1] + n[l])), f = 2 for logistic hidden layers and 6 otherwise (Glorot's), in
    its order from its kind of generator, so that one seed starts both at the same weights."""
    factor = 2.0 if logistic else 6.0
    arrays = {}
    for l, (n_prev, n) in enumerate(zip(arch.layer_sizes[:-1], arch.layer_sizes[1:]), start=1):
        bound = np.sqrt(factor / (n_prev + n))
        arrays[f"W{l}"] = random_state.uniform(-bound, bound, (n_prev, n)).T
        arrays[f"b{l}"] = random_state.uniform(-bound, bound, n).reshape(n, 1)
    return arrays
