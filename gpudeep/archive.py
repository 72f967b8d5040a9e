"""The sealed archive behind model files and checkpoints: a ``.npz`` of arrays plus one JSON metadata entry,
never pickled. It imports only NumPy.

Every file ends with a SHA-256 of all its other bytes (as the zip comment), so truncation or any damaged
byte is caught before the archive is parsed. Reading then validates everything before use: the member names,
each array's header (dtype and shape, against what the caller's schema expects from the metadata) before its
data is read, the format version, and that every float array is finite. Anything wrong raises
``ModelFormatError`` naming the file and the reason. Writing is atomic (``gpudeep.atomic``), so a crash leaves
the previous file whole.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import atomic

FORMAT = "gpudeep-model"
FORMAT_VERSION = 1
METADATA = "metadata"
MAX_METADATA_BYTES = 1 << 20
MAX_ARRAY_ELEMENTS = 1 << 28  # 256 Mi elements (1 GiB of float32): far above any model here
MAX_LABEL_CHARACTERS = 1024  # the longest class label a file may hold
MAX_BYTES_VARIABLE = "GPUDEEP_MAX_MODEL_BYTES"
DEFAULT_MAX_BYTES = 1 << 30  # what a file may decompress to in all, unless the variable or max_bytes says otherwise

SEAL_PREFIX = b"gpudeep-sha256:"
SEAL_LENGTH = len(SEAL_PREFIX) + 64
LABELS = "labels"  # the expected dtype of class labels: any bool, number or string dtype

# What reading a damaged archive raises (a bad zip directory or stream, an encrypted or unknown compression,
# a header NumPy cannot parse); anything else is a bug to see, not a damaged file.
DAMAGED = (zipfile.BadZipFile, zlib.error, struct.error, ValueError, OSError, EOFError, KeyError, NotImplementedError,
           RuntimeError, OverflowError, SyntaxError)

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
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "gpudeep_version": library_version(), **metadata}
    encoded = np.frombuffer(json.dumps(metadata).encode("utf-8"), dtype=np.uint8)
    archive = io.BytesIO()
    np.savez(archive, **{METADATA: encoded}, **arrays)
    return atomic.write_bytes(path, seal(archive.getvalue()))


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


# -- reading --------------------------------------------------------------------------------


def max_bytes() -> int:
    """The most a file may decompress to, in bytes: ``GPUDEEP_MAX_MODEL_BYTES`` when set, else 1 GiB."""
    text = os.environ.get(MAX_BYTES_VARIABLE)
    if text is None:
        return DEFAULT_MAX_BYTES
    if not text.strip().isdigit() or int(text) < 1:
        raise ValueError(f"{MAX_BYTES_VARIABLE} must be a positive number of bytes, got {text!r}")
    return int(text)


def sha256(path) -> str:
    """The SHA-256 of the whole file, as hex: what to pin when you load a file someone else gave you."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read(path, schema: Schema, *, limit: int | None = None, expected_sha256: str | None = None
         ) -> tuple[dict, dict[str, np.ndarray]]:
    """(metadata, arrays) of a sealed archive, validated against ``schema``; ``ModelFormatError`` for anything
    wrong (``FileNotFoundError`` when there is no file).

    limit: the most the arrays may decompress to in all, in bytes (None: ``max_bytes()``); checked against
    the zip directory before any member is read. expected_sha256: the whole file's digest, as hex, when the
    caller pins what it loads; the seal only proves the file is whole, not who wrote it.
    """
    try:
        return _read(Path(path), schema, max_bytes() if limit is None else limit, expected_sha256)
    except (ModelFormatError, FileNotFoundError):
        raise
    except DAMAGED as error:  # what zipfile, zlib and NumPy's header parser raise on a damaged archive
        raise ModelFormatError(f"{path}: not a readable gpudeep model file ({type(error).__name__}: {error})") from None


def _read(path: Path, schema: Schema, limit: int, expected_sha256: str | None) -> tuple[dict, dict[str, np.ndarray]]:
    def fail(reason: str):
        raise ModelFormatError(f"{path}: {reason}")

    if path.exists() and not path.is_file():  # a FIFO would block, a device never end
        fail("not a regular file (a folder, a FIFO or a device), which gpudeep does not read as a model")
    with path.open("rb") as file:
        if file.read(4) != b"PK\x03\x04":
            fail("not a gpudeep model file (it is not a .npz archive)")
    if expected_sha256 is not None and sha256(path) != expected_sha256.strip().lower():
        fail(f"its SHA-256 is {sha256(path)}, not the {expected_sha256.strip().lower()} it was pinned to")
    _check_seal(path, fail)
    with zipfile.ZipFile(path) as archive:
        names = [info.filename.removesuffix(".npy") for info in archive.infolist()]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            fail(f"entries {duplicated} appear more than once")
        declared = sum(info.file_size for info in archive.infolist())
        if declared > limit:
            fail(f"its entries decompress to {declared} bytes, over the limit of {limit} (a bigger model? raise "
                 f"{MAX_BYTES_VARIABLE}, or pass the limit to load)")
        members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
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


def _read_array(archive, info: zipfile.ZipInfo, expected_shape, expected_dtype, fail,
                limit: int = MAX_ARRAY_ELEMENTS):
    """Read one ``.npy`` member after checking its header: no objects, the expected dtype and shape, and as
    many data bytes as the zip directory declares; the data is read straight into the array.

    expected_shape None: any 1-D shape. expected_dtype LABELS: any bool, number or string dtype.
    """
    member = info.filename
    with archive.open(info) as file:
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
            if dtype.kind == "U" and dtype.itemsize > 4 * MAX_LABEL_CHARACTERS:
                fail(f"entry {member!r} holds labels of up to {dtype.itemsize // 4} characters; "
                     f"gpudeep labels have at most {MAX_LABEL_CHARACTERS}")
        elif dtype != expected_dtype:
            fail(f"entry {member!r} has dtype {dtype}, expected {expected_dtype}")
        if (expected_shape is None and len(shape) != 1) or (
            expected_shape is not None and tuple(shape) != tuple(expected_shape)
        ):
            fail(f"entry {member!r} has shape {tuple(shape)}, expected {expected_shape or '1-D'}")
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if len(shape) > 2 or count > limit:
            fail(f"entry {member!r} declares shape {tuple(shape)}, larger than any gpudeep model")
        size = count * dtype.itemsize
        if info.file_size - file.tell() != size:
            fail(f"entry {member!r} holds {info.file_size - file.tell()} bytes of data, its header declares {size}")
        array = np.empty(count, dtype=dtype)
        if file.readinto(array.view(np.uint8)) != size or file.read(1):
            fail(f"entry {member!r} does not hold the {size} bytes of data its header declares")
        return array.reshape(shape, order="F" if fortran_order else "C")


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
        fail(f"written by a newer gpudeep (format version {version}; this gpudeep {library_version()} reads "
             f"up to {FORMAT_VERSION}): upgrade gpudeep (pip install --upgrade gpudeep)")
    return metadata


def library_version() -> str:
    """The installed gpudeep's version, as model files record it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gpudeep")
    except PackageNotFoundError:
        return "(unknown version)"
