"""The L-layer network: a hand-worked step, initialisation, parity with NumPy, and bad input."""

from __future__ import annotations

import math

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


def on(backend, *arrays, dtype="float64"):
    return [backend.asarray(np.asarray(a, dtype=np.float64), dtype) for a in arrays]


def host(backend, pairs):
    return [tuple(backend.to_numpy(a) for a in pair) for pair in pairs]


def test_one_hand_worked_gradient_descent_step(backend):
    """2-layer net: one ReLU unit, then an identity output with mean squared error; m = 2, alpha = 0.1.

    X = [[1, 2],      W1 = [[0.5, -0.25]]  b1 = [[0.1]]     W2 = [[2.0]]  b2 = [[0.5]]
         [2, 0]]      Y  = [[1, 0]]
    Forward:
      Z1 = W1·X + b1 = [0.5·1 - 0.25·2 + 0.1,  0.5·2 - 0.25·0 + 0.1] = [0.1, 1.1];  A1 = relu(Z1) = [0.1, 1.1]
      Z2 = W2·A1 + b2 = [2·0.1 + 0.5, 2·1.1 + 0.5] = [0.7, 2.7];                   A2 = Z2
      J  = (1/2m) Σ (A2 - Y)² = ((0.7 - 1)² + (2.7 - 0)²) / 4 = (0.09 + 7.29) / 4 = 1.845
    Backward:
      dZ2 = (A2 - Y)/m = [-0.3/2, 2.7/2] = [-0.15, 1.35]
      dW2 = dZ2·A1ᵀ = -0.15·0.1 + 1.35·1.1 = -0.015 + 1.485 = 1.47;   db2 = -0.15 + 1.35 = 1.2
      dZ1 = W2ᵀ·dZ2 ∗ relu'(Z1) = [2·(-0.15), 2·1.35] ∗ [1, 1] = [-0.3, 2.7]
      dW1 = dZ1·Xᵀ = [-0.3·1 + 2.7·2, -0.3·2 + 2.7·0] = [5.1, -0.6];  db1 = -0.3 + 2.7 = 2.4
    Update, W -= 0.1·dW:
      W1 = [0.5 - 0.51, -0.25 + 0.06] = [-0.01, -0.19]    b1 = 0.1 - 0.24 = -0.14
      W2 = 2 - 0.147 = 1.853                              b2 = 0.5 - 0.12 = 0.38
    """
    xp = backend.xp
    arch = Architecture((2, 1, 1), ("relu", "identity"), "mean_squared_error")
    W1, b1, W2, b2, X, Y = on(backend, [[0.5, -0.25]], [[0.1]], [[2.0]], [[0.5]], [[1, 2], [2, 0]], [[1, 0]])
    params = [(W1, b1), (W2, b2)]

    cache = forward(xp, arch, params, X)
    np.testing.assert_allclose(backend.to_numpy(cache.Z[1]), [[0.1, 1.1]], atol=1e-15)
    np.testing.assert_allclose(backend.to_numpy(cache.A[2]), [[0.7, 2.7]], atol=1e-15)
    assert float(backend.to_numpy(compute_cost(xp, arch, cache, Y))) == pytest.approx(1.845, abs=1e-15)

    (dW1, db1), (dW2, db2) = host(backend, backward(xp, arch, params, cache, Y))
    np.testing.assert_allclose(dW2, [[1.47]], atol=1e-15)
    np.testing.assert_allclose(db2, [[1.2]], atol=1e-15)
    np.testing.assert_allclose(dW1, [[5.1, -0.6]], atol=1e-15)
    np.testing.assert_allclose(db1, [[2.4]], atol=1e-15)

    update(params, backward(xp, arch, params, cache, Y), 0.1)
    (W1, b1), (W2, b2) = host(backend, params)
    np.testing.assert_allclose(W1, [[-0.01, -0.19]], atol=1e-15)
    np.testing.assert_allclose(b1, [[-0.14]], atol=1e-15)
    np.testing.assert_allclose(W2, [[1.853]], atol=1e-15)
    np.testing.assert_allclose(b2, [[0.38]], atol=1e-15)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_init_shapes_and_dtype(backend, dtype):
    arch = Architecture.build([5, 4, 3, 2], loss="categorical_cross_entropy")
    params = init_parameters(arch, backend, dtype=dtype, rng=0)
    shapes = [(tuple(W.shape), tuple(b.shape)) for W, b in params]
    assert shapes == [((4, 5), (4, 1)), ((3, 4), (3, 1)), ((2, 3), (2, 1))]
    assert all(W.dtype == backend.dtype(dtype) and b.dtype == W.dtype for W, b in params)
    assert all(np.all(backend.to_numpy(b) == 0) for _, b in params)


def test_float32_is_the_default(backend):
    params = init_parameters(Architecture.build([2, 1]), backend, rng=0)
    assert params[0][0].dtype == backend.xp.float32


def test_same_seed_same_weights_on_every_backend(compared_backend, numpy_backend):
    arch = Architecture.build([6, 5, 1])
    for init in ("he", "xavier", "uniform_0_1"):
        expected = host(numpy_backend, init_parameters(arch, numpy_backend, init=init, rng=7))
        got = host(compared_backend, init_parameters(arch, compared_backend, init=init, rng=7))
        for (We, be), (Wg, bg) in zip(expected, got):
            np.testing.assert_array_equal(Wg, We)
            np.testing.assert_array_equal(bg, be)


def test_seed_determines_the_weights(numpy_backend):
    arch = Architecture.build([6, 5, 1])
    first, again, other = (init_parameters(arch, numpy_backend, rng=s)[0][0] for s in (1, 1, 2))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    generator = np.random.default_rng(3)
    assert not np.array_equal(*(init_parameters(arch, numpy_backend, rng=generator)[0][0] for _ in range(2)))


@pytest.mark.parametrize(
    "init, std",
    [("he", math.sqrt(2 / 400)), ("xavier", math.sqrt(2 / (400 + 300))), ("uniform_0_1", math.sqrt(1 / 12))],
)
def test_initializer_scales(numpy_backend, init, std):
    W, _ = init_parameters(Architecture.build([400, 300, 1]), numpy_backend, init=init, dtype="float64", rng=0)[0]
    assert W.std() == pytest.approx(std, rel=0.02)
    assert (W.min() >= 0) == (init == "uniform_0_1")


@pytest.mark.parametrize(
    "hidden, loss",
    [("relu", "categorical_cross_entropy"), ("sigmoid", "binary_cross_entropy"), ("tanh", "mean_squared_error")],
)
def test_every_step_agrees_with_numpy(compared_backend, numpy_backend, hidden, loss):
    """forward, cost, backward and update on this backend equal NumPy's within float32 tolerance."""
    arch = Architecture.build([6, 8, 5, 3], hidden=hidden, loss=loss)
    X, Y = random_problem(arch, 16, rng=4)
    results = {}
    for name, chosen in (("numpy", numpy_backend), ("here", compared_backend)):
        xp = chosen.xp
        params = init_parameters(arch, chosen, rng=4)
        Xd, Yd = chosen.asarray(X, "float32"), chosen.asarray(Y, "float32")
        cache = forward(xp, arch, params, Xd)
        grads = backward(xp, arch, params, cache, Yd)
        update(params, grads, 0.5)
        results[name] = (
            chosen.to_numpy(cache.A[arch.L]),
            float(chosen.to_numpy(compute_cost(xp, arch, cache, Yd))),
            host(chosen, grads),
            host(chosen, params),
        )
    (A_ref, cost_ref, grads_ref, params_ref), (A, cost, grads, params) = results["numpy"], results["here"]
    np.testing.assert_allclose(A, A_ref, rtol=1e-5, atol=1e-6)
    assert cost == pytest.approx(cost_ref, rel=1e-5)
    for got, want in zip(grads + params, grads_ref + params_ref):
        for g, w in zip(got, want):
            assert g.dtype == np.float32
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)


def test_update_is_in_place(numpy_backend):
    arch = Architecture.build([3, 2, 1])
    params = init_parameters(arch, numpy_backend, rng=0)
    W1 = params[0][0]
    before = W1.copy()
    X, Y = random_problem(arch, 4, rng=0)
    X, Y = X.astype(np.float32), Y.astype(np.float32)
    update(params, backward(np, arch, params, forward(np, arch, params, X), Y), 0.1)
    assert params[0][0] is W1 and not np.array_equal(W1, before)


@pytest.mark.parametrize("m, n_x", [(1, 3), (4, 1), (1, 1)])
def test_one_sample_and_one_feature(backend, m, n_x):
    xp = backend.xp
    arch = Architecture.build([n_x, 3, 1], hidden="tanh")
    params = init_parameters(arch, backend, rng=0)
    X, Y = random_problem(arch, m, rng=0)
    X, Y = on(backend, X, Y, dtype="float32")
    cache = forward(xp, arch, params, X)
    assert tuple(cache.A[2].shape) == (1, m)
    grads = backward(xp, arch, params, cache, Y)
    assert [tuple(dW.shape) for dW, _ in grads] == [(3, n_x), (1, 3)]


@pytest.mark.parametrize(
    "sizes, message",
    [
        ([], "at least two positive integers"),
        ([3], "at least two positive integers"),
        ([3, 0, 1], r"got \[3, 0, 1\]"),
        ([3, -2, 1], r"got \[3, -2, 1\]"),
        ([3, 2.5, 1], r"got \[3, 2.5, 1\]"),
        ([3, True, 1], r"got \[3, True, 1\]"),
    ],
)
def test_bad_layer_sizes(sizes, message):
    with pytest.raises(ValueError, match=message):
        Architecture(tuple(sizes), ("relu",) * max(len(sizes) - 1, 0), "binary_cross_entropy")


def test_architecture_activation_errors():
    with pytest.raises(ValueError, match="one activation per layer"):
        Architecture((3, 2, 1), ("sigmoid",), "binary_cross_entropy")
    with pytest.raises(ValueError, match="'softmax' can only be used on the output layer, not on layer 1"):
        Architecture((3, 2, 2), ("softmax", "softmax"), "categorical_cross_entropy")
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        Architecture.build([3, 2, 1], hidden="gelu")


def test_build_picks_the_output_activation_of_the_loss():
    assert Architecture.build([4, 3, 3], loss="categorical_cross_entropy").activations == ("relu", "softmax")
    assert Architecture.build([4, 1], loss="mean_squared_error").activations == ("identity",)
    assert Architecture.build([4, 3, 3, 1], hidden="tanh").L == 3


def test_bad_X_and_Y(backend):
    xp = backend.xp
    arch = Architecture.build([3, 2, 1])
    params = init_parameters(arch, backend, rng=0)
    with pytest.raises(ValueError, match=r"X must have shape \(n\[0\], m\) = \(3, m\).*got \(4, 3\)"):
        forward(xp, arch, params, backend.asarray(np.ones((4, 3)), "float32"))
    with pytest.raises(TypeError, match="X has dtype .*float64.* convert X with backend.asarray"):
        forward(xp, arch, params, backend.asarray(np.ones((3, 5)), "float64"))
    cache = forward(xp, arch, params, backend.asarray(np.ones((3, 5)), "float32"))
    with pytest.raises(ValueError, match=r"Y must have the shape of A\[L\]"):
        backward(xp, arch, params, cache, backend.asarray(np.ones((5, 1)), "float32"))
    with pytest.raises(TypeError, match="Y has dtype"):
        compute_cost(xp, arch, cache, backend.asarray(np.ones((1, 5)), "float64"))


@pytest.mark.parametrize("rate", [0, -0.1, float("nan"), float("inf"), "0.1", True, None])
def test_bad_learning_rate(numpy_backend, rate):
    params = init_parameters(Architecture.build([2, 1]), numpy_backend, rng=0)
    with pytest.raises(ValueError, match="learning_rate must be a positive finite number"):
        update(params, params, rate)


def test_unknown_initializer(numpy_backend):
    with pytest.raises(ValueError, match="unknown initializer 'zeros'; valid initializers are he, xavier"):
        init_parameters(Architecture.build([2, 1]), numpy_backend, init="zeros")
