"""What a training step and an epoch cost on the GPU, counted on the CuPy double: one kernel per dropout mask,
no host synchronisation in a step, validation in chunks that keep only the output layer, the memory pool kept
between predictions, CUDA events folded as they finish, a sparse X's batches picked on the host, and no mask
drawn for a rank's empty share of a batch."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import sparse
from sklearn.datasets import load_digits

from gpudeep import DeepClassifier, get_backend
from gpudeep.distributed import DataParallelStep, Group
from gpudeep.network import Architecture, init_parameters
from gpudeep.optim import Adam
from gpudeep.training import TrainingState, loop, train

X, y = load_digits(return_X_y=True)
X, y = X[:200] / 16.0, y[:200]
SETTINGS = {"hidden_layer_sizes": (16, 8), "max_iter": 2, "batch_size": 50, "random_state": 0, "dtype": "float64",
            "tol": 0, "n_iter_no_change": 100}


def fit(backend, X=X, **settings):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return DeepClassifier(**SETTINGS | settings, backend=backend).fit(X, y)


def test_a_dropout_mask_is_its_draw_and_one_kernel(double):
    fit(get_backend("cupy"), dropout=0.2)
    steps, hidden_layers = 2 * 4, 2
    assert double.launches.count("gpudeep__inverted_dropout_mask") == steps * hidden_layers


def test_training_steps_make_no_host_synchronisation(double):
    """Under cupyx.allow_synchronize(False) the steps run; only the epoch's one transfer synchronises."""
    import cupyx

    backend = get_backend("cupy")
    arch = Architecture.build((64, 16, 10), hidden="relu", loss="categorical_cross_entropy")
    state = TrainingState(arch, init_parameters(arch, backend, init="he", dtype="float32",
                                                rng=np.random.default_rng(0)), Adam(0.01), np.random.default_rng(0))
    X_gpu, Y_gpu = backend.asarray(X, "float32"), backend.asarray(np.eye(10)[y], "float32")
    run = {"batch_size": 32, "shuffle": True, "l2": 1e-4, "dropout": 0.1, "draw": backend.uniform(0),
           "score": DeepClassifier()._device_score, "step": loop.Step(), "sample_weight": None}
    with backend.on_device(), cupyx.allow_synchronize(False):
        costs, scores, shares = loop._run_epoch(backend, state, X_gpu, Y_gpu, **run)
        with pytest.raises(cupyx.DeviceSynchronized):
            backend.to_numpy(costs[0])  # the double does refuse a synchronisation here
    assert len(costs) == len(scores) == 7 and shares.sum() == pytest.approx(1.0)


def test_validation_runs_in_chunks_and_scores_as_one_pass(monkeypatch):
    backend = get_backend("numpy")
    unchunked = fit(backend, early_stopping=True)
    passes = []
    forward = loop.forward
    monkeypatch.setattr(loop, "forward", lambda xp, arch, params, X, *a, **k: passes.append(X.shape[1]) or forward(
        xp, arch, params, X, *a, **k))
    monkeypatch.setattr(loop, "VALIDATION_MEMORY_BYTES", 8 * 7 * (64 + 2 * (16 + 8 + 10)))  # 7 rows a chunk
    chunked = fit(backend, early_stopping=True)
    assert passes and max(passes) == 7 and sum(passes) == 2 * 20  # 20 held-out rows, two epochs
    np.testing.assert_allclose(chunked.validation_scores_, unchunked.validation_scores_, rtol=1e-12)
    np.testing.assert_allclose(chunked.history_["val_loss"], unchunked.history_["val_loss"], rtol=1e-12)


def test_predicting_in_chunks_keeps_the_memory_pool(double, monkeypatch):
    from gpudeep.estimators import predicting

    model = fit(get_backend("cupy"))
    monkeypatch.setattr(predicting, "PREDICT_MEMORY_BYTES", 8 * 30 * (64 + 2 * (16 + 8 + 10)))
    double.freed.clear()
    assert model.predict(X).shape == (200,) and double.freed == []


def test_the_stopwatch_folds_the_blocks_the_gpu_has_finished(double):
    stopwatch = get_backend("cupy").stopwatch()
    for _ in range(100):
        with stopwatch():
            pass
    assert len(stopwatch.pending) == 1 and stopwatch.seconds >= 0


def test_a_sparse_X_sends_its_batches_without_asking_the_device_for_their_rows(double):
    X_sparse = sparse.csr_array(np.where(X > 0.5, X, 0.0))
    model = fit(get_backend("cupy"), X_sparse)
    moved_back = [shape for direction, shape in double.explicit if direction == "to host"]
    assert (50,) not in moved_back, moved_back  # the loop holds the host's permutation
    dense = fit("numpy", X_sparse.toarray())
    np.testing.assert_allclose(model.predict_proba(X_sparse), dense.predict_proba(X_sparse.toarray()), rtol=1e-10)


class ThirdOfThree(Group):
    """Rank 2 of three, summing nothing (its gradients are what the other ranks would add)."""

    def __init__(self):
        super().__init__(comm=None, rank=2, size=3, local_rank=2, local_size=3)
        self._reduce = lambda buffer: buffer

    def sum_in_place(self, buffer) -> None:
        pass


def test_a_rank_whose_share_of_the_last_batch_is_empty_draws_no_mask(double, monkeypatch):
    """61 rows in batches of 20: the last batch has one row, so ranks 1 and 2 train on none of it."""
    backend = get_backend("cupy")
    drawn = []
    masks = loop.dropout_masks
    monkeypatch.setattr(loop, "dropout_masks", lambda b, draw, sizes, m, *a: drawn.append(m) or masks(
        b, draw, sizes, m, *a))
    arch = Architecture.build((64, 16, 10), hidden="relu", loss="categorical_cross_entropy")
    params = init_parameters(arch, backend, init="he", dtype="float64", rng=np.random.default_rng(0))
    state = TrainingState(arch, params, Adam(0.01), np.random.default_rng(0))
    with backend.on_device():
        train(backend, state, backend.asarray(X[:61]), backend.asarray(np.eye(10)[y[:61]]), epochs=1,
              batch_size=20, dropout=0.3, step=DataParallelStep(ThirdOfThree(), backend))
    assert drawn == [6, 6, 6] and state.step == 4
