"""What DeepClassifier and DeepRegressor share: scikit-learn conventions on top of the L-layer network.

Data are samples as rows, ``(n_samples, n_features)``, and stay so on the device
(C-contiguous, so that gathering a mini-batch's rows is cheap); the math receives
each batch as its transposed view, one sample per column. Inputs are validated on
the host, with scikit-learn's own checks, before anything moves to the device.
Predictions come back as NumPy arrays whatever the backend. A fit follows scikit-learn's MLP in what it
counts and when it stops (``solvers``).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..activations import ACTIVATIONS, by_sklearn_name
from ..backends import Backend, get_backend
from ..distributed import world
from ..network import Architecture, init_parameters
from ..optim import OPTIMIZERS
from ..parameters import Parameters
from ..training import TrainingState
from ..training.state import ShuffleStream
from . import attributes, fitting, hyperparameters, solvers
from .inputs import check_callbacks, seed_of
from .persistence import load_checkpoint


class _DeepNetwork(BaseEstimator):
    """What the classifier and the regressor share: fitting and the fitted network. Each estimator's
    ``__init__`` lists its parameters (scikit-learn reads them there; ``hyperparameters.TABLE`` documents
    and checks them)."""

    _loss_name: str
    _score_name: str  # what the score is: accuracy, r2

    def _keep_parameters(self, arguments: dict) -> None:
        """Each ``__init__`` argument as the attribute of its name, unchanged (scikit-learn's rule: parameters
        are checked when fitting)."""
        for name, value in arguments.items():
            if name not in ("self", "__class__"):
                setattr(self, name, value)

    # -- fitting -----------------------------------------------------------------------------

    def fit(self, X, y, sample_weight=None, *, validation_data=None, callbacks=None, resume_from=None):
        """Train for ``max_iter`` epochs (fewer if training converges; iterations for 'lbfgs'); returns self.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), or (n_samples, n_outputs) for a regressor
        sample_weight : array-like of shape (n_samples,), default=None
            How much each sample's loss counts (non-negative): the cost is the weighted mean of the samples'
            losses, and the L2 term is over the weights' sum, as in scikit-learn, so a weight of 2 is the sample
            twice. Multiplied by the class weights of ``class_weight`` for a classifier.
        validation_data : tuple (X_val, y_val), default=None
            Data scored after every epoch (``history_["val_loss"]`` and the validation score); with
            ``early_stopping``, training stops on its score instead of holding out ``validation_fraction``.
        callbacks : list of gpudeep.training.Callback, default=None
            Called at the start, after every epoch (returning True stops training) and at the end; each
            receives this estimator through ``set_model`` first, and each epoch's logs named as ``history_``
            names them (``loss``, ``accuracy`` or ``r2``, ``val_loss``, ...). See
            ``gpudeep.tracking.MlflowTracker``.
        resume_from : path, default=None
            A checkpoint written through ``checkpoint_path``: training goes on from its epoch until
            ``max_iter`` epochs are done in all.

        Returns
        -------
        self
        """
        return self._fit(X, y, incremental=False, resume_from=resume_from, sample_weight=sample_weight,
                         validation_data=validation_data, callbacks=callbacks)

    def _fit(self, X, y, *, incremental: bool, classes=None, resume_from=None, sample_weight=None,
             validation_data=None, callbacks=None):
        """Host data (checked, scaled, encoded, weighted), the ranks' agreement and seed, the network on its
        backend, the one move to the device, training, then the fitted attributes: each once, in that order."""
        self._check_hyperparameters()
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True: it trains one epoch on the data it "
                             "is given; set early_stopping=False, or fit with validation_data")
        callbacks = check_callbacks(callbacks)
        continuing = (incremental or self.warm_start) and (hasattr(self, "state_") or attributes.weights_set(self))
        group = world() if self.distributed else None
        if not continuing or not hasattr(self, "state_"):  # where the math runs, known before the data are read
            self.backend_ = self._resolved_backend(group)
        host = fitting.prepare(self, X, y, sample_weight, validation_data, continuing=continuing, classes=classes)
        # scikit-learn's one stream of a fit, in its order: the initial weights, the held-out split, the shuffles
        stream = np.random.RandomState(self._agreed_seed(host, group))
        backend, state = self._network(host, stream, group, continuing=continuing, incremental=incremental)
        if self.early_stopping and self.solver != "lbfgs" and host.validation is None:
            host = fitting.held_out(self, host, stream)
        state.rng = ShuffleStream(stream)
        if resume_from is not None:
            load_checkpoint(resume_from, self)
        data = fitting.on_device(backend, host, self.dtype_)
        epochs_before = state.epoch if resume_from is None else 0  # a resumed fit counts the epochs done before
        epochs = max((1 if incremental else self.max_iter) - (state.epoch if resume_from is not None else 0), 0)
        started_at = state.epoch
        if self.solver == "lbfgs":
            stopper = None
            with solvers.unfitted_if_diverged(self, None):
                solvers.lbfgs(self, backend, state, data, epochs)
        else:
            stopper = solvers.stopping_rule(self, state, monitor_validation=data.validation is not None and (
                self.early_stopping or validation_data is None))
            solvers.stochastic(self, backend, state, data, group, None if incremental else stopper, callbacks,
                               epochs)
        self.n_iter_ = state.epoch - epochs_before
        self._no_improvement_count = 0 if stopper is None else stopper.count
        attributes.record(self, state.history, group, has_validation=data.validation is not None)
        if not incremental:
            solvers.warn_if_not_converged(self, epochs, state.epoch - started_at, stopper)
        return self

    def _agreed_seed(self, host: fitting.HostFit, group):
        """The fit's seed: ``random_state``'s, or rank 0's once every rank is known to hold the same data and
        settings."""
        if group is None:
            return seed_of(self.random_state)
        with group.ending_the_job_on_failure():
            group.check_agreement(fitting.facts(self, host.X, host.Y))
        return group.broadcast_seed(seed_of(self.random_state))

    def _network(self, host: fitting.HostFit, stream, group, *, continuing: bool, incremental: bool):
        """(backend, training state): a new network on ``backend_``, its weights drawn from ``stream`` (a
        ``RandomState``), unless continuing (from an earlier fit's weights, or from ``coefs_`` and ``intercepts_``
        as set); the same on every rank. A fit that continues (``warm_start``) makes a new optimizer, as
        scikit-learn does; ``partial_fit`` keeps it."""
        if not continuing or not hasattr(self, "state_"):
            with self.backend_.memory_guard(self._network_size(host.X.shape[1], host.Y.shape[1]),
                                            "lower hidden_layer_sizes"):
                self.state_ = self._initial_state(host.X.shape[1], host.Y.shape[1], stream)
        elif not incremental:
            self.state_.optimizer = self._make_optimizer()
        attributes.put_set_weights(self, keep=continuing)
        if group is not None:
            with group.ending_the_job_on_failure():
                group.bind(self.backend_)
                group.broadcast_parameters(self.backend_, self.state_.params)
        return self.backend_, self.state_

    def _network_size(self, n_features: int, n_outputs: int) -> str:
        """What creating the network allocates, in words: its parameters in ``dtype_``, and the float64 draw
        of one layer's first weights (scikit-learn draws them so)."""
        sizes = (n_features, *self._hidden_sizes(), n_outputs)
        count = sum(n * m + m for n, m in zip(sizes, sizes[1:]))
        largest = max(n * m for n, m in zip(sizes, sizes[1:]))
        return (f"creating the network of {count:,} parameters ({count * np.dtype(self.dtype_).itemsize / 2**30:.1f} "
                f"GiB in {self.dtype_}, and {largest * 8 / 2**30:.1f} GiB to draw its largest layer's first weights "
                f"in float64)")

    def _resolved_backend(self, group) -> Backend:
        """``backend`` resolved, the same on every rank of a data-parallel fit."""
        if group is not None:
            return group.agree_on_backend(self.backend)
        backend = self.backend if isinstance(self.backend, Backend) else get_backend(self.backend)
        if not backend.trains:
            raise ValueError(f"backend {backend.name!r} records graphs for export and cannot train; fit on 'numpy' or "
                             f"'cupy', then export (gpudeep.export_onnx)")
        return backend

    def _class_weights(self, y) -> np.ndarray | None:
        """Per-sample weights from the classes (``class_weight``); None for a regressor or without them."""
        return None

    coefs_ = property(attributes.get_coefs, attributes.set_coefs, doc=attributes.get_coefs.__doc__)
    intercepts_ = property(attributes.get_intercepts, attributes.set_intercepts,
                           doc=attributes.get_intercepts.__doc__)

    @property
    def _optimizer(self):
        """The fit's stochastic optimizer, as scikit-learn names it (``learning_rate`` is the current rate)."""
        check_is_fitted(self, "state_")
        return self.state_.optimizer

    def _check_solver(self) -> bool:
        """True where ``partial_fit`` exists: for the stochastic solvers (scikit-learn's rule)."""
        if self.solver == "lbfgs":
            raise AttributeError("partial_fit is only available for stochastic optimizers; lbfgs is not stochastic: "
                                 "use fit, or solver='adam' or 'sgd'")
        return True

    def _loss_grad_lbfgs(self, packed, X, y, sample_weight=None, *unused):
        """scikit-learn's objective of its L-BFGS fit, with its signature: (cost, gradient) at the weights
        ``packed`` as scikit-learn packs them (every coefs_ raveled, then every intercepts_), over host
        X ``(n_samples, n_features)`` as the network sees it and encoded y ``(n_samples, n_outputs)``."""
        return solvers.loss_and_gradient(self, packed, X, y, sample_weight)

    def _initial_state(self, n_features: int, n_outputs: int, stream: np.random.RandomState) -> TrainingState:
        hidden = by_sklearn_name(self.activation)
        sizes = (n_features, *self._hidden_sizes(), n_outputs)
        arch = Architecture.build(sizes, hidden=hidden, loss=self._loss_name, batch_norm=self.batch_norm)
        if arch.batch_norm:  # a layer scikit-learn has not: the library's start for its activation
            rng = np.random.default_rng(stream.randint(2**31))
            params = init_parameters(arch, self.backend_, init=ACTIVATIONS.get(hidden).init, dtype=self.dtype_, rng=rng)
        else:
            start = attributes.sklearn_start(arch, stream, logistic=hidden == "sigmoid")
            params = Parameters.from_host(self.backend_, arch.layout(), start, self.dtype_)
        return TrainingState(arch, params, self._make_optimizer(), ShuffleStream(stream))

    def _make_optimizer(self):
        """The stochastic optimizer of ``solver`` ('lbfgs' keeps an SGD one that it never steps)."""
        optimizer = OPTIMIZERS.get("sgd" if self.solver == "lbfgs" else self.solver)
        options = {argument: getattr(self, param) for param, argument in optimizer.estimator_params.items()}
        return optimizer(self.learning_rate_init, **options, **optimizer.estimator_settings)

    def _hidden_sizes(self) -> tuple[int, ...]:
        hyperparameters.check({"hidden_layer_sizes": self.hidden_layer_sizes})
        return hyperparameters.hidden_sizes(self.hidden_layer_sizes)

    def _check_hyperparameters(self) -> None:
        """``ValueError`` naming the parameter, the rule and the value received (see ``hyperparameters.TABLE``)."""
        hyperparameters.check(self.get_params())

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = True
        tags.array_api_support = True  # arrays of the backend stay on its device; others come back as they went in
        return tags
