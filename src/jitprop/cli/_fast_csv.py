"""Reading a clean CSV file with a C parser: pandas when it is installed, else NumPy's ``loadtxt``.

The careful reader of :mod:`.data_files` parses in Python so that it can word
every defect by line and column. This module only tries the fast way: it
returns ``None`` on anything the careful reader would refuse or read
differently — an empty cell (unless missing values are asked for), a cell
that is not a finite number, a line with too many or too few fields, text
that is not UTF-8 — and the careful reader then reads the file again to give
the message. Numbers are parsed by
correctly rounded C parsers (pandas 3's and NumPy's), so a clean file gives
the same float64 values, bit for bit, as Python's ``float``.

Why these parsers, by measurement on a 500,000 x 21 numeric CSV (86 MB) on
two cores: pandas' C tokenizer reads it about as fast as ``pandas.read_csv``
itself, NumPy's ``loadtxt`` about three times slower and the careful reader
about ten times slower; pyarrow's multi-threaded reader was no faster than
pandas on two shared cores and is a larger install, so it is used for
Parquet only. pandas before 3 reads "True" as 1.0 in a float column, which
the careful reader refuses, so only pandas 3 and later is used.

pandas would read a column of integers as integers, and "-0" there as 0
where the careful reader gives -0.0: columns that look like integers are
read as float64, and a block of rows where pandas still sees integers goes
to the careful reader.
"""

import io
import warnings
from dataclasses import dataclass

import numpy as np

#: Rows parsed at a time by pandas: large enough that the per-chunk cost is negligible.
PANDAS_CHUNK_ROWS = 1 << 16


@dataclass
class Parsed:
    """The columns of a clean CSV file.

    Attributes
    ----------
    numeric : ndarray of shape (n_rows, n_numeric), float64
        The numeric columns asked for, in the order asked.
    text : list of ndarray of str
        The text columns asked for, as written (not stripped).
    lines : ndarray of shape (n_rows,) or None
        The line each row is on, when every line after the header holds one
        row; None when the file has blank lines or fields spanning lines.
    """

    numeric: np.ndarray
    text: list
    lines: np.ndarray | None


def parser():
    """The name of the C parser this installation uses: ``"pandas"`` or ``"numpy"``."""
    try:
        import pandas
    except ImportError:
        return "numpy"
    return "pandas" if int(pandas.__version__.split(".")[0]) >= 3 else "numpy"


def parse(stream, delimiter, width, numeric, text, advance, whole=(), expected_rows=0, missing=False):
    """Parse the rest of ``stream`` (binary, after the header line), or None if it is not clean.

    Parameters
    ----------
    stream : binary file
        Positioned at the first line after the header.
    delimiter : str
    width : int
        Columns in the header row.
    numeric, text : list of int
        Indices of the columns to read as numbers and as text.
    advance : callable
        Called now and then while reading, to move a progress bar.
    whole : collection of int
        Numeric columns that seem to hold integers (pandas is told they are floats, so that
        "-0" is -0.0 as Python reads it).
    expected_rows : int
        An estimate of the number of rows, to allocate the array once.
    missing : bool
        Read empty fields as the careful reader does with missing values:
        NaN in a numeric column, ``""`` in a text column. Only pandas does;
        NumPy's parser leaves such files to the careful reader.
    """
    if parser() == "pandas":
        return _with_pandas(stream, delimiter, width, numeric, text, advance, whole, expected_rows, missing)
    return _with_numpy(stream, delimiter, width, numeric, text, advance)


class _CountingReader:
    """A binary stream that counts the newlines read through it and moves a progress bar."""

    def __init__(self, stream, advance):
        self.stream = stream
        self.advance = advance
        self.newlines = 0
        self.ends_with_newline = True

    def read(self, size=-1):
        block = self.stream.read(size)
        if block:
            self.newlines += block.count(b"\n")
            self.ends_with_newline = block.endswith(b"\n")
            self.advance()
        return block

    def __iter__(self):  # pandas takes an object for a file when it has read and __iter__
        raise TypeError("read it with read()")

    @property
    def lines(self):
        return self.newlines + (0 if self.ends_with_newline else 1)


def _with_pandas(stream, delimiter, width, numeric, text, advance, whole, expected_rows, missing):
    import pandas as pd

    # pandas fills the fields a short line lacks with NaN, as it does empty ones: an empty field
    # of the last column cannot be told from a short line, and is left to the careful reader.
    may_be_empty = set(numeric) | set(text) if missing else set()
    may_be_empty.discard(width - 1)

    # The last column is always read: a short line leaves it empty, which makes the file unclean.
    last = [] if width - 1 in numeric or width - 1 in text else [width - 1]
    # Other numbers are left to pandas' inference, which measured faster than asking for float64.
    dtype = {i: np.float64 for i in numeric if i in whole} | {i: object for i in [*text, *last]}
    reader = _CountingReader(stream, advance)
    numbers = RowBuffer(expected_rows, len(numeric))
    texts = [[] for _ in text]
    try:
        chunks = pd.read_csv(
            reader,
            sep=delimiter,
            header=None,
            names=range(width),
            usecols=sorted({*numeric, *dtype}),
            dtype=dtype,
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=True,
            quotechar='"',
            doublequote=True,
            engine="c",
            encoding="utf-8",
            chunksize=PANDAS_CHUNK_ROWS,
        )
        for chunk in chunks:
            # Floats without infinities, and without NaN (an empty cell) where none may be. Integers
            # were asked for as floats: an integer column here would read "-0" as 0. Booleans and
            # text are not numbers.
            if any(chunk[j].dtype.kind != "f" for j in numeric):
                return None
            block = chunk[numeric].to_numpy(dtype=np.float64)
            if missing:
                if np.isinf(block).any() or (width - 1 in numeric and np.isnan(chunk[width - 1].to_numpy()).any()):
                    return None
            elif not np.isfinite(block).all():
                return None
            if any(chunk[j].isna().any() for j in dtype if j not in numeric and j not in may_be_empty):
                return None
            numbers.append(block)
            for values, j in zip(texts, text):
                column = chunk[j].fillna("") if j in may_be_empty else chunk[j]
                values.append(column.to_numpy().astype(str))
    except (ValueError, UnicodeError, pd.errors.ParserError, OSError, EOFError):
        return None
    rows = numbers.n
    lines = np.arange(2, rows + 2) if reader.lines == rows else None
    texts = [np.concatenate(values) if values else np.empty(0, dtype=str) for values in texts]
    return Parsed(numbers.array(), texts, lines)


class RowBuffer:
    """A float64 array of a known width grown by blocks of rows, allocated once when the estimate holds."""

    def __init__(self, expected, width):
        self.buffer = np.empty((max(int(expected), 1), width))
        self.n = 0

    def append(self, block):
        end = self.n + block.shape[0]
        if end > self.buffer.shape[0]:
            self.buffer.resize((max(end, int(self.buffer.shape[0] * 1.25)), self.buffer.shape[1]), refcheck=False)
        self.buffer[self.n : end] = block
        self.n = end

    def array(self):
        self.buffer.resize((self.n, self.buffer.shape[1]), refcheck=False)  # in place: no copy of the rows
        return self.buffer


def _with_numpy(stream, delimiter, width, numeric, text, advance):
    state = {"lines": 0, "clean": True}

    def lines():
        # Blank lines, quotes and lines with another number of fields go to the careful reader.
        wrapper = io.TextIOWrapper(stream, encoding="utf-8", newline="")
        try:
            for line in wrapper:
                state["lines"] += 1
                if line.count(delimiter) != width - 1 or '"' in line or not line.strip():
                    state["clean"] = False
                    return
                yield line
                if state["lines"] % 4096 == 0:
                    advance()
        finally:
            wrapper.detach()  # leave the stream open for the next pass

    def columns(usecols, dtype):
        state["lines"] = 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": the caller says it
            values = np.loadtxt(lines(), dtype=dtype, delimiter=delimiter, comments=None, usecols=usecols, ndmin=2)
        return values if state["clean"] else None

    start = stream.tell()
    try:
        numbers = columns(numeric, np.float64) if numeric else None
        texts = None
        if text:
            stream.seek(start)
            texts = columns(text, str)
    except (ValueError, UnicodeError, OSError, EOFError):
        return None
    if (numeric and numbers is None) or (text and texts is None):
        return None
    rows = (numbers if numbers is not None else texts).shape[0]
    if numbers is None:
        numbers = np.empty((rows, 0))
    texts = [] if texts is None else [texts[:, j] for j in range(len(text))]
    if texts and texts[0].shape[0] != rows:
        return None
    if not np.isfinite(numbers).all() or any((np.char.strip(values) == "").any() for values in texts):
        return None
    return Parsed(numbers, texts, np.arange(2, rows + 2))
