"""An estimator's model file and checkpoints: what describes a fitted estimator (its schema), and saving,
loading and resuming through the sealed archive (``gpudeep.archive``) and the training state's arrays
(``gpudeep.checkpoint``).

A model file holds the parameters, the input scaling, the class labels and the estimator's parameters; a
checkpoint holds the same plus the training state, so that a fit resumed from it continues exactly.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .. import archive
from ..archive import LABELS, ModelFormatError
from ..backends import DTYPES, Backend
from ..checks import is_integer, is_number
from ..network import Architecture, layouts
from ..parameters import Parameters, shapes
from ..training import EveryEpoch, TrainingState, checkpoint
from ..training.state import History
from . import attributes, hyperparameters
from .inputs import seed_of

MAX_LAYERS = 1000  # the most layers a model file may declare
REQUIRED = {"estimator": str, "layer_sizes": list, "activations": list, "loss": str, "dtype": str,
            "params": dict, "has_classes": bool, "has_input_scaling": bool}


def export(model) -> tuple[dict, dict[str, np.ndarray]]:
    """(metadata, host arrays) that describe the fitted ``model`` completely."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model, "state_")
    state, backend = model.state_, model.backend_
    arrays = state.params.to_host(backend)
    if model.input_mean_ is not None:
        arrays["input_mean"], arrays["input_scale"] = model.input_mean_, model.input_scale_
    classes = getattr(model, "classes_", None)
    if classes is not None:
        if classes.dtype.kind not in "biufU":
            raise ValueError(
                f"cannot save class labels of dtype {classes.dtype}: model files hold bool, number or "
                f"string labels only; convert y with y.astype(str) before fitting"
            )
        arrays["classes"] = classes
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        arrays["feature_names"] = np.asarray(names, dtype=str)
    metadata = {
        "estimator": type(model).__name__,
        "layer_sizes": list(state.arch.layer_sizes),
        "activations": list(state.arch.activations),
        "loss": state.arch.loss,
        "batch_norm": state.arch.batch_norm,
        "dtype": model.dtype_,
        "params": {k: _json_value(v) for k, v in model.get_params().items() if k in hyperparameters.FROM_FILES},
        "has_classes": classes is not None,
        "has_input_scaling": model.input_mean_ is not None,
        "has_feature_names": names is not None,
        "n_iter": state.epoch,
        "t": getattr(model, "t_", 0),
        "loss_curve": state.history.loss,
        "history": state.history.as_dict(),
    }
    return metadata, arrays


def schema(metadata: dict, fail) -> dict[str, tuple]:
    """Check an estimator file's metadata; {name: (shape, dtype)} of the arrays it implies (see ``archive``)."""
    for key, kind in REQUIRED.items():
        if not isinstance(metadata.get(key), kind):
            fail(f"metadata entry {key!r} is missing or not a {kind.__name__}")
    n_iter, curve = metadata.get("n_iter", 0), metadata.get("loss_curve", [])
    if not (is_integer(n_iter) and n_iter >= 0):
        fail(f"n_iter must be a count of epochs, got {n_iter!r}")
    if not (is_integer(metadata.get("t", 0)) and metadata.get("t", 0) >= 0):
        fail(f"t must be a count of samples, got {metadata['t']!r}")
    if not (isinstance(curve, list) and all(is_number(value) for value in curve)):
        fail("loss_curve must be a list of finite numbers")
    if "history" in metadata:
        try:
            History.from_dict(metadata["history"])
        except ValueError as error:
            fail(str(error))
    sizes = metadata["layer_sizes"]
    if len(sizes) > MAX_LAYERS + 1:
        fail(f"declares {len(sizes) - 1} layers; gpudeep model files hold at most {MAX_LAYERS}")
    if len(sizes) < 2 or not all(isinstance(n, int) and not isinstance(n, bool) and 0 < n <= 1 << 20 for n in sizes):
        fail(f"layer_sizes must be at least two positive integers, got {sizes}")
    if metadata["dtype"] not in DTYPES:
        fail(f"dtype must be one of {DTYPES}, got {metadata['dtype']!r}")
    if not isinstance(metadata.get("batch_norm", False), bool):
        fail("batch_norm must be true or false")
    layout, running_layout = layouts(sizes, metadata.get("batch_norm", False))
    expected = shapes(layout, metadata["dtype"]) | shapes(running_layout, metadata["dtype"])
    if metadata["has_input_scaling"]:
        expected["input_mean"] = ((sizes[0],), np.dtype(np.float64))
        expected["input_scale"] = ((sizes[0],), np.dtype(np.float64))
    if metadata["has_classes"]:
        expected["classes"] = (None, LABELS)
    if metadata.get("has_feature_names", False) is not False:
        if metadata["has_feature_names"] is not True:
            fail("has_feature_names must be true or false")
        expected["feature_names"] = ((sizes[0],), LABELS)
    if "checkpoint" in metadata:
        if not isinstance(metadata["checkpoint"], dict):
            fail("checkpoint entry is not an object")
        expected |= checkpoint.training_state_shapes(metadata["checkpoint"], layout, metadata["dtype"], fail)
    return expected


def rebuild(cls: type, metadata: dict, arrays: dict[str, np.ndarray], backend: Backend):
    """The fitted ``cls`` estimator that ``export`` described, with its weights on ``backend``."""
    accepted = set(hyperparameters.FROM_FILES) & set(cls().get_params())  # this estimator's, nothing else
    params = {k: v for k, v in metadata["params"].items() if k in accepted}
    if isinstance(params.get("hidden_layer_sizes"), list):
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    model = cls(**{**params, "backend": backend})
    try:
        hyperparameters.check(params)
        arch = Architecture(tuple(metadata["layer_sizes"]), tuple(metadata["activations"]), metadata["loss"],
                            metadata.get("batch_norm", False))
        if bool(params.get("batch_norm", arch.batch_norm)) != arch.batch_norm:
            raise ValueError(f"batch_norm {params['batch_norm']!r} disagrees with the layers' {arch.batch_norm!r}")
        if params.get("dtype") not in (None, metadata["dtype"]):
            raise ValueError(f"dtype {params['dtype']!r} disagrees with the arrays' {metadata['dtype']!r}")
        if hyperparameters.hidden_sizes(model.hidden_layer_sizes) != arch.layer_sizes[1:-1]:
            raise ValueError(f"hidden_layer_sizes {model.hidden_layer_sizes} disagree with the layers "
                             f"{list(arch.layer_sizes)}")
    except (ValueError, TypeError) as error:
        raise ModelFormatError(f"invalid model description: {error}") from None
    if "input_scale" in arrays and not np.all(arrays["input_scale"] > 0):
        raise ModelFormatError("invalid model description: input_scale must be positive")
    if "classes" in arrays:
        model.classes_ = arrays["classes"]
        if len(np.unique(model.classes_)) != len(model.classes_) or not np.all(
                np.sort(model.classes_) == model.classes_):
            raise ModelFormatError("invalid model description: classes must be distinct and sorted")
        # several sigmoid outputs: a multilabel classifier, its labels 0..k-1
        model._multilabel = arch.loss == "binary_cross_entropy" and arch.layer_sizes[-1] > 1
        if arch.loss != model._loss_name:
            raise ModelFormatError(f"{len(model.classes_)} classes do not fit a network with loss {arch.loss}")
        if arch.layer_sizes[-1] != (1 if len(model.classes_) <= 2 and not model._multilabel else len(model.classes_)):
            raise ModelFormatError(f"{len(model.classes_)} classes do not fit {arch.layer_sizes[-1]} output units")
    elif cls._is_classifier or arch.loss != model._loss_name:
        needed = "classes" if cls._is_classifier else f"the loss of loss={model.loss!r}"
        raise ModelFormatError(f"a {cls.__name__} file must hold {needed}")
    else:
        model.n_outputs_ = arch.layer_sizes[-1]
    model.backend_ = backend
    model.dtype_ = metadata["dtype"]
    params = Parameters.from_host(backend, arch.layout(), arrays, metadata["dtype"], arch.running_layout())
    rng = np.random.default_rng(seed_of(model.random_state))
    model.state_ = TrainingState(arch, params, model._make_optimizer(), rng, epoch=metadata.get("n_iter", 0))
    model.n_features_in_ = arch.layer_sizes[0]
    model.input_mean_ = arrays.get("input_mean")
    model.input_scale_ = arrays.get("input_scale")
    if "feature_names" in arrays:
        if arrays["feature_names"].dtype.kind != "U" or len(set(arrays["feature_names"])) != arch.layer_sizes[0]:
            raise ModelFormatError("invalid model description: feature_names must be distinct names")
        model.feature_names_in_ = np.asarray([str(name) for name in arrays["feature_names"]], dtype=object)
    model.n_iter_ = metadata.get("n_iter", 0)
    model.t_ = metadata.get("t", 0)
    attributes.describe_network(model)
    model.loss_curve_ = list(metadata.get("loss_curve", []))
    if "history" in metadata:  # older model files keep only the loss curve
        model.state_.history = History.from_dict(metadata["history"])
        model.history_ = attributes.named_history(model.state_.history, model._score_name)
    return model


def save(model, path) -> Path:
    """Write a fitted ``model`` to ``path`` (``.npz``) atomically; returns the path."""
    metadata, arrays = export(model)
    return archive.write(Path(path), metadata, arrays)


def save_checkpoint(model, path, run: dict | None = None) -> Path:
    """Write ``model`` with its training state (optimizer, epoch, step, RNG, history) atomically; ``run``:
    the config of the ``gpudeep train`` run that trains it, which ``--resume`` continues."""
    metadata, arrays = export(model)
    metadata["checkpoint"], state_arrays = checkpoint.training_state(model.backend_, model.state_)
    if run is not None:
        metadata["run"] = run
    return archive.write(Path(path), metadata, arrays | state_arrays)


def read(path, *, max_bytes: int | None = None, sha256: str | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """(metadata, arrays) of an estimator's model file or checkpoint, validated (see ``archive.read`` for
    ``max_bytes`` and ``sha256``)."""
    return archive.read(path, schema, limit=max_bytes, expected_sha256=sha256)


def load_checkpoint(path, model) -> None:
    """Put the training state saved in checkpoint ``path`` into ``model``'s fresh ``state_``.

    The checkpoint must be of the same architecture (and classes) as ``model``.
    """
    def fail(reason: str):
        raise ModelFormatError(f"{path}: {reason}")

    metadata, arrays = read(path)
    if "checkpoint" not in metadata:
        fail("a model file, not a checkpoint (it holds no training state)")
    state = model.state_
    saved = (metadata["estimator"], tuple(metadata["layer_sizes"]), tuple(metadata["activations"]), metadata["dtype"])
    fitting = (type(model).__name__, state.arch.layer_sizes, state.arch.activations, model.dtype_)
    if saved != fitting:
        fail(f"checkpoint of a {saved[0]} with layers {list(saved[1])}, activations {list(saved[2])} in {saved[3]}, "
             f"but the model being fitted is a {fitting[0]} with layers {list(fitting[1])}, activations "
             f"{list(fitting[2])} in {fitting[3]}")
    if "classes" in arrays and not np.array_equal(arrays["classes"], model.classes_):
        fail(f"checkpoint classes {arrays['classes'].tolist()} differ from the data's")
    with model.backend_.on_device():
        checkpoint.restore(model.backend_, state, metadata["checkpoint"], arrays, metadata["dtype"], fail)


def checkpoint_writer(model, path, run: dict | None = None) -> EveryEpoch:
    """A callback writing ``model``'s checkpoint (with ``run``, see ``save_checkpoint``) to ``path`` at the
    end of every epoch, atomically."""
    return EveryEpoch(lambda: save_checkpoint(model, path, run))


def _json_value(value):
    """A get_params value as JSON: tuples become lists, and what JSON cannot hold becomes None."""
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, (str, bool, type(None))) or is_number(value) or is_integer(value):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return None
