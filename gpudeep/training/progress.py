"""What a run shows while it trains: the progress bar, the legend and a line per epoch, with the score
called what it is (accuracy, r2) everywhere it is shown."""

from __future__ import annotations

import sys

from tqdm import tqdm  # the console bar: tqdm.auto would pick a notebook widget, and warn without ipywidgets


def display_name(name: str, score_name: str) -> str:
    """A log's name as shown (progress, ``history_``, MLflow): ``score`` is called what it is (accuracy, r2)."""
    return name.replace("score", score_name)


class Progress:
    """verbose 0: silent; 1: a progress bar on a terminal, else a line per epoch on stderr; 2: a line per epoch;
    "iterations": scikit-learn's lines on stdout, "Iteration N, loss = ..." and then the other metrics."""

    def __init__(self, epochs: int, verbose, score_name: str, validation: bool):
        self.iterations = verbose == "iterations"
        self.lines = not self.iterations and (verbose >= 2 or (verbose == 1 and not sys.stderr.isatty()))
        self.score_name = score_name
        bar = bool(verbose) and not (self.lines or self.iterations)
        self.bar = tqdm(range(epochs), desc="training", unit="epoch", disable=not bar, leave=False)
        if self.lines:
            print(_legend(score_name, validation), file=sys.stderr)

    def __iter__(self):
        return iter(self.bar)

    def show(self, epoch: int, logs: dict[str, float]) -> None:
        shown = {display_name(name, self.score_name): value for name, value in logs.items()}
        self.bar.set_postfix(shown, refresh=False)
        if self.iterations:
            loss, *others = shown.items()
            print(f"Iteration {epoch}, loss = {loss[1]:.8f}" + "".join(f", {k} = {v:.6g}" for k, v in others),
                  flush=True)
        elif self.lines:
            print(f"epoch {epoch}: " + ", ".join(f"{k} {v:.6g}" for k, v in shown.items()), file=sys.stderr,
                  flush=True)

    def close(self) -> None:
        self.bar.close()


def _legend(score_name: str, validation: bool) -> str:
    """What the per-epoch lines report."""
    text = (f"loss: the training cost with its L2 term, and {score_name}: on the training batches, each averaged "
            f"over the epoch's batches as they were trained (with dropout)")
    return text + (f"; val_loss and val_{score_name}: on the validation data after the epoch" if validation else "")
