"""Data sets, samples as rows: scikit-learn's bundled sets and generators, or the user's own file.

``load_dataset(name)`` returns ``(X, y, task)`` with X ``(n_samples, n_features)``
float64, y ``(n_samples,)`` and task "classification" or "regression".
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np

# scikit-learn's bundled sets and generators, by the name of the function that makes each (imported on first use)
BUNDLED = {"digits": "load_digits", "breast_cancer": "load_breast_cancer", "iris": "load_iris", "wine": "load_wine"}
GENERATED = {
    "moons": ("make_moons", {"n_samples": 1000, "noise": 0.2}),
    "circles": ("make_circles", {"n_samples": 1000, "noise": 0.1, "factor": 0.5}),
    "blobs": ("make_blobs", {"n_samples": 1000, "centers": 4, "n_features": 2}),
}
NAMES = (*BUNDLED, *GENERATED)


def load_dataset(name: str, *, seed: int = 0, label: str | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """(X, y, task) of a bundled set, a generated one (drawn with ``seed``), or a ``.npz``/``.csv`` file.

    A ``.npz`` holds arrays ``X`` and ``y``. A ``.csv`` has a header row; its label
    column is ``label`` or, by default, the last one. Labels that are all integers
    make a classification task; other numbers, a regression task.
    """
    if name in BUNDLED:
        from sklearn import datasets

        X, y = getattr(datasets, BUNDLED[name])(return_X_y=True)
        return X.astype(np.float64), y, "classification"
    if name in GENERATED:
        from sklearn import datasets

        function, options = GENERATED[name]
        X, y = getattr(datasets, function)(**options, random_state=seed)
        return X.astype(np.float64), y, "classification"
    path = Path(name)
    if path.suffix not in (".npz", ".csv"):
        raise ValueError(f"unknown data set {name!r}: use one of {', '.join(NAMES)}, or a .npz or .csv file")
    if not path.is_file():
        raise ValueError(f"data file {name!r} does not exist")
    X, y = _read_npz(path) if path.suffix == ".npz" else read_csv(path, label=label)
    return X, y, _task_of(y)


def split(X, y, task: str, *, test_size: float = 0.2, seed: int = 0):
    """(X_train, X_test, y_train, y_test), stratified by class for classification."""
    from sklearn.model_selection import train_test_split

    stratify = y if task == "classification" else None
    return train_test_split(X, y, test_size=test_size, random_state=seed, stratify=stratify)


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
    return X, y


def read_csv(path, *, label: str | None = None, has_label: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """(X, y) from a CSV file with a header row; y is None when ``has_label`` is False.

    Every feature cell must be a number; the error names the row and column of the first that is not.
    """
    path = Path(path)
    with path.open(newline="") as file:
        rows = list(csv.reader(file))
    if len(rows) < 2:
        raise ValueError(f"{path}: needs a header row and at least one data row")
    header, body = rows[0], rows[1:]
    label_index = None
    if has_label:
        if label is None:
            label_index = len(header) - 1
        elif label in header:
            label_index = header.index(label)
        else:
            raise ValueError(f"{path}: no label column {label!r}; the columns are {header}")
    features = [i for i in range(len(header)) if i != label_index]
    X = np.empty((len(body), len(features)))
    for r, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise ValueError(f"{path}: row {r} has {len(row)} cells, the header has {len(header)}")
        for j, i in enumerate(features):
            try:
                X[r - 2, j] = float(row[i])
            except ValueError:
                raise ValueError(f"{path}: row {r}, column {header[i]!r} is not a number: {row[i]!r}") from None
    if label_index is None:
        return X, None
    y = np.array([row[label_index] for row in body])
    try:
        y = y.astype(np.float64)
        if np.all(y == np.round(y)):
            y = y.astype(np.int64)
    except ValueError:
        pass  # text labels stay text
    return X, y


def _task_of(y: np.ndarray) -> str:
    return "regression" if y.dtype.kind == "f" and not np.all(y == np.round(y)) else "classification"
