"""The backend shim: picks the array library once, at the entry point.

``get_backend`` returns a :class:`Backend` whose ``xp`` is the array namespace
(NumPy, CuPy, or ``array_api_strict`` for portability tests). The math is
written against ``xp`` only, so the same lines run on every backend.
Importing this module never imports CuPy; only asking for it does.

GPU-only speed-ups live here too, each with the NumPy behaviour as its
reference: ``elementwise`` runs a function of the math as one fused CuPy kernel,
``Backend.allow_tf32`` lets float32 products use TF32 tensor cores. On the CPU,
``Backend.blas_threads`` sizes the host BLAS's thread pool to the problem.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import NamedTuple

import numpy as np

from . import threads

ENV_VAR = "GPUDEEP_BACKEND"
BACKEND_NAMES = ("auto", "numpy", "cupy", "array_api_strict")
DTYPES = ("float32", "float64")
CUPY_FIX = (
    "install CuPy for your CUDA version with the CUDA libraries it loads (pip install 'gpudeep[cuda12]' or "
    "'gpudeep[cuda13]': CuPy with NVRTC, cuBLAS and the CUDA headers), check that `nvidia-smi` sees the GPU "
    "and the driver is recent enough, and in Docker start the container with `docker run --gpus all`"
)

log = logging.getLogger("gpudeep")


class BackendUnavailableError(RuntimeError):
    """The backend asked for cannot run here; the message says why and how to fix it."""


class DeviceMemoryError(MemoryError):
    """The device ran out of memory; the message gives the request, what was running and what to lower."""


@dataclass(frozen=True)
class Backend:
    """An array library, resolved once and passed along.

    name: "numpy", "cupy" or "array_api_strict".
    xp: the array namespace the math is written against.
    device: the device new arrays are placed on (None: the library's current one).
    description: the hardware in words, e.g. "CPU" or "NVIDIA H200, 139.8 GiB".
    reason: why this backend was chosen.
    """

    name: str
    xp: ModuleType
    device: object
    description: str
    reason: str
    _to_numpy: Callable[[object], np.ndarray] = field(repr=False, compare=False)
    _synchronize: Callable[[], None] = field(repr=False, compare=False, default=lambda: None)
    _device_request: object = field(repr=False, compare=False, default=None)
    _memory_errors: tuple = field(repr=False, compare=False, default=(MemoryError,))
    _release_memory: Callable[[], None] = field(repr=False, compare=False, default=lambda: None)
    _set_tf32: Callable[[bool], object] = field(repr=False, compare=False, default=lambda enabled: None)
    _restore_tf32: Callable[[object], None] = field(repr=False, compare=False, default=lambda previous: None)

    def __reduce__(self):
        """Pickle as the request that resolves it again: modules and devices do not pickle."""
        return (get_backend, (self.name, self._device_request))

    @property
    def on_gpu(self) -> bool:
        """Whether the arrays live on a GPU (and the host's BLAS does none of the math)."""
        return self.name == "cupy"

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
        if isinstance(dtype, str):
            dtype = self.dtype(dtype)
        if self.on_gpu:  # CuPy places arrays on its current device, not through a device argument
            with self.on_device():
                return self.xp.asarray(data, dtype=dtype)
        return self.xp.asarray(data, dtype=dtype, device=self.device)

    def zeros(self, shape: tuple[int, ...], dtype):
        """An array of zeros on this backend; ``dtype`` as for ``asarray``."""
        if isinstance(dtype, str):
            dtype = self.dtype(dtype)
        if self.on_gpu:
            with self.on_device():
                return self.xp.zeros(shape, dtype=dtype)
        return self.xp.zeros(shape, dtype=dtype, device=self.device)

    def on_device(self):
        """A context in which CuPy allocates and launches kernels on this backend's GPU, whatever the thread's
        current device is (two backends on two GPUs in one thread stay apart); a no-op elsewhere."""
        return self.device if self.on_gpu else contextlib.nullcontext()

    def uniform(self, seed: int) -> Callable:
        """``draw(shape, dtype)`` of arrays uniform on [0, 1) on this backend, seeded from the host.

        CuPy draws on the GPU with its own generator, NumPy and array_api_strict on
        the host, so for one seed the CPU and GPU draws differ.
        """
        if self.on_gpu:
            with self.on_device():
                device_rng = self.xp.random.default_rng(seed)

            def draw(shape, dtype):
                with self.on_device():
                    return device_rng.random(shape, dtype=self.dtype(dtype))

            return draw
        host_rng = np.random.default_rng(seed)
        return lambda shape, dtype: self.asarray(host_rng.random(shape, dtype=np.dtype(dtype)))

    def to_numpy(self, array) -> np.ndarray:
        """A host NumPy copy (or view, on the numpy backend) of an array of this backend."""
        library = array_library(array)
        if library != self.name:
            raise TypeError(f"to_numpy of the {self.name} backend got a {library} array; use that backend's to_numpy")
        return self._to_numpy(array)

    def synchronize(self) -> None:
        """Wait until the device has finished all queued work (a no-op on the CPU)."""
        self._synchronize()

    def release_memory(self) -> None:
        """Hand the memory pool's cached blocks back to the device (a no-op on the CPU)."""
        self._release_memory()

    @contextlib.contextmanager
    def allow_tf32(self, enabled: bool | None = True):
        """Inside the block, float32 matrix products use TF32 tensor cores (``enabled`` True) or not (False);
        None leaves CuPy's own setting, which is the user's ``CUPY_TF32`` (off unless set to 1).

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
    def memory_guard(self, doing: str, advice: str):
        """Turn running out of memory inside the block into a ``DeviceMemoryError`` that says what
        was being done, what the allocator was asked for, and ``advice``; the pool is released."""
        try:
            yield
        except DeviceMemoryError:
            raise
        except self._memory_errors as error:
            self.release_memory()
            raise DeviceMemoryError(f"out of memory on {self.description} while {doing}: {error}; {advice}") from error


def elementwise(function: Callable) -> Callable:
    """Mark ``function(xp, *arrays_and_scalars)``, made of elementwise operations only, as one kernel.

    On CuPy the call runs as a single fused kernel that ``cupy.fuse`` compiles from this very
    function (one launch and one pass over memory instead of one per operation); on every other
    backend the function is called as written, which is the reference the kernel is tested
    against. Arguments are arrays of one backend and Python scalars; in-place updates of an
    argument (``P -= ...``) stay in place.
    """
    @functools.wraps(function)
    def run(xp, *args):
        if xp.__name__ != "cupy":
            return function(xp, *args)
        if run.kernel is None:
            traced = _FusingNamespace(xp)
            run.kernel = xp.fuse(kernel_name=f"gpudeep_{function.__name__}")(lambda *a: function(traced, *a))
        return run.kernel(*args)

    run.kernel = None  # the cupy.fuse kernel, made by the first call on CuPy
    return run


class _FusingNamespace:
    """CuPy as ``cupy.fuse`` traces it: the Array API's ``astype(x, dtype)`` is passed on as the
    method ``x.astype(dtype)``, the form the tracer records; every other name is CuPy's own."""

    def __init__(self, cupy: ModuleType):
        self._cupy = cupy

    def __getattr__(self, name: str):
        return getattr(self._cupy, name)

    @staticmethod
    def astype(x, dtype, /, *, copy=True):
        return x.astype(dtype)


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


def get_backend(name: str | None = None, device=None) -> Backend:
    """Resolve the array backend.

    Precedence: the ``name`` argument, then the ``GPUDEEP_BACKEND`` environment
    variable, then "auto". "auto" uses CuPy only when it imports, sees a GPU and
    passes a smoke test; otherwise NumPy, logging one line with the reason.
    ``device`` picks a GPU index for "cupy" or a device name for "array_api_strict".
    """
    if name is None:
        name = os.environ.get(ENV_VAR) or "auto"
        origin = f"from {ENV_VAR}={name}" if os.environ.get(ENV_VAR) else "by default"
    else:
        origin = "as requested"
    name = name.strip().lower()
    if name not in BACKEND_NAMES:
        raise ValueError(
            f"unknown backend {name!r}; valid backends are {', '.join(BACKEND_NAMES)} "
            f"(set by argument or the {ENV_VAR} environment variable)"
        )
    if name == "numpy":
        if device not in (None, "cpu"):
            raise ValueError(f"the numpy backend runs on device 'cpu' only, got device={device!r}")
        return _numpy_backend(f"numpy {origin}")
    if name == "array_api_strict":
        return _strict_backend(device, f"array_api_strict {origin}")
    if device is not None and (isinstance(device, bool) or not isinstance(device, int) or device < 0):
        raise ValueError(f"device for the {name} backend must be a GPU index (0, 1, ...), got {device!r}")
    index = device or 0
    probe = _probe_cupy(index)
    if name == "cupy":
        if probe.cupy is None:
            raise BackendUnavailableError(f"the cupy backend cannot run: {probe.reason}. To fix: {CUPY_FIX}")
        return _cupy_backend(probe.cupy, index, f"cupy {origin}: {probe.reason}")
    if probe.cupy is None:
        # Without CuPy the CPU is the expected choice; CuPy that fails to run deserves a warning.
        _log_fallback(probe.reason, logging.WARNING if probe.installed else logging.INFO)
        return _numpy_backend(f"auto chose numpy: {probe.reason}")
    return _cupy_backend(probe.cupy, index, f"auto chose cupy: {probe.reason}")


@functools.cache
def _log_fallback(reason: str, level: int) -> None:
    """One line per process and reason, however often ``auto`` is resolved."""
    log.log(level, "gpudeep: using numpy: %s", reason)


def _numpy_backend(reason: str) -> Backend:
    return Backend("numpy", np, "cpu", "CPU", reason, _to_numpy=np.asarray)


def _strict_backend(request, reason: str) -> Backend:
    import array_api_strict as xps

    device = xps.Device(request or "CPU_DEVICE")
    cpu = xps.Device("CPU_DEVICE")
    return Backend(
        "array_api_strict", xps, device, f"array_api_strict {device}", reason,
        _to_numpy=lambda a: np.asarray(a.to_device(cpu)), _device_request=request,
    )


def _cupy_backend(cupy: ModuleType, index: int, reason: str) -> Backend:
    gpu = cupy.cuda.Device(index)
    gpu.use()
    props = cupy.cuda.runtime.getDeviceProperties(index)
    gpu_name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    description = f"GPU {index}: {gpu_name}, {props['totalGlobalMem'] / 2**30:.1f} GiB"
    return Backend(
        "cupy", cupy, gpu, description, reason,
        _to_numpy=cupy.asnumpy, _synchronize=lambda: cupy.cuda.get_current_stream().synchronize(),
        _device_request=index, _memory_errors=(cupy.cuda.memory.OutOfMemoryError, MemoryError),
        _release_memory=lambda: _free_cupy_pools(cupy),
        _set_tf32=lambda enabled: _set_cupy_float32_compute_type(cupy, "tf32" if enabled else "default"),
        _restore_tf32=lambda previous: _set_cupy_float32_compute_type(cupy, previous),
    )


def _set_cupy_float32_compute_type(cupy: ModuleType, compute_type):
    """Set the cuBLAS compute type of CuPy's float32 products ("tf32", "default" or a CuPy constant);
    returns the one it replaces. This is the switch behind CuPy's CUPY_TF32 environment variable."""
    from cupy._core import _routines_linalg as linalg

    constants = {"tf32": linalg.COMPUTE_TYPE_TF32, "default": linalg.COMPUTE_TYPE_DEFAULT}
    previous = linalg.get_compute_type(cupy.float32)
    linalg.set_compute_type(cupy.float32, constants.get(compute_type, compute_type))
    return previous


def _free_cupy_pools(cupy: ModuleType) -> None:
    cupy.get_default_memory_pool().free_all_blocks()
    cupy.get_default_pinned_memory_pool().free_all_blocks()


class CupyProbe(NamedTuple):
    cupy: ModuleType | None  # the module when it can run, else None
    reason: str  # what the probe found, in words
    installed: bool  # whether CuPy could be imported at all


@functools.cache
def _probe_cupy(index: int = 0) -> CupyProbe:
    """Whether CuPy imports, sees GPU ``index`` and passes a smoke test; every failure becomes a reason."""
    try:
        cupy = importlib.import_module("cupy")
    except ImportError as error:
        return CupyProbe(None, f"CuPy is not installed ({error})", False)
    except (OSError, RuntimeError, AttributeError) as error:  # a missing library, CUDA refusing, a mismatched NumPy
        return CupyProbe(None, f"CuPy is installed but fails to import: {_named(error)}", True)
    version = getattr(cupy, "__version__", "?")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except cupy.cuda.runtime.CUDARuntimeError as error:  # no driver, or a driver too old for this CuPy
        return CupyProbe(None, f"CuPy {version} is installed but finds no usable GPU: {_named(error)}", True)
    if count <= index:
        return CupyProbe(None, f"CuPy {version} is installed but sees {count} GPU(s), so there is no GPU {index}", True)
    try:
        with cupy.cuda.Device(index):
            a = cupy.arange(6, dtype=cupy.float32).reshape(2, 3)
            total = float(cupy.sum(a @ a.T))  # [[5, 14], [14, 50]] sums to 83: cuBLAS, and a kernel NVRTC compiles
    except _smoke_test_errors(cupy) as error:
        missing = missing_cuda_parts()
        hint = f"; missing: {', '.join(missing)}, which pip install 'gpudeep[cuda12]' (or [cuda13]) installs" \
            if missing else ""
        reason = f"CuPy {version} is installed but its smoke test failed on GPU {index}: {_named(error)}{hint}"
        return CupyProbe(None, reason, True)
    if total != 83.0:
        reason = f"CuPy {version} is installed but its smoke test gave {total} instead of 83 on GPU {index}"
        return CupyProbe(None, reason, True)
    return CupyProbe(cupy, f"CuPy {version} passed its smoke test on GPU {index}", True)


def _smoke_test_errors(cupy: ModuleType) -> tuple[type[BaseException], ...]:
    """What a first product and reduction raise on a GPU CuPy cannot use: CUDA's runtime and driver errors
    (subclasses of RuntimeError, as is a CUDA library CuPy cannot find), a kernel NVRTC cannot compile, and a
    library CuPy loads at first use (cuBLAS) that is not installed."""
    return RuntimeError, OSError, ImportError, cupy.cuda.compiler.CompileException


CUDA_PARTS = {  # what CuPy loads at run time, and what the cuda12/cuda13 extras install for it (cupy's ctk extra)
    "NVRTC (compiles CuPy's kernels)": ("library", "nvrtc"),
    "cuBLAS (matrix products)": ("library", "cublas"),
    "the CUDA runtime headers (included by CuPy's kernels)": ("headers", "cudart"),
}


def missing_cuda_parts() -> list[str]:
    """The CUDA parts CuPy needs that ``cuda.pathfinder`` (CuPy's own locator) cannot find; empty when all are."""
    try:
        from cuda import pathfinder
    except ImportError:
        return []  # a CuPy older than 14 locates its libraries itself
    missing = []
    for part, (kind, name) in CUDA_PARTS.items():
        if kind == "headers":
            found = pathfinder.find_nvidia_header_directory(name) is not None
        else:
            try:
                pathfinder.load_nvidia_dynamic_lib(name)
                found = True
            except pathfinder.DynamicLibNotFoundError:
                found = False
        if not found:
            missing.append(part)
    return missing


def describe(backend: Backend) -> list[str]:
    """Lines for ``gpudeep info``: the backend, why it was chosen, versions and the device."""
    lines = [
        f"backend:  {backend.name}",
        f"reason:   {backend.reason}",
        f"device:   {backend.description}",
        f"numpy:    {np.__version__}",
    ]
    try:
        cupy = importlib.import_module("cupy")
        lines.append(f"cupy:     {cupy.__version__}")
        runtime = cupy.cuda.runtime
        driver = runtime.driverGetVersion()
        lines.append(f"cuda:     runtime {_cuda_version(runtime.runtimeGetVersion())}, "
                     f"driver {_cuda_version(driver) if driver else 'not found'}")
    except ImportError:
        lines.append("cupy:     not installed")
    except (RuntimeError, OSError) as error:  # CUDA's runtime errors (no driver), a library that will not load
        lines.append(f"cuda:     unavailable ({type(error).__name__}: {error})")
    return lines


def _named(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _cuda_version(number: int) -> str:
    """CUDA's version integer (12090) in words ("12.9")."""
    return f"{number // 1000}.{number % 1000 // 10}"
