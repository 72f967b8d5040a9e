"""Each activation against a NumPy reference, and each backward step against central differences."""

from __future__ import annotations

import numpy as np
import pytest
from properties import arrays, given, settings, st

from gpudeep.activations import ACTIVATIONS, sigmoid, softmax

REFERENCE = {
    "sigmoid": lambda Z: 1 / (1 + np.exp(-Z)),
    "relu": lambda Z: np.maximum(Z, 0),
    "leaky_relu": lambda Z: np.where(Z > 0, Z, 0.01 * Z),
    "tanh": np.tanh,
    "identity": lambda Z: Z,
    "softmax": lambda Z: np.exp(Z) / np.exp(Z).sum(axis=0, keepdims=True),
    "exp": np.exp,
}
HIDDEN = [name for name, g in ACTIVATIONS.items() if g.backward is not None]  # independent of activations.HIDDEN


def sample_Z(rng=0, shape=(4, 7)):
    Z = np.random.default_rng(rng).normal(0, 3, size=shape)
    Z[Z == 0] = 0.5  # keep away from the ReLU kink
    return Z


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_forward_matches_reference(backend, name):
    Z = sample_Z()
    A = ACTIVATIONS.get(name).forward(backend.xp, backend.asarray(Z, "float64"))
    np.testing.assert_allclose(backend.to_numpy(A), REFERENCE[name](Z), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_float32_stays_float32(backend, name):
    Z = backend.asarray(sample_Z(), "float32")
    g = ACTIVATIONS.get(name)
    A = g.forward(backend.xp, Z)
    assert A.dtype == backend.xp.float32
    if g.hidden_ok:
        assert g.backward(backend.xp, A, Z, A).dtype == backend.xp.float32


@pytest.mark.parametrize("name", HIDDEN)
def test_backward_matches_central_differences(backend, name):
    """dZ = dA ∗ g'(Z) against dA ∗ (g(Z + ε) - g(Z - ε)) / 2ε, for a random upstream dA."""
    xp, g, eps = backend.xp, ACTIVATIONS.get(name), 1e-6
    Z, dA = sample_Z(), np.random.default_rng(1).normal(size=(4, 7))
    A = g.forward(xp, backend.asarray(Z, "float64"))
    analytic = backend.to_numpy(g.backward(xp, backend.asarray(dA, "float64"), backend.asarray(Z, "float64"), A))
    plus = backend.to_numpy(g.forward(xp, backend.asarray(Z + eps, "float64")))
    minus = backend.to_numpy(g.forward(xp, backend.asarray(Z - eps, "float64")))
    np.testing.assert_allclose(analytic, dA * (plus - minus) / (2 * eps), rtol=1e-6, atol=1e-9)


def test_sigmoid_is_stable_at_huge_logits(backend):
    Z = backend.asarray([[-1e4, -800.0, -50.0, 0.0, 50.0, 800.0, 1e4]], "float32")
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow warning on the numpy backend either
        A = backend.to_numpy(sigmoid(backend.xp, Z))
    assert np.all(np.isfinite(A))
    np.testing.assert_allclose(A[0, [0, 3, 6]], [0.0, 0.5, 1.0])


@pytest.mark.parametrize(("dtype", "lowest", "ulps"), [("float64", -708.0, 4), ("float32", -87.0, 4)])
def test_sigmoid_keeps_its_relative_precision_in_both_tails(backend, dtype, lowest, ulps):
    """Against SciPy's expit (an independent implementation) from where σ is a normal float up to where it is 1:
    σ(-40) is 4.2e-18, not 0, and σ(30) is 1 - 9.4e-14, not 1."""
    from scipy.special import expit

    Z = np.concatenate([np.linspace(lowest, -1.0, 400), np.linspace(-1.0, 1.0, 41), np.linspace(1.0, 40.0, 200)])
    Z = Z.astype(dtype)
    A = backend.to_numpy(sigmoid(backend.xp, backend.asarray(Z[None, :], dtype)))[0]
    expected = expit(Z.astype(np.float64))
    relative = np.abs(A.astype(np.float64) - expected) / expected
    assert np.max(relative) <= ulps * np.finfo(dtype).eps, Z[np.argmax(relative)]
    if dtype == "float64":
        assert A[np.argmin(np.abs(Z + 40))] > 0 and A[np.argmin(np.abs(Z - 30))] < 1  # no tail rounds off


def test_softmax_is_stable_at_huge_logits(backend):
    Z = backend.asarray([[1e4, -1e4], [0.0, -1e4], [-1e4, -1e4]], "float32")
    A = backend.to_numpy(softmax(backend.xp, Z))
    np.testing.assert_allclose(A, [[1.0, 1 / 3], [0.0, 1 / 3], [0.0, 1 / 3]], atol=1e-7)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, (3, 5), elements=st.floats(-1e4, 1e4)))
def test_stable_primitives_never_return_nan_or_inf(Z):
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        for name in ("sigmoid", "softmax", "tanh"):
            assert np.all(np.isfinite(ACTIVATIONS.get(name).forward(np, Z)))
        columns = softmax(np, Z).sum(axis=0)
    np.testing.assert_allclose(columns, 1.0, rtol=1e-12)
