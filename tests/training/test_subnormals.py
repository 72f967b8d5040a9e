"""Subnormal floats: weights of inputs that are always zero decay into them under Adam and the L2 term, and
the CPU then computes many times slower. Training runs with them flushed to zero (``gpudeep.subnormals``);
these tests guard that without timing anything: no subnormal is left in the parameters or the optimizer's
state after a fit that makes them, and the mode is this thread's during the math only."""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from gpudeep import DeepClassifier, subnormals
from gpudeep.backends import get_backend

needs_the_mode = pytest.mark.skipif(not subnormals.available(), reason="this platform cannot flush subnormal floats")


def subnormal_count(array: np.ndarray) -> int:
    return int(np.count_nonzero((np.abs(array) < np.finfo(array.dtype).tiny) & (array != 0)))


def digits_with_blank_inputs():
    """The digits in float32 with 16 more inputs that are always 0, as an image's border pixels are."""
    X, y = load_digits(return_X_y=True)
    return np.hstack([X / 16, np.zeros((len(X), 16))]).astype(np.float32), y


def fitted_state(**settings):
    X, y = digits_with_blank_inputs()
    model = DeepClassifier(hidden_layer_sizes=(32,), alpha=1e-2, learning_rate_init=1e-2, batch_size=64, max_iter=60,
                           tol=0.0, n_iter_no_change=10**6, random_state=0, **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    return model


def trained_arrays(model) -> list[np.ndarray]:
    state = model.state_
    return [state.params.flat] + [arrays[0] for arrays in state.optimizer.state.values()]


@needs_the_mode
def test_a_fit_that_makes_subnormals_leaves_none(monkeypatch):
    assert sum(subnormal_count(a) for a in trained_arrays(fitted_state())) == 0
    monkeypatch.setattr(subnormals, "flushed", contextlib.nullcontext)  # the control: the same fit, unflushed
    assert sum(subnormal_count(a) for a in trained_arrays(fitted_state())) > 20


@needs_the_mode
def test_flushing_changes_no_prediction(monkeypatch):
    X, _ = digits_with_blank_inputs()
    flushed = fitted_state()
    monkeypatch.setattr(subnormals, "flushed", contextlib.nullcontext)
    unflushed = fitted_state()
    np.testing.assert_array_equal(flushed.predict(X), unflushed.predict(X))
    np.testing.assert_allclose(flushed.predict_proba(X), unflushed.predict_proba(X), rtol=0, atol=1e-6)


def subnormal_product() -> float:
    return float(np.float32(1e-30) * np.float32(1e-10))


@needs_the_mode
def test_the_mode_holds_inside_the_block_only_and_nests():
    assert subnormal_product() > 0
    with subnormals.flushed():
        assert subnormal_product() == 0.0
        with subnormals.flushed():
            assert subnormal_product() == 0.0
        assert subnormal_product() == 0.0  # the inner block gave back the outer one's mode
    assert subnormal_product() > 0
    with pytest.raises(KeyError), subnormals.flushed():
        raise KeyError("out of the block by an error")
    assert subnormal_product() > 0


@needs_the_mode
def test_the_training_loop_computes_in_the_mode_and_gives_it_back():
    from gpudeep.training import Callback

    seen = []

    class Probe(Callback):
        def on_epoch_end(self, state, logs, backend):
            seen.append(subnormal_product())
            return False

    X, y = digits_with_blank_inputs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        DeepClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(X, y, callbacks=[Probe()])
    assert seen == [0.0, 0.0] and subnormal_product() > 0


def test_a_gpu_backend_leaves_the_host_mode_alone(monkeypatch):
    backend = get_backend("numpy")
    monkeypatch.setattr(type(backend), "on_gpu", True)
    with backend.computing(1e12):
        assert subnormal_product() > 0


def test_where_the_mode_cannot_be_set_the_block_runs_and_the_reason_is_logged(monkeypatch, caplog):
    monkeypatch.setattr(subnormals.sys, "platform", "darwin")
    subnormals._mode.cache_clear()
    try:
        with caplog.at_level("INFO", logger="gpudeep"), subnormals.flushed():
            ran = True
        assert ran and not subnormals.available()
        assert "not flushed to zero on darwin" in caplog.text
    finally:
        monkeypatch.undo()
        subnormals._mode.cache_clear()
