"""Training: one step (``step``), the loop (``loop``), its state and history (``state``), callbacks
(``callbacks``), what it shows (``progress``) and the training state in checkpoints (``checkpoint``)."""

from .callbacks import Callback, EarlyStopping, EveryEpoch, LastFinishedEpoch
from .loop import train
from .state import History, TrainingDivergedError, TrainingState
from .step import Step, gradients, train_step

__all__ = ["Callback", "EarlyStopping", "EveryEpoch", "History", "LastFinishedEpoch", "Step", "TrainingDivergedError",
           "TrainingState", "gradients", "train", "train_step"]
