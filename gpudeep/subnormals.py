"""Subnormal floats flushed to zero on the thread that runs the math on the CPU.

A weight whose input is always zero (an image's border pixel) gets only the L2 term as gradient, and Adam's
moment estimates of it decay geometrically: within a few epochs they fall below the smallest normal float
(1.18e-38 in float32, 2.23e-308 in float64) into the subnormal range, where x86 CPUs compute many times
slower, in every elementwise pass over those arrays. A fit on real images then gets slower every epoch.

``flushed()`` turns on, for the calling thread and the duration of the block, the two modes of the CPU's
floating-point control register that remove the slow path: results that would be subnormal become zero
(flush to zero) and subnormal inputs are read as zero (denormals are zero). The previous modes come back on
leaving; nothing else of the floating-point state is touched. They are set through the C library's standard
``fegetenv``/``fesetenv``, on x86-64 (MXCSR bits 15 and 6) and AArch64 (FPCR bit 24) Linux, and checked by
computing a subnormal product. Elsewhere, or where the check fails, the block runs in the default mode and
the reason is logged once.

What it changes: only values whose magnitude is below the smallest normal float, which become zero; every
other result is bit for bit the same. Such a weight contributes nothing a float32 sum can hold, so predictions
are unchanged in practice (see benchmarks/RESULTS.md for the measured difference). Gradient checks in float64
never come near 2.2e-308 and stay exact.

BLAS's worker threads keep their own modes (OpenBLAS passes the caller's on only when built with
CONSISTENT_FPCSR, which NumPy's wheels are not). They read only arrays that this thread wrote in the mode,
or the caller's data, so they see no subnormals unless the data holds some.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import platform
import sys
from collections.abc import Iterator

import numpy as np

log = logging.getLogger("gpudeep")

# machine -> (index of the control word in fenv_t, read as 32-bit words; its size in words; the mode bits)
_CONTROL = {
    "x86_64": (7, 8, (1 << 15) | (1 << 6)),  # glibc's and musl's fenv_t: the x87 state, then MXCSR (FTZ, DAZ)
    "aarch64": (0, 2, 1 << 24),  # fenv_t = {FPCR, FPSR}; FPCR.FZ flushes inputs and results
}


class _Mode:
    """The calling thread's flush modes through ``fegetenv``/``fesetenv``."""

    def __init__(self, libc, index: int, words: int, bits: int):
        self.libc, self.index, self.bits = libc, index, bits
        self.env = (ctypes.c_uint32 * words)()

    def get(self) -> bool:
        self._read()
        return bool(self.env[self.index] & self.bits)

    def set(self, on: bool) -> None:
        self._read()
        control = self.env[self.index]
        self.env[self.index] = control | self.bits if on else control & ~self.bits
        if self.libc.fesetenv(ctypes.byref(self.env)) != 0:
            raise OSError("fesetenv refused the floating-point environment")

    def _read(self) -> None:
        if self.libc.fegetenv(ctypes.byref(self.env)) != 0:
            raise OSError("fegetenv could not read the floating-point environment")


@functools.cache
def _mode() -> _Mode | None:
    """This platform's modes, checked to work once; None (the reason logged) where they cannot be set."""
    machine = platform.machine().lower()
    if not sys.platform.startswith("linux") or machine not in _CONTROL:
        log.info("gpudeep: subnormal floats are not flushed to zero on %s %s; training on data with constant "
                 "inputs may slow down as weights decay", sys.platform, machine)
        return None
    try:
        mode = _Mode(ctypes.CDLL(None), *_CONTROL[machine])
        before = mode.get()
        mode.set(True)
        try:
            works = _subnormal_product() == 0.0
        finally:
            mode.set(before)
    except (OSError, AttributeError) as error:  # no fegetenv in the process, or it failed
        log.info("gpudeep: subnormal floats are not flushed to zero: %s", error)
        return None
    if not works:
        log.info("gpudeep: subnormal floats are not flushed to zero: the CPU kept a subnormal product")
        return None
    return mode


def _subnormal_product() -> float:
    """1e-30 · 1e-10 in float32: 1e-40, a subnormal, or 0.0 where results are flushed."""
    return float(np.float32(1e-30) * np.float32(1e-10))


def available() -> bool:
    """Whether ``flushed()`` flushes here."""
    return _mode() is not None


@contextlib.contextmanager
def flushed() -> Iterator[None]:
    """Inside the block, this thread's float results below the smallest normal are zero and subnormal inputs
    read as zero; the modes as they were come back after."""
    mode = _mode()
    if mode is None:
        yield
        return
    before = mode.get()
    mode.set(True)
    try:
        yield
    finally:
        mode.set(before)
