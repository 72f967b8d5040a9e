"""Arrays that are not NumPy's, as scikit-learn's ``array_api_dispatch`` takes them: where an input lives, whether
it is the backend's own kind (then it stays on the device, never going through the host), and results handed
back in the input's namespace and on its device."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Source:
    """Where an input array lives: its Array API namespace and its device."""

    xp: object
    device: object


def source_of(array) -> Source | None:
    """Where a non-NumPy Array API array (CuPy's, array_api_strict's, PyTorch's, ...) lives; None for NumPy arrays
    and other host data (lists, DataFrames, sparse matrices). An array that names its namespace is taken at its
    word; a library that does not (PyTorch) gets the namespace scikit-learn's array_api_compat gives it."""
    if isinstance(array, np.ndarray):
        return None
    if hasattr(array, "__array_namespace__"):
        return Source(array.__array_namespace__(), array.device)
    from sklearn.externals import array_api_compat

    if not array_api_compat.is_array_api_obj(array):
        return None
    return Source(array_api_compat.array_namespace(array), array_api_compat.device(array))


def on_backend(backend, source: Source | None) -> bool:
    """Whether arrays from ``source`` are the backend's own kind: they reach its device without the host."""
    return source is not None and source.xp is backend.xp


def to_host(array) -> np.ndarray:
    """A NumPy copy of a non-NumPy array, through DLPack (copied off its device where it must be)."""
    try:
        return np.from_dlpack(array)
    except (BufferError, RuntimeError, TypeError, ValueError):  # a device's memory, which the host cannot view
        return np.from_dlpack(array, device="cpu", copy=True)


def host(array, backend=None):
    """``array`` as host data: non-NumPy arrays copied to NumPy (through ``backend.to_numpy`` for the
    backend's own), the rest as given."""
    source = source_of(array)
    if source is None:
        return array
    return backend.to_numpy(array) if backend is not None and on_backend(backend, source) else to_host(array)


def returned(result, source: Source | None):
    """A result (a NumPy array, or an array of the backend) in the input's namespace and on its device; as it is
    for host input."""
    if source is None:
        return result if isinstance(result, np.ndarray) else np.asarray(result)
    if source_of(result) is not None and result.__array_namespace__() is source.xp:
        return result if result.device == source.device else result.to_device(source.device)
    values = host(result)
    if values.dtype.kind not in "biuf":  # labels such as strings: no Array API dtype holds them
        return values
    return source.xp.asarray(values, device=source.device)


def checked_on_device(model, X, *, reset: bool):
    """A backend array X ``(n_samples, n_features)`` checked on its device as scikit-learn checks host data: 2-D,
    at least one sample and feature, finite, with the fitted number of features (learnt when ``reset``); in a
    float dtype (float64 for integers). One number reaches the host: whether every value is finite."""
    xp = model.backend_.xp
    if X.ndim != 2:
        raise ValueError(f"Expected 2D array, got {X.ndim}D array instead; reshape your data, e.g. X.reshape(-1, 1) "
                         f"for a single feature")
    if X.dtype not in (xp.float32, xp.float64):
        X = xp.astype(X, xp.float64)
    n_samples, n_features = X.shape
    if n_samples == 0 or n_features == 0:
        raise ValueError(f"Found array with {n_samples} sample(s) and {n_features} feature(s) while a minimum of 1 "
                         f"is required; pass at least one sample and one feature column")
    if reset:
        model.n_features_in_ = n_features
        vars(model).pop("feature_names_in_", None)
    elif n_features != model.n_features_in_:
        raise ValueError(f"X has {n_features} features, but {type(model).__name__} is expecting "
                         f"{model.n_features_in_} features as input.")
    if not bool(model.backend_.to_numpy(xp.all(xp.isfinite(X)))):
        raise ValueError("Input X contains NaN or infinity; fill or drop those values (xp.isfinite(X) finds them)")
    return X


def where(array) -> tuple[str, str]:
    """(namespace, device) of an input, by name: ("numpy", "cpu") for host data."""
    source = source_of(array)
    return ("numpy", "cpu") if source is None else (source.xp.__name__, str(source.device))


def check_same_as_fit(model, X, method: str) -> None:
    """With scikit-learn's ``array_api_dispatch`` on, ``ValueError`` unless X is of the namespace and device the
    model was fitted on (scikit-learn's rule; without it, any input is taken and answered in kind)."""
    from sklearn import get_config

    fitted = getattr(model, "_fit_input", None)
    if get_config()["array_api_dispatch"] and fitted is not None and where(X) != fitted:
        raise ValueError(f"Inputs passed to {type(model).__name__}.{method}() must use the same namespace and the "
                         f"same device as those passed to fit(), {fitted[0]} on {fitted[1]}; got {where(X)[0]} on "
                         f"{where(X)[1]}: move X there first")
