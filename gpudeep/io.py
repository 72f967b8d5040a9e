"""The model file: a ``.npz`` of arrays plus one JSON metadata entry, never pickled.

Every file ends with a SHA-256 of all its other bytes (as the zip comment), so
truncation or any damaged byte is caught before the archive is parsed.
Reading then validates everything before use: the archive's member names, each
array's header (dtype and shape, against what the metadata declares) before its
data is read, the format version, and that every weight is finite. Anything
wrong raises ``ModelFormatError`` naming the file and the reason. Writing is
atomic: a temporary file in the same folder, flushed and synced, then
``os.replace``, so a crash leaves the previous file whole.

A checkpoint is a model file that also holds the optimizer's state, the epoch,
the step, the host generator's state and the history, so training resumed from
it continues exactly as if it had not stopped.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .backend import DTYPES, Backend, get_backend
from .training import Callback, History

FORMAT = "gpudeep-model"
FORMAT_VERSION = 1
METADATA = "metadata"
MAX_METADATA_BYTES = 1 << 20
MAX_ARRAY_ELEMENTS = 1 << 28  # 256 Mi elements (1 GiB of float32): far above any model here

SEAL_PREFIX = b"gpudeep-sha256:"
SEAL_LENGTH = len(SEAL_PREFIX) + 64
LABELS = "labels"  # the expected dtype of class labels: any bool, number or string dtype

MODEL_CLASSES: dict[str, type] = {}


class ModelFormatError(ValueError):
    """A file that is not a valid gpudeep model (or checkpoint); the message names the file and why."""


def register_model(cls: type) -> type:
    """Let ``load`` rebuild ``cls`` (an estimator with ``_export`` and ``_from_export``) by its name."""
    MODEL_CLASSES[cls.__name__] = cls
    return cls


# -- writing --------------------------------------------------------------------------------


def save(model, path) -> Path:
    """Write a fitted ``model`` to ``path`` (``.npz``) atomically; returns the path."""
    metadata, arrays = model._export()
    return _write(Path(path), metadata, arrays)


def save_checkpoint(model, path) -> Path:
    """Write ``model`` with its training state (optimizer, epoch, step, RNG, history) atomically."""
    metadata, arrays = model._export()
    state, backend = model.state_, model.backend_
    optimizer = state.optimizer
    metadata["checkpoint"] = {
        "epoch": state.epoch,
        "step": state.step,
        "optimizer": {"name": optimizer.name, "t": optimizer.t, "learning_rate": optimizer.learning_rate,
                      "slots": list(optimizer.state)},
        "rng": state.rng.bit_generator.state,
        "history": state.history.as_dict(),
    }
    for slot, layers in optimizer.state.items():
        for l, (W_state, b_state) in enumerate(layers, start=1):
            arrays[f"{slot}.W{l}"] = backend.to_numpy(W_state)
            arrays[f"{slot}.b{l}"] = backend.to_numpy(b_state)
    return _write(Path(path), metadata, arrays)


def _write(path: Path, metadata: dict, arrays: dict[str, np.ndarray]) -> Path:
    for name, array in arrays.items():
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise ValueError(f"refusing to write {path}: {name} holds non-finite values")
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "gpudeep_version": _library_version(), **metadata}
    encoded = np.frombuffer(json.dumps(metadata).encode("utf-8"), dtype=np.uint8)
    archive = io.BytesIO()
    np.savez(archive, **{METADATA: encoded}, **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):  # left by a writer that was killed
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(seal(archive.getvalue()))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _sync_folder(path.parent)
    return path


def seal(archive: bytes) -> bytes:
    """The zip ``archive`` with a SHA-256 of all its other bytes as its comment."""
    if archive[-2:] != b"\0\0":
        raise ValueError("the archive already has a comment")
    body = archive[:-2] + SEAL_LENGTH.to_bytes(2, "little")  # the comment's length, then the comment
    return body + SEAL_PREFIX + hashlib.sha256(body).hexdigest().encode()


def _check_seal(path: Path, fail) -> None:
    """``fail`` unless the file ends with the SHA-256 of everything before it."""
    size = path.stat().st_size
    if size < SEAL_LENGTH + 22:
        fail("too short to be a gpudeep model file (truncated?)")
    digest = hashlib.sha256()
    with path.open("rb") as file:
        remaining = size - SEAL_LENGTH
        while remaining:
            chunk = file.read(min(remaining, 1 << 20))
            if not chunk:
                fail("changed while being read")
            digest.update(chunk)
            remaining -= len(chunk)
        trailer = file.read()
    if not trailer.startswith(SEAL_PREFIX):
        fail("not sealed by gpudeep: not a gpudeep model file, or a truncated one")
    if trailer[len(SEAL_PREFIX):] != digest.hexdigest().encode():
        fail("damaged: its SHA-256 does not match its contents")


def _sync_folder(folder: Path) -> None:
    """Make the rename durable where the platform allows opening a folder."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# -- reading --------------------------------------------------------------------------------


def load(path, backend: str | Backend | None = None):
    """The estimator saved in ``path``, with its weights on ``backend`` (resolved as by ``get_backend``).

    A model saved on a GPU loads on a CPU-only machine.
    """
    metadata, arrays = read(path)
    cls = MODEL_CLASSES.get(metadata["estimator"])
    if cls is None:
        raise ModelFormatError(f"{path}: unknown estimator {metadata['estimator']!r}; known: {list(MODEL_CLASSES)}")
    resolved = backend if isinstance(backend, Backend) else get_backend(backend)
    return cls._from_export(metadata, arrays, resolved)


def load_checkpoint(path, model) -> None:
    """Put the training state saved in checkpoint ``path`` into ``model``'s fresh ``state_``.

    The checkpoint must be of the same architecture (and classes) as ``model``.
    """
    metadata, arrays = read(path)
    if "checkpoint" not in metadata:
        raise ModelFormatError(f"{path}: a model file, not a checkpoint (it holds no training state)")
    state, backend = model.state_, model.backend_
    if tuple(metadata["layer_sizes"]) != state.arch.layer_sizes or metadata["estimator"] != type(model).__name__:
        raise ModelFormatError(
            f"{path}: checkpoint of a {metadata['estimator']} with layers {metadata['layer_sizes']}, "
            f"but the model being fitted is a {type(model).__name__} with layers {list(state.arch.layer_sizes)}"
        )
    if "classes" in arrays and not np.array_equal(arrays["classes"], model.classes_):
        raise ModelFormatError(f"{path}: checkpoint classes {arrays['classes'].tolist()} differ from the data's")
    saved = metadata["checkpoint"]
    dtype = metadata["dtype"]
    for l, (W, b) in enumerate(state.params, start=1):
        W[...] = backend.asarray(arrays[f"W{l}"], dtype)
        b[...] = backend.asarray(arrays[f"b{l}"], dtype)
    optimizer = state.optimizer
    if saved["optimizer"]["name"] != optimizer.name:
        saved_name = saved["optimizer"]["name"]
        raise ModelFormatError(f"{path}: checkpoint of optimizer {saved_name!r}, not {optimizer.name!r}")
    optimizer.t = saved["optimizer"]["t"]
    optimizer.learning_rate = saved["optimizer"]["learning_rate"]
    optimizer.state = {
        slot: [[backend.asarray(arrays[f"{slot}.W{l}"], dtype), backend.asarray(arrays[f"{slot}.b{l}"], dtype)]
               for l in range(1, state.arch.L + 1)]
        for slot in saved["optimizer"]["slots"]
    }
    state.epoch, state.step = saved["epoch"], saved["step"]
    state.rng.bit_generator.state = saved["rng"]
    state.history = History(**{k: list(saved["history"].get(k, [])) for k in History().as_dict()})


def read(path) -> tuple[dict, dict[str, np.ndarray]]:
    """(metadata, arrays) of a model file, validated; ``ModelFormatError`` for anything wrong."""
    try:
        return _read(Path(path))
    except ModelFormatError:
        raise
    except FileNotFoundError:
        raise
    except Exception as error:  # a damaged archive can fail in many ways; all of them mean the same
        raise ModelFormatError(f"{path}: not a readable gpudeep model file ({type(error).__name__}: {error})") from None


def _read(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    def fail(reason: str):
        raise ModelFormatError(f"{path}: {reason}")

    with path.open("rb") as file:
        if file.read(4) != b"PK\x03\x04":
            fail("not a gpudeep model file (it is not a .npz archive)")
    _check_seal(path, fail)
    with zipfile.ZipFile(path) as archive:
        members = {name.removesuffix(".npy"): name for name in archive.namelist()}
        if METADATA not in members:
            fail("no metadata entry: not a gpudeep model file")
        encoded = _read_array(archive, members[METADATA], expected_shape=None, expected_dtype=np.dtype(np.uint8),
                              fail=fail, limit=MAX_METADATA_BYTES)
        metadata = _parse_metadata(encoded, fail)
        expected = _expected_arrays(metadata, fail)
        unexpected = set(members) - set(expected) - {METADATA}
        if unexpected:
            fail(f"unexpected entries {sorted(unexpected)}")
        arrays = {}
        for name, (shape, dtype) in expected.items():
            if name not in members:
                fail(f"entry {name!r} is missing")
            arrays[name] = _read_array(archive, members[name], shape, dtype, fail)
    for name, array in arrays.items():
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            fail(f"{name} holds non-finite values")
    return metadata, arrays


def _read_array(archive, member: str, expected_shape, expected_dtype, fail, limit: int = MAX_ARRAY_ELEMENTS):
    """Read one ``.npy`` member after checking its header: no objects, the expected dtype and shape.

    expected_shape None: any 1-D shape. expected_dtype LABELS: any bool, number or string dtype.
    """
    with archive.open(member) as file:
        version = np.lib.format.read_magic(file)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        if version not in read_header:
            fail(f"entry {member!r} has an unsupported .npy version {version}")
        shape, fortran_order, dtype = read_header[version](file, max_header_size=10_000)
        if dtype.hasobject:
            fail(f"entry {member!r} holds Python objects, which gpudeep never loads")
        if expected_dtype is LABELS:
            if dtype.kind not in "biufU":
                fail(f"entry {member!r} has dtype {dtype}; labels must be booleans, numbers or strings")
        elif dtype != expected_dtype:
            fail(f"entry {member!r} has dtype {dtype}, expected {expected_dtype}")
        if (expected_shape is None and len(shape) != 1) or (
            expected_shape is not None and tuple(shape) != tuple(expected_shape)
        ):
            fail(f"entry {member!r} has shape {tuple(shape)}, expected {expected_shape or '1-D'}")
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if len(shape) > 2 or count > limit:
            fail(f"entry {member!r} declares shape {tuple(shape)}, larger than any gpudeep model")
        data = file.read(count * dtype.itemsize + 1)
        if len(data) != count * dtype.itemsize:
            fail(f"entry {member!r} holds {len(data)} bytes of data, its header declares {count * dtype.itemsize}")
        array = np.frombuffer(data, dtype=dtype)
        return array.reshape(shape, order="F" if fortran_order else "C").copy()


def _parse_metadata(encoded: np.ndarray, fail) -> dict:
    if encoded.ndim != 1:
        fail("metadata is not a byte string")
    try:
        metadata = json.loads(encoded.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        fail(f"metadata is not valid JSON ({error})")
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        fail("metadata does not describe a gpudeep model")
    version = metadata.get("format_version")
    if not isinstance(version, int) or version < 1:
        fail(f"format_version must be a positive integer, got {version!r}")
    if version > FORMAT_VERSION:
        fail(f"written by a newer gpudeep (format version {version}; this gpudeep {_library_version()} reads "
             f"up to {FORMAT_VERSION}): upgrade gpudeep (pip install --upgrade gpudeep)")
    required = {"estimator": str, "layer_sizes": list, "activations": list, "loss": str, "dtype": str,
                "params": dict, "has_classes": bool, "has_input_scaling": bool}
    for key, kind in required.items():
        if not isinstance(metadata.get(key), kind):
            fail(f"metadata entry {key!r} is missing or not a {kind.__name__}")
    sizes = metadata["layer_sizes"]
    if len(sizes) < 2 or not all(isinstance(n, int) and not isinstance(n, bool) and 0 < n <= 1 << 20 for n in sizes):
        fail(f"layer_sizes must be at least two positive integers, got {sizes}")
    if metadata["dtype"] not in DTYPES:
        fail(f"dtype must be one of {DTYPES}, got {metadata['dtype']!r}")
    if "checkpoint" in metadata and not isinstance(metadata["checkpoint"], dict):
        fail("checkpoint entry is not an object")
    return metadata


def _expected_arrays(metadata: dict, fail) -> dict[str, tuple]:
    """Name -> (shape, dtype) of every entry the metadata implies (shape None: any 1-D)."""
    sizes, dtype = metadata["layer_sizes"], np.dtype(metadata["dtype"])
    expected: dict[str, tuple] = {}
    for l in range(1, len(sizes)):
        expected[f"W{l}"] = ((sizes[l], sizes[l - 1]), dtype)
        expected[f"b{l}"] = ((sizes[l], 1), dtype)
    if metadata["has_input_scaling"]:
        expected["input_mean"] = ((sizes[0],), np.dtype(np.float64))
        expected["input_scale"] = ((sizes[0],), np.dtype(np.float64))
    if metadata["has_classes"]:
        expected["classes"] = (None, LABELS)
    checkpoint = metadata.get("checkpoint")
    if checkpoint is not None:
        slots = checkpoint.get("optimizer", {}).get("slots", [])
        if not isinstance(slots, list) or not all(isinstance(s, str) and s.isidentifier() for s in slots):
            fail(f"checkpoint optimizer slots must be names, got {slots!r}")
        for slot in slots:
            for l in range(1, len(sizes)):
                expected[f"{slot}.W{l}"] = ((sizes[l], sizes[l - 1]), dtype)
                expected[f"{slot}.b{l}"] = ((sizes[l], 1), dtype)
    return expected


def _library_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gpudeep")
    except PackageNotFoundError:
        return "(unknown version)"


class CheckpointWriter(Callback):
    """Write ``model``'s checkpoint to ``path`` at the end of every epoch, atomically."""

    def __init__(self, model, path):
        self.model, self.path = model, Path(path)

    def on_epoch_end(self, state, logs, backend):
        save_checkpoint(self.model, self.path)
        return False
