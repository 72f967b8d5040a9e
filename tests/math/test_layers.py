"""Each layer type's backward against central differences (float64), and batch normalization's running
statistics: what predictions use, what a model file keeps."""

from __future__ import annotations

import numpy as np
import pytest

from gpudeep import Architecture, DeepClassifier, forward, init_parameters, load, save
from gpudeep.gradcheck import check_architecture, gradient_check, random_problem


@pytest.mark.parametrize("hidden", ["relu", "tanh", "sigmoid", "leaky_relu"])
@pytest.mark.parametrize("loss", ["binary_cross_entropy", "categorical_cross_entropy", "mean_squared_error", "poisson"])
def test_batch_norm_backward_matches_central_differences(backend, hidden, loss):
    arch = Architecture.build((4, 6, 5, 3), hidden=hidden, loss=loss, batch_norm=True)
    assert [layer.kind for layer in arch.layers] == ["batch_norm", "batch_norm", "dense"]
    result = check_architecture(arch, backend, m=7, rng=0)
    assert result.passed(1e-6), result
    assert [name for name, _ in result.errors] == ["dW[1]", "dgamma[1]", "dbeta[1]", "dW[2]", "dgamma[2]",
                                                   "dbeta[2]", "dW[3]", "db[3]"]


def test_batch_norm_backward_with_l2_dropout_and_sample_weights(numpy_backend):
    backend, rng = numpy_backend, np.random.default_rng(1)
    arch = Architecture.build((3, 5, 2), hidden="relu", loss="categorical_cross_entropy", batch_norm=True)
    params = init_parameters(arch, backend, dtype="float64", rng=rng)
    X, Y = (backend.asarray(a, "float64") for a in random_problem(arch, 6, rng))
    masks = [backend.asarray((rng.random((5, 6)) < 0.7) / 0.7, "float64")]
    s = backend.asarray(rng.uniform(0.5, 2.0, (1, 6)), "float64")
    assert gradient_check(backend, arch, params, X, Y, l2=0.3, masks=masks, s=s).passed(1e-6)


def test_a_training_pass_normalises_over_the_batch_and_moves_the_running_statistics(numpy_backend):
    backend = numpy_backend
    arch = Architecture.build((3, 4, 1), hidden="identity", batch_norm=True)
    params = init_parameters(arch, backend, dtype="float64", rng=0)
    X = np.random.default_rng(0).normal(3.0, 2.0, (3, 50))
    Z1 = forward(np, arch, params, X, training=True).Z[1]
    np.testing.assert_allclose(Z1.mean(axis=1), 0.0, atol=1e-12)  # γ = 1, β = 0 at the start
    np.testing.assert_allclose(Z1.var(axis=1), 1.0, rtol=1e-3)  # ε = 1e-5 keeps it just under 1
    U = params[0][0] @ X
    running_mean, running_var = params.running[0]
    np.testing.assert_allclose(running_mean[:, 0], 0.1 * U.mean(axis=1))
    np.testing.assert_allclose(running_var[:, 0], 0.9 + 0.1 * U.var(axis=1, ddof=1))
    before = params.running_flat.copy()
    forward(np, arch, params, X)  # predicting: the running statistics are used, not moved
    np.testing.assert_array_equal(params.running_flat, before)


def test_a_batch_normalised_model_file_keeps_its_running_statistics(tmp_path):
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    model = DeepClassifier((16, 8), batch_norm=True, learning_rate_init=0.01, max_iter=120, random_state=0,
                           backend="numpy").fit(X, y)
    assert model.score(X, y) > 0.9
    running = model.state_.params.running_named()
    assert sorted(running) == ["running_mean1", "running_mean2", "running_var1", "running_var2"]
    assert not np.allclose(running["running_mean1"], 0.0)
    loaded = load(save(model, tmp_path / "model.npz"))
    assert loaded.batch_norm and loaded.state_.arch.batch_norm
    np.testing.assert_array_equal(loaded.state_.params.running_flat, model.state_.params.running_flat)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_a_list_of_pairs_cannot_hold_running_statistics(numpy_backend):
    arch = Architecture.build((3, 4, 1), batch_norm=True)
    params = [tuple(p) for p in init_parameters(arch, numpy_backend, rng=0)]
    with pytest.raises(TypeError, match="make its parameters with init_parameters"):
        forward(np, arch, params, np.zeros((3, 2), np.float32))


def test_a_model_file_written_before_the_parameter_buffer_loads_and_predicts_the_same():
    """tests/files/before_buffers_classifier.npz was written by gpudeep before parameters lived in one
    buffer (format 1, W1 b1 W2 b2 as separate arrays), with its predictions on the first 10 iris rows."""
    from pathlib import Path

    from sklearn.datasets import load_iris

    files = Path(__file__).parents[1] / "files"
    model = load(files / "before_buffers_classifier.npz", backend="numpy")
    assert not model.batch_norm and [layer.kind for layer in model.state_.arch.layers] == ["dense", "dense"]
    X, _ = load_iris(return_X_y=True)
    np.testing.assert_array_equal(model.predict_proba(X[:10]), np.load(files / "before_buffers_classifier_proba.npy"))


def test_a_training_steps_gradients_are_written_into_the_buffer_without_a_temporary():
    """On NumPy, dW[l] = dZ[l]·A[l-1]ᵀ goes straight into the gradient buffer's view (matmul's ``out=``):
    a backward pass allocates nothing the size of W[1] (784 × 256 float32, 784 KiB)."""
    import tracemalloc

    from gpudeep import backward, get_backend

    backend = get_backend("numpy")
    arch = Architecture.build((784, 256, 128, 10), loss="categorical_cross_entropy")
    params = init_parameters(arch, backend, rng=0)
    rng = np.random.default_rng(0)
    X = rng.random((784, 8), dtype=np.float32)
    Y = np.eye(10, dtype=np.float32)[:, rng.integers(10, size=8)]
    grads = params.grads()
    cache = forward(np, arch, params, X, training=True)
    tracemalloc.start()
    backward(np, arch, params, cache, Y, out=grads)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 784 * 256 * 4 // 2, peak
    expected = backward(np, arch, [tuple(p) for p in params], cache, Y)  # a list of pairs: assigned, not written into
    for mine, theirs in zip(grads, expected):
        for a, b in zip(mine, theirs):
            np.testing.assert_array_equal(a, b)
