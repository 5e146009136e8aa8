"""Imputing missing values and one-hot encoding categories, as ``jitprop train`` does.

Two small transformers on NumPy arrays, each fitted on the training rows
only and stored as JSON values, so that new data is transformed exactly as
the training data was:

- :class:`Imputer` fills NaN in numeric columns with a statistic of each
  column (mean, median, most frequent value) or a constant;
- :class:`OneHotEncoder` turns text columns into one 0/1 column per category
  seen in training, refusing (or, with ``unknown="ignore"``, encoding as all
  zeros) a category it has not seen.

The command line reads a table with
:func:`jitprop.cli.data_files.read_table` and applies these before
standardising; from Python::

    from jitprop.cli.data_files import read_table
    from jitprop.preprocessing import Imputer, OneHotEncoder

    table = read_table("houses.csv", "price", infer_categorical=True, missing=True)
    imputer = Imputer("median").fit(table.X, rows=train_rows)
    encoder = OneHotEncoder().fit(table.categorical, rows=train_rows, most_frequent=True)
    X = np.hstack([imputer.transform(table.X), encoder.transform(table.categorical)])

The scikit-learn estimators of :mod:`jitprop.estimators` take numeric arrays;
there, compose scikit-learn's own ``ColumnTransformer``.
"""

import numpy as np

from .errors import DataError

STRATEGIES = ("mean", "median", "most_frequent", "constant")


class Imputer:
    """Fill the NaN of numeric columns with a per-column value learnt from training rows.

    Parameters
    ----------
    strategy : {"mean", "median", "most_frequent", "constant"}, default "mean"
    fill_value : float, optional
        The value of the "constant" strategy.

    Attributes
    ----------
    values : ndarray of shape (n_columns,)
        What fills each column, after :meth:`fit`.
    """

    def __init__(self, strategy="mean", fill_value=None):
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}.")
        if (strategy == "constant") != (fill_value is not None):
            raise ValueError("fill_value goes with the 'constant' strategy, and only with it.")
        if fill_value is not None and not np.isfinite(fill_value):
            raise ValueError(f"fill_value must be a finite number, got {fill_value!r}.")
        self.strategy = strategy
        self.fill_value = None if fill_value is None else float(fill_value)
        self.values = None

    def fit(self, X, rows=None, names=None):
        """Learn the fill values from the rows ``rows`` of ``X`` (default all).

        Parameters
        ----------
        X : array-like of shape (n_examples, n_columns)
            Numbers, NaN where missing.
        rows : ndarray of int, optional
            The training rows: the statistics come from these alone.
        names : list of str, optional
            How messages name the columns (default "column j").

        Returns
        -------
        self

        Raises
        ------
        DataError
            A column has no value in the training rows to take a statistic of.
        """
        X = np.asarray(X if rows is None else X[rows], dtype=np.float64)
        if self.strategy == "constant":
            self.values = np.full(X.shape[1], self.fill_value)
            return self
        values = np.empty(X.shape[1])
        for j in range(X.shape[1]):
            present = X[:, j][~np.isnan(X[:, j])]
            if present.size == 0:
                name = f"column {j}" if names is None else names[j]
                raise DataError(
                    f"{name} has no values in the training part to take the {self.strategy} of; "
                    f"drop the column or impute with constant:VALUE."
                )
            values[j] = _statistic(present, self.strategy)
        self.values = values
        return self

    def transform(self, X):
        """``X`` as float64 with each NaN replaced by its column's value (a copy)."""
        X = np.array(X, dtype=np.float64)
        missing = np.isnan(X)
        X[missing] = np.broadcast_to(self.values, X.shape)[missing]
        return X

    def to_json(self):
        return {"strategy": self.strategy, "fill_value": self.fill_value, "values": self.values.tolist()}

    @classmethod
    def from_json(cls, doc):
        imputer = cls(doc["strategy"], doc["fill_value"])
        imputer.values = np.array(doc["values"], dtype=np.float64)
        if imputer.values.ndim != 1 or not np.isfinite(imputer.values).all():
            raise ValueError("values must be a list of finite numbers")
        return imputer


def _statistic(values, strategy):
    if strategy == "mean":
        return float(values.mean())
    if strategy == "median":
        return float(np.median(values))
    distinct, counts = np.unique(values, return_counts=True)
    return float(distinct[np.argmax(counts)])  # ties: the smallest, as scikit-learn's SimpleImputer


class OneHotEncoder:
    """One 0/1 column per category of each text column, the categories learnt from training rows.

    Parameters
    ----------
    max_categories : int, default 100
        Most distinct values a column may have; more is refused with a
        message (an identifier or free-text column is no category).
    fill : str, optional
        Category that takes the place of an empty value (``""``). Without
        it, empty values are refused.

    Attributes
    ----------
    categories : dict of str to list of str
        Each column's categories, sorted, after :meth:`fit`.
    fills : dict of str to str or None
        What takes the place of an empty value in each column, after :meth:`fit`.
    """

    def __init__(self, max_categories=100, fill=None):
        self.max_categories = int(max_categories)
        self.fill = fill
        self.categories = None
        self.fills = None

    @property
    def n_outputs(self):
        """Columns of the encoding: the number of categories of all columns."""
        return sum(len(values) for values in self.categories.values())

    def fit(self, columns, rows=None, most_frequent=False, fill_rows=None):
        """Learn the categories of each column of ``columns`` over ``rows`` (default all).

        Parameters
        ----------
        columns : dict of str to ndarray of str
            The text columns, by name.
        rows : ndarray of int, optional
        most_frequent : bool, default False
            Fill the empty values of each column with its most frequent
            category in ``rows`` (the imputation of text columns), rather
            than with ``fill``.
        fill_rows : ndarray of int, optional
            The rows the most frequent category is taken from (default
            ``rows``): the command line learns the categories of the whole
            file, so that a category met only in the validation part has a
            column too, but takes statistics from the training part alone.

        Returns
        -------
        self
        """
        self.categories, self.fills = {}, {}
        fill_rows = rows if fill_rows is None else fill_rows
        for name, values in columns.items():
            values = np.asarray(values)
            chosen = values if rows is None else values[rows]
            distinct = np.unique(chosen[chosen != ""])
            fill = self.fill
            if most_frequent:
                chosen = values if fill_rows is None else values[fill_rows]
                common, counts = np.unique(chosen[chosen != ""], return_counts=True)
                fill = str(common[np.argmax(counts)]) if common.size else None
            self.fills[name] = fill
            if fill is not None and fill not in distinct:
                distinct = np.sort(np.append(distinct, fill))
            if distinct.size > self.max_categories:
                shown = ", ".join(repr(str(v)) for v in distinct[:5])
                raise DataError(
                    f"column {name!r} has {distinct.size} distinct values ({shown}, ...), more than the "
                    f"{self.max_categories} a categorical column may have; raise --max-categories, or drop the "
                    f"column if it identifies examples rather than sorting them into categories."
                )
            if distinct.size == 0:
                raise DataError(f"column {name!r} has no values in the training part to learn categories from.")
            self.categories[name] = [str(v) for v in distinct]
        return self

    def transform(self, columns, unknown="error", where=None):
        """The one-hot encoding of ``columns``: float64 of shape (n_examples, :attr:`n_outputs`).

        Parameters
        ----------
        columns : dict of str to ndarray of str
            At least the columns fitted.
        unknown : {"error", "ignore"}, default "error"
            What a category not seen in training gets: a DataError naming
            it, or all zeros (:meth:`unknown_values` lists them).
        where : callable, optional
            ``where(row, name)``: how messages name a field (default "row R, column 'NAME'").
        """
        where = where or (lambda row, name: f"row {row}, column {name!r}")
        n = len(next(iter(columns.values()))) if columns else 0
        encoded = np.zeros((n, self.n_outputs))
        start = 0
        for name, categories in self.categories.items():
            values = self._filled(columns[name], name, where)
            known = np.asarray(categories)
            index, found = _lookup(known, values)
            if unknown != "ignore" and not found.all():
                row = int(np.flatnonzero(~found)[0])
                raise DataError(
                    f"{where(row, name)}: {str(values[row])[:40]!r} is not one of the categories seen in "
                    f"training ({_shown(categories)}); --unknown-category ignore encodes it as all zeros."
                )
            hit = np.flatnonzero(found)
            encoded[hit, start + index[hit]] = 1.0
            start += known.size
        return encoded

    def unknown_values(self, columns, limit=5):
        """``(count, first)``: how many fields of ``columns`` hold a category not seen in training, and the
        first ``limit`` of them as ``(row, name, value)``."""
        count, first = 0, []
        for name, categories in self.categories.items():
            values = self._filled(columns[name], name, None)
            _, found = _lookup(np.asarray(categories), values)
            rows = np.flatnonzero(~found)
            count += rows.size
            first += [(int(r), name, str(values[r])) for r in rows[: max(0, limit - len(first))]]
        return count, sorted(first)[:limit]

    def _filled(self, values, name, where):
        values = np.asarray(values)
        empty = values == ""
        fill = self.fills.get(name)
        if fill is not None:
            return np.where(empty, fill, values)
        if where is not None and empty.any():
            row = int(np.flatnonzero(empty)[0])
            raise DataError(f"{where(row, name)} is empty; fill in or drop missing values before using the file.")
        return values

    def to_json(self):
        return {"max_categories": self.max_categories, "categories": self.categories, "fills": self.fills}

    @classmethod
    def from_json(cls, doc):
        encoder = cls(doc["max_categories"])
        categories, fills = doc["categories"], doc["fills"]
        if not isinstance(categories, dict) or not all(
            isinstance(values, list) and values and values == sorted(values) and all(isinstance(v, str) for v in values)
            for values in categories.values()
        ):
            raise ValueError("categories must map each column to a sorted list of text")
        if not isinstance(fills, dict) or sorted(fills) != sorted(categories):
            raise ValueError("fills must name the same columns as categories")
        encoder.categories, encoder.fills = categories, fills
        return encoder


def _lookup(known, values):
    """Index of each value in the sorted ``known``, and whether it is there."""
    if values.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    index = np.minimum(np.searchsorted(known, values), known.size - 1)
    return index, known[index] == values


def _shown(values, limit=10):
    shown = ", ".join(repr(value) for value in values[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")
