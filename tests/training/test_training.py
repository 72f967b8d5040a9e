"""The training loop: losses, the same run on every backend, callbacks, the divergence guard."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from gpudeep.backends import Backend
from gpudeep.gradcheck import random_problem
from gpudeep.network import Architecture, init_parameters
from gpudeep.optim import SGD, Adam
from gpudeep.training import (
    Callback,
    EarlyStopping,
    History,
    TrainingDivergedError,
    TrainingState,
    train,
)


def setup(backend, *, optimizer=None, seed=0, m=96, loss="categorical_cross_entropy", dtype="float32"):
    arch = Architecture.build([5, 16, 3], hidden="relu", loss=loss)
    X, Y = random_problem(arch, m, rng=seed)  # (n, m): the math's layout
    params = init_parameters(arch, backend, dtype=dtype, rng=seed)
    state = TrainingState(arch, params, optimizer or Adam(0.01), np.random.default_rng(seed))
    # the training loop takes samples as rows, (m, n)
    return state, backend.asarray(np.ascontiguousarray(X.T), dtype), backend.asarray(np.ascontiguousarray(Y.T), dtype)


def test_loss_decreases_and_history_is_kept(backend):
    state, X, Y = setup(backend)
    validation = (X[:20, :], Y[:20, :])
    history = train(backend, state, X, Y, epochs=15, batch_size=16, validation=validation,
                    score=lambda xp, A, Y: xp.mean(xp.astype(xp.argmax(A, axis=0) == xp.argmax(Y, axis=0), A.dtype)))
    assert len(history.loss) == len(history.score) == len(history.val_loss) == len(history.val_score) == 15
    assert history.loss[-1] < 0.8 * history.loss[0]
    assert all(0 <= s <= 1 for s in history.val_score + history.score)
    assert history.score[-1] > history.score[0]
    assert state.epoch == 15 and state.step == 15 * 6


def test_same_run_on_every_backend(compared_backend, numpy_backend):
    """Same seed, same batches, same math: the loss curves agree with NumPy's within float32 tolerance."""
    curves = []
    for chosen in (numpy_backend, compared_backend):
        state, X, Y = setup(chosen, optimizer=SGD(0.1, momentum=0.9))
        curves.append(train(chosen, state, X, Y, epochs=5, batch_size=32, l2=0.01).loss)
    np.testing.assert_allclose(curves[1], curves[0], rtol=1e-4)


def test_dropout_trains_on_every_backend(backend):
    state, X, Y = setup(backend)
    history = train(backend, state, X, Y, epochs=10, batch_size=32, dropout=0.3)
    assert history.loss[-1] < history.loss[0]


def test_metrics_reach_the_host_once_per_epoch(numpy_backend):
    """No per-step synchronisation: one transfer per epoch, whatever the number of steps."""
    calls = []

    class Counting(Backend):
        def _host(self, array):
            calls.append(np.shape(array))
            return np.asarray(array)

    backend = Counting("numpy", np, "cpu", "CPU", "test")
    state, X, Y = setup(backend, m=200)
    train(backend, state, X, Y, epochs=4, batch_size=10, validation=(X, Y))
    assert len(calls) == 4  # 20 steps per epoch, 4 epochs


def test_early_stopping_stops_by_scikit_learns_count(numpy_backend):
    state, X, Y = setup(numpy_backend)
    # min_delta is too large for any later epoch to count as an improvement: epochs 2, 3 and 4 do not, and the
    # count exceeds patience=2 at the fourth; the best loss is still the lowest, epoch 4's
    stopper = EarlyStopping(monitor="loss", patience=2, min_delta=1e9, restore_best_weights=True)
    history = train(numpy_backend, state, X, Y, epochs=50, batch_size=32, callbacks=[stopper])
    assert len(history.loss) == 4 and stopper.stopped and stopper.count == 3
    assert stopper.best_epoch == 4 and stopper.best_value == min(history.loss)


def test_early_stopping_restores_the_best_weights(numpy_backend):
    state, _, _ = setup(numpy_backend)
    stopper = EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True)
    stopper.on_train_begin(state, numpy_backend)
    kept = []
    for epoch, val_loss in enumerate([0.9, 0.5, 0.7, 0.8], start=1):
        state.params.flat[...] = epoch  # each epoch's weights, told apart
        state.epoch = epoch
        assert not stopper.on_epoch_end(state, {"val_loss": val_loss}, numpy_backend)
        kept.append(state.params.flat.copy())
    stopper.on_train_end(state, numpy_backend)
    assert stopper.best_epoch == 2
    np.testing.assert_array_equal(state.params.flat, kept[1])


def test_early_stopping_on_a_score_and_its_resume():
    stopper = EarlyStopping(monitor="val_score", patience=2)
    history = History(val_score=[0.5, 0.7, 0.6])
    stopper.resume(history)
    assert stopper.best_value == 0.7 and stopper.best_epoch == 2 and stopper.count == 1
    state = TrainingState(None, [], None, None, epoch=4)
    assert not stopper.on_epoch_end(state, {"val_score": 0.65}, None)  # two epochs without an improvement
    assert stopper.on_epoch_end(state, {"val_score": 0.66}, None)  # three: more than patience


@pytest.mark.parametrize("kwargs, message", [({"monitor": "accuracy"}, "monitor"), ({"patience": 0}, "patience")])
def test_early_stopping_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EarlyStopping(**kwargs)


@pytest.mark.filterwarnings("ignore:overflow|invalid value:RuntimeWarning")
def test_divergence_stops_within_the_epoch_naming_epoch_and_step(backend):
    state, X, Y = setup(backend, optimizer=SGD(1e4), loss="mean_squared_error")
    with pytest.raises(TrainingDivergedError, match=r"at epoch 1, step \d+; lower the learning rate"):
        train(backend, state, X * 1e3, Y * 1e3, epochs=5, batch_size=16)
    assert state.epoch == 1  # it stopped after the first epoch


def test_progress_output(numpy_backend, capsys):
    """verbose=1 off a terminal (here) prints what the bar would show, a line per epoch, after saying what the
    numbers are; verbose=0 prints nothing."""
    state, X, Y = setup(numpy_backend)
    train(numpy_backend, state, X, Y, epochs=2, batch_size=32, verbose=0)
    assert capsys.readouterr() == ("", "")
    for verbose in (1, 2):
        train(numpy_backend, state, X, Y, epochs=2, batch_size=32, verbose=verbose, score_name="accuracy",
              score=lambda xp, A, Y: xp.mean(A), validation=(X, Y))
        out, err = capsys.readouterr()
        legend, *epochs = err.splitlines()
        assert out == "" and "accuracy: on the training batches" in legend and "val_accuracy" in legend
        assert len(epochs) == 2 and epochs[0].startswith(f"epoch {state.epoch - 1}: loss ")
        assert "val_accuracy" in epochs[1] and "score" not in err


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_callbacks_hear_the_start_every_epoch_and_how_it_ended(numpy_backend):
    heard = []

    class Listener(Callback):
        def on_train_begin(self, state, backend):
            heard.append("begin")

        def on_epoch_end(self, state, logs, backend):
            heard.append(sorted(logs))
            return False

        def on_train_end(self, state, backend, error=None):
            heard.append(error)

    state, X, Y = setup(numpy_backend)
    train(numpy_backend, state, X, Y, epochs=2, batch_size=32, callbacks=[Listener()])
    assert heard == ["begin", ["loss"], ["loss"], None]
    heard.clear()
    with pytest.raises(TrainingDivergedError) as raised:
        train(numpy_backend, state, X * np.inf, Y, epochs=2, batch_size=32, callbacks=[Listener()])
    assert heard == ["begin", raised.value]


def test_an_epoch_never_copies_the_data_set(numpy_backend):
    """Gathering a batch's rows costs the batch, not the data set: the epoch's peak extra memory
    (NumPy reports its allocations to tracemalloc) stays far below the 41 MB of X. A per-step copy
    of the data, as a gather of columns makes, would show as a peak of X's size."""
    m, n = 40_000, 256
    arch = Architecture.build([n, 32, 10], hidden="relu", loss="categorical_cross_entropy")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((m, n), dtype=np.float32)
    Y = np.eye(10, dtype=np.float32)[rng.integers(10, size=m)]
    state = TrainingState(arch, init_parameters(arch, numpy_backend, rng=0), Adam(1e-3), rng)
    validation = (X[:2000], Y[:2000])
    tracemalloc.start()
    try:
        history = train(numpy_backend, state, X, Y, epochs=1, batch_size=500, l2=1e-4, dropout=0.2,
                        validation=validation, score=lambda xp, A, Y: xp.mean(A[0]))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(history.loss) == 1 and state.step == 80
    assert peak < X.nbytes / 10, f"an epoch allocated up to {peak / 2**20:.1f} MiB for {X.nbytes / 2**20:.0f} MiB"
