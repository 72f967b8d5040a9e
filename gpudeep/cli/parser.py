"""The command line's parser: usage errors in one line, the options several commands share, and
``train --config``."""

from __future__ import annotations

import argparse
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType

from .. import runs
from ..backends import BACKEND_NAMES
from ..datasets import NAMES, TASKS


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error in one line (and where to read the usage), like every other error, and
    its options by destination (``options``)."""

    def __init__(self, *args, **kwargs):
        self.options: dict[str, argparse.Action] = {}
        self.commands: dict[str, Parser] = {}
        super().__init__(*args, **kwargs)

    def add_argument(self, *args, **kwargs):
        action = super().add_argument(*args, **kwargs)
        self.options[action.dest] = action
        return action

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1 (exclusive) such as 0.2, got {text!r}")
    return value


def library_version() -> str:
    try:
        return version("gpudeep")
    except PackageNotFoundError:
        return "0+unknown (not installed)"


def build(description: str, commands: dict[str, ModuleType]) -> Parser:
    """The ``gpudeep`` parser: the shared options, then each command's, from its module's ``HELP`` and
    ``add_arguments``."""
    parser = Parser(prog="gpudeep", description=description, epilog="Run gpudeep COMMAND --help for a command's "
                                                                     "options.")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error (anywhere on the line)")
    parser.add_argument("--version", action="version", version=f"gpudeep {library_version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in commands.items():
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP[0].upper() + module.HELP[1:] + ".")
        parser.commands[name] = sub
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help="show the traceback of an error")
        module.add_arguments(sub)
    return parser


def backend_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=BACKEND_NAMES, default=None,
                        help="where the math runs (default: GPUDEEP_BACKEND, else auto: CuPy when a GPU works)")


def digest_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sha256", default=None, metavar="HEX",
                        help="refuse the model file unless its SHA-256 is this (as printed by gpudeep train)")


def threads_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n-jobs", type=int, default=None, metavar="N",
                        help="BLAS threads on the CPU (default: chosen by problem size; -1: every core)")


def data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="digits",
                        help=f"{', '.join(NAMES)}, or a .npz (X, y) or .csv file (default digits)")
    parser.add_argument("--label", default=None, help="label column of a CSV data set (default: the last)")
    parser.add_argument("--task", choices=TASKS, default=None,
                        help="default: classification for integer or text labels, regression for other numbers")
    parser.add_argument("--test-size", type=fraction, default=0.2, help="held-out share (default 0.2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and of the training (default 0)")


def with_config(argv: list[str], parser: Parser) -> list[str]:
    """``argv`` with the options of ``train --config FILE`` inserted after ``train``, so that the options
    typed on the line, which come later, override them; each is checked as if typed."""
    args = parser.parse_args(argv)
    if args.command != "train" or args.config is None:
        return argv
    at = argv.index("train") + 1
    return argv[:at] + runs.config_arguments(args.config, parser.commands["train"].options) + argv[at:]
