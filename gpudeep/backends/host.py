"""NumPy, in host memory: the backend every machine has, and the reference the others are tested against."""

from __future__ import annotations

import numpy as np

from . import loops
from .base import Backend, Probe
from .fusion import FUSERS, PRODUCTS_INTO


def probe(device=None) -> Probe:
    """NumPy always runs; ``ValueError`` for a device other than the CPU."""
    if device not in (None, "cpu"):
        raise ValueError(f"the numpy backend runs on device 'cpu' only, got device={device!r}")
    return Probe(np, "")


def make(device, reason: str) -> Backend:
    PRODUCTS_INTO.add(np)  # gradients are written into the parameter buffer's views without a copy
    FUSERS.setdefault(np, loops.fuser)  # updates of large buffers run as one compiled loop (with Numba)
    return Backend("numpy", np, "cpu", "CPU", reason)


def versions() -> list[str]:
    """``gpudeep info``'s line on NumPy."""
    return [f"numpy:    {np.__version__}"]
