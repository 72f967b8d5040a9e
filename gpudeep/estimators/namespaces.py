"""Arrays that are not NumPy's, as scikit-learn's ``array_api_dispatch`` takes them: where an input lives, whether
it is the backend's own kind (then it stays on the device, never going through the host), and results handed
back in the input's namespace and on its device."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backends import array_library


@dataclass(frozen=True)
class Source:
    """Where an input array lives: its library ("cupy", "torch", ...), its device, and the array itself, from
    which its Array API namespace is found when a result must be made there (``xp``)."""

    library: str
    device: object
    array: object

    @property
    def xp(self):
        """The input's Array API namespace: the one it names, else the one array_api_compat gives its library
        (CuPy's arrays and PyTorch's name none)."""
        return namespace_of(self.array)


def source_of(array) -> Source | None:
    """Where a non-NumPy Array API array (CuPy's, array_api_strict's, PyTorch's, ...) lives; None for NumPy arrays
    and other host data (lists, DataFrames, sparse matrices)."""
    if isinstance(array, np.ndarray):
        return None
    if not hasattr(array, "__array_namespace__"):
        from sklearn.externals import array_api_compat

        if not array_api_compat.is_array_api_obj(array):
            return None
    return Source(array_library(array), array.device, array)


def namespace_of(array, backend=None):
    """The Array API namespace to compute on ``array`` with: NumPy for NumPy's, the backend's ``xp`` for the
    backend's own (which is what its fused kernels are registered for), else the one it names or
    array_api_compat gives it."""
    if isinstance(array, np.ndarray):
        return np
    if backend is not None and array_library(array) == backend.name:
        return backend.xp
    if hasattr(array, "__array_namespace__"):
        return array.__array_namespace__()
    from sklearn.externals import array_api_compat

    return array_api_compat.array_namespace(array)


def on_backend(backend, source: Source | None) -> bool:
    """Whether arrays from ``source`` are the backend's own kind (told by their library, as ``Backend.asarray``
    tells them): they reach its device without the host."""
    return source is not None and source.library == backend.name


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
    if array_library(result) == source.library:
        if result.device == source.device:
            return result
        from sklearn.externals import array_api_compat

        return array_api_compat.to_device(result, source.device)
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
    return ("numpy", "cpu") if source is None else (source.library, str(source.device))


def check_same_as_fit(model, X, method: str) -> None:
    """With scikit-learn's ``array_api_dispatch`` on, ``ValueError`` unless X is of the namespace and device the
    model was fitted on (scikit-learn's rule; without it, any input is taken and answered in kind)."""
    from sklearn import get_config

    fitted = getattr(model, "_fit_input", None)
    if get_config()["array_api_dispatch"] and fitted is not None and where(X) != fitted:
        raise ValueError(f"Inputs passed to {type(model).__name__}.{method}() must use the same namespace and the "
                         f"same device as those passed to fit(), {fitted[0]} on {fitted[1]}; got {where(X)[0]} on "
                         f"{where(X)[1]}: move X there first")
