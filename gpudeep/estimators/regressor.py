"""DeepRegressor: a deep network with scikit-learn's regressor conventions."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils.metaestimators import available_if

from . import docs, hyperparameters, namespaces, predicting
from .base import _DeepNetwork


class DeepRegressor(RegressorMixin, _DeepNetwork):
    __doc__ = f"""A deep L-layer network regressor with scikit-learn's conventions.

    Identity outputs with (half) the squared error, or exponential outputs with (half) the Poisson deviance
    (``loss='poisson'``), for one target or several. Parameters are named as
    in scikit-learn's ``MLPRegressor`` where the concept is the same.

    Parameters
    ----------
{hyperparameters.documentation("DeepRegressor")}

    Attributes
    ----------
{docs.ATTRIBUTES}

    See Also
    --------
    DeepClassifier : the same network for classification.
    gpudeep.load, gpudeep.save : model files.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from gpudeep import DeepRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = DeepRegressor(hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=500,
    ...                       standardize=True, random_state=0, backend="numpy").fit(X, y / y.std())
    >>> model.predict(X[:2]).shape
    (2,)
    >>> model.n_layers_, model.n_outputs_, model.out_activation_
    (3, 1, 'identity')
    """

    _is_classifier = False
    _multi_output = True
    _score_name = "r2"

    def __init__(
        self,
        loss="squared_error",
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
    ):
        self._keep_parameters(locals())

    @property
    def _loss_name(self) -> str:
        return {"squared_error": "mean_squared_error", "poisson": "poisson"}[self.loss]

    @available_if(lambda model: model._check_solver())
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing from the current weights; ``sample_weight`` is as for ``fit``."""
        return self._fit(X, y, incremental=True, sample_weight=sample_weight)

    def _encode_targets(self, y, *, first_fit: bool, classes, warm: bool = False) -> np.ndarray:
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("loss='poisson' needs y >= 0 (counts or rates); use loss='squared_error' for targets "
                             "that may be negative")
        if first_fit:
            self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        return y.reshape(len(y), -1).astype(np.float64)

    @staticmethod
    def _device_score(xp, A_L, Y):
        """R² averaged over outputs, on the device; for a constant target, 1 if it is predicted exactly, else 0
        (scikit-learn's ``r2_score``)."""
        residual = xp.sum((Y - A_L) ** 2, axis=1)
        total = xp.sum((Y - xp.mean(Y, axis=1, keepdims=True)) ** 2, axis=1)
        exact = xp.astype(residual == 0, residual.dtype)
        return xp.mean(xp.where(total > 0, 1 - residual / xp.where(total > 0, total, 1.0), exact))

    def predict(self, X):
        """Predictions ``(n_samples,)``, or ``(n_samples, n_outputs)`` when fitted on several targets, in the
        network's dtype; in X's namespace and on its device."""
        namespaces.check_same_as_fit(self, X, "predict")
        A_L = predicting.output(self, X)
        return namespaces.returned(A_L[:, 0] if self.n_outputs_ == 1 else A_L, namespaces.source_of(X))

    def score(self, X, y, sample_weight=None) -> float:
        """R² of ``predict(X)`` against y (averaged over outputs), as scikit-learn's."""
        predicted = namespaces.host(self.predict(X), self.backend_)
        return float(r2_score(namespaces.host(y, self.backend_), predicted,
                              sample_weight=namespaces.host(sample_weight, self.backend_)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
