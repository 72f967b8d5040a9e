"""The run folder of ``gpudeep train``: what a run needs to be repeated, compared and scored again.

    config.json    the resolved options, which ``gpudeep train --config`` takes back
    split.json     the data set's fingerprint and the rows held out for testing (and validation)
    model.npz      the model (its SHA-256 in metrics.json)
    metrics.json   held-out scores (per class for a classification), versions, the data, the times
    history.csv    each epoch's training and validation loss and score
    curves.png     those curves
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from .datasets import fingerprint, split_indices

FILES = ("config.json", "split.json", "model.npz", "metrics.json", "history.csv", "curves.png")
# What config.json leaves out of `gpudeep train`'s options: where the run writes, how it reports, what it
# resumes. Everything else shapes the run, and --config takes it back.
OUTSIDE_CONFIG = ("out", "checkpoint", "resume", "allow_new_split", "quiet", "debug", "config", "track", "command")
# What a resumed run must keep: the data and the split (the held-out rows) it trained on
SPLIT_SETTINGS = ("dataset", "label", "header", "drop", "task", "test_size", "validation_fraction", "seed")


@contextlib.contextmanager
def claimed(out: Path):
    """Make ``out`` the run's folder before any training: ``ValueError`` if it holds anything already or
    cannot be written, so that a finished run never has nowhere to go and never overwrites another. Folders
    made here that are still empty when the block ends (the run failed or was interrupted before writing
    anything) are removed again."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"the run folder {out} already exists and is not empty; choose another --out")
    made = [folder for folder in (out, *out.parents) if not folder.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".writable"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ValueError(f"cannot write the run folder {out} ({error.strerror or error}); choose another --out") \
            from None
    try:
        yield out
    finally:
        for folder in made:  # from the run folder up
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()


def config(options: dict) -> dict:
    """config.json's content: the options of ``gpudeep train`` that shape the run, as JSON values."""
    return {key: (str(value) if isinstance(value, Path) else value)
            for key, value in options.items() if key not in OUTSIDE_CONFIG}


def config_arguments(path: Path, options: dict[str, argparse.Action]) -> list[str]:
    """The command-line arguments that set what config file ``path`` holds, for the parser whose actions
    are ``options`` (by destination); ``ValueError`` for a file that is not a config or an unknown option."""
    try:
        values = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"--config {path}: cannot be read as JSON ({error})") from None
    return arguments_of(values, options, f"--config {path}")


def arguments_of(values, options: dict[str, argparse.Action], source: str) -> list[str]:
    """The command-line arguments that set the options ``values`` holds (a run's config); ``source`` says
    where they come from, for errors."""
    if not isinstance(values, dict):
        raise ValueError(f"{source}: must hold a JSON object of options, as a run's config.json does")
    arguments = []
    for key, value in upgraded(values).items():
        if key not in options or key in OUTSIDE_CONFIG:
            known = sorted(set(options) - set(OUTSIDE_CONFIG) - {"help"})
            raise ValueError(f"{source}: unknown option {key!r}; a config holds {known}")
        arguments += _as_typed(options[key], value)
    return arguments


def resumed_record(checkpoint: Path) -> dict | None:
    """The config of the run that wrote ``checkpoint`` (``gpudeep train --checkpoint``), or None for a
    checkpoint written otherwise (``checkpoint_path=`` of an estimator)."""
    from .estimators.persistence import read

    record = read(checkpoint)[0].get("run")
    if record is not None and not isinstance(record, dict):
        raise ValueError(f"--resume {checkpoint}: its run record is not an object of options")
    return None if record is None else upgraded(record)


def upgraded(config: dict) -> dict:
    """A config of an older run in today's options: no validation was ``validation_fraction`` None before it
    became 0.1 by default, and is 0 now."""
    if "validation_fraction" in config and config["validation_fraction"] is None:
        return config | {"validation_fraction": 0.0}
    return config


def check_resumed(options: dict, record: dict, checkpoint: Path) -> None:
    """``ValueError`` where ``options`` (a resumed run's, as typed over its record) change what the run
    trains and scores on: its held-out rows would then hold rows already trained on."""
    changed = [key for key in SPLIT_SETTINGS if key in record and _recorded(options.get(key), key) != record[key]]
    if changed and not options.get("allow_new_split"):
        typed = ", ".join(f"--{key.replace('_', '-')} {options[key]!r} (the run's: {record[key]!r})"
                          for key in changed)
        raise ValueError(f"--resume {checkpoint}: {typed} would change the data or the split that the run trained on, "
                         f"so its held-out rows could include rows it trained on; leave them out to continue the run "
                         f"as it was, or pass --allow-new-split to resume on the new split anyway")


def located(dataset: str) -> str:
    """A data set as a run records it: a bundled set's name, or a file's absolute path, so that the run
    folder's record works from any folder."""
    return str(Path(dataset).absolute()) if Path(dataset).suffix in (".csv", ".npz") else dataset


def _recorded(value, key: str):
    """An option's value as config.json holds it."""
    if key == "dataset" and isinstance(value, str):
        return located(value)
    return str(value) if isinstance(value, Path) else value


def _as_typed(action: argparse.Action, value) -> list[str]:
    """The arguments that set ``action`` to ``value`` on the command line."""
    if value is None:
        return []
    if isinstance(action, argparse.BooleanOptionalAction):
        return [action.option_strings[0] if value else action.option_strings[1]]
    if action.nargs == 0:  # a store_true (or store_false) flag
        return [action.option_strings[0]] if value != action.default else []
    if isinstance(value, list) and not value:  # an empty list: the default of --drop
        return []
    text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    return [f"{action.option_strings[0]}={text}"]


def split(X, y, task: str, *, dataset: str, test_size: float, validation_fraction: float | None,
          seed: int) -> tuple[np.ndarray, dict]:
    """(the training rows, in the order they are trained on; split.json's content: the data's fingerprint
    and the rows held out for testing and, with ``validation_fraction``, for validation)."""
    train, test = split_indices(y, task, test_size=test_size, seed=seed)
    validation = []
    if validation_fraction is not None:
        kept, held = split_indices(y[train], task, test_size=validation_fraction, seed=seed)
        train, validation = train[kept], sorted(train[held].tolist())
    return train, {"dataset": dataset, "task": task, "n_samples": len(y), "data_sha256": fingerprint(X, y),
                   "test_size": test_size, "validation_fraction": validation_fraction, "seed": seed,
                   "test": sorted(test.tolist()), "validation": validation}


def write(out: Path, model, *, config: dict, split: dict, X_test, y_test, seconds: float,
          interrupted: bool) -> dict:
    """Write the run's files to ``out`` (see the module's docstring); returns the metrics written."""
    from .archive import sha256
    from .estimators import save

    _write_json(out / "config.json", config)
    _write_json(out / "split.json", split)
    digest = sha256(save(model, out / "model.npz"))
    metrics = {
        "dataset": config["dataset"], "task": split["task"], **scores(model, X_test, y_test),
        "n_train": split["n_samples"] - len(split["test"]) - len(split["validation"]),
        "n_validation": len(split["validation"]),
        "n_test": len(split["test"]), "epochs": model.n_iter_, "interrupted": interrupted,
        "train_seconds": round(seconds, 3), "backend": model.backend_.name, "device": model.backend_.description,
        "model_sha256": digest, "data_sha256": split["data_sha256"], "versions": versions(model.backend_),
        "loss_curve": model.loss_curve_, "history": model.history_,
    }
    _write_json(out / "metrics.json", metrics)
    write_history(model.history_, out / "history.csv")
    plot_curves(model.history_, f"{Path(config['dataset']).stem}", out / "curves.png")
    return metrics


def scores(model, X, y) -> dict:
    """The held-out metrics: accuracy, per-class precision, recall and F1, and the confusion matrix for a
    classifier; R², mean absolute and root mean squared error for a regressor."""
    from sklearn import metrics

    predicted = model.predict(X)
    if hasattr(model, "classes_"):
        report = metrics.classification_report(y, predicted, labels=model.classes_, output_dict=True,
                                               zero_division=0)
        per_class = {str(label): report[str(label)] for label in model.classes_}
        return {"accuracy": metrics.accuracy_score(y, predicted), "per_class": per_class,
                "confusion_matrix": metrics.confusion_matrix(y, predicted, labels=model.classes_).tolist()}
    return {"r2": metrics.r2_score(y, predicted), "mae": metrics.mean_absolute_error(y, predicted),
            "rmse": float(np.sqrt(metrics.mean_squared_error(y, predicted)))}


def versions(backend) -> dict[str, str]:
    """The versions a run depends on: Python, gpudeep, scikit-learn and the backend's array libraries."""
    found = {"python": platform.python_version()}
    for name in ("gpudeep", "scikit-learn"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:  # gpudeep run from a source tree that is not installed
            found[name] = "unknown"
    return found | backend.versions()


def write_history(history: dict[str, list[float]], path: Path) -> None:
    """history.csv: a row per epoch, a column per metric (loss, accuracy or r2, val_...)."""
    names = list(history)
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["epoch", *names])
        for epoch, values in enumerate(zip(*(history[name] for name in names)), start=1):
            writer.writerow([epoch, *(repr(value) for value in values)])


def plot_curves(history: dict[str, list[float]], title: str, path: Path) -> None:
    """curves.png: the loss (left) and the score (right), training and validation, by epoch."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(10, 4))
    loss_axes, score_axes = figure.subplots(1, 2)
    score = next(name for name in history if name not in ("loss", "val_loss") and not name.startswith("val_"))
    labels = {"loss": "training (with the L2 term, dropout on)", "val_loss": "validation",
              score: "training batches", f"val_{score}": "validation"}
    for axes, names, ylabel in ((loss_axes, ("loss", "val_loss"), "loss"),
                                (score_axes, (score, f"val_{score}"), score)):
        for name in names:
            if name in history:
                axes.plot(range(1, len(history[name]) + 1), history[name], label=labels[name])
        axes.set(xlabel="epoch", ylabel=ylabel, title=f"{title}: {ylabel}")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(True, alpha=0.3)
        axes.legend()
    loss_axes.set_yscale("log")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def read_record(model_path: Path) -> tuple[dict, dict] | None:
    """(config, split) of the run folder that holds ``model_path``, or None when it is not in one."""
    folder = model_path.parent
    if not ((folder / "config.json").is_file() and (folder / "split.json").is_file()):
        return None
    try:
        config, split = (json.loads((folder / name).read_text()) for name in ("config.json", "split.json"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{folder}: its run record cannot be read ({error}); to score without it, pass "
                         f"--dataset with --whole or --test-size") from None
    if not (isinstance(config, dict) and isinstance(split, dict) and _indices(split.get("test"))
            and isinstance(split.get("data_sha256"), str) and isinstance(config.get("dataset"), str)):
        raise ValueError(f"{folder}: config.json or split.json is not a gpudeep run record; to score without "
                         f"it, pass --dataset with --whole or --test-size")
    return config, split


def _indices(value) -> bool:
    """A non-empty list of row indices."""
    return isinstance(value, list) and len(value) > 0 and all(
        isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value)


def _write_json(path: Path, value: dict) -> None:
    path.write_text(json.dumps(value, indent=2) + "\n")
