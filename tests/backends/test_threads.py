"""BLAS threads per problem size: the policy, its override, and that the loop and predict apply it."""

from __future__ import annotations

import contextlib

import pytest
from sklearn.datasets import make_classification
from threadpoolctl import threadpool_info

from gpudeep import DeepClassifier, threads
from gpudeep.network import Architecture

MNIST = Architecture.build([784, 256, 128, 10], hidden="relu", loss="categorical_cross_entropy")


@pytest.fixture
def eight_cores(monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 8)
    monkeypatch.setattr(threads, "configured", lambda: 8)


def test_small_steps_run_on_one_thread_and_large_ones_on_more(eight_cores):
    assert threads.choose(MNIST.step_flops(128)) == 1  # 0.18 GFLOP
    assert threads.choose(MNIST.step_flops(1024)) == 2  # 1.4 GFLOP: one thread per WORK_PER_THREAD
    assert threads.choose(MNIST.step_flops(1 << 20)) == 8  # never more than the cores


def test_blas_configured_for_fewer_threads_caps_the_choice(monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 8)
    monkeypatch.setattr(threads, "configured", lambda: 3)  # OPENBLAS_NUM_THREADS=3, or an MPI rank's share
    assert threads.choose(1e15) == 3


@pytest.mark.parametrize("n_jobs, expected", [(1, 1), (3, 3), (16, 16), (-1, 8), (-2, 7), (-100, 1)])
def test_n_jobs_overrides_the_choice(eight_cores, n_jobs, expected):
    assert threads.choose(1.0, n_jobs) == expected


@pytest.mark.parametrize("n_jobs", [0, True, 1.5, "2"])
def test_bad_n_jobs_is_refused(n_jobs):
    with pytest.raises(ValueError, match=r"n_jobs must be None .* got"):
        threads.choose(1.0, n_jobs)


def blas_threads() -> list[int]:
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


def test_limit_sets_the_blas_pool_and_restores_it():
    before = blas_threads()
    if not before:
        pytest.skip("threadpoolctl finds no BLAS library in this NumPy")
    with threads.limit(1):
        assert blas_threads() == [1] * len(before)
    assert blas_threads() == before


@pytest.fixture
def recorded_limits(monkeypatch):
    """The thread counts the library asks for, in order."""
    counts = []

    @contextlib.contextmanager
    def recording(count):
        counts.append(count)
        yield

    monkeypatch.setattr(threads, "limit", recording)
    return counts


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fit_and_predict_size_their_threads(recorded_limits, monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 8)
    monkeypatch.setattr(threads, "configured", lambda: 8)
    X, y = make_classification(n_samples=64, n_features=6, random_state=0)
    model = DeepClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0, backend="numpy").fit(X, y)
    model.predict(X)
    assert recorded_limits == [1, 1]  # a tiny net: one thread for the steps and for the forward pass
    model.set_params(n_jobs=-1).fit(X, y)
    model.predict(X)
    assert recorded_limits[2:] == [8, 8]


def test_the_gpu_leaves_the_host_blas_alone(recorded_limits, numpy_backend, monkeypatch):
    monkeypatch.setattr(type(numpy_backend), "on_gpu", property(lambda self: True))
    with numpy_backend.blas_threads(1e12):
        pass
    assert recorded_limits == []
