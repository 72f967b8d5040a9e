"""DeepClassifier and DeepRegressor: scikit-learn conventions on top of the L-layer network.

Data are samples as rows, ``(n_samples, n_features)``, and stay so on the device
(C-contiguous, so that gathering a mini-batch's rows is cheap); the math receives
each batch as its transposed view, one sample per column. Inputs are validated on
the host, with scikit-learn's own checks, before anything moves to the device.
Predictions come back as NumPy arrays whatever the backend.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

from . import threads
from .activations import ACTIVATIONS
from .backend import DTYPES, Backend, get_backend
from .distributed import world
from .io import CheckpointWriter, ModelFormatError, load_checkpoint, register_model
from .network import Architecture, forward, init_parameters
from .optim import OPTIMIZERS, SCHEDULES, make_optimizer, make_schedule
from .training import EarlyStopping, TrainingState, train

# scikit-learn's names for the same activations
ACTIVATION_ALIASES = {"logistic": "sigmoid"}
PREDICT_MEMORY_BYTES = 256 * 2**20  # device memory one forward pass at prediction time may use


class _DeepNetwork(BaseEstimator):
    """What the classifier and the regressor share: parameters, fitting, prediction."""

    _loss_name: str

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
        self.standardize = standardize
        self.backend = backend
        self.dtype = dtype
        self.tf32 = tf32
        self.checkpoint_path = checkpoint_path
        self.distributed = distributed
        self.n_jobs = n_jobs

    # -- fitting -----------------------------------------------------------------------------

    def fit(self, X, y, resume_from=None):
        """Train for ``max_iter`` epochs (fewer if training converges); returns self.

        X: ``(n_samples, n_features)``; y: ``(n_samples,)`` (or ``(n_samples, n_outputs)`` for
        regression). ``resume_from``: a checkpoint file written through ``checkpoint_path``;
        training then goes on from its epoch until ``max_iter`` epochs are done in all.
        """
        return self._fit(X, y, incremental=False, resume_from=resume_from)

    def _fit(self, X, y, *, incremental: bool, classes=None, resume_from=None):
        self._check_hyperparameters()
        continuing = (incremental or self.warm_start) and hasattr(self, "state_")
        with _explained():
            X, y = validate_data(self, X, y, reset=not continuing, dtype=(np.float64, np.float32),
                                 multi_output=self._multi_output, y_numeric=not self._is_classifier)
        Y = self._encode_targets(y, first_fit=not continuing, classes=classes)
        if not continuing:
            self._fit_input_scaling(X)
        X = self._scale(X)
        _check_range("X", X, self.dtype)
        _check_range("y", Y, self.dtype)
        group = world() if self.distributed else None
        seed = _seed(self.random_state) if group is None else group.broadcast_seed(_seed(self.random_state))
        validation_host = None
        if self.early_stopping and not incremental:
            X, X_val, Y, Y_val = train_test_split(X, Y, test_size=self.validation_fraction, random_state=seed,
                                                  stratify=y if self._is_classifier else None)
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
            X_device, Y_device = _rows(backend, X, self.dtype), _rows(backend, Y, self.dtype)
            validation = None
            if validation_host is not None:
                validation = tuple(_rows(backend, a, self.dtype) for a in validation_host)

        root = group is None or group.is_root  # only rank 0 reports and writes files
        stopper = None if incremental else EarlyStopping(
            monitor="val_score" if validation else "loss", patience=self.n_iter_no_change,
            min_delta=self.tol, restore_best_weights=validation is not None,
        )
        if stopper is not None:
            stopper.resume(state.history)
        writer = CheckpointWriter(self, self.checkpoint_path) if self.checkpoint_path is not None and root else None
        epochs = 1 if incremental else self.max_iter - (state.epoch if resume_from is not None else 0)
        batch_size = min(200, X.shape[0]) if self.batch_size == "auto" else min(self.batch_size, X.shape[0])
        with contextlib.nullcontext() if group is None else group.ending_the_job_on_failure():
            with backend.on_device(), backend.allow_tf32(self.tf32):
                history = train(
                    backend, state, X_device, Y_device,
                    epochs=max(epochs, 0), batch_size=batch_size, shuffle=self.shuffle, l2=self.alpha,
                    dropout=self.dropout, schedule=make_schedule(self.learning_rate, self.learning_rate_init),
                    validation=validation, score=self._device_score,
                    callbacks=[c for c in (stopper, writer) if c is not None],
                    verbose=int(self.verbose) if root else 0, group=group, n_jobs=self.n_jobs,
                )
        self._record(history, group, has_validation=validation is not None)
        if stopper is not None and epochs > 0 and not stopper.stopped:
            warnings.warn(
                f"{type(self).__name__} reached max_iter={self.max_iter} epochs without converging "
                f"(tol={self.tol}); raise max_iter or learning_rate_init",
                ConvergenceWarning, stacklevel=3,
            )
        return self

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

    def _initial_state(self, n_features: int, n_outputs: int, seed) -> TrainingState:
        hidden = ACTIVATION_ALIASES.get(self.activation, self.activation)
        sizes = (n_features, *self._hidden_sizes(), n_outputs)
        arch = Architecture.build(sizes, hidden=hidden, loss=self._loss_name)
        rng = np.random.default_rng(seed)
        init = "he" if hidden in ("relu", "leaky_relu") else "xavier"
        params = init_parameters(arch, self.backend_, init=init, dtype=self.dtype, rng=rng)
        return TrainingState(arch, params, self._make_optimizer(), rng)

    def _make_optimizer(self):
        options = {
            "sgd": {"momentum": self.momentum, "nesterov": self.nesterovs_momentum},
            "adam": {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon},
            "rmsprop": {"epsilon": self.epsilon},
        }[self.solver]
        return make_optimizer(self.solver, self.learning_rate_init, **options)

    def _hidden_sizes(self) -> tuple[int, ...]:
        sizes = self.hidden_layer_sizes
        sizes = (sizes,) if isinstance(sizes, numbers.Integral) else tuple(sizes)
        if not sizes or any(isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1 for n in sizes):
            raise ValueError(
                f"hidden_layer_sizes must be a non-empty sequence of positive integers such as (100,) or "
                f"(64, 32), got {self.hidden_layer_sizes!r}"
            )
        return tuple(int(n) for n in sizes)

    def _check_hyperparameters(self) -> None:
        """``ValueError`` naming the parameter, the rule and the value received."""
        self._hidden_sizes()
        rules = [
            ("activation", ACTIVATION_ALIASES.get(self.activation, self.activation)
             in [n for n, g in ACTIVATIONS.items() if g.hidden_ok], f"one of {_hidden_activations()}"),
            ("solver", self.solver in OPTIMIZERS, f"one of {list(OPTIMIZERS)}"),
            ("learning_rate", self.learning_rate in SCHEDULES, f"one of {list(SCHEDULES)}"),
            ("learning_rate_init", _number(self.learning_rate_init) and self.learning_rate_init > 0, "> 0"),
            ("alpha", _number(self.alpha) and self.alpha >= 0, ">= 0"),
            ("max_iter", _integer(self.max_iter) and self.max_iter >= 1, "an integer >= 1"),
            ("batch_size", self.batch_size == "auto" or (_integer(self.batch_size) and self.batch_size >= 1),
             "'auto' or an integer >= 1"),
            ("tol", _number(self.tol) and self.tol >= 0, ">= 0"),
            ("n_iter_no_change", _integer(self.n_iter_no_change) and self.n_iter_no_change >= 1, "an integer >= 1"),
            ("validation_fraction", _number(self.validation_fraction) and 0 < self.validation_fraction < 1,
             "in (0, 1)"),
            ("dropout", _number(self.dropout) and 0 <= self.dropout < 1, "in [0, 1)"),
            ("dtype", self.dtype in DTYPES, f"one of {list(DTYPES)}"),
            ("tf32", self.tf32 is None or isinstance(self.tf32, (bool, np.bool_)), "None, True or False"),
        ]
        threads.check_n_jobs(self.n_jobs)
        for name, ok, rule in rules:
            if not ok:
                raise ValueError(f"{name} must be {rule}, got {getattr(self, name)!r}")

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
        with _explained():
            X = self._scale(validate_data(self, X, reset=False, dtype=(np.float64, np.float32)))
        _check_range("X", X, self.dtype)
        backend, state = self.backend_, self.state_
        rows = self._predict_chunk_rows()
        outputs = []
        with (
            backend.memory_guard(f"predicting {rows} rows at a time", "lower gpudeep.estimators.PREDICT_MEMORY_BYTES"),
            backend.on_device(),
            backend.allow_tf32(self.tf32),
            backend.blas_threads(state.arch.forward_flops(min(rows, X.shape[0])), self.n_jobs),
        ):
            for start in range(0, X.shape[0], rows):
                X_chunk = _rows(backend, X[start:start + rows], self.dtype)
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

    # -- model files (see gpudeep.io) --------------------------------------------------------

    def _export(self) -> tuple[dict, dict[str, np.ndarray]]:
        """(metadata, host arrays) that describe this fitted model completely."""
        check_is_fitted(self, "state_")
        state, backend = self.state_, self.backend_
        arrays = {}
        for l, (W, b) in enumerate(state.params, start=1):
            arrays[f"W{l}"], arrays[f"b{l}"] = backend.to_numpy(W), backend.to_numpy(b)
        if self.input_mean_ is not None:
            arrays["input_mean"], arrays["input_scale"] = self.input_mean_, self.input_scale_
        classes = getattr(self, "classes_", None)
        if classes is not None:
            if classes.dtype.kind not in "biufU":
                raise ValueError(
                    f"cannot save class labels of dtype {classes.dtype}: model files hold bool, number or "
                    f"string labels only; convert y with y.astype(str) before fitting"
                )
            arrays["classes"] = classes
        metadata = {
            "estimator": type(self).__name__,
            "layer_sizes": list(state.arch.layer_sizes),
            "activations": list(state.arch.activations),
            "loss": state.arch.loss,
            "dtype": self.dtype,
            "params": {k: _json_value(v) for k, v in self.get_params().items()},
            "has_classes": classes is not None,
            "has_input_scaling": self.input_mean_ is not None,
            "n_iter": state.epoch,
            "loss_curve": state.history.loss,
        }
        return metadata, arrays

    @classmethod
    def _from_export(cls, metadata: dict, arrays: dict[str, np.ndarray], backend: Backend):
        """The fitted estimator that ``_export`` described, with its weights on ``backend``."""
        known = cls().get_params()
        params = {k: v for k, v in metadata["params"].items() if k in known}
        if isinstance(params.get("hidden_layer_sizes"), list):
            params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        model = cls(**{**params, "backend": backend.name})
        try:
            arch = Architecture(tuple(metadata["layer_sizes"]), tuple(metadata["activations"]), metadata["loss"])
            model._check_hyperparameters()
        except ValueError as error:
            raise ModelFormatError(f"invalid model description: {error}") from None
        if "classes" in arrays:
            model.classes_ = arrays["classes"]
            if len(model.classes_) < 2 or arch.loss != model._loss_name:
                raise ModelFormatError(f"{len(model.classes_)} classes do not fit a network with loss {arch.loss}")
            if arch.layer_sizes[-1] != (1 if len(model.classes_) == 2 else len(model.classes_)):
                raise ModelFormatError(f"{len(model.classes_)} classes do not fit {arch.layer_sizes[-1]} output units")
        elif cls._is_classifier or arch.loss != cls._loss_name:
            needed = "classes" if cls._is_classifier else "mean squared error"
            raise ModelFormatError(f"a {cls.__name__} file must hold {needed}")
        else:
            model.n_outputs_ = arch.layer_sizes[-1]
        model.backend_ = backend
        dtype = metadata["dtype"]
        device_params = [
            (backend.asarray(arrays[f"W{l}"], dtype), backend.asarray(arrays[f"b{l}"], dtype))
            for l in range(1, arch.L + 1)
        ]
        rng = np.random.default_rng(_seed(model.random_state))
        model.state_ = TrainingState(arch, device_params, model._make_optimizer(), rng, epoch=metadata.get("n_iter", 0))
        model.n_features_in_ = arch.layer_sizes[0]
        model.input_mean_ = arrays.get("input_mean")
        model.input_scale_ = arrays.get("input_scale")
        model.n_iter_ = metadata.get("n_iter", 0)
        model.loss_curve_ = list(metadata.get("loss_curve", []))
        return model


@register_model
class DeepClassifier(ClassifierMixin, _DeepNetwork):
    """A deep network classifier: sigmoid output with binary cross-entropy for two classes,
    softmax with categorical cross-entropy for more. Labels may be of any type.

    Parameters are named as in scikit-learn's ``MLPClassifier`` where the concept is the same,
    plus ``dropout`` (rate on hidden layers), ``standardize`` (scale inputs with the training
    data's mean and standard deviation), ``backend`` (a name for ``get_backend``, or a resolved
    ``Backend``), ``dtype``, ``tf32`` (True: float32 products use TF32 tensor cores on a GPU that has
    them; False: they do not; None: CuPy's setting, the user's ``CUPY_TF32``; see ``Backend.allow_tf32``),
    ``checkpoint_path`` (written atomically after every epoch) and
    ``distributed`` (data-parallel over the ranks of an MPI job, see ``gpudeep.distributed``) and
    ``n_jobs`` (BLAS threads on the CPU: None chooses them by problem size, one thread for small
    networks and batches; a positive count or -1 for every core overrides it, see ``gpudeep.threads``).
    """

    _is_classifier = True
    _multi_output = False

    @property
    def _loss_name(self) -> str:
        return "binary_cross_entropy" if len(self.classes_) == 2 else "categorical_cross_entropy"

    def partial_fit(self, X, y, classes=None):
        """One epoch over (X, y), continuing from the current weights; ``classes`` is needed the first time."""
        if not hasattr(self, "state_") and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit, e.g. classes=np.unique(y)")
        return self._fit(X, y, incremental=True, classes=classes)

    def _encode_targets(self, y, *, first_fit: bool, classes) -> np.ndarray:
        """Y ``(n_samples, n[L])``: the class index for two classes, one-hot columns for more."""
        check_classification_targets(y)
        if first_fit:
            self.classes_ = unique_labels(classes if classes is not None else y)
            if len(self.classes_) < 2:
                raise ValueError(
                    f"y has one class only ({self.classes_[0]!r}); DeepClassifier needs at least 2 classes"
                )
        unknown = np.setdiff1d(unique_labels(y), self.classes_)
        if unknown.size:
            raise ValueError(f"y has labels {unknown.tolist()} not in classes_ {self.classes_.tolist()}")
        index = np.searchsorted(self.classes_, y)
        if len(self.classes_) == 2:
            return index[:, None].astype(np.float64)
        return np.eye(len(self.classes_))[index]

    @staticmethod
    def _device_score(xp, A_L, Y):
        """Accuracy on the device: argmax for softmax outputs, 0.5 threshold for a sigmoid."""
        if A_L.shape[0] == 1:
            hits = (A_L > 0.5) == (Y > 0.5)
        else:
            hits = xp.argmax(A_L, axis=0) == xp.argmax(Y, axis=0)
        return xp.mean(xp.astype(hits, A_L.dtype))

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``(n_samples, n_classes)``, columns in the order of ``classes_``."""
        A_L = self._output(X)
        return np.hstack([1 - A_L, A_L]) if len(self.classes_) == 2 else A_L

    def predict(self, X) -> np.ndarray:
        """The most probable class of each sample, as labels from ``classes_``."""
        probabilities = self.predict_proba(X)
        return self.classes_[np.argmax(probabilities, axis=1)]


@register_model
class DeepRegressor(RegressorMixin, _DeepNetwork):
    """A deep network regressor: identity output with mean squared error; one or several targets.

    Parameters as for ``DeepClassifier``.
    """

    _is_classifier = False
    _multi_output = True
    _loss_name = "mean_squared_error"

    def partial_fit(self, X, y):
        """One epoch over (X, y), continuing from the current weights."""
        return self._fit(X, y, incremental=True)

    def _encode_targets(self, y, *, first_fit: bool, classes) -> np.ndarray:
        if first_fit:
            self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        return y.reshape(len(y), -1).astype(np.float64)

    @staticmethod
    def _device_score(xp, A_L, Y):
        """R² averaged over outputs, on the device."""
        residual = xp.sum((Y - A_L) ** 2, axis=1)
        total = xp.sum((Y - xp.mean(Y, axis=1, keepdims=True)) ** 2, axis=1)
        return xp.mean(1 - residual / xp.where(total > 0, total, 1.0))

    def predict(self, X) -> np.ndarray:
        """Predictions ``(n_samples,)``, or ``(n_samples, n_outputs)`` when fitted on several targets."""
        A_L = self._output(X)
        return A_L[:, 0] if self.n_outputs_ == 1 else A_L

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


# scikit-learn's input checks name the problem; these add the fix where they do not
HINTS = {
    "contains infinity": "replace or drop those values (np.isfinite(X).all(axis=1) selects the finite rows)",
    "Complex data not supported": "pass real numbers, e.g. X.real or np.abs(X)",
    "could not convert": "encode text columns as numbers first, e.g. with sklearn.preprocessing.OrdinalEncoder",
    "0 sample(s)": "pass at least one sample",
    "0 feature(s)": "pass at least one feature column",
    "inconsistent numbers of samples": "X and y need one entry per sample",
    "should be a 1d array": "pass one label per sample; for several targets use DeepRegressor",
}


@contextlib.contextmanager
def _explained():
    """Re-raise scikit-learn's validation errors as one line with the fix appended."""
    try:
        yield
    except ValueError as error:
        message = str(error)
        hint = next((fix for problem, fix in HINTS.items() if problem in message), None)
        if hint is None:
            raise
        first_line = message.splitlines()[0].rstrip(". ")
        raise ValueError(f"{first_line}; {hint}") from error


def _rows(backend: Backend, host: np.ndarray, dtype: str):
    """Host samples-as-rows data on the device as a C-contiguous ``dtype`` array (rows gather cheaply)."""
    return backend.asarray(np.ascontiguousarray(host, dtype=dtype))


def _check_range(name: str, values: np.ndarray, dtype: str) -> None:
    """``ValueError`` when host values would overflow to infinity in ``dtype`` on the device."""
    limit = float(np.finfo(dtype).max)
    largest = float(np.max(np.abs(values))) if values.size else 0.0
    if largest > limit:
        raise ValueError(
            f"{name} holds values up to {largest:.3g}, beyond {dtype}'s range ({limit:.3g}); "
            f"scale the data (standardize=True for X) or use dtype='float64'"
        )


def _seed(random_state):
    """An int seed (or None) from scikit-learn's random_state: None, an int, or a RandomState."""
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31 - 1))
    return random_state


def _json_value(value):
    """A get_params value as JSON: tuples become lists, and what JSON cannot hold becomes None."""
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, (str, bool, type(None))) or _number(value):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return None


def _number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _hidden_activations() -> list[str]:
    return [n for n, g in ACTIVATIONS.items() if g.hidden_ok] + list(ACTIVATION_ALIASES)


