"""One training step of gpudeep, PyTorch and scikit-learn on the same nets, in one run.

A step is forward, cost, backward and a plain SGD update on one float32 batch, gpudeep's with
the BLAS threads its training loop would choose (``gpudeep.threads``). Each library is warmed
up, then timed over several repetitions (synchronised on a GPU); the median is reported
with GFLOP/s, counted as 6·Σ n[l]·n[l-1]·m, and its share of the matrix-product peak
measured in the same run. On a GPU, gpudeep and PyTorch are also timed with TF32 products
("gpudeep tf32", "pytorch tf32"), against the TF32 peak.
"""

from __future__ import annotations

import contextlib
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..backends import Backend
from ..gradcheck import random_problem
from ..network import Architecture, init_parameters
from ..optim import SGD
from ..training import train_step

LEARNING_RATE = 0.01


@dataclass(frozen=True)
class Net:
    """A benchmark network: units n[0..L], the hidden activation, the loss, and its batch sizes."""

    name: str
    layer_sizes: tuple[int, ...]
    hidden: str
    loss: str
    batches: tuple[int, ...]
    gpu_batches: tuple[int, ...] = ()

    def architecture(self) -> Architecture:
        return Architecture.build(self.layer_sizes, hidden=self.hidden, loss=self.loss)


NETS = (
    Net("seed", (3, 4, 4, 4, 4, 3, 1), "sigmoid", "binary_cross_entropy", (2, 256)),
    Net("mnist", (784, 256, 128, 10), "relu", "categorical_cross_entropy", (128, 1024)),
    Net("wide", (1024, 4096, 4096, 10), "relu", "categorical_cross_entropy", (1024,), gpu_batches=(4096,)),
)
TINY = (Net("tiny", (8, 16, 3), "relu", "categorical_cross_entropy", (4, 32)),)


@dataclass
class Row:
    """One library on one net and batch size."""

    net: str
    batch: int
    library: str
    seconds: float
    flops: float
    peak_bytes: int | None = None

    @property
    def gflops(self) -> float:
        return self.flops / self.seconds / 1e9


def median_seconds(step: Callable[[], object], synchronize: Callable[[], None], *, repeats: int,
                   warmup: int = 3, budget: float = 20.0) -> float:
    """Median wall time of ``step`` after ``warmup`` calls; fewer repeats if they pass ``budget`` seconds."""
    for _ in range(warmup):
        step()
    synchronize()
    times, started = [], time.perf_counter()
    for _ in range(repeats):
        begin = time.perf_counter()
        step()
        synchronize()
        times.append(time.perf_counter() - begin)
        if time.perf_counter() - started > budget and len(times) >= 3:
            break
    return statistics.median(times)


def peak_bytes(library: str, step: Callable[[], object], backend: Backend) -> int | None:
    """Peak memory of one call of ``step``: NumPy's allocations on the host (tracemalloc sees them),
    the CuPy pool's size after a step from empty, or PyTorch's CUDA peak; None where unknown."""
    on_gpu = backend.on_gpu
    if library == "gpudeep" and not on_gpu:
        tracemalloc.start()
        try:
            step()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    if library == "gpudeep":
        pool = backend.xp.get_default_memory_pool()
        pool.free_all_blocks()
        step()
        backend.synchronize()
        return pool.total_bytes()
    if library == "pytorch" and on_gpu:
        import torch

        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated()
    return None


def data(net: Net, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Host X ``(n[0], m)`` and Y ``(n[L], m)`` for the net's loss, float32."""
    X, Y = random_problem(net.architecture(), m, rng=0)
    return X.astype(np.float32), Y.astype(np.float32)


def gpudeep_step(backend: Backend, net: Net, m: int) -> Callable[[], object]:
    """One gpudeep training step on data already on the device."""
    arch, xp = net.architecture(), backend.xp
    params = init_parameters(arch, backend, init="he", dtype="float32", rng=0)
    X, Y = (backend.asarray(a, "float32") for a in data(net, m))
    optimizer = SGD(LEARNING_RATE)
    return lambda: train_step(xp, arch, params, optimizer, X, Y)


def torch_device(on_gpu: bool) -> str | None:
    """Where PyTorch's rows run beside a backend: "cuda" beside a GPU, "cpu" beside the CPU; None where PyTorch is
    not installed, or has no CUDA beside a GPU (a CPU build): those rows are left out."""
    try:
        import torch
    except ImportError:
        return None
    if on_gpu:
        return "cuda" if torch.cuda.is_available() else None
    return "cpu"


def torch_step(net: Net, m: int, device: str | None):
    """The same step in PyTorch eager mode on ``device``, or None without one (see ``torch_device``)."""
    if device is None:
        return None
    import torch

    layers = []
    sizes = net.layer_sizes
    for l in range(1, len(sizes)):
        layers.append(torch.nn.Linear(sizes[l - 1], sizes[l]))
        if l < len(sizes) - 1:
            layers.append(torch.nn.Sigmoid() if net.hidden == "sigmoid" else torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).to(device)
    X, Y = data(net, m)
    inputs = torch.from_numpy(np.ascontiguousarray(X.T)).to(device)
    if net.loss == "binary_cross_entropy":
        loss_fn, targets = torch.nn.BCEWithLogitsLoss(), torch.from_numpy(np.ascontiguousarray(Y.T)).to(device)
    else:
        loss_fn, targets = torch.nn.CrossEntropyLoss(), torch.from_numpy(Y.argmax(axis=0)).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        return loss

    return step


def sklearn_step(net: Net, m: int):
    """scikit-learn's MLPClassifier: one ``partial_fit`` over one batch is one SGD step."""
    import warnings

    from sklearn.neural_network import MLPClassifier

    X, Y = data(net, m)
    rows = np.ascontiguousarray(X.T)
    labels = Y[0].astype(int) if Y.shape[0] == 1 else Y.argmax(axis=0)
    classes = np.arange(max(2, Y.shape[0]))
    model = MLPClassifier(hidden_layer_sizes=net.layer_sizes[1:-1], solver="sgd", momentum=0.0, alpha=0.0,
                          learning_rate_init=LEARNING_RATE, batch_size=m,
                          activation="logistic" if net.hidden == "sigmoid" else "relu")

    def step():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.partial_fit(rows, labels, classes=classes)

    return step


def matmul_peak(backend: Backend, shape=(4096, 4096, 1024), repeats: int = 5) -> float:
    """The float32 matrix-product rate (GFLOP/s), best of ``repeats``, for (n×k)·(k×m)."""
    n, k, m = shape
    rng = np.random.default_rng(0)
    A = backend.asarray(rng.standard_normal((n, k), dtype=np.float32))
    B = backend.asarray(rng.standard_normal((k, m), dtype=np.float32))
    A @ B
    backend.synchronize()
    best = np.inf
    for _ in range(repeats):
        begin = time.perf_counter()
        A @ B
        backend.synchronize()
        best = min(best, time.perf_counter() - begin)
    return 2.0 * n * k * m / best / 1e9


def run(backend: Backend, nets=NETS, *, repeats: int = 20, libraries=("gpudeep", "pytorch", "scikit-learn"),
        log: Callable[[str], None] = print) -> list[Row]:
    """Time every library on every net and batch size on ``backend``'s device."""
    on_gpu = backend.on_gpu
    rows = []
    for net in nets:
        for m in net.batches + (net.gpu_batches if on_gpu else ()):
            flops = net.architecture().step_flops(m)
            steps = {"gpudeep": gpudeep_step(backend, net, m)}
            if "pytorch" in libraries:
                steps["pytorch"] = torch_step(net, m, torch_device(on_gpu))
            if "scikit-learn" in libraries and not on_gpu:
                steps["scikit-learn"] = sklearn_step(net, m)
            if on_gpu:
                steps |= {f"{name} tf32": steps[name] for name in ("gpudeep", "pytorch") if steps.get(name)}
            for library, step in steps.items():
                if step is None:
                    continue
                name, _, tf32 = library.partition(" ")
                synchronize = backend.synchronize if name == "gpudeep" else _torch_sync(on_gpu, name)
                threads = backend.blas_threads(flops) if name == "gpudeep" else contextlib.nullcontext()
                with _tf32(backend, name) if tf32 else contextlib.nullcontext(), threads:  # as a fit would run
                    seconds = median_seconds(step, synchronize, repeats=repeats)
                    rows.append(Row(net.name, m, library, seconds, flops, peak_bytes(name, step, backend)))
                log(f"{net.name:>6} b{m:<5} {library:<13} {seconds * 1e3:10.3f} ms  {rows[-1].gflops:8.2f} GFLOP/s")
    return rows


def _size(count: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if count < 1024:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.2f} GiB"


def _tf32(backend: Backend, library: str):
    """TF32 products for gpudeep (through the backend) or PyTorch (through its flag), inside the block."""
    if library == "gpudeep":
        return backend.allow_tf32()
    import torch

    @contextlib.contextmanager
    def torch_tf32():
        previous, torch.backends.cuda.matmul.allow_tf32 = torch.backends.cuda.matmul.allow_tf32, True
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32 = previous

    return torch_tf32()


def _torch_sync(on_gpu: bool, library: str) -> Callable[[], None]:
    if library == "pytorch" and on_gpu:
        import torch

        return torch.cuda.synchronize
    return lambda: None


def markdown(rows: list[Row], peak: float, info: dict, tf32_peak: float | None = None) -> str:
    """The results as a Markdown table with ratios to PyTorch and from scikit-learn.

    TF32 rows are compared with PyTorch's TF32 row and with ``tf32_peak``."""
    by_key = {(r.net, r.batch, r.library): r for r in rows}
    lines = [
        "| net | batch | library | ms/step | GFLOP/s | % of peak | / PyTorch | scikit-learn / gpudeep | peak memory |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        tf32 = r.library.endswith(" tf32")
        torch_row = by_key.get((r.net, r.batch, "pytorch tf32" if tf32 else "pytorch"))
        sk_row = by_key.get((r.net, r.batch, "scikit-learn"))
        ratio = f"{r.seconds / torch_row.seconds:.2f}" if torch_row and not r.library.startswith("pytorch") else ""
        sk = f"{sk_row.seconds / r.seconds:.2f}" if sk_row and r.library == "gpudeep" else ""
        memory = _size(r.peak_bytes) if r.peak_bytes is not None else ""
        share = f"{100 * r.gflops / (tf32_peak if tf32 else peak):.1f}" if not tf32 or tf32_peak else ""
        lines.append(f"| {r.net} | {r.batch} | {r.library} | {r.seconds * 1e3:.3f} | {r.gflops:.2f} | "
                     f"{share} | {ratio} | {sk} | {memory} |")
    header = [f"- {key}: {value}" for key, value in info.items()]
    header.append(f"- measured float32 matrix-product peak: {peak:.1f} GFLOP/s")
    if tf32_peak:
        header.append(f"- measured TF32 matrix-product peak: {tf32_peak:.1f} GFLOP/s")
    return "\n".join(header + ["", *lines])
