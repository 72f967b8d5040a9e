"""The backend contract, implemented for host memory: what every array library's backend offers.

A ``Backend`` carries the array namespace ``xp`` the math is written against, and the helpers that
allocate, place, copy to the host, synchronise, draw random numbers, time and sum across ranks. The
rule of the house: the math takes ``xp``; whatever allocates or moves data takes the ``backend``.
A library that does something differently (CuPy: placement, pools, TF32, fusion, NCCL) overrides it
in its own module beside this one; nothing here knows any of them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import NamedTuple

import numpy as np

from .. import subnormals, threads

DTYPES = ("float32", "float64")


class BackendUnavailableError(RuntimeError):
    """The backend asked for cannot run here; the message says why and how to fix it."""


class DeviceMemoryError(MemoryError):
    """The device ran out of memory; the message gives the request, what was running and what to lower."""


class Uniform:
    """``draw(shape, dtype)``: arrays uniform on [0, 1) on a backend, from one generator that ``seed``
    restarts; this one is the host's, NumPy's generator."""

    def __init__(self, backend: Backend, seed: int):
        self.backend = backend
        self.seed(seed)

    def seed(self, seed: int) -> None:
        self.host_rng = np.random.default_rng(seed)

    def __call__(self, shape: tuple[int, ...], dtype: str):
        return self.backend.asarray(self.host_rng.random(shape, dtype=np.dtype(dtype)))


class Stopwatch:
    """``with stopwatch(): ...`` adds the block's time to ``seconds``; this one is the host's clock."""

    def __init__(self):
        self.seconds = 0.0

    @contextlib.contextmanager
    def __call__(self):
        started = time.perf_counter()
        yield
        self.seconds += time.perf_counter() - started


class Probe(NamedTuple):
    """Whether an array library can run here, from its module's ``probe``."""

    module: ModuleType | None  # the library's namespace when it can run, else None
    reason: str  # what the probe found, in words ("" when there is nothing to say)
    installed: bool = True  # whether the library could be imported at all
    fix: str = ""  # how to make it run, for the cause found (empty when it runs)


class Reduction(NamedTuple):
    """How the ranks of a job sum a backend's arrays: ``run(buffer)`` returns Σ over ranks of ``buffer``
    (perhaps ``buffer`` itself, summed in place)."""

    name: str  # "host", "nccl", "cuda-aware mpi"
    run: Callable
    why: str


@dataclass(frozen=True)
class Backend:
    """An array library, resolved once and passed along; this class is a host library's (NumPy's, and
    array_api_strict's devices, which are host memory too).

    name: the backend's name in ``gpudeep.backends.BACKENDS``.
    xp: the array namespace the math is written against.
    device: the device new arrays are placed on.
    description: the hardware in words, e.g. "CPU" or "GPU 0: NVIDIA H200, 139.8 GiB".
    reason: why this backend was chosen.
    request: the device asked for, which a pickled backend resolves again (the factory registers how).
    """

    name: str
    xp: ModuleType
    device: object
    description: str
    reason: str
    request: object = field(default=None, repr=False, compare=False)

    on_gpu = False  # whether the arrays live on a GPU (and the host's BLAS does none of the math)

    def __repr__(self) -> str:  # one line, in an estimator's repr too
        return f"<Backend {self.name}: {self.description}>"

    trains = True  # whether training can run on it (a graph-building backend only predicts)
    memory_errors = (MemoryError,)  # what running out of memory raises

    def versions(self) -> dict[str, str]:
        """{library: version} of the libraries this backend computes with, for run records."""
        return {"numpy": np.__version__}

    def dtype(self, name: str):
        """The backend's dtype object for "float32" or "float64"."""
        if name not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {name!r}")
        return getattr(self.xp, name)

    def dtype_name(self, array) -> str:
        """ "float32" or "float64" for an array of this backend; ``TypeError`` for any other dtype."""
        for name in DTYPES:
            if array.dtype == self.dtype(name):
                return name
        raise TypeError(f"expected a float32 or float64 array, got dtype {array.dtype}")

    def asarray(self, data, dtype=None):
        """Host data (a NumPy array, list or scalar) or an array of this backend, on this backend.

        ``dtype`` is "float32", "float64", one of this backend's dtype objects, or None to keep it.

        Arrays of another device library are refused with a ``TypeError``:
        nothing converts between backends silently (use ``to_numpy`` first).
        """
        source = array_library(data)
        if source not in (self.name, "numpy", None):
            raise TypeError(
                f"cannot place a {source} array on the {self.name} backend; "
                f"convert it explicitly with the {source} backend's to_numpy() first"
            )
        return self._place(data, self.dtype(dtype) if isinstance(dtype, str) else dtype)

    def zeros(self, shape: tuple[int, ...], dtype):
        """An array of zeros on this backend; ``dtype`` as for ``asarray``."""
        return self.xp.zeros(shape, dtype=self.dtype(dtype) if isinstance(dtype, str) else dtype, device=self.device)

    def uniform(self, seed: int) -> Uniform:
        """``draw(shape, dtype)`` of arrays uniform on [0, 1) on this backend, seeded from the host; make one
        per fit and restart it with ``draw.seed(seed)``.

        Host libraries draw with NumPy's generator; a GPU draws with its own, so for one seed the CPU and
        GPU draws differ.
        """
        return Uniform(self, seed)

    def to_numpy(self, array) -> np.ndarray:
        """A host NumPy copy (or view, on the numpy backend) of an array of this backend."""
        library = array_library(array)
        if library != self.name:
            raise TypeError(f"to_numpy of the {self.name} backend got a {library} array; use that backend's to_numpy")
        return self._host(array)

    def synchronize(self) -> None:
        """Wait until the device has finished all queued work (a no-op on the CPU)."""

    def stopwatch(self) -> Stopwatch:
        """A timer of blocks of this backend's work, as it runs: the host's clock on the CPU."""
        return Stopwatch()

    def reduction(self, group) -> Reduction:
        """How ``group`` (a ``gpudeep.distributed.Group``) sums this backend's arrays over its ranks: through
        host memory, one MPI all-reduce of a NumPy copy."""
        def staged(buffer):
            host = np.ascontiguousarray(self.to_numpy(buffer))
            group.sum_in_place(host)
            return self.asarray(host)

        return Reduction("host", staged, "the arrays are in host memory")

    def release_memory(self) -> None:
        """Hand the memory pool's cached blocks back to the device (a no-op on the CPU)."""

    def on_device(self):
        """A context in which new arrays and kernels go to this backend's device (a no-op on the CPU)."""
        return contextlib.nullcontext()

    def make_current(self) -> None:
        """Make this backend's device the thread's for good, as a data-parallel rank's process does with its GPU
        (a no-op on the CPU)."""

    @contextlib.contextmanager
    def allow_tf32(self, enabled: bool | None = True):
        """Inside the block, float32 matrix products use TF32 tensor cores (``enabled`` True) or not (False);
        None leaves the library's own setting (on CuPy, the user's ``CUPY_TF32``: off unless set to 1).

        TF32 keeps float32's range but rounds the factors to 10 significant bits, for several
        times the product throughput on NVIDIA GPUs from Ampere on (older GPUs have no TF32 and
        CuPy keeps float32 there). On the CPU products stay float32: that is the reference TF32 is
        tested against. float64 products are never affected. The previous setting comes back on leaving.
        """
        if enabled is None:
            yield
            return
        previous = self._set_tf32(bool(enabled))
        try:
            yield
        finally:
            self._restore_tf32(previous)

    def blas_threads(self, flops: float, n_jobs: int | None = None):
        """A context in which the host's BLAS runs units of work of ``flops`` operations on the threads
        ``gpudeep.threads.choose`` gives (``n_jobs`` overrides it); it changes nothing on a GPU."""
        if self.on_gpu:
            return contextlib.nullcontext()
        return threads.limit(threads.choose(flops, n_jobs))

    @contextlib.contextmanager
    def computing(self, flops: float, n_jobs: int | None = None):
        """A context for a run of the math (training, predicting) in units of work of ``flops`` operations: the
        host's BLAS threads chosen for that size (``blas_threads``), and this thread's subnormal results flushed
        to zero (``gpudeep.subnormals``), so that decaying weights cannot slow the CPU down. On a GPU, which
        computes subnormals at full speed, nothing changes."""
        if self.on_gpu:
            yield
            return
        with self.blas_threads(flops, n_jobs), subnormals.flushed():
            yield

    @contextlib.contextmanager
    def memory_guard(self, doing: str, advice: str):
        """Turn running out of memory inside the block into a ``DeviceMemoryError`` that says what
        was being done, what the allocator was asked for, and ``advice``; the pool is released."""
        try:
            yield
        except DeviceMemoryError:
            raise
        except self.memory_errors as error:
            self.release_memory()
            raise DeviceMemoryError(f"out of memory on {self.description} while {doing}: {error}; {advice}") from error

    # -- what a library does differently, overridden by its class ------------------------------------

    def _place(self, data, dtype):
        return self.xp.asarray(data, dtype=dtype, device=self.device)

    def _host(self, array) -> np.ndarray:
        return np.asarray(array)

    def _set_tf32(self, enabled: bool):
        """Switch TF32 for float32 products; returns the setting it replaces (host products have no TF32)."""
        return None

    def _restore_tf32(self, previous) -> None:
        """Put back what ``_set_tf32`` returned."""


def array_library(array) -> str | None:
    """The library an array belongs to ("numpy", "cupy", ...), or None for plain Python data."""
    library = type(array).__module__.partition(".")[0]
    if library in ("builtins", ""):
        return None
    return "numpy" if library == "numpy" else library


def check_same_backend(**arrays) -> None:
    """Raise ``TypeError`` naming both sides when the arrays come from two backends.

    Keyword names are used in the message, e.g. ``check_same_backend(X=X, W1=W)``.
    """
    first_name, first_library = None, None
    for name, array in arrays.items():
        library = array_library(array)
        if first_library is None:
            first_name, first_library = name, library
        elif library != first_library:
            raise TypeError(
                f"arrays from two backends mixed in one call: {first_name} is a "
                f"{first_library} array but {name} is a {library} array; move both to one "
                f"backend with backend.asarray(...) (or backend.to_numpy(...) to come back to the host)"
            )
