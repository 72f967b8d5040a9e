"""The tutorial's deep network, reproduced with gpudeep's functions, then fixed.

The network has units [3, 4, 4, 4, 4, 3, 1] and trains by full-batch gradient
descent. ``main`` runs it twice: first exactly as the tutorial sets it up
(sigmoid everywhere, weights uniform on [0, 1), learning rate 0.01, its random
two-sample data), then on a task it can actually learn, comparing the
tutorial's set-up with He initialisation and ReLU hidden layers.
"""

from __future__ import annotations

import numpy as np

from .backends import Backend, get_backend
from .network import Architecture, forward, init_parameters, update
from .training.step import gradients

UNITS = (3, 4, 4, 4, 4, 3, 1)


def tutorial_data(m: int = 2, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """The tutorial's data: X ``(3, m)`` and Y ``(1, m)``, both uniform on [0, 1) (soft labels)."""
    rng = np.random.default_rng(rng)
    return rng.random((3, m)), rng.random((1, m))


def xor_data(m: int = 256, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """A learnable task: X ``(3, m)`` uniform on [-1, 1), Y ``(1, m)`` = 1 where x0·x1 > 0."""
    rng = np.random.default_rng(rng)
    X = rng.uniform(-1.0, 1.0, size=(3, m))
    return X, (X[0:1] * X[1:2] > 0).astype(np.float64)


def train(backend: Backend, arch: Architecture, X, Y, *, init: str, learning_rate: float, epochs: int,
          rng=None, dtype: str = "float32"):
    """Full-batch gradient descent from host X ``(n[0], m)`` and Y ``(n[L], m)``; returns (params, costs).

    ``costs`` is a NumPy array of the cost before each epoch's update, moved to
    the host once, after training.
    """
    xp = backend.xp
    params = init_parameters(arch, backend, init=init, dtype=dtype, rng=rng)
    X, Y = backend.asarray(X, dtype), backend.asarray(Y, dtype)
    costs = []
    for _ in range(epochs):  # the tutorial wrote `for epoch in len(epochs)`, a TypeError
        cost, _, grads = gradients(xp, arch, params, X, Y)  # forward, cost, backward: the training step's
        costs.append(cost)
        update(params, grads, learning_rate)
    return params, backend.to_numpy(xp.stack(costs))


def accuracy(backend: Backend, arch: Architecture, params, X, Y) -> float:
    """Share of samples whose output, thresholded at 0.5, equals the 0/1 label Y ``(1, m)``."""
    X = backend.asarray(X, params[0][0].dtype)
    A_L = backend.to_numpy(forward(backend.xp, arch, params, X).A[arch.L])
    return float(np.mean((A_L > 0.5) == (Y > 0.5)))


def main(backend: Backend | None = None, seed: int = 0) -> None:
    """Print both runs' costs and accuracies."""
    backend = backend or get_backend()
    print(f"backend: {backend.name} ({backend.reason})")

    print("\n1. The tutorial as written: sigmoid everywhere, W uniform on [0, 1), alpha = 0.01, m = 2")
    tutorial = Architecture.build(UNITS, hidden="sigmoid", loss="binary_cross_entropy")
    X, Y = tutorial_data(rng=seed)
    _, costs = train(backend, tutorial, X, Y, init="uniform_0_1", learning_rate=0.01, epochs=100, rng=seed)
    for epoch in range(0, 100, 10):
        print(f"   epoch {epoch:3d}  cost {costs[epoch]:.6f}")
    print(f"   epoch  99  cost {costs[-1]:.6f}  (decreasing: {bool(np.all(np.diff(costs) <= 0))})")

    print("\n2. A task it can learn (label = x0*x1 > 0, m = 256), 2000 epochs at alpha = 0.1")
    X, Y = xor_data(rng=seed)
    for hidden, init in (("sigmoid", "uniform_0_1"), ("relu", "he")):
        arch = Architecture.build(UNITS, hidden=hidden, loss="binary_cross_entropy")
        params, costs = train(backend, arch, X, Y, init=init, learning_rate=0.1, epochs=2000, rng=seed)
        print(f"   {hidden:>7} + {init:<11}  cost {costs[0]:.4f} -> {costs[-1]:.4f}  "
              f"accuracy {accuracy(backend, arch, params, X, Y):.1%}")


if __name__ == "__main__":
    main()
