"""The sealed archive behind model files and checkpoints: a ``.npz`` of arrays plus one JSON metadata entry,
never pickled. It imports only NumPy.

Every file ends with a SHA-256 of all its other bytes (as the zip comment), so truncation or any damaged
byte is caught before the archive is parsed. Reading then validates everything before use: the member names,
each array's header (dtype and shape, against what the caller's schema expects from the metadata) before its
data is read, the format version, and that every float array is finite. Anything wrong raises
``ModelFormatError`` naming the file and the reason. Writing is atomic: a temporary file in the same folder,
flushed and synced, then ``os.replace``, so a crash leaves the previous file whole.
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
from collections.abc import Callable
from pathlib import Path

import numpy as np

FORMAT = "gpudeep-model"
FORMAT_VERSION = 1
METADATA = "metadata"
MAX_METADATA_BYTES = 1 << 20
MAX_ARRAY_ELEMENTS = 1 << 28  # 256 Mi elements (1 GiB of float32): far above any model here

SEAL_PREFIX = b"gpudeep-sha256:"
SEAL_LENGTH = len(SEAL_PREFIX) + 64
LABELS = "labels"  # the expected dtype of class labels: any bool, number or string dtype

# schema(metadata, fail) -> {name: (shape, dtype)}: checks the metadata and says which arrays it implies
# (shape None: any 1-D shape; dtype LABELS: any bool, number or string dtype)
Schema = Callable[[dict, Callable[[str], None]], dict[str, tuple]]


class ModelFormatError(ValueError):
    """A file that is not a valid gpudeep model (or checkpoint); the message names the file and why."""


# -- writing --------------------------------------------------------------------------------


def write(path: Path, metadata: dict, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``metadata`` (JSON) and ``arrays`` to ``path`` as a sealed archive, atomically; returns the path.
    Refuses float arrays that hold non-finite values."""
    path = Path(path)
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


def read(path, schema: Schema) -> tuple[dict, dict[str, np.ndarray]]:
    """(metadata, arrays) of a sealed archive, validated against ``schema``; ``ModelFormatError`` for anything
    wrong (``FileNotFoundError`` when there is no file)."""
    try:
        return _read(Path(path), schema)
    except (ModelFormatError, FileNotFoundError):
        raise
    except Exception as error:  # a damaged archive can fail in many ways; all of them mean the same
        raise ModelFormatError(f"{path}: not a readable gpudeep model file ({type(error).__name__}: {error})") from None


def _read(path: Path, schema: Schema) -> tuple[dict, dict[str, np.ndarray]]:
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
        expected = schema(metadata, fail)
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
    return metadata


def _library_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gpudeep")
    except PackageNotFoundError:
        return "(unknown version)"
