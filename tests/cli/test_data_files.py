"""Reading data files: CSV in chunks, NPY and NPZ memory-mapped, and errors that say where."""

import gzip

import numpy as np
import pytest

from jitprop.cli import data_files
from jitprop.cli.data_files import read_table
from jitprop.errors import DataError


def test_csv_reads_numbers_text_targets_and_line_numbers(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('\ufeffa, b ,label\n1,2.5,cat\n\n 3 ,-1e3,"dog, big"\n')
    table = read_table(path, "label")
    np.testing.assert_array_equal(table.X, [[1, 2.5], [3, -1000]])
    assert table.feature_names == ["a", "b"] and table.named
    assert table.y.tolist() == ["cat", "dog, big"]
    assert table.lines.tolist() == [2, 4]
    assert table.where(1, 0) == f"{path} line 4, column 'a'"


def test_csv_chunks_report_the_right_line_in_a_later_chunk(tmp_path, monkeypatch):
    monkeypatch.setattr(data_files, "CHUNK_ROWS", 3)
    rows = [f"{i},{i * 2}" for i in range(10)]
    rows[7] = "7,x7"
    (tmp_path / "t.csv").write_text("a,b\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"t\.csv line 9, column 'b': 'x7' is not a number"):
        read_table(tmp_path / "t.csv")
    rows[7] = "7,14"
    (tmp_path / "t.csv").write_text("a,b\n" + "\n".join(rows) + "\n")
    table = read_table(tmp_path / "t.csv")
    np.testing.assert_array_equal(table.X[:, 1], np.arange(10) * 2)
    assert table.lines.tolist() == list(range(2, 12))


def test_gzip_semicolons_and_feature_selection(tmp_path):
    path = tmp_path / "t.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("id;x;y;z\nA;1;2;3\nB;4;5;6\n")
    table = read_table(path, features=["z", "x"])  # the text column 'id' is not read
    np.testing.assert_array_equal(table.X, [[3, 1], [6, 4]])
    with pytest.raises(DataError, match=r"lacks the feature column 'w' that the model was trained on"):
        read_table(path, features=["w", "x"])


def test_large_csv_shows_a_progress_bar(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(data_files, "PROGRESS_BYTES", 0)
    (tmp_path / "t.csv").write_text("a,b\n" + "1,2\n" * 5000)

    class Terminal:
        def __init__(self, stream):
            self.stream = stream

        def isatty(self):
            return True

        def __getattr__(self, name):
            return getattr(self.stream, name)

    monkeypatch.setattr("sys.stderr", Terminal(__import__("sys").stderr))
    assert read_table(tmp_path / "t.csv", progress=True).n_examples == 5000
    assert "reading t.csv" in capsys.readouterr().err


@pytest.mark.parametrize(
    "text, message",
    [
        ("", r"is empty; expected a header row"),
        ("a,b\n", r"has a header row but no examples"),
        ("1,2\n3,4\n", r"the first line \(1, 2\) holds numbers, not column names"),
        ("a,a\n1,2\n", r"names column 'a' twice"),
        ("a,b\n1,2,3\n", r"line 2 has 3 fields, but the header row has 2 columns"),
        ("a,b\n1,\n", r"line 2, column 'b' is empty; fill in or drop missing values"),
        ("a,b\n1,inf\n", r"line 2, column 'b' is infinite"),
        ('a,b\n1,"2\n', r"line 2 is not valid CSV"),
    ],
)
def test_csv_errors(tmp_path, text, message):
    (tmp_path / "t.csv").write_text(text)
    with pytest.raises(DataError, match=message):
        read_table(tmp_path / "t.csv")


def test_npy_is_memory_mapped_and_the_target_is_a_column_index(tmp_path):
    array = np.arange(12.0).reshape(4, 3)
    np.save(tmp_path / "a.npy", array)
    table = read_table(tmp_path / "a.npy", "-1")
    assert isinstance(table.X.base, np.memmap) or isinstance(table.X, np.memmap)
    np.testing.assert_array_equal(table.X, array[:, :2])
    np.testing.assert_array_equal(table.y, array[:, 2])
    assert (table.target, table.feature_names, table.named) == ("2", ["0", "1"], False)
    middle = read_table(tmp_path / "a.npy", "1")
    np.testing.assert_array_equal(middle.X, array[:, [0, 2]])
    with pytest.raises(DataError, match=r"give the target as a column index from 0 to 2"):
        read_table(tmp_path / "a.npy", "price")
    with pytest.raises(DataError, match=r"there is no column 3"):
        read_table(tmp_path / "a.npy", "3")
    array[2, 1] = np.nan
    np.save(tmp_path / "b.npy", array)
    with pytest.raises(DataError, match=r"b\.npy row 2, column 1 is NaN"):
        read_table(tmp_path / "b.npy")


def test_npz_members_stored_are_mapped_and_compressed_ones_read(tmp_path):
    X, y = np.arange(20.0).reshape(5, 4), np.array([0, 1, 0, 1, 1])
    np.savez(tmp_path / "s.npz", X=X, y=y)
    np.savez_compressed(tmp_path / "c.npz", features=X, label=y)
    stored = read_table(tmp_path / "s.npz", "y")
    assert isinstance(stored.X, np.memmap)
    np.testing.assert_array_equal(stored.X, X)
    np.testing.assert_array_equal(stored.y, y)
    compressed = read_table(tmp_path / "c.npz", "label")  # the only 2-D array holds the features
    np.testing.assert_array_equal(compressed.X, X)
    with pytest.raises(DataError, match=r"has no array 'y'; its arrays are 'features', 'label'"):
        read_table(tmp_path / "c.npz", "y")
    np.savez(tmp_path / "bad.npz", X=X, y=y[:3])
    with pytest.raises(DataError, match=r"the target array 'y' has shape \(3,\); expected \(5,\)"):
        read_table(tmp_path / "bad.npz", "y")
