"""``gpudeep predict``: predictions for the rows of a CSV file, as a CSV."""

from __future__ import annotations

import argparse
import csv
import os
import sys
import warnings
from pathlib import Path

import numpy as np

from ..csvfiles import read_csv
from .data import in_training_order, model_file
from .parser import backend_argument, csv_arguments, digest_argument, threads_argument

HELP = "predict for the rows of a CSV file (a header row of feature names); writes a CSV of row numbers and predictions"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="a model file, or the run folder that holds model.npz")
    digest_argument(parser)
    parser.add_argument("input", type=Path, help="the CSV file of rows to predict for")
    parser.add_argument("--label", default=None, help="a label column in the CSV to leave out")
    csv_arguments(parser)
    parser.add_argument("--proba", action="store_true", help="add each class's probability (classifiers)")
    parser.add_argument("--output", type=Path, default=None, help="write the predictions here instead of stdout")
    backend_argument(parser)
    threads_argument(parser)


def run(args) -> int:
    from ..estimators import load

    model = load(model_file(args.model), backend=args.backend, sha256=args.sha256).set_params(n_jobs=args.n_jobs)
    if args.proba and not hasattr(model, "predict_proba"):
        raise ValueError("--proba gives class probabilities, and this model is a regressor; leave --proba out")
    table = read_csv(args.input, label=args.label, has_label=args.label is not None, header=args.header,
                     drop=tuple(args.drop))
    X = in_training_order(table.X, table.columns, getattr(model, "feature_names_in_", None), args.input)
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
        try:
            write_table(sys.stdout, header, rows)
            sys.stdout.flush()
        except BrokenPipeError:  # the reader stopped early (| head): what it read is what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
    else:
        with args.output.open("w", newline="") as file:
            write_table(file, header, rows)
        print(f"wrote {len(predictions)} predictions to {args.output}")
    return 0


def write_table(file, header: list[str], rows: list[list]) -> None:
    writer = csv.writer(file, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
