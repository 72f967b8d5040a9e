"""Runs reach MLflow and read back through MLflow's own client: from Python (callbacks=) and from the
command line (--track)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "gpudeep", *args], capture_output=True, text=True, cwd=cwd)


mlflow = pytest.importorskip("mlflow", reason="MLflow is not installed: pip install 'gpudeep[track]'")


def test_a_python_fit_is_logged_to_mlflow_and_reads_back(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient
    from sklearn.datasets import load_iris

    from gpudeep import DeepClassifier, load
    from gpudeep.tracking import MlflowTracker

    monkeypatch.chdir(tmp_path)  # the default store is ./mlflow.db, artifacts in ./mlruns
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    X, y = load_iris(return_X_y=True)
    tracker = MlflowTracker(run_name="iris")
    model = DeepClassifier(hidden_layer_sizes=(8,), max_iter=4, random_state=0, backend="numpy")
    with pytest.warns(Warning):  # 4 epochs do not converge
        model.fit(X, y, validation_data=(X[::5], y[::5]), callbacks=[tracker])
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (found,) = client.search_runs([client.get_experiment_by_name("gpudeep").experiment_id])
    assert found.info.run_name == "iris" and found.info.status == "FINISHED"
    assert found.data.params["max_iter"] == "4" and found.data.params["layer_sizes"] == "[4, 8, 3]"
    history = client.get_metric_history(found.info.run_id, "val_accuracy")
    assert [m.step for m in history] == [1, 2, 3, 4]
    assert [m.value for m in history] == pytest.approx(model.history_["val_accuracy"])
    assert {"loss", "accuracy", "val_loss"} <= set(found.data.metrics)
    (artifact,) = client.list_artifacts(found.info.run_id)
    local = client.download_artifacts(found.info.run_id, artifact.path, str(tmp_path))
    np.testing.assert_array_equal(load(local).predict(X), model.predict(X))


@pytest.mark.filterwarnings("ignore:overflow|invalid value:RuntimeWarning")
def test_a_failed_fit_ends_its_mlflow_run_as_failed(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from gpudeep import DeepRegressor
    from gpudeep.tracking import MlflowTracker
    from gpudeep.training import TrainingDivergedError

    uri = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "divergence")
    X = np.random.default_rng(0).normal(size=(50, 3))
    with pytest.raises(TrainingDivergedError):
        DeepRegressor(learning_rate_init=1e6, solver="sgd", max_iter=3, dtype="float32", backend="numpy").fit(
            X * 1e3, X[:, 0] * 1e3, callbacks=[MlflowTracker(uri)])
    client = MlflowClient(uri)
    (found,) = client.search_runs([client.get_experiment_by_name("divergence").experiment_id])
    assert found.info.status == "FAILED" and not client.list_artifacts(found.info.run_id)


def test_train_track_logs_the_whole_run_folder(tmp_path):
    result = run("train", "--dataset", "iris", "--epochs", "3", "--out", "runs/tracked", "--quiet", "--track",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (found,) = client.search_runs([client.get_experiment_by_name("gpudeep").experiment_id])
    assert found.info.run_name == "tracked" and found.info.status == "FINISHED"
    assert found.data.params["dataset"] == "iris"
    assert {artifact.path for artifact in client.list_artifacts(found.info.run_id)} == {
        "config.json", "split.json", "model.npz", "metrics.json", "history.csv", "curves.png"}
    assert len(client.get_metric_history(found.info.run_id, "loss")) == 3


def test_a_run_folder_that_cannot_be_written_ends_the_mlflow_run_as_failed(tmp_path, monkeypatch, capsys):
    from mlflow.tracking import MlflowClient

    from gpudeep import runs
    from gpudeep.cli import main

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr(runs, "write", full_disk)
    assert main(["train", "--dataset", "iris", "--epochs", "2", "--out", "run", "--quiet", "--track"]) == 1
    assert "No space left on device" in capsys.readouterr().err
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (found,) = client.search_runs([client.get_experiment_by_name("gpudeep").experiment_id])
    assert found.info.status == "FAILED"
