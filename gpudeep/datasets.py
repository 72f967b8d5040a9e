"""Data sets, samples as rows: scikit-learn's bundled sets and generators, or the user's own file.

``load_dataset(name)`` returns ``(X, y, task)`` with X ``(n_samples, n_features)``
float64, y ``(n_samples,)`` and task "classification" or "regression".
"""

from __future__ import annotations

import csv
import hashlib
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
TASKS = ("classification", "regression")


class NotANumber(ValueError):
    """A CSV feature cell that is not a number; ``column`` names its column."""

    def __init__(self, message: str, column: str):
        super().__init__(message)
        self.column = column


def load_dataset(name: str, *, seed: int = 0, label: str | None = None,
                 task: str | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """(X, y, task) of a bundled set, a generated one (drawn with ``seed``), or a ``.npz``/``.csv`` file.

    A ``.npz`` holds arrays ``X`` and ``y``. A ``.csv`` has a header row; its label
    column is ``label`` or, by default, the last one (``label`` is for CSV files only).
    ``task`` is "classification", "regression" or None: labels that are all integers (or text)
    then make a classification task, other numbers a regression task.
    """
    if label is not None and Path(name).suffix != ".csv":
        kind = "a .npz file holds arrays X and y" if Path(name).suffix == ".npz" else f"{name!r} is not a CSV file"
        raise ValueError(f"a label column applies to CSV files only, and {kind}; leave the label out")
    if task not in (None, *TASKS):
        raise ValueError(f"task must be one of {list(TASKS)} or None (decided by the labels), got {task!r}")
    X, y, found = _load(name, seed=seed, label=label)
    if task == "regression" and y.dtype.kind not in "biuf":
        raise ValueError(f"a regression needs numeric targets, but {name}'s labels are text (e.g. {y[0].item()!r})")
    if task == "classification" and found == "regression":
        raise ValueError(f"a classification needs class labels, but {name}'s targets are fractional numbers "
                         f"(e.g. {y[np.argmax(y != np.round(y))].item()!r}); use the regression task")
    return X, (y.astype(np.float64) if task == "regression" else y), task or found


def fingerprint(X: np.ndarray, y: np.ndarray) -> str:
    """The SHA-256 of a data set: X's dtype, shape and values, and y's labels as text; to tell whether two
    data sets are the same."""
    X = np.ascontiguousarray(X)
    digest = hashlib.sha256(f"{X.dtype.str} {X.shape}\n".encode())
    digest.update(X.tobytes())
    digest.update("\n".join(str(label) for label in np.asarray(y).ravel()).encode())
    return digest.hexdigest()


def _load(name: str, *, seed: int, label: str | None) -> tuple[np.ndarray, np.ndarray, str]:
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


MAX_CSV_BYTES = 1 << 30  # the largest CSV file gpudeep reads


def read_csv(path, *, label: str | None = None, has_label: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """(X, y) from a comma-separated file with a header row; y is None when ``has_label`` is False.

    Every feature cell must be a number; the error names the row and column of the first that is not.
    Labels that are all integers stay exact integers (beyond 2**53 too); a blank label is an error.
    """
    path = Path(path)
    if path.exists() and not path.is_file():  # a FIFO would block, a device never end
        raise ValueError(f"{path}: not a regular file (a folder, a FIFO or a device); pass a CSV file")
    if path.is_file() and path.stat().st_size > MAX_CSV_BYTES:
        raise ValueError(f"{path}: {path.stat().st_size} bytes, more than the {MAX_CSV_BYTES} a CSV may have here; "
                         f"save the data as .npz instead")
    with path.open(newline="", encoding="utf-8-sig") as file:  # a byte-order mark is not part of the first name
        reader = csv.reader(file)
        try:
            rows = list(reader)
        except csv.Error as error:
            raise ValueError(f"{path}: line {reader.line_num} is not valid CSV ({error})") from None
    if len(rows) < 2:
        raise ValueError(f"{path}: needs a header row and at least one data row")
    header, body = rows[0], rows[1:]
    if len(header) == 1 and any(separator in header[0] for separator in ";\t|"):
        raise ValueError(f"{path}: its header is one column, {header[0]!r}: gpudeep reads comma-separated values; "
                         f"convert the file, e.g. pandas.read_csv(path, sep=None).to_csv(new_path, index=False)")
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
                if not row[i].strip():
                    raise ValueError(f"{path}: row {r}, column {header[i]!r} is empty (a missing value); fill it "
                                     f"or drop the row") from None
                raise NotANumber(f"{path}: row {r}, column {header[i]!r} is not a number: {row[i]!r}",
                                 header[i]) from None
    if label_index is None:
        return X, None
    return X, _labels([row[label_index].strip() for row in body], path, header[label_index])


def csv_feature_names(path, *, label: str | None = None, has_label: bool = True) -> list[str]:
    """The feature columns' names of a CSV file, in order: its header without the label column."""
    with Path(path).open(newline="", encoding="utf-8-sig") as file:
        header = next(csv.reader(file), [])
    if not has_label:
        return header
    label_index = len(header) - 1 if label is None else header.index(label) if label in header else None
    return [name for i, name in enumerate(header) if i != label_index]


def _labels(cells: list[str], path: Path, column: str) -> np.ndarray:
    """Integers when every cell is one (exact, as int64 or Python ints), else floats when every cell is a
    number, else text."""
    blank = [r for r, cell in enumerate(cells, start=2) if not cell]
    if blank:
        raise ValueError(f"{path}: the label column {column!r} is blank in rows {blank[:5]}; fill or drop them")
    try:
        integers = [int(cell) for cell in cells]
    except ValueError:
        pass
    else:
        if all(-2**63 <= n < 2**63 for n in integers):
            return np.array(integers, dtype=np.int64)
        return np.array([str(n) for n in integers])  # beyond int64: exact as text
    try:
        return np.array([float(cell) for cell in cells])
    except ValueError:
        return np.array(cells)  # text labels stay text


def _task_of(y: np.ndarray) -> str:
    return "regression" if y.dtype.kind == "f" and not np.all(y == np.round(y)) else "classification"
