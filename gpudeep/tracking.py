"""Experiment tracking with MLflow (``pip install 'gpudeep[track]'``): a callback that logs a run's settings,
each epoch's metrics and, at its end, the model file and any other files.

    model.fit(X, y, callbacks=[MlflowTracker()])      # or: gpudeep train --track

By default runs go to MLflow's local store, ``sqlite:///mlflow.db`` in the working folder (artifacts under
``mlruns/``), unless ``MLFLOW_TRACKING_URI`` names another; ``mlflow ui`` shows them. Inside an active
``mlflow.start_run()`` the callback logs to that run and leaves it open.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path

from .training import Callback

DEFAULT_STORE = "sqlite:///mlflow.db"
INSTALL = "pip install 'gpudeep[track]'"
log = logging.getLogger("gpudeep")


def _mlflow():
    try:
        import mlflow
    except ImportError as error:
        raise ImportError(f"tracking needs MLflow, which is not installed ({error}); {INSTALL}") from None
    return mlflow


class MlflowTracker(Callback):
    """Log a training run to MLflow.

    tracking_uri: the store (default ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``).
    experiment: the experiment's name (default ``MLFLOW_EXPERIMENT_NAME``, else "gpudeep"). run_name: the run's
    name (MLflow picks one when None).
    params: settings to log besides the estimator's parameters. log_model: at a normal end, log the model
    file (``model.npz``) as an artifact. end_run: end the run when training ends (False: the caller logs more
    through ``log_artifacts`` and then calls ``end``).
    Metrics are logged by epoch: ``loss``, the score under its name (``accuracy``, ``r2``), and ``val_...``.
    """

    def __init__(self, tracking_uri: str | None = None, experiment: str | None = None, run_name: str | None = None,
                 params: dict | None = None, log_model: bool = True, end_run: bool = True):
        _mlflow()  # not installed: say so now, not after training
        # the default store as an absolute path: MLflow keeps one store per URI in a process, so a relative one
        # would stay in the folder where it was first used
        self.tracking_uri = (tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
                             or f"sqlite:///{Path(DEFAULT_STORE.removeprefix('sqlite:///')).resolve()}")
        self.experiment = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or "gpudeep"
        self.run_name, self.params = run_name, dict(params or {})
        self.log_model, self.end_run = log_model, end_run
        self.client, self.run_id, self.owns_run = None, None, False

    def on_train_begin(self, state, backend):
        if self.run_id is not None:  # a second fit with the same tracker: a new run
            self.end()
        mlflow = _mlflow()
        from mlflow.tracking import MlflowClient

        active = mlflow.active_run()
        if active is not None:
            self.client, self.run_id, self.owns_run = MlflowClient(), active.info.run_id, False
        else:
            self.client = MlflowClient(self.tracking_uri)
            found = self.client.get_experiment_by_name(self.experiment)
            experiment_id = found.experiment_id if found else self.client.create_experiment(self.experiment)
            self.run_id = self.client.create_run(experiment_id, run_name=self.run_name).info.run_id
            self.owns_run = True
        settings = {} if self.model is None else self.model.get_params()
        settings |= {"layer_sizes": list(state.arch.layer_sizes), "backend_name": backend.name, **self.params}
        from mlflow.entities import Param

        self.client.log_batch(self.run_id, params=[Param(key, str(value)[:6000]) for key, value in settings.items()])
        log.info("gpudeep: tracking to MLflow run %s at %s", self.run_id, self._where())

    def on_epoch_end(self, state, logs, backend):
        from mlflow.entities import Metric

        now = int(time.time() * 1000)  # the logs are named as history_ names them (an estimator's fit)
        metrics = [Metric(name, value, now, state.epoch) for name, value in logs.items()]
        self.client.log_batch(self.run_id, metrics=metrics)
        return False

    def on_train_end(self, state, backend, error=None):
        if self.run_id is None:
            return
        if error is not None:
            self.end("KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED")
            return
        if self.log_model and self.model is not None:
            from .estimators import save

            with tempfile.TemporaryDirectory() as folder:
                self.log_artifacts([save(self.model, Path(folder) / "model.npz")])
        if self.end_run:
            self.end()

    def log_artifacts(self, paths) -> None:
        """Log files (and the files of folders) to the run as artifacts."""
        for path in map(Path, paths):
            if path.is_dir():
                self.client.log_artifacts(self.run_id, str(path))
            else:
                self.client.log_artifact(self.run_id, str(path))

    def end(self, status: str = "FINISHED") -> None:
        """End the run (if this tracker started it)."""
        if self.run_id is not None and self.owns_run:
            self.client.set_terminated(self.run_id, status)
        self.run_id = None

    def _where(self) -> str:
        return self.tracking_uri if self.owns_run else "the active run's store"
