"""Costs against NumPy references, their numerics at the extremes, and the activation/loss pairing."""

from __future__ import annotations

import numpy as np
import pytest
from properties import arrays, given, settings, st

from gpudeep.activations import ACTIVATIONS
from gpudeep.losses import LOSSES, check_pair, output_delta
from gpudeep.network import Architecture, backward, compute_cost, forward


def naive_cost(name, Z, Y):
    """The textbook formulas on rounded probabilities: fine for moderate logits only."""
    m = Y.shape[1]
    if name == "binary_cross_entropy":
        A = 1 / (1 + np.exp(-Z))
        return -np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A)) / m
    if name == "categorical_cross_entropy":
        A = np.exp(Z) / np.exp(Z).sum(axis=0, keepdims=True)
        return -np.sum(Y * np.log(A)) / m
    if name == "poisson":  # half the deviance, Σ y·log(y/μ) - y + μ, as scipy.special.xlogy writes it
        from scipy.special import xlogy

        mu = np.exp(Z)
        return np.sum(xlogy(Y, Y / mu) - Y + mu) / m
    return np.sum((Z - Y) ** 2) / (2 * m)


def targets(name, rng, shape):
    if name == "categorical_cross_entropy":
        return np.eye(shape[0])[:, rng.integers(0, shape[0], size=shape[1])]
    if name == "binary_cross_entropy":
        return rng.integers(0, 2, size=shape).astype(np.float64)
    if name == "poisson":
        return rng.poisson(1.5, size=shape).astype(np.float64)
    return rng.normal(size=shape)


def evaluate(backend, name, Z, Y, dtype="float64"):
    loss = LOSSES.get(name)
    xp = backend.xp
    ZL, Yd = backend.asarray(Z, dtype), backend.asarray(Y, dtype)
    AL = ACTIVATIONS.get(loss.output_activation).forward(xp, ZL)
    cost = backend.to_numpy(loss.cost(xp, ZL, AL, Yd))
    return float(cost), backend.to_numpy(output_delta(xp, AL, Yd))


@pytest.mark.parametrize("name", list(LOSSES))
def test_cost_matches_textbook_formula(backend, name):
    rng = np.random.default_rng(1)
    Z = rng.normal(0, 2, size=(3, 6))
    Y = targets(name, rng, Z.shape)
    cost, _ = evaluate(backend, name, Z, Y)
    assert cost == pytest.approx(naive_cost(name, Z, Y), rel=1e-12)


@pytest.mark.parametrize("name", list(LOSSES))
def test_cost_is_a_0d_array_of_the_input_dtype(backend, name):
    loss, xp = LOSSES.get(name), backend.xp
    Z = backend.asarray(np.zeros((2, 3)), "float32")
    A = ACTIVATIONS.get(loss.output_activation).forward(xp, Z)
    cost = loss.cost(xp, Z, A, backend.asarray(np.eye(2)[:, [0, 1, 0]], "float32"))
    assert cost.shape == () and cost.dtype == xp.float32


@pytest.mark.parametrize("name", ["binary_cross_entropy", "categorical_cross_entropy"])
def test_huge_logits_give_finite_cost_and_gradient(backend, name):
    """Logits of ±1e4 round the probabilities to exactly 0 and 1 in float32; the cost stays finite."""
    Z = np.array([[1e4, -1e4, 1e4], [-1e4, 1e4, -1e4]])
    right = (Z > 0).astype(np.float64)  # labels the network is sure of: cost 0
    wrong = 1 - right  # labels it is sure against: each sample costs |1e4 - (-1e4)| = 2e4, finite
    for Y, expected in ((right, 0.0), (wrong, 2e4)):
        cost, dZ = evaluate(backend, name, Z, Y, "float32")
        assert np.isfinite(cost) and np.all(np.isfinite(dZ))
        assert cost == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_huge_logits_through_a_network(backend):
    """A network driven to ±1e4 logits still gives finite costs and gradients for every layer."""
    xp = backend.xp
    arch = Architecture.build([2, 3, 1], hidden="relu", loss="binary_cross_entropy")
    W1 = backend.asarray([[1e2, 0.0], [0.0, 1e2], [1.0, 1.0]], "float32")
    W2 = backend.asarray([[1.0, -1.0, 0.0]], "float32")
    params = [(W1, backend.asarray(np.zeros((3, 1)), "float32")), (W2, backend.asarray([[0.0]], "float32"))]
    X = backend.asarray([[100.0, 0.0], [0.0, 100.0]], "float32")  # logits +1e4 and -1e4
    Y = backend.asarray([[0.0, 1.0]], "float32")  # both wrong
    cache = forward(xp, arch, params, X)
    cost = float(backend.to_numpy(compute_cost(xp, arch, cache, Y)))
    assert cost == pytest.approx(1e4)
    for dW, db in backward(xp, arch, params, cache, Y):
        assert np.all(np.isfinite(backend.to_numpy(dW))) and np.all(np.isfinite(backend.to_numpy(db)))


@settings(max_examples=80, deadline=None)
@given(
    st.sampled_from(list(LOSSES)),
    arrays(np.float64, (3, 4), elements=st.floats(-1e4, 1e4)),
    st.integers(0, 2**32 - 1),
)
def test_losses_are_finite_and_nonnegative(name, Z, seed):
    from gpudeep.backends import get_backend

    Y = targets(name, np.random.default_rng(seed), Z.shape)
    if name == "mean_squared_error":
        Y = Y * 1e3
    if name == "poisson":  # rates e^Z: finite for logits up to about 709 in float64, as any exp link's
        Z = Z / 20
    cost, dZ = evaluate(get_backend("numpy"), name, Z, Y)
    assert np.isfinite(cost) and cost >= 0 and np.all(np.isfinite(dZ))


@pytest.mark.parametrize(
    "output, name",
    [("softmax", "binary_cross_entropy"), ("sigmoid", "categorical_cross_entropy"), ("relu", "mean_squared_error")],
)
def test_mismatched_pair_is_an_error(output, name):
    with pytest.raises(ValueError, match=f"loss '{name}' needs the output activation"):
        check_pair(output, LOSSES.get(name))
    with pytest.raises(ValueError, match="needs the output activation"):
        Architecture((3, 2), (output,), name)
