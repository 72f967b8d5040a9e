"""The backend shim: ``get_backend`` picks the array library once, at the entry point.

One module per array library, each importing only ``base`` (the contract) and ``fusion``; this factory,
above them, finds a name's module in ``BACKENDS`` and imports it only when the name is asked for, so
``import gpudeep`` never imports CuPy.

A module for a further Array-API library (PyTorch, JAX, ...) is one file here and one line in
``BACKENDS``. It must provide:

- ``probe(device) -> Probe``: whether the library runs here and on ``device`` (its device request: an
  index, a name or None), why not and the fix for that cause; ``ValueError`` for a request it cannot mean.
- ``make(device, reason) -> Backend``: the backend on that device. Its class is ``Backend`` or a subclass
  overriding what the library does differently: placement (``_place``, ``zeros``, ``on_device``,
  ``make_current``), host copies (``_host``), ``synchronize``, ``uniform`` (its random generator),
  ``stopwatch`` (its timer), ``reduction`` (how ranks sum its arrays), ``release_memory``, TF32 (``_set_tf32``),
  ``versions``; and,
  where it fuses elementwise kernels, an entry in ``fusion.FUSERS`` for its namespace.
- ``versions() -> list[str]``: ``gpudeep info``'s lines on the library, importable or not.
- optionally ``device_of_rank(local_rank)``: the device request of a data-parallel rank, for a library
  with one device per rank on a node (GPUs).

``auto`` tries the libraries of ``AUTO`` in order and takes the first whose probe passes, else NumPy.
"""

from __future__ import annotations

import copyreg
import functools
import importlib
import logging
import os
from types import ModuleType

from ..registry import Registry
from .base import (
    DTYPES,
    Backend,
    BackendUnavailableError,
    DeviceMemoryError,
    Probe,
    Reduction,
    Stopwatch,
    Uniform,
    array_library,
    check_same_backend,
)
from .fusion import FUSERS, elementwise

ENV_VAR = "GPUDEEP_BACKEND"
# name -> its module in this package; "auto" is this factory's choice among them
BACKENDS = Registry.of("backend", {"auto": None, "numpy": "host", "cupy": "cupy", "array_api_strict": "strict",
                                   "onnx": "onnx"},
                       hint=f"set by argument or the {ENV_VAR} environment variable")
AUTO = ("cupy",)  # what "auto" tries before NumPy, in order
GRAPH_ONLY = ("onnx",)  # backends whose arrays record a graph (for export): they predict, they do not train
BACKEND_NAMES = tuple(name for name in BACKENDS.names() if name not in GRAPH_ONLY)  # what users train on
LIBRARIES = tuple(name for name in BACKENDS if BACKENDS[name] is not None)

log = logging.getLogger("gpudeep")


def library(name: str) -> ModuleType:
    """The module of backend ``name`` (a library of ``BACKENDS``), imported on first use."""
    return importlib.import_module(f".{BACKENDS[name]}", __name__)


def requested(name: str | None) -> tuple[str, str]:
    """(the backend name asked for, where it came from): the argument, else ``GPUDEEP_BACKEND``, else "auto";
    ``ValueError`` for an unknown name."""
    if name is None:
        name = os.environ.get(ENV_VAR) or "auto"
        origin = f"from {ENV_VAR}={name}" if os.environ.get(ENV_VAR) else "by default"
    else:
        origin = "as requested"
    name = name.strip().lower()
    BACKENDS.get(name)  # ValueError for an unknown name
    return name, origin


def get_backend(name: str | None = None, device=None) -> Backend:
    """Resolve the array backend.

    Precedence: the ``name`` argument, then the ``GPUDEEP_BACKEND`` environment variable, then "auto".
    "auto" uses CuPy only when it imports, sees a GPU and passes a smoke test; otherwise NumPy, logging one
    line with the reason. ``device`` picks a GPU index for "cupy" or a device name for "array_api_strict".
    """
    name, origin = requested(name)
    if name == "auto":
        return _remembered(_automatic(device))
    found = library(name).probe(device)
    if found.module is None:
        raise BackendUnavailableError(f"the {name} backend cannot run: {found.reason}. To fix: {found.fix}")
    reason = f"{name} {origin}" + (f": {found.reason}" if found.reason else "")
    return _remembered(library(name).make(device, reason))


def _automatic(device) -> Backend:
    for name in AUTO:
        found = library(name).probe(device)
        if found.module is not None:
            return library(name).make(device, f"auto chose {name}: {found.reason}")
        # Without the library the CPU is the expected choice, and no news; one that fails to run deserves a warning.
        _log_fallback(found.reason, logging.WARNING if found.installed else logging.DEBUG)
    return library("numpy").make(None, f"auto chose numpy: {found.reason}" if AUTO else "auto chose numpy")


def _remembered(backend: Backend) -> Backend:
    """``backend``, pickling as the request that resolves it again (modules and devices do not pickle)."""
    copyreg.pickle(type(backend), _as_request)
    return backend


def _as_request(backend: Backend):
    return get_backend, (backend.name, backend.request)


def device_of_rank(name: str | None, local_rank: int):
    """The device request that gives a data-parallel rank its own device (its index on its node, for a
    library with a device per rank), or None for the host's libraries."""
    name, _ = requested(name)
    if name == "auto":
        name = AUTO[0] if AUTO else "numpy"
    module = library(name)
    placing = getattr(module, "device_of_rank", None)
    return None if placing is None else placing(local_rank)


def forget() -> None:
    """Forget what the probes found and what was logged, so that the next ``get_backend`` looks again."""
    for name in LIBRARIES:
        getattr(library(name), "forget", lambda: None)()
    _log_fallback.cache_clear()


@functools.cache
def _log_fallback(reason: str, level: int) -> None:
    """One short line per process and reason, however often ``auto`` is resolved: the reason's first clause
    (``gpudeep info`` gives it whole, with the fix)."""
    log.log(level, "gpudeep: %s, so gpudeep runs on the CPU (NumPy); `gpudeep info` says why", reason.split(":")[0])


def describe(backend: Backend) -> list[str]:
    """Lines for ``gpudeep info``: the backend, why it was chosen, the device and every library's versions."""
    return [
        f"backend:  {backend.name}",
        f"reason:   {backend.reason}",
        f"device:   {backend.description}",
        *(line for name in LIBRARIES for line in library(name).versions()),
    ]


def report(name: str | None = None) -> tuple[list[str], bool]:
    """``gpudeep info``'s report on the backend ``name`` would resolve to (as ``get_backend``), and whether it
    can run: when it cannot, why and how to fix it, then what "auto" chooses instead."""
    try:
        return describe(get_backend(name)), True
    except BackendUnavailableError as error:
        why, _, fix = str(error).partition(". To fix: ")
        lines = [f"backend:  {why}", f"fix:      {fix}" if fix else None, "instead, auto would choose:",
                 *("  " + line for line in describe(get_backend("auto")))]
        return [line for line in lines if line is not None], False


__all__ = ["AUTO", "BACKENDS", "BACKEND_NAMES", "DTYPES", "ENV_VAR", "FUSERS", "LIBRARIES", "Backend",
           "BackendUnavailableError", "DeviceMemoryError", "Probe", "Reduction", "Stopwatch", "Uniform",
           "array_library", "check_same_backend", "describe", "device_of_rank", "elementwise", "forget",
           "get_backend", "library", "report", "requested"]
