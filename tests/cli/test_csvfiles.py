"""CSV files: read by pandas, every refusal with its row and column; header detection, dropped columns, an
index column, identifiers."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from gpudeep.csvfiles import NotANumber, read_csv
from gpudeep.datasets import load


def write(tmp_path, text: str, name: str = "data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, message",
    [
        ("a,b,y\n1,2,0\n3,NaN,1\n", "row 3, column 'b' is 'NaN', a missing value; fill it or drop the row"),
        ("a,b,y\n1,2,0\n3,NA,1\n", "row 3, column 'b' is 'NA', a missing value"),
        ("a,b,y\n1,2,0\n3,,1\n", "row 3, column 'b' is empty (a missing value)"),
        ("a,b,y\n1,2,0\n3,inf,1\n", "row 3, column 'b' is 'inf', not a finite number"),
        ("a,b,y\n1,2,0\n3,1_000,1\n", "row 3, column 'b' is not a number: '1_000'"),
        ("a,b,y\n1,2,0\n3,4\n", "row 3 has 2 cells, the header has 3"),
        ("a,b,y\n1,2,0\n3,4,5,6\n", "row 3 has 4 cells, the header has 3"),
        ("a,b,y\n1,2,0\n\n3,x,1\n", "row 4, column 'b' is not a number: 'x'"),  # blank lines count as rows
    ],
)
def test_every_bad_cell_is_named_by_row_and_column(tmp_path, text, message):
    with pytest.raises(ValueError, match="^.*data.csv: " + message.replace("(", r"\(").replace(")", r"\)")):
        read_csv(write(tmp_path, text))


def test_a_cell_that_is_not_a_number_names_its_column_for_the_label_hint(tmp_path):
    with pytest.raises(NotANumber) as caught:
        read_csv(write(tmp_path, "a,kind,b\n1,cat,2\n"))
    assert caught.value.column == "kind"


def test_a_binary_file_is_refused_in_our_words(tmp_path):
    path = tmp_path / "image.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    with pytest.raises(ValueError, match="not a text file in UTF-8 .*convert it to UTF-8"):
        read_csv(path)


def test_a_first_row_of_numbers_is_not_taken_for_a_header(tmp_path):
    """20 rows without a header are 20 samples, never 19 with the first taken as column names."""
    rows = "".join(f"{i},{i * 2},{i % 2}\n" for i in range(20))
    path = write(tmp_path, rows)
    with pytest.raises(ValueError, match=r"its first row \['0', '0', '0'\] is numbers, so it is data.*--no-header"):
        read_csv(path)
    table = read_csv(path, header=False)
    assert table.X.shape == (20, 2) and table.y.tolist() == [i % 2 for i in range(20)] and table.columns is None
    assert read_csv(path, header=False, label="column_1").y.tolist() == list(range(20))
    counted = write(tmp_path, "0,1,target\n5,6,0\n7,8,1\n", "frame.csv")  # pd.DataFrame(X)'s column names
    assert read_csv(counted).columns == ["0", "1"] and len(read_csv(counted).y) == 2
    iris_like = write(tmp_path, "5.1,3.5,setosa\n4.9,3.0,setosa\n", "flowers.csv")  # text labels, no header
    with pytest.raises(ValueError, match="is numbers, so it is data"):
        read_csv(iris_like)


def test_columns_can_be_dropped_and_a_pandas_index_is_dropped(tmp_path, caplog):
    path = write(tmp_path, "id,a,b,y\n10,1,2,0\n11,3,4,1\n12,5,6,0\n")
    table = read_csv(path, drop=("id",))
    assert table.X.tolist() == [[1, 2], [3, 4], [5, 6]] and table.columns == ["a", "b"] and table.dropped == ["id"]
    with pytest.raises(ValueError, match=r"cannot drop \['ID'\]: no such columns; the columns are \['id', 'a'"):
        read_csv(path, drop=("ID",))
    with pytest.raises(ValueError, match="cannot drop 'y', the label column"):
        read_csv(path, drop=("y",))
    indexed = write(tmp_path, ",a,y\n0,1.5,0\n1,2.5,1\n", "indexed.csv")  # what DataFrame.to_csv() writes
    with caplog.at_level(logging.INFO, logger="gpudeep"):
        table = read_csv(indexed)
    assert table.X.tolist() == [[1.5], [2.5]] and table.columns == ["a"] and table.dropped == [""]
    assert "its first column has no name ('')" in caplog.text


def test_an_identifier_column_is_warned_of(tmp_path, caplog):
    path = write(tmp_path, "id,a,y\n" + "".join(f"{100 + i},{i % 3},{i % 2}\n" for i in range(8)))
    with caplog.at_level(logging.WARNING, logger="gpudeep"):
        read_csv(path)
    assert "column 'id' holds a different whole number on every row" in caplog.text and "--drop id" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gpudeep"):
        read_csv(path, drop=("id",))
    assert caplog.text == ""


def test_labels_keep_their_kind(tmp_path):
    assert read_csv(write(tmp_path, "a,y\n1,151.0\n2,75.0\n")).y.dtype == np.float64
    assert read_csv(write(tmp_path, "a,y\n1, 3 \n2,4\n")).y.tolist() == [3, 4]
    assert read_csv(write(tmp_path, "a,y\n1,True\n2,False\n")).y.tolist() == ["True", "False"]
    big = 2**63 + 5  # beyond int64: exact, as text
    assert read_csv(write(tmp_path, f"a,y\n1,{big}\n2,{big + 1}\n")).y.tolist() == [str(big), str(big + 1)]
    with pytest.raises(ValueError, match=r"the label column 'y' is NaN in rows \[3\]"):
        read_csv(write(tmp_path, "a,y\n1,0.5\n2,nan\n"))


def test_the_task_is_told_with_its_reason(tmp_path):
    whole = write(tmp_path, "a,y\n1,150\n2,175\n3,150\n")
    assert load(str(whole)).reason == "the labels are whole numbers"
    assert load(str(whole), task="regression").reason == "given"
    assert load(str(write(tmp_path, "a,y\n1,1.5\n2,2\n"))).task == "regression"
