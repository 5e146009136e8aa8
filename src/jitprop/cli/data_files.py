"""Reading a user's data set from a file: CSV with a header row, NPY or NPZ.

:func:`read_table` returns a :class:`Table`: a numeric feature matrix, the
names of its columns and, when asked for, the raw target column. Every
defect of the file raises :class:`~jitprop.errors.DataError` with one line that says which
file, which line or row and which column, and what to do.

Formats are told apart by their first bytes, not by the file name:

- **CSV** (also gzip-compressed): UTF-8 text, a header row naming the
  columns, one example per line. The delimiter is the one of ``,`` ``;``
  and tab that the header uses most. Files of :data:`FAST_BYTES` or more
  are first parsed by a C parser (:mod:`._fast_csv`); when that finds
  anything unusual, and for smaller files, the careful reader parses the
  lines in Python, in chunks of :data:`CHUNK_ROWS`, and names the line and
  column of the first defect. Both give the same arrays. A progress bar
  shows on standard error for files of :data:`PROGRESS_BYTES` or more. The
  target column and categorical feature columns may hold text; every other
  column read must hold numbers.
- **NPY**: one 2-D numeric array, memory-mapped. Columns are named by their
  index (``"0"``, ``"1"``, ...); the target is given as an index (``-1`` for
  the last column).
- **NPZ**: as written by ``np.savez(path, X=X, y=y)``: a 2-D feature array
  (``X``, or the only 2-D array) and the target as an array of its own,
  named by ``target``. Members stored uncompressed are memory-mapped;
  those of ``np.savez_compressed`` are read into memory.
"""

import csv
import gzip
import itertools
import os
import sys
import zipfile
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError
from . import _fast_csv

#: Rows converted to numbers at a time when reading a CSV file.
CHUNK_ROWS = 16384

#: Size from which reading a CSV file shows a progress bar.
PROGRESS_BYTES = 8 << 20

#: Size from which a CSV file is first read by a C parser (:mod:`._fast_csv`); below it, importing
#: pandas would take longer than the careful reader.
FAST_BYTES = 4 << 20

#: Examples looked at to tell text columns from numeric ones.
SAMPLE_ROWS = 1000

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"
_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"
_DELIMITERS = (",", ";", "\t")
_NPY_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
_SHOWN_COLUMNS = 20


@dataclass
class Table:
    """Examples read from a data file.

    Attributes
    ----------
    path : str
        The file, as given.
    X : ndarray of shape (n_examples, n_features)
        The feature columns: float64 for CSV, the file's own numeric dtype
        (possibly a read-only memory map) for NPY and NPZ. Finite.
    feature_names : list of str
        Name of each column of ``X``: the CSV header, else its index.
    named : bool
        Whether the names come from a header (CSV) rather than positions.
    y : ndarray of shape (n_examples,) or None
        The raw target column: strings for CSV, the array's values for NPY
        and NPZ. ``None`` when no target was asked for.
    target : str or None
        Name of the target column (an index for NPY, a member for NPZ).
    lines : ndarray of shape (n_examples,) or None
        For CSV, the line of the file each example ends on (1-based).
    feature_labels : list of str
        How messages name each column of ``X`` ("column 'age'", "X column 3").
    target_label : str or None
        How messages name the target column.
    categorical : dict of str to ndarray of str
        CSV only: the feature columns read as text, by name, in file order,
        stripped (``""`` where a field is empty). They are not in ``X``.
    example_shape : tuple of int or None
        NPZ only: the shape of one example when the features array has more
        than two axes (images ``(n, H, W, C)``); ``X`` holds each example
        flattened in C order.
    """

    path: str
    X: np.ndarray
    feature_names: list
    named: bool
    y: np.ndarray | None
    target: str | None
    lines: np.ndarray | None
    feature_labels: list
    target_label: str | None
    categorical: dict = field(default_factory=dict)
    example_shape: tuple | None = None

    @property
    def n_examples(self):
        return self.X.shape[0]

    def where(self, row, column=None):
        """Where example ``row`` (and feature ``column``, or the target if "target") is, for messages."""
        place = f"line {int(self.lines[row])}" if self.lines is not None else f"row {row}"
        if column == "target":
            return f"{self.path} {place}, {self.target_label}"
        if column is not None:
            return f"{self.path} {place}, {self.feature_labels[column]}"
        return f"{self.path} {place}"


def table_format(path):
    """``"csv"``, ``"npy"``, ``"npz"`` or ``"parquet"``, from the first bytes of the file at ``path``."""
    magic = _magic(path)
    if magic.startswith(_NPY_MAGIC):
        return "npy"
    if magic.startswith(_ZIP_MAGIC):
        return "npz"
    if magic.startswith(_PARQUET_MAGIC):
        return "parquet"
    return "csv"


def table_columns(path):
    """The column names of a CSV or Parquet file."""
    if table_format(path) == "parquet":
        return list(_parquet(path).schema_arrow.names)
    return csv_columns(path)


def csv_columns(path):
    """The column names in the header row of the CSV file at ``path``."""
    opener = gzip.open if _magic(path).startswith(_GZIP_MAGIC) else open
    with opener(path, "rb") as f:
        first = f.readline().decode("utf-8-sig", errors="replace")
    delimiter = max(_DELIMITERS, key=first.count)
    return [name.strip() for name in next(csv.reader([first], delimiter=delimiter), [])]


def _magic(path):
    with open(path, "rb") as f:
        return f.read(6)


def read_table(
    path,
    target=None,
    *,
    features=None,
    progress=False,
    categorical=(),
    infer_categorical=False,
    missing=False,
    check_finite=True,
):
    """Read the examples of a data file.

    Parameters
    ----------
    path : str
        A CSV (optionally gzip-compressed), NPY or NPZ file.
    target : str, optional
        The column to predict: a CSV column name, an NPY column index (as a
        string, negative counts from the end) or an NPZ member name. Without
        it, ``Table.y`` is ``None``.
    features : list of str, optional
        CSV only: read these columns, in this order, as the features
        (other columns are ignored). Default: every column but the target.
    progress : bool, default False
        Show a progress bar on standard error while reading a large CSV file.
    categorical : sequence of str, default ()
        CSV only: feature columns to read as text (``Table.categorical``),
        whatever they hold.
    infer_categorical : bool, default False
        CSV only: also read as text the feature columns whose first
        :data:`SAMPLE_ROWS` examples hold mostly text (not numbers). Without
        it, text in a feature column is an error.
    missing : bool, default False
        Read empty CSV feature fields as NaN (numbers) or ``""`` (text), and
        NaN in NPY and NPZ features as they are, instead of refusing them.
    check_finite : bool, default True
        Check that NPY and NPZ features are finite, which reads every row;
        without it, :func:`check_features` (or the ranks of
        :class:`.shards.Shards`, a share each) checks them later.

    Returns
    -------
    Table

    Raises
    ------
    DataError
        The file is not a readable data file, a column is missing, or a
        value is not a finite number; the message says where.
    OSError
        The file cannot be opened (missing, a directory, no permission).
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(21, "Is a directory", path)
    kind = table_format(path)
    if kind == "npy":
        return _read_npy(path, target, missing, check_finite)
    if kind == "npz":
        return _read_npz(path, target, missing, check_finite)
    if kind == "parquet":
        return _read_parquet(path, target, features, categorical, infer_categorical, missing)
    return _read_csv(path, target, features, progress, categorical, infer_categorical, missing)


# ---------------------------------------------------------------------- CSV
def _read_csv(path, target, features, progress, categorical, infer_categorical, missing):
    header, delimiter = _csv_header(path)
    feature_columns, target_column = _columns(path, header, target, features)
    sample = _sample(path, delimiter)
    text = _text_columns(path, header, sample, feature_columns, categorical, infer_categorical)
    layout = _Layout(header, feature_columns, target_column, text)
    parsed = None
    # pandas takes a first line with more fields than the header for one with an index: leave it to the careful reader
    if os.path.getsize(path) >= FAST_BYTES and sample and len(sample[0]) == len(header):
        rows = [row for row in sample if len(row) == len(header)]
        whole = [i for i in layout.numeric if all(row[i].strip().lstrip("+-").isdigit() for row in rows)]
        with _opened(path, progress) as (stream, advance):
            stream.readline()  # the header, read above
            expected = _rows_in(path, sample)
            parsed = _fast_csv.parse(
                stream, delimiter, len(header), layout.numeric, layout.text, advance, whole, expected, missing
            )
    if parsed is None or parsed.numeric.shape[0] == 0:
        return _read_carefully(path, delimiter, layout, target, progress, missing, _rows_in(path, sample))
    lines = parsed.lines if parsed.lines is not None else _line_numbers(path, delimiter)
    return layout.table(path, target, parsed.numeric, parsed.text, lines)


@dataclass
class _Layout:
    """Which columns of a CSV file are read, and how: numbers, text features, the target."""

    header: list
    feature_columns: list
    target_column: int | None
    text_features: list

    @property
    def numeric(self):
        return [i for i in self.feature_columns if i not in self.text_features]

    @property
    def text(self):
        """The text columns read: the text features, then the target."""
        return self.text_features + ([] if self.target_column is None else [self.target_column])

    def table(self, path, target, numeric, text, lines):
        names = [self.header[i] for i in self.numeric]
        n_text = len(self.text_features)
        return Table(
            path=path,
            X=numeric,
            feature_names=names,
            named=True,
            y=None if self.target_column is None else text[n_text],
            target=target,
            lines=lines,
            feature_labels=[f"column {name!r}" for name in names],
            target_label=None if target is None else f"column {target!r}",
            categorical={self.header[i]: np.char.strip(text[j]) for j, i in enumerate(self.text_features)},
        )


class _opened:
    """``with _opened(path, progress) as (stream, advance)``: the file's bytes (gunzipped) and a progress bar."""

    def __init__(self, path, progress):
        self.path = path
        self.progress = progress

    def __enter__(self):
        from tqdm.auto import tqdm

        size = os.path.getsize(self.path)
        show = self.progress and size >= PROGRESS_BYTES
        self.raw = open(self.path, "rb")
        self.bar = tqdm(
            total=size,
            unit="B",
            unit_scale=True,
            desc=f"reading {os.path.basename(self.path)}",
            disable=None if show else True,
            file=sys.stderr,
            leave=False,
        )
        compressed = self.raw.read(2) == _GZIP_MAGIC
        self.raw.seek(0)
        stream = gzip.GzipFile(fileobj=self.raw) if compressed else self.raw
        return stream, self.advance

    def advance(self):
        self.bar.update(self.raw.tell() - self.bar.n)

    def __exit__(self, *exc):
        self.bar.close()
        self.raw.close()


def _csv_header(path):
    """The column names of the header row and the delimiter, checked."""
    with _opened(path, False) as (stream, _):
        lines = _text_lines(path, stream, lambda: None)
        try:
            first = next(lines)
        except StopIteration:
            raise DataError(
                f"{path} is empty; expected a header row naming the columns, then one example per line."
            ) from None
        except (OSError, EOFError) as exc:  # a damaged gzip stream
            raise DataError(f"{path} cannot be read as CSV: {exc}.") from None
    delimiter = max(_DELIMITERS, key=first.count)
    reader = csv.reader([first], delimiter=delimiter, strict=True)
    try:
        return _header(path, next(reader, [""])), delimiter
    except csv.Error as exc:
        raise DataError(f"{path} line 1 is not valid CSV: {exc}.") from None


def _text_columns(path, header, sample, feature_columns, categorical, infer):
    """Indices of the feature columns read as text: those named in ``categorical``, and with ``infer``
    those whose examples in ``sample`` hold mostly text."""
    names = [header[i] for i in feature_columns]
    missing = [name for name in categorical if name not in names]
    if missing:
        raise DataError(f"{path} has no feature column {_list(missing)}; its feature columns are {_list(names)}.")
    text = [i for i in feature_columns if header[i] in categorical]
    if infer:
        for i in feature_columns:
            values = [row[i].strip() for row in sample if len(row) == len(header)]
            values = [value for value in values if value]
            numbers = sum(is_number(value) for value in values)
            # Mostly numbers with some text is a numeric column with mistakes: the reader names the first.
            if i not in text and 2 * numbers < len(values):
                text.append(i)
    return sorted(text)


def _sample(path, delimiter):
    """The first :data:`SAMPLE_ROWS` non-blank rows after the header (fewer if the file is shorter)."""
    rows = []
    with _opened(path, False) as (stream, _):
        lines = _text_lines(path, stream, lambda: None)
        try:
            next(lines)
            for row in csv.reader(lines, delimiter=delimiter):
                if not _blank(row):
                    rows.append(row)
                if len(rows) == SAMPLE_ROWS:
                    break
        except (csv.Error, DataError, OSError, EOFError):
            pass  # reading the whole file says what is wrong, and where
    return rows


def _rows_in(path, sample):
    """An estimate of the examples in an uncompressed file, from the size of those in the sample (0: unknown)."""
    if _magic(path).startswith(_GZIP_MAGIC):
        return 0
    size = sum(len(field) + 1 for row in sample for field in row)
    return int(os.path.getsize(path) / size * len(sample) * 1.02) + 1 if size else 0


def _line_numbers(path, delimiter):
    """The line of the file each example ends on, for files where it is not the row number plus one."""
    with _opened(path, False) as (stream, _):
        reader = csv.reader(_text_lines(path, stream, lambda: None), delimiter=delimiter)
        next(reader)
        return np.array([reader.line_num for row in reader if not _blank(row)], dtype=np.int64)


def _blank(row):
    return not row or (len(row) == 1 and not row[0].strip())


def _read_carefully(path, delimiter, layout, target, progress, missing, expected_rows=0):
    """Read the file in Python, chunk by chunk, with a message that says where for every defect.

    The numbers go into one array allocated for ``expected_rows`` (an
    estimate; it grows if short): there is no second copy of them.
    """
    with _opened(path, progress) as (stream, advance):
        reader = csv.reader(_text_lines(path, stream, advance), delimiter=delimiter, strict=True)
        try:
            next(reader)  # the header, checked by _csv_header
            return _read_rows(path, reader, layout, target, missing, expected_rows)
        except csv.Error as exc:
            raise DataError(f"{path} line {reader.line_num} is not valid CSV: {exc}.") from None
        except (OSError, EOFError) as exc:
            raise DataError(f"{path} cannot be read as CSV: {exc}.") from None


def _text_lines(path, stream, advance):
    """Lines of ``stream`` decoded as UTF-8 (a byte-order mark is dropped), moving the bar."""
    for number, line in enumerate(stream, 1):
        try:
            text = line.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            text = "\x00"
        if "\x00" in text:
            raise DataError(f"{path} line {number} is not UTF-8 text; is it a CSV file?")
        yield text
        if number % 4096 == 0:
            advance()


def _header(path, row):
    header = [name.strip() for name in row]
    if all(is_number(name) for name in header):
        shown = ", ".join(header[:5]) + (", ..." if len(header) > 5 else "")
        raise DataError(
            f"{path}: the first line ({shown}) holds numbers, not column names; add a header row naming the columns."
        )
    for i, name in enumerate(header):
        if not name:
            raise DataError(f"{path}: column {i + 1} of the header row has no name.")
    seen = set()
    for name in header:
        if name in seen:
            raise DataError(f"{path}: the header row names column {name!r} twice.")
        seen.add(name)
    return header


def _columns(path, header, target, features):
    """Indices of the feature columns and of the target column (or None)."""
    if target is not None and target not in header:
        raise DataError(f"{path} has no column {target!r}; its columns are {_list(header)}.")
    if features is None:
        feature_columns = [i for i, name in enumerate(header) if name != target]
    else:
        missing = [name for name in features if name not in header]
        if missing:
            raise DataError(
                f"{path} lacks the feature column{'s' if len(missing) > 1 else ''} {_list(missing)} "
                f"that the model was trained on; its columns are {_list(header)}."
            )
        feature_columns = [header.index(name) for name in features]
    if not feature_columns:
        raise DataError(f"{path} has no feature columns besides the target {target!r}.")
    return feature_columns, (None if target is None else header.index(target))


def _read_rows(path, reader, layout, target, missing, expected_rows):
    width = len(layout.header)
    numeric, text = layout.numeric, layout.text
    labels = [f"column {layout.header[i]!r}" for i in numeric]
    text_labels = [f"column {layout.header[i]!r}" for i in layout.text_features]
    numbers = _fast_csv.RowBuffer(expected_rows, len(numeric))
    text_chunks, line_chunks = [], []
    rows, lines = [], []

    def convert():
        block = np.array(rows, dtype=object)
        chunk_lines = np.array(lines, dtype=np.int64)
        numbers.append(_numbers(path, block[:, numeric].reshape(len(rows), -1), chunk_lines, labels, missing))
        values = block[:, text].reshape(len(rows), -1).astype(str)
        if not missing:
            _check_filled(path, values[:, : len(text_labels)], chunk_lines, text_labels)
        text_chunks.append(values)
        line_chunks.append(chunk_lines)
        rows.clear()
        lines.clear()

    for row in reader:
        if _blank(row):
            continue
        if len(row) != width:
            raise DataError(
                f"{path} line {reader.line_num} has {len(row)} fields, but the header row has {width} columns."
            )
        rows.append(row)
        lines.append(reader.line_num)
        if len(rows) == CHUNK_ROWS:
            convert()
    if rows:
        convert()
    if not line_chunks:
        raise DataError(f"{path} has a header row but no examples.")
    texts = np.concatenate(text_chunks)
    columns = [texts[:, j] for j in range(len(text))]
    return layout.table(path, target, numbers.array(), columns, np.concatenate(line_chunks))


def _numbers(path, block, lines, labels, missing=False):
    """A block of CSV fields (object array of str) as float64, or a DataError naming the first bad field.

    With ``missing``, empty fields become NaN.
    """
    empty = None
    if missing:
        empty = np.char.strip(block.astype(str)) == ""
        block = np.where(empty, "nan", block)
    try:
        values = block.astype(np.float64)
    except (ValueError, TypeError):
        values = None
    if values is None:
        for r, c in itertools.product(range(block.shape[0]), range(block.shape[1])):
            text = block[r, c].strip()
            if not is_number(text):
                place = f"{path} line {int(lines[r])}, {labels[c]}"
                if not text:
                    raise DataError(f"{place} is empty; fill in or drop missing values before using the file.")
                raise DataError(f"{place}: {text[:40]!r} is not a number; feature columns must be numeric.")
        values = block.astype(np.float64)  # unreachable: some field failed to convert
    checked = values if empty is None else np.where(empty, 0.0, values)
    _check_finite_block(checked, lambda r, c: f"{path} line {int(lines[r])}, {labels[c]}")
    return values


def _check_filled(path, values, lines, labels):
    """A DataError naming the first empty field of a block of text features (``lines`` None: by row)."""
    empty = np.char.strip(values) == ""
    if empty.any():
        r, c = (int(i) for i in np.argwhere(empty)[0])
        place = f"row {r}" if lines is None else f"line {int(lines[r])}"
        raise DataError(f"{path} {place}, {labels[c]} is empty; fill in or drop missing values before using the file.")


def is_number(text):
    """Whether ``float(text)`` succeeds."""
    try:
        float(text)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------ Parquet
def _parquet(path):
    """A ``pyarrow.parquet.ParquetFile``; a DataError that names the extra when pyarrow is missing."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(f'{path} is a Parquet file; reading it needs pyarrow: pip install "jitprop[parquet]"') from None
    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # pyarrow's errors have no common base but Exception
        raise DataError(f"{path} is not a readable Parquet file: {exc}") from None


def _read_parquet(path, target, features, categorical, infer, missing):
    """Numbers as float64, text columns as text; a column's nulls are missing values."""
    reader = _parquet(path)
    import pyarrow as pa  # there: _parquet imported it

    header = list(reader.schema_arrow.names)
    feature_columns, target_column = _columns(path, header, target, features)
    wanted = [header[i] for i in feature_columns] + ([] if target is None else [target])
    data = reader.read(columns=wanted)
    if data.num_rows == 0:
        raise DataError(f"{path} has columns but no examples.")
    for name in categorical:
        if name not in wanted or name == target:
            names = [header[i] for i in feature_columns]
            raise DataError(f"{path} has no feature column {name!r}; its feature columns are {_list(names)}.")
    numeric, text, labels = [], {}, []
    for i in feature_columns:
        name = header[i]
        column = data.column(name)
        is_text = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
        is_text = is_text or pa.types.is_dictionary(column.type)
        if name in categorical or (infer and is_text):
            values = np.array(column.cast(pa.string()).fill_null("").to_pylist(), dtype=str)
            if not missing:
                _check_filled(path, values[:, None], None, [f"column {name!r}"])
            text[name] = np.char.strip(values)
            continue
        if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
            raise DataError(
                f"{path}: column {name!r} holds {column.type}; feature columns must be numeric"
                f"{' (or text, one-hot encoded)' if infer else ''}."
            )
        values = column.cast(pa.float64()).fill_null(np.nan).to_numpy()
        if not missing and column.null_count:
            row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
            raise DataError(f"{path} row {row}, column {name!r} is null; fill in or drop missing values first.")
        numeric.append(values)
        labels.append(f"column {name!r}")
    X = np.column_stack(numeric) if numeric else np.empty((data.num_rows, 0))
    _check_finite(path, X, labels, missing)
    y = None
    if target is not None:
        column = data.column(target)
        if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
            y = column.cast(pa.float64()).fill_null(np.nan).to_numpy()
        else:
            y = np.array(column.cast(pa.string()).fill_null("").to_pylist(), dtype=str)
    return Table(
        path=path,
        X=X,
        feature_names=[header[i] for i in feature_columns if header[i] not in text],
        named=True,
        y=y,
        target=target,
        lines=None,
        feature_labels=labels,
        target_label=None if target is None else f"column {target!r}",
        categorical=text,
    )


# -------------------------------------------------------------- NPY and NPZ
def check_features(table, missing=False):
    """What :func:`read_table` checks of NPY and NPZ features without ``check_finite=False``: every value finite."""
    _check_finite(table.path, table.X, table.feature_labels, missing)


def _read_npy(path, target, missing, check_finite=True):
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise DataError(f"{path} is not a readable NPY file: {exc}") from None
    _check_array(path, array, "the array")
    n_columns = array.shape[1]
    names = [str(j) for j in range(n_columns)]
    if target is None:
        X, y, column = array, None, None
    else:
        column = _column_index(path, target, n_columns)
        if n_columns < 2:
            raise DataError(f"{path} has a single column; it has no feature columns besides the target.")
        if column == n_columns - 1:
            X = array[:, :-1]
        elif column == 0:
            X = array[:, 1:]
        else:
            X = np.delete(array, column, axis=1)
        y = array[:, column]
        names.pop(column)
    labels = [f"column {name}" for name in names]
    if check_finite:
        _check_finite(path, X, labels, missing)
    return Table(
        path=path,
        X=X,
        feature_names=names,
        named=False,
        y=y,
        target=None if column is None else str(column),
        lines=None,
        feature_labels=labels,
        target_label=None if column is None else f"column {column}",
    )


def _column_index(path, target, n_columns):
    try:
        column = int(target)
    except ValueError:
        raise DataError(
            f"{path} is an NPY array, whose columns have no names; give the target as a column index "
            f"from 0 to {n_columns - 1} (or -1 for the last), not {target!r}."
        ) from None
    if not -n_columns <= column < n_columns:
        raise DataError(f"{path} has {n_columns} columns (0 to {n_columns - 1}); there is no column {column}.")
    return column % n_columns


def _read_npz(path, target, missing, check_finite=True):
    members = _npz_members(path)
    if target is not None and target not in members:
        raise DataError(f"{path} has no array {target!r}; its arrays are {_list(sorted(members))}.")
    if "X" in members and target != "X":
        features = "X"
    else:
        candidates = [name for name, array in members.items() if name != target and array.ndim >= 2]
        if len(candidates) != 1:
            raise DataError(
                f"{path} should hold the features as an array named 'X' (np.savez(path, X=X, y=y)), "
                f"one example per row; its arrays are {_list(sorted(members))}."
            )
        features = candidates[0]
    X = members[features]
    example_shape = None
    if X.ndim > 2 and X.shape[0] > 0:
        # Examples of several axes (images): flattened in C order, their shape kept for the network.
        example_shape = tuple(int(size) for size in X.shape[1:])
        X = X.reshape(X.shape[0], -1)
    _check_array(path, X, f"array {features!r}")
    y = None
    if target is not None:
        y = members[target]
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise DataError(
                f"{path}: the target array {target!r} has shape {y.shape}; expected ({X.shape[0]},), "
                f"one value for each row of {features!r}."
            )
    names = [str(j) for j in range(X.shape[1])]
    labels = [f"{features} column {j}" for j in range(X.shape[1])]
    if check_finite:
        _check_finite(path, X, labels, missing)
    return Table(
        path=path,
        X=X,
        feature_names=names,
        named=False,
        y=y,
        target=target,
        lines=None,
        feature_labels=labels,
        target_label=None if target is None else f"array {target!r}",
        example_shape=example_shape,
    )


def _npz_members(path):
    """``{name: array}`` of an NPZ file: memory maps for stored members, arrays for compressed ones."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise DataError(f"{path} is not a readable NPZ file: {exc}.") from None
    members = {}
    with archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            name = info.filename[:-4]
            try:
                mapped = _mapped_member(path, info) if info.compress_type == zipfile.ZIP_STORED else None
                if mapped is not None:
                    members[name] = mapped
                else:
                    with archive.open(info) as f:
                        members[name] = np.lib.format.read_array(f, allow_pickle=False)
            except (ValueError, zipfile.BadZipFile, EOFError) as exc:
                raise DataError(f"{path}: array {name!r} cannot be read: {exc}") from None
    if not members:
        raise DataError(f"{path} is a ZIP file without arrays; expected an NPZ file written by np.savez.")
    return members


def _mapped_member(path, info):
    """A read-only memory map of an uncompressed ``.npy`` member of a ZIP file (None: read it instead)."""
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
        if len(local) != 30 or not local.startswith(_ZIP_MAGIC):
            raise ValueError("its ZIP entry is damaged")
        name_length = int.from_bytes(local[26:28], "little")
        extra_length = int.from_bytes(local[28:30], "little")
        f.seek(info.header_offset + 30 + name_length + extra_length)
        version = np.lib.format.read_magic(f)
        read_header = _NPY_HEADER_READERS.get(version)
        if read_header is None:
            return None
        shape, fortran_order, dtype = read_header(f)
        offset = f.tell()
    if dtype.hasobject:
        raise ValueError("it holds Python objects; only numeric and text arrays can be read")
    if 0 in shape or dtype.itemsize == 0:
        return np.zeros(shape, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran_order else "C")


def _check_array(path, array, what):
    if array.ndim != 2:
        raise DataError(f"{path}: {what} has shape {array.shape}; expected 2-D, one row per example.")
    if array.dtype.kind not in "biuf":
        raise DataError(f"{path}: {what} has dtype {array.dtype}; feature values must be numbers.")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise DataError(f"{path}: {what} has shape {array.shape}; it holds no examples or no columns.")


def _check_finite(path, X, labels, missing=False):
    """Check a (possibly memory-mapped) feature array for NaN (unless ``missing``) and inf, by chunks of rows."""
    if X.dtype.kind != "f":
        return
    for start in range(0, X.shape[0], CHUNK_ROWS):
        block = np.asarray(X[start : start + CHUNK_ROWS])
        _check_finite_block(block, lambda r, c: f"{path} row {start + r}, {labels[c]}", missing)


def _check_finite_block(values, place, missing=False):
    bad = np.isinf(values) if missing else ~np.isfinite(values)
    if bad.any():
        r, c = (int(i) for i in np.argwhere(bad)[0])
        what = "NaN" if np.isnan(values[r, c]) else "infinite"
        raise DataError(f"{place(r, c)} is {what}; remove or impute missing and infinite values before using the file.")


def _list(names):
    """Names for a message: quoted, at most :data:`_SHOWN_COLUMNS` of them."""
    shown = ", ".join(repr(name) for name in names[:_SHOWN_COLUMNS])
    if len(names) > _SHOWN_COLUMNS:
        shown += f", ... ({len(names)} in all)"
    return shown
