"""CuPy on NVIDIA GPUs, and everything CuPy does differently: placement on the current device, the memory
pool, TF32, fused kernels, cuRAND, CUDA events, NCCL and CUDA-aware MPI; ``cupy_probe`` beside it decides
whether CuPy can run here. Importing this module does not import CuPy; the probe does.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
from collections.abc import Callable
from types import ModuleType

from .base import Backend, Probe, Reduction, Stopwatch, Uniform
from .cupy_probe import probe_gpu, working_on
from .cupy_probe import versions as versions  # the module's report for `gpudeep info`
from .fusion import FUSERS, PRODUCTS_INTO


class CupyBackend(Backend):
    """CuPy on one GPU. CuPy places new arrays and launches kernels on the thread's current device, so every
    allocation and kernel here runs under ``on_device()``; making the backend leaves the thread's current device
    as it was. Copies to the host, synchronising, the memory pool, TF32 and fused kernels are CuPy's."""

    on_gpu = True

    @classmethod
    def on(cls, cupy: ModuleType, index: int, reason: str) -> CupyBackend:
        """The backend on GPU ``index``; from here on, ``@elementwise`` functions called with ``cupy`` run fused."""
        gpu = cupy.cuda.Device(index)
        props = cupy.cuda.runtime.getDeviceProperties(index)
        gpu_name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        description = f"GPU {index}: {gpu_name}, {props['totalGlobalMem'] / 2**30:.1f} GiB"
        enable_fusion(cupy)
        PRODUCTS_INTO.add(cupy)  # cupy.matmul writes into out=: gradients go straight into the buffer's views
        return cls("cupy", cupy, gpu, description, reason, index)

    def versions(self) -> dict[str, str]:
        return {**super().versions(), "cupy": self.xp.__version__}

    @property
    def memory_errors(self):
        return (self.xp.cuda.memory.OutOfMemoryError, MemoryError)

    def on_device(self):
        return working_on(self.xp, self.device.id)

    def make_current(self) -> None:
        """Make this GPU the thread's current device for good: a data-parallel rank's process works on its GPU
        alone."""
        self.device.use()

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
        with self.on_device():  # the default pool frees the current device's blocks only
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
        while self.pending and self.pending[0][1].done:  # fold the blocks the GPU has finished: asks, never waits
            start, stop = self.pending.pop(0)
            self.done += self.cupy.cuda.get_elapsed_time(start, stop) / 1e3
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


def probe(device=None) -> Probe:
    """Whether CuPy imports, sees GPU ``device`` (an index; None for 0) and passes a smoke test; every failure
    becomes a reason and the fix for that cause. ``ValueError`` unless ``device`` is a GPU index."""
    if device is not None and (isinstance(device, bool) or not isinstance(device, int) or device < 0):
        raise ValueError(f"device for the cupy backend must be a GPU index (0, 1, ...), got {device!r}")
    return probe_gpu(device or 0)


def make(device, reason: str) -> CupyBackend:
    return CupyBackend.on(probe_gpu(device or 0).module, device or 0, reason)


def device_of_rank(local_rank: int) -> int:
    """A data-parallel rank takes the GPU of its index on its node, among the GPUs it sees: where a launcher shows
    each rank its own GPU only (SLURM's ``--gpus-per-task=1``, a ``CUDA_VISIBLE_DEVICES`` per rank), that is its
    GPU 0."""
    try:
        count = importlib.import_module("cupy").cuda.runtime.getDeviceCount()
    except (ImportError, RuntimeError, OSError):  # no CuPy, or no GPU: the probe of the rank's GPU says why
        return local_rank
    return local_rank % count if count else local_rank


def forget() -> None:
    probe_gpu.cache_clear()
