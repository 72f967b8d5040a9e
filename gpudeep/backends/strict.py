"""array_api_strict: the Array API and nothing more, on its own named devices (host memory); the suite runs
the math on it to prove that the math uses only what the standard defines."""

from __future__ import annotations

import importlib

import numpy as np

from .base import Backend, Probe


class StrictBackend(Backend):
    """array_api_strict's arrays, which leave their device only through ``to_device``."""

    def _host(self, array) -> np.ndarray:
        return np.asarray(array.to_device(self.xp.Device("CPU_DEVICE")))

    def versions(self) -> dict[str, str]:
        return {**super().versions(), "array_api_strict": self.xp.__version__}


def probe(device=None) -> Probe:
    """Whether array_api_strict imports; ``device`` is one of its device names, or None for its default."""
    try:
        xps = importlib.import_module("array_api_strict")
    except ImportError as error:
        return Probe(None, f"array_api_strict is not installed ({error})", False,
                     "pip install array-api-strict (the test extra installs it)")
    return Probe(xps, "")


def make(device, reason: str) -> Backend:
    xps = importlib.import_module("array_api_strict")
    placed = xps.Device(device or "CPU_DEVICE")
    return StrictBackend("array_api_strict", xps, placed, f"array_api_strict {placed}", reason, device)


def versions() -> list[str]:
    return []
