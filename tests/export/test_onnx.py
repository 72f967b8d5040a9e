"""ONNX export, checked by ONNX Runtime: for every configuration the estimators can be fitted in, the graph
exported from its model file gives outputs on 1,000 rows that equal the fitted model's ``predict`` exactly
(labels) and ``predict_proba``/``predict`` to 1e-6 in float32 and 1e-12 in float64, and ``onnx.checker``
passes. Without the onnx extra these skip, and what the export says instead is tested."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_multilabel_classification, make_regression
from sklearn.exceptions import ConvergenceWarning

from gpudeep import DeepClassifier, DeepRegressor, load, save
from gpudeep.activations import HIDDEN

HAVE_ONNX = all(importlib.util.find_spec(name) for name in ("ndonnx", "onnx", "onnxscript", "onnxruntime"))
needs_onnx = pytest.mark.skipif(not HAVE_ONNX, reason="the onnx extra is not installed (pip install 'gpudeep[onnx]'; "
                                                      "CI installs it)")
TOLERANCE = {"float32": 1e-6, "float64": 1e-12}
ROWS = 1000


def fitted(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def run_onnx(path, X, names=None):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {"X": X} if names is None else {name: X[:, [j]] for j, name in enumerate(names)}
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds), strict=True))


def exported(model, tmp_path, name="model.onnx"):
    """The model saved to a model file, loaded back and exported from it, as ``gpudeep export`` does."""
    import onnx

    from gpudeep.export import export_onnx

    save(model, tmp_path / "model.npz")
    path = tmp_path / name
    export_onnx(load(tmp_path / "model.npz"), path, model_file=tmp_path / "model.npz")
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    return path


def classification(n_classes=3, dtype=np.float32):
    X, y = make_classification(n_samples=ROWS, n_features=8, n_informative=5, n_classes=n_classes, random_state=0)
    return X.astype(dtype), y


CLASSIFIERS = {
    **{f"hidden {name}": dict(activation=name) for name in HIDDEN},
    "float64": dict(dtype="float64"),
    "dropout": dict(dropout=0.3),
    "batch norm": dict(batch_norm=True),
    "standardized": dict(standardize=True),
    "two hidden layers": dict(hidden_layer_sizes=(12, 6)),
}


@needs_onnx
@pytest.mark.parametrize("case", list(CLASSIFIERS))
def test_a_softmax_classifier_exports_what_it_predicts(case, tmp_path):
    settings = {"hidden_layer_sizes": (12,), "max_iter": 30, "random_state": 0, "dtype": "float32",
                **CLASSIFIERS[case]}
    X, y = classification(dtype=np.float64 if settings["dtype"] == "float64" else np.float32)
    model = fitted(DeepClassifier(**settings), X, y)
    outputs = run_onnx(exported(model, tmp_path), X)
    np.testing.assert_array_equal(outputs["label"], model.predict(X))
    np.testing.assert_allclose(outputs["probabilities"], model.predict_proba(X), rtol=0,
                               atol=TOLERANCE[settings["dtype"]])


@needs_onnx
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_binary_classifier_with_text_labels_exports_its_labels(dtype, tmp_path):
    X, y = classification(n_classes=2, dtype=np.dtype(dtype).type)
    labels = np.array(["no", "yes"])[y]
    model = fitted(DeepClassifier(hidden_layer_sizes=(10,), max_iter=30, random_state=0), X, labels)
    assert model.dtype_ == dtype and model.out_activation_ == "logistic"
    outputs = run_onnx(exported(model, tmp_path), X)
    np.testing.assert_array_equal(outputs["label"], model.predict(X))
    np.testing.assert_allclose(outputs["probabilities"], model.predict_proba(X), rtol=0, atol=TOLERANCE[dtype])


@needs_onnx
def test_a_classifier_fitted_on_one_class_exports_its_certainty(tmp_path):
    X, _ = classification()
    model = fitted(DeepClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0), X, np.full(ROWS, 7))
    outputs = run_onnx(exported(model, tmp_path), X)
    np.testing.assert_array_equal(outputs["label"], model.predict(X))
    np.testing.assert_array_equal(outputs["probabilities"], model.predict_proba(X))


@needs_onnx
def test_a_multilabel_classifier_exports_its_indicator_matrix(tmp_path):
    X, Y = make_multilabel_classification(n_samples=ROWS, n_features=8, n_classes=4, random_state=0)
    X = X.astype(np.float32)
    model = fitted(DeepClassifier(hidden_layer_sizes=(10,), max_iter=30, random_state=0), X, Y)
    outputs = run_onnx(exported(model, tmp_path), X)
    np.testing.assert_array_equal(outputs["label"], model.predict(X))
    np.testing.assert_allclose(outputs["probabilities"], model.predict_proba(X), rtol=0, atol=TOLERANCE["float32"])


@needs_onnx
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("targets, loss", [(1, "squared_error"), (3, "squared_error"), (1, "poisson")])
def test_a_regressor_exports_what_it_predicts(targets, loss, dtype, tmp_path):
    X, y = make_regression(n_samples=ROWS, n_features=8, n_targets=targets, random_state=0)
    X = X.astype(dtype)
    y = np.exp(y / np.abs(y).max()) if loss == "poisson" else y / np.abs(y).max()
    model = fitted(DeepRegressor(loss=loss, hidden_layer_sizes=(12,), max_iter=30, random_state=0), X, y)
    variable = run_onnx(exported(model, tmp_path), X)["variable"]
    assert variable.shape == (ROWS, targets)
    expected = model.predict(X).reshape(ROWS, targets)
    np.testing.assert_allclose(variable, expected, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


@needs_onnx
def test_a_model_that_knows_its_columns_takes_one_input_per_column(tmp_path):
    pandas = pytest.importorskip("pandas")
    X, y = classification()
    frame = pandas.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    model = fitted(DeepClassifier(hidden_layer_sizes=(10,), max_iter=20, random_state=0), frame, y)
    import onnx

    path = exported(model, tmp_path)
    graph = onnx.load(str(path)).graph
    assert [i.name for i in graph.input] == list(frame.columns)
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"  # any number of rows
    outputs = run_onnx(path, X, list(frame.columns))
    np.testing.assert_array_equal(outputs["label"], model.predict(frame))


@needs_onnx
def test_the_metadata_names_the_library_the_network_and_the_model_file(tmp_path):
    import onnx

    from gpudeep.archive import sha256
    from gpudeep.cli import main

    X, y = classification()
    model = fitted(DeepClassifier(hidden_layer_sizes=(10,), max_iter=20, random_state=0), X, y)
    save(model, tmp_path / "model.npz")
    assert main(["export", str(tmp_path / "model.npz"), str(tmp_path / "model.onnx")]) == 0
    metadata = {p.key: p.value for p in onnx.load(str(tmp_path / "model.onnx")).metadata_props}
    assert metadata["producer"] == "gpudeep" and metadata["model_sha256"] == sha256(tmp_path / "model.npz")
    assert json.loads(metadata["layer_sizes"]) == [8, 10, 3] and json.loads(metadata["classes"]) == [0, 1, 2]
    assert metadata["dtype"] == "float32"


def test_without_the_extra_export_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ndonnx", None)  # as if it were not installed
    from gpudeep.cli import main

    X, y = classification()
    save(fitted(DeepClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0), X, y), tmp_path / "m.npz")
    assert main(["export", str(tmp_path / "m.npz"), str(tmp_path / "m.onnx")]) == 1
    assert "pip install 'gpudeep[onnx]'" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_the_onnx_backend_does_not_train(monkeypatch):
    from gpudeep.backends import BACKEND_NAMES, get_backend

    assert "onnx" not in BACKEND_NAMES  # not offered for training
    if not HAVE_ONNX:
        pytest.skip("the onnx extra is not installed")
    X, y = classification()
    with pytest.raises(ValueError, match="cannot train"):
        DeepClassifier(backend=get_backend("onnx"), max_iter=1).fit(X, y)


def test_the_export_command_is_listed_in_the_help():
    help_text = subprocess.run([sys.executable, "-m", "gpudeep", "--help"], capture_output=True, text=True).stdout
    assert "export" in help_text


@needs_onnx
def test_the_readmes_example_runs_on_an_exported_model(tmp_path, monkeypatch):
    """The README's ONNX Runtime lines, after ``gpudeep export``, give the labels ``predict`` gives."""
    import re
    from pathlib import Path

    from gpudeep.cli import main

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    example = next(block for block in re.findall(r"```py\n(.*?)```", readme, re.DOTALL) if "onnxruntime" in block)
    X, y = classification()
    model = fitted(DeepClassifier(hidden_layer_sizes=(10,), max_iter=20, random_state=0), X, y)
    save(model, tmp_path / "model.npz")
    assert main(["export", str(tmp_path / "model.npz"), str(tmp_path / "model.onnx")]) == 0
    namespace = {"X": X}
    monkeypatch.chdir(tmp_path)
    exec(example, namespace)  # noqa: S102 - the README's own lines
    np.testing.assert_array_equal(namespace["label"], model.predict(X))
