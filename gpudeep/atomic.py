"""Atomic file writes: the bytes go to a temporary file in the same folder, flushed and synced, then
``os.replace`` puts it in place, so a crash leaves the previous file whole; temporaries of writers that died
are cleaned up."""

from __future__ import annotations

import contextlib
import glob
import os
import socket
import tempfile
from pathlib import Path


def write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, keeping an existing file's mode; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_temporaries(path)
    mode = path.stat().st_mode & 0o777 if path.exists() else _default_mode()
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f"{_temporary_prefix(path)}{os.getpid()}.",
                                     suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fchmod(file.fileno(), mode)  # mkstemp makes it private; a save keeps the file's mode
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _sync_folder(path.parent)
    return path


def _temporary_prefix(path: Path) -> str:
    """Temporary files of ``path`` are named prefix + the writer's pid + a random part + ".tmp", beside it; the
    host's name is part of the prefix, so that writers on other machines of a shared folder are left alone."""
    return f".{path.name}.{socket.gethostname()}."


def _remove_abandoned_temporaries(path: Path) -> None:
    """Delete the temporary files of ``path`` whose writer on this host no longer runs (one killed mid-write);
    those of writers still at work, in this process or another, are theirs to finish."""
    prefix = _temporary_prefix(path)
    for temporary in path.parent.glob(f"{glob.escape(prefix)}*.tmp"):
        pid = temporary.name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user
        return True
    return True


def _default_mode() -> int:
    """What a new file gets: 0o666 less the process's umask (read from /proc where there is one, since setting
    the umask to read it would briefly change it for every thread)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _sync_folder(folder: Path) -> None:
    """Make the rename durable where the platform allows opening a folder."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
