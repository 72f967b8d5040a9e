"""``gpudeep tutorial``: the tutorial's network as written, then fixed (``gpudeep.tutorial``)."""

from __future__ import annotations

import argparse

from .. import tutorial
from ..backends import get_backend
from .parser import backend_argument

HELP = "the tutorial's network as written, then fixed"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    backend_argument(parser)
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and weights (default 0)")


def run(args) -> int:
    tutorial.main(get_backend(args.backend), seed=args.seed)
    return 0
