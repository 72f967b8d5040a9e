"""The benchmark of the ``gpudeep train`` command (a new process, imports included) on its default data set,
alone and next to 1 and to as many busy processes as there are cores."""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

from .. import threads
from ..backends import Backend


@dataclass(frozen=True)
class TrainJob:
    """A ``gpudeep train`` command line (after ``train``), timed ``repeats`` times per condition."""

    arguments: tuple[str, ...] = ()
    repeats: int = 3


DIGITS_TRAIN = TrainJob()
TINY_TRAIN = TrainJob(("--dataset", "iris", "--epochs", "2"), repeats=1)


def train_rows(job: TrainJob, backend: Backend, *, log: Callable[[str], None] = print) -> list[tuple[int, float]]:
    """(busy processes, median seconds) for the command alone, next to 1 and to one per core."""
    rows = []
    for busy in sorted({0, 1, threads.usable_cores()}):
        times = []
        for _ in range(job.repeats):
            with tempfile.TemporaryDirectory() as folder, _busy_processes(busy):
                command = [sys.executable, "-m", "gpudeep", "train", "--quiet", "--backend", backend.name,
                           "--out", f"{folder}/run", *job.arguments]
                started = time.perf_counter()
                subprocess.run(command, check=True, capture_output=True)
                times.append(time.perf_counter() - started)
        rows.append((busy, statistics.median(times)))
        log(f"gpudeep train {' '.join(job.arguments)} next to {busy} busy process(es): {rows[-1][1]:.2f} s")
    return rows


@contextlib.contextmanager
def _busy_processes(count: int):
    """``count`` processes that keep a core busy (a pure-Python loop) while the block runs."""
    processes = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        time.sleep(0.2 if count else 0)  # let them take their cores
        yield
    finally:
        for process in processes:
            process.kill()
            process.wait()


def train_markdown(job: TrainJob, rows: list[tuple[int, float]]) -> str:
    quiet = rows[0][1]
    command = " ".join(("gpudeep train", *job.arguments))
    lines = [f"| command | busy processes | seconds (median of {job.repeats}) | / quiet |", "|---|---|---|---|"]
    lines += [f"| `{command}` | {busy} | {seconds:.2f} | {seconds / quiet:.2f} |" for busy, seconds in rows]
    return "\n".join(lines)
