"""The estimators' parameters, in one table: each parameter's default, rule, documentation, its
``gpudeep train`` option and whether a model file restores it. The estimators check a fit's parameters
against it, their docstrings are written from it, and the command line takes its options from it.
(The estimators' ``__init__`` signatures repeat the defaults, since scikit-learn reads them; a test keeps
them equal to the table's.) Imports no scikit-learn.
"""

from __future__ import annotations

import argparse
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .. import threads
from ..activations import ACTIVATIONS, HIDDEN
from ..backends import BACKEND_NAMES, DTYPES
from ..checks import is_integer, is_number
from ..optim import OPTIMIZERS, SCHEDULES

# the hidden activations by our names and by scikit-learn's, where it names one differently
HIDDEN_ACTIVATIONS = (*HIDDEN, *(ACTIVATIONS[name].sklearn_name for name in HIDDEN
                                 if ACTIVATIONS[name].sklearn_name != name))


SOLVERS = (*OPTIMIZERS.names(), "lbfgs")  # the stochastic optimizers, and the full-batch L-BFGS


def hidden_sizes(value) -> tuple[int, ...] | None:
    """``hidden_layer_sizes`` as a tuple of positive ints (an int is one layer), or None when it is not one."""
    sizes = (value,) if isinstance(value, numbers.Integral) else value
    try:
        sizes = tuple(sizes)
    except TypeError:
        return None
    if not sizes or not all(is_integer(n) and n >= 1 for n in sizes):
        return None
    return tuple(int(n) for n in sizes)


def _valid_n_jobs(value) -> bool:
    try:
        threads.check_n_jobs(value)
    except ValueError:
        return False
    return True


def _flag(value) -> bool:
    return isinstance(value, (bool, np.bool_))


@dataclass(frozen=True)
class Parameter:
    """One estimator parameter.

    accepts(value) -> bool, and ``expected``, the rule in words (None: any value); choices: its values, if
    fixed; kind and doc: its numpydoc entry; option: the ``gpudeep train`` option that sets it, with
    ``cli``, that option's argparse settings (None where the command adds the option itself); saved:
    whether a model file restores it; only: the one estimator that has it, if not both.
    """

    name: str
    default: object
    kind: str
    doc: str
    accepts: Callable[[object], bool] | None = None
    expected: str = ""
    choices: tuple | None = None
    option: str | None = None
    cli: dict | None = field(default=None, compare=False)
    saved: bool = True
    only: str | None = None
    shown: str | None = None  # the default as the docs show it, where repr() reads worse

    def numpydoc(self) -> str:
        kind = self.kind.replace("CHOICES", "{" + ", ".join(repr(c) for c in self.choices or ()) + "}")
        lines = [f"    {self.name} : {kind}, default={self.shown or repr(self.default)}"]
        return "\n".join(lines + ["        " + line for line in self.doc.splitlines()])


def _choice(name, default, kind, doc, choices, **more) -> Parameter:
    choices = tuple(choices)
    return Parameter(name, default, kind, doc, lambda value: value in choices, f"one of {list(choices)}", choices,
                     **more)


def _switch(name, default, doc, **more) -> Parameter:
    return Parameter(name, default, "bool", doc, _flag, "True or False", **more)


def layer_sizes_option(text: str) -> list[int]:
    """A command line's comma-separated layer sizes ("256,128") as a list of positive integers."""
    try:
        sizes = [int(n) for n in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers such as 256,128, got {text!r}")
    return sizes


TABLE = (
    _choice("loss", "squared_error", "CHOICES", "The loss: half the squared error with identity outputs, or half "
            "the Poisson deviance with\nexponential outputs (for counts, y >= 0).", ("squared_error", "poisson"),
            only="DeepRegressor"),
    Parameter("hidden_layer_sizes", (100,), "tuple of int",
              "The sizes of the hidden layers, n[1], ..., n[L-1]; n[0] and n[L] come from the data.",
              lambda v: hidden_sizes(v) is not None, "a non-empty sequence of positive integers such as (100,) "
              "or (64, 32)", option="--layers", cli={"type": layer_sizes_option, "default": [256, 128],
                                      "help": "hidden layer sizes (default 256,128)"}),
    _choice("activation", "relu", "CHOICES", "The hidden layers' activation g[l]; 'logistic' is scikit-learn's "
            "name for 'sigmoid'.", HIDDEN_ACTIVATIONS, option="--activation",
            cli={"default": "relu", "help": "hidden activation (default relu)"}),
    _choice("solver", "adam", "CHOICES", "The optimizer: a stochastic one, on mini-batches, or 'lbfgs', the "
            "full-batch quasi-Newton\nmethod (``gpudeep.lbfgs``; often the best for small data sets).", SOLVERS,
            option="--optimizer",
            cli={"default": "adam", "help": "(default adam)"}),
    Parameter("alpha", 0.0001, "float", "The L2 penalty λ: (λ/2m)·Σ‖W[l]‖² is added to the cost.",
              lambda v: is_number(v) and v >= 0, ">= 0", option="--alpha",
              cli={"type": float, "default": 0.1, "help": "L2 penalty (default 0.1)"}),
    Parameter("batch_size", "auto", "int or 'auto'", "Samples per mini-batch; 'auto' is min(200, n_samples).",
              lambda v: v == "auto" or (is_integer(v) and v >= 1), "'auto' or an integer >= 1", option="--batch-size",
              cli={"type": int, "default": 64, "help": "samples per mini-batch (default 64)"}),
    _choice("learning_rate", "constant", "CHOICES", "The schedule: constant; 'invscaling', α0 / (t + 1)^power_t "
            "after t samples; 'adaptive', α divided\nby 5 each time ``n_iter_no_change`` epochs pass without an "
            "improvement of ``tol`` (training stops once\nα is below 1e-6); 'step', halved every 10 epochs; "
            "'exponential', ×0.95 per epoch.", SCHEDULES.names()),
    Parameter("learning_rate_init", 0.001, "float", "The initial learning rate α.", lambda v: is_number(v) and v > 0,
              "> 0", option="--lr",
              cli={"type": float, "default": 1e-3, "help": "initial learning rate (default 1e-3)"}),
    Parameter("power_t", 0.5, "float", "The exponent of ``learning_rate='invscaling'``.",
              lambda v: is_number(v) and v >= 0, ">= 0"),
    Parameter("max_iter", 200, "int", "The most epochs (passes over the data) one ``fit`` runs; for "
              "``solver='lbfgs'``, the most\niterations.",
              lambda v: is_integer(v) and v >= 1, "an integer >= 1", option="--epochs",
              cli={"type": int, "default": 60, "help": "most epochs (default 60; fewer with --early-stopping)"}),
    _switch("shuffle", True, "Shuffle the samples at each epoch."),
    Parameter("random_state", None, "int, RandomState, Generator or None",
              "The seed of the initial weights, the shuffles, dropout and the validation split.",
              lambda v: v is None or (is_integer(v) and 0 <= v < 2**32)
              or isinstance(v, (np.random.RandomState, np.random.Generator)),
              "None, an integer in [0, 2**32) or a NumPy random generator", option="--seed"),
    Parameter("tol", 1e-4, "float", "The least improvement that counts: training stops when the loss (or the "
              "validation score) has not\nimproved by ``tol`` for ``n_iter_no_change`` epochs.",
              lambda v: is_number(v) and v >= 0, ">= 0", shown="1e-4", option="--tol",
              cli={"type": float, "default": 1e-4, "help": "the least improvement that counts, of the loss or, with "
                                                           "validation, its score (default 1e-4)"}),
    Parameter("verbose", False, "bool, int or 'progress'", "False or 0: silent; True or a positive int: a line per "
              "epoch on stdout, scikit-learn's\n'Iteration N, loss = ...' followed by the score and, with validation "
              "data, the validation loss and score\n(averaged over the epoch's batches, with dropout, for the "
              "training ones), and why training stops;\n'progress': a progress bar on a terminal, else those metrics "
              "a line per epoch on stderr.", saved=False),
    _switch("warm_start", False, "Let ``fit`` continue from the current weights instead of starting anew."),
    Parameter("momentum", 0.9, "float", "The momentum of ``solver='sgd'``.", lambda v: is_number(v) and 0 <= v < 1,
              "in [0, 1)"),
    _switch("nesterovs_momentum", True, "Nesterov's momentum for ``solver='sgd'``."),
    _switch("early_stopping", False, "Stop on the validation score: on ``validation_data`` when ``fit`` is given "
            "it, else on\n``validation_fraction`` of the training data held out; the best epoch's weights are "
            "kept.", option="--early-stopping"),
    Parameter("validation_fraction", 0.1, "float", "The share held out for ``early_stopping`` (of each class, for "
              "a classifier).", lambda v: is_number(v) and 0 < v < 1, "in (0, 1)"),
    Parameter("beta_1", 0.9, "float", "Adam's decay rate of its first moment estimate.",
              lambda v: is_number(v) and 0 <= v < 1, "in [0, 1)"),
    Parameter("beta_2", 0.999, "float", "Adam's decay rate of its second moment estimate.",
              lambda v: is_number(v) and 0 <= v < 1, "in [0, 1)"),
    Parameter("epsilon", 1e-8, "float", "Adam's and RMSProp's term that keeps their division finite.",
              lambda v: is_number(v) and v > 0, "> 0", shown="1e-8"),
    Parameter("n_iter_no_change", 10, "int or np.inf", "Training stops once more than this many epochs in a row "
              "have not improved\nthe best loss (or validation score) by ``tol``; ``np.inf`` never stops early.",
              lambda v: (is_integer(v) and v >= 1) or (isinstance(v, float) and v == np.inf),
              "an integer >= 1 or np.inf", option="--patience",
              cli={"type": int, "default": 10, "help": "stop after this many epochs in a row without improving by "
                                                       "--tol (default 10)"}),
    Parameter("max_fun", 15000, "int", "The most loss evaluations of ``solver='lbfgs'``.",
              lambda v: is_integer(v) and v >= 1, "an integer >= 1"),
    Parameter("dropout", 0.0, "float", "The rate of inverted dropout on the hidden layers during training.",
              lambda v: is_number(v) and 0 <= v < 1, "in [0, 1)", option="--dropout",
              cli={"type": float, "default": 0.2, "help": "dropout rate on hidden layers (default 0.2)"}),
    _switch("batch_norm", False, "Normalise each hidden layer's pre-activations over the batch (batch "
            "normalization, with a learnt\nscale and shift in place of the bias); predictions use the running "
            "statistics kept with the model.", option="--batch-norm",
            cli={"action": "store_true", "help": "batch normalization on the hidden layers"}),
    _switch("standardize", False, "Scale each input feature by the training data's mean and standard deviation "
            "(kept with the model)."),
    Parameter("backend", None, "CHOICES, Backend or None", "Where the math runs; None and 'auto' take CuPy when a "
              "GPU is usable, else NumPy.", choices=BACKEND_NAMES, saved=False),
    Parameter("dtype", None, "CHOICES or None", "The dtype of the weights and of the math; None keeps the input's, "
              "as scikit-learn does:\nfloat32 for float32 X, else float64. On a GPU, float32 is the fast one: pass "
              "float32 X or\n``dtype='float32'``.", lambda v: v is None or v in DTYPES,
              f"None or one of {list(DTYPES)}", DTYPES, option="--dtype",
              cli={"default": "float32", "help": "dtype of the weights and math (default float32)"}),
    Parameter("tf32", None, "bool or None", "True: float32 products use a GPU's TF32 tensor cores; False: they do "
              "not; None: CuPy's setting\n(``CUPY_TF32``). No effect on the CPU.",
              lambda v: v is None or _flag(v), "None, True or False", option="--tf32",
              cli={"action": argparse.BooleanOptionalAction, "default": None,
                   "help": "float32 products on TF32 tensor cores on a GPU, or not (default: CuPy's CUPY_TF32, off)"}),
    Parameter("checkpoint_path", None, "path or None", "Write a checkpoint here, atomically, after every epoch, for "
              "``fit(..., resume_from=path)``.", saved=False),
    _switch("distributed", False, "Data-parallel training over the ranks of an MPI job (see "
            "``gpudeep.distributed``).", saved=False),
    Parameter("n_jobs", None, "int or None", "BLAS threads on the CPU: None chooses them by problem size, -1 uses "
              "every core.", _valid_n_jobs, "None (threads chosen by problem size), a positive number of threads, "
              "or -1 for every core", option="--n-jobs", saved=False),
    Parameter("class_weight", None, "dict, 'balanced' or None", "Weights of the classes' samples in the loss: "
              "'balanced' weighs class c by\nn_samples / (n_classes · n_c); a dict maps labels to weights (1 for a "
              "label it leaves out).", lambda v: v is None or v == "balanced" or (
                  isinstance(v, dict) and all(is_number(w) and w >= 0 for w in v.values())),
              "None, 'balanced' or a dict of non-negative weights by class label", only="DeepClassifier"),
)
# What a model file may restore: hyperparameters only. Never what reaches the filesystem, the process or the
# machine (checkpoint_path, backend, distributed, n_jobs, verbose): those are the loading user's to set.
FROM_FILES = tuple(parameter.name for parameter in TABLE if parameter.saved)
OPTIONS = {parameter.name: parameter.option for parameter in TABLE if parameter.option}  # for errors to name them


def of(estimator: str) -> tuple[Parameter, ...]:
    """The parameters of the estimator class called ``estimator``, in signature order."""
    return tuple(parameter for parameter in TABLE if parameter.only in (None, estimator))


def check(params: dict, spelled: dict[str, str] | None = None) -> None:
    """``ValueError`` naming the first parameter of ``params`` that breaks its rule, the rule and the value.

    spelled: how the caller's user names parameters (the command line's options), for the error to name them so.
    """
    for parameter in TABLE:
        if parameter.accepts is not None and parameter.name in params and not parameter.accepts(params[parameter.name]):
            name = (spelled or {}).get(parameter.name, parameter.name)
            raise ValueError(f"{name} must be {parameter.expected}, got {params[parameter.name]!r}")


def documentation(estimator: str) -> str:
    """The numpydoc ``Parameters`` entries of the estimator called ``estimator``."""
    return "\n".join(parameter.numpydoc() for parameter in of(estimator))
