"""The command line's parser: usage errors in one line, the options several commands share, and
``train --config``."""

from __future__ import annotations

import argparse
import difflib
import logging
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType

from .. import runs
from ..backends import BACKEND_NAMES
from ..datasets import NAMES, TASKS

log = logging.getLogger("gpudeep")


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

    def parse_args(self, args=None, namespace=None):
        """argparse's, with an unknown option refused by the command it was given to, naming the closest
        option it has."""
        parsed, unknown = self.parse_known_args(args, namespace)
        if unknown:
            command = self.commands.get(getattr(parsed, "command", None), self)
            command.error(f"unrecognized arguments: {' '.join(unknown)}{command.closest(unknown[0])}")
        return parsed

    def closest(self, option: str) -> str:
        """'; did you mean --x?' for the option of this parser closest to ``option``, or ''."""
        known = [flag for action in self.options.values() for flag in action.option_strings]
        close = difflib.get_close_matches(option.split("=")[0], known, n=1, cutoff=0.6)
        return f"; did you mean {close[0]}?" if option.startswith("-") and close else ""

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


def share(text: str) -> float:
    """A fraction in [0, 1): 0 for none."""
    return 0.0 if text.strip() in ("0", "0.0") else fraction(text)


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
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


def column_names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected column names separated by commas, such as id,date, got {text!r}")
    return names


def csv_arguments(parser: argparse.ArgumentParser) -> None:
    """--no-header and --drop, for commands that read a CSV file."""
    parser.add_argument("--no-header", dest="header", action="store_false",
                        help="the CSV file has no header row: its columns are column_1, column_2, ...")
    parser.add_argument("--drop", type=column_names, default=[], metavar="COLUMNS",
                        help="CSV columns to leave out, e.g. --drop id,date (a first column without a name, a "
                             "pandas index, is left out anyway)")


def data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="digits",
                        help=f"{', '.join(NAMES)}, or a .npz (X, y) or .csv file (default digits)")
    parser.add_argument("--label", default=None, help="label column of a CSV data set (default: the last)")
    csv_arguments(parser)
    parser.add_argument("--task", choices=TASKS, default=None,
                        help="default: classification for integer or text labels, regression for other numbers")
    parser.add_argument("--test-size", type=fraction, default=0.2, help="held-out share (default 0.2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and of the training (default 0)")


def with_config(argv: list[str], parser: Parser) -> list[str]:
    """``argv`` with the options of ``train --config FILE``, then those of the run that ``train --resume
    CHECKPOINT`` continues, inserted after ``train``, so that the options typed on the line, which come later,
    override them; each is checked as if typed. A resumed run refuses options that change its data or split
    (``runs.check_resumed``)."""
    args = parser.parse_args(argv)
    if args.command != "train" or (args.config is None and args.resume is None):
        return argv
    options = parser.commands["train"].options
    at = argv.index("train") + 1
    recorded = [] if args.config is None else runs.config_arguments(args.config, options)
    if args.resume is not None:
        record = runs.resumed_record(args.resume)
        if record is None:
            log.warning("gpudeep: %s holds no run record (an estimator's checkpoint_path wrote it), so the "
                           "options typed here are not checked against the run it continues", args.resume)
        else:
            recorded += runs.arguments_of(record, options, f"--resume {args.resume}")
            runs.check_resumed(vars(parser.parse_args(argv[:at] + recorded + argv[at:])), record, args.resume)
    return argv[:at] + recorded + argv[at:]
