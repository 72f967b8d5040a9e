"""The estimators: DeepClassifier and DeepRegressor (scikit-learn conventions), their model files and
checkpoints, and the table of their hyperparameters.

base.py             what both share: scikit-learn's face, and fit in one pass down and back
classifier.py       DeepClassifier               regressor.py    DeepRegressor
hyperparameters.py  the parameters' one table: defaults, rules, docs, command-line options (no scikit-learn)
fitting.py          a fit's host data, prepared in one place, and its one move to the device
predicting.py       predictions in chunks that fit the device
attributes.py       the fitted attributes (n_iter_, loss_curve_, history_, n_layers_, ...)
persistence.py      model files and checkpoints of an estimator
inputs.py           host-side input checks, seeds, device rows
docs.py             the attributes' shared numpydoc

The classes, and scikit-learn with them, are imported when first asked for, so that ``hyperparameters`` is
cheap to import on its own.
"""

from __future__ import annotations

import importlib

from ..archive import ModelFormatError
from ..backends import Backend, get_backend

_ON_FIRST_USE = {"DeepClassifier": "classifier", "DeepRegressor": "regressor", "read": "persistence",
                 "save": "persistence", "save_checkpoint": "persistence"}


def __getattr__(name: str):
    if name in _ON_FIRST_USE:
        return getattr(importlib.import_module(f".{_ON_FIRST_USE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def estimators() -> dict[str, type]:
    """The estimator classes by name, as model files name them."""
    from .classifier import DeepClassifier
    from .regressor import DeepRegressor

    return {cls.__name__: cls for cls in (DeepClassifier, DeepRegressor)}


def load(path, backend: str | Backend | None = None, *, sha256: str | None = None, max_bytes: int | None = None):
    """The estimator saved in ``path``, with its weights on ``backend`` (resolved as by ``get_backend``).

    A model saved on a GPU loads on a CPU-only machine. A file restores hyperparameters and weights only,
    never a path, a backend or anything else that reaches the machine. Every file carries a SHA-256 seal,
    which proves it whole but not who wrote it: for a file from elsewhere, pass the ``sha256`` (hex) its
    author published, and the file must match it. ``max_bytes`` bounds what its arrays may decompress to
    (default: ``GPUDEEP_MAX_MODEL_BYTES``, else 1 GiB).
    """
    from .persistence import read, rebuild

    metadata, arrays = read(path, max_bytes=max_bytes, sha256=sha256)
    known = estimators()
    cls = known.get(metadata["estimator"])
    if cls is None:
        raise ModelFormatError(f"{path}: unknown estimator {metadata['estimator']!r}; known: {list(known)}")
    return rebuild(cls, metadata, arrays, backend if isinstance(backend, Backend) else get_backend(backend))


__all__ = ["DeepClassifier", "DeepRegressor", "ModelFormatError", "estimators", "load", "read", "save",
           "save_checkpoint"]
