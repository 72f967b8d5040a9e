"""What users of scikit-learn's MLP and of Keras reach for: sample and class weights, validation data,
callbacks, history, the fitted network's attributes, feature names, progress lines and documentation."""

from __future__ import annotations

import doctest
import inspect
import re
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.utils.class_weight import compute_sample_weight

from gpudeep import DeepClassifier, DeepRegressor, load, save
from gpudeep.training import Callback

pd = pytest.importorskip("pandas", reason="pandas (in the test extra) is needed for the feature-name tests")

# One full batch, no shuffle, no dropout, float64: a fit whose every step is the full data's gradient. No L2
# term: (λ/2m)·Σ‖W[l]‖² counts the batch's rows, not their weights, so repeating rows would weaken it.
FULL_BATCH = dict(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=0.1, momentum=0.5, alpha=0.0,
                  batch_size=10_000, shuffle=False, max_iter=15, tol=0.0,
                  n_iter_no_change=1000, dtype="float64", random_state=0, backend="numpy")


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return (X - X.mean(axis=0)) / X.std(axis=0), y


def fitted(estimator, X, y, **fit_params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a fixed budget of epochs, on purpose
        return estimator.fit(X, y, **fit_params)


def test_a_weight_is_the_same_as_repeating_the_sample(iris):
    X, y = iris
    times = np.random.default_rng(0).integers(0, 4, size=len(y))  # 0 drops a sample
    weighted = fitted(DeepClassifier(**FULL_BATCH), X, y, sample_weight=times)
    repeated = fitted(DeepClassifier(**FULL_BATCH), np.repeat(X, times, axis=0), np.repeat(y, times))
    for ours, theirs in zip(weighted.coefs_ + weighted.intercepts_, repeated.coefs_ + repeated.intercepts_):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)  # the sums differ in order only
    unweighted = fitted(DeepClassifier(**FULL_BATCH), X, y)
    assert not np.allclose(weighted.coefs_[0], unweighted.coefs_[0])


def test_balanced_class_weights_are_scikit_learns(iris):
    X, y = iris
    X, y = X[:110], y[:110]  # 50, 50 and 10 samples: unbalanced
    balanced = fitted(DeepClassifier(**FULL_BATCH, class_weight="balanced"), X, y)
    by_hand = fitted(DeepClassifier(**FULL_BATCH), X, y, sample_weight=compute_sample_weight("balanced", y))
    np.testing.assert_allclose(balanced.coefs_[1], by_hand.coefs_[1], rtol=1e-10)
    by_dict = fitted(DeepClassifier(**FULL_BATCH, class_weight={2: 5.0}), X, y)
    with_weights = fitted(DeepClassifier(**FULL_BATCH), X, y, sample_weight=np.where(y == 2, 5.0, 1.0))
    np.testing.assert_allclose(by_dict.coefs_[1], with_weights.coefs_[1], rtol=1e-10)


@pytest.mark.parametrize("class_weight, sample_weight, message", [
    ({7: 2.0}, None, r"class_weight names labels \[7\] that are not classes"),
    ("heavy", None, r"class_weight must be None, 'balanced' or a dict"),
    (None, np.full(150, -1.0), "sample_weight must be finite and non-negative"),
    (None, np.ones(3), r"one weight per sample, shape \(150,\), got shape \(3,\)"),
    (None, np.zeros(150), "all zero"),
])
def test_bad_weights_are_refused(iris, class_weight, sample_weight, message):
    X, y = iris
    with pytest.raises(ValueError, match=message):
        DeepClassifier(**FULL_BATCH, class_weight=class_weight).fit(X, y, sample_weight=sample_weight)


def test_validation_data_is_scored_every_epoch_and_early_stopping_uses_it(iris):
    X, y = iris
    model = fitted(DeepClassifier(**FULL_BATCH), X[::2], y[::2], validation_data=(X[1::2], y[1::2]))
    assert set(model.history_) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == model.n_iter_ == 15 for values in model.history_.values())
    assert model.t_ == 75 * 15  # no sample held out: the validation data is the caller's
    stopped = fitted(DeepClassifier(**{**FULL_BATCH, "max_iter": 200, "n_iter_no_change": 3, "tol": 1e-4},
                                    early_stopping=True), X[::2], y[::2], validation_data=(X[1::2], y[1::2]))
    assert stopped.n_iter_ < 200 and stopped.validation_scores_ == stopped.history_["val_accuracy"]
    assert stopped.t_ == 75 * stopped.n_iter_
    with pytest.raises(ValueError, match=r"y has labels \['x'\] not in classes_"):
        DeepClassifier(**FULL_BATCH).fit(X, y, validation_data=(X[:1], ["x"]))
    with pytest.raises(ValueError, match="validation_data must be a pair"):
        DeepClassifier(**FULL_BATCH).fit(X, y, validation_data=X)
    with pytest.raises(ValueError, match=r"X has 3 features, but DeepClassifier is expecting 4"):
        DeepClassifier(**FULL_BATCH).fit(X, y, validation_data=(X[:5, :3], y[:5]))
    targets = np.c_[X[:, 0], X[:, 1]]
    with pytest.raises(ValueError, match=r"y_val has 1 target\(s\) per sample but the training y has 2"):
        DeepRegressor(**FULL_BATCH).fit(X, targets, validation_data=(X[:5], targets[:5, 0]))


def test_callbacks_receive_the_model_and_may_stop_training(iris):
    X, y = iris
    seen, names = [], set()

    class StopAtThree(Callback):
        def on_epoch_end(self, state, logs, backend):
            seen.append((self.model, state.epoch, logs["accuracy"]))  # named as history_ names it
            names.update(logs)
            return state.epoch == 3

    model = fitted(DeepClassifier(**FULL_BATCH), X, y, callbacks=[StopAtThree()])
    assert model.n_iter_ == 3 and [epoch for _, epoch, _ in seen] == [1, 2, 3]
    assert all(owner is model for owner, _, _ in seen)
    assert [score for *_, score in seen] == model.history_["accuracy"] and names == set(model.history_)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a callback that stops training converged
        DeepClassifier(**{**FULL_BATCH, "max_iter": 50}).fit(X, y, callbacks=[StopAtThree()])
    with pytest.raises(TypeError, match="callbacks must be gpudeep.training.Callback objects, got function"):
        DeepClassifier(**FULL_BATCH).fit(X, y, callbacks=[lambda *a: None])


@pytest.mark.parametrize("estimator, reference, y", [
    (DeepClassifier, MLPClassifier, load_iris(return_X_y=True)[1]),
    (DeepClassifier, MLPClassifier, load_iris(return_X_y=True)[1] > 0),
    (DeepRegressor, MLPRegressor, make_regression(150, 4, n_targets=2, random_state=0)[1] / 100),
])
def test_the_fitted_network_is_described_as_scikit_learn_describes_it(estimator, reference, y):
    X = load_iris(return_X_y=True)[0]
    ours = fitted(estimator(hidden_layer_sizes=(6, 5), max_iter=3, random_state=0, backend="numpy"), X, y)
    theirs = fitted(reference(hidden_layer_sizes=(6, 5), max_iter=3, random_state=0), X, y)
    for name in ("n_layers_", "n_outputs_", "out_activation_", "t_", "n_features_in_"):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert [W.shape for W in ours.coefs_] == [W.shape for W in theirs.coefs_]
    assert [b.shape for b in ours.intercepts_] == [b.shape for b in theirs.intercepts_]
    W, b = ours.state_.params[0]
    np.testing.assert_array_equal(ours.coefs_[0], W.T)
    np.testing.assert_array_equal(ours.intercepts_[0], b[:, 0])


def test_feature_names_and_the_network_survive_save_and_load(iris, tmp_path):
    X, y = iris
    frame = pd.DataFrame(X, columns=["sepal length", "sepal width", "petal length", "petal width"])
    model = fitted(DeepClassifier(hidden_layer_sizes=(5,), max_iter=4, random_state=0, backend="numpy"), frame, y)
    loaded = load(save(model, tmp_path / "model.npz"), backend="numpy")
    assert loaded.feature_names_in_.tolist() == model.feature_names_in_.tolist() == list(frame.columns)
    for name in ("n_layers_", "n_outputs_", "out_activation_", "t_", "n_iter_"):
        assert getattr(loaded, name) == getattr(model, name), name
    np.testing.assert_array_equal(loaded.predict_proba(frame), model.predict_proba(frame))
    with pytest.raises(ValueError, match="feature names"):
        loaded.predict(frame[frame.columns[::-1]])


def test_verbose_prints_scikit_learns_lines_on_stdout_and_progress_off_a_terminal_on_stderr(iris, capsys):
    X, y = iris
    fitted(DeepClassifier(**FULL_BATCH, verbose=True), X[::2], y[::2], validation_data=(X[1::2], y[1::2]))
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 15 and out[0].startswith("Iteration 1, loss = ")
    assert re.fullmatch(r"Iteration 15, loss = \d\.\d{8}, accuracy = \S+, val_loss = \S+, val_accuracy = \S+", out[-1])
    fitted(DeepClassifier(**FULL_BATCH, verbose="progress"), X[::2], y[::2], validation_data=(X[1::2], y[1::2]))
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert captured.out == "" and "accuracy: on the training batches" in err[0] and len(err) == 16
    assert re.fullmatch(r"epoch 15: loss \S+, accuracy \S+, val_loss \S+, val_accuracy \S+", err[-1])


@pytest.mark.parametrize("estimator", [DeepClassifier, DeepRegressor])
def test_every_parameter_and_attribute_is_documented(estimator):
    doc = inspect.getdoc(estimator)
    for section in ("Parameters", "Attributes", "Examples"):
        assert f"\n{section}\n{'-' * len(section)}\n" in doc
    documented = set(re.findall(r"^(\w+(?:, \w+)*) :", doc, flags=re.MULTILINE))
    documented = {name for entry in documented for name in entry.split(", ")}
    assert set(estimator().get_params()) <= documented
    fitted_names = {"coefs_", "intercepts_", "n_layers_", "n_outputs_", "out_activation_", "t_", "history_",
                    "n_iter_", "loss_curve_", "feature_names_in_"}
    assert fitted_names <= documented


@pytest.mark.parametrize("estimator", [DeepClassifier, DeepRegressor])
def test_the_docstring_examples_run_clean(estimator):
    """The examples give the output shown, and no warning (no ConvergenceWarning)."""
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for test in finder.find(estimator, estimator.__name__):
            runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
    assert runner.summarize(verbose=False).attempted >= 4


@pytest.mark.parametrize("estimator", ["DeepClassifier", "DeepRegressor"])
def test_the_signatures_defaults_are_the_parameter_tables(estimator):
    """scikit-learn reads the explicit ``__init__`` signatures; the table (``estimators.hyperparameters``)
    feeds the checks, the docs, the command line's options and model-file restore: both must agree."""
    import inspect

    import gpudeep
    from gpudeep.estimators import hyperparameters

    signature = inspect.signature(getattr(gpudeep, estimator).__init__).parameters
    defaults = {name: p.default for name, p in signature.items() if name != "self"}
    assert defaults == {p.name: p.default for p in hyperparameters.of(estimator)}
    assert list(defaults) == [p.name for p in hyperparameters.of(estimator)]
    docs = getattr(gpudeep, estimator).__doc__
    assert all(f"    {p.name} : " in docs for p in hyperparameters.of(estimator))


@pytest.mark.parametrize("settings", [
    {"solver": "adam"},
    {"solver": "sgd", "learning_rate": "invscaling", "power_t": 0.3},
    {"solver": "adam", "early_stopping": True},
    {"solver": "sgd", "batch_size": 50, "alpha": 0.01, "nesterovs_momentum": False},
])
def test_a_stochastic_fit_is_scikit_learns_weight_for_weight(settings):
    """The same start, the same shuffles and split (scikit-learn's one RandomState, in its order), the same step:
    after 8 epochs on digits, the weights agree to rounding."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = MLPClassifier((20,), max_iter=8, random_state=3, **settings).fit(X, y)
        ours = DeepClassifier((20,), max_iter=8, random_state=3, backend="numpy", **settings).fit(X, y)
    for mine, scikit in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(mine, scikit, rtol=1e-9, atol=1e-12)
    assert ours.loss_curve_ == pytest.approx(theirs.loss_curve_, rel=1e-12) and ours.n_iter_ == theirs.n_iter_
