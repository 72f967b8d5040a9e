"""The ``gpudeep`` command. Thin: parses, calls the library, prints.

Exit codes: 0 success, 1 failure, 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np

from . import tutorial
from .activations import HIDDEN
from .backend import BACKEND_NAMES, describe, get_backend
from .datasets import NAMES, csv_feature_names, load_dataset, read_csv, split
from .estimators import rules
from .gradcheck import DEFAULT_TOLERANCE, check_architecture
from .losses import LOSSES
from .network import Architecture

BENCH_PARTS = ("step", "fit", "train")  # what `gpudeep bench` times (gpudeep.bench.PARTS, without importing it)


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error in one line (and where to read the usage), like every other error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _layer_sizes(text: str) -> list[int]:
    try:
        return [int(n) for n in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 4,8,3, got {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gpudeep", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)

    info = commands.add_parser("info", help="the backend gpudeep chooses here, why, and the device")
    info.add_argument("--backend", choices=BACKEND_NAMES, default=None)

    check = commands.add_parser("gradcheck", help="check backward() against numerical gradients (float64)")
    check.add_argument("--backend", choices=BACKEND_NAMES, default=None)
    check.add_argument("--layers", type=_layer_sizes, default=[4, 5, 5, 3], help="n[0],...,n[L] (default 4,5,5,3)")
    check.add_argument("--hidden", choices=HIDDEN, default="relu")
    check.add_argument("--loss", choices=list(LOSSES), default="categorical_cross_entropy")
    check.add_argument("--samples", type=int, default=5)
    check.add_argument("--seed", type=int, default=0)
    check.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE)

    demo = commands.add_parser("tutorial", help="the tutorial's network as written, then fixed")
    demo.add_argument("--backend", choices=BACKEND_NAMES, default=None)
    demo.add_argument("--seed", type=int, default=0)

    fit = commands.add_parser("train", help="train on a data set; writes model, metrics and loss curve to a run folder")
    _data_arguments(fit)
    fit.add_argument("--backend", choices=BACKEND_NAMES, default=None)
    fit.add_argument("--layers", type=_layer_sizes, default=[256, 128], help="hidden layer sizes (default 256,128)")
    fit.add_argument("--activation", choices=rules.choices("activation"), default="relu",
                     help="hidden activation (default relu)")
    fit.add_argument("--epochs", type=int, default=60, help="most epochs (default 60; fewer if converged)")
    fit.add_argument("--batch-size", type=int, default=64)
    fit.add_argument("--optimizer", choices=rules.choices("solver"), default="adam", help="(default adam)")
    fit.add_argument("--lr", type=float, default=1e-3, help="initial learning rate (default 1e-3)")
    fit.add_argument("--dropout", type=float, default=0.2, help="dropout rate on hidden layers (default 0.2)")
    fit.add_argument("--alpha", type=float, default=0.1, help="L2 penalty (default 0.1)")
    fit.add_argument("--dtype", choices=rules.choices("dtype"), default="float32")
    fit.add_argument("--tf32", action=argparse.BooleanOptionalAction, default=None,
                     help="float32 products on TF32 tensor cores on a GPU, or not (default: CuPy's CUPY_TF32, off)")
    fit.add_argument("--out", type=Path, default=None, help="run folder, new or empty (default runs/DATASET-TIME)")
    fit.add_argument("--checkpoint", type=Path, default=None,
                     help="write a checkpoint here after every epoch, to --resume from (default: none)")
    fit.add_argument("--resume", type=Path, default=None, metavar="CHECKPOINT",
                     help="continue the run this checkpoint saved (same data set and settings)")
    _threads_argument(fit)
    fit.add_argument("--quiet", action="store_true", help="no progress bar")
    fit.add_argument("--distributed", action="store_true",
                     help="data-parallel over the ranks of an MPI job: mpirun -n 4 gpudeep train --distributed")

    evaluate = commands.add_parser("evaluate", help="score a saved model on a data set's held-out split")
    evaluate.add_argument("model", type=Path)
    _digest_argument(evaluate)
    _data_arguments(evaluate)
    evaluate.add_argument("--backend", choices=BACKEND_NAMES, default=None)
    _threads_argument(evaluate)

    bench = commands.add_parser("bench", help="time a training step, a whole fit and the train command "
                                              "against PyTorch and scikit-learn")
    bench.add_argument("--backend", choices=BACKEND_NAMES, default=None)
    bench.add_argument("--quick", action="store_true", help="tiny nets and jobs only: proves the suite runs")
    bench.add_argument("--only", action="append", choices=BENCH_PARTS, default=None,
                       help="run only this part: step (one training step), fit (a whole MNIST-sized fit), "
                            "train (the train command, quiet and next to busy processes); repeatable")
    bench.add_argument("--repeats", type=int, default=20, help="timed steps per measurement (default 20)")
    bench.add_argument("--without", action="append", default=[], choices=["pytorch", "scikit-learn"],
                       help="leave a library out")
    bench.add_argument("--output", type=Path, default=None, help="also write the table (Markdown) here")
    bench.add_argument("--crossover", action="store_true",
                       help="find the width and batch from which the GPU beats the CPU (needs a GPU)")

    predict = commands.add_parser("predict", help="predict for the rows of a CSV file (header row of feature names)")
    predict.add_argument("model", type=Path)
    _digest_argument(predict)
    predict.add_argument("input", type=Path)
    predict.add_argument("--label", default=None, help="a label column in the CSV to leave out")
    predict.add_argument("--output", type=Path, default=None, help="write the predictions here instead of stdout")
    predict.add_argument("--backend", choices=BACKEND_NAMES, default=None)
    _threads_argument(predict)
    return parser


def _digest_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sha256", default=None, metavar="HEX",
                        help="refuse the model file unless its SHA-256 is this (as printed by gpudeep train)")


def _threads_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n-jobs", type=int, default=None, metavar="N",
                        help="BLAS threads on the CPU (default: chosen by problem size; -1: every core)")


def _data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="digits",
                        help=f"{', '.join(NAMES)}, or a .npz (X, y) or .csv file (default digits)")
    parser.add_argument("--label", default=None, help="label column of a CSV data set (default: the last)")
    parser.add_argument("--test-size", type=float, default=0.2, help="held-out share (default 0.2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and of the training (default 0)")


def _run(args) -> int:
    if args.command in COMMANDS:
        return COMMANDS[args.command](args)
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
        verdict = "passed" if ok else "FAILED"
        print(f"{verdict}: max relative error {result.max_error:.3e} (tolerance {args.tolerance:.0e})")
        return 0 if ok else 1
    tutorial.main(backend, seed=args.seed)
    return 0


def _train(args) -> int:
    from sklearn.exceptions import ConvergenceWarning

    from .estimators import DeepClassifier, DeepRegressor

    name = Path(args.dataset).stem
    out = args.out or Path("runs") / f"{name}-{datetime.now():%Y%m%d-%H%M%S}"
    root = not args.distributed or _mpi_rank() == 0  # under MPI only rank 0 writes the run folder
    if root:
        _claim_run_folder(out)
    X, y, task = load_dataset(args.dataset, seed=args.seed, label=args.label)
    names = csv_feature_names(args.dataset, label=args.label) if Path(args.dataset).suffix == ".csv" else None
    X_train, X_test, y_train, y_test = split(X, y, task, test_size=args.test_size, seed=args.seed)
    estimator = DeepClassifier if task == "classification" else DeepRegressor
    model = estimator(
        hidden_layer_sizes=tuple(args.layers), activation=args.activation, solver=args.optimizer,
        learning_rate_init=args.lr, max_iter=args.epochs, batch_size=args.batch_size, alpha=args.alpha,
        dropout=args.dropout, random_state=args.seed, dtype=args.dtype, tf32=args.tf32, backend=args.backend,
        standardize=True, verbose=0 if args.quiet else 1, distributed=args.distributed, n_jobs=args.n_jobs,
        checkpoint_path=args.checkpoint,
    )
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # a fixed epoch budget is the CLI's contract
            model.fit(X_train, y_train, resume_from=args.resume)
    except KeyboardInterrupt:  # the model is as the last finished epoch left it
        if not root:
            return 130
        if not getattr(model, "n_iter_", 0):
            print("gpudeep: interrupted before the first epoch ended; nothing to keep", file=sys.stderr)
            return 130
        model.feature_names_ = names
        _write_run(args, out, model, task, len(y_train), X_test, y_test, time.perf_counter() - start,
                   interrupted=True)
        print(f"gpudeep: interrupted; kept the model and metrics of epoch {model.n_iter_} in {out}", file=sys.stderr)
        return 130
    if root:
        model.feature_names_ = names  # saved with the model: predict matches a CSV's columns by name
        _write_run(args, out, model, task, len(y_train), X_test, y_test, time.perf_counter() - start,
                   interrupted=False)
    return 0


def _in_training_order(X, columns: list[str], trained_on, path) -> np.ndarray:
    """X's columns put in the order of the CSV the model was trained on, matched by name; ``ValueError`` when
    the names differ (a model trained on unnamed data takes the columns as they come)."""
    if trained_on is None:
        return X
    trained_on = [str(name) for name in trained_on]
    if sorted(columns) != sorted(trained_on):
        missing, unexpected = sorted(set(trained_on) - set(columns)), sorted(set(columns) - set(trained_on))
        raise ValueError(f"{path}: its columns are not the ones the model was trained on (missing {missing}, "
                         f"unexpected {unexpected}); the model expects {trained_on}")
    return X[:, [columns.index(name) for name in trained_on]]


def _mpi_rank() -> int:
    from .distributed import world

    return world().rank


def _claim_run_folder(out: Path) -> None:
    """Make ``out`` the run's folder before any training: ``ValueError`` if it holds anything already or
    cannot be written, so that a finished run never has nowhere to go and never overwrites another."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"the run folder {out} already exists and is not empty; choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".writable"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ValueError(f"cannot write the run folder {out} ({error.strerror or error}); choose another --out") \
            from None


def _write_run(args, out: Path, model, task: str, n_train: int, X_test, y_test, seconds: float, *,
               interrupted: bool) -> None:
    """model.npz, metrics.json and loss.png in ``out``, and what was written, on stdout."""
    from .archive import sha256
    from .estimators import save

    score = model.score(X_test, y_test)
    metric = "accuracy" if task == "classification" else "r2"
    name = Path(args.dataset).stem
    digest = sha256(save(model, out / "model.npz"))
    metrics = {
        "dataset": args.dataset, "task": task, metric: score, "n_train": n_train, "n_test": len(y_test),
        "epochs": model.n_iter_, "interrupted": interrupted,
        "train_seconds": round(seconds, 3), "backend": model.backend_.name, "device": model.backend_.description,
        "model_sha256": digest, "loss_curve": model.loss_curve_,
        f"train_{metric}_curve": model.state_.history.score,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    _plot_loss(model.loss_curve_, f"{name}: training loss", out / "loss.png")
    print(f"{name}: held-out {metric} {score:.4f} on {len(y_test)} samples "
          f"({model.n_iter_} epochs, {seconds:.1f} s, {model.backend_.name})")
    print(f"wrote {out}/model.npz (SHA-256 {digest}), metrics.json, loss.png")


def _evaluate(args) -> int:
    from .estimators import DeepClassifier, load

    model = load(args.model, backend=args.backend, sha256=args.sha256).set_params(n_jobs=args.n_jobs)
    X, y, task = load_dataset(args.dataset, seed=args.seed, label=args.label)
    _, X_test, _, y_test = split(X, y, task, test_size=args.test_size, seed=args.seed)
    metric = "accuracy" if isinstance(model, DeepClassifier) else "r2"
    print(f"{Path(args.dataset).stem}: held-out {metric} {model.score(X_test, y_test):.4f} on {len(y_test)} samples")
    return 0


def _predict(args) -> int:
    from .estimators import load

    model = load(args.model, backend=args.backend, sha256=args.sha256).set_params(n_jobs=args.n_jobs)
    X, _ = read_csv(args.input, label=args.label, has_label=args.label is not None)
    X = _in_training_order(X, csv_feature_names(args.input, label=args.label, has_label=args.label is not None),
                           getattr(model, "feature_names_", None), args.input)
    predictions = model.predict(X)
    lines = ["prediction", *(str(p) for p in predictions)]
    if args.output is None:
        print("\n".join(lines))
    else:
        args.output.write_text("\n".join(lines) + "\n")
        print(f"wrote {len(predictions)} predictions to {args.output}")
    return 0


def _bench(args) -> int:
    from . import bench

    if args.crossover:
        text = bench.crossover_report(args.repeats)
    else:
        text = bench.report(get_backend(args.backend), args.only or bench.PARTS, quick=args.quick,
                            repeats=args.repeats, without=args.without)
    print(text)
    if args.output is not None:
        args.output.write_text(text + "\n")
    return 0


def _plot_loss(loss_curve: list[float], title: str, path: Path) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    axes.plot(range(1, len(loss_curve) + 1), loss_curve)
    axes.set(xlabel="epoch", ylabel="loss", title=title, yscale="log")
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


COMMANDS = {"train": _train, "evaluate": _evaluate, "predict": _predict, "bench": _bench}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except (ValueError, TypeError, FileNotFoundError) as error:  # what the user gave is wrong
        if args.debug:
            raise
        print(f"gpudeep: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except (RuntimeError, ArithmeticError, OSError, MemoryError) as error:  # the run failed
        if args.debug:
            raise
        print(f"gpudeep: error: {_one_line(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("gpudeep: interrupted", file=sys.stderr)
        return 130


def _one_line(error: Exception, limit: int = 600) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


if __name__ == "__main__":
    sys.exit(main())
