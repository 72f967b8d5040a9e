"""Model files: exact round trips, refusal of anything unsafe or damaged, atomic writes, checkpoints."""

from __future__ import annotations

import io
import json
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from properties import HealthCheck, given, settings, st
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

from gpudeep import DeepClassifier, DeepRegressor, ModelFormatError, load, save
from gpudeep import archive as sealed_archive
from gpudeep import estimators as model_files
from gpudeep.backends import get_backend

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # small epoch budgets


def fitted(cls=DeepClassifier, **settings):
    X, y = make_classification(n_samples=80, n_features=5, n_redundant=0, n_classes=3, n_informative=3,
                               random_state=0)
    if cls is DeepRegressor:
        y = X @ np.arange(5.0)
    options = {"hidden_layer_sizes": (8,), "max_iter": 3, "random_state": 0, "backend": "numpy", **settings}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cls(**options).fit(X, y), X, y


class CreatesAFile:
    """Unpickling this creates the file ``path``: proof that code ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    hidden=st.lists(st.integers(1, 12), min_size=1, max_size=3),
    activation=st.sampled_from(["relu", "tanh", "sigmoid", "leaky_relu", "identity"]),
    regression=st.booleans(),
    dtype=st.sampled_from(["float32", "float64"]),
    standardize=st.booleans(),
)
def test_save_load_round_trip_is_exact(tmp_path, hidden, activation, regression, dtype, standardize):
    model, X, _ = fitted(DeepRegressor if regression else DeepClassifier, hidden_layer_sizes=tuple(hidden),
                         activation=activation, dtype=dtype, standardize=standardize)
    path = save(model, tmp_path / "model.npz")
    loaded = load(path)
    assert type(loaded) is type(model) and loaded.get_params()["hidden_layer_sizes"] == tuple(hidden)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    if not regression:
        np.testing.assert_array_equal(loaded.classes_, model.classes_)
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_a_standardized_fit_on_float32_input_round_trips(tmp_path):
    """float32 input keeps the network in float32 (dtype=None); its input statistics are saved in float64 and
    load back to the same predictions."""
    X, y = make_classification(n_samples=80, n_features=5, n_redundant=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = DeepClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0, standardize=True).fit(
            X.astype(np.float32), y)
    assert model.dtype_ == "float32" and model.input_mean_.dtype == np.float64
    loaded = load(save(model, tmp_path / "model.npz"))
    np.testing.assert_array_equal(loaded.predict_proba(X.astype(np.float32)), model.predict_proba(X.astype(np.float32)))


def test_string_labels_round_trip(tmp_path):
    _, X, y = fitted(hidden_layer_sizes=(4,))
    labelled = DeepClassifier(hidden_layer_sizes=(4,), max_iter=200, random_state=0, backend="numpy")
    labelled.fit(X, np.array(["a", "b", "c"])[y])
    loaded = load(save(labelled, tmp_path / "m.npz"))
    assert loaded.classes_.tolist() == ["a", "b", "c"]
    np.testing.assert_array_equal(loaded.predict(X), labelled.predict(X))


def test_a_model_fitted_on_another_device_loads_on_the_cpu(tmp_path):
    """Stands in for GPU -> CPU: weights fitted on array_api_strict's second device load on NumPy."""
    model, X, _ = fitted(backend=get_backend("array_api_strict", device="device1"))
    loaded = load(save(model, tmp_path / "m.npz"), backend="numpy")
    assert loaded.backend_.name == "numpy"
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), rtol=1e-6)


def test_pickled_payload_is_rejected_without_running(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.npz"
    np.savez(path, metadata=np.array([CreatesAFile(marker)], dtype=object))
    with pytest.raises(ModelFormatError, match="not sealed by gpudeep"):
        load(path)
    archive = io.BytesIO()  # even with a valid seal, the header check refuses the objects
    np.savez(archive, metadata=np.array([CreatesAFile(marker)], dtype=object))
    path.write_bytes(sealed_archive.seal(archive.getvalue()))
    with pytest.raises(ModelFormatError, match="holds Python objects"):
        load(path)
    assert not marker.exists()


def test_plain_pickle_renamed_npz_is_rejected(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.npz"
    path.write_bytes(pickle.dumps(CreatesAFile(marker)))
    with pytest.raises(ModelFormatError, match="not a .npz archive"):
        load(path)
    assert not marker.exists()


def rewrite(path: Path, change) -> None:
    """Rewrite a model file with ``change(metadata, arrays)`` applied, bypassing the writer's checks."""
    metadata, arrays = model_files.read(path)
    change(metadata, arrays)
    encoded = np.frombuffer(json.dumps(metadata).encode(), dtype=np.uint8)
    archive = io.BytesIO()
    np.savez(archive, metadata=encoded, **arrays)
    path.write_bytes(sealed_archive.seal(archive.getvalue()))  # a valid seal: the content checks must catch it


def test_newer_format_asks_to_upgrade(tmp_path):
    path = save(fitted()[0], tmp_path / "m.npz")
    rewrite(path, lambda metadata, arrays: metadata.update(format_version=99))
    with pytest.raises(ModelFormatError, match=r"newer gpudeep \(format version 99.*upgrade gpudeep"):
        load(path)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m, a: a.update(W1=a["W1"][:, :-1]), r"'W1.npy' has shape \(8, 4\), expected \(8, 5\)"),
        (lambda m, a: a.update(b2=a["b2"].astype(np.float32)), "'b2.npy' has dtype float32, expected float64"),
        (lambda m, a: a.pop("W2"), "entry 'W2' is missing"),
        (lambda m, a: a.update(extra=np.zeros(2)), r"unexpected entries \['extra'\]"),
        (lambda m, a: a["W1"].__setitem__((0, 0), np.nan), "W1 holds non-finite values"),
        (lambda m, a: m.update(layer_sizes=[5, 0, 3]), "layer_sizes must be at least two positive integers"),
        (lambda m, a: m.update(dtype="float16"), "dtype must be one of"),
        (lambda m, a: m.pop("loss"), "metadata entry 'loss' is missing"),
        (lambda m, a: m.update(format="something-else"), "does not describe a gpudeep model"),
        (lambda m, a: m.update(estimator="Nope"), "unknown estimator 'Nope'"),
        (lambda m, a: m.update(activations=["relu", "sigmoid"]), "invalid model description"),
    ],
)
def test_inconsistent_files_are_rejected(tmp_path, change, message):
    path = save(fitted()[0], tmp_path / "m.npz")
    rewrite(path, change)
    with pytest.raises(ModelFormatError, match=message):
        load(path)


def test_files_of_the_wrong_kind(tmp_path):
    data = tmp_path / "data.npz"
    np.savez(data, X=np.ones((3, 2)), y=np.ones(3))
    with pytest.raises(ModelFormatError, match="not sealed by gpudeep"):
        load(data)
    text = tmp_path / "table.npz"
    text.write_text("a,b\n1,2\n")
    with pytest.raises(ModelFormatError, match=f"{text}: not a gpudeep model file"):
        load(text)


def test_truncated_files_raise_model_format_error(tmp_path):
    whole = save(fitted()[0], tmp_path / "m.npz").read_bytes()
    damaged = tmp_path / "damaged.npz"
    for end in range(0, len(whole), 41):
        damaged.write_bytes(whole[:end])
        with pytest.raises(ModelFormatError):
            load(damaged)


def test_a_regressor_file_is_not_a_classifier(tmp_path):
    path = save(fitted(DeepRegressor)[0], tmp_path / "m.npz")
    rewrite(path, lambda metadata, arrays: metadata.update(estimator="DeepClassifier"))
    with pytest.raises(ModelFormatError, match="must hold classes"):
        load(path)


def test_failed_replace_leaves_the_old_file_whole(tmp_path, monkeypatch):
    model = fitted()[0]
    path = save(model, tmp_path / "m.npz")
    before = path.read_bytes()

    def broken_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    model.state_.params[0][0][0, 0] += 1.0
    with pytest.raises(OSError, match="disk full"):
        save(model, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temporary file left


def test_non_finite_weights_are_never_written(tmp_path):
    model = fitted()[0]
    path = save(model, tmp_path / "m.npz")
    before = path.read_bytes()
    model.state_.params[1][0][0, 0] = np.inf
    with pytest.raises(ValueError, match="W2 holds non-finite values"):
        save(model, path)
    assert path.read_bytes() == before


def test_object_labels_cannot_be_saved(tmp_path):
    model = fitted()[0]
    model.classes_ = model.classes_.astype(object)
    with pytest.raises(ValueError, match="convert y with y.astype"):
        save(model, tmp_path / "m.npz")


@pytest.mark.parametrize("solver", ["adam", "sgd", "rmsprop"])
def test_resume_from_checkpoint_is_bit_identical(tmp_path, solver):
    """3 epochs, checkpoint, a new process's worth of state, 3 more epochs == 6 epochs straight."""
    X, y = make_classification(n_samples=150, n_features=6, n_redundant=0, random_state=0)
    common = {"hidden_layer_sizes": (16, 8), "solver": solver, "batch_size": 32, "dropout": 0.2, "alpha": 1e-3,
              "learning_rate_init": 0.01, "random_state": 0, "backend": "numpy", "tol": 0,
              "n_iter_no_change": 100, "learning_rate": "exponential"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        straight = DeepClassifier(**common, max_iter=6).fit(X, y)
        DeepClassifier(**common, max_iter=3, checkpoint_path=tmp_path / "ckpt.npz").fit(X, y)
        resumed = DeepClassifier(**common, max_iter=6).fit(X, y, resume_from=tmp_path / "ckpt.npz")
    assert resumed.n_iter_ == 6 and resumed.loss_curve_ == straight.loss_curve_
    for (W1, b1), (W2, b2) in zip(straight.state_.params, resumed.state_.params):
        assert np.array_equal(W1, W2) and np.array_equal(b1, b2)


def test_checkpoint_must_match_the_model(tmp_path):
    X, y = make_classification(n_samples=60, n_features=6, n_redundant=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        DeepClassifier(hidden_layer_sizes=(4,), max_iter=1, checkpoint_path=tmp_path / "c.npz").fit(X, y)
        with pytest.raises(ModelFormatError, match=r"layers \[6, 4, 1\].*layers \[6, 9, 1\]"):
            DeepClassifier(hidden_layer_sizes=(9,), max_iter=2).fit(X, y, resume_from=tmp_path / "c.npz")
        save(DeepClassifier(hidden_layer_sizes=(4,), max_iter=1).fit(X, y), tmp_path / "m.npz")
        with pytest.raises(ModelFormatError, match="a model file, not a checkpoint"):
            DeepClassifier(hidden_layer_sizes=(4,), max_iter=2).fit(X, y, resume_from=tmp_path / "m.npz")


def test_checkpoint_is_a_loadable_model(tmp_path):
    X, y = make_classification(n_samples=60, n_features=6, n_redundant=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = DeepClassifier(hidden_layer_sizes=(4,), max_iter=2, checkpoint_path=tmp_path / "c.npz").fit(X, y)
    np.testing.assert_array_equal(load(tmp_path / "c.npz").predict_proba(X), model.predict_proba(X))


def test_a_file_restores_every_hyperparameter_and_nothing_that_reaches_the_machine(tmp_path):
    from gpudeep.estimators import hyperparameters

    model, X, _ = fitted(solver="sgd", nesterovs_momentum=False, momentum=0.5, shuffle=False, tf32=False,
                         checkpoint_path=tmp_path / "elsewhere.npz", verbose=1, n_jobs=1)
    loaded = load(save(model, tmp_path / "m.npz"))
    restored, given = loaded.get_params(), model.get_params()
    machine = {"backend", "checkpoint_path", "distributed", "n_jobs", "verbose"}
    assert set(given) - set(hyperparameters.FROM_FILES) == machine
    assert all(restored[name] == given[name] for name in hyperparameters.FROM_FILES if name in given)
    assert restored["checkpoint_path"] is None and restored["n_jobs"] is None and restored["verbose"] is False
