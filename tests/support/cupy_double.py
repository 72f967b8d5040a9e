"""A test double of CuPy backed by NumPy: exactly the part of CuPy's API that gpudeep calls, so that every
statement of the CuPy backend runs in CPU-only CI.

``install(monkeypatch)`` puts it in ``sys.modules`` as ``cupy`` (with the submodules gpudeep imports), so
``get_backend("cupy")`` probes and builds a real ``CupyBackend`` on it. Like CuPy:

- arrays (``ndarray``, of module "cupy") live on the device that was current when they were made, and name no
  ``__array_namespace__`` (CuPy 14's do not); views (basic slicing, ``reshape``, ``.T``) are made anywhere, while a
  kernel on another device's array turns on peer access with a warning (recorded in ``peer_access``), and raises
  where the GPUs have none; an implicit conversion to NumPy (``np.asarray``) raises, and NumPy arrays given to
  operators and functions raise ``TypeError`` as in CuPy; ``float()``, ``bool()`` and ``.item()`` work but are
  recorded as implicit transfers; ``__dlpack__`` hands the host a copy only when asked for one;
- every device made current gets a CUDA context (``contexts``), as ``cudaSetDevice`` makes one since CUDA 12;
  ``Device.__exit__`` makes the previous device current again, as CuPy's does;
- ``cupyx.allow_synchronize(False)`` makes every synchronisation raise ``cupyx.DeviceSynchronized``;
- functions take CuPy's signatures (``zeros`` has no ``device=``), each checked against the real CuPy by
  ``tests/backends/test_cupy_double.py``;
- ``fuse`` makes a kernel that records each launch and refuses operations that are not elementwise;
- float32 products round their factors to TF32 (10 significant bits) while cuBLAS's compute type says so;
- NCCL's all-reduce sums over MPI ranks, found by the buffer's device pointer.

What it records (``STATE``): the kernels built and launched, the transfers (explicit and implicit), the
synchronisations, the events, the NCCL calls, the devices made current and given contexts, and peer accesses.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import inspect
import operator
import os
import sys
import time
import types
import warnings
import weakref
from dataclasses import dataclass, field

import numpy as np

VERSION = "14.2.0"
PACKAGES = ("cupy", "cupyx", "cupy_backends")  # the top-level packages the double stands in for
STANDS_IN = False  # whether the double is this process's CuPy for good (install_in_this_process)


@dataclass
class State:
    """What the double saw since ``install``; ``device_count`` and ``driver`` shape what it reports."""

    device_count: int = 1
    driver: int = 12090
    current: int = 0
    kernels_built: list = field(default_factory=list)  # kernel names, in order
    launches: list = field(default_factory=list)  # kernel names, in order
    in_kernel: str | None = None  # the kernel being traced/run, during a fused call
    explicit: list = field(default_factory=list)  # ("to host" | "to device", shape)
    implicit: list = field(default_factory=list)  # (what, shape): float(), bool(), int(), item()
    synchronizations: int = 0
    events: list = field(default_factory=list)
    nccl_calls: list = field(default_factory=list)  # (method, arguments)
    compute_type: dict = field(default_factory=dict)  # dtype -> cuBLAS compute type
    freed: list = field(default_factory=list)  # the pools whose blocks were freed
    generators: int = 0  # RandomState objects made
    made_current: list = field(default_factory=list)  # every device made current (setDevice), in order
    contexts: set = field(default_factory=set)  # the devices with a CUDA context in this process
    peer_access: list = field(default_factory=list)  # (array's device, current device) of cross-device kernels
    p2p: bool = True  # whether the GPUs can reach each other's memory (peer access)
    synchronize_allowed: bool = True  # cupyx.allow_synchronize's setting
    capturing: bool = False  # whether the current stream is capturing a graph
    used_bytes: int = 0  # the memory pool: bytes of live arrays,
    cached_bytes: int = 0  # bytes of freed arrays the pool keeps for the next allocations,
    limit: int = 0  # and its limit (0: none), past which an allocation raises OutOfMemoryError


STATE = State()
POINTERS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()  # device pointer -> array, for NCCL


def _on_current_device(*values) -> None:
    """A kernel's check of its arrays, as CuPy 14 makes it: an array of another device turns on peer access, with
    CuPy's PerformanceWarning, or raises where the GPUs cannot reach each other; the current device gets its
    context."""
    STATE.contexts.add(STATE.current)
    for value in values:
        if isinstance(value, ndarray) and value._device != STATE.current:
            if not STATE.p2p:
                raise ValueError(f"The device where the array resides ({value._device}) is different from the "
                                 f"current device ({STATE.current}). Peer access is unavailable between these "
                                 f"devices.")
            STATE.peer_access.append((value._device, STATE.current))
            warnings.warn(f"The device where the array resides ({value._device}) is different from the current "
                          f"device ({STATE.current}). Peer access has been activated automatically.",
                          PerformanceWarning, stacklevel=3)


def _refuse_numpy(value) -> None:
    if isinstance(value, np.ndarray):
        raise TypeError(f"Unsupported type {type(value)}")
    if isinstance(value, (list, tuple)):
        for item in value:
            _refuse_numpy(item)


def _host(value):
    """NumPy data of the double's arrays (a kernel's operands: checked as CuPy checks them), as they are otherwise;
    NumPy arrays are refused, as CuPy refuses them."""
    _refuse_numpy(value)
    if isinstance(value, ndarray):
        _on_current_device(value)
        return value._data
    if isinstance(value, (list, tuple)):
        return type(value)(_host(item) for item in value)
    return value


def _synchronizing(what: str) -> None:
    """A point where the host waits for the device: refused under ``cupyx.allow_synchronize(False)``."""
    if not STATE.synchronize_allowed:
        raise DeviceSynchronized(f"device synchronization was detected ({what}) while it is disallowed")


def _device(value):
    if isinstance(value, np.ndarray):
        return ndarray(value)
    if isinstance(value, np.generic):  # CuPy gives 0-d arrays where NumPy gives scalars
        return ndarray(np.asarray(value))
    return value


def _not_in_a_kernel(name: str) -> None:
    if STATE.in_kernel is not None:
        raise TypeError(f"{name} is not an elementwise operation: cupy.fuse cannot fuse it into the kernel "
                        f"{STATE.in_kernel}")


# -- arrays -------------------------------------------------------------------------------------------------

def _tf32(operand: np.ndarray) -> np.ndarray:
    """float32 with its mantissa rounded to TF32's 10 bits (round to nearest even), as tensor cores read it."""
    bits = operand.astype(np.float32).view(np.uint32)
    rounded = (bits + np.uint32(0xFFF) + ((bits >> np.uint32(13)) & np.uint32(1))) & np.uint32(0xFFFFE000)
    return rounded.view(np.float32)


def _matmul(left, right):
    _not_in_a_kernel("matmul")
    if STATE.capturing:
        raise RuntimeError("cuBLAS is not supported during stream capture in this CuPy (cupy/cupy#6290)")
    left, right = _host(left), _host(right)
    if left.dtype == np.float32 and STATE.compute_type.get(np.dtype(np.float32)) == COMPUTE_TYPE_TF32:
        left, right = _tf32(left), _tf32(right)
    return _device(left @ right)


def matmul(*args, axes=None, axis=None, keepdims=False, casting="same_kind", dtype=None, signature=None, order="K",
           out=None):
    """CuPy's matmul of two arrays, writing into ``out`` (a double's array, perhaps a view) when given."""
    product = _matmul(*args)
    if out is None:
        return product
    _on_current_device(out)
    out._data[...] = product._data
    return out


class ndarray:  # noqa: N801 - CuPy's name
    """A device array: NumPy data, the device it lives on, and CuPy's rules for leaving the device."""

    __slots__ = ("_data", "_device", "__weakref__")
    __array_priority__ = 1000  # NumPy scalars on the left defer to the reflected operators

    def __init__(self, data: np.ndarray, device: int | None = None):
        self._data = data
        if device is None:  # a new allocation, on the current device (which now has its context), from the pool
            STATE.contexts.add(STATE.current)
            _allocate(self, data.nbytes)
        self._device = STATE.current if device is None else device

    shape = property(lambda self: self._data.shape)
    dtype = property(lambda self: self._data.dtype)
    ndim = property(lambda self: self._data.ndim)
    size = property(lambda self: self._data.size)
    nbytes = property(lambda self: self._data.nbytes)
    device = property(lambda self: Device(self._device))

    @property
    def T(self):  # noqa: N802 - NumPy's name
        return ndarray(self._data.T, self._device)  # a view: no kernel, on any current device

    @property
    def data(self) -> MemoryPointer:
        pointer = self._data.__array_interface__["data"][0]
        POINTERS[pointer] = self
        return MemoryPointer(pointer)

    def get(self, stream=None, order="C", out=None, blocking=True) -> np.ndarray:
        _synchronizing("ndarray.get")
        STATE.explicit.append(("to host", self.shape))
        return np.array(self._data, order=order)

    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        _on_current_device(self)
        return ndarray(self._data.astype(dtype, order=order, copy=copy), self._device)

    def reshape(self, *shape, order="C", copy=None):
        _not_in_a_kernel("reshape")
        return ndarray(self._data.reshape(*shape, order=order), self._device)  # a view, as CuPy's: no device check

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        """The array for another library, as CuPy hands it: in device memory, unless the host asks for a copy
        (``dl_device=(1, 0)``, kDLCPU, with ``copy=True``), which is an explicit transfer."""
        if dl_device is not None and tuple(dl_device)[0] == 1:
            if not copy:
                raise BufferError("device memory cannot be viewed from the host: ask for a copy (copy=True)")
            return self.get().__dlpack__(max_version=max_version)
        raise BufferError("the double's device memory can be exported to the host only (dl_device=(1, 0))")

    def __dlpack_device__(self):
        return (2, self._device)  # kDLCUDA

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct "
                        "a NumPy array explicitly.")

    def _implicit(self, what: str):
        _synchronizing(what)
        STATE.implicit.append((what, self.shape))
        return self._data

    def __float__(self):
        return float(self._implicit("float()"))

    def __int__(self):
        return int(self._implicit("int()"))

    def __bool__(self):
        return bool(self._implicit("bool()"))

    def item(self):
        return self._implicit("item()").item()

    def __getitem__(self, key):
        if _is_basic(key):  # a view: no kernel runs, so CuPy checks no device
            return ndarray(self._data[key], self._device)
        return _device(_host(self)[_index(key)])

    def __setitem__(self, key, value):
        target = _host(self)  # the copy is a kernel on this array's device
        target[_index(key)] = value if isinstance(value, np.ndarray) else _host(value)

    def __len__(self):
        return len(self._data)

    def __repr__(self):
        return f"cupy_double.ndarray(shape={self.shape}, dtype={self.dtype}, device={self._device})"

    def __neg__(self):
        return _device(-_host(self))

    def __abs__(self):
        return _device(abs(_host(self)))

    def __matmul__(self, other):
        return _matmul(self, other)

    def __rmatmul__(self, other):
        return _matmul(other, self)


def _allocate(array: ndarray, size: int) -> None:
    """Take ``size`` bytes from the pool for ``array`` (its cached blocks first), within the pool's limit; they go
    back to the pool's cache when the array is collected."""
    if STATE.limit and STATE.used_bytes + size > STATE.limit:
        raise OutOfMemoryError(size, STATE.used_bytes, STATE.limit)
    STATE.cached_bytes = max(0, STATE.cached_bytes - size)
    STATE.used_bytes += size
    weakref.finalize(array, _released, STATE, size)


def _released(state: State, size: int) -> None:
    state.used_bytes -= size
    state.cached_bytes += size


def _is_basic(key) -> bool:
    """Whether an index is basic (integers, slices, None, Ellipsis): NumPy's and CuPy's views."""
    keys = key if isinstance(key, tuple) else (key,)
    return all(k is None or k is Ellipsis or isinstance(k, (int, slice)) for k in keys)


def _index(key):
    """An index for the NumPy data: the double's arrays (checked like a kernel's operands) as NumPy's."""
    if isinstance(key, tuple):
        return tuple(_index(k) for k in key)
    return _host(key) if isinstance(key, ndarray) else key


def _binary(op):
    return lambda self, other: _device(op(_host(self), _host(other)))


def _reflected(op):
    return lambda self, other: _device(op(_host(other), _host(self)))


def _in_place(op):
    def apply(self, other):
        op(_host(self), _host(other))  # NumPy's in-place operators update the data itself
        return self
    return apply


for _name in ("add", "sub", "mul", "truediv", "floordiv", "pow", "mod"):
    _op = getattr(operator, _name)
    setattr(ndarray, f"__{_name}__", _binary(_op))
    setattr(ndarray, f"__r{_name}__", _reflected(_op))
    setattr(ndarray, f"__i{_name}__", _in_place(getattr(operator, f"i{_name}")))
for _name in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(ndarray, f"__{_name}__", _binary(getattr(operator, _name)))
for _name in ("and", "or", "xor"):
    setattr(ndarray, f"__{_name}__", _binary(getattr(operator, f"{_name}_" if _name != "xor" else _name)))
ndarray.__module__ = "cupy"


@dataclass(frozen=True)
class MemoryPointer:
    ptr: int


# -- functions: CuPy's signatures, NumPy's arithmetic ---------------------------------------------------------

# name -> CuPy's signature, as CuPy 14 states it; "elementwise" functions may run inside a fused kernel
ELEMENTWISE = {
    "abs": "(x, /, out=None, *, casting='same_kind', dtype=None)",
    "exp": "(x, /, out=None, *, casting='same_kind', dtype=None)",
    "log": "(x, /, out=None, *, casting='same_kind', dtype=None)",
    "log1p": "(x, /, out=None, *, casting='same_kind', dtype=None)",
    "sqrt": "(x, /, out=None, *, casting='same_kind', dtype=None)",
    "tanh": "(x, /, out=None, *, casting='same_kind', dtype=None)",
    "isfinite": "(x, /, out=None, *, casting='same_kind', dtype=None)",
    "maximum": "(x1, x2, /, out=None, *, casting='same_kind', dtype=None)",
    "where": "(condition, x=None, y=None)",
    "astype": "(x, dtype, /, *, copy=True)",
}
REDUCTIONS_AND_SHAPES = {
    "sum": "(a, axis=None, dtype=None, out=None, keepdims=False)",
    "mean": "(a, axis=None, dtype=None, out=None, keepdims=False)",
    "max": "(a, axis=None, out=None, keepdims=False)",
    "min": "(a, axis=None, out=None, keepdims=False)",
    "all": "(a, axis=None, out=None, keepdims=False)",
    "argmax": "(a, axis=None, dtype=None, out=None, keepdims=False)",
    "take": "(a, indices, axis=None, out=None)",
    "take_along_axis": "(a, indices, axis)",
    "stack": "(tup, axis=0, out=None, *, dtype=None, casting='same_kind')",
    "concat": "(tup, axis=0, out=None, *, dtype=None, casting='same_kind')",
    "std": "(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False)",
    "ones_like": "(a, dtype=None, order='K', subok=None, shape=None)",
    "reshape": "(a, newshape, order='C', *, copy=None)",
    "zeros_like": "(a, dtype=None, order='K', subok=None, shape=None)",
}
NUMPY_NAMES = {"abs": "absolute", "reshape": "reshape", "concat": "concatenate"}


def _signature(text: str) -> inspect.Signature:
    namespace: dict = {}
    exec(f"def f{text}: pass", namespace)  # noqa: S102 - our own literal signatures
    return inspect.signature(namespace["f"])


def _forwarded(name: str, text: str, elementwise: bool):
    signature = _signature(text)
    numpy_function = getattr(np, NUMPY_NAMES.get(name, name))

    def call(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)  # a call CuPy would refuse fails here too
        if not elementwise:
            _not_in_a_kernel(name)
        if name == "astype":
            x, dtype = bound.arguments["x"], bound.arguments["dtype"]
            return ndarray(_host(x).astype(dtype, copy=bound.arguments.get("copy", True)), x._device)
        if name == "reshape":  # a view, as CuPy's: no kernel, so no device check
            a = bound.arguments["a"]
            _refuse_numpy(a)
            return ndarray(np.reshape(a._data, bound.arguments["newshape"]), a._device)
        return _device(numpy_function(*_host(args), **{key: _host(value) for key, value in kwargs.items()}))

    call.__name__ = name
    call.__signature__ = signature
    return call


def asarray(a, dtype=None, order=None, *, copy=None, blocking=False):
    if isinstance(a, ndarray):  # on the current device: the same array, or a copy from another device
        if a._device == STATE.current and (dtype is None or np.dtype(dtype) == a.dtype) and not copy:
            return a
        return ndarray(a._data.astype(dtype or a.dtype, copy=True))
    STATE.explicit.append(("to device", np.shape(a)))
    return ndarray(np.array(a, dtype=dtype, order=order or "K"))


def asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    return a.get(stream=stream, order=order, out=out, blocking=blocking)


def zeros(shape, dtype=float, order="C"):
    return ndarray(np.zeros(shape, dtype=dtype, order=order))


def arange(start, stop=None, step=1, dtype=None):
    return ndarray(np.arange(start, stop, step, dtype=dtype))


class Fusion:
    """What ``cupy.fuse`` returns: one kernel, built at its first call, each call one recorded launch."""

    def __init__(self, func, name: str):
        self.func, self.name = func, name
        STATE.kernels_built.append(name)

    def __call__(self, *args):
        _on_current_device(*args)
        STATE.launches.append(self.name)
        STATE.in_kernel = self.name
        try:
            return self.func(*args)
        finally:
            STATE.in_kernel = None


def fuse(*args, **kwargs):
    if args:  # @cupy.fuse
        return Fusion(args[0], args[0].__name__)
    return lambda func: Fusion(func, kwargs.get("kernel_name") or func.__name__)


# -- cupy.cuda: devices, streams, events, memory, the runtime ------------------------------------------------

class Device:
    """CuPy's device: ``use`` and ``with`` make it current (``setDevice``), and leaving the block makes the previous
    device current again, as CuPy's ``__exit__`` does (which gives that device a context)."""

    def __init__(self, device=None):
        self.id = STATE.current if device is None else int(device)
        self._previous: list[int] = []

    def use(self):
        setDevice(self.id)

    def __enter__(self):
        self._previous.append(STATE.current)
        setDevice(self.id)
        return self

    def __exit__(self, *exc):
        setDevice(self._previous.pop())

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return f"<CUDA Device {self.id}>"


class Stream:
    """A stream: synchronising it is recorded; capturing a graph on it refuses cuBLAS's products, as CuPy does."""

    def __init__(self, null=False, non_blocking=False, ptds=False, priority=None):
        self.ptr = 0 if null else id(self)

    def synchronize(self):
        _synchronizing("Stream.synchronize")
        STATE.synchronizations += 1

    def begin_capture(self, mode=None):
        STATE.capturing = True

    def end_capture(self):
        STATE.capturing = False
        return Graph()

    def is_capturing(self):
        return STATE.capturing

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


class Graph:
    """What ``Stream.end_capture`` returns; CuPy makes it, never the caller."""

    def __init__(self, *args, **kwargs):
        pass

    def launch(self, stream=None):
        STATE.launches.append("graph")


_NULL_STREAM = Stream(null=True)


def get_current_stream(device_id=-1):
    return _NULL_STREAM


class Event:
    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self.time = None

    def record(self, stream=None):
        self.time = time.perf_counter()
        STATE.events.append("record")

    @property
    def done(self):  # a query of the event, which waits for nothing (the double's work is done at once)
        STATE.events.append("query")
        return self.time is not None

    def synchronize(self):
        _synchronizing("Event.synchronize")
        STATE.events.append("synchronize")


def get_elapsed_time(start_event, end_event):
    return (end_event.time - start_event.time) * 1e3


class OutOfMemoryError(MemoryError):
    def __init__(self, size, total, limit=0):
        super().__init__(f"Out of memory allocating {size:,} bytes (allocated so far: {total:,} bytes).")


class MemoryPool:
    """CuPy's pool of device memory: it keeps freed blocks for the next allocations until ``free_all_blocks``."""

    def free_all_blocks(self, stream=None):
        STATE.freed.append(f"device {STATE.current}")  # the pool of the current device only, as CuPy's
        STATE.cached_bytes = 0

    def set_limit(self, size=None, fraction=None):
        STATE.limit = int(size or 0)

    def get_limit(self):
        return STATE.limit

    def total_bytes(self):
        return STATE.used_bytes + STATE.cached_bytes

    def free_bytes(self):
        return STATE.cached_bytes

    def used_bytes(self):
        return STATE.used_bytes


class PinnedMemoryPool:
    def free_all_blocks(self):
        STATE.freed.append("pinned")


_POOLS = (MemoryPool(), PinnedMemoryPool())


def get_default_memory_pool():
    return _POOLS[0]


def get_default_pinned_memory_pool():
    return _POOLS[1]


class CUDARuntimeError(RuntimeError):
    def __init__(self, status):
        self.status = status
        super().__init__(f"cudaError {status}")


def getDeviceCount():  # noqa: N802 - CUDA's names
    if not STATE.driver:
        raise CUDARuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient for CUDA runtime "
                               "version")
    return STATE.device_count


def getDevice():  # noqa: N802
    return STATE.current


def setDevice(device):  # noqa: N802
    """Make ``device`` current; since CUDA 12 this creates its primary context."""
    if not 0 <= device < STATE.device_count:
        raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
    STATE.current = device
    STATE.made_current.append(device)
    STATE.contexts.add(device)


def getDeviceProperties(device):  # noqa: N802
    return {"name": b"NumPy test double of a GPU", "totalGlobalMem": 80 * 2**30}


def driverGetVersion():  # noqa: N802
    return STATE.driver


def runtimeGetVersion():  # noqa: N802
    return 12090


class CompileException(Exception):
    pass


# -- random numbers, cuBLAS's compute type, NCCL ------------------------------------------------------------

CURAND_RNG_PSEUDO_PHILOX4_32_10 = 161


class RandomState:
    def __init__(self, seed=None, method=None):
        STATE.generators += 1
        self.method = method
        self.seed(seed)

    def seed(self, seed=None):
        self._generator = np.random.Generator(np.random.Philox(seed))

    def random_sample(self, size=None, dtype=float):
        return ndarray(self._generator.random(size, dtype=dtype))


COMPUTE_TYPE_DEFAULT, COMPUTE_TYPE_TF32 = 1, 7


def get_compute_type(dtype):
    return STATE.compute_type.get(np.dtype(dtype), COMPUTE_TYPE_DEFAULT)


def set_compute_type(dtype, compute_type):
    STATE.compute_type[np.dtype(dtype)] = compute_type


NCCL_SUM, NCCL_FLOAT32, NCCL_FLOAT64 = 0, 7, 8
available = True


def get_unique_id():
    return bytes(range(128))  # CuPy 14's ncclUniqueId, as bytes


def get_version():
    return 22703


class NcclCommunicator:
    """Sums over the job's MPI ranks, on the host: the arrays are NumPy underneath."""

    def __init__(self, ndev, commId, rank, config=None):  # noqa: N803 - CuPy's names
        STATE.nccl_calls.append(("NcclCommunicator", (ndev, rank)))
        if not isinstance(commId, bytes):
            raise TypeError(f"expected bytes, got {type(commId).__name__}")
        self.ndev, self.comm_id = ndev, commId

    def allReduce(self, sendbuf, recvbuf, count, datatype, op, stream):  # noqa: N802
        STATE.nccl_calls.append(("allReduce", (count, datatype, op, stream)))
        assert isinstance(self.comm_id, bytes) and len(self.comm_id) == 128
        send, receive = POINTERS[sendbuf], POINTERS[recvbuf]
        assert send is receive and count == send.size and op == NCCL_SUM
        assert datatype == {np.float32: NCCL_FLOAT32, np.float64: NCCL_FLOAT64}[send.dtype.type]
        if self.ndev > 1:  # the sum over one rank is the buffer itself
            from mpi4py import MPI

            MPI.COMM_WORLD.Allreduce(MPI.IN_PLACE, send._data, op=MPI.SUM)


def show_config(*, _full=False):
    print(f"CuPy Version          : {VERSION} (the NumPy test double of CuPy)\nNumPy Version         : "
          f"{np.__version__}\nDevice count          : {STATE.device_count}")


class PerformanceWarning(RuntimeWarning):
    """CuPy's warning of a slow path taken (cupy._util.PerformanceWarning)."""


class DeviceSynchronized(RuntimeError):
    """What cupyx raises for a synchronisation it was told to disallow."""


@contextlib.contextmanager
def allow_synchronize(allow):
    previous, STATE.synchronize_allowed = STATE.synchronize_allowed, bool(allow)
    try:
        yield
    finally:
        STATE.synchronize_allowed = previous


# -- the modules, as CuPy lays them out ---------------------------------------------------------------------

def _module(name: str, **attributes) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)  # what importlib.util.find_spec returns for it
    module.__dict__.update(attributes)
    return module


def modules() -> dict[str, types.ModuleType]:
    """The double's modules by the names gpudeep imports them by."""
    functions = {name: _forwarded(name, text, True) for name, text in ELEMENTWISE.items()}
    functions |= {name: _forwarded(name, text, False) for name, text in REDUCTIONS_AND_SHAPES.items()}
    runtime = _module("cupy.cuda.runtime", getDeviceCount=getDeviceCount, getDeviceProperties=getDeviceProperties,
                      getDevice=getDevice, setDevice=setDevice,
                      driverGetVersion=driverGetVersion, runtimeGetVersion=runtimeGetVersion,
                      CUDARuntimeError=CUDARuntimeError)
    memory = _module("cupy.cuda.memory", OutOfMemoryError=OutOfMemoryError)
    compiler = _module("cupy.cuda.compiler", CompileException=CompileException)
    nccl = _module("cupy.cuda.nccl", available=available, get_unique_id=get_unique_id, get_version=get_version,
                   NcclCommunicator=NcclCommunicator, NCCL_SUM=NCCL_SUM, NCCL_FLOAT32=NCCL_FLOAT32,
                   NCCL_FLOAT64=NCCL_FLOAT64)
    graph = _module("cupy.cuda.graph", Graph=Graph)
    cuda = _module("cupy.cuda", Device=Device, Stream=Stream, Event=Event, get_current_stream=get_current_stream,
                   get_elapsed_time=get_elapsed_time, runtime=runtime, memory=memory, compiler=compiler, graph=graph)
    random = _module("cupy.random", RandomState=RandomState)
    linalg = _module("cupy._core._routines_linalg", get_compute_type=get_compute_type,
                     set_compute_type=set_compute_type, COMPUTE_TYPE_DEFAULT=COMPUTE_TYPE_DEFAULT,
                     COMPUTE_TYPE_TF32=COMPUTE_TYPE_TF32)
    core = _module("cupy._core", _routines_linalg=linalg)
    util = _module("cupy._util", PerformanceWarning=PerformanceWarning)
    cupyx = _module("cupyx", allow_synchronize=allow_synchronize, DeviceSynchronized=DeviceSynchronized)
    cupy = _module("cupy", __version__=VERSION, _util=util, ndarray=ndarray, float32=np.float32, float64=np.float64,
                   int64=np.int64, show_config=show_config, asarray=asarray, asnumpy=asnumpy, zeros=zeros,
                   arange=arange, matmul=matmul, fuse=fuse, cuda=cuda,
                   random=random, _core=core, get_default_memory_pool=get_default_memory_pool,
                   get_default_pinned_memory_pool=get_default_pinned_memory_pool, **functions)
    curand = _module("cupy_backends.cuda.libs.curand", CURAND_RNG_PSEUDO_PHILOX4_32_10=CURAND_RNG_PSEUDO_PHILOX4_32_10)
    libs = _module("cupy_backends.cuda.libs", curand=curand)
    return {"cupy": cupy, "cupy.cuda": cuda, "cupy.cuda.runtime": runtime, "cupy.cuda.memory": memory,
            "cupy.cuda.compiler": compiler, "cupy.cuda.nccl": nccl, "cupy.random": random, "cupy._core": core,
            "cupy._core._routines_linalg": linalg, "cupy._util": util, "cupy.cuda.graph": graph, "cupyx": cupyx,
            "cupy_backends": _module("cupy_backends"),
            "cupy_backends.cuda": _module("cupy_backends.cuda", libs=libs), "cupy_backends.cuda.libs": libs,
            "cupy_backends.cuda.libs.curand": curand}


def reset(**settings) -> State:
    """A fresh ``STATE`` with ``settings`` (device_count, driver)."""
    global STATE
    STATE = State(**settings)
    if os.environ.get("CUPY_TF32") == "1":  # read by CuPy when it is imported
        STATE.compute_type[np.dtype(np.float32)] = COMPUTE_TYPE_TF32
    POINTERS.clear()
    return STATE


@contextlib.contextmanager
def installed(**settings):
    """The double as ``cupy`` inside the block (the real CuPy, if imported, put back after), with a fresh probe;
    yields the ``STATE`` it records in."""
    from gpudeep import backends

    saved = {name: module for name, module in sys.modules.items() if name.split(".")[0] in PACKAGES}
    for name in saved:
        del sys.modules[name]
    sys.modules.update(modules())
    reset(**settings)
    backends.forget()
    answered = _answer_the_driver()
    try:
        yield STATE
    finally:
        for name in [name for name in sys.modules if name.split(".")[0] in PACKAGES]:
            del sys.modules[name]
        sys.modules.update(saved)
        answered()
        backends.forget()


def install_in_this_process(**settings) -> types.ModuleType:
    """For a subprocess (an MPI rank, the device-like run of gpu-check.sh): the double as ``cupy`` for the rest of
    the process."""
    global STANDS_IN
    STANDS_IN = True
    sys.modules.update(modules())
    reset(**settings)
    _answer_the_driver()
    return sys.modules["cupy"]


def thread_has_context() -> bool:
    """The CUDA driver's answer (``cuCtxGetCurrent``), which CuPy does not wrap: whether this thread works on a
    device, which since CUDA 12 means one was made current or allocated on."""
    return STATE.current in STATE.contexts


def _answer_the_driver():
    """Let the CuPy backend ask the double what it would ask the CUDA driver; returns how to undo it."""
    from gpudeep.backends import cupy_probe

    original = cupy_probe.thread_has_context
    cupy_probe.thread_has_context = thread_has_context

    def undo():
        cupy_probe.thread_has_context = original
    return undo

