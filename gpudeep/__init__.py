"""gpudeep: a deep L-layer neural network whose one set of math runs on NumPy or CuPy."""

from .backend import Backend, BackendUnavailableError, get_backend
from .gradcheck import GradientCheck, gradient_check
from .network import Architecture, Cache, backward, compute_cost, forward, init_parameters, update

__version__ = "0.1.0"

__all__ = [
    "Architecture",
    "Backend",
    "BackendUnavailableError",
    "Cache",
    "GradientCheck",
    "backward",
    "compute_cost",
    "forward",
    "get_backend",
    "gradient_check",
    "init_parameters",
    "update",
]
