"""gpudeep: a deep L-layer neural network whose one set of math runs on NumPy or CuPy.

The core (the backend, the network, the gradient check) is imported with the package; the estimators,
model files and the training loop, and with them scikit-learn, are imported when first asked for.
"""

import importlib
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from .backends import Backend, BackendUnavailableError, get_backend
from .gradcheck import GradientCheck, gradient_check
from .network import (
    Architecture,
    Cache,
    backward,
    compute_cost,
    forward,
    init_parameters,
    update,
)

_ON_FIRST_USE = {  # name -> the module that defines it, imported when the name is first used
    "DeepClassifier": "estimators",
    "DeepRegressor": "estimators",
    "ModelFormatError": "archive",
    "load": "estimators",
    "save": "estimators",
    "EarlyStopping": "training",
    "History": "training",
    "TrainingDivergedError": "training",
    "export_onnx": "export",
}


def __getattr__(name: str):
    if name in _ON_FIRST_USE:
        return getattr(importlib.import_module(f".{_ON_FIRST_USE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_ON_FIRST_USE])


try:
    __version__ = _version("gpudeep")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+unknown"

__all__ = [
    "Architecture",
    "Backend",
    "BackendUnavailableError",
    "Cache",
    "DeepClassifier",
    "DeepRegressor",
    "EarlyStopping",
    "GradientCheck",
    "History",
    "ModelFormatError",
    "TrainingDivergedError",
    "backward",
    "compute_cost",
    "export_onnx",
    "forward",
    "get_backend",
    "gradient_check",
    "init_parameters",
    "load",
    "save",
    "update",
]
