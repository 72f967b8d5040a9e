"""What a new user trips over, each as it was met: resumes that forget the run, silent task choices, silent
unknown labels, files without a header, run folders used from elsewhere, early stopping that says nothing,
and the small things (a closed pipe, a missing file, a misspelt flag)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from gpudeep.cli import main
from gpudeep.training.callbacks import EveryEpoch


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "gpudeep", *args], capture_output=True, text=True, cwd=cwd)


def cli(capsys, *args) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- a resumed run continues the run it came from ------------------------------------------


@pytest.fixture
def interrupted(tmp_path, monkeypatch, capsys):
    """A run of --epochs 8 with a checkpoint, interrupted (Ctrl-C) after its third epoch."""
    checkpoint = tmp_path / "checkpoint.npz"
    written = EveryEpoch.on_epoch_end

    def interrupt_after_the_third(self, state, logs, backend):
        written(self, state, logs, backend)
        if state.epoch == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(EveryEpoch, "on_epoch_end", interrupt_after_the_third)
    code, _, _ = cli(capsys, "train", "--dataset", "breast_cancer", "--epochs", "8", "--seed", "4", "--quiet",
                     "--out", str(tmp_path / "first"), "--checkpoint", str(checkpoint))
    monkeypatch.setattr(EveryEpoch, "on_epoch_end", written)
    assert code == 130
    return checkpoint


def test_a_resume_continues_with_the_runs_settings_and_split(tmp_path, interrupted, capsys):
    from gpudeep import load

    code, out, _ = cli(capsys, "train", "--quiet", "--out", str(tmp_path / "resumed"), "--resume", str(interrupted))
    assert code == 0 and "(8 epochs," in out
    code, _, _ = cli(capsys, "train", "--dataset", "breast_cancer", "--epochs", "8", "--seed", "4", "--quiet",
                     "--out", str(tmp_path / "whole"))
    resumed, whole = (tmp_path / name for name in ("resumed", "whole"))
    assert (resumed / "split.json").read_text() == (whole / "split.json").read_text()
    assert json.loads((resumed / "config.json").read_text()) == json.loads((whole / "config.json").read_text())
    a, b = load(resumed / "model.npz"), load(whole / "model.npz")
    assert a.t_ == b.t_ == 8 * 409 and a.n_iter_ == b.n_iter_ == 8  # 569 rows less 114 held out, 46 validating
    for W, V in zip(a.coefs_, b.coefs_):
        np.testing.assert_array_equal(W, V)


@pytest.mark.parametrize("change", [["--seed", "5"], ["--test-size", "0.3"], ["--dataset", "wine"]])
def test_a_resume_refuses_a_new_split_unless_allowed(tmp_path, interrupted, capsys, change):
    code, _, err = cli(capsys, "train", "--quiet", "--out", str(tmp_path / "resumed"), "--resume", str(interrupted),
                       *change)
    assert code == 2 and f"{change[0]} " in err and "(the run's: " in err and "--allow-new-split" in err, err
    assert not (tmp_path / "resumed").exists()


def test_a_resume_takes_new_settings_that_keep_the_split(tmp_path, interrupted, capsys):
    code, out, _ = cli(capsys, "train", "--quiet", "--out", str(tmp_path / "longer"), "--resume", str(interrupted),
                       "--epochs", "10")
    assert code == 0 and "(10 epochs," in out
    code, _, _ = cli(capsys, "train", "--quiet", "--out", str(tmp_path / "other"), "--resume", str(interrupted),
                     "--seed", "5", "--allow-new-split")
    assert code == 0


def test_a_checkpoint_without_a_run_record_is_said_so(tmp_path, capsys, caplog):
    from sklearn.datasets import load_breast_cancer

    from gpudeep import DeepClassifier

    X, y = load_breast_cancer(return_X_y=True)
    checkpoint = tmp_path / "estimator.npz"
    DeepClassifier(hidden_layer_sizes=(256, 128), max_iter=1, checkpoint_path=checkpoint, random_state=0).fit(X, y)
    code, _, _ = cli(capsys, "train", "--dataset", "breast_cancer", "--quiet", "--epochs", "2", "--alpha", "0.0001",
                     "--out", str(tmp_path / "run"), "--resume", str(checkpoint), "--dropout", "0")
    assert "holds no run record" in caplog.text


# -- the task chosen is said, and how to choose the other ----------------------------------


def test_whole_number_targets_say_they_made_a_classification(tmp_path, capsys):
    path = tmp_path / "binned.csv"
    rng = np.random.default_rng(0)
    rows = [f"{a:.3f},{b:.3f},{int(25 * round(4 * a + 6))}" for a, b in rng.standard_normal((60, 2))]
    path.write_text("a,b,target\n" + "\n".join(rows) + "\n")
    code, out, err = cli(capsys, "train", "--dataset", str(path), "--epochs", "1", "--quiet",
                         "--out", str(tmp_path / "run"))
    if code == 0:
        assert out.startswith("task: classification of ") and "pass --task regression" in out
    else:  # a class too small to hold out
        assert "pass --task regression" in err
    code, out, _ = cli(capsys, "train", "--dataset", str(path), "--epochs", "1", "--quiet", "--task", "regression",
                       "--out", str(tmp_path / "regression"))
    assert code == 0 and "task:" not in out and "held-out r2" in out


def test_a_class_too_small_to_hold_out_names_the_regression_task(tmp_path, capsys):
    path = tmp_path / "counts.csv"
    path.write_text("a,y\n" + "".join(f"{i},{150 + 25 * (i % 7) if i else 999}\n" for i in range(40)))
    code, _, err = cli(capsys, "train", "--dataset", str(path), "--epochs", "1", "--quiet",
                       "--out", str(tmp_path / "run"))
    assert code == 2 and "some classes are too small" in err and "pass --task regression" in err


# -- labels unseen in training are an error ------------------------------------------------


def test_evaluating_on_labels_the_model_never_saw_is_an_error(tmp_path, capsys):
    train, test = tmp_path / "flowers_train.csv", tmp_path / "flowers_test.csv"
    rng = np.random.default_rng(1)
    rows = [(x, y, "setosa" if x < 0 else "virginica") for x, y in rng.standard_normal((80, 2))]
    train.write_text("a,b,species\n" + "".join(f"{x},{y},{s}\n" for x, y, s in rows))
    test.write_text("a,b,species\n" + "".join(f"{x},{y},{s.capitalize() if i % 2 else s}\n"
                                              for i, (x, y, s) in enumerate(rows[:20])))
    assert cli(capsys, "train", "--dataset", str(train), "--epochs", "2", "--quiet",
               "--out", str(tmp_path / "run"))[0] == 0
    code, _, err = cli(capsys, "evaluate", str(tmp_path / "run"), "--dataset", str(test), "--whole")
    assert code == 2 and "10 of 20 rows have labels the model was not trained on" in err, err
    assert "'Setosa'" in err and "the model knows ['setosa', 'virginica']" in err


# -- files without a header, and index columns ---------------------------------------------


def test_predicting_from_a_file_without_a_header_keeps_every_row(tmp_path, capsys):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((100, 3))
    train = tmp_path / "train.csv"
    train.write_text("a,b,c,y\n" + "".join(f"{a},{b},{c},{int(a > 0)}\n" for a, b, c in X))
    assert cli(capsys, "train", "--dataset", str(train), "--epochs", "2", "--quiet",
               "--out", str(tmp_path / "run"))[0] == 0
    rows = tmp_path / "rows.csv"
    rows.write_text("".join(f"{a},{b},{c}\n" for a, b, c in X[:20]))
    code, _, err = cli(capsys, "predict", str(tmp_path / "run"), str(rows))
    assert code == 2 and "is numbers, so it is data" in err and "--no-header" in err
    code, out, _ = cli(capsys, "predict", str(tmp_path / "run"), str(rows), "--no-header")
    assert code == 0 and len(out.splitlines()) == 21  # the header and 20 predictions
    indexed = tmp_path / "indexed.csv"
    indexed.write_text(",a,b,c\n" + "".join(f"{i},{a},{b},{c}\n" for i, (a, b, c) in enumerate(X[:5])))
    code, out, _ = cli(capsys, "predict", str(tmp_path / "run"), str(indexed))
    assert code == 0 and len(out.splitlines()) == 6
    with_id = tmp_path / "with_id.csv"
    with_id.write_text("id,a,b,c\n" + "".join(f"{i},{a},{b},{c}\n" for i, (a, b, c) in enumerate(X[:5])))
    code, _, err = cli(capsys, "predict", str(tmp_path / "run"), str(with_id))
    assert code == 2 and "unexpected ['id']" in err and "--drop id" in err
    assert cli(capsys, "predict", str(tmp_path / "run"), str(with_id), "--drop", "id")[0] == 0


def test_a_dropped_column_is_kept_out_of_evaluate_too(tmp_path, capsys):
    data = tmp_path / "data.csv"
    rng = np.random.default_rng(3)
    data.write_text("id,a,b,y\n" + "".join(f"{i},{a},{b},{int(a > b)}\n"
                                           for i, (a, b) in enumerate(rng.standard_normal((60, 2)))))
    assert cli(capsys, "train", "--dataset", str(data), "--drop", "id", "--epochs", "2", "--quiet",
               "--out", str(tmp_path / "run"))[0] == 0
    from gpudeep import load

    assert load(tmp_path / "run" / "model.npz").feature_names_in_.tolist() == ["a", "b"]
    code, out, _ = cli(capsys, "evaluate", str(tmp_path / "run"))
    assert code == 0 and "(the run's held-out rows)" in out
    again = tmp_path / "again"  # the config repeats the run, the dropped column too
    assert cli(capsys, "train", "--config", str(tmp_path / "run" / "config.json"), "--out", str(again))[0] == 0
    assert (again / "model.npz").read_bytes() == (tmp_path / "run" / "model.npz").read_bytes()


# -- a run folder works from any folder ----------------------------------------------------


def test_a_run_folder_is_scored_from_another_folder(tmp_path):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir(), elsewhere.mkdir()
    rng = np.random.default_rng(4)
    (project / "flowers_train.csv").write_text(
        "a,b,y\n" + "".join(f"{a},{b},{int(a > 0)}\n" for a, b in rng.standard_normal((60, 2))))
    trained = run("train", "--dataset", "flowers_train.csv", "--epochs", "2", "--quiet", "--out", "run", cwd=project)
    assert trained.returncode == 0, trained.stderr
    scored = run("evaluate", str(project / "run"), cwd=elsewhere)
    assert scored.returncode == 0 and "(the run's held-out rows)" in scored.stdout, scored.stderr
    (project / "flowers_train.csv").rename(project / "moved.csv")
    lost = run("evaluate", str(project / "run"), cwd=elsewhere)
    assert lost.returncode == 2 and "flowers_train.csv' does not exist" in lost.stderr
    missing = run("evaluate", "runs/nosuch", cwd=elsewhere)
    assert missing.returncode == 2 and "no model file or run folder 'runs/nosuch'" in missing.stderr
    assert "Errno" not in missing.stderr


# -- early stopping from the command line --------------------------------------------------


def test_early_stopping_takes_patience_and_tol_and_says_which_epoch_it_kept(tmp_path, capsys):
    code, out, _ = cli(capsys, "train", "--dataset", "iris", "--early-stopping", "--patience", "3", "--tol", "0.5",
                       "--quiet", "--out", str(tmp_path / "run"))
    assert code == 0, out
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["patience"] == 3 and config["tol"] == 0.5
    line = next(line for line in out.splitlines() if line.startswith("early stopping: kept epoch "))
    kept, of = (int(word) for word in line.split("kept epoch ")[1].split(" (")[0].split(" of "))
    scores = json.loads((tmp_path / "run" / "metrics.json").read_text())["history"]["val_accuracy"]
    assert of == len(scores) == 5, line  # nothing improves by 0.5: stopped after 1 + 3 epochs and one more
    assert kept == int(np.argmax(scores)) + 1 and f"(validation accuracy {max(scores):.4f})" in line
    assert "--patience 3 --tol 0.5" in line


# -- the small things ----------------------------------------------------------------------


def test_predict_into_a_closed_pipe_ends_quietly(tmp_path, capsys):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((3000, 2))
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b\n" + "".join(f"{a},{b}\n" for a, b in X))
    train = tmp_path / "train.csv"
    train.write_text("a,b,y\n" + "".join(f"{a},{b},{int(a > 0)}\n" for a, b in X))
    assert cli(capsys, "train", "--dataset", str(train), "--epochs", "1", "--quiet",
               "--out", str(tmp_path / "run"))[0] == 0
    command = f"{sys.executable} -m gpudeep predict {tmp_path / 'run'} {rows} --backend numpy | head -n 2"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True)
    assert result.stdout.splitlines()[0] == "row,prediction" and len(result.stdout.splitlines()) == 2
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_a_missing_input_file_is_said_in_our_words(tmp_path, capsys):
    from gpudeep import DeepClassifier, save

    model = DeepClassifier(hidden_layer_sizes=(3,), max_iter=1).fit(np.eye(4), [0, 1, 0, 1])
    path = save(model, tmp_path / "model.npz")
    code, _, err = cli(capsys, "predict", str(path), str(tmp_path / "nowhere.csv"))
    assert code == 2 and "data file" in err and "nowhere.csv' does not exist" in err and "Errno" not in err


@pytest.mark.parametrize("typo, suggestion", [("--epohcs", "--epochs"), ("--batchsize", "--batch-size"),
                                              ("--drop-out=0.1", "--dropout")])
def test_a_misspelt_flag_gets_the_commands_help_and_a_suggestion(typo, suggestion):
    result = run("train", typo, "5")
    assert result.returncode == 2 and "(see gpudeep train --help)" in result.stderr, result.stderr
    assert f"did you mean {suggestion}?" in result.stderr, result.stderr


def test_gradcheck_refuses_zero_samples():
    result = run("gradcheck", "--samples", "0")
    assert result.returncode == 2 and "--samples: expected a whole number of at least 1, got '0'" in result.stderr


def test_running_out_of_memory_names_the_networks_size_in_its_dtype(monkeypatch):
    from gpudeep import DeepClassifier
    from gpudeep.backends import DeviceMemoryError
    from gpudeep.estimators import base

    def out_of_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 74.5 GiB for an array with shape (100000, 100000) and data type float64")

    monkeypatch.setattr(base._DeepNetwork, "_initial_state", out_of_memory)
    with pytest.raises(DeviceMemoryError) as caught:
        model = DeepClassifier(hidden_layer_sizes=(100_000, 100_000), backend="numpy", dtype="float32")
        model.fit(np.eye(4), [0, 1, 0, 1])
    count = (4 * 100_000 + 100_000) + (100_000 * 100_000 + 100_000) + (100_000 + 1)
    assert f"creating the network of {count:,} parameters (37.3 GiB in float32, and 74.5 GiB to draw its " \
           f"largest layer's first weights in float64)" in str(caught.value)


def test_a_loaded_model_reads_in_one_line_and_keeps_its_history(tmp_path):
    from gpudeep import DeepClassifier, load, save

    X, y = np.random.default_rng(6).standard_normal((40, 3)), np.arange(40) % 2
    model = DeepClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, y, validation_data=(X, y))
    loaded = load(save(model, tmp_path / "model.npz"))
    assert "\n" not in repr(loaded.backend) and repr(loaded.backend) == "<Backend numpy: CPU>"
    assert loaded.history_ == model.history_ and list(loaded.history_) == ["loss", "accuracy", "val_loss",
                                                                           "val_accuracy"]


def test_distributed_without_mpirun_says_how_to_start_ranks(tmp_path, capsys, caplog, monkeypatch):
    from gpudeep.cli import train

    monkeypatch.setattr(train, "mpi_size", lambda: 1)
    monkeypatch.setattr(train, "mpi_rank", lambda: 0)
    cli(capsys, "train", "--dataset", "iris", "--distributed", "--epochs", "1", "--quiet",
        "--out", str(tmp_path / "run"))
    assert "--distributed, but this is the only rank: start it with mpirun -n N" in caplog.text


def test_the_default_run_draws_validation_curves(tmp_path, capsys):
    """The curves can show overfitting only with validation rows: held out by default, 0 for none."""
    assert cli(capsys, "train", "--dataset", "iris", "--epochs", "2", "--quiet", "--out", str(tmp_path / "a"))[0] == 0
    history = json.loads((tmp_path / "a" / "metrics.json").read_text())["history"]
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert cli(capsys, "train", "--dataset", "iris", "--epochs", "2", "--quiet", "--validation-fraction", "0",
               "--out", str(tmp_path / "b"))[0] == 0
    assert set(json.loads((tmp_path / "b" / "metrics.json").read_text())["history"]) == {"loss", "accuracy"}
    code, _, err = cli(capsys, "train", "--dataset", "iris", "--early-stopping", "--validation-fraction", "0",
                       "--out", str(tmp_path / "c"))
    assert code == 2 and "--early-stopping stops on the validation score" in err
