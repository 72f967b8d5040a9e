"""The estimators' parameters and their rules, in one table: the estimators check a fit's parameters
against it, and the ``gpudeep`` command takes its choices and help from it.

Each rule names the parameter, what it accepts (in words, for the error) and, for a parameter with a fixed
set of values, those choices.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .. import threads
from ..activations import ACTIVATIONS, HIDDEN
from ..backends import DTYPES
from ..optim import OPTIMIZERS, SCHEDULES

# the hidden activations by our names and by scikit-learn's, where it names one differently
HIDDEN_ACTIVATIONS = (*HIDDEN, *(ACTIVATIONS[name].sklearn_name for name in HIDDEN
                                 if ACTIVATIONS[name].sklearn_name != name))


def number(value) -> bool:
    """A finite real number (not a bool)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def integer(value) -> bool:
    """An integer (not a bool)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def hidden_sizes(value) -> tuple[int, ...] | None:
    """``hidden_layer_sizes`` as a tuple of positive ints (an int is one layer), or None when it is not one."""
    sizes = (value,) if isinstance(value, numbers.Integral) else value
    try:
        sizes = tuple(sizes)
    except TypeError:
        return None
    if not sizes or not all(integer(n) and n >= 1 for n in sizes):
        return None
    return tuple(int(n) for n in sizes)


def _valid_n_jobs(value) -> bool:
    try:
        threads.check_n_jobs(value)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Rule:
    """name: the parameter; accepts(value) -> bool; expected: the rule in words; choices: its values, if fixed."""

    name: str
    accepts: Callable[[object], bool]
    expected: str
    choices: tuple | None = None


def _one_of(name: str, choices) -> Rule:
    choices = tuple(choices)
    return Rule(name, lambda value: value in choices, f"one of {list(choices)}", choices)


RULES = (
    Rule("hidden_layer_sizes", lambda v: hidden_sizes(v) is not None,
         "a non-empty sequence of positive integers such as (100,) or (64, 32)"),
    _one_of("activation", HIDDEN_ACTIVATIONS),
    _one_of("solver", OPTIMIZERS),
    _one_of("learning_rate", SCHEDULES),
    Rule("learning_rate_init", lambda v: number(v) and v > 0, "> 0"),
    Rule("alpha", lambda v: number(v) and v >= 0, ">= 0"),
    Rule("max_iter", lambda v: integer(v) and v >= 1, "an integer >= 1"),
    Rule("batch_size", lambda v: v == "auto" or (integer(v) and v >= 1), "'auto' or an integer >= 1"),
    Rule("tol", lambda v: number(v) and v >= 0, ">= 0"),
    Rule("momentum", lambda v: number(v) and 0 <= v < 1, "in [0, 1)"),
    Rule("beta_1", lambda v: number(v) and 0 <= v < 1, "in [0, 1)"),
    Rule("beta_2", lambda v: number(v) and 0 <= v < 1, "in [0, 1)"),
    Rule("epsilon", lambda v: number(v) and v > 0, "> 0"),
    Rule("n_iter_no_change", lambda v: integer(v) and v >= 1, "an integer >= 1"),
    Rule("validation_fraction", lambda v: number(v) and 0 < v < 1, "in (0, 1)"),
    Rule("dropout", lambda v: number(v) and 0 <= v < 1, "in [0, 1)"),
    _one_of("dtype", DTYPES),
    Rule("nesterovs_momentum", lambda v: isinstance(v, (bool, np.bool_)), "True or False"),
    Rule("shuffle", lambda v: isinstance(v, (bool, np.bool_)), "True or False"),
    Rule("early_stopping", lambda v: isinstance(v, (bool, np.bool_)), "True or False"),
    Rule("warm_start", lambda v: isinstance(v, (bool, np.bool_)), "True or False"),
    Rule("standardize", lambda v: isinstance(v, (bool, np.bool_)), "True or False"),
    Rule("batch_norm", lambda v: isinstance(v, (bool, np.bool_)), "True or False"),
    Rule("distributed", lambda v: isinstance(v, (bool, np.bool_)), "True or False"),
    Rule("random_state", lambda v: v is None or (integer(v) and 0 <= v < 2**32)
         or isinstance(v, (np.random.RandomState, np.random.Generator)),
         "None, an integer in [0, 2**32) or a NumPy random generator"),
    Rule("tf32", lambda v: v is None or isinstance(v, (bool, np.bool_)), "None, True or False"),
    Rule("class_weight", lambda v: v is None or v == "balanced" or (
        isinstance(v, dict) and all(number(w) and w >= 0 for w in v.values())),
        "None, 'balanced' or a dict of non-negative weights by class label"),
    Rule("n_jobs", _valid_n_jobs, "None (threads chosen by problem size), a positive number of threads, "
         "or -1 for every core"),
)
BY_NAME = {rule.name: rule for rule in RULES}
# What a model file may restore: hyperparameters only. Never what reaches the filesystem, the process or the
# machine (checkpoint_path, backend, distributed, n_jobs, verbose): those are the loading user's to set.
FROM_FILES = tuple(name for name in BY_NAME if name not in ("distributed", "n_jobs"))


def check(params: dict, spelled: dict[str, str] | None = None) -> None:
    """``ValueError`` naming the first parameter of ``params`` that breaks its rule, the rule and the value.

    spelled: how the caller's user names parameters (the command line's flags), for the error to name them so.
    """
    for rule in RULES:
        if rule.name in params and not rule.accepts(params[rule.name]):
            name = (spelled or {}).get(rule.name, rule.name)
            raise ValueError(f"{name} must be {rule.expected}, got {params[rule.name]!r}")


def choices(name: str) -> tuple:
    """The values parameter ``name`` accepts, for a parameter with a fixed set of them."""
    return BY_NAME[name].choices
