"""Everything CuPy-specific, in one place: the CuPy backend, the probe that decides whether CuPy can run
here, and what it reports of CUDA. Importing this module does not import CuPy; the probe does.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
from collections.abc import Callable
from types import ModuleType
from typing import NamedTuple

from .backend import FUSERS, Backend, Reduction, Stopwatch, Uniform


class CupyBackend(Backend):
    """CuPy on one GPU. CuPy places new arrays and launches kernels on the thread's current device, so every
    allocation here runs under this backend's device; copies to the host, synchronising, the memory pool,
    TF32 and fused kernels are CuPy's."""

    on_gpu = True

    @classmethod
    def on(cls, cupy: ModuleType, index: int, reason: str) -> CupyBackend:
        """The backend on GPU ``index``, which also becomes the thread's current device; from here on,
        ``@elementwise`` functions called with ``cupy`` run fused."""
        gpu = cupy.cuda.Device(index)
        gpu.use()
        props = cupy.cuda.runtime.getDeviceProperties(index)
        gpu_name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        description = f"GPU {index}: {gpu_name}, {props['totalGlobalMem'] / 2**30:.1f} GiB"
        enable_fusion(cupy)
        return cls("cupy", cupy, gpu, description, reason, index)

    @property
    def memory_errors(self):
        return (self.xp.cuda.memory.OutOfMemoryError, MemoryError)

    def on_device(self):
        return self.device

    def zeros(self, shape: tuple[int, ...], dtype):
        with self.on_device():
            return self.xp.zeros(shape, dtype=self.dtype(dtype) if isinstance(dtype, str) else dtype)

    def uniform(self, seed: int) -> Uniform:
        """A cuRAND Philox generator made once: reseeding it (``draw.seed``) costs no kernel, where a new
        generator initialises a state per GPU thread."""
        from cupy_backends.cuda.libs import curand

        with self.on_device():
            generator = self.xp.random.RandomState(seed, method=curand.CURAND_RNG_PSEUDO_PHILOX4_32_10)
        return _CurandUniform(self, generator)

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

    def stopwatch(self) -> Stopwatch:
        """Times blocks as the GPU runs them: CUDA events on the current stream, read when asked, so timing
        waits for nothing and leaves out the kernels queued before the block."""
        return _EventStopwatch(self.xp)

    def reduction(self, group) -> Reduction:
        """NCCL when every rank has it, on the current stream (ordered after the gradients' kernels, with no
        host synchronisation); else a CUDA-aware MPI on the device buffer; else staging through the host."""
        import cupy.cuda.nccl as nccl  # cupy.cuda does not import it: the attribute exists only after this import

        if group.all_ranks(nccl.available):
            unique_id = group.broadcast(nccl.get_unique_id() if group.is_root else None)
            communicator = nccl.NcclCommunicator(group.size, unique_id, group.rank)
            kinds = {"float32": nccl.NCCL_FLOAT32, "float64": nccl.NCCL_FLOAT64}

            def with_nccl(buffer):
                stream = self.xp.cuda.get_current_stream()
                communicator.allReduce(buffer.data.ptr, buffer.data.ptr, buffer.size, kinds[self.dtype_name(buffer)],
                                       nccl.NCCL_SUM, stream.ptr)
                return buffer

            return Reduction("nccl", with_nccl, f"NCCL {nccl.get_version()} on every rank")
        missing = "NCCL is missing on a rank (pip install nvidia-nccl-cu12 or nvidia-nccl-cu13)"
        if group.all_ranks(group.takes_device_buffers()):
            def with_mpi(buffer):
                self.synchronize()  # MPI reads device memory outside CuPy's stream: the gradients must be there
                group.sum_in_place(buffer)
                return buffer

            return Reduction("cuda-aware mpi", with_mpi, f"{missing}; MPI takes device buffers")
        staged = super().reduction(group)
        return staged._replace(why=f"{missing} and MPI is not CUDA-aware: staging through host memory")


class _CurandUniform(Uniform):
    def __init__(self, backend: CupyBackend, generator):
        self.backend, self.generator = backend, generator

    def seed(self, seed: int) -> None:
        self.generator.seed(seed)

    def __call__(self, shape: tuple[int, ...], dtype: str):
        with self.backend.on_device():
            return self.generator.random_sample(shape, dtype=self.backend.dtype(dtype))


class _EventStopwatch(Stopwatch):
    def __init__(self, cupy: ModuleType):
        self.cupy, self.pending, self.done = cupy, [], 0.0

    @contextlib.contextmanager
    def __call__(self):
        start, stop = self.cupy.cuda.Event(), self.cupy.cuda.Event()
        start.record()
        yield
        stop.record()
        self.pending.append((start, stop))

    @property
    def seconds(self) -> float:
        if self.pending:
            self.pending[-1][1].synchronize()
            self.done += sum(self.cupy.cuda.get_elapsed_time(start, stop) for start, stop in self.pending) / 1e3
            self.pending.clear()
        return self.done


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


class CupyProbe(NamedTuple):
    cupy: ModuleType | None  # the module when it can run, else None
    reason: str  # what the probe found, in words
    installed: bool  # whether CuPy could be imported at all
    fix: str = ""  # how to make it run, for the cause found (empty when it runs)


@functools.cache
def probe(index: int = 0) -> CupyProbe:
    """Whether CuPy imports, sees GPU ``index`` and passes a smoke test; every failure becomes a reason and
    the fix for that cause."""
    try:
        cupy = importlib.import_module("cupy")
    except ImportError as error:
        return CupyProbe(None, f"CuPy is not installed ({error})", False, FIXES["not installed"])
    except (OSError, RuntimeError, AttributeError) as error:  # a missing library, CUDA refusing, a mismatched NumPy
        return CupyProbe(None, f"CuPy is installed but fails to import: {_named(error)}", True,
                         FIXES["broken install"])
    version = getattr(cupy, "__version__", "?")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except cupy.cuda.runtime.CUDARuntimeError as error:  # no driver, or a driver too old for this CuPy
        return CupyProbe(None, f"CuPy {version} is installed but finds no usable GPU: {_no_gpu(cupy, error)}",
                         True, FIXES[_no_gpu_cause(cupy, error)])
    if count <= index:
        cause = "no device" if count == 0 else "no such device"
        return CupyProbe(None, f"CuPy {version} is installed but sees {count} GPU(s), so there is no GPU {index}",
                         True, FIXES[cause])
    try:
        with cupy.cuda.Device(index):
            a = cupy.arange(6, dtype=cupy.float32).reshape(2, 3)
            total = float(cupy.sum(a @ a.T))  # [[5, 14], [14, 50]] sums to 83: cuBLAS, and a kernel NVRTC compiles
    except _smoke_test_errors(cupy) as error:
        missing = missing_cuda_parts()
        hint = f"; missing: {', '.join(missing)}, which pip install 'gpudeep[cuda12]' (or [cuda13]) installs" \
            if missing else ""
        reason = f"CuPy {version} is installed but its smoke test failed on GPU {index}: {_named(error)}{hint}"
        return CupyProbe(None, reason, True, FIXES["missing libraries" if missing else "smoke test"])
    if total != 83.0:
        reason = f"CuPy {version} is installed but its smoke test gave {total} instead of 83 on GPU {index}"
        return CupyProbe(None, reason, True, FIXES["smoke test"])
    return CupyProbe(cupy, f"CuPy {version} passed its smoke test on GPU {index}", True)


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
