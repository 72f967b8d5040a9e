"""The ``gpudeep`` command. Thin: parses, calls the library, prints.

Exit codes: 0 success, 1 failure, 2 usage error.
"""

from __future__ import annotations

import argparse
import logging
import sys

from . import tutorial
from .activations import ACTIVATIONS
from .backend import BACKEND_NAMES, describe, get_backend
from .gradcheck import DEFAULT_TOLERANCE, check_architecture
from .losses import LOSSES
from .network import Architecture


def _layer_sizes(text: str) -> list[int]:
    try:
        return [int(n) for n in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 4,8,3, got {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gpudeep", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)

    info = commands.add_parser("info", help="the backend gpudeep chooses here, why, and the device")
    info.add_argument("--backend", choices=BACKEND_NAMES, default=None)

    check = commands.add_parser("gradcheck", help="check backward() against numerical gradients (float64)")
    check.add_argument("--backend", choices=BACKEND_NAMES, default=None)
    check.add_argument("--layers", type=_layer_sizes, default=[4, 5, 5, 3], help="n[0],...,n[L] (default 4,5,5,3)")
    check.add_argument("--hidden", choices=[n for n, g in ACTIVATIONS.items() if g.hidden_ok], default="relu")
    check.add_argument("--loss", choices=list(LOSSES), default="categorical_cross_entropy")
    check.add_argument("--samples", type=int, default=5)
    check.add_argument("--seed", type=int, default=0)
    check.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE)

    demo = commands.add_parser("tutorial", help="the tutorial's network as written, then fixed")
    demo.add_argument("--backend", choices=BACKEND_NAMES, default=None)
    demo.add_argument("--seed", type=int, default=0)
    return parser


def _run(args) -> int:
    backend = get_backend(args.backend)
    if args.command == "info":
        print("\n".join(describe(backend)))
        return 0
    if args.command == "gradcheck":
        arch = Architecture.build(args.layers, hidden=args.hidden, loss=args.loss)
        result = check_architecture(arch, backend, m=args.samples, rng=args.seed)
        print(f"layers {args.layers}, hidden {args.hidden}, loss {args.loss}, backend {backend.name}")
        print(result)
        ok = result.passed(args.tolerance)
        print(f"{'passed' if ok else 'FAILED'}: max relative error {result.max_error:.3e} (tolerance {args.tolerance:.0e})")
        return 0 if ok else 1
    tutorial.main(backend, seed=args.seed)
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except (ValueError, TypeError, RuntimeError) as error:
        if args.debug:
            raise
        print(f"gpudeep: error: {error}", file=sys.stderr)
        return 2 if isinstance(error, (ValueError, TypeError)) else 1


if __name__ == "__main__":
    sys.exit(main())
