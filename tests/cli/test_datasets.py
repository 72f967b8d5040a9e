"""Data sets: the bundled and generated ones, the user's own .npz and .csv, and their errors."""

from __future__ import annotations

import numpy as np
import pytest

from gpudeep.datasets import NAMES, load_dataset, read_csv, split


@pytest.mark.parametrize("name", NAMES)
def test_named_sets_load_as_rows(name):
    X, y, task = load_dataset(name, seed=1)
    assert X.ndim == 2 and X.dtype == np.float64 and len(y) == len(X) and task == "classification"


def test_generated_sets_follow_the_seed():
    assert np.array_equal(load_dataset("moons", seed=3)[0], load_dataset("moons", seed=3)[0])
    assert not np.array_equal(load_dataset("moons", seed=3)[0], load_dataset("moons", seed=4)[0])


def test_split_is_stratified_and_seeded():
    X, y, task = load_dataset("iris")
    X_train, X_test, y_train, y_test = split(X, y, task, seed=0)
    assert len(y_test) == 30 and np.bincount(y_test).tolist() == [10, 10, 10]
    assert np.array_equal(split(X, y, task, seed=0)[1], X_test)


def test_own_npz(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, X=np.arange(12.0).reshape(6, 2), y=np.array([0.5, 1.5, 2.25, 3.0, 4.0, 5.0]))
    X, y, task = load_dataset(str(path))
    assert X.shape == (6, 2) and task == "regression"


def test_npz_errors(tmp_path):
    missing = tmp_path / "missing.npz"
    np.savez(missing, X=np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"must hold arrays 'X' and 'y'; missing \['y'\]"):
        load_dataset(str(missing))
    objects = tmp_path / "objects.npz"
    np.savez(objects, X=np.array([[object()]], dtype=object), y=np.ones(1))
    with pytest.raises(ValueError, match="holds Python objects"):
        load_dataset(str(objects))


def test_csv_label_by_name_or_last(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,kind,b\n1,cat,2\n3,dog,4.5\n5,cat,6\n")
    X, y, task = load_dataset(str(path), label="kind")
    assert X.tolist() == [[1, 2], [3, 4.5], [5, 6]] and y.tolist() == ["cat", "dog", "cat"]
    assert task == "classification"
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("a,b,y\n1,2,0\n3,4,1\n")
    X, y, _ = load_dataset(str(numbers))
    assert X.tolist() == [[1, 2], [3, 4]] and y.tolist() == [0, 1] and y.dtype == np.int64
    X, y = read_csv(numbers, has_label=False)[:2]
    assert X.shape == (2, 3) and y is None


@pytest.mark.parametrize(
    "text, label, message",
    [
        ("a,b\n1,2\n", "kind", r"no label column 'kind'; the columns are \['a', 'b'\]"),
        ("a,b,y\n1,x,0\n", None, r"row 2, column 'b' is not a number: 'x'"),
        ("a,b,y\n1,2\n", None, "row 2 has 2 cells, the header has 3"),
        ("a,b,y\n", None, "needs a header row and at least one data row"),
    ],
)
def test_csv_errors(tmp_path, text, label, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_dataset(str(path), label=label)


def test_unknown_names():
    with pytest.raises(ValueError, match="unknown data set 'mnist': use one of digits"):
        load_dataset("mnist")
    with pytest.raises(ValueError, match="does not exist"):
        load_dataset("nowhere.csv")


def test_the_fingerprint_tells_data_sets_apart():
    from gpudeep.datasets import fingerprint

    X, y, _ = load_dataset("iris")
    assert fingerprint(X, y) == fingerprint(X.copy(), list(y))
    changed = X.copy()
    changed[7, 2] += 1e-12
    assert len({fingerprint(X, y), fingerprint(changed, y), fingerprint(X, y[::-1]), fingerprint(X[:, :3], y),
                fingerprint(X.astype(np.float32), y), fingerprint(X.reshape(300, 2), np.repeat(y, 2))}) == 6


def test_label_and_task_are_checked_against_the_data(tmp_path):
    with pytest.raises(ValueError, match="a label column applies to CSV files only, and 'digits' is not a CSV"):
        load_dataset("digits", label="target")
    data = tmp_path / "data.npz"
    np.savez(data, X=np.arange(12.0).reshape(6, 2), y=np.array([0.5, 1.5, 2.0, 3.0, 1.0, 0.25]))
    with pytest.raises(ValueError, match="a .npz file holds arrays X and y"):
        load_dataset(str(data), label="y")
    with pytest.raises(ValueError, match=r"a classification needs class labels.*\(e.g. 0.5\)"):
        load_dataset(str(data), task="classification")
    X, y, task = load_dataset("iris", task="regression")
    assert task == "regression" and y.dtype == np.float64
    text = tmp_path / "text.csv"
    text.write_text("a,kind\n1,cat\n2,dog\n")
    with pytest.raises(ValueError, match="a regression needs numeric targets, but .* labels are text"):
        load_dataset(str(text), task="regression")
    with pytest.raises(ValueError, match="task must be one of"):
        load_dataset("iris", task="ranking")
    short = tmp_path / "short.npz"
    np.savez(short, X=np.zeros((5, 2)), y=np.zeros(4))
    with pytest.raises(ValueError, match="inconsistent numbers of samples, 5 rows in X and 4 in y"):
        load_dataset(str(short))
