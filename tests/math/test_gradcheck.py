"""Every analytic gradient agrees with central differences in float64, on every backend."""

from __future__ import annotations

import numpy as np
import pytest

from gpudeep import activations
from gpudeep.activations import ACTIVATIONS, Activation
from gpudeep.gradcheck import (
    GradientCheck,
    check_architecture,
    gradient_check,
    random_problem,
    relative_error,
)
from gpudeep.losses import LOSSES
from gpudeep.network import Architecture, backward, compute_cost, forward, init_parameters

HIDDEN = list(activations.HIDDEN)


@pytest.mark.parametrize("depth", [1, 2, 4])
@pytest.mark.parametrize("loss", list(LOSSES))
@pytest.mark.parametrize("hidden", HIDDEN)
def test_gradients_match_numerical(backend, hidden, loss, depth):
    sizes = [3] + [4] * (depth - 1) + [3]
    result = check_architecture(Architecture.build(sizes, hidden=hidden, loss=loss), backend, rng=depth)
    assert [name for name, _ in result.errors] == [f"d{p}[{l}]" for l in range(1, depth + 1) for p in "Wb"]
    assert result.max_error <= 1e-7, str(result)


def test_a_wrong_derivative_fails_the_check(backend, monkeypatch):
    """σ' written as σ(1 + σ) instead of σ(1 - σ): the check must catch it."""
    wrong = Activation("sigmoid", activations.sigmoid, lambda xp, dA, Z, A: dA * A * (1 + A))
    monkeypatch.setitem(ACTIVATIONS, "sigmoid", wrong)
    result = check_architecture(Architecture.build([3, 4, 4, 1], hidden="sigmoid"), backend, rng=0)
    assert not result.passed()
    assert result.max_error > 1e-2
    last_layer = dict(result.errors)
    assert last_layer["dW[3]"] < 1e-7  # the output layer's dZ[L] is fused and still right


def test_check_runs_in_float64_on_copies(numpy_backend):
    arch = Architecture.build([3, 2, 1], hidden="tanh")
    params = init_parameters(arch, numpy_backend, dtype="float32", rng=0)
    before = [W.copy() for W, _ in params]
    X, Y = random_problem(arch, 4, rng=0)
    result = gradient_check(numpy_backend, arch, params, X.astype(np.float32), Y.astype(np.float32))
    assert result.passed()
    assert all(np.array_equal(W, saved) and W.dtype == np.float32 for (W, _), saved in zip(params, before))


def test_report_and_relative_error():
    result = GradientCheck([("dW[1]", 1e-9), ("db[1]", 3e-8)])
    assert result.max_error == 3e-8 and result.passed() and not result.passed(1e-8)
    text = str(result)
    assert "dW[1]  1.000e-09" in text and "max  3.000e-08" in text
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(np.sqrt(2) / 2)


@pytest.mark.parametrize("hidden", ["sigmoid", "relu", "tanh"])
def test_l2_penalty_and_dropout_gradients(backend, hidden):
    """The L2 term and fixed inverted-dropout masks are part of the checked gradient."""
    arch = Architecture.build([3, 5, 4, 2], hidden=hidden, loss="categorical_cross_entropy")
    rng = np.random.default_rng(5)
    params = [(W, backend.asarray(rng.normal(0, 0.5, size=b.shape), "float64"))
              for W, b in init_parameters(arch, backend, dtype="float64", rng=rng)]
    X, Y = random_problem(arch, 6, rng)
    masks = [backend.asarray((rng.random((n, 6)) > 0.3) / 0.7, "float64") for n in (5, 4)]
    result = gradient_check(backend, arch, params, backend.asarray(X, "float64"), backend.asarray(Y, "float64"),
                            l2=0.7, masks=masks)
    assert result.max_error <= 1e-7, str(result)


@pytest.mark.parametrize("loss", list(LOSSES))
def test_sample_weight_gradients(backend, loss):
    """Sample weights s scale each sample's loss and dZ[L]: checked with L2 and dropout masks too."""
    arch = Architecture.build([3, 5, 4, 3], hidden="tanh", loss=loss)
    rng = np.random.default_rng(11)
    params = [(W, backend.asarray(rng.normal(0, 0.5, size=b.shape), "float64"))
              for W, b in init_parameters(arch, backend, dtype="float64", rng=rng)]
    X, Y = random_problem(arch, 6, rng)
    s = backend.asarray(rng.uniform(0.0, 3.0, size=(1, 6)), "float64")
    masks = [backend.asarray((rng.random((n, 6)) > 0.3) / 0.7, "float64") for n in (5, 4)]
    result = gradient_check(backend, arch, params, backend.asarray(X, "float64"), backend.asarray(Y, "float64"),
                            l2=0.3, masks=masks, s=s)
    assert result.max_error <= 1e-7, str(result)


def test_sample_weights_of_one_change_nothing_and_a_zero_weight_drops_a_sample(numpy_backend):
    xp = numpy_backend.xp
    arch = Architecture.build([3, 4, 3], hidden="relu", loss="categorical_cross_entropy")
    params = init_parameters(arch, numpy_backend, dtype="float64", rng=0)
    X, Y = random_problem(arch, 5, rng=1)
    cache = forward(xp, arch, params, X)
    ones = np.ones((1, 5))
    assert compute_cost(xp, arch, cache, Y, ones) == compute_cost(xp, arch, cache, Y)
    weighted = backward(xp, arch, params, cache, Y, 0, ones)
    for (dW, db), (dW1, db1) in zip(backward(xp, arch, params, cache, Y), weighted):
        assert np.array_equal(dW, dW1) and np.array_equal(db, db1)
    dropped = np.array([[1.0, 1.0, 1.0, 1.0, 0.0]])
    first_four = forward(xp, arch, params, X[:, :4])
    assert compute_cost(xp, arch, cache, Y, dropped) == pytest.approx(
        float(compute_cost(xp, arch, first_four, Y[:, :4])) * 4 / 5, rel=1e-14)
