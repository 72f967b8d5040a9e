"""Initial weights, drawn on the host from a ``numpy.random.Generator``.

Each initializer returns a float64 NumPy array of shape ``(n_out, n_in)``;
the caller casts it and moves it to the device, so every backend starts from
the same weights for the same seed.
"""

from __future__ import annotations

import math

import numpy as np

from .registry import Registry


def he(rng: np.random.Generator, n_out: int, n_in: int) -> np.ndarray:
    """Normal with variance 2 / n_in: keeps the activations' scale through ReLU layers."""
    return rng.standard_normal((n_out, n_in)) * math.sqrt(2.0 / n_in)


def xavier(rng: np.random.Generator, n_out: int, n_in: int) -> np.ndarray:
    """Uniform on ±√(6 / (n_in + n_out)) (Glorot): suits sigmoid and tanh layers."""
    limit = math.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, size=(n_out, n_in))


def uniform_0_1(rng: np.random.Generator, n_out: int, n_in: int) -> np.ndarray:
    """Uniform on [0, 1), as in the tutorial: all positive, so a deep sigmoid net saturates."""
    return rng.random((n_out, n_in))


INITIALIZERS = Registry.of("initializer", {"he": he, "xavier": xavier, "glorot": xavier, "uniform_0_1": uniform_0_1})
