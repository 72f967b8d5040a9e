"""gpudeep: a deep L-layer neural network whose one set of math runs on NumPy or CuPy."""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from .backend import Backend, BackendUnavailableError, get_backend
from .estimators import DeepClassifier, DeepRegressor
from .gradcheck import GradientCheck, gradient_check
from .io import ModelFormatError, load, save
from .network import (
    Architecture,
    Cache,
    backward,
    compute_cost,
    forward,
    init_parameters,
    update,
)
from .training import EarlyStopping, History, TrainingDivergedError

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
    "forward",
    "get_backend",
    "gradient_check",
    "init_parameters",
    "load",
    "save",
    "update",
]
