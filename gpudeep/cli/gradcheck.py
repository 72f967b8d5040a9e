"""``gpudeep gradcheck``: the training step's gradients against numerical ones (float64)."""

from __future__ import annotations

import argparse

from ..activations import HIDDEN
from ..backends import get_backend
from ..estimators.hyperparameters import layer_sizes_option
from ..gradcheck import DEFAULT_TOLERANCE, check_architecture
from ..losses import LOSSES
from ..network import Architecture
from .parser import backend_argument, positive

HELP = "check backward() against numerical gradients (float64)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    backend_argument(parser)
    parser.add_argument("--layers", type=layer_sizes_option, default=[4, 5, 5, 3],
                        help="all layer sizes n[0],...,n[L] (default 4,5,5,3)")
    parser.add_argument("--hidden", choices=HIDDEN, default="relu", help="hidden activation (default relu)")
    parser.add_argument("--batch-norm", action="store_true", help="batch normalization on the hidden layers")
    parser.add_argument("--loss", choices=LOSSES.names(), default="categorical_cross_entropy",
                        help="loss, with its output activation (default categorical_cross_entropy)")
    parser.add_argument("--samples", type=positive, default=5, help="samples in the random problem (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and the problem (default 0)")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                        help=f"largest relative error that passes (default {DEFAULT_TOLERANCE:.0e})")


def run(args) -> int:
    backend = get_backend(args.backend)
    arch = Architecture.build(args.layers, hidden=args.hidden, loss=args.loss, batch_norm=args.batch_norm)
    result = check_architecture(arch, backend, m=args.samples, rng=args.seed)
    norm = ", batch norm" if args.batch_norm else ""
    print(f"layers {args.layers}, hidden {args.hidden}{norm}, loss {args.loss}, backend {backend.name}")
    print(result)
    ok = result.passed(args.tolerance)
    verdict = "passed" if ok else "FAILED"
    print(f"{verdict}: max relative error {result.max_error:.3e} (tolerance {args.tolerance:.0e})")
    return 0 if ok else 1
