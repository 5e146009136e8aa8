"""``jitprop train`` under ``mpiexec``: each rank reads its share of the data file's rows, never the whole file.

A rank of ``mpiexec -n P jitprop train DATA`` needs, of a file of n rows:

- **every row's target** (one value a row): each rank reads the target of
  its run of blocks (below) and the ranks gather them, so the classes, the
  validation split and a regression target's mean and deviation are the
  same on every rank and the same as one process's;
- **the checks and the standardisation**: the rows (of the file for the
  check that every feature is finite, of the training part for the mean
  and deviation of each column) are cut into blocks of
  :data:`~.data_files.CHUNK_ROWS`, the blocks one process reads them in;
  each rank reads a contiguous run of the blocks (the first ``blocks % P``
  ranks one more) and the blocks' column sums are gathered and added in
  block order on every rank, as one process adds them: the same mean and
  deviation, bit for bit, whatever the number of ranks;
- **in each epoch, the rows of its own tiles**, read and preprocessed at
  the start of the epoch (:class:`jitprop.distributed.Rows`) into a buffer
  of that many rows;
- rank 0 alone: the **validation rows**, which it evaluates after each epoch;
- after training, to score the model, each rank evaluates its run of the
  training part's blocks and the scores are combined (they agree with one
  process's up to rounding: the loss and accuracy are means of the blocks').

This needs rows that can be read in place: an NPY file, or the members of
an NPZ file stored uncompressed (``np.savez``), which are memory-mapped
(:func:`shardable`). Every other input is read whole on every rank, as in
one process: CSV and Parquet (a CSV row cannot be found without reading
the lines before it; convert a large CSV once with ``np.save``), members of
``np.savez_compressed``, an NPY file whose target column lies between
feature columns (put it first or last), and any file trained with
``--impute`` (the median and most frequent value need every value of a
column at once).
"""

from dataclasses import replace

import numpy as np

from ..distributed import Rows, rank_tiles
from ..errors import DataError
from . import preprocessing
from .data_files import _check_finite_block


#: Values read from the file at a time by a rank (a part of a block): bounds the memory of its temporaries.
READ_ELEMENTS = 1 << 20


def shardable(table, impute):
    """Whether ``jitprop train`` under mpiexec can read ``table`` by shards (see the module docstring)."""
    return impute is None and isinstance(table.X, np.memmap) and not table.categorical


def read_rows(array, rows):
    """The rows ``rows`` (ascending) of a memory-mapped ``array``, read into memory: every read of the file's rows."""
    return np.asarray(array[rows])


class Shards:
    """The reading of one data file by the ranks of ``comm`` (see the module docstring).

    Parameters
    ----------
    comm : mpi4py.MPI.Intracomm
    table : Table
        As :func:`~.data_files.read_table` returns it without checking the
        features (``check_finite=False``), its features a memory map.
    """

    def __init__(self, comm, table):
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.table = table

    def _blocks(self, n):
        """``(start, end)`` of this rank's blocks among ``n`` rows: its run of the blocks of CHUNK_ROWS."""
        chunk = preprocessing.CHUNK_ROWS
        first, end = rank_tiles(-(-n // chunk), self.size)[self.rank]
        return [(b * chunk, min(n, (b + 1) * chunk)) for b in range(first, end)]

    def _parts(self, rows):
        """``rows`` in parts of at most :data:`READ_ELEMENTS` values of the file: ``(start, part)`` pairs."""
        step = max(1, READ_ELEMENTS // max(1, self.table.X.shape[1]))
        return [(start, rows[start : start + step]) for start in range(0, rows.shape[0], step)]

    def _agree(self, error):
        """Raise, on every rank, the DataError of the lowest rank that had one (its rows come first)."""
        for message in self.comm.allgather(None if error is None else str(error)):
            if message is not None:
                raise DataError(message)

    def checked(self, missing=False):
        """Check the features of this rank's blocks and gather every row's target: the table, its targets in memory.

        Raises
        ------
        DataError
            On every rank: the first row (of the lowest rank that found
            one) with a value that is not finite, worded as one process words it.
        """
        table = self.table
        targets = [] if table.y is None else [np.asarray(table.y[:0])]
        error = None
        try:
            for start, end in self._blocks(table.n_examples):
                rows = np.arange(start, end)
                for at, part in self._parts(rows) if table.X.dtype.kind == "f" else ():
                    first = start + at
                    place = lambda r, c, first=first: f"{table.path} row {first + r}, {table.feature_labels[c]}"  # noqa: E731
                    _check_finite_block(read_rows(table.X, part), place, missing)
                if table.y is not None:
                    targets.append(read_rows(table.y, rows))
        except DataError as exc:
            error = exc
        self._agree(error)
        if table.y is None:
            return table
        gathered = [part for parts in self.comm.allgather(targets) for part in parts]
        self.table = replace(table, y=np.concatenate(gathered))
        return self.table

    def column_statistics(self, X, rows):
        """:func:`.preprocessing._column_statistics` over the ranks: the same blocks, summed in block order."""
        if rows is None:
            rows = np.arange(X.shape[0])
        mine = self._blocks(rows.shape[0])
        buffer = np.empty((max((end - start for start, end in mine), default=0), X.shape[1]))

        def values(block):
            """The block's values in float64, read a part at a time (the same values as converting it whole)."""
            out = buffer[: block.shape[0]]
            for start, part in self._parts(block):
                out[start : start + part.shape[0]] = read_rows(X, part)
            return out

        def gathered(partial):
            total = np.zeros(X.shape[1])
            for parts in self.comm.allgather([partial(rows[start:end]) for start, end in mine]):
                for part in parts:
                    total += part
            return total

        def squares(block):
            deviations = values(block)
            deviations -= mean
            return np.square(deviations, out=deviations).sum(axis=0)

        mean = gathered(lambda block: values(block).sum(axis=0)) / rows.shape[0]
        scale = np.sqrt(gathered(squares) / rows.shape[0])
        scale[~(scale > 0)] = 1.0
        return mean, scale

    def inputs(self, pre, rows, dtype):
        """The network inputs of the file's rows ``rows`` (ascending), as ``pre.inputs`` makes the whole file's."""
        out = np.empty((rows.shape[0], pre.n_inputs), dtype=dtype)
        self._fill(pre, rows, out)
        return out

    def _fill(self, pre, rows, out):
        """Write the network inputs of the file's rows ``rows`` into ``out``, a part at a time."""
        for start, part in self._parts(rows):
            part_table = replace(self.table, X=read_rows(self.table.X, part), y=None)
            out[start : start + part.shape[0]] = pre.inputs(part_table, out.dtype)

    def rows(self, pre, rows, dtype):
        """The file's rows ``rows`` (ascending; None: all) as a :class:`~jitprop.distributed.Rows` for ``fit``."""
        if rows is None:
            rows = np.arange(self.table.n_examples)

        def read(wanted, out):
            self._fill(pre, rows[wanted], out)

        return Rows(rows.shape[0], pre.n_inputs, read)

    def scores(self, net, pre, task, labels, y, rows, shape):
        """The training part's scores (``jitprop train``'s table) on every rank, each rank scoring its blocks.

        Classification: loss and accuracy, the means of the blocks'
        weighted by their rows. Regression: every block's predictions are
        gathered and scored as one process scores them.

        Parameters
        ----------
        net : Network
        pre : Preprocessing
        task : {"classification", "regression"}
        labels : ndarray of shape (n_examples,)
            Every row's target, as :func:`~.preprocessing.read_labels` gives them.
        y : ndarray
            The network's targets of the rows ``rows``.
        rows : ndarray of int or None
            The training part's rows (None: every row).
        shape : tuple of int
            The shape of one example, as the network takes it.
        """
        from .metrics import regression_scores

        if rows is None:
            rows = np.arange(self.table.n_examples)
        mine = []
        for start, end in self._blocks(rows.shape[0]):
            X = self.inputs(pre, rows[start:end], net.dtype).reshape(-1, *shape)
            if task == "classification":
                scores = net.evaluate(X, y[start:end])
                mine.append(np.array([scores["loss"], scores["accuracy"]]) * (end - start))
            else:
                mine.append(pre.predictions(net.predict(X)))
        parts = [part for parts in self.comm.allgather(mine) for part in parts]
        if task == "classification":
            loss, accuracy = sum(parts, np.zeros(2)) / rows.shape[0]
            return {"loss": float(loss), "accuracy": float(accuracy)}
        scores = regression_scores(labels[rows].astype(np.float64), np.concatenate(parts))
        return {"loss": scores["mse"], "mae": scores["mae"], "r2": scores["r2"]}
