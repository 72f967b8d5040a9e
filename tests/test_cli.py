"""The ``gpudeep`` command as a user runs it: output and exit codes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from gpudeep import tutorial
from gpudeep.backend import get_backend
from gpudeep.cli import main
from gpudeep.network import Architecture


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "gpudeep", *args], capture_output=True, text=True, env=env)


def test_info_names_backend_reason_and_versions():
    result = run("info")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "backend:  " in out and "reason:   " in out and f"numpy:    {np.__version__}" in out and "cupy:" in out


def test_info_follows_the_environment_variable(monkeypatch):
    import os

    result = run("info", env={**os.environ, "GPUDEEP_BACKEND": "array_api_strict"})
    assert "backend:  array_api_strict" in result.stdout
    assert "from GPUDEEP_BACKEND=array_api_strict" in result.stdout


def test_gradcheck_passes(capsys):
    assert main(["gradcheck", "--backend", "numpy", "--layers", "3,4,2", "--hidden", "tanh"]) == 0
    out = capsys.readouterr().out
    assert "dW[1]" in out and "db[2]" in out and "passed: max relative error" in out


def test_gradcheck_reports_failure_with_exit_1(capsys):
    assert main(["gradcheck", "--backend", "numpy", "--tolerance", "1e-30"]) == 1
    assert "FAILED" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["gradcheck", "--backend", "numpy", "--layers", "3,0,1"], "layer_sizes must list at least two positive integers"),
        (["gradcheck", "--backend", "numpy", "--hidden", "softmax"], "invalid choice"),
        (["gradcheck", "--layers", "3,x"], "expected comma-separated integers"),
        (["info", "--backend", "tpu"], "invalid choice"),
        (["fly"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_unavailable_cupy_exits_1_with_the_fix():
    from conftest import gpu_unavailable_reason

    if not gpu_unavailable_reason():
        pytest.skip("a GPU is present: this test is for machines without one")
    result = run("info", "--backend", "cupy")
    assert result.returncode == 1
    assert "gpudeep[cuda12]" in result.stderr and "Traceback" not in result.stderr


def test_tutorial_command(capsys):
    assert main(["tutorial", "--backend", "numpy"]) == 0
    out = capsys.readouterr().out
    assert "(decreasing: True)" in out and "relu + he" in out


def test_tutorial_network_as_written_decreases_its_cost():
    backend = get_backend("numpy")
    arch = Architecture.build(tutorial.UNITS, hidden="sigmoid", loss="binary_cross_entropy")
    X, Y = tutorial.tutorial_data(rng=0)
    _, costs = tutorial.train(backend, arch, X, Y, init="uniform_0_1", learning_rate=0.01, epochs=100, rng=0)
    assert costs.shape == (100,) and np.all(np.diff(costs) < 0)


def test_he_and_relu_learn_what_the_tutorial_set_up_cannot(backend):
    X, Y = tutorial.xor_data(rng=0)
    scores = {}
    for hidden, init in (("sigmoid", "uniform_0_1"), ("relu", "he")):
        arch = Architecture.build(tutorial.UNITS, hidden=hidden, loss="binary_cross_entropy")
        params, _ = tutorial.train(backend, arch, X, Y, init=init, learning_rate=0.1, epochs=1500, rng=0)
        scores[hidden] = tutorial.accuracy(backend, arch, params, X, Y)
    assert scores["sigmoid"] < 0.6 < 0.95 < scores["relu"]
