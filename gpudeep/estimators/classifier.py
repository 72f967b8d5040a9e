"""DeepClassifier: a deep network with scikit-learn's classifier conventions."""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets, unique_labels

from . import docs, hyperparameters, predicting
from .base import _DeepNetwork


class DeepClassifier(ClassifierMixin, _DeepNetwork):
    __doc__ = f"""A deep L-layer network classifier with scikit-learn's conventions.

    Two classes get one sigmoid output with binary cross-entropy, more get softmax outputs with
    categorical cross-entropy. Labels may be of any type. Parameters are named as in scikit-learn's
    ``MLPClassifier`` where the concept is the same.

    Parameters
    ----------
{hyperparameters.documentation("DeepClassifier")}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted; ``predict_proba``'s columns follow them.
{docs.ATTRIBUTES}

    See Also
    --------
    DeepRegressor : the same network for regression.
    gpudeep.load, gpudeep.save : model files.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from gpudeep import DeepClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> model = DeepClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.03, max_iter=500,
    ...                        standardize=True, random_state=0, backend="numpy").fit(X, y)
    >>> model.predict(X[:3])
    array([0, 0, 0])
    >>> model.score(X, y) > 0.95
    True
    >>> [W.shape for W in model.coefs_], model.out_activation_
    ([(4, 16), (16, 3)], 'softmax')
    """

    _is_classifier = True
    _multi_output = False
    _score_name = "accuracy"

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        dropout=0.0,
        batch_norm=False,
        standardize=False,
        backend=None,
        dtype="float32",
        tf32=None,
        checkpoint_path=None,
        distributed=False,
        n_jobs=None,
        class_weight=None,
    ):
        super().__init__(hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
                         learning_rate=learning_rate, learning_rate_init=learning_rate_init, max_iter=max_iter,
                         shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose, warm_start=warm_start,
                         momentum=momentum, nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
                         validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         n_iter_no_change=n_iter_no_change, dropout=dropout, batch_norm=batch_norm,
                         standardize=standardize, backend=backend, dtype=dtype, tf32=tf32,
                         checkpoint_path=checkpoint_path, distributed=distributed, n_jobs=n_jobs)
        self.class_weight = class_weight

    @property
    def _loss_name(self) -> str:
        return "binary_cross_entropy" if len(self.classes_) == 2 else "categorical_cross_entropy"

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over (X, y), continuing from the current weights; ``classes`` is needed the first time,
        ``sample_weight`` is as for ``fit``."""
        if not hasattr(self, "state_") and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit, e.g. classes=np.unique(y)")
        return self._fit(X, y, incremental=True, classes=classes, sample_weight=sample_weight)

    def _class_weights(self, y) -> np.ndarray | None:
        """Each sample's weight from ``class_weight``: 'balanced' weighs class c by n_samples / (n_classes ·
        n_c), a dict by its entry (1 for a class it does not name)."""
        if self.class_weight is None:
            return None
        if isinstance(self.class_weight, dict):
            unknown = [label for label in self.class_weight if label not in set(self.classes_.tolist())]
            if unknown:
                raise ValueError(f"class_weight names labels {unknown} that are not classes; the classes are "
                                 f"{self.classes_.tolist()}")
        return compute_sample_weight(self.class_weight, y)

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
        """Accuracy on the device: a 0.5 threshold for a sigmoid; for softmax outputs, the one-hot Y's entry at
        each column's argmax (1 for a hit), which needs no argmax of Y."""
        if A_L.shape[0] == 1:
            return xp.mean(xp.astype((A_L > 0.5) == (Y > 0.5), A_L.dtype))
        return xp.mean(xp.take_along_axis(Y, xp.argmax(A_L, axis=0, keepdims=True), axis=0))

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``(n_samples, n_classes)``, columns in the order of ``classes_``."""
        A_L = predicting.output(self, X)
        return np.hstack([1 - A_L, A_L]) if len(self.classes_) == 2 else A_L

    def predict(self, X) -> np.ndarray:
        """The most probable class of each sample, as labels from ``classes_``."""
        probabilities = self.predict_proba(X)
        return self.classes_[np.argmax(probabilities, axis=1)]
