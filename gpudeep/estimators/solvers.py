"""The two ways an estimator trains its network: mini-batches with a stochastic optimizer, stopped by
scikit-learn's rule (``EarlyStopping``), or full-batch L-BFGS. Both run on the device data of a fit."""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..distributed import DataParallelStep
from ..optim import SCHEDULES
from ..training import EarlyStopping, LastFinishedEpoch, TrainingDivergedError, TrainingState, train
from ..training.callbacks import NamedLogs
from ..training.full_batch import objective, train_lbfgs
from . import attributes
from .fitting import DeviceFit
from .persistence import checkpoint_writer


def stopping_rule(model, state: TrainingState, *, monitor_validation: bool) -> EarlyStopping:
    """scikit-learn's rule: on the validation score when it is monitored (its best epoch's weights kept),
    else on the training loss; 'adaptive' divides the rate by 5 where it would stop. Taken up from the
    history of earlier fits (``warm_start``)."""
    stopper = EarlyStopping(monitor="val_score" if monitor_validation else "loss", patience=model.n_iter_no_change,
                            min_delta=model.tol, restore_best_weights=monitor_validation,
                            reduce_learning_rate=model.learning_rate == "adaptive", verbose=bool(model.verbose))
    stopper.resume(state.history)
    return stopper


def schedule(model):
    """The fit's learning-rate schedule, made with the estimator's parameters it takes (None: 'adaptive')."""
    make = SCHEDULES.get(model.learning_rate)
    options = {argument: getattr(model, param) for param, argument in getattr(make, "estimator_params", {}).items()}
    return make(model.learning_rate_init, **options)


def batch_size(model, n_samples: int) -> int:
    """``batch_size`` for ``n_samples`` rows: 'auto' is min(200, n_samples); larger sizes are clipped, with
    scikit-learn's warning."""
    if model.batch_size == "auto":
        return min(200, n_samples)
    if model.batch_size > n_samples:
        warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
                      UserWarning, stacklevel=4)
    return min(model.batch_size, n_samples)


def warn_if_not_converged(model, epochs: int, ran: int, stopper: EarlyStopping | None) -> None:
    """scikit-learn's ConvergenceWarning when all ``epochs`` ran (``ran`` of them did: a callback may stop
    training sooner) and the rule never stopped training."""
    if stopper is not None and epochs > 0 and ran >= epochs and not stopper.stopped:
        warnings.warn(f"{type(model).__name__} reached max_iter={model.max_iter} epochs without converging "
                      f"(tol={model.tol}); raise max_iter or learning_rate_init", ConvergenceWarning, stacklevel=4)


def lbfgs(model, backend, state: TrainingState, data: DeviceFit, max_iter: int) -> None:
    """Full-batch L-BFGS for at most ``max_iter`` iterations and ``max_fun`` evaluations, from the current
    weights; scikit-learn's ConvergenceWarning when a limit stopped it."""
    computing = backend.computing(state.arch.step_flops(data.X.shape[0]), model.n_jobs)
    with backend.on_device(), backend.allow_tf32(model.tf32), computing:
        X = data.X.dense() if hasattr(data.X, "dense") else data.X  # the full batch: a sparse X made dense
        result = train_lbfgs(backend, state, X, data.Y, max_iter=max_iter, max_fun=model.max_fun,
                             tol=model.tol, l2=model.alpha * data.l2_scale, sample_weight=data.weights,
                             verbose="iterations" if model.verbose else 0, score_name=model._score_name)
    if not result.converged:
        warnings.warn(f"lbfgs failed to converge: {result.message} (loss {result.fun:.6g}); raise max_iter "
                      f"or max_fun, or scale the data", ConvergenceWarning, stacklevel=4)


def stochastic(model, backend, state: TrainingState, data: DeviceFit, group, stopper, callbacks, epochs: int):
    """``training.train`` on the device data, with the estimator's callbacks, under its guards (a diverged
    fit forgets its weights unless it keeps its best epoch's; an interrupted one keeps the last finished
    epoch). stopper: the stopping rule, or None (``partial_fit`` trains its one epoch)."""
    root = group is None or group.is_root  # only rank 0 reports and writes files
    writer = checkpoint_writer(model, model.checkpoint_path) if model.checkpoint_path is not None and root else None
    with backend.on_device():  # its copy of the parameters, on their GPU
        last_epoch = LastFinishedEpoch(state, backend)
    for callback in callbacks:
        callback.set_model(model)
    ranks = contextlib.nullcontext() if group is None else group.ending_the_job_on_failure()
    interrupted = kept_at_the_last_epoch_if_interrupted(model, last_epoch, group, data.validation)
    verbose = (1 if model.verbose == "progress" else "iterations" if model.verbose else 0) if root else 0
    with ranks, unfitted_if_diverged(model, stopper), interrupted:
        with backend.on_device(), backend.allow_tf32(model.tf32):
            train(backend, state, data.X, data.Y,
                  epochs=epochs, batch_size=batch_size(model, data.X.shape[0]), shuffle=model.shuffle,
                  l2=model.alpha * data.l2_scale, dropout=model.dropout, schedule=schedule(model),
                  sample_weight=data.weights,
                  validation=data.validation, score=model._device_score,
                  callbacks=[c for c in (stopper, writer, last_epoch) if c is not None]
                  + ([NamedLogs(c, model._score_name) for c in callbacks] if root else []),
                  verbose=verbose, score_name=model._score_name, n_jobs=model.n_jobs,
                  step=None if group is None else DataParallelStep(group, backend))


@contextlib.contextmanager
def kept_at_the_last_epoch_if_interrupted(model, last_epoch: LastFinishedEpoch, group, validation):
    """Ctrl-C (KeyboardInterrupt) mid-epoch leaves the model as the last finished epoch left it, with its
    fitted attributes, before the interrupt goes on."""
    try:
        yield
    except KeyboardInterrupt:
        with model.backend_.on_device():
            last_epoch.restore(model.state_)
        model.n_iter_ = model.state_.epoch
        attributes.record(model, model.state_.history, group, has_validation=validation is not None)
        raise


@contextlib.contextmanager
def unfitted_if_diverged(model, stopper: EarlyStopping | None):
    """After a diverged fit the weights are not finite: the model forgets them, so that it never predicts
    from them (predict then raises NotFittedError), and the error goes on. A fit that keeps its best
    epoch's weights (early stopping) has those back instead: it records the diverged epoch and stops."""
    try:
        yield
    except TrainingDivergedError as error:
        if stopper is None or not stopper.restore_best_weights:
            del model.state_
            raise
        for name, value in error.logs.items():
            getattr(model.state_.history, name).append(value)
        warnings.warn(f"{error}; stopped there and kept the weights of the best epoch", RuntimeWarning, stacklevel=5)


def loss_and_gradient(model, packed, X, y, sample_weight=None) -> tuple[float, np.ndarray]:
    """(cost with its L2 term, gradient) of ``model``'s network at host weights ``packed`` in scikit-learn's
    packing, over host X ``(m, n[0])`` and encoded y ``(m, n[L])``; the network keeps those weights."""
    backend, state = model.backend_, model.state_
    order = attributes.sklearn_order(state.params)
    flat = np.empty(order.shape[0])
    flat[order] = np.asarray(packed, dtype=np.float64)
    dtype = model.dtype_
    as_rows = [backend.asarray(np.ascontiguousarray(np.reshape(a, (len(X), -1)), dtype=dtype)).T for a in (X, y)]
    s = None if sample_weight is None else backend.asarray(np.reshape(sample_weight, (1, -1)), dtype)
    cost, gradient = objective(backend.xp, state, *as_rows, l2=model.alpha, s=s)(backend.asarray(flat, dtype))
    return cost, backend.to_numpy(gradient).astype(np.float64)[order]
