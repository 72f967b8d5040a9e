"""A test-only array namespace that checks the backend's discipline: NumPy underneath, but every implicit
conversion to the host raises.

On a GPU each implicit conversion (``float(cost)``, ``if xp.all(...)``, ``np.asarray(A)``, ``A.item()``) is
a blocking device-to-host copy hidden in an innocent line. Here it is an ``ImplicitTransfer`` error at that
line, on any CPU; the transfers that are meant go through ``Backend.to_numpy``, which this backend counts.
This is not a GPU test: it proves that the library's own code moves data only where it says so.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import numpy as np

from gpudeep.backends import Backend


class ImplicitTransfer(RuntimeError):
    """An array was converted to host data without ``Backend.to_numpy``."""


def _unwrap(value):
    if isinstance(value, GuardedArray):
        return value._data
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(item) for item in value)
    return value


def _wrap(value):
    if isinstance(value, np.ndarray):
        return GuardedArray(value)
    if isinstance(value, np.generic):  # NumPy's reductions give scalars where a device library gives 0-d arrays
        return GuardedArray(np.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(item) for item in value)
    return value


def _forbidden(name):
    def refuse(self, *args, **kwargs):
        raise ImplicitTransfer(f"{name} of a device array: an implicit transfer to the host; "
                               f"use backend.to_numpy(...) where a transfer is meant")
    return refuse


def _binary(op):
    def apply(self, other):
        return _wrap(op(self._data, _unwrap(other)))
    return apply


def _reflected(op):
    def apply(self, other):
        return _wrap(op(_unwrap(other), self._data))
    return apply


def _in_place(op):
    def apply(self, other):
        op(self._data, _unwrap(other))  # NumPy's in-place operators update self._data itself
        return self
    return apply


class GuardedArray:
    """An ndarray behind a wall: arithmetic, indexing and attributes pass through, host conversions raise."""

    __slots__ = ("_data",)
    __array_priority__ = 1000  # NumPy scalars on the left defer to the reflected operators below

    def __init__(self, data: np.ndarray):
        self._data = data

    shape = property(lambda self: self._data.shape)
    dtype = property(lambda self: self._data.dtype)
    ndim = property(lambda self: self._data.ndim)
    size = property(lambda self: self._data.size)
    T = property(lambda self: GuardedArray(self._data.T))
    device = property(lambda self: "cpu")

    def __array_namespace__(self, api_version=None):
        return NAMESPACE

    def __getitem__(self, key):
        return _wrap(self._data[_unwrap(key)])

    def __setitem__(self, key, value):
        self._data[_unwrap(key)] = _unwrap(value)

    def __len__(self):
        return len(self._data)

    def __repr__(self):
        return f"GuardedArray(shape={self.shape}, dtype={self.dtype})"

    def __neg__(self):
        return GuardedArray(-self._data)

    def __abs__(self):
        return GuardedArray(abs(self._data))

    __array__ = _forbidden("__array__")
    __float__ = _forbidden("float()")
    __int__ = _forbidden("int()")
    __index__ = _forbidden("an index from")
    __bool__ = _forbidden("the truth value")
    __complex__ = _forbidden("complex()")
    __iter__ = _forbidden("iterating over the elements")
    item = _forbidden("item()")
    tolist = _forbidden("tolist()")
    __dlpack__ = _forbidden("__dlpack__")


for _name, _op in {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "truediv": operator.truediv,
                   "floordiv": operator.floordiv, "pow": operator.pow, "matmul": operator.matmul,
                   "mod": operator.mod}.items():
    setattr(GuardedArray, f"__{_name}__", _binary(_op))
    setattr(GuardedArray, f"__r{_name}__", _reflected(_op))
    setattr(GuardedArray, f"__i{_name}__", _in_place(getattr(operator, f"i{_name}")))
for _name in ("lt", "le", "gt", "ge", "eq", "ne", "and", "or", "xor"):
    setattr(GuardedArray, f"__{_name}__", _binary(getattr(operator, f"{_name}_" if _name in ("and", "or") else _name)))


class _Namespace:
    """NumPy's functions over guarded arrays: arguments unwrapped, results wrapped; dtypes are NumPy's."""

    __name__ = "host_guard"

    def __getattr__(self, name):
        attribute = getattr(np, name)
        if isinstance(attribute, type) or not callable(attribute):  # dtypes and constants
            return attribute

        def call(*args, **kwargs):
            return _wrap(attribute(*_unwrap(args), **{key: _unwrap(value) for key, value in kwargs.items()}))

        return call

    @staticmethod
    def astype(x, dtype, /, *, copy=True):
        return GuardedArray(x._data.astype(dtype, copy=copy))


NAMESPACE = _Namespace()


@dataclass(frozen=True)
class GuardedBackend(Backend):
    """A backend over the guarded namespace; each ``to_numpy`` (a transfer that is meant) is appended to
    ``transfers`` as the shape it moved."""

    transfers: list = field(default_factory=list, repr=False, compare=False)

    def _host(self, array):
        self.transfers.append(array.shape)
        return array._data


def guarded_backend(transfers: list) -> Backend:
    return GuardedBackend("host_guard", NAMESPACE, "cpu", "NumPy behind a host-transfer guard", "test",
                          transfers=transfers)
