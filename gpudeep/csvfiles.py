"""CSV files of samples as rows: read by pandas, every refusal in our words with its row and column.

A file has a header row of column names (or ``header=False``: the columns are then ``column_1`` to
``column_N``); its label column is ``label`` or, by default, the last. pandas parses the cells; where it
refuses a file, or a feature cell is missing or not finite, the file is read again with the ``csv``
module only to say where, so that a good file is read at pandas' speed and a bad one is described exactly.
"""

from __future__ import annotations

import csv
import itertools
import logging
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

log = logging.getLogger("gpudeep")

MAX_CSV_BYTES = 1 << 30  # the largest CSV file gpudeep reads
INDEX_NAMES = ("", "Unnamed: 0")  # the first column pandas writes for a DataFrame's index
MISSING = ("nan", "na", "n/a", "null", "none", "-nan", "#n/a")  # cells that mean "no value", in any case


class Table(NamedTuple):
    """A CSV file's samples: X ``(n_samples, n_features)`` float64, y ``(n_samples,)`` (None without a
    label column), the feature columns' names (None for a file without a header) and the columns dropped."""

    X: np.ndarray
    y: np.ndarray | None
    columns: list[str] | None
    dropped: list[str]


class NotANumber(ValueError):
    """A CSV feature cell that is not a number; ``column`` names its column."""

    def __init__(self, message: str, column: str):
        super().__init__(message)
        self.column = column


def read_csv(path, *, label: str | None = None, has_label: bool = True, header: bool = True,
             drop: tuple[str, ...] = ()) -> Table:
    """The samples of a comma-separated file (see the module's docstring).

    Every feature cell must be a finite number; the error names the row and column of the first that is
    not. Labels that are all integers stay exact integers (beyond 2**53 too); a blank label is an error.
    ``drop`` names columns to leave out; a first column without a name (a pandas index) is left out too.
    A first row of numbers only is refused as a header: pass ``header=False`` for a file without one.
    """
    path = _checked(Path(path))
    names = _first_row(path)
    if header:
        _refuse_data_as_header(path, names, label)
    else:
        names = [f"column_{i}" for i in range(1, len(names) + 1)]
    label_index = _label_index(path, names, label) if has_label else None
    dropped = _dropped(path, names, drop, label_index, header)
    features = [i for i in range(len(names)) if i != label_index and names[i] not in dropped]
    frame = _parsed(path, names, features, header)
    X = frame[features].to_numpy(dtype=np.float64) if features else np.empty((len(frame), 0))
    if not np.isfinite(X).all():
        _locate(path, names, features, header)
        raise ValueError(f"{path}: a feature cell is not a finite number")
    if header:
        _warn_of_identifiers(names, features, X)
    y = None if label_index is None else _label_column(path, frame[label_index], label_index, names, header)
    return Table(X, y, [names[i] for i in features] if header else None, dropped)


def _checked(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"data file {str(path)!r} does not exist")
    if not path.is_file():  # a FIFO would block, a device never end
        raise ValueError(f"{path}: not a regular file (a folder, a FIFO or a device); pass a CSV file")
    if path.stat().st_size > MAX_CSV_BYTES:
        raise ValueError(f"{path}: {path.stat().st_size} bytes, more than the {MAX_CSV_BYTES} a CSV may have here; "
                         f"save the data as .npz instead")
    return path


def _records(path: Path):
    """The file's records by the ``csv`` module, each with its row number (the first row is 1); blank
    lines are skipped, as pandas skips them."""
    with path.open(newline="", encoding="utf-8-sig") as file:  # a byte-order mark is not part of the first name
        reader = csv.reader(file)
        try:
            for row in reader:
                if row:
                    yield reader.line_num, row
        except csv.Error as error:
            raise ValueError(f"{path}: line {reader.line_num} is not valid CSV ({error})") from None
        except UnicodeDecodeError as error:
            raise ValueError(f"{path}: not a text file in UTF-8 (byte {error.object[error.start]:#04x} at offset "
                             f"{error.start} of a block); pass a CSV file, or convert it to UTF-8") from None


def _first_row(path: Path) -> list[str]:
    first = next(_records(path), None)
    if first is None:
        raise ValueError(f"{path}: needs a header row and at least one data row")
    names = first[1]
    if len(names) == 1 and any(separator in names[0] for separator in ";\t|"):
        raise ValueError(f"{path}: its header is one column, {names[0]!r}: gpudeep reads comma-separated values; "
                         f"convert the file, e.g. pandas.read_csv(path, sep=None).to_csv(new_path, index=False)")
    return names


def _refuse_data_as_header(path: Path, names: list[str], label: str | None) -> None:
    """A first row whose cells are all numbers (but for the label's) is data, not column names, unless they
    count 0, 1, 2, ...: the names pandas gives a DataFrame's columns by default."""
    numbers = [_is_number(name) for name in names]
    counted = [name for name in names if _is_number(name)] == [str(i) for i in range(sum(numbers))]
    if not counted and (all(numbers) or (label is None and len(names) > 1 and all(numbers[:-1]))):
        raise ValueError(f"{path}: its first row {names[:4] + ['...'] * (len(names) > 4)} is numbers, so it is "
                         f"data, not a header of column names; add a header row, or pass --no-header "
                         f"(header=False) to name the columns column_1 to column_{len(names)}")


def _is_number(cell: str) -> bool:
    try:
        float(cell.replace("_", "?"))  # Python's float reads '1_000'; pandas, and gpudeep, do not
    except ValueError:
        return False
    return True


def _label_index(path: Path, names: list[str], label: str | None) -> int:
    if label is None:
        return len(names) - 1
    if label not in names:
        raise ValueError(f"{path}: no label column {label!r}; the columns are {names}")
    return names.index(label)


def _dropped(path: Path, names: list[str], drop, label_index: int | None, header: bool) -> list[str]:
    """The columns to leave out: those named in ``drop`` and a pandas index column."""
    unknown = [name for name in drop if name not in names]
    if unknown:
        raise ValueError(f"{path}: cannot drop {unknown}: no such columns; the columns are {names}")
    if label_index is not None and names[label_index] in drop:
        raise ValueError(f"{path}: cannot drop {names[label_index]!r}, the label column; choose another with "
                         f"--label")
    dropped = list(drop)
    if header and names[0] in INDEX_NAMES and label_index != 0 and names[0] not in dropped:
        log.info("gpudeep: %s: its first column has no name (%r), as a pandas index has; left it out of the features",
                    path, names[0])
        dropped.insert(0, names[0])
    return dropped


def _parsed(path: Path, names: list[str], features: list[int], header: bool):
    """The file's cells by pandas, their types inferred: a missing feature cell is NaN, every other cell as
    written (no 'NA' or 'null' read as missing)."""
    import pandas

    try:
        frame = pandas.read_csv(path, header=None, skiprows=1 if header else 0, keep_default_na=False,
                                na_values={i: [""] for i in features}, encoding="utf-8-sig", engine="c")
    except pandas.errors.EmptyDataError:
        raise ValueError(f"{path}: needs a header row and at least one data row") from None
    except (ValueError, pandas.errors.ParserError) as error:  # a row of another length, a cell that is not text
        _locate(path, names, features, header)
        raise ValueError(f"{path}: not readable as CSV ({error})") from None
    if frame.shape[1] != len(names) or not all(frame[i].dtype.kind in "iuf" for i in features):
        _locate(path, names, features, header)  # a row of another length, a cell that is not a number
        raise ValueError(f"{path}: its feature columns could not be read as numbers")
    return frame


def _locate(path: Path, names: list[str], features: list[int], header: bool) -> None:
    """Raise the error of the first bad row of a file that pandas refused or read with a missing or
    non-finite feature cell: a row of another length, or its first bad cell (see ``_cell_error``)."""
    for number, row in itertools.islice(_records(path), 1 if header else 0, None):
        if len(row) != len(names):
            raise ValueError(f"{path}: row {number} has {len(row)} cells, the header has {len(names)}")
        for i in features:
            problem = _cell_error(row[i])
            if problem is not None:
                message = f"{path}: row {number}, column {names[i]!r} {problem}"
                raise NotANumber(message, names[i]) if "not a number" in problem else ValueError(message)


def _cell_error(cell: str) -> str | None:
    """What is wrong with a feature cell, or None for a finite number."""
    value = cell.strip()
    if not value:
        return "is empty (a missing value); fill it or drop the row"
    if value.lower() in MISSING:
        return f"is {cell!r}, a missing value; fill it or drop the row"
    if not _is_number(value):
        return f"is not a number: {cell!r}"
    if not math.isfinite(float(value)):
        return f"is {cell[:20]!r}{'...' * (len(cell) > 20)}, not a finite number; fix the value or drop the row"
    return None


def _warn_of_identifiers(names: list[str], features: list[int], X: np.ndarray) -> None:
    """Warn of a feature column named like an identifier that holds a distinct whole number on every row."""
    for j, i in enumerate(features):
        if names[i].lower() in ("id", "index") or names[i].lower().endswith("_id"):
            column = X[:, j]
            if len(column) > 1 and np.all(column == np.round(column)) and len(np.unique(column)) == len(column):
                log.warning("gpudeep: column %r holds a different whole number on every row, like a row identifier, "
                               "and is used as a feature; if it identifies rows, leave it out with --drop %s",
                               names[i], names[i])


def _label_column(path: Path, column, index: int, names: list[str], header: bool) -> np.ndarray:
    """The labels as pandas read them when they are numbers (int64 integers exact; beyond int64 as text,
    exact too), else read again as text (``_labels``)."""
    import pandas

    if column.dtype.kind == "f" and column.isna().any():  # a short row, or 'nan' written as a label
        _locate(path, names, [], header)
    if column.dtype.kind in "if":
        return _without_nan(column.to_numpy(), path, names[index], header)
    if column.dtype.kind == "u":  # integers beyond int64
        return np.array([str(n) for n in column.tolist()])
    cells = pandas.read_csv(path, header=None, skiprows=1 if header else 0, usecols=[index], dtype=str,
                            keep_default_na=False, encoding="utf-8-sig", engine="c")[index]
    cells = cells.str.strip().tolist()
    if not all(cells):  # a blank label, or a short row
        _locate(path, names, [], header)
    return _labels(cells, path, names[index], header)


def _labels(cells: list[str], path: Path, column: str, header: bool) -> np.ndarray:
    """Integers when every cell is one (exact, as int64 or Python ints), else floats when every cell is a
    number, else text."""
    first = 2 if header else 1
    blank = [r for r, cell in enumerate(cells, start=first) if not cell]
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
        values = np.array([float(cell) for cell in cells])
    except ValueError:
        return np.array(cells)  # text labels stay text
    return _without_nan(values, path, column, header)


def _without_nan(y: np.ndarray, path: Path, column: str, header: bool) -> np.ndarray:
    """``y``, refused where a label is NaN (a missing value written 'nan')."""
    if y.dtype.kind == "f" and np.isnan(y).any():
        rows = (np.flatnonzero(np.isnan(y)) + (2 if header else 1)).tolist()
        raise ValueError(f"{path}: the label column {column!r} is NaN in rows {rows[:5]}; fix or drop them")
    return y
