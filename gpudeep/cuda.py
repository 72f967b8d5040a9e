"""Everything CuPy-specific, in one place: the CuPy backend, the probe that decides whether CuPy can run
here, and what it reports of CUDA. Importing this module does not import CuPy; the probe does.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from types import ModuleType
from typing import NamedTuple

from .backend import FUSERS, Backend


class CupyBackend(Backend):
    """CuPy on one GPU. CuPy places new arrays and launches kernels on the thread's current device, so every
    allocation here runs under this backend's device; copies to the host, synchronising, the memory pool,
    TF32 and fused kernels are CuPy's."""

    on_gpu = True

    @classmethod
    def on(cls, cupy: ModuleType, index: int, reason: str) -> CupyBackend:
        """The backend on GPU ``index``, which also becomes the thread's current device."""
        gpu = cupy.cuda.Device(index)
        gpu.use()
        props = cupy.cuda.runtime.getDeviceProperties(index)
        gpu_name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        description = f"GPU {index}: {gpu_name}, {props['totalGlobalMem'] / 2**30:.1f} GiB"
        return cls("cupy", cupy, gpu, description, reason, index)

    def __post_init__(self):
        enable_fusion(self.xp)

    @property
    def memory_errors(self):
        return (self.xp.cuda.memory.OutOfMemoryError, MemoryError)

    def on_device(self):
        return self.device

    def zeros(self, shape: tuple[int, ...], dtype):
        with self.on_device():
            return self.xp.zeros(shape, dtype=self.dtype(dtype) if isinstance(dtype, str) else dtype)

    def uniform(self, seed: int) -> Callable:
        with self.on_device():
            device_rng = self.xp.random.default_rng(seed)

        def draw(shape, dtype):
            with self.on_device():
                return device_rng.random(shape, dtype=self.dtype(dtype))

        return draw

    def synchronize(self) -> None:
        self.xp.cuda.get_current_stream().synchronize()

    def release_memory(self) -> None:
        self.xp.get_default_memory_pool().free_all_blocks()
        self.xp.get_default_pinned_memory_pool().free_all_blocks()

    def _place(self, data, dtype):
        with self.on_device():  # CuPy takes no device argument: the current device decides
            return self.xp.asarray(data, dtype=dtype)

    def _host(self, array):
        return self.xp.asnumpy(array)

    def _set_tf32(self, enabled: bool):
        return _set_float32_compute_type(self.xp, "tf32" if enabled else "default")

    def _restore_tf32(self, previous) -> None:
        _set_float32_compute_type(self.xp, previous)


def enable_fusion(cupy: ModuleType) -> None:
    """Let ``@elementwise`` functions called with ``cupy`` as ``xp`` run as one ``cupy.fuse`` kernel each."""
    FUSERS.setdefault(cupy, functools.partial(_fused, cupy))


def _fused(cupy: ModuleType, function: Callable, kernel_name: str):
    """``function(xp, *args)`` as one ``cupy.fuse`` kernel, traced with ``_FusingNamespace``."""
    traced = _FusingNamespace(cupy)
    return cupy.fuse(kernel_name=kernel_name)(lambda *args: function(traced, *args))


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


def _set_float32_compute_type(cupy: ModuleType, compute_type):
    """Set the cuBLAS compute type of CuPy's float32 products ("tf32", "default" or a CuPy constant);
    returns the one it replaces. CuPy has no public switch: this is the one its CUPY_TF32 variable sets."""
    from cupy._core import _routines_linalg as linalg

    constants = {"tf32": linalg.COMPUTE_TYPE_TF32, "default": linalg.COMPUTE_TYPE_DEFAULT}
    previous = linalg.get_compute_type(cupy.float32)
    linalg.set_compute_type(cupy.float32, constants.get(compute_type, compute_type))
    return previous


class CupyProbe(NamedTuple):
    cupy: ModuleType | None  # the module when it can run, else None
    reason: str  # what the probe found, in words
    installed: bool  # whether CuPy could be imported at all


@functools.cache
def probe(index: int = 0) -> CupyProbe:
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


def versions() -> list[str]:
    """``gpudeep info``'s lines on CuPy and CUDA: versions, or why they are unavailable."""
    lines = []
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
