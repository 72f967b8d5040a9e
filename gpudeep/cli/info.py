"""``gpudeep info``: the backend gpudeep chooses here, why, the versions and the device."""

from __future__ import annotations

import argparse
import logging

from ..backends import report
from .parser import backend_argument

HELP = "the backend gpudeep chooses here, why, the versions and the device"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    backend_argument(parser)


def run(args) -> int:
    """A diagnosis: it reports whatever the backend asked for can do (exit 1 when it cannot run)."""
    logging.getLogger("gpudeep").setLevel(logging.ERROR)  # info prints the reason itself, whole
    lines, usable = report(args.backend)
    print("\n".join(lines))
    return 0 if usable else 1
