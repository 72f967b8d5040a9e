"""A run folder repeats, compares and scores again: config.json, split.json, history.csv, per-class metrics;
the command line speaks in its own flags and says what to type."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest

from gpudeep.cli import command_line, main


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "gpudeep", *args], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    """`gpudeep train` on iris with a validation share and a seed other than the default."""
    out = tmp_path_factory.mktemp("runs") / "iris"
    result = run("train", "--dataset", "iris", "--seed", "3", "--epochs", "12", "--validation-fraction", "0.2",
                 "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    return out


def test_the_run_folder_records_what_repeats_and_compares_the_run(iris_run):
    config, split, metrics = (json.loads((iris_run / name).read_text())
                              for name in ("config.json", "split.json", "metrics.json"))
    assert config["seed"] == 3 and config["epochs"] == 12 and config["task"] == "classification"
    assert not {"out", "quiet", "checkpoint", "resume", "track", "config"} & set(config)
    assert len(split["test"]) == 30 and len(split["validation"]) == 24  # 0.2 of 150, then 0.2 of the 120 left
    assert not set(split["test"]) & set(split["validation"]) and len(split["data_sha256"]) == 64
    assert metrics["versions"]["numpy"] == np.__version__ and "gpudeep" in metrics["versions"]
    assert metrics["n_train"] + metrics["n_validation"] + metrics["n_test"] == 150
    with (iris_run / "history.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"] and len(rows) == 12
    assert [float(row["val_accuracy"]) for row in rows] == metrics["history"]["val_accuracy"]
    assert set(metrics["per_class"]) == {"0", "1", "2"}


def test_evaluate_scores_the_recorded_held_out_rows_whatever_the_seed_was(iris_run):
    accuracy = json.loads((iris_run / "metrics.json").read_text())["accuracy"]
    result = run("evaluate", str(iris_run))  # the folder; no --seed 3, no --dataset iris
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"iris: held-out accuracy {accuracy:.4f} on 30 samples (the run's held-out rows)"
    whole = run("evaluate", str(iris_run), "--whole")  # the run's data set, all of it
    assert whole.returncode == 0 and "iris: held-out accuracy" in whole.stdout
    assert "on 150 samples (all rows)" in whole.stdout
    resplit = run("evaluate", str(iris_run), "--test-size", "0.5")
    assert resplit.returncode == 0 and "on 75 samples (a new split, --test-size 0.5 --seed 0)" in resplit.stdout
    other = run("evaluate", str(iris_run), "--dataset", "wine")
    assert other.returncode == 2 and "pass --whole (all of it) or --test-size (a new split)" in other.stderr


def test_a_changed_data_file_is_not_scored_on_the_old_split(tmp_path):
    data = tmp_path / "data.csv"
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    data.write_text("a,b,y\n" + "".join(f"{a},{b},{int(a > 0)}\n" for a, b in X))
    assert run("train", "--dataset", str(data), "--epochs", "2", "--out", str(tmp_path / "run"),
               "--quiet").returncode == 0
    data.write_text("a,b,y\n" + "".join(f"{a},{b},{int(b > 0)}\n" for a, b in X))
    result = run("evaluate", str(tmp_path / "run"))
    assert result.returncode == 2 and "is not the data set this run split" in result.stderr
    # a separate test file, scored whole, its columns matched by name
    in_order, shuffled = tmp_path / "in_order.csv", tmp_path / "shuffled.csv"
    in_order.write_text("a,b,y\n" + "".join(f"{a},{b},{int(a > 0)}\n" for a, b in X[:30]))
    shuffled.write_text("y,b,a\n" + "".join(f"{int(a > 0)},{b},{a}\n" for a, b in X[:30]))
    scores = [run("evaluate", str(tmp_path / "run"), "--whole", "--dataset", str(path), "--label", "y")
              for path in (in_order, shuffled)]
    assert all(result.returncode == 0 and "on 30 samples (all rows)" in result.stdout for result in scores)
    assert scores[0].stdout.split()[3] == scores[1].stdout.split()[3]


def test_config_repeats_a_run_exactly_and_options_typed_override_it(iris_run, tmp_path):
    again = tmp_path / "again"
    assert run("train", "--config", str(iris_run / "config.json"), "--out", str(again), "--quiet",
               "--backend", "numpy").returncode == 0
    first, second = (json.loads((folder / "metrics.json").read_text()) for folder in (iris_run, again))
    assert second["model_sha256"] == first["model_sha256"]  # the same weights, bit for bit
    assert json.loads((again / "split.json").read_text()) == json.loads((iris_run / "split.json").read_text())
    shorter = tmp_path / "shorter"
    assert run("train", "--config", str(iris_run / "config.json"), "--epochs", "2", "--out", str(shorter),
               "--quiet").returncode == 0
    assert json.loads((shorter / "config.json").read_text())["epochs"] == 2


@pytest.mark.parametrize("config, message", [
    ({"epochs": 0}, "--epochs must be an integer >= 1, got 0"),
    ({"layers": [0]}, "argument --layers: expected comma-separated positive integers"),
    ({"out": "elsewhere"}, "unknown option 'out'; a config holds"),
    ({"color": "red"}, "unknown option 'color'"),
    ([1, 2], "must hold a JSON object of options"),
])
def test_a_bad_config_is_refused_naming_the_option(tmp_path, config, message):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    result = run("train", "--config", str(path), "--out", str(tmp_path / "run"))
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def test_a_label_column_that_is_not_last_gets_a_hint(tmp_path):
    data = tmp_path / "pets.csv"
    data.write_text("species,weight,height\n" + "".join(f"{'cat' if i % 2 else 'dog'},{i},{i * 2}\n"
                                                        for i in range(20)))
    result = run("train", "--dataset", str(data), "--epochs", "1")
    assert result.returncode == 2
    assert "column 'species' is not a number: 'dog'; if 'species' holds the labels, pass --label species" \
        in result.stderr
    assert run("train", "--dataset", str(data), "--label", "species", "--epochs", "1", "--out",
               str(tmp_path / "run"), "--quiet").returncode == 0


def test_task_makes_integer_targets_a_regression(tmp_path):
    data = tmp_path / "counts.csv"
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 2))
    data.write_text("a,b,count\n" + "".join(f"{a},{b},{int(5 + 3 * a)}\n" for a, b in X))
    result = run("train", "--dataset", str(data), "--task", "regression", "--epochs", "3", "--out",
                 str(tmp_path / "run"), "--quiet")
    assert result.returncode == 0, result.stderr
    assert "held-out r2" in result.stdout
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["task"] == "regression" and {"r2", "mae", "rmse"} <= set(metrics)


def test_predict_writes_row_numbers_and_probabilities(iris_run, tmp_path):
    from sklearn.datasets import load_iris

    X = load_iris().data[:5]
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b,c,d\n" + "".join(",".join(map(str, row)) + "\n" for row in X))
    result = run("predict", str(iris_run), str(rows), "--proba")
    assert result.returncode == 0, result.stderr
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(table[0]) == ["row", "prediction", "proba_0", "proba_1", "proba_2"]
    assert [row["row"] for row in table] == ["0", "1", "2", "3", "4"]
    for row in table:
        probabilities = [float(row[f"proba_{k}"]) for k in range(3)]
        assert sum(probabilities) == pytest.approx(1) and int(row["prediction"]) == int(np.argmax(probabilities))


def test_every_command_and_option_has_help(capsys):
    parser = command_line()
    assert parser.description.startswith("gpudeep: deep L-layer networks")
    for name, command in parser.commands.items():
        assert command.description, name
        for dest, action in command.options.items():
            assert action.help and action.help != argparse_suppress(), f"{name} {dest}"
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("gpudeep ")


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS


def test_info_prints_the_reason_once(tmp_path):
    result = run("info")
    assert result.returncode == 0 and result.stderr == ""  # the reason is on stdout, not repeated on stderr
    assert result.stdout.count("reason:") == 1


# -- tracking --------------------------------------------------------------------------------------------


def test_track_without_mlflow_says_what_to_install_before_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` raises ImportError
    assert main(["train", "--dataset", "iris", "--track", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "--track: tracking needs MLflow, which is not installed" in err and "pip install 'gpudeep[track]'" in err
    assert not (tmp_path / "run").exists()


def test_a_notebook_imports_and_trains_without_warnings():
    """In a Jupyter kernel without ipywidgets, importing gpudeep and fitting with verbose=1 prints the epoch lines
    and nothing else (tqdm.auto used to warn 'IProgress not found' at import)."""
    nbformat = pytest.importorskip("nbformat", reason="nbformat (with nbval, in the test extra) runs notebooks")
    nbclient = pytest.importorskip("nbclient", reason="nbclient (with nbval, in the test extra) runs notebooks")
    code = ("import numpy as np\nfrom gpudeep import DeepClassifier\n"
            "DeepClassifier(max_iter=3, tol=1.0, n_iter_no_change=1, verbose=1, backend='numpy')"
            ".fit(np.random.default_rng(0).random((20, 3)), np.arange(20) % 2)")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(notebook, kernel_name="python3", timeout=120).execute()
    text = "".join("".join(output.get("text", "")) for output in notebook.cells[0].outputs)
    assert "Warning" not in text and "Iteration 1, loss = " in text


@pytest.mark.parametrize("damage", [
    lambda folder: (folder / "split.json").write_text("{not json"),
    lambda folder: (folder / "split.json").write_text(json.dumps({"test": [], "data_sha256": "0" * 64})),
    lambda folder: (folder / "split.json").write_text(json.dumps({"test": [1, -2], "data_sha256": "0" * 64})),
    lambda folder: (folder / "config.json").write_text("[]"),
], ids=["not-json", "no-test-rows", "a-negative-row", "config-not-an-object"])
def test_a_damaged_run_record_is_refused_with_what_to_do(iris_run, tmp_path, damage):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(iris_run, copy)
    damage(copy)
    result = run("evaluate", str(copy))
    assert result.returncode == 2 and "to score without it, pass --dataset with --whole or --test-size" \
        in result.stderr
    assert "Traceback" not in result.stderr
    assert run("evaluate", str(copy), "--dataset", "iris", "--whole").returncode == 0  # as the error says
