"""The cold start of ``gpudeep train``: its first run on a fresh install against the runs after it.

Installs this checkout as the README's first command does (``pip install .`` into a new virtual environment),
with empty cache folders for matplotlib and Numba (as on a fresh machine), then times ``gpudeep train``
(the default run on the digits) ``--runs`` times in a row. The first run pays what only a first run pays:
caches built, files read from disk for the first time. Prints a Markdown table.

    python benchmarks/cold_start.py [--runs 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4, help="runs of gpudeep train, the first one cold")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        venv = folder / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        started = time.perf_counter()
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", str(CHECKOUT)], check=True)
        install = time.perf_counter() - started
        environment = {**os.environ, "MPLCONFIGDIR": str(folder / "matplotlib"),
                       "NUMBA_CACHE_DIR": str(folder / "numba"), "XDG_CACHE_HOME": str(folder / "cache")}
        times = []
        for run in range(args.runs):
            started = time.perf_counter()
            subprocess.run([str(venv / "bin" / "gpudeep"), "train", "--quiet", "--out", str(folder / f"run{run}")],
                           check=True, capture_output=True, env=environment, cwd=folder)
            times.append(time.perf_counter() - started)
    warm = statistics.median(times[1:])
    print(f"`pip install .` into a new virtual environment: {install:.1f} s\n")
    print("| run | seconds | / warm (median of the later runs) |\n|---|---|---|")
    for run, seconds in enumerate(times, start=1):
        print(f"| {run}{' (cold)' if run == 1 else ''} | {seconds:.2f} | {seconds / warm:.2f} |")


if __name__ == "__main__":
    main()
