"""What DeepClassifier and DeepRegressor share: scikit-learn conventions on top of the L-layer network.

Data are samples as rows, ``(n_samples, n_features)``, and stay so on the device
(C-contiguous, so that gathering a mini-batch's rows is cheap); the math receives
each batch as its transposed view, one sample per column. Inputs are validated on
the host, with scikit-learn's own checks, before anything moves to the device.
Predictions come back as NumPy arrays whatever the backend.
"""

from __future__ import annotations

import contextlib
import math
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted, validate_data

from ..activations import ACTIVATIONS, by_sklearn_name
from ..backends import Backend, get_backend
from ..distributed import DataParallelStep, world
from ..network import Architecture, forward, init_parameters
from ..optim import OPTIMIZERS, SCHEDULES
from ..training import Callback, EarlyStopping, LastFinishedEpoch, TrainingDivergedError, TrainingState, train
from . import hyperparameters
from .inputs import check_labels, check_range, device_rows, explained, seed_of
from .persistence import checkpoint_writer, load_checkpoint

PREDICT_MEMORY_BYTES = 256 * 2**20  # device memory one forward pass at prediction time may use


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
        self._check_hyperparameters()
        callbacks = self._check_callbacks(callbacks)
        continuing = (incremental or self.warm_start) and hasattr(self, "state_")
        X, Y, y = self._host_data(X, y, continuing=continuing, classes=classes)
        weights = self._sample_weights(sample_weight, X, y)
        validation_host = None if validation_data is None else self._host_validation(validation_data, Y.shape[1])
        group = world() if self.distributed else None
        if group is not None:
            with group.ending_the_job_on_failure():
                group.check_agreement(self._facts(X, Y))
        seed = seed_of(self.random_state) if group is None else group.broadcast_seed(seed_of(self.random_state))
        if self.early_stopping and not incremental and validation_host is None:
            X, X_val, Y, Y_val, weights = self._validation_split(X, Y, y, weights, seed)
            validation_host = (X_val, Y_val)

        if not continuing:
            if group is not None:
                self.backend_ = group.agree_on_backend(self.backend)
            else:
                self.backend_ = self.backend if isinstance(self.backend, Backend) else get_backend(self.backend)
            with self.backend_.memory_guard("creating the network", "lower hidden_layer_sizes"):
                self.state_ = self._initial_state(X.shape[1], Y.shape[1], seed)
        backend, state = self.backend_, self.state_
        if group is not None:
            with group.ending_the_job_on_failure():
                group.bind(backend)
                group.broadcast_parameters(backend, state.params)
        if resume_from is not None:
            load_checkpoint(resume_from, self)
        with backend.memory_guard(f"moving {X.shape[0]} samples to the device", "fit on chunks with partial_fit"):
            X_device, Y_device = device_rows(backend, X, self.dtype), device_rows(backend, Y, self.dtype)
            weights = None if weights is None else device_rows(backend, weights, self.dtype)
            validation = None
            if validation_host is not None:
                validation = tuple(device_rows(backend, a, self.dtype) for a in validation_host)

        root = group is None or group.is_root  # only rank 0 reports and writes files
        stopper = None if incremental else self._early_stopping(state, monitor_validation=(
            validation is not None and (self.early_stopping or validation_data is None)))
        writer = checkpoint_writer(self, self.checkpoint_path) if self.checkpoint_path is not None and root else None
        epochs = 1 if incremental else self.max_iter - (state.epoch if resume_from is not None else 0)
        batch_size = min(200, X.shape[0]) if self.batch_size == "auto" else min(self.batch_size, X.shape[0])
        last_epoch = LastFinishedEpoch(state, backend)
        for callback in callbacks:
            callback.set_model(self)
        epochs_before = state.epoch
        with contextlib.nullcontext() if group is None else group.ending_the_job_on_failure(), \
                self._unfitted_if_diverged(), self._at_the_last_epoch_if_interrupted(last_epoch, group, validation):
            with backend.on_device(), backend.allow_tf32(self.tf32):
                history = train(
                    backend, state, X_device, Y_device,
                    epochs=max(epochs, 0), batch_size=batch_size, shuffle=self.shuffle, l2=self.alpha,
                    dropout=self.dropout, schedule=SCHEDULES.get(self.learning_rate)(self.learning_rate_init),
                    sample_weight=weights, validation=validation, score=self._device_score,
                    callbacks=[c for c in (stopper, writer, last_epoch) if c is not None] + (callbacks if root else []),
                    verbose=int(self.verbose) if root else 0, score_name=self._score_name, n_jobs=self.n_jobs,
                    step=None if group is None else DataParallelStep(group, backend),
                )
        self.t_ = (self.t_ if continuing and hasattr(self, "t_") else 0) + X.shape[0] * (state.epoch - epochs_before)
        self._record(history, group, has_validation=validation is not None)
        if stopper is not None and epochs > 0 and not stopper.stopped:
            warnings.warn(
                f"{type(self).__name__} reached max_iter={self.max_iter} epochs without converging "
                f"(tol={self.tol}); raise max_iter or learning_rate_init",
                ConvergenceWarning, stacklevel=3,
            )
        return self

    @contextlib.contextmanager
    def _at_the_last_epoch_if_interrupted(self, last_epoch: LastFinishedEpoch, group, validation):
        """Ctrl-C (KeyboardInterrupt) mid-epoch leaves the model as the last finished epoch left it, with its
        fitted attributes, before the interrupt goes on."""
        try:
            yield
        except KeyboardInterrupt:
            last_epoch.restore(self.state_)
            self._record(self.state_.history, group, has_validation=validation is not None)
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

    def _sample_weights(self, sample_weight, X, y) -> np.ndarray | None:
        """Each sample's weight ``(n_samples,)``, averaging 1 (``sample_weight`` times the class weights), or
        None when every sample counts the same."""
        class_weights = self._class_weights(y)
        if sample_weight is None and class_weights is None:
            return None
        weights = np.ones(X.shape[0]) if sample_weight is None else _checked_weights(sample_weight, X.shape[0])
        if class_weights is not None:
            weights = weights * class_weights
        total = weights.sum()
        if not total > 0:
            raise ValueError("the sample weights are all zero, so no sample counts; give some samples weight > 0")
        return weights * (len(weights) / total)

    def _class_weights(self, y) -> np.ndarray | None:
        """Per-sample weights from the classes (``class_weight``); None for a regressor or without them."""
        return None

    def _host_validation(self, validation_data, n_outputs: int) -> tuple[np.ndarray, np.ndarray]:
        """(X_val, Y_val) on the host from ``validation_data = (X_val, y_val)``, checked, scaled and encoded
        as the training data were (Y_val with the training targets' ``n_outputs`` columns)."""
        try:
            X_val, y_val = validation_data
        except (TypeError, ValueError):
            raise ValueError("validation_data must be a pair (X_val, y_val)") from None
        if self._is_classifier:
            check_labels(y_val)
        with explained():
            X_val = self._scale(validate_data(self, X_val, reset=False, dtype=(np.float64, np.float32)))
            y_val = np.asarray(y_val)
            if len(y_val) != len(X_val):
                raise ValueError(f"validation_data has {len(X_val)} samples in X_val but {len(y_val)} in y_val; "
                                 f"X and y need one entry per sample")
        Y_val = self._encode_targets(y_val, first_fit=False, classes=None)
        if Y_val.shape[1] != n_outputs:
            raise ValueError(f"validation_data's y_val has {Y_val.shape[1]} target(s) per sample but the training "
                             f"y has {n_outputs}; give y_val the training targets' shape")
        check_range("validation X", X_val, self.dtype)
        return X_val, Y_val

    def _host_data(self, X, y, *, continuing: bool, classes):
        """(X, Y, y) on the host, checked: X scaled (its scaling learnt on a first fit), Y encoded for the network."""
        if self._is_classifier:
            check_labels(y)
        with explained():
            X, y = validate_data(self, X, y, reset=not continuing, dtype=(np.float64, np.float32),
                                 multi_output=self._multi_output, y_numeric=not self._is_classifier)
        Y = self._encode_targets(y, first_fit=not continuing, classes=classes)
        if not continuing:
            self._fit_input_scaling(X)
        X = self._scale(X)
        check_range("X", X, self.dtype)
        check_range("y", Y, self.dtype)
        return X, Y, y

    def _facts(self, X, Y) -> dict:
        """What every rank of a data-parallel fit must agree on: the data's shapes and the settings."""
        machine = ("backend", "checkpoint_path", "verbose", "n_jobs", "random_state")  # the seed is rank 0's anyway
        settings = {key: repr(value) for key, value in self.get_params().items() if key not in machine}
        return {"samples": X.shape[0], "features": X.shape[1], "outputs": Y.shape[1], **settings}

    def _validation_split(self, X, Y, y, weights, seed):
        """(X, X_val, Y, Y_val, weights): ``validation_fraction`` of the samples held out, of each class for a
        classifier; the training samples' weights (or None)."""
        arrays = (X, Y) if weights is None else (X, Y, weights)
        try:
            X, X_val, Y, Y_val, *weights = train_test_split(
                *arrays, test_size=self.validation_fraction, random_state=seed,
                stratify=y if self._is_classifier else None)
            return X, X_val, Y, Y_val, (weights[0] if weights else None)
        except ValueError as error:
            if not self._is_classifier or "least populated class" not in str(error):
                raise
            counts = dict(zip(*np.unique(y, return_counts=True)))
            rare = [label for label, count in counts.items() if count < 2]
            raise ValueError(f"early_stopping holds out validation_fraction={self.validation_fraction} of each class, "
                             f"but classes {rare} have a single sample; add samples of them or set "
                             f"early_stopping=False") from None

    def _early_stopping(self, state: TrainingState, *, monitor_validation: bool) -> EarlyStopping:
        """Stop on the validation score when asked to (``early_stopping``, or validation data held out by it),
        else on the training loss; resumed from ``state``."""
        stopper = EarlyStopping(monitor="val_score" if monitor_validation else "loss",
                                patience=self.n_iter_no_change, min_delta=self.tol,
                                restore_best_weights=monitor_validation)
        stopper.resume(state.history)
        return stopper

    def _record(self, history, group, *, has_validation: bool) -> None:
        """The fitted attributes scikit-learn users look for, from the run's history."""
        self.rank_ = 0 if group is None else group.rank
        self.allreduce_seconds_ = 0.0 if group is None else group.allreduce_seconds
        self.n_iter_ = self.state_.epoch
        self.n_steps_ = self.state_.step
        self.loss_curve_ = list(history.loss)
        self.loss_ = history.loss[-1] if history.loss else math.nan
        self.best_loss_ = None if has_validation else min(history.loss, default=math.nan)
        self.validation_scores_ = list(history.val_score) if has_validation else None
        self.best_validation_score_ = max(history.val_score, default=math.nan) if has_validation else None
        self.history_ = {name.replace("score", self._score_name): list(values)
                         for name, values in history.as_dict().items() if values}
        self._describe_network()

    def _describe_network(self) -> None:
        """The fitted network's shape, named as scikit-learn's MLP names it."""
        arch = self.state_.arch
        self.n_layers_ = arch.L + 1  # counting the input layer
        self.n_outputs_ = arch.layer_sizes[-1]
        self.out_activation_ = ACTIVATIONS.get(arch.activations[-1]).sklearn_name

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

    def _fit_input_scaling(self, X: np.ndarray) -> None:
        """With ``standardize``, learn each feature's mean and standard deviation (1 where it is 0)."""
        if self.standardize:
            with np.errstate(over="ignore", invalid="ignore"):
                mean, scale = X.mean(axis=0), X.std(axis=0)
            if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scale))):
                raise ValueError("X's values are too large to standardize (their mean or standard deviation "
                                 "overflows float64); divide X by a constant first")
            self.input_mean_ = mean
            self.input_scale_ = np.where(scale > 0, scale, 1.0)
        else:
            self.input_mean_, self.input_scale_ = None, None

    def _scale(self, X: np.ndarray) -> np.ndarray:
        return X if self.input_mean_ is None else (X - self.input_mean_) / self.input_scale_

    # -- prediction --------------------------------------------------------------------------

    def _output(self, X) -> np.ndarray:
        """A[L] for host X ``(n_samples, n_features)``, as a float64 NumPy array ``(n_samples, n[L])``."""
        check_is_fitted(self, "state_")
        with explained():
            X = self._scale(validate_data(self, X, reset=False, dtype=(np.float64, np.float32)))
        check_range("X", X, self.dtype)
        backend, state = self.backend_, self.state_
        rows = self._predict_chunk_rows()
        outputs = []
        with (
            backend.memory_guard(f"predicting {rows} rows at a time",
                                 "lower gpudeep.estimators.base.PREDICT_MEMORY_BYTES"),
            backend.on_device(),
            backend.allow_tf32(self.tf32),
            backend.blas_threads(state.arch.forward_flops(min(rows, X.shape[0])), self.n_jobs),
        ):
            for start in range(0, X.shape[0], rows):
                X_chunk = device_rows(backend, X[start:start + rows], self.dtype)
                A_L = forward(backend.xp, state.arch, state.params, X_chunk.T).A[state.arch.L]
                outputs.append(backend.to_numpy(A_L).T.astype(np.float64))
        if len(outputs) > 1:
            backend.release_memory()  # a large input: give the pool's blocks back
        return np.concatenate(outputs) if outputs else np.empty((0, state.arch.layer_sizes[-1]))

    def _predict_chunk_rows(self) -> int:
        """Rows per forward pass so that its input, Z[l] and A[l] fit in PREDICT_MEMORY_BYTES."""
        sizes = self.state_.arch.layer_sizes
        bytes_per_row = np.dtype(self.dtype).itemsize * (sizes[0] + 2 * sum(sizes[1:]))
        return max(1, PREDICT_MEMORY_BYTES // bytes_per_row)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def _checked_weights(sample_weight, n_samples: int) -> np.ndarray:
    """``sample_weight`` as float64 ``(n_samples,)``; ``ValueError`` unless it is finite and non-negative."""
    try:
        weights = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"sample_weight must be numbers, one per sample, got {type(sample_weight).__name__}") \
            from None
    if weights.shape != (n_samples,):
        raise ValueError(f"sample_weight must have one weight per sample, shape ({n_samples},), "
                         f"got shape {weights.shape}")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError("sample_weight must be finite and non-negative; give every sample a weight >= 0")
    return weights
