"""ndonnx: Array API arrays that are values of an ONNX graph. Running the math on them records it: the library's
own forward pass, given an ``ndonnx.argument`` for X and the weights as constants, becomes the graph that
``ndonnx.build`` writes (``gpudeep.export``). Its arrays are immutable graph values, so this backend predicts
(it builds what predicts) and does not train."""

from __future__ import annotations

import importlib

import numpy as np

from .base import Backend, Probe

FIX = "pip install 'gpudeep[onnx]' (ndonnx, onnx, onnxruntime and onnxscript)"


class OnnxBackend(Backend):
    """ndonnx's arrays: constants (which hold their values) and the graph's inputs (which do not)."""

    trains = False

    def _host(self, array) -> np.ndarray:
        values = array.unwrap_numpy()  # None for a value that depends on the graph's inputs
        if values is None:
            raise TypeError("this ONNX value depends on the graph's inputs: it has no values until ONNX Runtime "
                            "runs the graph")
        return values

    def versions(self) -> dict[str, str]:
        return {**super().versions(), "ndonnx": self.xp.__version__}


def probe(device=None) -> Probe:
    """Whether ndonnx imports; it has one device, so ``device`` must be None."""
    if device is not None:
        raise ValueError(f"the onnx backend has one device (the graph), got device={device!r}")
    try:
        ndonnx = importlib.import_module("ndonnx")
    except ImportError as error:
        return Probe(None, f"ndonnx is not installed ({error})", False, FIX)
    return Probe(ndonnx, "")


def make(device, reason: str) -> Backend:
    ndonnx = importlib.import_module("ndonnx")
    return OnnxBackend("onnx", ndonnx, ndonnx.__array_namespace_info__().default_device(), "ONNX graph (ndonnx)",
                       reason)


def versions() -> list[str]:
    """``gpudeep info``'s line on ndonnx."""
    try:
        ndonnx = importlib.import_module("ndonnx")
    except ImportError:
        return ["ndonnx:   not installed (ONNX export: pip install 'gpudeep[onnx]')"]
    return [f"ndonnx:   {ndonnx.__version__}"]
