"""TF32 for float32 products: switched only when asked, the previous setting restored on leaving; on a GPU,
products round to TF32 inside the block only."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from gpudeep import DeepClassifier
from gpudeep.backends import Backend, get_backend
from gpudeep.datasets import load_dataset, split


def product_error(backend, A, B) -> float:
    """Largest relative error of the float32 product A·B against the float64 one."""
    exact = A @ B
    result = backend.to_numpy(backend.asarray(A, "float32") @ backend.asarray(B, "float32"))
    return float(np.max(np.abs(result - exact)) / np.max(np.abs(exact)))


def recording_backend(calls):
    """The numpy backend with a TF32 switch that records what it is asked to do."""
    class Recording(Backend):
        def _set_tf32(self, enabled):
            calls.append(("set", enabled))
            return "user's"

        def _restore_tf32(self, previous):
            calls.append(("restore", previous))

    return Recording("numpy", np, "cpu", "CPU", "test")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(("tf32", "expected"), [
    (None, []),  # the default leaves the user's CUPY_TF32 alone, in fit and in predict
    (True, [("set", True), ("restore", "user's")] * 2),
    (False, [("set", False), ("restore", "user's")] * 2),
])
def test_the_estimators_switch_tf32_only_when_asked_and_restore_the_users_choice(tf32, expected):
    X, y, _ = load_dataset("iris")
    calls = []
    DeepClassifier((4,), max_iter=1, random_state=0, tf32=tf32, backend=recording_backend(calls)).fit(X, y).predict(X)
    assert calls == expected


KEEPS_CUPY_TF32 = """
import numpy as np
from cupy._core import _routines_linalg as linalg
import cupy
from gpudeep import DeepClassifier, get_backend
backend = get_backend("cupy")
X = np.random.default_rng(0).normal(size=(64, 8)); y = (X[:, 0] > 0).astype(int)
seen = [linalg.get_compute_type(cupy.float32)]
with backend.allow_tf32(False):
    seen.append(linalg.get_compute_type(cupy.float32))
seen.append(linalg.get_compute_type(cupy.float32))
DeepClassifier((8,), max_iter=2, backend="cupy").fit(X, y)
seen.append(linalg.get_compute_type(cupy.float32))
print(seen == [linalg.COMPUTE_TYPE_TF32, linalg.COMPUTE_TYPE_DEFAULT, linalg.COMPUTE_TYPE_TF32,
               linalg.COMPUTE_TYPE_TF32], seen)
"""


@pytest.mark.gpu
def test_a_users_cupy_tf32_survives_the_switch_and_a_default_fit():
    result = subprocess.run([sys.executable, "-c", KEEPS_CUPY_TF32], capture_output=True, text=True, check=False,
                            env={**os.environ, "CUPY_TF32": "1"}, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("True"), result.stdout


@pytest.mark.gpu
def test_tf32_rounds_the_factors_inside_the_block_only():
    """An H100/H200 product with TF32 keeps ~10 bits (error ~1e-3); without, float32's ~1e-6 comes back."""
    backend = get_backend("cupy")
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(512, 512)), rng.normal(size=(512, 512))
    before = product_error(backend, A, B)
    with backend.allow_tf32():
        within = product_error(backend, A, B)
        with backend.allow_tf32(False):
            nested = product_error(backend, A, B)
    after = product_error(backend, A, B)
    assert before < 1e-5 and nested < 1e-5 and after < 1e-5
    assert within > 1e-4  # TF32's 10-bit mantissa


@pytest.mark.gpu
def test_a_tf32_model_trains_as_well():
    X, y, task = load_dataset("digits")
    X_train, X_test, y_train, y_test = split(X, y, task, seed=0)
    model = DeepClassifier((256, 128), max_iter=30, random_state=0, standardize=True, tf32=True, backend="cupy")
    assert model.fit(X_train, y_train).score(X_test, y_test) >= 0.96
