"""DeepClassifier: a deep network with scikit-learn's classifier conventions."""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets, unique_labels

from .base import _DeepNetwork


class DeepClassifier(ClassifierMixin, _DeepNetwork):
    """A deep network classifier: sigmoid output with binary cross-entropy for two classes,
    softmax with categorical cross-entropy for more. Labels may be of any type.

    Parameters are named as in scikit-learn's ``MLPClassifier`` where the concept is the same,
    plus ``dropout`` (rate on hidden layers), ``standardize`` (scale inputs with the training
    data's mean and standard deviation), ``backend`` (a name for ``get_backend``, or a resolved
    ``Backend``), ``dtype``, ``tf32`` (True: float32 products use TF32 tensor cores on a GPU that has
    them; False: they do not; None: CuPy's setting, the user's ``CUPY_TF32``; see ``Backend.allow_tf32``),
    ``checkpoint_path`` (written atomically after every epoch) and
    ``distributed`` (data-parallel over the ranks of an MPI job, see ``gpudeep.distributed``) and
    ``n_jobs`` (BLAS threads on the CPU: None chooses them by problem size, one thread for small
    networks and batches; a positive count or -1 for every core overrides it, see ``gpudeep.threads``).
    """

    _is_classifier = True
    _multi_output = False

    @property
    def _loss_name(self) -> str:
        return "binary_cross_entropy" if len(self.classes_) == 2 else "categorical_cross_entropy"

    def partial_fit(self, X, y, classes=None):
        """One epoch over (X, y), continuing from the current weights; ``classes`` is needed the first time."""
        if not hasattr(self, "state_") and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit, e.g. classes=np.unique(y)")
        return self._fit(X, y, incremental=True, classes=classes)

    def _encode_targets(self, y, *, first_fit: bool, classes) -> np.ndarray:
        """Y ``(n_samples, n[L])``: the class index for two classes, one-hot columns for more."""
        check_classification_targets(y)
        if first_fit:
            self.classes_ = unique_labels(classes if classes is not None else y)
            if len(self.classes_) < 2:
                raise ValueError(
                    f"y has one class only ({self.classes_[0]!r}); DeepClassifier needs at least 2 classes"
                )
        unknown = np.setdiff1d(unique_labels(y), self.classes_)
        if unknown.size:
            raise ValueError(f"y has labels {unknown.tolist()} not in classes_ {self.classes_.tolist()}")
        index = np.searchsorted(self.classes_, y)
        if len(self.classes_) == 2:
            return index[:, None].astype(np.float64)
        return np.eye(len(self.classes_))[index]

    @staticmethod
    def _device_score(xp, A_L, Y):
        """Accuracy on the device: argmax for softmax outputs, 0.5 threshold for a sigmoid."""
        if A_L.shape[0] == 1:
            hits = (A_L > 0.5) == (Y > 0.5)
        else:
            hits = xp.argmax(A_L, axis=0) == xp.argmax(Y, axis=0)
        return xp.mean(xp.astype(hits, A_L.dtype))

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``(n_samples, n_classes)``, columns in the order of ``classes_``."""
        A_L = self._output(X)
        return np.hstack([1 - A_L, A_L]) if len(self.classes_) == 2 else A_L

    def predict(self, X) -> np.ndarray:
        """The most probable class of each sample, as labels from ``classes_``."""
        probabilities = self.predict_proba(X)
        return self.classes_[np.argmax(probabilities, axis=1)]
