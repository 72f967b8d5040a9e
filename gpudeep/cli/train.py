"""``gpudeep train``: train on a data set and write the run folder."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np

from .. import runs
from ..estimators import hyperparameters
from .data import load_data
from .parser import backend_argument, data_arguments, share, threads_argument

log = logging.getLogger("gpudeep")

HELP = ("train on a data set and write the model, its metrics, history and curves, and the run's config and "
        "split to a run folder")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    data_arguments(parser)
    parser.add_argument("--validation-fraction", type=share, default=0.1, metavar="F",
                        help="hold out this share of the training rows to score after every epoch, drawn in the "
                             "curves (default 0.1; 0: none)")
    parser.add_argument("--early-stopping", action="store_true",
                        help="stop when the validation score stops improving, and keep the best epoch's weights")
    backend_argument(parser)
    for parameter in hyperparameters.TABLE:  # the estimator's parameters that this command sets by an option
        if parameter.cli is not None:
            choices = {"choices": parameter.choices} if parameter.choices else {}
            parser.add_argument(parameter.option, **choices, **parameter.cli)
    parser.add_argument("--out", type=Path, default=None, help="run folder, new or empty (default runs/DATASET-TIME)")
    parser.add_argument("--config", type=Path, default=None, metavar="FILE",
                        help="take the options of a run's config.json (options given here override them)")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="write a checkpoint here after every epoch, to --resume from (default: none)")
    parser.add_argument("--resume", type=Path, default=None, metavar="CHECKPOINT",
                        help="continue the run this checkpoint saved, with its settings and split (options typed "
                             "here override its settings, but not its data or split)")
    parser.add_argument("--allow-new-split", action="store_true",
                        help="let --resume change the data set or split (its held-out rows may then include rows "
                             "trained on)")
    parser.add_argument("--track", nargs="?", const="", default=None, metavar="URI",
                        help="log the run to MLflow: to URI, or MLFLOW_TRACKING_URI, or sqlite:///mlflow.db here "
                             "(needs pip install 'gpudeep[track]')")
    threads_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    parser.add_argument("--distributed", action="store_true",
                        help="data-parallel over the ranks of an MPI job: mpirun -n 4 gpudeep train --distributed")


def estimator_params(args) -> dict:
    """The estimator's parameters that ``gpudeep train``'s options set (``hyperparameters.TABLE``'s options)."""
    params = {}
    for name, option in hyperparameters.OPTIONS.items():
        value = getattr(args, option.removeprefix("--").replace("-", "_"))
        params[name] = tuple(value) if isinstance(value, list) else value
    return params


def run(args) -> int:
    params = estimator_params(args)
    hyperparameters.check(params, spelled=hyperparameters.OPTIONS)
    if args.early_stopping and not args.validation_fraction:
        raise ValueError("--early-stopping stops on the validation score, and --validation-fraction 0 holds out no "
                         "rows to score; leave --validation-fraction out (0.1) or set a share")
    args.dataset = runs.located(args.dataset)  # the run folder's record works from any folder
    name = Path(args.dataset).stem
    out = args.out or Path("runs") / f"{name}-{datetime.now():%Y%m%d-%H%M%S}"
    root = not args.distributed or mpi_rank() == 0  # under MPI only rank 0 writes the run folder
    with contextlib.ExitStack() as run_folder:
        if root:
            run_folder.enter_context(runs.claimed(out))
        return _train_into(args, out, params, root)


def _train_into(args, out: Path, params: dict, root: bool) -> int:
    """``gpudeep train`` once its run folder is claimed (on rank 0): train, then write the folder."""
    from sklearn.exceptions import ConvergenceWarning

    from ..estimators import DeepClassifier, DeepRegressor
    from ..estimators.persistence import checkpoint_writer

    tracker = mlflow_tracker(args, out) if root and args.track is not None else None
    if args.distributed and root and mpi_size() == 1:
        log.warning("gpudeep: --distributed, but this is the only rank: start it with mpirun -n N gpudeep train "
                    "--distributed to train on N ranks")
    data = load_data(args.dataset, seed=args.seed, label=args.label, task=args.task, header=args.header,
                     drop=tuple(args.drop))
    X, y, task, names = data.X, data.y, data.task, data.columns
    if task == "classification" and len(np.unique(y)) == 1:  # an estimator accepts it (as scikit-learn's does)
        raise ValueError(f"y has one class only ({np.unique(y).tolist()[0]!r}); a classifier needs at least 2 "
                         f"classes to tell apart")
    if root and data.reason != "given" and Path(args.dataset).suffix in (".csv", ".npz"):
        print(task_line(task, data.reason, y))
    try:
        train, record = runs.split(X, y, task, dataset=args.dataset, test_size=args.test_size,
                                   validation_fraction=args.validation_fraction or None, seed=args.seed)
    except ValueError as error:
        if data.reason.startswith("the labels are whole numbers"):
            raise ValueError(f"{error}; if the labels are quantities, not classes, pass --task regression") from None
        raise
    test, validation = record["test"], record["validation"]
    estimator = DeepClassifier if task == "classification" else DeepRegressor
    model = estimator(**params, backend=args.backend, standardize=True, verbose=0 if args.quiet else "progress",
                      distributed=args.distributed)
    config = runs.config(vars(args)) | {"task": task}
    callbacks = [tracker] if tracker else []
    if args.checkpoint is not None:  # with the run's config, which --resume continues
        callbacks.append(checkpoint_writer(model, args.checkpoint, config))
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # a fixed epoch budget is the CLI's contract
            model.fit(X[train], y[train], resume_from=args.resume,
                      validation_data=(X[validation], y[validation]) if validation else None,
                      callbacks=callbacks)
    except KeyboardInterrupt:  # the model is as the last finished epoch left it
        if not root:
            return 130
        if not getattr(model, "n_iter_", 0):
            print("gpudeep: interrupted before the first epoch ended; nothing to keep", file=sys.stderr)
            return 130
        finish(out, model, config, record, X[test], y[test], names, time.perf_counter() - start, interrupted=True)
        print(f"gpudeep: interrupted; kept the model and metrics of epoch {model.n_iter_} in {out}", file=sys.stderr)
        return 130
    if root:
        status = "FAILED"  # the MLflow run's, unless the run folder is written and logged
        try:
            finish(out, model, config, record, X[test], y[test], names, time.perf_counter() - start,
                    interrupted=False)
            if tracker is not None:
                tracker.log_artifacts([out / file for file in runs.FILES])
            status = "FINISHED"
        finally:
            if tracker is not None:
                tracker.end(status)
    return 0


def mlflow_tracker(args, out: Path):
    from ..tracking import MlflowTracker

    try:
        return MlflowTracker(args.track or None, run_name=out.name, log_model=False, end_run=False,
                             params={"dataset": args.dataset, "test_size": args.test_size,
                                     "validation_fraction": args.validation_fraction})
    except ImportError as error:  # MLflow is not installed: a usage error, before any training
        raise ValueError(f"--track: {error}") from None


def finish(out: Path, model, config: dict, record: dict, X_test, y_test, names, seconds: float, *,
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
    if config.get("early_stopping") and model.validation_scores_:
        scores = model.validation_scores_
        kept = int(np.argmax(scores)) + 1
        print(f"early stopping: kept epoch {kept} of {len(scores)} (validation {metric} {scores[kept - 1]:.4f}); "
              f"--patience {config['patience']} --tol {config['tol']} set when it stops")
    print(f"wrote {out}/: model.npz (SHA-256 {metrics['model_sha256']}), {', '.join(runs.FILES[3:])}, "
          f"config.json, split.json")


def task_line(task: str, reason: str, y) -> str:
    """What ``gpudeep train`` says of a task it chose by the labels, and how to choose the other."""
    if task == "classification":
        return (f"task: classification of {len(np.unique(y))} classes ({reason}); pass --task regression if they "
                f"are quantities")
    return f"task: regression ({reason}); pass --task classification if they are classes"


def mpi_rank() -> int:
    from ..distributed import world

    return world().rank


def mpi_size() -> int:
    from ..distributed import world

    return world().size
