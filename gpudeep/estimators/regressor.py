"""DeepRegressor: a deep network with scikit-learn's regressor conventions."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin

from . import docs, hyperparameters, predicting
from .base import _DeepNetwork


class DeepRegressor(RegressorMixin, _DeepNetwork):
    __doc__ = f"""A deep L-layer network regressor with scikit-learn's conventions.

    Identity outputs with (half) mean squared error, for one target or several. Parameters are named as
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
    _loss_name = "mean_squared_error"
    _score_name = "r2"

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing from the current weights; ``sample_weight`` is as for ``fit``."""
        return self._fit(X, y, incremental=True, sample_weight=sample_weight)

    def _encode_targets(self, y, *, first_fit: bool, classes) -> np.ndarray:
        if first_fit:
            self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        return y.reshape(len(y), -1).astype(np.float64)

    @staticmethod
    def _device_score(xp, A_L, Y):
        """R² averaged over outputs, on the device."""
        residual = xp.sum((Y - A_L) ** 2, axis=1)
        total = xp.sum((Y - xp.mean(Y, axis=1, keepdims=True)) ** 2, axis=1)
        return xp.mean(1 - residual / xp.where(total > 0, total, 1.0))

    def predict(self, X) -> np.ndarray:
        """Predictions ``(n_samples,)``, or ``(n_samples, n_outputs)`` when fitted on several targets."""
        A_L = predicting.output(self, X)
        return A_L[:, 0] if self.n_outputs_ == 1 else A_L

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
