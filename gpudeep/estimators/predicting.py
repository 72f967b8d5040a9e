"""Predictions of a fitted estimator: rows in chunks that fit the device's memory, through the network's
forward pass. Host input gives host output (NumPy, in the network's dtype); an array of the backend stays on
its device, in and out."""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..network import forward
from . import attributes, namespaces
from .fitting import checked_X, scale
from .inputs import check_range, device_rows

PREDICT_MEMORY_BYTES = 256 * 2**20  # device memory one forward pass at prediction time may use


def output(model, X):
    """A[L] ``(n_samples, n[L])`` for X ``(n_samples, n_features)``, in the network's dtype: a NumPy array for
    host X, an array of the backend for one of its arrays; from the ``coefs_`` and ``intercepts_`` set since the
    last fit, if any."""
    check_is_fitted(model, "state_")
    attributes.put_set_weights(model, keep=True)
    X = scale(model, checked_X(model, X, reset=False))
    check_range("X", X, model.dtype_, model.backend_)
    backend, state = model.backend_, model.state_
    on_device = namespaces.source_of(X) is not None
    rows = chunk_rows(model)
    outputs = []
    with (
        backend.memory_guard(f"predicting {rows} rows at a time",
                             "lower gpudeep.estimators.predicting.PREDICT_MEMORY_BYTES"),
        backend.on_device(),
        backend.allow_tf32(model.tf32),
        backend.computing(state.arch.forward_flops(min(rows, X.shape[0])), model.n_jobs),
    ):
        for start in range(0, X.shape[0], rows):
            X_chunk = device_rows(backend, X[start:min(start + rows, X.shape[0]), ...], model.dtype_)
            A_L = forward(backend.xp, state.arch, state.params, X_chunk.T).A[state.arch.L]
            outputs.append(A_L.T if on_device else np.ascontiguousarray(backend.to_numpy(A_L).T))
    if on_device:
        return backend.xp.concat(outputs, axis=0)
    return np.concatenate(outputs) if outputs else np.empty((0, state.arch.layer_sizes[-1]), model.dtype_)


def chunk_rows(model) -> int:
    """Rows per forward pass so that its input, Z[l] and A[l] fit in PREDICT_MEMORY_BYTES."""
    return model.state_.arch.forward_rows(PREDICT_MEMORY_BYTES, model.dtype_)
