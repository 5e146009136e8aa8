"""What turns a table's columns into network inputs, and outputs back into predictions.

A model trained by the ``jitprop`` command carries a :class:`Preprocessing`
in its model file (``extra["preprocessing"]``, see :meth:`Preprocessing.to_json`),
so that ``jitprop predict`` and ``jitprop evaluate`` apply exactly the
transformations training applied:

- features are taken by name from a CSV header, or by position from an
  array; with ``--impute`` their missing values are filled with a statistic
  of the training examples (:class:`jitprop.preprocessing.Imputer`); with
  ``standardize`` they are mapped to ``(x - mean) / scale``, the mean and
  standard deviation of each column over the training examples (a constant
  column gets scale 1);
- categorical feature columns (text) follow the numeric ones as one 0/1
  input per category of the training file
  (:class:`jitprop.preprocessing.OneHotEncoder`);
- classification labels (numbers or text) map to class indices through the
  sorted list ``classes``, and network outputs map back to labels;
- regression targets are standardised likewise (``target_mean``,
  ``target_scale``, always: it keeps the loss of order 1 whatever the units)
  and predictions are mapped back to the target's units.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from ..preprocessing import Imputer, OneHotEncoder
from .data_files import CHUNK_ROWS, is_number

TASKS = ("classification", "regression")

#: Most distinct integer values a target may have to be taken for class labels.
MAX_INFERRED_CLASSES = 50

#: Most distinct values a categorical column may have, by default.
MAX_CATEGORIES = 100

_VERSION = 2
_FIELDS_1 = (
    "version",
    "task",
    "target",
    "features",
    "named_features",
    "classes",
    "feature_mean",
    "feature_scale",
    "target_mean",
    "target_scale",
)
_FIELDS = (*_FIELDS_1, "impute", "categorical")


@dataclass
class Preprocessing:
    """The transformations between a data file and a network, as a model file stores them.

    Attributes
    ----------
    task : {"classification", "regression"}
    target : str or None
        Name of the target column the model was trained on.
    features : list of str
        Names of the numeric feature columns, in the network's input order.
    named_features : bool
        Whether ``features`` are CSV column names (matched by name when
        predicting) rather than positions.
    classes : list or None
        Classification: the labels, sorted; class ``i`` is ``classes[i]``.
    feature_mean, feature_scale : ndarray of shape (n_features,) or None
        Standardisation of the features, when it was asked for.
    target_mean, target_scale : float
        Regression: predictions are ``output · target_scale + target_mean``.
    imputer : Imputer or None
        Fills the missing values of the numeric features, when asked for.
    encoder : OneHotEncoder or None
        Encodes the categorical feature columns, which come after ``features``.
    """

    task: str
    target: str | None
    features: list
    named_features: bool
    classes: list | None = None
    feature_mean: np.ndarray | None = None
    feature_scale: np.ndarray | None = None
    target_mean: float = 0.0
    target_scale: float = 1.0
    imputer: Imputer | None = None
    encoder: OneHotEncoder | None = None

    # ----------------------------------------------------------- building
    @classmethod
    def fit(
        cls,
        table,
        labels,
        task,
        standardize,
        rows=None,
        impute=None,
        max_categories=MAX_CATEGORIES,
        statistics=None,
    ):
        """The preprocessing of ``table``, with statistics over the examples ``rows`` (default all).

        Parameters
        ----------
        table : Table
        labels : ndarray of shape (n_examples,)
            The target as :func:`read_labels` returns it.
        task : {"classification", "regression"}
        standardize : bool
            Standardise the features.
        rows : ndarray of int, optional
            The training examples; the statistics come from these alone.
        impute : (str, str or None), optional
            ``(strategy, value)``: an :class:`~jitprop.preprocessing.Imputer` for the missing values
            of the numeric features (NaN in ``table.X``), the value (a number, as text) for the
            "constant" strategy. Missing values of categorical features (``""``) take the most
            frequent category, or that value as a category of its own.
        max_categories : int
            Most distinct values of a categorical column.
        statistics : callable, optional
            ``statistics(X, rows) -> (mean, scale)`` of the standardisation;
            by default each column's mean and deviation, read in blocks of
            :data:`CHUNK_ROWS` rows. Under mpiexec, the ranks' version of the
            same (:meth:`.shards.Shards.column_statistics`).
        """
        pre = cls(task=task, target=table.target, features=list(table.feature_names), named_features=table.named)
        X = table.X
        if impute is not None:
            strategy, value = impute
            pre.imputer = Imputer(strategy, None if value is None else float(value))
            pre.imputer.fit(X, rows, names=[f"{table.path}: {label}" for label in table.feature_labels])
            X = pre.imputer.transform(X)
        if table.categorical:
            fill = None if impute is None else impute[1]
            # The categories of the whole file (names, not statistics: a category met only in the
            # validation part gets its column), the most frequent of the training part.
            pre.encoder = OneHotEncoder(max_categories, fill)
            try:
                pre.encoder.fit(table.categorical, most_frequent=impute is not None and fill is None, fill_rows=rows)
            except DataError as exc:
                raise DataError(f"{table.path}: {exc}") from None
        if standardize:
            pre.feature_mean, pre.feature_scale = (statistics or _column_statistics)(X, rows)
        if task == "classification":
            classes = np.unique(labels)
            if classes.shape[0] < 2:
                raise DataError(
                    f"{table.path}: the target {table.target_label} has a single value, {classes[0]!r}; "
                    f"classification needs at least two classes."
                )
            pre.classes = classes.tolist()
        else:
            values = _regression_values(table, labels)
            chosen = values if rows is None else values[rows]
            pre.target_mean = float(chosen.mean())
            spread = float(chosen.std())
            pre.target_scale = spread if spread > 0 and np.isfinite(spread) else 1.0
        return pre

    @classmethod
    def for_network(cls, net):
        """What a model file without preprocessing implies: positional features, classes 0 to k-1."""
        features = [str(j) for j in range(net.input_dim)]
        if net.loss == "mse":
            return cls(task="regression", target=None, features=features, named_features=False)
        k = 2 if net.n_outputs == 1 else net.n_outputs
        return cls(task="classification", target=None, features=features, named_features=False, classes=list(range(k)))

    # ------------------------------------------------------------ applying
    @property
    def standardized(self):
        return self.feature_mean is not None

    @property
    def n_classes(self):
        return len(self.classes) if self.classes is not None else 0

    @property
    def categories(self):
        """``{column: categories}`` of the categorical features (empty without any)."""
        return {} if self.encoder is None else self.encoder.categories

    @property
    def columns(self):
        """Every feature column the model reads: the numeric ones, then the categorical ones."""
        return [*self.features, *self.categories]

    @property
    def n_inputs(self):
        """Inputs of the network: one per numeric feature and one per category."""
        return len(self.features) + (0 if self.encoder is None else self.encoder.n_outputs)

    def inputs(self, table, dtype, unknown="error"):
        """The network inputs for ``table``: a C-contiguous array of ``dtype`` (no copy when none is needed).

        ``unknown`` is what a category not seen in training gets: ``"error"`` (a DataError naming
        the field) or ``"ignore"`` (all zeros; :meth:`unknown_categories` counts them).
        """
        X = table.X
        if X.shape[1] != len(self.features):
            raise DataError(
                f"{table.path} has {X.shape[1]} feature columns, but the model expects {len(self.features)}."
            )
        if self.imputer is not None:
            X = self.imputer.transform(X)
        if self.standardized:
            scaled = np.empty(X.shape, dtype=dtype)
            for start in range(0, X.shape[0], CHUNK_ROWS):
                block = np.asarray(X[start : start + CHUNK_ROWS], dtype=np.float64)
                scaled[start : start + CHUNK_ROWS] = (block - self.feature_mean) / self.feature_scale
            X = scaled
        if self.encoder is None:
            return np.ascontiguousarray(X, dtype=dtype)
        encoded = self.encoder.transform(table.categorical, unknown, where=_field_of(table))
        return np.ascontiguousarray(np.hstack([np.asarray(X, dtype=dtype), encoded.astype(dtype)]))

    def unknown_categories(self, table):
        """A line saying how many fields of ``table`` hold a category not seen in training (None: none)."""
        if self.encoder is None:
            return None
        count, first = self.encoder.unknown_values(table.categorical, limit=1)
        if not count:
            return None
        row, name, value = first[0]
        return (
            f"{count:,} value{'s' if count > 1 else ''} of categorical columns not seen in training, "
            f"encoded as all zeros; the first: {_field_of(table)(row, name)}: {value[:40]!r}"
        )

    def targets(self, table, labels):
        """Training targets for ``labels``: class indices (int64), or standardised values (float64)."""
        if self.task == "regression":
            return (_regression_values(table, labels) - self.target_mean) / self.target_scale
        classes = np.asarray(self.classes)
        if classes.dtype.kind == "U" and labels.dtype.kind != "U":
            labels = _label_strings(table)
        elif classes.dtype.kind != "U" and labels.dtype.kind == "U":
            row = next(i for i, text in enumerate(labels) if not is_number(text))
            raise DataError(
                f"{table.where(row, 'target')}: {labels[row]!r} is not one of the model's classes "
                f"({_shown(self.classes)})."
            )
        index = np.minimum(np.searchsorted(classes, labels), classes.shape[0] - 1)
        unknown = classes[index] != labels
        if unknown.any():
            row = int(np.flatnonzero(unknown)[0])
            raise DataError(
                f"{table.where(row, 'target')}: {labels[row].item()!r} is not one of the model's classes "
                f"({_shown(self.classes)})."
            )
        return index.astype(np.int64)

    def probabilities(self, outputs):
        """Class probabilities of shape (n, n_classes) from network outputs (softmax, or one sigmoid)."""
        outputs = np.asarray(outputs)
        if outputs.shape[1] == 1:
            return np.concatenate([1 - outputs, outputs], axis=1)
        return outputs

    def predictions(self, outputs):
        """Predicted labels (classification) or values in the target's units (regression)."""
        if self.task == "regression":
            return np.asarray(outputs[:, 0], dtype=np.float64) * self.target_scale + self.target_mean
        return np.asarray(self.classes, dtype=object)[np.argmax(self.probabilities(outputs), axis=1)]

    # -------------------------------------------------------------- storing
    def to_json(self):
        """The preprocessing as JSON values (numbers in float64, exactly)."""
        return {
            "version": _VERSION,
            "task": self.task,
            "target": self.target,
            "features": list(self.features),
            "named_features": self.named_features,
            "classes": self.classes,
            "feature_mean": None if self.feature_mean is None else self.feature_mean.tolist(),
            "feature_scale": None if self.feature_scale is None else self.feature_scale.tolist(),
            "target_mean": self.target_mean,
            "target_scale": self.target_scale,
            "impute": None if self.imputer is None else self.imputer.to_json(),
            "categorical": None if self.encoder is None else self.encoder.to_json(),
        }

    @classmethod
    def from_json(cls, doc, net, path):
        """Rebuild the preprocessing saved with ``net`` in the model file ``path``, checking it fits."""

        def bad(reason):
            return DataError(f"{path}: the preprocessing saved with the model is not valid: {reason}.")

        if not isinstance(doc, dict) or doc.get("version") not in (1, _VERSION):
            raise bad(f"expected version 1 or {_VERSION}, got {doc!r:.80}")
        fields = _FIELDS if doc["version"] == _VERSION else _FIELDS_1
        if sorted(doc) != sorted(fields):
            raise bad(f"expected the keys {', '.join(fields)}")
        features = doc["features"]
        if not (isinstance(features, list) and all(isinstance(name, str) for name in features)):
            raise bad("features must be a list of names")
        try:
            imputer = None if doc.get("impute") is None else Imputer.from_json(doc["impute"])
            encoder = None if doc.get("categorical") is None else OneHotEncoder.from_json(doc["categorical"])
        except (KeyError, TypeError, ValueError) as exc:
            raise bad(f"impute or categorical: {exc}") from None
        if imputer is not None and imputer.values.shape != (len(features),):
            raise bad(f"impute must hold a value for each of the {len(features)} features")
        inputs = len(features) + (0 if encoder is None else encoder.n_outputs)
        if inputs != net.input_dim:
            raise bad(f"it names {inputs} inputs, but the network takes {net.input_dim}")
        if doc["task"] not in TASKS:
            raise bad(f"unknown task {doc['task']!r:.40}")
        if doc["target"] is not None and not isinstance(doc["target"], str):
            raise bad("target must be a name or null")
        classes = doc["classes"]
        if classes is not None and not (
            isinstance(classes, list)
            and (all(isinstance(c, str) for c in classes) or all(_is_json_number(c) for c in classes))
        ):
            raise bad("classes must be a list of labels, all numbers or all text")
        pre = cls(
            task=doc["task"],
            target=doc["target"],
            features=features,
            named_features=bool(doc["named_features"]),
            classes=doc["classes"],
            target_mean=float(doc["target_mean"]),
            target_scale=float(doc["target_scale"]),
            imputer=imputer,
            encoder=encoder,
        )
        if (doc["feature_mean"] is None) != (doc["feature_scale"] is None):
            raise bad("feature_mean and feature_scale must both be given or both be null")
        if doc["feature_mean"] is not None:
            pre.feature_mean = np.array(doc["feature_mean"], dtype=np.float64)
            pre.feature_scale = np.array(doc["feature_scale"], dtype=np.float64)
            n = len(features)
            if pre.feature_mean.shape != (n,) or pre.feature_scale.shape != (n,):
                raise bad(f"feature_mean and feature_scale must hold {n} numbers")
            if not (pre.feature_scale > 0).all():
                raise bad("feature_scale must be positive")
        if pre.task == "classification":
            outputs = 2 if net.n_outputs == 1 else net.n_outputs
            if not isinstance(pre.classes, list) or len(pre.classes) != outputs:
                raise bad(f"a classifier with {net.n_outputs} outputs needs {outputs} classes")
        elif net.n_outputs != 1 or pre.target_scale <= 0:
            raise bad("a regression model has one output and a positive target_scale")
        return pre


# ---------------------------------------------------------------- targets
def read_labels(table):
    """The target column of ``table`` as labels: int64, float64 or str, checked to be present.

    Text that reads as numbers in every row becomes numbers (integers when
    every value is whole), so "1" and "1.0" are the same label.
    """
    y = table.y
    if y.dtype.kind in "biu":
        return y.astype(np.int64)
    if y.dtype.kind == "f":
        values = np.asarray(y, dtype=np.float64)
        _check_finite_target(table, values)
        return _as_integers(values)
    if y.dtype.kind != "U":
        raise DataError(f"{table.path}: the target {table.target_label} has dtype {y.dtype}; expected numbers or text.")
    text = np.char.strip(y)
    empty = text == ""
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        raise DataError(f"{table.where(row, 'target')} is empty; every example needs a target value.")
    try:
        values = text.astype(np.float64)
    except ValueError:
        return text
    _check_finite_target(table, values)
    return _as_integers(values)


def infer_task(labels, target_label):
    """``(task, reason)``: classification for text or few distinct integers, else regression."""
    if labels.dtype.kind == "U":
        return "classification", f"{target_label} holds text"
    distinct = np.unique(labels).shape[0]
    if labels.dtype.kind == "f":
        return "regression", f"{target_label} holds non-integer numbers"
    if distinct <= MAX_INFERRED_CLASSES and 2 * distinct <= labels.shape[0]:
        return "classification", f"{target_label} holds {distinct} distinct integers"
    return "regression", f"{target_label} holds {distinct} distinct integers, too many to be classes"


def _regression_values(table, labels):
    if labels.dtype.kind == "U":
        row = next(i for i, text in enumerate(labels) if not is_number(text))
        raise DataError(
            f"{table.where(row, 'target')}: {labels[row][:40]!r} is not a number; a regression target must be "
            f"numeric (use --task classification for labels)."
        )
    return labels.astype(np.float64)


def _label_strings(table):
    """The raw target as stripped text, for models whose classes are text."""
    if table.y.dtype.kind == "U":
        return np.char.strip(table.y)
    return table.y.astype(str)


def _check_finite_target(table, values):
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        what = "NaN" if np.isnan(values[row]) else "infinite"
        raise DataError(f"{table.where(row, 'target')} is {what}; remove or impute missing target values first.")


def _as_integers(values):
    whole = values.astype(np.int64)
    return whole if np.array_equal(whole, values) else values


def _field_of(table):
    """``where(row, name)`` for messages about the categorical column ``name`` of ``table``."""
    return lambda row, name: f"{table.where(row)}, column {name!r}"


def _is_json_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _column_statistics(X, rows):
    """Mean and standard deviation (1 where it is 0) of each column over ``rows``, in two chunked passes."""
    if rows is None:
        rows = np.arange(X.shape[0])
    total = np.zeros(X.shape[1])
    for start in range(0, rows.shape[0], CHUNK_ROWS):
        total += np.asarray(X[rows[start : start + CHUNK_ROWS]], dtype=np.float64).sum(axis=0)
    mean = total / rows.shape[0]
    squares = np.zeros(X.shape[1])
    for start in range(0, rows.shape[0], CHUNK_ROWS):
        squares += ((np.asarray(X[rows[start : start + CHUNK_ROWS]], dtype=np.float64) - mean) ** 2).sum(axis=0)
    scale = np.sqrt(squares / rows.shape[0])
    scale[~(scale > 0)] = 1.0
    return mean, scale


def _shown(classes, limit=10):
    shown = ", ".join(repr(label) for label in classes[:limit])
    return shown + (f", ... ({len(classes)} in all)" if len(classes) > limit else "")
