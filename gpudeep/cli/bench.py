"""``gpudeep bench``: time a training step, a whole fit and the train command against PyTorch and scikit-learn."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..backends import get_backend
from .parser import backend_argument

HELP = "time a training step, a whole fit and the train command against PyTorch and scikit-learn"
PARTS = ("step", "fit", "train")  # what it times (gpudeep.bench.PARTS, without importing the harness)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    backend_argument(parser)
    parser.add_argument("--quick", action="store_true",
                        help="tiny nets, jobs and crossover grid only: proves the suite runs")
    parser.add_argument("--only", action="append", choices=PARTS, default=None,
                        help="run only this part: step (one training step), fit (a whole MNIST-sized fit), "
                             "train (the train command, quiet and next to busy processes); repeatable")
    parser.add_argument("--repeats", type=int, default=20, help="timed steps per measurement (default 20)")
    parser.add_argument("--fit-threads", type=int, default=None,
                        help="BLAS threads for every library in the fit rows (default: the count gpudeep chooses)")
    parser.add_argument("--without", action="append", default=[], choices=["pytorch", "scikit-learn"],
                        help="leave a library out")
    parser.add_argument("--output", type=Path, default=None, help="also write the table (Markdown) here")
    parser.add_argument("--crossover", action="store_true",
                        help="find the width and batch from which the GPU beats the CPU (needs a GPU)")


def run(args) -> int:
    from .. import bench

    if args.crossover:
        text = bench.crossover_report(args.repeats, quick=args.quick)
    else:
        text = bench.report(get_backend(args.backend), args.only or bench.PARTS, quick=args.quick,
                            repeats=args.repeats, without=args.without, fit_threads=args.fit_threads)
    print(text)
    if args.output is not None:
        args.output.write_text(text + "\n")
    return 0
