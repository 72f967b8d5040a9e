"""Reading a CSV file of 200,000 rows and 30 features (117 MB): ``gpudeep.csvfiles.read_csv`` against
``pandas.read_csv`` and ``pyarrow.csv.read_csv`` (where pyarrow is installed), and the whole ``gpudeep
train`` on it.

The file is written once (normal features, an integer label) with pandas, as a user's would be. Each
reader runs ``--repeats`` times in this process after one untimed read (the page cache warm, the libraries
imported); the best time counts. Prints a Markdown table.

    python benchmarks/csv_read.py [--rows 200000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas


def best_of(repeats: int, read) -> float:
    read()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        read()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from gpudeep.csvfiles import read_csv

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.csv"
        rng = np.random.default_rng(0)
        frame = pandas.DataFrame(rng.standard_normal((args.rows, args.features)),
                                 columns=[f"f{i}" for i in range(args.features)])
        frame["label"] = rng.integers(0, 3, args.rows)
        frame.to_csv(path, index=False)
        size = path.stat().st_size
        readers = {"pandas.read_csv": lambda: pandas.read_csv(path),
                   "gpudeep.csvfiles.read_csv": lambda: read_csv(path)}
        if importlib.util.find_spec("pyarrow") is not None:
            import pyarrow.csv

            readers["pyarrow.csv.read_csv"] = lambda: pyarrow.csv.read_csv(path)
        times = {name: best_of(args.repeats, read) for name, read in readers.items()}
        table = read_csv(path)
        assert np.array_equal(table.X, frame.iloc[:, :-1].to_numpy()) and np.array_equal(table.y, frame["label"])
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "gpudeep", "train", "--dataset", str(path), "--epochs", "1",
                        "--layers", "16", "--quiet", "--out", str(Path(folder) / "run")], check=True,
                       capture_output=True)
        train = time.perf_counter() - started
    print(f"{args.rows:,} rows x {args.features} features, {size / 1e6:.0f} MB; "
          f"best of {args.repeats} reads\n")
    print("| reader | seconds | / pandas |\n|---|---|---|")
    for name, seconds in times.items():
        print(f"| {name} | {seconds:.3f} | {seconds / times['pandas.read_csv']:.2f} |")
    print(f"\n`gpudeep train --dataset rows.csv --epochs 1 --layers 16`, whole command: {train:.2f} s")


if __name__ == "__main__":
    main()
