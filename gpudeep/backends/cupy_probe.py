"""Whether CuPy can run here: the probe of a GPU, the cause of a failure and its fix, and what CuPy reports
of CUDA (``gpudeep info``). Importing this module does not import CuPy; the probe does."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib
from types import ModuleType

from .base import Probe

INSTALL = "pip install 'gpudeep[cuda12]' (or 'gpudeep[cuda13]' for a CUDA 13 driver)"
FIXES = {
    "not installed": f"install CuPy for your CUDA version with the CUDA libraries it loads: {INSTALL}",
    "broken install": "reinstall CuPy, keeping a single cupy-cuda* package: pip uninstall cupy-cuda12x "
                      f"cupy-cuda13x, then {INSTALL}",
    "no driver": "install the NVIDIA driver (`nvidia-smi` must list the GPU); in Docker start the container "
                 "with `docker run --gpus all` on a host with the NVIDIA Container Toolkit",
    "old driver": "update the NVIDIA driver, or install the CuPy for the CUDA version the driver supports "
                  "(`nvidia-smi` shows it): pip install 'gpudeep[cuda12]' for CUDA 12",
    "no device": "check that `nvidia-smi` lists the GPU and that CUDA_VISIBLE_DEVICES does not hide it; in "
                 "Docker start the container with `docker run --gpus all`",
    "no such device": "ask for a GPU index below the number of GPUs (`nvidia-smi` lists them)",
    "missing libraries": f"install the CUDA libraries CuPy loads: {INSTALL}",
    "smoke test": "check the GPU with `nvidia-smi` and CuPy's own report (python -c 'import cupy; "
                  "cupy.show_config()'); reinstall with " + INSTALL,
}


@functools.cache
def probe_gpu(index: int = 0) -> Probe:
    """``probe`` of GPU ``index``, once per process."""
    try:
        cupy = importlib.import_module("cupy")
    except ImportError as error:
        return Probe(None, f"CuPy is not installed ({error})", False, FIXES["not installed"])
    except (OSError, RuntimeError, AttributeError) as error:  # a missing library, CUDA refusing, a mismatched NumPy
        return Probe(None, f"CuPy is installed but fails to import: {_named(error)}", True,
                         FIXES["broken install"])
    version = getattr(cupy, "__version__", "?")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except cupy.cuda.runtime.CUDARuntimeError as error:  # no driver, or a driver too old for this CuPy
        return Probe(None, f"CuPy {version} is installed but finds no usable GPU: {_no_gpu(cupy, error)}",
                         True, FIXES[_no_gpu_cause(cupy, error)])
    if count <= index:
        cause = "no device" if count == 0 else "no such device"
        return Probe(None, f"CuPy {version} is installed but sees {count} GPU(s), so there is no GPU {index}",
                         True, FIXES[cause])
    try:
        with working_on(cupy, index):
            a = cupy.arange(6, dtype=cupy.float32).reshape(2, 3)
            total = float(cupy.sum(a @ a.T))  # [[5, 14], [14, 50]] sums to 83: cuBLAS, and a kernel NVRTC compiles
    except _smoke_test_errors(cupy) as error:
        missing = missing_cuda_parts()
        hint = f"; missing: {', '.join(missing)}, which pip install 'gpudeep[cuda12]' (or [cuda13]) installs" \
            if missing else ""
        reason = f"CuPy {version} is installed but its smoke test failed on GPU {index}: {_named(error)}{hint}"
        return Probe(None, reason, True, FIXES["missing libraries" if missing else "smoke test"])
    if total != 83.0:
        reason = f"CuPy {version} is installed but its smoke test gave {total} instead of 83 on GPU {index}"
        return Probe(None, reason, True, FIXES["smoke test"])
    return Probe(cupy, f"CuPy {version} passed its smoke test on GPU {index}", True)


@contextlib.contextmanager
def working_on(cupy: ModuleType, index: int):
    """GPU ``index`` current inside the block (CuPy allocates and launches on the current device). After it, a
    thread that was working on another GPU is back on that one (as CuPy's ``with Device`` leaves it); a thread
    that had worked on none stays on this GPU: making device 0 current again would create a CUDA context there
    (about 0.3-0.5 GiB, and an error where GPUs are exclusive to one process) for a GPU it does not use."""
    previous = cupy.cuda.runtime.getDevice()
    if previous == index:
        yield
        return
    restore = thread_has_context()
    cupy.cuda.Device(index).use()
    try:
        yield
    finally:
        if restore:
            cupy.cuda.Device(previous).use()


def thread_has_context() -> bool:
    """Whether this thread has a current CUDA context, that is, has worked on a GPU: the driver's
    ``cuCtxGetCurrent``, which CuPy does not wrap. True where the driver cannot be asked (then the previous device
    is made current again, as CuPy would)."""
    try:
        driver = ctypes.CDLL("libcuda.so.1")  # already loaded by CuPy's runtime
    except OSError:
        return True
    context = ctypes.c_void_p()
    return driver.cuCtxGetCurrent(ctypes.byref(context)) != 0 or context.value is not None


def _no_gpu_cause(cupy: ModuleType, error) -> str:
    """Which of FIXES' causes a CUDA error from counting the GPUs means."""
    if "InsufficientDriver" in str(error):
        return "old driver" if _driver_version(cupy) else "no driver"
    return "no device"


def _no_gpu(cupy: ModuleType, error) -> str:
    """The CUDA error, led by its cause in words where CUDA's own words mislead (no driver at all is
    reported as an insufficient one)."""
    cause = _no_gpu_cause(cupy, error)
    if cause == "no driver":
        return f"no NVIDIA driver is installed ({_named(error)})"
    if cause == "old driver":
        runtime = _cuda_version(cupy.cuda.runtime.runtimeGetVersion())
        return f"the NVIDIA driver supports CUDA {_cuda_version(_driver_version(cupy))}, older than this " \
               f"CuPy's CUDA {runtime} ({_named(error)})"
    return _named(error)


def _driver_version(cupy: ModuleType) -> int:
    """The CUDA version the driver supports (12090 for 12.9), 0 without a driver."""
    return cupy.cuda.runtime.driverGetVersion()


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
