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


@dataclass
class TrainingState:
    """Everything a run needs to go on: a checkpoint saves exactly this.

    params: the network's ``Parameters`` on the device. rng: the host generator for shuffles and
    dropout seeds. epoch, step and samples (the rows trained on, over every epoch) count what is done so far.
    """

    arch: Architecture
    params: Parameters
    optimizer: Optimizer
    rng: np.random.Generator
    epoch: int = 0
    step: int = 0
    samples: int = 0
    history: History = field(default_factory=History)
