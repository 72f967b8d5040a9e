"""A fit's data on the host, prepared in one place: checked with scikit-learn's own checks, scaled, encoded
and weighted, the validation rows held out; then moved to the device once. Nothing here runs on a device
before ``on_device``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.model_selection import train_test_split
from sklearn.utils import check_array
from sklearn.utils.validation import column_or_1d, validate_data

from ..backends import Backend
from . import namespaces
from .inputs import SparseRows, check_labels, check_range, device_rows, explained

SPARSE = ("csr", "csc")  # the sparse formats X may come in, as for scikit-learn's MLP


@dataclass
class HostFit:
    """X ``(m, n[0])`` scaled, Y ``(m, n[L])`` encoded for the network, y as given (checked), each sample's
    weight ``(m,)`` or None, and (X_val, Y_val) or None: host arrays, samples as rows."""

    X: np.ndarray  # or a SciPy sparse matrix (CSR or CSC)
    Y: np.ndarray
    y: np.ndarray
    weights: np.ndarray | None
    validation: tuple[np.ndarray, np.ndarray] | None


def prepare(model, X, y, sample_weight, validation_data, *, continuing: bool, classes) -> HostFit:
    """The fit's host data for ``model`` (which learns its input scaling, labels and feature names here on
    a first fit)."""
    X, Y, y = host_data(model, X, y, continuing=continuing, classes=classes)
    weights = sample_weights(model, sample_weight, X, y)
    validation = None if validation_data is None else host_validation(model, validation_data, Y.shape[1])
    return HostFit(X, Y, y, weights, validation)


def held_out(model, host: HostFit, random_state) -> HostFit:
    """``host`` with ``validation_fraction`` of its samples held out as the validation data, drawn from
    ``random_state`` (the fit's ``RandomState``)."""
    X, X_val, Y, Y_val, weights = validation_split(model, host.X, host.Y, host.y, host.weights, random_state)
    return HostFit(X, Y, host.y, weights, (X_val, Y_val))


@dataclass
class DeviceFit:
    """``HostFit``'s arrays on the device (C-contiguous rows), in the fit's dtype, the weights scaled to average
    1; a sparse X stays on the host
    as ``SparseRows``, sending the device dense batches."""

    X: object
    Y: object
    weights: object
    validation: tuple | None
    l2_scale: float = 1.0  # n_samples / Σ weights: the L2 penalty is over the weights' sum (scikit-learn's rule)


def on_device(backend: Backend, host: HostFit, dtype: str) -> DeviceFit:
    """The one move of a fit's data to the device."""
    with backend.memory_guard(f"moving {host.X.shape[0]} samples to the device", "fit on chunks with partial_fit"):
        weights, l2_scale = None, 1.0
        if host.weights is not None:  # averaging 1 on the device; the L2 term over their sum, as scikit-learn's
            l2_scale = len(host.weights) / float(host.weights.sum())
            weights = device_rows(backend, host.weights * l2_scale, dtype)
        validation = None if host.validation is None else tuple(device_rows(backend, a, dtype)
                                                                 for a in host.validation)
        X = SparseRows(backend, host.X, dtype) if sparse.issparse(host.X) else device_rows(backend, host.X, dtype)
        return DeviceFit(X, device_rows(backend, host.Y, dtype), weights, validation, l2_scale)


def host_data(model, X, y, *, continuing: bool, classes):
    """(X, Y, y) checked: X scaled (its scaling learnt on a first fit), Y encoded for the network; the fit's dtype
    (``dtype_``) chosen on a first fit. X stays on the device when it is an array of the backend (only its
    labels or targets, y, are read on the host), else it is host data."""
    y = namespaces.host(y, model.backend_)
    if model._is_classifier:
        check_labels(y)
    if not continuing:
        model._fit_input = namespaces.where(X)
    X = checked_X(model, X, reset=not continuing)
    y = checked_y(model, y, X.shape[0])
    first_labels = not continuing or not hasattr(model, "classes_" if model._is_classifier else "n_outputs_")
    Y = model._encode_targets(y, first_fit=first_labels, classes=classes,
                              warm=continuing and model.warm_start and classes is None)
    if not continuing or not hasattr(model, "dtype_"):
        model.dtype_ = fit_dtype(model, X)
    if not continuing:
        fit_input_scaling(model, X)
    X = scale(model, X)
    check_range("X", X, model.dtype_, model.backend_)
    check_range("y", Y, model.dtype_)
    return X, Y, y


def checked_X(model, X, *, reset: bool):
    """X ``(n_samples, n_features)`` checked as scikit-learn checks it (its number of features, and feature names,
    learnt when ``reset``): on the device for an array of the backend, else on the host (other libraries' arrays
    copied there), as float32 or float64 (a sparse matrix stays sparse)."""
    if namespaces.on_backend(model.backend_, namespaces.source_of(X)):
        return namespaces.checked_on_device(model, X, reset=reset)
    with explained():
        return validate_data(model, namespaces.host(X), reset=reset, dtype=(np.float64, np.float32),
                             accept_sparse=SPARSE)


def checked_y(model, y, n_samples: int) -> np.ndarray:
    """y on the host, checked as scikit-learn checks targets: one entry per sample, finite, numbers for a
    regressor; a column ``(n_samples, 1)`` becomes 1-d, with scikit-learn's DataConversionWarning."""
    if y is None:
        raise ValueError(f"{type(model).__name__} requires y to be passed, but the target y is None")
    with explained():
        y = check_array(namespaces.host(y), ensure_2d=False, dtype="numeric" if not model._is_classifier else None,
                        input_name="y")
        if len(y) != n_samples:
            raise ValueError(f"Found input variables with inconsistent numbers of samples: [{n_samples}, {len(y)}]")
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)
    return y


def fit_dtype(model, X) -> str:
    """The dtype of the network: ``dtype``, or the input's when None (float32 for float32 X, else float64),
    or that of the ``coefs_`` set before a first fit."""
    if model.dtype is not None:
        return model.dtype
    if "_set_coefs" in vars(model):
        return "float32" if np.asarray(model._set_coefs[0]).dtype == np.float32 else "float64"
    xp = np if namespaces.source_of(X) is None else model.backend_.xp
    return "float32" if X.dtype == xp.float32 else "float64"


def sample_weights(model, sample_weight, X, y) -> np.ndarray | None:
    """Each sample's weight ``(n_samples,)`` (``sample_weight`` times the class weights), or
    None when every sample counts the same."""
    class_weights = model._class_weights(y)
    if sample_weight is None and class_weights is None:
        return None
    weights = np.ones(X.shape[0]) if sample_weight is None else checked_weights(
        namespaces.host(sample_weight, model.backend_), X.shape[0])
    if class_weights is not None:
        weights = weights * class_weights
    total = weights.sum()
    if not total > 0:
        raise ValueError("the sample weights are all zero, so no sample counts; give some samples weight > 0")
    return weights


def host_validation(model, validation_data, n_outputs: int) -> tuple[np.ndarray, np.ndarray]:
    """(X_val, Y_val) on the host from ``validation_data = (X_val, y_val)``, checked, scaled and encoded
    as the training data were (Y_val with the training targets' ``n_outputs`` columns)."""
    try:
        X_val, y_val = validation_data
    except (TypeError, ValueError):
        raise ValueError("validation_data must be a pair (X_val, y_val)") from None
    if model._is_classifier:
        check_labels(y_val)
    X_val = scale(model, checked_X(model, X_val, reset=False))
    y_val = np.asarray(namespaces.host(y_val, model.backend_))
    if len(y_val) != X_val.shape[0]:
        raise ValueError(f"validation_data has {X_val.shape[0]} samples in X_val but {len(y_val)} in y_val; "
                         f"X and y need one entry per sample")
    Y_val = model._encode_targets(y_val, first_fit=False, classes=None)
    if Y_val.shape[1] != n_outputs:
        raise ValueError(f"validation_data's y_val has {Y_val.shape[1]} target(s) per sample but the training "
                         f"y has {n_outputs}; give y_val the training targets' shape")
    check_range("validation X", X_val, model.dtype_, model.backend_)
    return X_val, Y_val


def facts(model, X, Y) -> dict:
    """What every rank of a data-parallel fit must agree on: the data's shapes and the settings."""
    machine = ("backend", "checkpoint_path", "verbose", "n_jobs", "random_state")  # the seed is rank 0's anyway
    settings = {key: repr(value) for key, value in model.get_params().items() if key not in machine}
    return {"samples": X.shape[0], "features": X.shape[1], "outputs": Y.shape[1], **settings}


def validation_split(model, X, Y, y, weights, random_state):
    """(X, X_val, Y, Y_val, weights): ``validation_fraction`` of the samples held out, of each class for a
    binary classifier (stratified on its one output, where scikit-learn stratifies: not for more classes or
    labels); the training samples' weights (or None). The rows are split by index, so X stays where it is
    (host, sparse or device)."""
    stratify = Y.astype(bool) if model._is_classifier and Y.shape[1] == 1 else None
    try:
        train, held = train_test_split(np.arange(len(Y)), test_size=model.validation_fraction,
                                       random_state=random_state, stratify=stratify)
    except ValueError as error:
        if stratify is None or "least populated class" not in str(error):
            raise
        counts = dict(zip(*np.unique(y, return_counts=True)))
        rare = np.asarray([label for label, count in counts.items() if count < 2]).tolist()
        raise ValueError(f"{error} (the classes as early_stopping encodes them: labels {rare} have a single "
                         f"sample); add samples of them or set early_stopping=False") from None
    if len(held) < 2:
        raise ValueError(f"The validation set is too small. Increase 'validation_fraction' or the size of your "
                         f"dataset: early_stopping holds out {len(held)} sample(s) of {len(y)}, and scores "
                         f"need at least 2")
    return (rows(model, X, train), rows(model, X, held), Y[train], Y[held],
            None if weights is None else weights[train])


def rows(model, X, index: np.ndarray):
    """The rows ``index`` of X: host (dense or sparse) or an array of the backend, which keeps them there."""
    if namespaces.source_of(X) is None:
        return X[index]
    return model.backend_.xp.take(X, model.backend_.asarray(index), axis=0)


def fit_input_scaling(model, X: np.ndarray) -> None:
    """With ``standardize``, learn each feature's mean and standard deviation (1 where it is 0)."""
    if model.standardize and sparse.issparse(X):
        raise ValueError("standardize=True centres X, which would make a sparse X dense; scale it instead with "
                         "sklearn.preprocessing.MaxAbsScaler or StandardScaler(with_mean=False), or pass X.toarray()")
    if model.standardize:
        xp = np if namespaces.source_of(X) is None else model.backend_.xp
        with np.errstate(over="ignore", invalid="ignore"):
            mean, scale = (statistic if xp is np else model.backend_.to_numpy(statistic)
                           for statistic in (xp.mean(X, axis=0), xp.std(X, axis=0)))
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scale))):
            raise ValueError("X's values are too large to standardize (their mean or standard deviation "
                             "overflows float64); divide X by a constant first")
        model.input_mean_ = mean.astype(np.float64)  # kept (and saved) in float64, applied in X's dtype
        model.input_scale_ = np.where(scale > 0, scale, 1.0).astype(np.float64)
    else:
        model.input_mean_, model.input_scale_ = None, None


def scale(model, X: np.ndarray) -> np.ndarray:
    """X standardized as the training data were (unchanged without ``standardize``)."""
    mean = getattr(model, "input_mean_", None)  # none known: weights set through coefs_ before any fit
    if mean is None:
        return X
    source = namespaces.source_of(X)
    if namespaces.on_backend(model.backend_, source):  # on the backend's device: the host statistics go there
        mean, scale_ = (model.backend_.asarray(a, model.backend_.dtype_name(X)) for a in (mean, model.input_scale_))
        return (X - mean) / scale_
    if source is not None:  # in another namespace (in a graph, for export)
        mean, scale_ = (source.xp.asarray(a, dtype=X.dtype, device=source.device) for a in (mean, model.input_scale_))
        return (X - mean) / scale_
    return (X - mean.astype(X.dtype)) / model.input_scale_.astype(X.dtype)


def checked_weights(sample_weight, n_samples: int) -> np.ndarray:
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
