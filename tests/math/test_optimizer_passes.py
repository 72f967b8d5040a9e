"""An optimizer step is one update per parameter buffer, not one per parameter: the array operations of a
step on the mnist net ([784, 256, 128, 10], 6 parameter arrays) are those of one array's update; with Numba,
that update is one compiled loop and no NumPy operation at all."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from op_counter import OPERATIONS, counted

from gpudeep import Architecture, get_backend, init_parameters
from gpudeep.backends import loops
from gpudeep.optim import SGD, Adam, RMSProp
from gpudeep.parameters import Parameters

OPTIMIZERS = {"adam": Adam, "rmsprop": RMSProp, "sgd": SGD, "momentum": lambda rate: SGD(rate, momentum=0.9),
              "nesterov": lambda rate: SGD(rate, momentum=0.9, nesterov=True)}


def operations_per_step(sizes, make) -> int:
    """Array operations of the second step of ``make(0.01)`` on counted parameters and gradients."""
    arch = Architecture.build(sizes, loss="categorical_cross_entropy")
    params = init_parameters(arch, get_backend("numpy"), rng=0)
    params = Parameters(np, params.layout, counted(params.flat))
    grads = Parameters(np, params.layout, counted(np.full_like(params.flat, 1e-3)))
    optimizer = make(0.01)
    optimizer.step(np, params, grads)  # the first step makes the state: not an update's cost
    OPERATIONS.clear()
    optimizer.step(np, params, grads)
    return sum(OPERATIONS.values())


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_a_step_costs_the_same_operations_whatever_the_number_of_layers(name, monkeypatch):
    monkeypatch.setattr(loops, "MIN_SIZE", 10**9)  # every update as written: NumPy operations to count
    mnist = operations_per_step((784, 256, 128, 10), OPTIMIZERS[name])
    assert mnist == operations_per_step((4, 3), OPTIMIZERS[name]) > 0  # one buffer, however many arrays
    assert mnist <= {"adam": 14, "rmsprop": 10, "sgd": 2, "momentum": 4, "nesterov": 7}[name]


@pytest.mark.skipif(importlib.util.find_spec("numba") is None,
                    reason="Numba is not installed (pip install 'gpudeep[fast]'; CI installs it)")
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_with_numba_a_large_buffers_step_is_one_loop(name):
    assert operations_per_step((784, 256, 128, 10), OPTIMIZERS[name]) == 0
    assert operations_per_step((4, 3), OPTIMIZERS[name]) > 0  # a small buffer: as written, compiling nothing
