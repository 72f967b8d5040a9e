"""Optimizers against their formulas, schedules, and dropout masks."""

from __future__ import annotations

import numpy as np
import pytest

from gpudeep.gradcheck import random_problem
from gpudeep.network import (
    Architecture,
    backward,
    compute_cost,
    forward,
    init_parameters,
    update,
)
from gpudeep.optim import (
    SCHEDULES,
    SGD,
    Adam,
    RMSProp,
    dropout_masks,
)


def problem(backend, loss="categorical_cross_entropy", dtype="float64"):
    arch = Architecture.build([4, 6, 3], hidden="tanh", loss=loss)
    X, Y = random_problem(arch, 32, rng=1)
    return arch, backend.asarray(X, dtype), backend.asarray(Y, dtype)


def cost_of(backend, arch, params, X, Y):
    return float(backend.to_numpy(compute_cost(backend.xp, arch, forward(backend.xp, arch, params, X), Y)))


@pytest.mark.parametrize(
    "make",
    [
        lambda: SGD(0.5),
        lambda: SGD(0.2, momentum=0.9),
        lambda: SGD(0.2, momentum=0.9, nesterov=True),
        lambda: RMSProp(0.01),
        lambda: Adam(0.01),
    ],
    ids=["sgd", "momentum", "nesterov", "rmsprop", "adam"],
)
def test_every_optimizer_reduces_the_loss(backend, make):
    xp, optimizer = backend.xp, make()
    arch, X, Y = problem(backend)
    params = init_parameters(arch, backend, dtype="float64", rng=0)
    before = cost_of(backend, arch, params, X, Y)
    for _ in range(50):
        optimizer.step(xp, params, backward(xp, arch, params, forward(xp, arch, params, X), Y))
    assert cost_of(backend, arch, params, X, Y) < 0.8 * before


def test_plain_sgd_is_the_gradient_descent_update(numpy_backend):
    arch, X, Y = problem(numpy_backend)
    by_update = init_parameters(arch, numpy_backend, dtype="float64", rng=0)
    by_sgd = init_parameters(arch, numpy_backend, dtype="float64", rng=0)
    for _ in range(3):
        update(by_update, backward(np, arch, by_update, forward(np, arch, by_update, X), Y), 0.3)
        SGD(0.3).step(np, by_sgd, backward(np, arch, by_sgd, forward(np, arch, by_sgd, X), Y))
    for (W1, b1), (W2, b2) in zip(by_update, by_sgd):
        np.testing.assert_array_equal(W1, W2)
        np.testing.assert_array_equal(b1, b2)


def run_steps(optimizer, gradients, start=1.0):
    """Apply ``optimizer`` to a single 1×1 parameter with the given gradient sequence."""
    W, b = np.array([[start]]), np.array([[0.0]])
    for g in gradients:
        optimizer.step(np, [(W, b)], [(np.array([[g]]), np.array([[0.0]]))])
    return W[0, 0]


def test_momentum_and_nesterov_two_hand_worked_steps():
    # α = 0.1, μ = 0.9, w = 1, gradients 1 then -2.
    # Momentum: v = -0.1·1 = -0.1, w = 0.9; v = 0.9·(-0.1) - 0.1·(-2) = 0.11, w = 1.01.
    # Nesterov: the same v; w += μ·v - α·g: 1 - 0.09 - 0.1 = 0.81, then 0.81 + 0.099 + 0.2 = 1.109.
    assert run_steps(SGD(0.1, momentum=0.9), [1.0, -2.0]) == pytest.approx(1.01, abs=1e-15)
    assert run_steps(SGD(0.1, momentum=0.9, nesterov=True), [1.0, -2.0]) == pytest.approx(1.109, abs=1e-15)


def test_adam_and_rmsprop_two_hand_worked_steps():
    # Adam, α = 0.1, β1 = 0.9, β2 = 0.999, ε = 1e-8, w = 1, gradients 1 then -2.
    # t = 1: m = 0.1, v = 0.001; m̂ = 0.1/0.1 = 1, v̂ = 0.001/0.001 = 1; w = 1 - 0.1·1/(1 + 1e-8) = 0.900000001.
    # t = 2: m = 0.09 - 0.2 = -0.11, v = 0.000999 + 0.004 = 0.004999; m̂ = -0.11/0.19 = -0.578947368...,
    #        v̂ = 0.004999/0.001999 = 2.500750375..., √v̂ = 1.581376101...;
    #        w = 0.900000001 + 0.1·0.578947368.../1.581376101... = 0.900000001 + 0.036610352... = 0.936610353...
    assert run_steps(Adam(0.1), [1.0, -2.0]) == pytest.approx(0.9366103534720749, abs=1e-12)
    # RMSProp, α = 0.1, ρ = 0.9, ε = 1e-8: s = 0.1, w = 1 - 0.1/√0.1 = 0.683772243...;
    # s = 0.09 + 0.4 = 0.49, w = 0.683772243... + 0.2/0.7 = 0.969486525...
    assert run_steps(RMSProp(0.1), [1.0, -2.0]) == pytest.approx(0.9694865256158148, abs=1e-12)


def test_adam_first_step_moves_each_weight_by_the_learning_rate():
    assert run_steps(Adam(0.01), [123.0]) == pytest.approx(1.0 - 0.01, abs=1e-9)


def test_state_stays_on_the_backend(backend):
    arch, X, Y = problem(backend, dtype="float32")
    params = init_parameters(arch, backend, rng=0)
    optimizer = Adam()
    optimizer.step(backend.xp, params, backward(backend.xp, arch, params, forward(backend.xp, arch, params, X), Y))
    first_moment, = optimizer.state["first_moment"]  # one buffer, for all the parameters
    assert type(first_moment) is type(params[0][0]) and first_moment.dtype == backend.xp.float32
    assert first_moment.shape == params.flat.shape


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: SGD(0), "learning_rate must be a number in"),
        (lambda: SGD(float("nan")), "learning_rate"),
        (lambda: SGD(0.1, momentum=1.0), r"momentum must be a number in \[0.0, 1.0\), got 1.0"),
        (lambda: Adam(beta_1=-0.1), "beta_1"),
        (lambda: RMSProp(rho=2), "rho"),
    ],
)
def test_bad_settings(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_schedules():
    assert [SCHEDULES.get("constant")(0.1)(e, 100 * e) for e in (0, 5)] == [0.1, 0.1]
    step = SCHEDULES.get("step")(0.1)
    assert step(0, 0) == step(9, 0) == 0.1
    assert step(10, 0) == pytest.approx(0.05) and step(25, 0) == pytest.approx(0.025)
    exponential = SCHEDULES.get("exponential")(0.1)
    assert exponential(2, 0) == pytest.approx(0.1 * 0.95**2)
    invscaling = SCHEDULES.get("invscaling")(0.1, power_t=0.25)  # scikit-learn's: after t samples, α0 / (t + 1)^p
    assert invscaling(1, 8) == pytest.approx(0.1 / 9**0.25) and invscaling(0, 0) == 0.1
    assert SCHEDULES.get("adaptive")(0.1) is None  # the stopping rule changes the rate, not the epoch count


def test_dropout_masks(backend):
    draw = backend.uniform(seed=3)
    masks = dropout_masks(backend, draw, (5, 200, 300, 2), 400, 0.25, "float32")
    assert [tuple(D.shape) for D in masks] == [(200, 400), (300, 400)]
    for D in masks:
        values = backend.to_numpy(D)
        assert values.dtype == np.float32
        assert set(np.unique(values)) <= {0.0, np.float32(1 / 0.75)}
        assert values.mean() == pytest.approx(1.0, abs=0.02)  # inverted dropout keeps the expectation


@pytest.mark.parametrize(("make", "left"), [
    (lambda: SGD(0.5), 0.5),  # documented: plain SGD scales the gradients in place, α·dW
    (lambda: SGD(0.5, momentum=0.9), 1.0), (lambda: RMSProp(0.5), 1.0), (lambda: Adam(0.5), 1.0),
])
def test_what_a_step_leaves_in_the_gradients_is_what_the_docs_say(make, left):
    W, b, dW, db = np.ones((2, 3)), np.ones((2, 1)), np.full((2, 3), 2.0), np.full((2, 1), 2.0)
    make().step(np, [(W, b)], [(dW, db)])
    np.testing.assert_array_equal(dW, 2.0 * left)
    np.testing.assert_array_equal(db, 2.0 * left)
