"""Checks of the CuPy path that only a GPU can make, each a few seconds (``python scripts/gpu_checks.py``, run by
``scripts/gpu-check.sh``):

- no-sync: 20 training steps, and an epoch up to its one transfer, under ``cupyx.allow_synchronize(False)``;
- nccl: a one-rank NCCL all-reduce of a float32 and a float64 buffer (the unique id, dtypes and stream);
- cupy-input: fit, predict and score on ``cupy.asarray(X)``, counting what reaches the host (never X);
- sparse-fit: a fit on a SciPy CSR matrix, timed against the same fit on its dense form.

Prints one line per check and exits 1 if any failed; ``--output FILE`` also writes the lines there.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
import warnings

import numpy as np
from scipy import sparse
from sklearn.datasets import load_digits

from gpudeep import DeepClassifier, get_backend
from gpudeep.backends.cupy import CupyBackend
from gpudeep.network import Architecture, init_parameters
from gpudeep.optim import Adam
from gpudeep.training import TrainingState, loop, train_step


def no_sync(backend) -> str:
    import cupyx

    X, y = load_digits(return_X_y=True)
    arch = Architecture.build((64, 128, 10), hidden="relu", loss="categorical_cross_entropy")
    params = init_parameters(arch, backend, init="he", dtype="float32", rng=np.random.default_rng(0))
    state = TrainingState(arch, params, Adam(1e-3), np.random.default_rng(0))
    X_gpu, Y_gpu = backend.asarray(X / 16.0, "float32"), backend.asarray(np.eye(10)[y], "float32")
    batch = (X_gpu[:128, :].T, Y_gpu[:128, :].T)
    run = {"batch_size": 128, "shuffle": True, "l2": 1e-4, "dropout": 0.1, "draw": backend.uniform(0),
           "score": DeepClassifier()._device_score, "step": loop.Step(), "sample_weight": None}
    with backend.on_device():
        train_step(backend.xp, arch, params, state.optimizer, *batch)  # kernels compiled, pool filled
        backend.synchronize()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # allow_synchronize is deprecated, still there
            with cupyx.allow_synchronize(False):
                for _ in range(20):
                    train_step(backend.xp, arch, params, state.optimizer, *batch, l2=1e-4)
                costs, _, _ = loop._run_epoch(backend, state, X_gpu, Y_gpu, **run)
    return f"20 steps and an epoch of {len(costs)} steps (dropout, L2, scores) ran with synchronisation disallowed"


class OneRank:
    """A ``distributed.Group`` of one rank, as the backend's reduction sees it."""

    rank, size, is_root = 0, 1, True

    def all_ranks(self, flag):
        return bool(flag)

    def broadcast(self, value):
        return value

    def takes_device_buffers(self):
        return False

    def sum_in_place(self, buffer):
        raise AssertionError("NCCL was expected: nothing should be staged through MPI")


def nccl(backend) -> str:
    reduction = backend.reduction(OneRank())
    if reduction.name != "nccl":
        raise AssertionError(f"expected NCCL, got {reduction.name}: {reduction.why}")
    with backend.on_device():
        for dtype in ("float32", "float64"):
            buffer = backend.asarray(np.arange(5.0), dtype)
            summed = backend.to_numpy(reduction.run(buffer))
            if summed.tolist() != [0.0, 1.0, 2.0, 3.0, 4.0]:
                raise AssertionError(f"the one-rank sum of {dtype} 0..4 gave {summed.tolist()}")
    return f"{reduction.why}: float32 and float64 buffers summed over one rank, unchanged"


def cupy_input(backend) -> str:
    X, y = load_digits(return_X_y=True)
    moved = []
    host = CupyBackend._host
    CupyBackend._host = lambda self, array: moved.append(tuple(array.shape)) or host(self, array)
    try:
        X_gpu = backend.xp.asarray(X)
        model = DeepClassifier((64,), max_iter=5, random_state=0, standardize=True, early_stopping=True,
                               backend=backend)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X_gpu, y)
        probabilities, accuracy = model.predict_proba(X_gpu), model.score(X_gpu, y)
    finally:
        CupyBackend._host = host
    if not isinstance(probabilities, backend.xp.ndarray):
        raise AssertionError(f"predict_proba of CuPy input gave a {type(probabilities).__name__}")
    tables = [shape for shape in moved if len(shape) > 1]  # metrics, checks and labels are vectors or numbers
    if tables:
        raise AssertionError(f"tables reached the host (X, or a part of it): {tables}")
    return f"fit, predict_proba and score stayed on the GPU ({len(moved)} transfers to the host, shapes " \
           f"{sorted(set(moved))}); accuracy {accuracy:.3f}"


def sparse_fit(backend, quick: bool) -> str:
    rng = np.random.default_rng(0)
    rows, columns = (2_000, 500) if quick else (20_000, 2_000)
    X = sparse.random(rows, columns, density=0.01, format="csr", random_state=0, dtype=np.float32)
    y = rng.integers(0, 2, rows)
    seconds = {}
    for kind, data in (("sparse", X), ("dense", X.toarray())):
        model = DeepClassifier((256,), max_iter=2, batch_size=256, random_state=0, backend=backend)
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(data, y)
        seconds[kind] = time.perf_counter() - started
    return f"{rows} x {columns} at 1 %, 2 epochs: sparse {seconds['sparse']:.2f} s, dense {seconds['dense']:.2f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", help="also write the lines to this file")
    parser.add_argument("--quick", action="store_true", help="a small sparse fit")
    options = parser.parse_args(argv)
    backend = get_backend("cupy")
    checks = {"no-sync": no_sync, "nccl": nccl, "cupy-input": cupy_input,
              "sparse-fit": lambda backend: sparse_fit(backend, options.quick)}
    lines, failed = [f"{backend!r}"], 0
    for name, check in checks.items():
        started = time.perf_counter()
        try:
            outcome = f"ok: {check(backend)}"
        except Exception as error:  # a check's failure is its finding: report it, run the others
            failed += 1
            outcome = f"FAILED: {type(error).__name__}: {error}"
            traceback.print_exc()
        lines.append(f"{name:<11} {outcome} ({time.perf_counter() - started:.1f} s)")
        print(lines[-1], flush=True)
    if options.output:
        with open(options.output, "w") as file:
            file.write("\n".join(lines) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
