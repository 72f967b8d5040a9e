"""Data sets, samples as rows: scikit-learn's bundled sets and generators, or the user's own file.

``load_dataset(name)`` returns ``(X, y, task)`` with X ``(n_samples, n_features)``
float64, y ``(n_samples,)`` and task "classification" or "regression".
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .csvfiles import read_csv

# scikit-learn's bundled sets and generators, by the name of the function that makes each (imported on first use)
BUNDLED = {"digits": "load_digits", "breast_cancer": "load_breast_cancer", "iris": "load_iris", "wine": "load_wine"}
GENERATED = {
    "moons": ("make_moons", {"n_samples": 1000, "noise": 0.2}),
    "circles": ("make_circles", {"n_samples": 1000, "noise": 0.1, "factor": 0.5}),
    "blobs": ("make_blobs", {"n_samples": 1000, "centers": 4, "n_features": 2}),
}
NAMES = (*BUNDLED, *GENERATED)
TASKS = ("classification", "regression")


class Dataset(NamedTuple):
    """A loaded data set: X ``(n_samples, n_features)`` float64, y ``(n_samples,)``, its task, why that task
    (``reason``: "given" when asked for), and a CSV file's feature names (None for other sources) and dropped
    columns."""

    X: np.ndarray
    y: np.ndarray
    task: str
    reason: str
    columns: list[str] | None = None
    dropped: list[str] = []


def load_dataset(name: str, *, seed: int = 0, label: str | None = None,
                 task: str | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """(X, y, task) of a bundled set, a generated one (drawn with ``seed``), or a ``.npz``/``.csv`` file.

    A ``.npz`` holds arrays ``X`` and ``y``. A ``.csv`` has a header row; its label
    column is ``label`` or, by default, the last one (``label`` is for CSV files only).
    ``task`` is "classification", "regression" or None: labels that are all integers (or text)
    then make a classification task, other numbers a regression task.
    """
    return load(name, seed=seed, label=label, task=task)[:3]


def load(name: str, *, seed: int = 0, label: str | None = None, task: str | None = None, header: bool = True,
         drop: tuple[str, ...] = ()) -> Dataset:
    """``load_dataset``'s data set with why its task was chosen; for a CSV file also its feature names, a
    file without a header (``header=False``) and columns to leave out (``drop``, see ``csvfiles.read_csv``)."""
    if label is not None and Path(name).suffix != ".csv":
        kind = "a .npz file holds arrays X and y" if Path(name).suffix == ".npz" else f"{name!r} is not a CSV file"
        raise ValueError(f"a label column applies to CSV files only, and {kind}; leave the label out")
    if (drop or not header) and Path(name).suffix != ".csv":
        raise ValueError(f"dropping columns and files without a header apply to CSV files only, and {name!r} is not "
                         f"one")
    if task not in (None, *TASKS):
        raise ValueError(f"task must be one of {list(TASKS)} or None (decided by the labels), got {task!r}")
    data = _load(name, seed=seed, label=label, header=header, drop=tuple(drop))
    y = data.y
    if task == "regression" and y.dtype.kind not in "biuf":
        raise ValueError(f"a regression needs numeric targets, but {name}'s labels are text (e.g. {y[0].item()!r})")
    if task == "classification" and data.task == "regression":
        raise ValueError(f"a classification needs class labels, but {name}'s targets are fractional numbers "
                         f"(e.g. {y[np.argmax(y != np.round(y))].item()!r}); use the regression task")
    if task is None:
        return data
    return data._replace(y=y.astype(np.float64) if task == "regression" else y, task=task, reason="given")


def fingerprint(X: np.ndarray, y: np.ndarray) -> str:
    """The SHA-256 of a data set: X's dtype, shape and values, and y's labels as text; to tell whether two
    data sets are the same."""
    X = np.ascontiguousarray(X)
    digest = hashlib.sha256(f"{X.dtype.str} {X.shape}\n".encode())
    digest.update(X.tobytes())
    digest.update("\n".join(str(label) for label in np.asarray(y).ravel()).encode())
    return digest.hexdigest()


def _load(name: str, *, seed: int, label: str | None, header: bool, drop: tuple[str, ...]) -> Dataset:
    if name in BUNDLED:
        from sklearn import datasets

        X, y = getattr(datasets, BUNDLED[name])(return_X_y=True)
        return Dataset(X.astype(np.float64), y, "classification", f"{name} is a classification data set")
    if name in GENERATED:
        from sklearn import datasets

        function, options = GENERATED[name]
        X, y = getattr(datasets, function)(**options, random_state=seed)
        return Dataset(X.astype(np.float64), y, "classification", f"{name} is a classification data set")
    path = Path(name)
    if path.suffix not in (".npz", ".csv"):
        raise ValueError(f"unknown data set {name!r}: use one of {', '.join(NAMES)}, or a .npz or .csv file")
    if not path.is_file():
        raise ValueError(f"data file {name!r} does not exist{_from_here(path)}")
    if path.suffix == ".npz":
        X, y = _read_npz(path)
        return Dataset(X, y, *_task_of(y))
    table = read_csv(path, label=label, header=header, drop=drop)
    return Dataset(table.X, table.y, *_task_of(table.y), table.columns, table.dropped)


def _from_here(path: Path) -> str:
    """Where a relative path was looked for, for an error message."""
    return "" if path.is_absolute() else f" (looked for in {Path.cwd()})"


def split(X, y, task: str, *, test_size: float = 0.2, seed: int = 0):
    """(X_train, X_test, y_train, y_test), stratified by class for classification."""
    if len(X) != len(y):
        raise ValueError(f"inconsistent numbers of samples, {len(X)} rows in X and {len(y)} in y; X and y need "
                         f"one entry per sample")
    train, test = split_indices(y, task, test_size=test_size, seed=seed)
    return X[train], X[test], y[train], y[test]


def split_indices(y, task: str, *, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test): row indices, ``test_size`` of them held out, stratified by class for classification;
    ``ValueError`` in our words when a class is too small to be in both."""
    from sklearn.model_selection import train_test_split

    if not 0 < test_size < 1:
        raise ValueError(f"the held-out share must be in (0, 1), got {test_size}")
    stratify = y if task == "classification" else None
    try:
        return train_test_split(np.arange(len(y)), test_size=test_size, random_state=seed, stratify=stratify)
    except ValueError as error:
        if "least populated class" in str(error) or "should be greater or equal to the number of classes" in str(
                error):
            raise ValueError(f"cannot hold out {test_size} of each class: some classes are too small "
                             f"({error}); hold out a larger share, or add samples") from None
        raise


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = {"X", "y"} - set(data.files)
            if missing:
                raise ValueError(f"{path}: a data .npz must hold arrays 'X' and 'y'; missing {sorted(missing)}")
            X, y = data["X"], data["y"]
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ValueError(f"{path}: not a readable .npz file ({error})") from None
    except ValueError as error:
        if "pickle" in str(error):
            raise ValueError(f"{path}: holds Python objects, which gpudeep never loads; save plain arrays") from None
        raise
    if X.ndim != 2:
        raise ValueError(f"{path}: X must be 2-D (n_samples, n_features), got shape {X.shape}")
    if len(y) != len(X):
        raise ValueError(f"{path}: inconsistent numbers of samples, {len(X)} rows in X and {len(y)} in y; "
                         f"X and y need one entry per sample")
    return X, y


def _task_of(y: np.ndarray) -> tuple[str, str]:
    """(task, why) that labels ``y`` make by themselves."""
    if y.dtype.kind == "f" and not np.all(y == np.round(y)):
        return "regression", "the targets are fractional numbers"
    kind = "text" if y.dtype.kind in "USO" else "whole numbers"
    return "classification", f"the labels are {kind}"
