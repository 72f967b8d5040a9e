"""What a run is at any moment: its state (what a checkpoint saves), its history, and the error of a run
whose numbers stopped being finite."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..network import Architecture
from ..optim import Optimizer
from ..parameters import Parameters


class TrainingDivergedError(ValueError, FloatingPointError):
    """The loss or the weights stopped being finite; the message names the epoch and the step, and ``logs``
    holds that epoch's metrics (not finite). A ``ValueError``, as scikit-learn's estimators raise for it."""

    SKLEARN = ("Solver produced non-finite parameter weights. The input data may contain large values and need to "
               "be preprocessed")  # what scikit-learn's MLP says, which its users match

    def __init__(self, detail: str, logs: dict[str, float] | None = None):
        super().__init__(f"{self.SKLEARN}: training diverged, {detail}")
        self.logs = dict(logs or {})


@dataclass
class History:
    """Per-epoch records: the training loss and score (averaged over the epoch's batches, as
    they were trained), and the validation loss and score when there is validation data."""

    loss: list[float] = field(default_factory=list)
    score: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_score: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[float]]:
        return {"loss": self.loss, "score": self.score, "val_loss": self.val_loss, "val_score": self.val_score}

    @classmethod
    def from_dict(cls, values) -> History:
        """The history that ``as_dict`` gave (from a file); ``ValueError`` for anything else."""
        known = cls().as_dict()
        if not isinstance(values, dict) or set(values) - set(known) or not all(
                isinstance(column, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                 for v in column) for column in values.values()):
            raise ValueError(f"history must map {sorted(known)} to lists of numbers")
        return cls(**{name: list(values.get(name, [])) for name in known})


class ShuffleStream:
    """A run's random draws as scikit-learn's MLP makes them: from one ``RandomState``, each epoch's order a
    shuffle of the one before (``permutation``), dropout seeds from the same stream (``integers``).

    ``state`` (JSON) is the generator's state when the stream began and the draws made since, which
    ``from_state`` replays: a checkpoint resumes the stream exactly.
    """

    KIND = "scikit-learn shuffles"

    def __init__(self, random_state: np.random.RandomState):
        self.random_state, self.order, self.draws = random_state, None, []
        self.start = random_state.get_state(legacy=False)

    def permutation(self, m: int) -> np.ndarray:
        """The epoch's order of m rows: the last order (all m rows) shuffled, as scikit-learn shuffles its index."""
        shuffled = self.random_state.permutation(m)
        self.order = shuffled if self.order is None or len(self.order) != m else self.order[shuffled]
        self.draws.append(m)
        return self.order

    def integers(self, high: int) -> int:
        self.draws.append(0)
        return int(self.random_state.randint(high, dtype=np.int64))

    @property
    def state(self) -> dict:
        start = dict(self.start, state={"key": self.start["state"]["key"].tolist(), "pos": self.start["state"]["pos"]})
        return {"kind": self.KIND, "start": start, "draws": list(self.draws)}

    @classmethod
    def from_state(cls, state: dict) -> ShuffleStream:
        """The stream ``state`` describes, its draws replayed; ``ValueError`` (or ``TypeError``, ``KeyError``) if
        it describes none."""
        if state.get("kind") != cls.KIND or not all(isinstance(d, int) and d >= 0 for d in state["draws"]):
            raise ValueError("not a scikit-learn shuffle stream")
        start = dict(state["start"])
        start["state"] = {"key": np.asarray(start["state"]["key"], dtype=np.uint32), "pos": start["state"]["pos"]}
        random_state = np.random.RandomState()
        random_state.set_state(start)
        stream = cls(random_state)
        for draw in state["draws"]:
            stream.permutation(draw) if draw else stream.integers(2**63)
        return stream


def rng_state(rng) -> dict:
    """The JSON state of a run's generator: a ``numpy.random.Generator``'s or a ``ShuffleStream``'s."""
    return rng.state if isinstance(rng, ShuffleStream) else rng.bit_generator.state


def rng_from_state(state: dict):
    """The generator ``rng_state`` described; ``ValueError``, ``TypeError`` or ``KeyError`` for anything else."""
    if isinstance(state, dict) and state.get("kind") == ShuffleStream.KIND:
        return ShuffleStream.from_state(state)
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    return rng


@dataclass
class TrainingState:
    """Everything a run needs to go on: a checkpoint saves exactly this.

    params: the network's ``Parameters`` on the device. rng: the host generator for shuffles and
    dropout seeds (a ``numpy.random.Generator``, or the estimators' ``ShuffleStream``). epoch, step and samples
    (the rows trained on, over every epoch) count what is done so far.
    """

    arch: Architecture
    params: Parameters
    optimizer: Optimizer
    rng: np.random.Generator
    epoch: int = 0
    step: int = 0
    samples: int = 0
    history: History = field(default_factory=History)
