"""``gpudeep evaluate``: score a saved model on its run's held-out rows, a new split, or a whole data set."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np

from .. import runs
from ..datasets import NAMES, fingerprint, split_indices
from .data import in_training_order, known_labels, load_data, model_file
from .parser import backend_argument, csv_arguments, digest_argument, fraction, threads_argument

HELP = "score a saved model: on its run's recorded held-out rows, a split of --dataset, or all of it (--whole)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="a model file, or the run folder that holds model.npz")
    digest_argument(parser)
    parser.add_argument("--dataset", default=None,
                        help=f"{', '.join(NAMES)}, or a .npz (X, y) or .csv file (default: the run's, else digits)")
    parser.add_argument("--label", default=None, help="label column of a CSV data set (default: the run's, else "
                                                      "the last)")
    csv_arguments(parser)
    parser.add_argument("--whole", action="store_true", help="score every row of the data set (a separate test "
                                                             "file, say)")
    parser.add_argument("--test-size", type=fraction, default=None,
                        help="split the data anew, holding out this share (default: the run's recorded split)")
    parser.add_argument("--seed", type=int, default=None, help="seed of a new split (default 0)")
    backend_argument(parser)
    threads_argument(parser)


def run(args) -> int:
    from ..estimators import DeepClassifier, load

    path = model_file(args.model)
    model = load(path, backend=args.backend, sha256=args.sha256).set_params(n_jobs=args.n_jobs)
    task = "classification" if isinstance(model, DeepClassifier) else "regression"
    resplit = args.whole or args.test_size is not None or args.seed is not None
    # the run's record gives the data set and the split; not needed when both are given here
    config, split = (None if resplit and args.dataset is not None else runs.read_record(path)) or ({}, None)
    dataset = runs.located(args.dataset or config.get("dataset", "digits"))
    same_data = dataset == runs.located(config.get("dataset", ""))
    csv = Path(dataset).suffix == ".csv"
    label = args.label if args.label is not None else config.get("label") if csv else None
    recorded = config if same_data else {}  # the run's way of reading its own data file, unless typed here
    data = load_data(dataset, seed=config.get("seed", 0) if same_data else args.seed or 0, label=label, task=task,
                     header=args.header and recorded.get("header", True),
                     drop=tuple(args.drop or recorded.get("drop", [])))
    X, y = data.X, data.y
    if csv:
        X = in_training_order(X, data.columns, getattr(model, "feature_names_in_", None), dataset)
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
    if task == "classification":
        known_labels(y[rows], model.classes_, dataset)
    metric = "accuracy" if task == "classification" else "r2"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "X does not have valid feature names")  # the data set's own columns
        score = model.score(X[rows], y[rows])
    print(f"{Path(dataset).stem}: held-out {metric} {score:.4f} on {len(rows)} samples ({where})")
    return 0
