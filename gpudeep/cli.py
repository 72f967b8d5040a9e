"""gpudeep: deep L-layer networks on NumPy (CPU) or CuPy (NVIDIA GPU): train, evaluate, predict, check.

Exit codes: 0 success, 1 failure (the run diverged, the GPU is unusable), 2 bad usage or bad input,
130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import logging
import shlex
import sys
import time
import traceback
import warnings
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from . import runs, tutorial
from .activations import HIDDEN
from .backends import BACKEND_NAMES, DTYPES, get_backend, report
from .datasets import NAMES, TASKS, NotANumber, csv_feature_names, fingerprint, load_dataset, read_csv, split_indices
from .estimators import rules
from .gradcheck import DEFAULT_TOLERANCE, check_architecture
from .losses import LOSSES
from .network import Architecture

BENCH_PARTS = ("step", "fit", "train")  # what `gpudeep bench` times (gpudeep.bench.PARTS, without importing it)
# The estimator parameters that `gpudeep train` sets, by the flag that sets them: errors name the flag
FLAGS = {"hidden_layer_sizes": "--layers", "activation": "--activation", "solver": "--optimizer",
         "learning_rate_init": "--lr", "max_iter": "--epochs", "batch_size": "--batch-size", "alpha": "--alpha",
         "dropout": "--dropout", "batch_norm": "--batch-norm", "dtype": "--dtype", "tf32": "--tf32",
         "n_jobs": "--n-jobs", "random_state": "--seed",
         "validation_fraction": "--validation-fraction"}


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error in one line (and where to read the usage), like every other error, and
    its options by destination (``options``)."""

    def __init__(self, *args, **kwargs):
        self.options: dict[str, argparse.Action] = {}
        self.commands: dict[str, _Parser] = {}
        super().__init__(*args, **kwargs)

    def add_argument(self, *args, **kwargs):
        action = super().add_argument(*args, **kwargs)
        self.options[action.dest] = action
        return action

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _layer_sizes(text: str) -> list[int]:
    try:
        sizes = [int(n) for n in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers such as 256,128, got {text!r}")
    return sizes


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1 (exclusive) such as 0.2, got {text!r}")
    return value


def _library_version() -> str:
    try:
        return version("gpudeep")
    except PackageNotFoundError:
        return "0+unknown (not installed)"


def _parser() -> _Parser:
    parser = _Parser(prog="gpudeep", description=__doc__.split("\n\n")[0],
                     epilog="Run gpudeep COMMAND --help for a command's options.")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error (anywhere on the line)")
    parser.add_argument("--version", action="version", version=f"gpudeep {_library_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str) -> _Parser:
        sub = commands.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        parser.commands[name] = sub
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help="show the traceback of an error")
        return sub

    fit = command("train", "train on a data set and write the model, its metrics, history and curves, and the "
                           "run's config and split to a run folder")
    _data_arguments(fit)
    fit.add_argument("--validation-fraction", type=_fraction, default=None, metavar="F",
                     help="hold out this share of the training rows to score after every epoch (default: none; "
                          "0.1 with --early-stopping)")
    fit.add_argument("--early-stopping", action="store_true",
                     help="stop when the validation score stops improving, and keep the best epoch's weights")
    _backend_argument(fit)
    fit.add_argument("--layers", type=_layer_sizes, default=[256, 128], help="hidden layer sizes (default 256,128)")
    fit.add_argument("--activation", choices=rules.choices("activation"), default="relu",
                     help="hidden activation (default relu)")
    fit.add_argument("--epochs", type=int, default=60, help="most epochs (default 60; fewer with --early-stopping)")
    fit.add_argument("--batch-size", type=int, default=64, help="samples per mini-batch (default 64)")
    fit.add_argument("--optimizer", choices=rules.choices("solver"), default="adam", help="(default adam)")
    fit.add_argument("--lr", type=float, default=1e-3, help="initial learning rate (default 1e-3)")
    fit.add_argument("--dropout", type=float, default=0.2, help="dropout rate on hidden layers (default 0.2)")
    fit.add_argument("--batch-norm", action="store_true", help="batch normalization on the hidden layers")
    fit.add_argument("--alpha", type=float, default=0.1, help="L2 penalty (default 0.1)")
    fit.add_argument("--dtype", choices=DTYPES, default="float32", help="dtype of the weights and math "
                                                                        "(default float32)")
    fit.add_argument("--tf32", action=argparse.BooleanOptionalAction, default=None,
                     help="float32 products on TF32 tensor cores on a GPU, or not (default: CuPy's CUPY_TF32, off)")
    fit.add_argument("--out", type=Path, default=None, help="run folder, new or empty (default runs/DATASET-TIME)")
    fit.add_argument("--config", type=Path, default=None, metavar="FILE",
                     help="take the options of a run's config.json (options given here override them)")
    fit.add_argument("--checkpoint", type=Path, default=None,
                     help="write a checkpoint here after every epoch, to --resume from (default: none)")
    fit.add_argument("--resume", type=Path, default=None, metavar="CHECKPOINT",
                     help="continue the run this checkpoint saved (same data set and settings)")
    fit.add_argument("--track", nargs="?", const="", default=None, metavar="URI",
                     help="log the run to MLflow: to URI, or MLFLOW_TRACKING_URI, or sqlite:///mlflow.db here "
                          "(needs pip install 'gpudeep[track]')")
    _threads_argument(fit)
    fit.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    fit.add_argument("--distributed", action="store_true",
                     help="data-parallel over the ranks of an MPI job: mpirun -n 4 gpudeep train --distributed")

    evaluate = command("evaluate", "score a saved model: on its run's recorded held-out rows, a split of "
                                   "--dataset, or all of it (--whole)")
    evaluate.add_argument("model", type=Path, help="a model file, or the run folder that holds model.npz")
    _digest_argument(evaluate)
    evaluate.add_argument("--dataset", default=None,
                          help=f"{', '.join(NAMES)}, or a .npz (X, y) or .csv file (default: the run's, else digits)")
    evaluate.add_argument("--label", default=None, help="label column of a CSV data set (default: the run's, else "
                                                        "the last)")
    evaluate.add_argument("--whole", action="store_true", help="score every row of the data set (a separate test "
                                                               "file, say)")
    evaluate.add_argument("--test-size", type=_fraction, default=None,
                          help="split the data anew, holding out this share (default: the run's recorded split)")
    evaluate.add_argument("--seed", type=int, default=None, help="seed of a new split (default 0)")
    _backend_argument(evaluate)
    _threads_argument(evaluate)

    predict = command("predict", "predict for the rows of a CSV file (a header row of feature names); writes a "
                                 "CSV of row numbers and predictions")
    predict.add_argument("model", type=Path, help="a model file, or the run folder that holds model.npz")
    _digest_argument(predict)
    predict.add_argument("input", type=Path, help="the CSV file of rows to predict for")
    predict.add_argument("--label", default=None, help="a label column in the CSV to leave out")
    predict.add_argument("--proba", action="store_true", help="add each class's probability (classifiers)")
    predict.add_argument("--output", type=Path, default=None, help="write the predictions here instead of stdout")
    _backend_argument(predict)
    _threads_argument(predict)

    info = command("info", "the backend gpudeep chooses here, why, the versions and the device")
    _backend_argument(info)

    check = command("gradcheck", "check backward() against numerical gradients (float64)")
    _backend_argument(check)
    check.add_argument("--layers", type=_layer_sizes, default=[4, 5, 5, 3],
                       help="all layer sizes n[0],...,n[L] (default 4,5,5,3)")
    check.add_argument("--hidden", choices=HIDDEN, default="relu", help="hidden activation (default relu)")
    check.add_argument("--loss", choices=list(LOSSES), default="categorical_cross_entropy",
                       help="loss, with its output activation (default categorical_cross_entropy)")
    check.add_argument("--samples", type=int, default=5, help="samples in the random problem (default 5)")
    check.add_argument("--seed", type=int, default=0, help="seed of the weights and the problem (default 0)")
    check.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                       help=f"largest relative error that passes (default {DEFAULT_TOLERANCE:.0e})")

    demo = command("tutorial", "the tutorial's network as written, then fixed")
    _backend_argument(demo)
    demo.add_argument("--seed", type=int, default=0, help="seed of the data and weights (default 0)")

    bench = command("bench", "time a training step, a whole fit and the train command against PyTorch and "
                             "scikit-learn")
    _backend_argument(bench)
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
    return parser


def _backend_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=BACKEND_NAMES, default=None,
                        help="where the math runs (default: GPUDEEP_BACKEND, else auto: CuPy when a GPU works)")


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
    parser.add_argument("--task", choices=TASKS, default=None,
                        help="default: classification for integer or text labels, regression for other numbers")
    parser.add_argument("--test-size", type=_fraction, default=0.2, help="held-out share (default 0.2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and of the training (default 0)")


def _with_config(argv: list[str], parser: _Parser) -> list[str]:
    """``argv`` with the options of ``train --config FILE`` inserted after ``train``, so that the options
    typed on the line, which come later, override them; each is checked as if typed."""
    args = parser.parse_args(argv)
    if args.command != "train" or args.config is None:
        return argv
    at = argv.index("train") + 1
    return argv[:at] + runs.config_arguments(args.config, parser.commands["train"].options) + argv[at:]


def _run(args) -> int:
    if args.command in COMMANDS:
        return COMMANDS[args.command](args)
    if args.command == "info":  # a diagnosis: it reports whatever the backend asked for can do
        logging.getLogger("gpudeep").setLevel(logging.ERROR)  # info prints the reason itself, whole
        lines, usable = report(args.backend)
        print("\n".join(lines))
        return 0 if usable else 1
    backend = get_backend(args.backend)
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


def _estimator_params(args) -> dict:
    """The estimator's parameters that ``gpudeep train``'s options set."""
    return {
        "hidden_layer_sizes": tuple(args.layers), "activation": args.activation, "solver": args.optimizer,
        "learning_rate_init": args.lr, "max_iter": args.epochs, "batch_size": args.batch_size, "alpha": args.alpha,
        "dropout": args.dropout, "batch_norm": args.batch_norm, "random_state": args.seed, "dtype": args.dtype,
        "tf32": args.tf32,
        "n_jobs": args.n_jobs, "early_stopping": args.early_stopping,
    }


def _train(args) -> int:
    params = _estimator_params(args)
    rules.check(params, spelled=FLAGS)
    if args.early_stopping and args.validation_fraction is None:
        args.validation_fraction = 0.1
    name = Path(args.dataset).stem
    out = args.out or Path("runs") / f"{name}-{datetime.now():%Y%m%d-%H%M%S}"
    root = not args.distributed or _mpi_rank() == 0  # under MPI only rank 0 writes the run folder
    with contextlib.ExitStack() as run_folder:
        if root:
            run_folder.enter_context(runs.claimed(out))
        return _train_into(args, out, params, root)


def _train_into(args, out: Path, params: dict, root: bool) -> int:
    """``gpudeep train`` once its run folder is claimed (on rank 0): train, then write the folder."""
    from sklearn.exceptions import ConvergenceWarning

    from .estimators import DeepClassifier, DeepRegressor

    tracker = _tracker(args, out) if root and args.track is not None else None
    X, y, task = _load_data(args.dataset, seed=args.seed, label=args.label, task=args.task)
    names = csv_feature_names(args.dataset, label=args.label) if Path(args.dataset).suffix == ".csv" else None
    train, record = runs.split(X, y, task, dataset=args.dataset, test_size=args.test_size,
                               validation_fraction=args.validation_fraction, seed=args.seed)
    test, validation = record["test"], record["validation"]
    estimator = DeepClassifier if task == "classification" else DeepRegressor
    model = estimator(**params, backend=args.backend, standardize=True, verbose=0 if args.quiet else 1,
                      distributed=args.distributed, checkpoint_path=args.checkpoint)
    config = runs.config(vars(args)) | {"task": task}
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # a fixed epoch budget is the CLI's contract
            model.fit(X[train], y[train], resume_from=args.resume,
                      validation_data=(X[validation], y[validation]) if validation else None,
                      callbacks=[tracker] if tracker else None)
    except KeyboardInterrupt:  # the model is as the last finished epoch left it
        if not root:
            return 130
        if not getattr(model, "n_iter_", 0):
            print("gpudeep: interrupted before the first epoch ended; nothing to keep", file=sys.stderr)
            return 130
        _finish(out, model, config, record, X[test], y[test], names, time.perf_counter() - start, interrupted=True)
        print(f"gpudeep: interrupted; kept the model and metrics of epoch {model.n_iter_} in {out}", file=sys.stderr)
        return 130
    if root:
        status = "FAILED"  # the MLflow run's, unless the run folder is written and logged
        try:
            _finish(out, model, config, record, X[test], y[test], names, time.perf_counter() - start,
                    interrupted=False)
            if tracker is not None:
                tracker.log_artifacts([out / file for file in runs.FILES])
            status = "FINISHED"
        finally:
            if tracker is not None:
                tracker.end(status)
    return 0


def _load_data(dataset: str, *, seed: int, label: str | None, task: str | None):
    """``load_dataset``, with a hint to name the label column when a CSV's non-numeric column is not the last."""
    try:
        return load_dataset(dataset, seed=seed, label=label, task=task)
    except NotANumber as error:
        if label is not None:
            raise
        raise ValueError(f"{error}; if {error.column!r} holds the labels, pass --label {shlex.quote(error.column)}") \
            from None


def _tracker(args, out: Path):
    from .tracking import MlflowTracker

    try:
        return MlflowTracker(args.track or None, run_name=out.name, log_model=False, end_run=False,
                             params={"dataset": args.dataset, "test_size": args.test_size,
                                     "validation_fraction": args.validation_fraction})
    except ImportError as error:  # MLflow is not installed: a usage error, before any training
        raise ValueError(f"--track: {error}") from None


def _finish(out: Path, model, config: dict, record: dict, X_test, y_test, names, seconds: float, *,
            interrupted: bool) -> None:
    """Write the run folder, and what was written on stdout."""
    if names is not None:  # saved with the model: predict matches a CSV's columns by name
        model.feature_names_in_ = np.asarray(names, dtype=object)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "X does not have valid feature names")  # the training file's columns
        metrics = runs.write(out, model, config=config, split=record, X_test=X_test, y_test=y_test,
                             seconds=seconds, interrupted=interrupted)
    metric = "accuracy" if "accuracy" in metrics else "r2"
    print(f"{Path(config['dataset']).stem}: held-out {metric} {metrics[metric]:.4f} on {len(y_test)} samples "
          f"({model.n_iter_} epochs, {seconds:.1f} s, {model.backend_.name})")
    print(f"wrote {out}/: model.npz (SHA-256 {metrics['model_sha256']}), {', '.join(runs.FILES[3:])}, "
          f"config.json, split.json")


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


def _model_file(path: Path) -> Path:
    """A model file, or a run folder's model.npz."""
    return path / "model.npz" if path.is_dir() else path


def _evaluate(args) -> int:
    from .estimators import DeepClassifier, load

    path = _model_file(args.model)
    model = load(path, backend=args.backend, sha256=args.sha256).set_params(n_jobs=args.n_jobs)
    task = "classification" if isinstance(model, DeepClassifier) else "regression"
    resplit = args.whole or args.test_size is not None or args.seed is not None
    # the run's record gives the data set and the split; not needed when both are given here
    config, split = (None if resplit and args.dataset is not None else runs.read_record(path)) or ({}, None)
    dataset = args.dataset or config.get("dataset", "digits")
    same_data = dataset == config.get("dataset")
    label = args.label if args.label is not None else config.get("label") if Path(dataset).suffix == ".csv" else None
    X, y, _ = _load_data(dataset, seed=config.get("seed", 0) if same_data else args.seed or 0, label=label, task=task)
    if Path(dataset).suffix == ".csv":
        X = _in_training_order(X, csv_feature_names(dataset, label=label), getattr(model, "feature_names_in_", None),
                               dataset)
    if args.whole:
        rows, where = np.arange(len(y)), "all rows"
    elif resplit or split is None:
        test_size = 0.2 if args.test_size is None else args.test_size
        rows = split_indices(y, task, test_size=test_size, seed=args.seed or 0)[1]
        where = f"a new split, --test-size {test_size} --seed {args.seed or 0}"
    elif not same_data:
        raise ValueError(f"this run was trained on {config['dataset']}, and its recorded split is of that data "
                         f"set; to score {dataset}, pass --whole (all of it) or --test-size (a new split)")
    elif fingerprint(X, y) != split["data_sha256"] or max(split["test"]) >= len(y):
        raise ValueError(f"{dataset} is not the data set this run split (its values differ from the recorded "
                         f"fingerprint); pass --whole or --test-size to score it anyway")
    else:
        rows, where = split["test"], "the run's held-out rows"
    metric = "accuracy" if task == "classification" else "r2"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "X does not have valid feature names")  # the data set's own columns
        score = model.score(X[rows], y[rows])
    print(f"{Path(dataset).stem}: held-out {metric} {score:.4f} on {len(rows)} samples ({where})")
    return 0


def _predict(args) -> int:
    from .estimators import load

    model = load(_model_file(args.model), backend=args.backend, sha256=args.sha256).set_params(n_jobs=args.n_jobs)
    if args.proba and not hasattr(model, "predict_proba"):
        raise ValueError("--proba gives class probabilities, and this model is a regressor; leave --proba out")
    X, _ = read_csv(args.input, label=args.label, has_label=args.label is not None)
    X = _in_training_order(X, csv_feature_names(args.input, label=args.label, has_label=args.label is not None),
                           getattr(model, "feature_names_in_", None), args.input)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "X does not have valid feature names")  # matched by name above
        predictions = model.predict(X)
        probabilities = model.predict_proba(X) if args.proba else None
    header = ["row", *(["prediction"] if predictions.ndim == 1 else
                       [f"prediction_{j}" for j in range(predictions.shape[1])])]
    if probabilities is not None:
        header += [f"proba_{label}" for label in model.classes_]
    rows = [[i, *np.atleast_1d(p).tolist(), *(probabilities[i].tolist() if probabilities is not None else [])]
            for i, p in enumerate(predictions)]
    if args.output is None:
        _write_table(sys.stdout, header, rows)
    else:
        with args.output.open("w", newline="") as file:
            _write_table(file, header, rows)
        print(f"wrote {len(predictions)} predictions to {args.output}")
    return 0


def _write_table(file, header: list[str], rows: list[list]) -> None:
    writer = csv.writer(file, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)


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


COMMANDS = {"train": _train, "evaluate": _evaluate, "predict": _predict, "bench": _bench}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("gpudeep").setLevel(logging.INFO)  # gpudeep's notices; other libraries' warnings only
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser()
    debug = "--debug" in argv  # anywhere on the line, even where parsing fails
    try:
        args = parser.parse_args(_with_config(argv, parser))
        return _run(args)
    except (ValueError, TypeError, FileNotFoundError) as error:  # what the user gave is wrong
        return _failed(error, 2, debug)
    except (RuntimeError, ArithmeticError, OSError, MemoryError) as error:  # the run failed
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


if __name__ == "__main__":
    sys.exit(main())
