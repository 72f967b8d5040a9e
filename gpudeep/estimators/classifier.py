"""DeepClassifier: a deep network with scikit-learn's classifier conventions."""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels

from . import docs, hyperparameters, namespaces, predicting
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
    _multi_output = True  # multilabel y
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
        power_t=0.5,
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
        max_fun=15000,
        dropout=0.0,
        batch_norm=False,
        standardize=False,
        backend=None,
        dtype=None,
        tf32=None,
        checkpoint_path=None,
        distributed=False,
        n_jobs=None,
        class_weight=None,
    ):
        self._keep_parameters(locals())

    _multilabel = False  # one sigmoid output per label, fitted on an indicator matrix

    @property
    def _loss_name(self) -> str:
        binary = self._multilabel or len(self.classes_) <= 2
        return "binary_cross_entropy" if binary else "categorical_cross_entropy"

    @available_if(lambda model: model._check_solver())
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over (X, y), continuing from the current weights; ``classes`` is needed the first time,
        ``sample_weight`` is as for ``fit``."""
        if not hasattr(self, "classes_") and classes is None:
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

    def _encode_targets(self, y, *, first_fit: bool, classes, warm: bool = False) -> np.ndarray:
        """Y ``(n_samples, n[L])``: the class index for two classes, one-hot columns for more, the indicator
        matrix itself for multilabel y (one sigmoid output per label). first_fit: learn ``classes_`` here;
        warm: a ``warm_start`` fit, whose classes must be the earlier fit's."""
        check_classification_targets(y)
        kind = type_of_target(y)
        if kind not in ("binary", "multiclass", "multilabel-indicator"):
            raise ValueError(f"DeepClassifier takes one label per sample, or a multilabel indicator matrix of 0 and 1, "
                             f"got y of type {kind!r}; for several targets of their own, fit one model per target")
        if first_fit:
            self._multilabel = kind == "multilabel-indicator"
            self.classes_ = np.arange(y.shape[1]) if self._multilabel else unique_labels(
                classes if classes is not None else y)
            if self._multilabel:
                return np.asarray(y, dtype=np.float64)
        elif classes is not None and not np.array_equal(unique_labels(classes), self.classes_):
            raise ValueError(f"classes={list(unique_labels(classes))} differ from the classes of the first call to "
                             f"partial_fit, {self.classes_.tolist()}; pass the same classes (or none) every time")
        if self._multilabel:
            if kind != "multilabel-indicator" or y.shape[1] != len(self.classes_):
                raise ValueError(f"y must be an indicator matrix of {len(self.classes_)} labels, as in the first fit")
            return np.asarray(y, dtype=np.float64)
        if warm and set(unique_labels(y)) != set(self.classes_):
            raise ValueError(f"warm_start can only be used where `y` has the same classes as in the previous call to "
                             f"fit. Previously got {self.classes_}, `y` has {unique_labels(y)}; fit with "
                             f"warm_start=False to learn new classes")
        unknown = np.setdiff1d(unique_labels(y), self.classes_)
        if unknown.size:
            raise ValueError(f"y has labels {unknown.tolist()} not in classes_ {self.classes_.tolist()}")
        index = np.searchsorted(self.classes_, y)
        if len(self.classes_) <= 2:  # one sigmoid output (all 0 for a single class, which is then predicted)
            return index[:, None].astype(np.float64)
        return np.eye(len(self.classes_))[index]

    def _device_score(self, xp, A_L, Y):
        """Accuracy on the device: for sigmoid outputs, the share of samples with every output on the right side
        of 0.5 (scikit-learn's subset accuracy, for multilabel y); for softmax outputs, the one-hot Y's entry at
        each column's argmax (1 for a hit), which needs no argmax of Y."""
        if self._multilabel or A_L.shape[0] == 1:
            return xp.mean(xp.astype(xp.all((A_L > 0.5) == (Y > 0.5), axis=0), A_L.dtype))
        return xp.mean(xp.take_along_axis(Y, xp.argmax(A_L, axis=0, keepdims=True), axis=0))

    def predict_proba(self, X):
        """Class probabilities ``(n_samples, n_classes)``, columns in the order of ``classes_``; for multilabel y,
        each label's own probability. In X's namespace and on its device."""
        namespaces.check_same_as_fit(self, X, "predict_proba")
        return namespaces.returned(self._probabilities(X), namespaces.source_of(X))

    def predict_log_proba(self, X):
        """The logarithm of ``predict_proba(X)``."""
        namespaces.check_same_as_fit(self, X, "predict_log_proba")
        probabilities = self._probabilities(X)
        with np.errstate(divide="ignore"):
            xp = namespaces.namespace_of(probabilities, self.backend_)
            return namespaces.returned(xp.log(probabilities), namespaces.source_of(X))

    def predict(self, X):
        """The most probable class of each sample, as labels from ``classes_``; for multilabel y, the indicator
        matrix of the labels with a probability above 0.5. In X's namespace and on its device (labels that are
        not numbers: a NumPy array)."""
        namespaces.check_same_as_fit(self, X, "predict")
        probabilities = self._probabilities(X)
        xp = namespaces.namespace_of(probabilities, self.backend_)
        if self._multilabel:
            labels = xp.astype(probabilities > 0.5, xp.int64)
        elif xp is np or self.classes_.dtype.kind not in "biuf":
            index = xp.argmax(probabilities, axis=1)
            labels = self.classes_[index if xp is np else self.backend_.to_numpy(index)]
        else:  # numeric labels are looked up where the probabilities are
            labels = xp.take(self.backend_.asarray(self.classes_), xp.argmax(probabilities, axis=1))
        return namespaces.returned(labels, namespaces.source_of(X))

    def score(self, X, y, sample_weight=None) -> float:
        """The accuracy of ``predict(X)`` against y (subset accuracy for multilabel y), as scikit-learn's."""
        predicted = namespaces.host(self.predict(X), self.backend_)
        return float(accuracy_score(namespaces.host(y, self.backend_), predicted,
                                    sample_weight=namespaces.host(sample_weight, self.backend_)))

    def _probabilities(self, X):
        """``predict_proba`` in the namespace the network computed it in (NumPy for host X)."""
        return self._probabilities_from(predicting.output(self, X))

    def _probabilities_from(self, A_L):
        """``predict_proba`` from the network's output A[L] ``(n_samples, n[L])``, in its namespace."""
        xp = namespaces.namespace_of(A_L, self.backend_)
        if len(self.classes_) == 1:  # a single class seen: it is certain
            return xp.ones_like(A_L)
        return xp.concat([1 - A_L, A_L], axis=1) if self.n_outputs_ == 1 and not self._multilabel else A_L

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
