"""One registry mechanism: every named choice lists its entries and refuses an unknown name the same way."""

from __future__ import annotations

import pytest

from gpudeep.activations import ACTIVATIONS
from gpudeep.backends import BACKENDS
from gpudeep.initializers import INITIALIZERS
from gpudeep.losses import LOSSES
from gpudeep.optim import OPTIMIZERS, SCHEDULES
from gpudeep.registry import Registry

REGISTRIES = {
    "activation": (ACTIVATIONS, "activations", ["sigmoid", "relu", "leaky_relu", "tanh", "identity", "softmax", "exp"]),
    "loss": (LOSSES, "losses", ["binary_cross_entropy", "categorical_cross_entropy", "mean_squared_error", "poisson"]),
    "initializer": (INITIALIZERS, "initializers", ["he", "xavier", "glorot", "uniform_0_1"]),
    "optimizer": (OPTIMIZERS, "optimizers", ["sgd", "rmsprop", "adam"]),
    "learning-rate schedule": (SCHEDULES, "schedules", ["constant", "invscaling", "adaptive", "step", "exponential"]),
    "backend": (BACKENDS, "backends", ["auto", "numpy", "cupy", "array_api_strict", "onnx"]),
}


@pytest.mark.parametrize("kind", list(REGISTRIES))
def test_every_registry_lists_its_entries_and_refuses_an_unknown_name_naming_them(kind):
    registry, plural, names = REGISTRIES[kind]
    assert registry.names() == tuple(names) and list(registry) == names and len(registry) == len(names)
    assert all(name in registry and registry.get(name) is registry[name] for name in names)
    with pytest.raises(ValueError, match=f"^unknown {kind} 'nope'; valid {plural} are {', '.join(names)}"):
        registry.get("nope")
    with pytest.raises(ValueError, match="unknown"):
        registry.get(["not", "a", "name"])  # unhashable: the same error


def test_an_entry_is_registered_once_by_call_or_decorator():
    shapes = Registry("shape")

    @shapes.register("square")
    def square(side):
        return side * side

    shapes.register("nothing", None)
    assert shapes.get("square") is square and shapes.get("nothing") is None and shapes.names() == ("square", "nothing")
    with pytest.raises(ValueError, match="shape 'square' is registered twice"):
        shapes.register("square", square)
    assert shapes.get("circle", "no circle") == "no circle"


def test_entries_carry_the_facts_the_estimators_need():
    """An activation knows its initializer and scikit-learn name; an optimizer the estimator parameters it
    takes, each of them a parameter of the estimators."""
    from gpudeep import DeepClassifier

    assert (ACTIVATIONS["relu"].init, ACTIVATIONS["tanh"].init) == ("he", "xavier")
    assert ACTIVATIONS["sigmoid"].sklearn_name == "logistic" and ACTIVATIONS["relu"].sklearn_name == "relu"
    params = DeepClassifier().get_params()
    for optimizer in OPTIMIZERS.values():
        assert set(optimizer.estimator_params) <= set(params), optimizer.name
        optimizer(0.01, **{argument: params[name] for name, argument in optimizer.estimator_params.items()})
