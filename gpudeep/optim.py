"""Optimizers, learning-rate schedules and dropout masks.

An optimizer updates ``params`` in place from ``grads``, one pass per buffer: over the one flat buffer
of ``gpudeep.parameters.Parameters`` (one fused kernel on CuPy), or over each array of per-layer tuples.
Its state (velocities, moment estimates) has the same shapes, on the same backend, so a step never goes
through the host.
"""

from __future__ import annotations

import math

from .backends import Backend, elementwise
from .parameters import trainable_arrays
from .registry import Registry


def _check_rate(name: str, value, low: float, high: float, *, closed_low: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    ok = ok and (low <= value if closed_low else low < value) and value < high
    if not ok:
        interval = f"{'[' if closed_low else '('}{low}, {high})"
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
    return float(value)


class Optimizer:
    """Base class: ``step`` applies ``_update`` to each parameter buffer with its slots of state.

    slots: the names of the state arrays, created as zeros in the parameters' shapes on the first step;
    ``state[slot]`` lists them, one per buffer (``trainable_arrays``).
    """

    name = "optimizer"
    slots: tuple[str, ...] = ()
    estimator_params: dict[str, str] = {}  # the estimators' parameter -> this constructor's argument it sets
    estimator_settings: dict[str, object] = {}  # the arguments the estimators fix, to step as scikit-learn's does

    def __init__(self, learning_rate: float):
        self.learning_rate = _check_rate("learning_rate", learning_rate, 0.0, math.inf)
        self.t = 0
        self.state: dict[str, list] = {}

    def step(self, xp, params, grads) -> None:
        """One update of every parameter in ``params``, in place.

        ``grads`` (the same per-layer pairs of dW[l], db[l]) may be overwritten: plain SGD scales them in
        place so that a step allocates nothing. Copy them first to look at them after the step.
        """
        arrays = trainable_arrays(params)
        if not self.state:
            self.state = {slot: [xp.zeros_like(P) for P in arrays] for slot in self.slots}
        self.t += 1
        for P, dP, *state in zip(arrays, trainable_arrays(grads), *self.state.values(), strict=True):
            self._update(xp, P, dP, *state)

    def _update(self, xp, P, dP, *state) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Gradient descent, with optional (Nesterov) momentum μ.

    v ← μ·v - α·dP, then P += v (or P += μ·v - α·dP with Nesterov). With μ = 0 it is P -= α·dP.
    """

    name = "sgd"
    estimator_params = {"momentum": "momentum", "nesterovs_momentum": "nesterov"}

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False):
        super().__init__(learning_rate)
        self.momentum = _check_rate("momentum", momentum, 0.0, 1.0, closed_low=True)
        self.nesterov = bool(nesterov)
        self.slots = ("velocity",) if self.momentum else ()

    def step(self, xp, params, grads) -> None:
        """As ``Optimizer.step``; without momentum ``grads`` is left scaled by α."""
        if self.momentum:
            super().step(xp, params, grads)
            return
        self.t += 1
        for P, dP in zip(trainable_arrays(params), trainable_arrays(grads), strict=True):
            _descend(xp, P, dP, self.learning_rate)

    def _update(self, xp, P, dP, velocity) -> None:
        step = _nesterov_step if self.nesterov else _momentum_step
        step(xp, P, dP, velocity, self.learning_rate, self.momentum)


@elementwise
def _descend(xp, P, dP, learning_rate):
    """P -= α·dP, scaling dP in place so that no temporary array is made."""
    dP *= learning_rate
    P -= dP


@elementwise
def _momentum_step(xp, P, dP, velocity, learning_rate, momentum):
    """v ← μ·v - α·dP, then P += v."""
    velocity *= momentum
    velocity -= learning_rate * dP
    P += velocity


@elementwise
def _nesterov_step(xp, P, dP, velocity, learning_rate, momentum):
    """v ← μ·v - α·dP, then P += μ·v - α·dP."""
    velocity *= momentum
    velocity -= learning_rate * dP
    P += momentum * velocity - learning_rate * dP


class RMSProp(Optimizer):
    """s ← ρ·s + (1-ρ)·dP², then P -= α·dP / (√s + ε)."""

    name = "rmsprop"
    slots = ("square_mean",)
    estimator_params = {"epsilon": "epsilon"}

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.9, epsilon: float = 1e-8):
        super().__init__(learning_rate)
        self.rho = _check_rate("rho", rho, 0.0, 1.0, closed_low=True)
        self.epsilon = _check_rate("epsilon", epsilon, 0.0, math.inf)

    def _update(self, xp, P, dP, square_mean) -> None:
        _rmsprop_step(xp, P, dP, square_mean, self.learning_rate, self.rho, 1 - self.rho, self.epsilon)


# The kernels take 1-ρ and 1-β as arguments, computed on the host in float64: inside a fused kernel,
# arithmetic on two Python numbers is typed as CuPy's weakest float, float16 (1 - 0.999 would be 0.00098).


@elementwise
def _rmsprop_step(xp, P, dP, square_mean, learning_rate, rho, one_minus_rho, epsilon):
    """s ← ρ·s + (1-ρ)·dP², then P -= α·dP / (√s + ε)."""
    square_mean *= rho
    square_mean += one_minus_rho * dP * dP
    _scaled_descent(xp, P, dP, square_mean, learning_rate, epsilon)


class Adam(Optimizer):
    """m ← β1·m + (1-β1)·dP, v ← β2·v + (1-β2)·dP², then P -= α·m̂ / (√v̂ + ε) with bias-corrected m̂, v̂.

    epsilon_on="v": ε is added to √v instead, P -= α·√(1-β2^t)/(1-β1^t) · m / (√v + ε), the paper's efficient
    form (its section 2), which scikit-learn's MLP steps with.
    """

    name = "adam"
    slots = ("first_moment", "second_moment")
    estimator_params = {"beta_1": "beta_1", "beta_2": "beta_2", "epsilon": "epsilon"}
    estimator_settings = {"epsilon_on": "v"}

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8,
                 epsilon_on: str = "v_hat"):
        super().__init__(learning_rate)
        self.beta_1 = _check_rate("beta_1", beta_1, 0.0, 1.0, closed_low=True)
        self.beta_2 = _check_rate("beta_2", beta_2, 0.0, 1.0, closed_low=True)
        self.epsilon = _check_rate("epsilon", epsilon, 0.0, math.inf)
        if epsilon_on not in ("v_hat", "v"):
            raise ValueError(f"epsilon_on must be 'v_hat' or 'v', got {epsilon_on!r}")
        self.epsilon_on = epsilon_on

    def _update(self, xp, P, dP, first_moment, second_moment) -> None:
        # α·m̂/(√v̂ + ε) with m̂ = m/(1-β1^t), v̂ = v/(1-β2^t), folded into one step size and a scaled ε
        step_size = self.learning_rate * math.sqrt(1 - self.beta_2**self.t) / (1 - self.beta_1**self.t)
        epsilon = self.epsilon * (math.sqrt(1 - self.beta_2**self.t) if self.epsilon_on == "v_hat" else 1.0)
        _adam_step(xp, P, dP, first_moment, second_moment, self.beta_1, 1 - self.beta_1, self.beta_2,
                   1 - self.beta_2, step_size, epsilon)


@elementwise
def _adam_step(xp, P, dP, first_moment, second_moment, beta_1, one_minus_beta_1, beta_2, one_minus_beta_2,
               step_size, epsilon):
    """m ← β1·m + (1-β1)·dP, v ← β2·v + (1-β2)·dP², then P -= step_size·m / (√v + ε)."""
    first_moment *= beta_1
    first_moment += one_minus_beta_1 * dP
    second_moment *= beta_2
    second_moment += one_minus_beta_2 * dP * dP
    _scaled_descent(xp, P, first_moment, second_moment, step_size, epsilon)


def _scaled_descent(xp, P, direction, square_mean, rate, epsilon):
    """P -= rate·direction / (√square_mean + ε), the shared end of RMSProp and Adam, inside their kernels.

    Its temporary is updated in place: on NumPy a fresh array of the parameters' size costs page
    faults each time, which made this line 6 times slower than the arithmetic it does.
    """
    step = xp.sqrt(square_mean)
    step += epsilon
    step = direction / step
    step *= rate
    P -= step


OPTIMIZERS = Registry.of("optimizer", {cls.name: cls for cls in (SGD, RMSProp, Adam)})


# A schedule is made from the initial rate α0 (and its options) and gives the rate after a number of epochs and
# samples trained on: schedule(epoch, samples). The loop sets it after every epoch, as scikit-learn does.


def constant_schedule(initial: float):
    """α = α0."""
    return lambda epoch, samples: initial


def invscaling_schedule(initial: float, power_t: float = 0.5):
    """α = α0 / (t + 1)^power_t after t samples (scikit-learn's 'invscaling')."""
    _check_rate("power_t", power_t, 0.0, math.inf, closed_low=True)
    return lambda epoch, samples: initial / (samples + 1) ** power_t


def adaptive_schedule(initial: float):
    """None: α stays α0 until training stalls, when ``EarlyStopping(reduce_learning_rate=True)`` divides it by 5
    (scikit-learn's 'adaptive')."""
    return None


def step_schedule(initial: float, drop: float = 0.5, every: int = 10):
    """α = α0·drop^⌊epoch/every⌋."""
    _check_rate("drop", drop, 0.0, 1.0 + 1e-12)
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"every must be a positive number of epochs, got {every!r}")
    return lambda epoch, samples: initial * drop ** (epoch // every)


def exponential_schedule(initial: float, gamma: float = 0.95):
    """α = α0·γ^epoch."""
    _check_rate("gamma", gamma, 0.0, 1.0 + 1e-12)
    return lambda epoch, samples: initial * gamma**epoch


invscaling_schedule.estimator_params = {"power_t": "power_t"}  # the estimators' parameters it takes
SCHEDULES = Registry.of("learning-rate schedule", {
    "constant": constant_schedule, "invscaling": invscaling_schedule, "adaptive": adaptive_schedule,
    "step": step_schedule, "exponential": exponential_schedule}, plural="schedules")


def dropout_masks(backend: Backend, draw, layer_sizes, m: int, rate: float, dtype: str):
    """Inverted-dropout masks [D[1], ..., D[L-1]] for the hidden layers: 0 with probability
    ``rate``, else 1/(1 - rate), so the expected activation is unchanged. ``draw`` comes from
    ``backend.uniform``; each mask is its draw and one kernel."""
    keep = 1.0 - rate
    return [_inverted_dropout_mask(backend.xp, draw((n, m), dtype), keep) for n in layer_sizes[1:-1]]


@elementwise
def _inverted_dropout_mask(xp, U, keep):
    """D = 1/keep where the uniform draw U < keep, else 0."""
    return xp.astype(U < keep, U.dtype) / keep
