"""DeepRegressor: a deep network with scikit-learn's regressor conventions."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin

from .base import _DeepNetwork


class DeepRegressor(RegressorMixin, _DeepNetwork):
    """A deep network regressor: identity output with mean squared error; one or several targets.

    Parameters as for ``DeepClassifier``.
    """

    _is_classifier = False
    _multi_output = True
    _loss_name = "mean_squared_error"

    def partial_fit(self, X, y):
        """One epoch over (X, y), continuing from the current weights."""
        return self._fit(X, y, incremental=True)

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
        A_L = self._output(X)
        return A_L[:, 0] if self.n_outputs_ == 1 else A_L

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
