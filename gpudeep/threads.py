"""BLAS threads per problem size: small products on one thread, large ones on every core.

NumPy's BLAS (OpenBLAS) runs every matrix product over one worker thread per core. The
products of a training step are small for most networks: splitting them costs more in
synchronisation than it gains, and on a machine whose cores are busy with other work (a
laptop, a shared CI runner) the workers wait for each other behind that work. So a job gets
one BLAS thread per ``WORK_PER_THREAD`` floating-point operations of its unit of work (a
training step, a forward pass): at least one, at most the cores this process may run on, and
never more than BLAS is already configured for (``OPENBLAS_NUM_THREADS``,
``OMP_NUM_THREADS``, or an MPI rank's share of the cores). ``n_jobs`` overrides the choice,
with joblib's convention: a positive count, or -1 for every core (-2 for all but one, ...).

GPU backends do their products on the device; these limits concern the host only.
"""

from __future__ import annotations

import contextlib
import functools
import numbers
import os

# On the 2-core CI machine a step of the MNIST-sized net gains from a second thread from about
# 1e9 operations (batch 1024), and loses below (batch 128-256): see benchmarks/RESULTS.md.
WORK_PER_THREAD = 5e8


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), or the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def check_n_jobs(n_jobs) -> None:
    """``ValueError`` unless ``n_jobs`` is None or a non-zero integer."""
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0):
        raise ValueError(
            f"n_jobs must be None (threads chosen by problem size), a positive number of threads, "
            f"or -1 for every core, got {n_jobs!r}"
        )


def choose(flops: float, n_jobs: int | None = None) -> int:
    """The BLAS thread count for a unit of work of ``flops`` operations, or the one ``n_jobs`` asks for."""
    check_n_jobs(n_jobs)
    cores = usable_cores()
    if n_jobs is not None:
        return n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs)
    return max(1, min(cores, configured() or cores, int(flops // WORK_PER_THREAD)))


def configured() -> int | None:
    """The thread count the loaded BLAS libraries use now (the smallest), or None when none is found."""
    counts = [library.num_threads for library in _blas().lib_controllers]
    return min(counts) if counts else None


@contextlib.contextmanager
def limit(count: int):
    """Inside the block, BLAS products use at most ``count`` threads; the previous setting comes back after."""
    with _blas().limit(limits=count):
        yield


@functools.cache
def _blas():
    """The process's BLAS libraries (NumPy's is loaded with NumPy), found once: finding them takes ~0.3 ms."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")
