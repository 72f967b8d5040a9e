"""gpudeep: deep L-layer networks on NumPy (CPU) or CuPy (NVIDIA GPU): train, evaluate, predict, check.

Exit codes: 0 success, 1 failure (the run diverged, the GPU is unusable), 2 bad usage or bad input,
130 interrupted.
"""

from __future__ import annotations

import logging
import sys
import traceback

from ..registry import Registry
from . import bench, evaluate, export, gradcheck, info, predict, train, tutorial
from .parser import build, with_config

# one module per command, each with HELP, add_arguments(parser) and run(args) -> exit code
COMMANDS = Registry.of("command", {"train": train, "evaluate": evaluate, "predict": predict, "export": export,
                                   "info": info, "gradcheck": gradcheck, "tutorial": tutorial, "bench": bench})


def command_line():
    """The ``gpudeep`` parser, with every command of ``COMMANDS``."""
    return build(__doc__.split("\n\n")[0], {name: COMMANDS[name] for name in COMMANDS})


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("gpudeep").setLevel(logging.INFO)  # gpudeep's notices; other libraries' warnings only
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = command_line()
    debug = "--debug" in argv  # anywhere on the line, even where parsing fails
    try:
        args = parser.parse_args(with_config(argv, parser))
        return COMMANDS.get(args.command).run(args)
    except (ValueError, TypeError, FileNotFoundError) as error:  # what the user gave is wrong
        return _failed(error, 2, debug)
    except (RuntimeError, ArithmeticError, OSError, MemoryError, ImportError) as error:  # the run failed
        return _failed(error, 1, debug)
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc()
        print("gpudeep: interrupted", file=sys.stderr)
        return 130


def _failed(error: Exception, code: int, debug: bool) -> int:
    """Print the error in one line (after its traceback under --debug); return the exit code."""
    if debug:
        traceback.print_exc()
    print(f"gpudeep: error: {_one_line(error)}", file=sys.stderr)
    return code


def _one_line(error: Exception, limit: int = 600) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
