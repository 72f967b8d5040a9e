"""The estimators' host-side input handling: scikit-learn's checks with the fix appended, the range check
for the training dtype, seeds from ``random_state``, and the one move of samples-as-rows data to the device.
"""

from __future__ import annotations

import contextlib

import numpy as np
from scipy import sparse

from ..backends import Backend, array_library
from ..training import Callback

# scikit-learn's input checks name the problem; these add the fix where they do not
HINTS = {
    "contains infinity": "replace or drop those values (np.isfinite(X).all(axis=1) selects the finite rows)",
    "contains NaN": "fill or drop the missing values (np.isnan(X).any(axis=1) finds their rows)",
    "Complex data not supported": "pass real numbers, e.g. X.real or np.abs(X)",
    "could not convert": "encode text columns as numbers first, e.g. with sklearn.preprocessing.OrdinalEncoder",
    "0 sample(s)": "pass at least one sample",
    "0 feature(s)": "pass at least one feature column",
    "inconsistent numbers of samples": "X and y need one entry per sample",
    "should be a 1d array": "pass one label per sample; for several targets use DeepRegressor",
}


@contextlib.contextmanager
def explained():
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


def device_rows(backend: Backend, host, dtype: str):
    """Host samples-as-rows data (a NumPy array, or a SciPy sparse matrix made dense here) on the device as a
    C-contiguous ``dtype`` array (rows gather cheaply)."""
    if sparse.issparse(host):
        host = host.toarray()
    if not isinstance(host, np.ndarray) and array_library(host) == backend.name:  # the backend's own, on its device
        return backend.asarray(host, dtype)
    return backend.asarray(np.ascontiguousarray(host, dtype=dtype))


class SparseRows:
    """A sparse X kept on the host, in CSR form, that hands the device dense rows: the training loop's
    batches (``rows``), or all of it at once (``dense``). Its shape and dtype are those of the dense X."""

    def __init__(self, backend: Backend, X, dtype: str):
        self.backend, self.X, self.dtype_name = backend, sparse.csr_array(X), dtype
        self.shape, self.dtype = X.shape, backend.dtype(dtype)

    def rows(self, indices: np.ndarray):
        """The rows of host ``indices`` as a dense device array ``(len(indices), n)``."""
        return device_rows(self.backend, self.X[indices], self.dtype_name)

    def dense(self):
        return device_rows(self.backend, self.X, self.dtype_name)


def check_range(name: str, values, dtype: str, backend: Backend | None = None) -> None:
    """``ValueError`` when values (host ones, a sparse matrix's stored ones, or an array of ``backend``) would
    overflow to infinity in ``dtype`` on the device."""
    values = values.data if sparse.issparse(values) else values
    limit = float(np.finfo(dtype).max)
    if not (values.ndim and values.shape[0] and values.shape[-1]) or _range_within(values.dtype, limit):
        largest = 0.0  # nothing to check: no values, or (finite) values of a type that cannot exceed the range
    elif isinstance(values, np.ndarray):
        largest = max(float(np.max(values)), -float(np.min(values)))  # no temporary |values|
    else:  # the backend's: one number to the host
        xp = backend.xp
        largest = float(backend.to_numpy(xp.maximum(xp.max(values), -xp.min(values))))
    if largest > limit:
        raise ValueError(
            f"{name} holds values up to {largest:.3g}, beyond {dtype}'s range ({limit:.3g}); "
            f"scale the data (standardize=True for X) or use dtype='float64'"
        )


def _range_within(dtype, limit: float) -> bool:
    """Whether every finite value of ``dtype`` (a NumPy or backend dtype) is within ``limit``: float32's are
    within either float's range."""
    return str(dtype).endswith("float32") and float(np.finfo(np.float32).max) <= limit


def seed_of(random_state):
    """An int seed (or None) from scikit-learn's random_state: None, an int, or a RandomState."""
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31 - 1))
    return random_state


def check_labels(y) -> None:
    """``ValueError`` in our words for class labels that scikit-learn's checks would misread: missing labels
    (None), and labels of mixed types (1 and '1' would silently become one class)."""
    if y is None or (isinstance(y, np.ndarray) and y.dtype != object):
        return  # no y at all is scikit-learn's to report
    try:
        values = list(np.asarray(y, dtype=object).ravel())
    except (TypeError, ValueError):
        return  # not a sequence: scikit-learn's own check says what y should be
    missing = [i for i, value in enumerate(values) if value is None]
    if missing:
        raise ValueError(f"y holds None (a missing label) at rows {missing[:5]}{' ...' if len(missing) > 5 else ''};"
                         f" drop those rows or give them a label")
    kinds = {"text" if isinstance(value, (str, np.str_)) else "number" for value in values}
    if len(kinds) > 1:
        example = next(v for v in values if isinstance(v, (str, np.str_))), next(
            v for v in values if not isinstance(v, (str, np.str_)))
        raise ValueError(f"y mixes text and number labels (e.g. {example[0]!r} and {example[1]!r}), which would "
                         f"merge or split classes; convert them to one type first, e.g. y = np.asarray(y).astype(str)")


def check_callbacks(callbacks) -> list:
    """``callbacks`` as a list; ``TypeError`` unless each is a ``gpudeep.training.Callback``."""
    callbacks = list(callbacks or [])
    wrong = [type(c).__name__ for c in callbacks if not isinstance(c, Callback)]
    if wrong:
        raise TypeError(f"callbacks must be gpudeep.training.Callback objects, got {', '.join(wrong)}; "
                        f"subclass Callback and override on_epoch_end (and on_train_begin, on_train_end)")
    return callbacks
