"""ONNX export from the very forward pass that trains.

``export_onnx`` runs the library's own ``forward`` (and the estimators' own standardization and probability
steps) on the ``onnx`` backend, whose arrays are values of an ONNX graph (ndonnx): X is the graph's input,
the weights are constants, and what the math computes becomes the graph. No layer is written twice, so the
exported model cannot drift from the trained one. onnxscript's optimizer then folds the constant parts (the
weights' views of the parameter buffer become the weights), and ``onnx.checker`` checks the result before it
is written.

The graph's interface is the one ONNX Runtime users know from skl2onnx's MLP models: a classifier gives
``label`` (the original class labels) and ``probabilities`` ``(N, n_classes)``; a regressor ``variable``
``(N, n_outputs)``. The batch dimension ``N`` is free. The input is ``X`` ``(N, n_features)`` or, for a model
that knows its columns' names (fitted on a DataFrame or a CSV), one input per column, ``(N, 1)`` each.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_is_fitted

from . import atomic
from .archive import library_version, sha256
from .backends import BackendUnavailableError, get_backend
from .estimators import attributes
from .estimators.fitting import scale
from .network import forward
from .parameters import Parameters


@dataclass(frozen=True)
class Exported:
    """What ``export_onnx`` wrote: the file, its inputs and outputs by name, and the graph's node count."""

    path: Path
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    nodes: int


def export_onnx(model, path, *, model_file=None) -> Exported:
    """Write the fitted ``model`` (a ``DeepClassifier`` or ``DeepRegressor``) to ``path`` as an ONNX model.

    model_file: the model file it was loaded from, whose SHA-256 the ONNX metadata then records. Raises
    ``ImportError`` naming the extra to install when the export's libraries are missing.
    """
    check_is_fitted(model, "state_")
    attributes.put_set_weights(model, keep=True)
    onnx, optimizer = _libraries()
    backend = get_backend("onnx")
    ndonnx, state = backend.xp, model.state_
    params = Parameters.from_host(backend, state.arch.layout(), state.params.to_host(model.backend_), model.dtype_,
                                  state.arch.running_layout())
    dtype = backend.dtype(model.dtype_)
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        inputs = {"X": ndonnx.argument(shape=("N", model.n_features_in_), dtype=dtype)}
        X = inputs["X"]
    else:
        inputs = {str(name): ndonnx.argument(shape=("N", 1), dtype=dtype) for name in names}
        X = ndonnx.concat(list(inputs.values()), axis=1)
    A_L = forward(ndonnx, state.arch, params, scale(model, X).T).A[state.arch.L].T  # (N, n[L]), as predict's
    outputs = _classifier_outputs(model, ndonnx, A_L) if model._is_classifier else {"variable": A_L}
    weights = max(int(state.params.flat.shape[0]), int(state.params.running_flat.shape[0]))
    # fold every constant computation, the weights' views of the buffer among them, however large the buffer
    graph = optimizer.optimize(ndonnx.build(inputs, outputs), input_size_limit=weights, output_size_limit=weights)
    onnx.helper.set_model_props(graph, _metadata(model, model_file))
    onnx.checker.check_model(graph, full_check=True)
    atomic.write_bytes(Path(path), graph.SerializeToString())
    return Exported(Path(path), tuple(inputs), tuple(outputs), len(graph.graph.node))


def _libraries():
    """(onnx, onnxscript's optimizer); ``ImportError`` with the extra to install when one is missing."""
    try:
        get_backend("onnx")
        import onnx
        import onnxscript.optimizer as optimizer
    except (BackendUnavailableError, ImportError) as error:
        raise ImportError(f"ONNX export needs ndonnx, onnx and onnxscript: pip install 'gpudeep[onnx]' "
                          f"({error})") from error
    return onnx, optimizer


def _classifier_outputs(model, xp, A_L) -> dict:
    """``label`` and ``probabilities`` from A[L] ``(N, n[L])``, by the classifier's own rules."""
    probabilities = model._probabilities_from(A_L)
    if model._multilabel:
        return {"label": xp.astype(probabilities > 0.5, xp.int64), "probabilities": probabilities}
    classes = model.classes_
    classes = classes.astype(np.int64) if classes.dtype.kind in "biu" else classes
    classes = classes.astype(str) if classes.dtype.kind not in "biuf" else classes
    return {"label": xp.take(xp.asarray(classes), xp.argmax(probabilities, axis=1)), "probabilities": probabilities}


def _metadata(model, model_file) -> dict[str, str]:
    """The ONNX model's metadata: versions, what it was made from, the network's shape."""
    arch = model.state_.arch
    weights = np.ascontiguousarray(model.backend_.to_numpy(model.state_.params.flat))
    metadata = {
        "producer": "gpudeep", "gpudeep_version": library_version(), "estimator": type(model).__name__,
        "layer_sizes": json.dumps([int(n) for n in arch.layer_sizes]),
        "activations": json.dumps(list(arch.activations)), "batch_norm": json.dumps(arch.batch_norm),
        "dtype": model.dtype_,
        "weights_sha256": hashlib.sha256(weights.tobytes()).hexdigest(),
    }
    if model_file is not None:
        metadata["model_sha256"] = sha256(model_file)
    if model._is_classifier:
        metadata["classes"] = json.dumps(np.asarray(model.classes_).tolist())
    return metadata
