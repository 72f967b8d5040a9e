"""What several commands do with data and model files: load a data set, match a CSV's columns to the
model's, find a run folder's model."""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np

from ..datasets import NotANumber, load_dataset


def load_data(dataset: str, *, seed: int, label: str | None, task: str | None):
    """``load_dataset``, with a hint to name the label column when a CSV's non-numeric column is not the last."""
    try:
        return load_dataset(dataset, seed=seed, label=label, task=task)
    except NotANumber as error:
        if label is not None:
            raise
        raise ValueError(f"{error}; if {error.column!r} holds the labels, pass --label {shlex.quote(error.column)}") \
            from None


def in_training_order(X, columns: list[str], trained_on, path) -> np.ndarray:
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


def model_file(path: Path) -> Path:
    """A model file, or a run folder's model.npz."""
    return path / "model.npz" if path.is_dir() else path
