"""What several commands do with data and model files: load a data set, match a CSV's columns to the
model's, find a run folder's model."""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np

from ..csvfiles import NotANumber
from ..datasets import Dataset, load


def load_data(dataset: str, *, seed: int, label: str | None, task: str | None, header: bool = True,
              drop: tuple[str, ...] = ()) -> Dataset:
    """``datasets.load``, with a hint to name the label column when a CSV's non-numeric column is not the
    last."""
    try:
        return load(dataset, seed=seed, label=label, task=task, header=header, drop=drop)
    except NotANumber as error:
        if label is not None:
            raise
        raise ValueError(f"{error}; if {error.column!r} holds the labels, pass --label {shlex.quote(error.column)}") \
            from None


def in_training_order(X, columns: list[str] | None, trained_on, path) -> np.ndarray:
    """X's columns put in the order of the CSV the model was trained on, matched by name; ``ValueError`` when
    the names differ. A model trained on unnamed data, or a file without a header (``columns`` None), takes
    the columns as they come."""
    if trained_on is None or columns is None:
        return X
    trained_on = [str(name) for name in trained_on]
    if sorted(columns) != sorted(trained_on):
        missing, unexpected = sorted(set(trained_on) - set(columns)), sorted(set(columns) - set(trained_on))
        hint = f"; leave columns out with --drop {','.join(unexpected)}" if unexpected and not missing else ""
        raise ValueError(f"{path}: its columns are not the ones the model was trained on (missing {missing}, "
                         f"unexpected {unexpected}); the model expects {trained_on}{hint}")
    return X[:, [columns.index(name) for name in trained_on]]


def known_labels(y, classes, path) -> None:
    """``ValueError`` for labels of ``y`` that the model never saw in training, with how many rows hold
    them: a classifier cannot predict them, so every such row would count as wrong without a word."""
    unknown, counts = np.unique(y[~np.isin(y, classes)], return_counts=True)
    if len(unknown):
        listed = ", ".join(f"{label!r} ({count} rows)" for label, count in zip(unknown.tolist()[:5], counts[:5]))
        raise ValueError(f"{path}: {counts.sum()} of {len(y)} rows have labels the model was not trained on: "
                         f"{listed}{', ...' if len(unknown) > 5 else ''}; the model knows {list(classes.tolist())}; "
                         f"fix the labels (their spelling, say), or score only rows of known classes")


def model_file(path: Path) -> Path:
    """A model file, or a run folder's model.npz; ``FileNotFoundError`` in our words for neither."""
    if not path.exists():
        where = "" if path.is_absolute() else f" (looked for in {Path.cwd()})"
        raise FileNotFoundError(f"no model file or run folder {str(path)!r}{where}; pass the run folder that "
                                f"gpudeep train wrote, or its model.npz")
    if path.is_dir() and not (path / "model.npz").exists():
        raise FileNotFoundError(f"{path} is a folder without a model.npz, not a run folder; pass the run folder "
                                f"that gpudeep train wrote, or a model file")
    return path / "model.npz" if path.is_dir() else path
