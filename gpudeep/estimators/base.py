"""What DeepClassifier and DeepRegressor share: scikit-learn conventions on top of the L-layer network.

Data are samples as rows, ``(n_samples, n_features)``, and stay so on the device
(C-contiguous, so that gathering a mini-batch's rows is cheap); the math receives
each batch as its transposed view, one sample per column. Inputs are validated on
the host, with scikit-learn's own checks, before anything moves to the device.
Predictions come back as NumPy arrays whatever the backend.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from ..activations import ACTIVATIONS, by_sklearn_name
from ..backends import Backend, get_backend
from ..distributed import DataParallelStep, world
from ..network import Architecture, init_parameters
from ..optim import OPTIMIZERS, SCHEDULES
from ..training import Callback, EarlyStopping, LastFinishedEpoch, TrainingDivergedError, TrainingState, train
from . import attributes, fitting, hyperparameters
from .inputs import seed_of
from .persistence import checkpoint_writer, load_checkpoint


class _DeepNetwork(BaseEstimator):
    """What the classifier and the regressor share: parameters, fitting, prediction."""

    _loss_name: str
    _score_name: str  # what the score is: accuracy, r2

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        dropout=0.0,
        batch_norm=False,
        standardize=False,
        backend=None,
        dtype="float32",
        tf32=None,
        checkpoint_path=None,
        distributed=False,
        n_jobs=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.standardize = standardize
        self.backend = backend
        self.dtype = dtype
        self.tf32 = tf32
        self.checkpoint_path = checkpoint_path
        self.distributed = distributed
        self.n_jobs = n_jobs

    # -- fitting -----------------------------------------------------------------------------

    def fit(self, X, y, sample_weight=None, *, validation_data=None, callbacks=None, resume_from=None):
        """Train for ``max_iter`` epochs (fewer if training converges); returns self.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), or (n_samples, n_outputs) for a regressor
        sample_weight : array-like of shape (n_samples,), default=None
            How much each sample's loss counts (non-negative; scaled to average 1, so the L2 term keeps its
            strength). Multiplied by the class weights of ``class_weight`` for a classifier.
        validation_data : tuple (X_val, y_val), default=None
            Data scored after every epoch (``history_["val_loss"]`` and the validation score); with
            ``early_stopping``, training stops on its score instead of holding out ``validation_fraction``.
        callbacks : list of gpudeep.training.Callback, default=None
            Called at the start, after every epoch (returning True stops training) and at the end; each
            receives this estimator through ``set_model`` first. See ``gpudeep.tracking.MlflowTracker``.
        resume_from : path, default=None
            A checkpoint written through ``checkpoint_path``: training goes on from its epoch until
            ``max_iter`` epochs are done in all.

        Returns
        -------
        self
        """
        return self._fit(X, y, incremental=False, resume_from=resume_from, sample_weight=sample_weight,
                         validation_data=validation_data, callbacks=callbacks)

    def _fit(self, X, y, *, incremental: bool, classes=None, resume_from=None, sample_weight=None,
             validation_data=None, callbacks=None):
        """Host data (checked, scaled, encoded, weighted), the ranks' agreement and seed, the network on its
        backend, the one move to the device, training, then the fitted attributes: each once, in that order."""
        self._check_hyperparameters()
        callbacks = self._check_callbacks(callbacks)
        continuing = (incremental or self.warm_start) and hasattr(self, "state_")
        group = world() if self.distributed else None
        host = fitting.prepare(self, X, y, sample_weight, validation_data, continuing=continuing, classes=classes)
        seed = self._agreed_seed(host, group)
        if self.early_stopping and not incremental and host.validation is None:
            host = fitting.held_out(self, host, seed)
        backend, state = self._network(host, seed, group, continuing=continuing, resume_from=resume_from)
        data = fitting.on_device(backend, host, self.dtype)
        epochs = 1 if incremental else self.max_iter - (state.epoch if resume_from is not None else 0)
        stopper = None if incremental else self._early_stopping(state, monitor_validation=(
            data.validation is not None and (self.early_stopping or validation_data is None)))
        epochs_before = state.epoch
        history = self._train(backend, state, data, group, stopper, callbacks, max(epochs, 0))
        self.t_ = (self.t_ if continuing and hasattr(self, "t_") else 0) + host.X.shape[0] * (state.epoch -
                                                                                              epochs_before)
        attributes.record(self, history, group, has_validation=data.validation is not None)
        if stopper is not None and epochs > 0 and not stopper.stopped:
            warnings.warn(
                f"{type(self).__name__} reached max_iter={self.max_iter} epochs without converging "
                f"(tol={self.tol}); raise max_iter or learning_rate_init",
                ConvergenceWarning, stacklevel=3,
            )
        return self

    def _agreed_seed(self, host: fitting.HostFit, group):
        """The fit's seed: ``random_state``'s, or rank 0's once every rank is known to hold the same data and
        settings."""
        if group is None:
            return seed_of(self.random_state)
        with group.ending_the_job_on_failure():
            group.check_agreement(fitting.facts(self, host.X, host.Y))
        return group.broadcast_seed(seed_of(self.random_state))

    def _network(self, host: fitting.HostFit, seed, group, *, continuing: bool, resume_from):
        """(backend, training state): a new network on the resolved backend unless continuing, the same on every
        rank, then the checkpoint's state when resuming."""
        if not continuing:
            if group is not None:
                self.backend_ = group.agree_on_backend(self.backend)
            else:
                self.backend_ = self.backend if isinstance(self.backend, Backend) else get_backend(self.backend)
            with self.backend_.memory_guard("creating the network", "lower hidden_layer_sizes"):
                self.state_ = self._initial_state(host.X.shape[1], host.Y.shape[1], seed)
        if group is not None:
            with group.ending_the_job_on_failure():
                group.bind(self.backend_)
                group.broadcast_parameters(self.backend_, self.state_.params)
        if resume_from is not None:
            load_checkpoint(resume_from, self)
        return self.backend_, self.state_

    def _train(self, backend: Backend, state: TrainingState, data: fitting.DeviceFit, group, stopper, callbacks,
               epochs: int):
        """``training.train`` on the device data, with the estimator's callbacks, under its guards (a diverged
        fit forgets its weights; an interrupted one keeps the last finished epoch)."""
        root = group is None or group.is_root  # only rank 0 reports and writes files
        writer = checkpoint_writer(self, self.checkpoint_path) if self.checkpoint_path is not None and root else None
        batch_size = min(200, data.X.shape[0]) if self.batch_size == "auto" else min(self.batch_size, data.X.shape[0])
        last_epoch = LastFinishedEpoch(state, backend)
        for callback in callbacks:
            callback.set_model(self)
        ranks = contextlib.nullcontext() if group is None else group.ending_the_job_on_failure()
        interrupted = self._at_the_last_epoch_if_interrupted(last_epoch, group, data.validation)
        with ranks, self._unfitted_if_diverged(), interrupted:
            with backend.on_device(), backend.allow_tf32(self.tf32):
                return train(
                    backend, state, data.X, data.Y,
                    epochs=epochs, batch_size=batch_size, shuffle=self.shuffle, l2=self.alpha,
                    dropout=self.dropout, schedule=SCHEDULES.get(self.learning_rate)(self.learning_rate_init),
                    sample_weight=data.weights, validation=data.validation, score=self._device_score,
                    callbacks=[c for c in (stopper, writer, last_epoch) if c is not None] + (callbacks if root else []),
                    verbose=int(self.verbose) if root else 0, score_name=self._score_name, n_jobs=self.n_jobs,
                    step=None if group is None else DataParallelStep(group, backend),
                )

    @contextlib.contextmanager
    def _at_the_last_epoch_if_interrupted(self, last_epoch: LastFinishedEpoch, group, validation):
        """Ctrl-C (KeyboardInterrupt) mid-epoch leaves the model as the last finished epoch left it, with its
        fitted attributes, before the interrupt goes on."""
        try:
            yield
        except KeyboardInterrupt:
            last_epoch.restore(self.state_)
            attributes.record(self, self.state_.history, group, has_validation=validation is not None)
            raise

    @contextlib.contextmanager
    def _unfitted_if_diverged(self):
        """After a diverged fit the weights are not finite: the model forgets them, so that it never predicts
        from them (predict then raises NotFittedError)."""
        try:
            yield
        except TrainingDivergedError:
            del self.state_
            raise

    @staticmethod
    def _check_callbacks(callbacks) -> list:
        callbacks = list(callbacks or [])
        wrong = [type(c).__name__ for c in callbacks if not isinstance(c, Callback)]
        if wrong:
            raise TypeError(f"callbacks must be gpudeep.training.Callback objects, got {', '.join(wrong)}; "
                            f"subclass Callback and override on_epoch_end (and on_train_begin, on_train_end)")
        return callbacks

    def _class_weights(self, y) -> np.ndarray | None:
        """Per-sample weights from the classes (``class_weight``); None for a regressor or without them."""
        return None

    def _early_stopping(self, state: TrainingState, *, monitor_validation: bool) -> EarlyStopping:
        """Stop on the validation score when asked to (``early_stopping``, or validation data held out by it),
        else on the training loss; resumed from ``state``."""
        stopper = EarlyStopping(monitor="val_score" if monitor_validation else "loss",
                                patience=self.n_iter_no_change, min_delta=self.tol,
                                restore_best_weights=monitor_validation)
        stopper.resume(state.history)
        return stopper

    @property
    def coefs_(self) -> list[np.ndarray]:
        """[W[1]ᵀ, ..., W[L]ᵀ] as host arrays ``(n[l-1], n[l])``: scikit-learn's layout, a copy of the weights."""
        check_is_fitted(self, "state_")
        return [self.backend_.to_numpy(p[0]).T.copy() for p in self.state_.params]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """[b[1], ..., b[L]] as host arrays ``(n[l],)``: scikit-learn's layout, a copy of the biases (of the
        shifts β[l] of batch-normalised layers)."""
        check_is_fitted(self, "state_")
        return [self.backend_.to_numpy(p[-1])[:, 0].copy() for p in self.state_.params]

    def _initial_state(self, n_features: int, n_outputs: int, seed) -> TrainingState:
        hidden = by_sklearn_name(self.activation)
        sizes = (n_features, *self._hidden_sizes(), n_outputs)
        arch = Architecture.build(sizes, hidden=hidden, loss=self._loss_name, batch_norm=self.batch_norm)
        rng = np.random.default_rng(seed)
        init = ACTIVATIONS.get(hidden).init
        params = init_parameters(arch, self.backend_, init=init, dtype=self.dtype, rng=rng)
        return TrainingState(arch, params, self._make_optimizer(), rng)

    def _make_optimizer(self):
        optimizer = OPTIMIZERS.get(self.solver)
        options = {argument: getattr(self, param) for param, argument in optimizer.estimator_params.items()}
        return optimizer(self.learning_rate_init, **options)

    def _hidden_sizes(self) -> tuple[int, ...]:
        hyperparameters.check({"hidden_layer_sizes": self.hidden_layer_sizes})
        return hyperparameters.hidden_sizes(self.hidden_layer_sizes)

    def _check_hyperparameters(self) -> None:
        """``ValueError`` naming the parameter, the rule and the value received (see ``hyperparameters.TABLE``)."""
        hyperparameters.check(self.get_params())

    # -- prediction --------------------------------------------------------------------------

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
