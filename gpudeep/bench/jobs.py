"""Benchmarks of the jobs users run whole: a ``fit`` on MNIST-sized data, and ``gpudeep train``
on a quiet and on a busy machine.

Fit rows: 10 epochs of Adam at batch 128 on a synthetic 60,000 × 784, 10-class data set, timed
in one run for gpudeep's ``DeepClassifier``, a plain PyTorch loop (the data in memory as tensors,
``torch.randperm`` indexing, the same net, He-normal initial weights, Adam settings and BLAS
thread count) and scikit-learn's ``MLPClassifier`` (the same settings; its own Glorot weights).
Each library first fits one epoch on 2,000 rows, so that one-time costs (imports, kernel
compilation) stay out of the timing. The overhead is fit time / (steps × the isolated step
time): what a fit costs beyond its training steps (1.0 would be none).

Train rows: the ``gpudeep train`` command (a new process, imports included) on its default
data set, alone and next to 1 and to as many busy processes as there are cores.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .. import threads
from ..backends import Backend
from ..network import Architecture, init_parameters
from ..optim import Adam
from ..training import train_step
from .steps import median_seconds

WARMUP_ROWS = 2000


@dataclass(frozen=True)
class FitJob:
    """A synthetic classification fit: data shape, the hidden layers, Adam's settings, epochs."""

    name: str
    n_samples: int
    n_features: int
    n_classes: int
    hidden: tuple[int, ...]
    batch_size: int = 128
    epochs: int = 10
    learning_rate: float = 1e-3

    @property
    def steps(self) -> int:
        return self.epochs * math.ceil(self.n_samples / self.batch_size)

    def architecture(self) -> Architecture:
        return Architecture.build((self.n_features, *self.hidden, self.n_classes), hidden="relu",
                                  loss="categorical_cross_entropy")

    def data(self, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """X ``(n_samples, n_features)`` float32, samples as rows, and integer labels: each class a
        Gaussian cloud around its own centre, overlapping enough that the loss keeps falling."""
        rng = np.random.default_rng(seed)
        centres = rng.standard_normal((self.n_classes, self.n_features), dtype=np.float32) * 0.05
        y = rng.integers(self.n_classes, size=self.n_samples)
        X = rng.standard_normal((self.n_samples, self.n_features), dtype=np.float32)
        X += centres[y]
        return X, y


MNIST_FIT = FitJob("mnist-fit", 60_000, 784, 10, (256, 128))
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

    @property
    def overhead(self) -> float | None:
        return None if self.step_seconds is None else self.seconds / (self.job.steps * self.step_seconds)


def fit_rows(backend: Backend, job: FitJob, *, libraries=("gpudeep", "pytorch", "scikit-learn"),
             log: Callable[[str], None] = print) -> list[FitRow]:
    """Time a whole fit of ``job`` for each library, with the BLAS threads gpudeep chooses for it."""
    X, y = job.data()
    count = 1 if backend.on_gpu else threads.choose(job.architecture().step_flops(job.batch_size))
    fits = {"gpudeep": lambda X, y, epochs: _gpudeep_fit(backend, job, X, y, epochs)}
    if "pytorch" in libraries and _torch_available():
        fits["pytorch"] = lambda X, y, epochs: _torch_fit(job, X, y, epochs, "cuda" if backend.on_gpu else "cpu",
                                                          count)
    if "scikit-learn" in libraries and not backend.on_gpu:
        fits["scikit-learn"] = lambda X, y, epochs: _sklearn_fit(job, X, y, epochs)
    rows = []
    with backend.blas_threads(job.architecture().step_flops(job.batch_size)):
        for library, fit in fits.items():
            fit(X[:WARMUP_ROWS], y[:WARMUP_ROWS], 1)
            started = time.perf_counter()
            final_loss = fit(X, y, job.epochs)
            seconds = time.perf_counter() - started
            step = _gpudeep_step_seconds(backend, job, X, y) if library == "gpudeep" else None
            rows.append(FitRow(job, library, seconds, count, final_loss, step))
            log(f"{job.name} {library:<13} {seconds:8.2f} s  ({seconds / job.epochs:.3f} s/epoch, "
                f"{count} BLAS thread(s), final loss {final_loss:.4f})")
    return rows


def _gpudeep_fit(backend: Backend, job: FitJob, X, y, epochs: int) -> float:
    from sklearn.exceptions import ConvergenceWarning

    from ..estimators import DeepClassifier

    model = DeepClassifier(hidden_layer_sizes=job.hidden, solver="adam", batch_size=job.batch_size,
                           learning_rate_init=job.learning_rate, max_iter=epochs, alpha=0.0, tol=0.0,
                           n_iter_no_change=epochs + 1, random_state=0, backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    return model.loss_


def _gpudeep_step_seconds(backend: Backend, job: FitJob, X, y, repeats: int = 200) -> float:
    """The median time of one Adam training step on a batch already on the device, as the fit runs it."""
    arch = job.architecture()
    params = init_parameters(arch, backend, init="he", rng=0)
    X_batch = backend.asarray(X[:job.batch_size]).T
    Y_batch = backend.asarray(np.eye(job.n_classes, dtype=np.float32)[y[:job.batch_size]]).T
    optimizer = Adam(job.learning_rate)
    return median_seconds(lambda: train_step(backend.xp, arch, params, optimizer, X_batch, Y_batch),
                          backend.synchronize, repeats=repeats, warmup=10)


def _torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _torch_fit(job: FitJob, X, y, epochs: int, device: str, thread_count: int) -> float:
    """The plain PyTorch loop a user would write; returns the last epoch's mean loss."""
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
        optimizer = torch.optim.Adam(model.parameters(), lr=job.learning_rate, betas=(0.9, 0.999), eps=1e-8)
        loss_function = torch.nn.CrossEntropyLoss()
        inputs, targets = torch.from_numpy(X).to(device), torch.from_numpy(y).to(device)
        n = inputs.shape[0]
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
        return float(total) / n  # one synchronisation, at the end
    finally:
        torch.set_num_threads(previous_threads)


def _sklearn_fit(job: FitJob, X, y, epochs: int) -> float:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    model = MLPClassifier(hidden_layer_sizes=job.hidden, solver="adam", batch_size=job.batch_size,
                          learning_rate_init=job.learning_rate, max_iter=epochs, alpha=0.0, tol=0.0,
                          n_iter_no_change=epochs + 1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    return model.loss_


def fit_markdown(rows: list[FitRow]) -> str:
    """The fit rows as a Markdown table, with ratios to PyTorch and from scikit-learn."""
    lines = ["| job | library | BLAS threads | fit s | s/epoch | / PyTorch | scikit-learn / gpudeep | "
             "step ms | overhead | final loss |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    by_key = {(r.job.name, r.library): r for r in rows}
    for r in rows:
        torch_row, sk_row = by_key.get((r.job.name, "pytorch")), by_key.get((r.job.name, "scikit-learn"))
        ratio = f"{r.seconds / torch_row.seconds:.2f}" if torch_row and r.library != "pytorch" else ""
        sk = f"{sk_row.seconds / r.seconds:.2f}" if sk_row and r.library == "gpudeep" else ""
        step = f"{r.step_seconds * 1e3:.3f}" if r.step_seconds is not None else ""
        overhead = f"{r.overhead:.2f}" if r.overhead is not None else ""
        lines.append(f"| {r.job.name} ({r.job.n_samples}×{r.job.n_features}, {r.job.epochs} epochs, "
                     f"batch {r.job.batch_size}) | {r.library} | {r.threads} | {r.seconds:.2f} | "
                     f"{r.seconds / r.job.epochs:.3f} | {ratio} | {sk} | {step} | {overhead} | {r.final_loss:.4f} |")
    return "\n".join(lines)


@dataclass(frozen=True)
class TrainJob:
    """A ``gpudeep train`` command line (after ``train``), timed ``repeats`` times per condition."""

    arguments: tuple[str, ...] = ()
    repeats: int = 3


DIGITS_TRAIN = TrainJob()
TINY_TRAIN = TrainJob(("--dataset", "iris", "--epochs", "2"), repeats=1)


def train_rows(job: TrainJob, backend: Backend, *, log: Callable[[str], None] = print) -> list[tuple[int, float]]:
    """(busy processes, median seconds) for the command alone, next to 1 and to one per core."""
    rows = []
    for busy in sorted({0, 1, threads.usable_cores()}):
        times = []
        for _ in range(job.repeats):
            with tempfile.TemporaryDirectory() as folder, _busy_processes(busy):
                command = [sys.executable, "-m", "gpudeep", "train", "--quiet", "--backend", backend.name,
                           "--out", f"{folder}/run", *job.arguments]
                started = time.perf_counter()
                subprocess.run(command, check=True, capture_output=True)
                times.append(time.perf_counter() - started)
        rows.append((busy, statistics.median(times)))
        log(f"gpudeep train {' '.join(job.arguments)} next to {busy} busy process(es): {rows[-1][1]:.2f} s")
    return rows


@contextlib.contextmanager
def _busy_processes(count: int):
    """``count`` processes that keep a core busy (a pure-Python loop) while the block runs."""
    processes = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        time.sleep(0.2 if count else 0)  # let them take their cores
        yield
    finally:
        for process in processes:
            process.kill()
            process.wait()


def train_markdown(job: TrainJob, rows: list[tuple[int, float]]) -> str:
    quiet = rows[0][1]
    command = " ".join(("gpudeep train", *job.arguments))
    lines = [f"| command | busy processes | seconds (median of {job.repeats}) | / quiet |", "|---|---|---|---|"]
    lines += [f"| `{command}` | {busy} | {seconds:.2f} | {seconds / quiet:.2f} |" for busy, seconds in rows]
    return "\n".join(lines)
