"""DeepClassifier and DeepRegressor against scikit-learn's MLPClassifier and MLPRegressor with the same settings
(scikit-learn's defaults), on the data sets scikit-learn ships: the held-out score over seeds 0-4, and the time of
a full-batch L-BFGS fit on digits.

    python benchmarks/sklearn_parity.py [--seeds 5] [--backend numpy]

Each seed splits the data 75/25 (stratified for classes), standardizes it with the training part's statistics,
and seeds both estimators. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from gpudeep import DeepClassifier, DeepRegressor

DATA = {"digits": (load_digits, True), "wine": (load_wine, True), "breast_cancer": (load_breast_cancer, True),
        "diabetes": (load_diabetes, False)}


def held_out_scores(name: str, seeds: int, backend: str) -> tuple[list[float], list[float], float, float]:
    """(ours, scikit-learn's) held-out scores per seed, and the seconds each took in all."""
    load, classification = DATA[name]
    X, y = load(return_X_y=True)
    if not classification:
        y = (y - y.mean()) / y.std()
    ours, theirs, our_time, their_time = [], [], 0.0, 0.0
    for seed in range(seeds):
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=seed,
                                                            stratify=y if classification else None)
        for scores, estimator, clock in ((ours, DeepClassifier if classification else DeepRegressor, "ours"),
                                         (theirs, MLPClassifier if classification else MLPRegressor, "theirs")):
            settings = {"random_state": seed} | ({"backend": backend} if clock == "ours" else {})
            model = make_pipeline(StandardScaler(), estimator(**settings))
            started = time.perf_counter()
            model.fit(X_train, y_train)
            elapsed = time.perf_counter() - started
            scores.append(model.score(X_test, y_test))
            if clock == "ours":
                our_time += elapsed
            else:
                their_time += elapsed
    return ours, theirs, our_time, their_time


def lbfgs_time(backend: str) -> tuple[float, float, float, float]:
    """(our seconds, scikit-learn's, our training accuracy, theirs) of MLPClassifier(solver='lbfgs')'s fit on
    digits, standardized, in one run each."""
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    results = []
    for model in (DeepClassifier(solver="lbfgs", random_state=0, backend=backend),
                  MLPClassifier(solver="lbfgs", random_state=0)):
        started = time.perf_counter()
        model.fit(X, y)
        results.append((time.perf_counter() - started, model.score(X, y), model.n_iter_))
    (ours, our_score, our_iter), (theirs, their_score, their_iter) = results
    return ours, theirs, our_score, their_score, our_iter, their_iter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--backend", default="numpy")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=200 is scikit-learn's default for both
    print("| data set | score | gpudeep mean (min-max) | scikit-learn mean (min-max) | difference | "
          "gpudeep s | scikit-learn s |\n|---|---|---|---|---|---|---|")
    for name, (_, classification) in DATA.items():
        ours, theirs, our_time, their_time = held_out_scores(name, args.seeds, args.backend)
        print(f"| {name} | {'accuracy' if classification else 'R²'} | {np.mean(ours):.4f} ({min(ours):.4f}-"
              f"{max(ours):.4f}) | {np.mean(theirs):.4f} ({min(theirs):.4f}-{max(theirs):.4f}) | "
              f"{np.mean(ours) - np.mean(theirs):+.4f} | {our_time:.1f} | {their_time:.1f} |", flush=True)
    ours, theirs, our_score, their_score, our_iter, their_iter = lbfgs_time(args.backend)
    print(f"\nL-BFGS on digits (1797 x 64, standardized, hidden (100,), max_iter=200): gpudeep {ours:.2f} s "
          f"({our_iter} iterations, training accuracy {our_score:.4f}), scikit-learn {theirs:.2f} s "
          f"({their_iter} iterations, {their_score:.4f})")


if __name__ == "__main__":
    main()
