"""What a library can do in fewer passes than the math as written, with the portable equivalent beside it:
``@elementwise`` marks a function of the math as one kernel where a library can fuse it (its backend
registers how in ``FUSERS``); ``product_into`` and ``row_sums_into`` write a matrix product and a sum straight
into a buffer's view where the library's ``matmul`` and ``sum`` take ``out=`` (its backend registers it in
``PRODUCTS_INTO``): one kernel, no temporary."""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import ModuleType

# namespace -> maker(function, kernel_name) of a fused kernel: registered by a backend whose library fuses
FUSERS: dict[ModuleType, Callable] = {}
PRODUCTS_INTO: set[ModuleType] = set()  # namespaces whose matmul writes into out=, registered by their backend


def product_into(xp, A, B, out) -> None:
    """out[...] = A @ B: written straight into ``out`` (a view of a buffer) where the library can, with no
    temporary and no copy; assigned elsewhere."""
    if xp in PRODUCTS_INTO:
        xp.matmul(A, B, out=out)
    else:
        out[...] = A @ B


def row_sums_into(xp, A, out) -> None:
    """out[...] = Σ A over its columns, ``(n, 1)`` for A ``(n, m)``: written straight into ``out`` where the
    library can, assigned elsewhere."""
    if xp in PRODUCTS_INTO:
        xp.sum(A, axis=1, keepdims=True, out=out)
    else:
        out[...] = xp.sum(A, axis=1, keepdims=True)


def elementwise(function: Callable) -> Callable:
    """Mark ``function(xp, *arrays_and_scalars)``, made of elementwise operations only, as one kernel.

    On a library that fuses (CuPy registers ``cupy.fuse`` in ``FUSERS``) the call runs as a single kernel
    compiled from this very function (one launch and one pass over memory instead of one per operation);
    NumPy registers ``loops.fuser``, which compiles an in-place update of large arrays into one loop with
    Numba; everywhere else the function is called as written, which is the reference the kernels are
    tested against. Arguments are arrays of one backend and Python scalars; in-place updates of an argument
    (``P -= ...``) stay in place.
    """
    @functools.wraps(function)
    def run(xp, *args):
        fuser = FUSERS.get(xp)
        if fuser is None:
            return function(xp, *args)
        kernel = run.kernels.get(xp)
        if kernel is None:
            kernel = run.kernels[xp] = fuser(function, f"gpudeep_{function.__name__}")
        return kernel(*args)

    run.kernels = {}  # namespace -> the fused kernel, made by the first call with a library that fuses
    return run
