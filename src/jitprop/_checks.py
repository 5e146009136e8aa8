"""Validation of what users pass in: one place that every entry point uses.

Messages name the argument, what was expected and what was received.
Arrays are converted once, up front: a C-contiguous array of the network's
dtype (including a ``np.memmap``) is used as it is, anything else is copied
once, never per batch.
"""

import numbers

import numpy as np

# Rows checked for NaN/inf at a time, so that a large (memory-mapped) array is
# never expanded into a boolean array of its full size.
_FINITE_CHUNK_ROWS = 65536


def as_float_matrix(X, dtype, name="X", n_features=None):
    """``X`` as a C-contiguous 2-D array of ``dtype``, checked for size and NaN/inf."""
    X = _as_numeric_array(X, name)
    if X.ndim != 2:
        hint = f" Reshape your data with {name}.reshape(-1, 1) if it has a single feature." if X.ndim == 1 else ""
        raise ValueError(f"Expected a 2-D array for {name}, got {X.ndim}-D with shape {X.shape}.{hint}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} has 0 examples (shape {X.shape}); at least 1 is required.")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features, but the network expects {n_features}.")
    X = np.ascontiguousarray(X, dtype=dtype)
    check_finite(X, name)
    return X


def check_finite(a, name):
    """Raise ``ValueError`` naming the first NaN or inf in ``a`` (1-D or 2-D)."""
    for start in range(0, a.shape[0], _FINITE_CHUNK_ROWS):
        part = a[start : start + _FINITE_CHUNK_ROWS]
        bad = ~np.isfinite(part)
        if bad.any():
            where = np.argwhere(bad)[0]
            row = start + int(where[0])
            value = part[tuple(where)]
            column = f", column {int(where[1])}" if a.ndim == 2 else ""
            what = "NaN" if np.isnan(value) else "infinity"
            raise ValueError(f"Input {name} contains {what} (first at row {row}{column}).")


def prepare_targets(y, loss, n_outputs, n_examples, dtype):
    """Targets for ``loss`` as the kernels take them: ``(targets, labels)``.

    Cross-entropy accepts class indices of shape (n,) (kept as int64 labels)
    or rows of probabilities of shape (n, k). The other losses take (n, k),
    or (n,) when the network has one output.
    """
    y = _as_numeric_array(y, "y")
    if y.ndim not in (1, 2):
        raise ValueError(f"Expected y of shape (n,) or (n, {n_outputs}), got shape {y.shape}.")
    if y.shape[0] != n_examples:
        raise ValueError(f"X and y have different numbers of examples: {n_examples} and {y.shape[0]}.")
    check_finite(y, "y")
    no_labels = np.zeros(0, dtype=np.int64)
    if loss.name == "cross_entropy" and y.ndim == 1:
        labels = y.astype(np.int64)
        if not np.array_equal(labels, y):
            row = int(np.flatnonzero(labels != y)[0])
            raise ValueError(f"Class labels in y must be integers; row {row} has {y[row]!r}.")
        outside = (labels < 0) | (labels >= n_outputs)
        if outside.any():
            row = int(np.flatnonzero(outside)[0])
            raise ValueError(
                f"Class label {labels[row]} at row {row} of y is outside the network's "
                f"{n_outputs} outputs (expected 0 to {n_outputs - 1})."
            )
        return np.zeros((0, n_outputs), dtype=dtype), labels
    if y.ndim == 1:
        if n_outputs != 1:
            raise ValueError(
                f"y has shape {y.shape}, but the network has {n_outputs} outputs; "
                f"expected shape ({n_examples}, {n_outputs})."
            )
        y = y.reshape(-1, 1)
    if y.shape[1] != n_outputs:
        raise ValueError(f"y has {y.shape[1]} columns, but the network has {n_outputs} outputs.")
    if loss.name == "binary_cross_entropy":
        outside = (y < 0) | (y > 1)
        if outside.any():
            row, col = np.argwhere(outside)[0]
            raise ValueError(
                f"Targets for binary_cross_entropy must lie in [0, 1]; y[{row}, {col}] = {y[row, col]!r}."
            )
    return np.ascontiguousarray(y, dtype=dtype), no_labels


def sample_weights(sample_weight, n_examples):
    """Per-example weights as float64 (n,), or an empty array when all are 1."""
    if sample_weight is None:
        return np.zeros(0)
    weights = _as_numeric_array(sample_weight, "sample_weight")
    if weights.shape != (n_examples,):
        raise ValueError(f"sample_weight must have shape ({n_examples},), got {weights.shape}.")
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    check_finite(weights, "sample_weight")
    if (weights < 0).any():
        row = int(np.flatnonzero(weights < 0)[0])
        raise ValueError(f"sample_weight must be >= 0; row {row} has {weights[row]!r}.")
    return weights


def positive_int(value, name):
    """``value`` as an int, or ``ValueError`` unless it is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def non_negative_int(value, name):
    """``value`` as an int, or ``ValueError`` unless it is an integer >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}.")
    return int(value)


def positive_float(value, name):
    """``value`` as a float, or ``ValueError`` unless it is finite and > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}.")
    return float(value)


def non_negative_float(value, name):
    """``value`` as a float, or ``ValueError`` unless it is finite and >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}.")
    return float(value)


def _as_numeric_array(a, name):
    try:
        arr = np.asarray(a)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} could not be read as an array: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got an array of dtype {arr.dtype}.")
    return arr
