"""Reading data files: CSV in chunks, NPY and NPZ memory-mapped, and errors that say where."""

import gzip

import numpy as np
import pytest

from jitprop.cli import _fast_csv, data_files
from jitprop.cli.data_files import read_table
from jitprop.errors import DataError

READERS = ["careful", "pandas", "numpy"]


@pytest.fixture(params=READERS)
def reader(request, monkeypatch):
    """Read every CSV file carefully, or first with pandas' or NumPy's C parser, whatever its size."""
    if request.param == "careful":
        monkeypatch.setattr(data_files, "FAST_BYTES", float("inf"))
    else:
        if request.param == "pandas":
            pandas = pytest.importorskip("pandas")
            if int(pandas.__version__.split(".")[0]) < 3:
                pytest.skip("the fast path uses pandas 3 or later")
        monkeypatch.setattr(data_files, "FAST_BYTES", 0)
        monkeypatch.setattr(_fast_csv, "parser", lambda: request.param)
    return request.param


def read_fast_and_carefully(monkeypatch, path, parser, **kwargs):
    """The tables read with the C parser ``parser`` (which must not give up) and by the careful reader."""
    monkeypatch.setattr(data_files, "FAST_BYTES", 0)
    monkeypatch.setattr(_fast_csv, "parser", lambda: parser)
    careful = data_files._read_carefully
    with monkeypatch.context() as m:
        m.setattr(data_files, "_read_carefully", lambda *args: pytest.fail("the C parser gave up"))
        fast = read_table(path, **kwargs)
    monkeypatch.setattr(data_files, "FAST_BYTES", float("inf"))
    assert careful is data_files._read_carefully
    return fast, read_table(path, **kwargs)


def assert_same_tables(a, b):
    assert a.X.dtype == b.X.dtype == np.float64
    np.testing.assert_array_equal(a.X.view(np.int64), b.X.view(np.int64))  # bit for bit, -0.0 too
    assert (a.y is None and b.y is None) or a.y.tolist() == b.y.tolist()
    assert a.lines.tolist() == b.lines.tolist()
    assert a.feature_names == b.feature_names
    assert {k: v.tolist() for k, v in a.categorical.items()} == {k: v.tolist() for k, v in b.categorical.items()}


def test_csv_reads_numbers_text_targets_and_line_numbers(tmp_path, reader):
    path = tmp_path / "t.csv"
    path.write_text('\ufeffa, b ,label\n1,2.5,cat\n\n 3 ,-1e3,"dog, big"\n')
    table = read_table(path, "label")
    np.testing.assert_array_equal(table.X, [[1, 2.5], [3, -1000]])
    assert table.feature_names == ["a", "b"] and table.named
    assert table.y.tolist() == ["cat", "dog, big"]
    assert table.lines.tolist() == [2, 4]
    assert table.where(1, 0) == f"{path} line 4, column 'a'"


def test_csv_chunks_report_the_right_line_in_a_later_chunk(tmp_path, monkeypatch, reader):
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


def test_gzip_semicolons_and_feature_selection(tmp_path, reader):
    path = tmp_path / "t.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("id;x;y;z\nA;1;2;3\nB;4;5;6\n")
    table = read_table(path, features=["z", "x"])  # the text column 'id' is not read
    np.testing.assert_array_equal(table.X, [[3, 1], [6, 4]])
    with pytest.raises(DataError, match=r"lacks the feature column 'w' that the model was trained on"):
        read_table(path, features=["w", "x"])


def test_large_csv_shows_a_progress_bar(tmp_path, monkeypatch, capsys, reader):
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
        ("a,b\n1,2\n3,nan\n", r"line 3, column 'b' is NaN"),
        ("a,b\n1,2\n3,1e999\n", r"line 3, column 'b' is infinite"),
        ("a,b\n1,2\n3\n", r"line 3 has 1 fields, but the header row has 2 columns"),
        ("a,b\n1,2\n3,True\n", r"line 3, column 'b': 'True' is not a number"),
        ("a,b\r\n1,2\r\n\r\n3,x\r\n", r"line 4, column 'b': 'x' is not a number"),
        ("a,b\n", r"has a header row but no examples"),
        ("a,b\n\n\n", r"has a header row but no examples"),
    ],
)
def test_csv_errors(tmp_path, reader, text, message):
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


def test_quoted_bom_crlf_and_blank_lines_read_alike(tmp_path, monkeypatch):
    path = tmp_path / "t.csv"
    path.write_bytes('\ufeff"a",b,"c, d"\r\n"1.5", 2 ,"x, y"\r\n\r\n-0.0,"1e3","z"\r\n'.encode())
    for parser in READERS[1:]:
        if parser == "pandas" and _fast_csv.parser() != "pandas":
            continue
        try:
            fast, careful = read_fast_and_carefully(monkeypatch, path, parser, target="c, d")
        except pytest.fail.Exception:
            assert parser == "numpy"  # NumPy's parser leaves quoted fields to the careful reader
            continue
        assert_same_tables(fast, careful)
    np.testing.assert_array_equal(careful.X, [[1.5, 2], [-0.0, 1000]])
    assert careful.y.tolist() == ["x, y", "z"] and careful.lines.tolist() == [2, 4]


@pytest.mark.parametrize("parser", READERS[1:])
def test_fast_and_careful_reading_give_identical_arrays(tmp_path, monkeypatch, parser):
    if parser == "pandas" and _fast_csv.parser() != "pandas":
        pytest.skip("needs pandas 3 or later")
    rng = np.random.default_rng(3)
    values = rng.normal(size=(3000, 6)) * 10.0 ** rng.integers(-300, 300, size=(3000, 6))
    values[:5, 0] = [5e-324, 2.2250738585072011e-308, 1.7976931348623157e308, -0.0, 0.1]
    texts = np.array([["%.17g" % v, repr(float(v)), "%.3e" % v][j % 3] for j, v in enumerate(values.ravel())])
    rows = texts.reshape(values.shape)
    labels = rng.choice(["cat", "dog", "7"], size=3000)
    path = tmp_path / "t.csv"
    path.write_text("a,b,c,d,e,f,label\n" + "".join(",".join(row) + f",{t}\n" for row, t in zip(rows, labels)))
    fast, careful = read_fast_and_carefully(monkeypatch, path, parser, target="label")
    assert_same_tables(fast, careful)
    assert np.array_equal(careful.X, np.array([[float(t) for t in row] for row in rows]))


def test_empty_fields_read_fast_as_missing_values(tmp_path, monkeypatch):
    if _fast_csv.parser() != "pandas":
        pytest.skip("needs pandas 3 or later")
    rng = np.random.default_rng(5)
    X = np.round(rng.normal(size=(2000, 4)), 3)
    rows = X.astype(str).astype(object)
    rows[rng.random(X.shape) < 0.1] = ""
    rows[7, 1] = '""'  # quoted, and empty all the same
    city = rng.choice(["paris", "lyon", ""], size=2000)
    path = tmp_path / "m.csv"
    lines = (",".join([*row, c, "1"]) for row, c in zip(rows, city))
    path.write_text("a,b,c,d,city,y\n" + "\n".join(lines) + "\n")
    kwargs = dict(target="y", infer_categorical=True, missing=True)
    fast, careful = read_fast_and_carefully(monkeypatch, path, "pandas", **kwargs)
    assert_same_tables(fast, careful)
    assert np.isnan(fast.X).sum() == (rows == "").sum() + 1 and np.isnan(fast.X[7, 1])
    assert (fast.categorical["city"] == "").sum() == (city == "").sum()

    # An empty last field looks like a short line to pandas: the careful reader reads the file.
    path.write_text("a,b\n1,2\n3,\n")
    monkeypatch.setattr(data_files, "FAST_BYTES", 0)
    table = read_table(path, missing=True)
    np.testing.assert_array_equal(table.X, [[1, 2], [3, np.nan]])
    path.write_text("a,b\n1,2\n3\n")
    with pytest.raises(DataError, match="line 3 has 1 fields, but the header row has 2 columns"):
        read_table(path, missing=True)


@pytest.mark.parametrize("parser", READERS[1:])
def test_thousands_of_columns_and_text_features(tmp_path, monkeypatch, parser):
    if parser == "pandas" and _fast_csv.parser() != "pandas":
        pytest.skip("needs pandas 3 or later")
    rng = np.random.default_rng(4)
    X = rng.integers(-50, 50, size=(40, 3000)) / 4
    city = rng.choice(["paris", "lyon", " nice "], size=40)
    path = tmp_path / "wide.csv"
    header = [f"x{j}" for j in range(3000)] + ["city", "y"]
    path.write_text(
        ",".join(header) + "\n" + "".join(",".join([*map(str, row), c, "1"]) + "\n" for row, c in zip(X, city))
    )
    fast, careful = read_fast_and_carefully(monkeypatch, path, parser, target="y", infer_categorical=True)
    assert_same_tables(fast, careful)
    np.testing.assert_array_equal(fast.X, X)
    assert list(fast.categorical) == ["city"] and fast.categorical["city"].tolist() == np.char.strip(city).tolist()


def test_a_bad_cell_deep_in_a_large_file_is_named_by_line_and_column(tmp_path, reader):
    rows = ["1.5,2,3"] * 200_000
    rows[150_000] = "1.5,2,3x"
    (tmp_path / "big.csv").write_text("a,b,c\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"big\.csv line 150002, column 'c': '3x' is not a number"):
        read_table(tmp_path / "big.csv")
    rows[150_000] = "1.5,,3"
    (tmp_path / "big.csv").write_text("a,b,c\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"big\.csv line 150002, column 'b' is empty"):
        read_table(tmp_path / "big.csv")
    table = read_table(tmp_path / "big.csv", missing=True)
    assert np.isnan(table.X[150_000, 1]) and np.isnan(table.X).sum() == 1


def test_text_feature_columns(tmp_path, reader):
    path = tmp_path / "h.csv"
    path.write_text("rooms,city,zip,price\n3,paris,75001,10\n4, lyon ,69001,8\n2,paris,75002,9\n")
    with pytest.raises(DataError, match=r"line 2, column 'city': 'paris' is not a number"):
        read_table(path, "price")
    table = read_table(path, "price", infer_categorical=True)
    assert table.feature_names == ["rooms", "zip"]
    assert table.categorical["city"].tolist() == ["paris", "lyon", "paris"]
    forced = read_table(path, "price", categorical=["zip"], infer_categorical=True)
    assert forced.feature_names == ["rooms"] and list(forced.categorical) == ["city", "zip"]
    with pytest.raises(DataError, match=r"has no feature column 'town'"):
        read_table(path, "price", categorical=["town"])
    path.write_text("rooms,city,price\n3,paris,10\n4,,8\n")
    with pytest.raises(DataError, match=r"line 3, column 'city' is empty"):
        read_table(path, "price", infer_categorical=True)
    assert read_table(path, "price", infer_categorical=True, missing=True).categorical["city"].tolist() == ["paris", ""]


def test_a_mostly_numeric_column_with_a_typo_is_not_taken_for_text(tmp_path, reader):
    rows = [f"{i},{i * 2}" for i in range(10)]
    rows[7] = "7,x7"
    (tmp_path / "t.csv").write_text("a,b\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"t\.csv line 9, column 'b': 'x7' is not a number"):
        read_table(tmp_path / "t.csv", infer_categorical=True)


def test_negative_zero_in_a_column_of_integers(tmp_path, reader):
    (tmp_path / "t.csv").write_text("a,b\n" + "1,2\n" * 100 + "-0,3\n")
    assert np.signbit(read_table(tmp_path / "t.csv").X[100, 0])


def test_parquet_numbers_text_and_nulls(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    columns = {
        "rooms": pa.array([3, 4, None, 2], pa.int32()),
        "area": pa.array([60.5, 70.0, 80.0, 30.0]),
        "city": pa.array(["paris", "lyon", None, "paris"]).dictionary_encode(),
        "price": pa.array([300.0, 210.0, 380.0, 190.0]),
    }
    pq.write_table(pa.table(columns), tmp_path / "h.parquet")
    path = tmp_path / "h.parquet"
    assert data_files.table_format(path) == "parquet" and data_files.table_columns(path) == list(columns)
    with pytest.raises(DataError, match=r"h\.parquet row 2, column 'rooms' is null; fill in or drop missing"):
        read_table(path, "price", infer_categorical=True)
    table = read_table(path, "price", infer_categorical=True, missing=True)
    assert table.feature_names == ["rooms", "area"] and table.categorical["city"].tolist() == [
        "paris",
        "lyon",
        "",
        "paris",
    ]
    np.testing.assert_array_equal(table.X[[0, 1, 3]], [[3, 60.5], [4, 70], [2, 30]])
    assert np.isnan(table.X[2, 0]) and table.y.tolist() == [300, 210, 380, 190]
    with pytest.raises(DataError, match=r"column 'city' holds dictionary<.*>; feature columns must be numeric\."):
        read_table(path, "price", missing=True)


def test_parquet_without_pyarrow_names_the_extra(tmp_path, monkeypatch):
    (tmp_path / "h.parquet").write_bytes(b"PAR1" + b"\0" * 20 + b"PAR1")
    monkeypatch.setitem(__import__("sys").modules, "pyarrow.parquet", None)
    with pytest.raises(DataError, match=r'reading it needs pyarrow: pip install "jitprop\[parquet\]"'):
        read_table(tmp_path / "h.parquet", "price")
