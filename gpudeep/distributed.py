"""Data-parallel training over MPI (mpi4py).

Every rank holds the whole network and the whole data set, draws the same shuffle, and trains
on its shard of each global mini-batch. After ``backward``, the ranks' gradients are summed,
each weighted by its shard's share of the global batch, with one all-reduce per step over a
single contiguous buffer; every rank then applies the same update, so parameters and optimizer
state stay identical everywhere.

Rank 0 resolves the backend ("auto" included) and every rank takes the same one, CuPy on the GPU
of its index on its node. The backend says how its arrays are summed (``Backend.reduction``: on
CuPy NCCL, a CUDA-aware MPI or staging through host memory); rank 0 logs the choice and why.

A rank that fails aborts the whole job (``MPI_Abort``) after printing which rank failed and
why, so that no other rank waits forever in an all-reduce.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .backends import Backend, BackendUnavailableError, Stopwatch, device_of_rank, get_backend
from .parameters import Parameters
from .training import Step

log = logging.getLogger("gpudeep")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
INSTALL_HINT = "install MPI support with pip install 'gpudeep[mpi]' and start the job with mpirun"


@dataclass
class Group:
    """The MPI ranks of one job, and how their gradients are summed.

    reduction: "nccl", "cuda-aware mpi" or "host" (staged through NumPy arrays), once bound to a backend.
    allreduce_seconds: time the device (or host) spent in the gradient all-reduce so far.
    """

    comm: object
    rank: int
    size: int
    local_rank: int
    local_size: int = 1
    reduction: str = "host"
    _reduce: Callable | None = field(default=None, repr=False)
    _stopwatch: Stopwatch = field(default_factory=Stopwatch, repr=False)

    @property
    def allreduce_seconds(self) -> float:
        return self._stopwatch.seconds

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def agree_on_backend(self, request) -> Backend:
        """One backend for every rank: rank 0 resolves ``request`` (a name for ``get_backend``, None for
        ``GPUDEEP_BACKEND`` or "auto", or a ``Backend``) and tells the others; on a GPU each rank takes the GPU of
        its index on its node (a GPU ``Backend`` object given to every rank names the library, not the GPU), and
        makes it its process's current device. A rank that cannot ends the job, naming itself and why."""
        given = request if isinstance(request, Backend) and not request.on_gpu else None  # host memory: as given
        name = request.name if isinstance(request, Backend) else None
        if self.is_root and name is None:
            with self.ending_the_job_on_failure():
                name = _resolve(request, self.local_rank).name
        name = self.comm.bcast(name, root=0)
        with self.ending_the_job_on_failure():
            backend = given if given is not None else _resolve(name, self.local_rank)
            if backend.name != name:
                raise BackendUnavailableError(f"this rank was given the {backend.name} backend, rank 0 the {name} "
                                              f"backend; give every rank the same backend")
        backend.make_current()
        devices = self.comm.gather(backend.description, root=0)
        if self.is_root:
            log.info("gpudeep: every rank on %s: %s", name,
                     "; ".join(f"rank {rank}: {device}" for rank, device in enumerate(devices)))
        return backend

    def check_agreement(self, facts: dict) -> None:
        """``ValueError`` on every rank unless every rank's ``facts`` (data shapes, settings) equal rank 0's: the
        message names the first rank that differs and in what. One small collective."""
        everyone = self.comm.allgather(facts)
        root = everyone[0]
        for rank, theirs in enumerate(everyone):
            differing = sorted(key for key in root.keys() | theirs.keys() if root.get(key) != theirs.get(key))
            if differing:
                details = "; ".join(f"{key}: {theirs.get(key)!r} on rank {rank}, {root.get(key)!r} on rank 0"
                                    for key in differing)
                raise ValueError(f"the ranks disagree ({details}); every rank must hold the same data set and settings")

    @contextlib.contextmanager
    def ending_the_job_on_failure(self):
        """Inside the block, an error on this rank ends every rank of a multi-rank job (see ``abort``)."""
        try:
            yield
        except Exception as error:  # any failure: the other ranks must not wait for this one forever
            if self.size > 1:
                self.abort(error)
            raise

    def bind(self, backend: Backend) -> None:
        """Choose the all-reduce for ``backend``'s arrays; rank 0 logs the choice and why.

        On the CPU, ranks share the machine's cores: unless the user set a thread count, each
        rank's BLAS gets the cores MPI bound it to, or its share of all of them when unbound.
        Otherwise every rank starts one thread per core and they fight over the cores.
        """
        self.reduction, self._reduce, why = backend.reduction(self)
        self._stopwatch = backend.stopwatch()
        if not backend.on_gpu and not any(name in os.environ for name in THREAD_VARIABLES):
            from threadpoolctl import threadpool_limits

            threadpool_limits(_cores_per_rank(self.local_size), user_api="blas")
        if self.is_root:
            log.info("gpudeep: data-parallel over %d ranks; gradients all-reduced by %s (%s)",
                     self.size, self.reduction, why)

    def all_ranks(self, flag: bool) -> bool:
        """Whether ``flag`` holds on every rank."""
        from mpi4py import MPI

        return bool(self.comm.allreduce(int(bool(flag)), op=MPI.MIN))

    def broadcast_seed(self, seed):
        """Rank 0's seed on every rank (a seed of None is drawn on rank 0 first)."""
        if self.is_root and seed is None:
            seed = int(np.random.default_rng().integers(2**31 - 1))
        return self.comm.bcast(seed, root=0)

    def broadcast_parameters(self, backend: Backend, params: Parameters) -> None:
        """Overwrite every rank's parameters (and running statistics) with rank 0's, in place: one broadcast
        per buffer."""
        for buffer in (params.flat, params.running_flat):
            if not buffer.shape[0]:  # no running statistics
                continue
            host = np.ascontiguousarray(backend.to_numpy(buffer))
            self.comm.Bcast(host, root=0)
            with backend.on_device():
                buffer[...] = backend.asarray(host, buffer.dtype)

    def allreduce_gradients(self, grads: Parameters, weight: float) -> Parameters:
        """Σ over ranks of weight·grads, in place on their one buffer: one all-reduce, no copies."""
        grads.flat *= weight
        with self._stopwatch():
            summed = self._reduce(grads.flat)
        if summed is not grads.flat:  # a reduction staged through the host hands back a new array
            grads.flat[...] = summed
        return grads

    def sum_host(self, values: np.ndarray) -> np.ndarray:
        """Σ over ranks of a small host array (the epoch's metrics)."""
        values = np.ascontiguousarray(values, dtype=np.float64)
        self.sum_in_place(values)
        return values

    def sum_in_place(self, buffer) -> None:
        """buffer ← Σ over ranks of buffer: a host array, or a device array for an MPI that takes them."""
        from mpi4py import MPI

        self.comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)

    def broadcast(self, value):
        """Rank 0's ``value`` (any picklable object) on every rank."""
        return self.comm.bcast(value, root=0)

    def takes_device_buffers(self) -> bool:
        """Whether this rank's MPI library reads and writes device memory (see ``mpi_is_cuda_aware``)."""
        return mpi_is_cuda_aware()

    def abort(self, error: BaseException) -> None:
        """Say which rank failed and why, then end every rank of the job."""
        print(f"gpudeep: rank {self.rank} of {self.size} failed: {type(error).__name__}: {error}",
              file=sys.stderr, flush=True)
        self.comm.Abort(1)

def world() -> Group:
    """The job's ranks, from mpi4py; ``RuntimeError`` with the fix when MPI is not available."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise RuntimeError(f"distributed training needs mpi4py ({error}); {INSTALL_HINT}") from None
    comm = MPI.COMM_WORLD
    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    return Group(comm, comm.Get_rank(), comm.Get_size(), local.Get_rank(), local.Get_size())


def _cores_per_rank(ranks_here: int) -> int:
    cores = os.cpu_count() or 1
    bound = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    return max(1, bound if bound < cores else cores // ranks_here)


def _resolve(name, local_rank: int) -> Backend:
    """``get_backend(name)``, on the GPU of the rank's index on its node when the name may mean CuPy."""
    try:
        return get_backend(name, device=device_of_rank(name, local_rank))
    except BackendUnavailableError as error:
        raise BackendUnavailableError(f"{error} (each rank uses the GPU of its index on its node: start at most "
                                      f"as many ranks per node as it has GPUs)") from None


def mpi_is_cuda_aware() -> bool:
    """Whether the MPI library takes CUDA device buffers: MPI 4.1's memory-kind info when the library
    advertises it, else Open MPI's and MPICH's ``MPIX_Query_cuda_support`` extension."""
    from mpi4py import MPI

    kinds = (MPI.INFO_ENV.Get("mpi_memory_alloc_kinds") or "").split(",")
    if "cuda:device" in kinds:
        return True
    library = ctypes.CDLL(MPI.__file__)  # the extension module; its symbol lookup reaches the MPI library it links
    query = getattr(library, "MPIX_Query_cuda_support", None)  # an extension, absent from other MPI libraries
    if query is None:
        return False
    query.restype = ctypes.c_int
    return query() == 1


class DataParallelStep(Step):
    """The training step of one rank: its shard of each global batch, then the ranks' gradients summed.

    The gradient of the global batch's cost is Σ_r (m_r / B)·∇J_r over the ranks' shards of m_r rows,
    which the weighted all-reduce computes; the L2 term, (λ/B)·W[l], is the same on every rank and is added
    after it. Each rank then applies the same update.
    """

    def __init__(self, group: Group, backend: Backend):
        self.group, self.backend = group, backend
        self.batch_size = 0  # B, the rows of the global batch that ``shard`` was last given

    def shard(self, batch):
        """This rank's rows of the global batch: every size-th one, from its rank on."""
        self.batch_size = batch.shape[0]
        return batch[self.group.rank::self.group.size]

    def gradients(self, xp, arch, params, X, Y, *, masks, s):
        if Y.shape[1]:
            return super().gradients(xp, arch, params, X, Y, masks=masks, s=s)
        grads = params.grads()  # more ranks than rows left in the last batch: this rank adds nothing
        grads.flat[...] = 0
        return xp.zeros((), dtype=params.flat.dtype), Y, grads

    def combine(self, xp, params, grads, m: int):
        """Σ_r (m_r / B)·∇J_r over the ranks; rank 0 carries the whole L2 term of the cost, scaled so that the
        loop's weighting by m_r and sum over the ranks give the global batch's cost."""
        B = self.batch_size
        grads = self.group.allreduce_gradients(grads, m / B)
        return grads, B, (B / m if self.group.is_root and m else 0.0)

    def total(self, values: np.ndarray) -> np.ndarray:
        return self.group.sum_host(values)
