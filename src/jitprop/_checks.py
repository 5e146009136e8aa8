"""Validation of what users pass in: one place that every entry point uses.

Messages name the argument, what was expected and what was received, in the
style of scikit-learn's (``Input X contains NaN.``, ``X has 3 features, but
the network expects 4.``). Errors about a value are ``ValueError``, errors
about a type ``TypeError``.

Arrays are converted once, up front: a C-contiguous array of the network's
dtype (including a ``np.memmap``) is used as it is, anything else is copied
once, never per batch. NaN and infinity are looked for in one compiled pass
over a table's rows (:mod:`jitprop.kernels.finite`), or in chunks of rows for
other arrays, so that a large (memory-mapped) array is never expanded into a
boolean array of its full size. A read-only array (a memory map opened for reading, what
joblib hands to scikit-learn's parallel workers) is passed to the kernels as a
writeable-flagged alias of the same memory: Numba types read-only arrays
apart and would compile every kernel a second time for them (some 25 s), and
the kernels never write to their inputs.

The catalogue of bad inputs and the answer to each is ``tests/bad_inputs.py``
(its table is in ``docs/reliability.md``).
"""

import math
import numbers

import numpy as np

from .kernels.finite import first_non_finite_row, usable_examples
from .kernels.layout import Data

# Elements checked for NaN/inf at a time (in whole rows) where the compiled
# scan does not apply: a large (memory-mapped) array is never expanded into a
# boolean array of its full size, and each chunk's booleans stay in cache
# (chunks of 65,536 rows of 784 features checked 60,000 MNIST-sized rows in
# 17 ms, these in 10).
_FINITE_CHUNK_ELEMENTS = 1 << 20
# What kernels.finite.first_non_finite_row scans: 2-D tables of these, C-contiguous.
_COMPILED_SCAN_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_float_matrix(X, dtype, name="X", n_features=None):
    """``X`` as a C-contiguous 2-D array of ``dtype``, checked for shape and NaN/inf.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    dtype : numpy dtype
        The network's precision; values beyond its range are reported, not
        silently turned into infinity.
    name : str
        How the message names the argument.
    n_features : int, optional
        Number of columns required.
    """
    X = _as_numeric_array(X, name)
    if X.ndim != 2:
        hint = f" Reshape your data with {name}.reshape(-1, 1) if it has a single feature." if X.ndim == 1 else ""
        raise ValueError(f"Expected a 2-D array for {name}, got {X.ndim}-D with shape {X.shape}.{hint}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} has 0 examples (shape {X.shape}); at least 1 is required.")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features, but the network expects {n_features}.")
    return _converted(X, dtype, name)


def as_float_examples(X, dtype, shape, name="X"):
    """``X``, examples of ``shape`` each, as the C-contiguous 2-D array of ``dtype`` the kernels read.

    For a ``shape`` of one axis this is :func:`as_float_matrix`; otherwise
    ``X`` has shape ``(n_samples, *shape)``, or ``(n_samples, prod(shape))``
    with each example already flattened, in C order (the last axis fastest,
    as Keras lays out images: height, width, channels).
    """
    shape = tuple(shape)
    if len(shape) == 1:
        return as_float_matrix(X, dtype, name, shape[0])
    X = _as_numeric_array(X, name)
    if not holds_examples_of(X, shape):
        raise ValueError(
            f"{name} must have shape (n_samples, {', '.join(map(str, shape))}) (examples of shape {shape}), "
            f"or (n_samples, {math.prod(shape)}) with each example flattened; got an array of shape {X.shape}."
        )
    if X.shape[0] == 0:
        raise ValueError(f"{name} has 0 examples (shape {X.shape}); at least 1 is required.")
    return _converted(X.reshape(X.shape[0], -1), dtype, name)


def holds_examples_of(X, shape):
    """Whether ``X`` is ``(n_samples, *shape)``, or ``(n_samples, prod(shape))`` with each example flattened."""
    examples = X.shape[1:]
    return examples == shape or examples == (math.prod(shape),)


def plain_training_data(X, y, dtype, input_shape, n_outputs, loss_name):
    """The :class:`~jitprop.kernels.layout.Data` of ``(X, y)`` without weights when both need no conversion, else None.

    The common case, answered in one compiled pass (:func:`~.kernels.finite.usable_examples`)
    and a few comparisons: ``X`` a writeable C-contiguous array of ``dtype``
    with examples of ``input_shape`` (or flattened); ``y`` int64 class
    labels for ``cross_entropy``, or targets of ``dtype`` for ``mse``
    (``(n, n_outputs)``, or ``(n,)`` for one output). A small ``fit`` called
    again and again spent a third of its time beyond its epochs checking
    them the general way. None also when something is wrong with them: the
    general way (:func:`as_float_examples` and :func:`prepare_targets`)
    then says what.
    """
    if type(X) is not np.ndarray or type(y) is not np.ndarray or X.ndim < 2 or y.ndim not in (1, 2):
        return None
    if X.dtype != dtype or X.shape[0] == 0:
        return None
    if not (X.flags.c_contiguous and X.flags.writeable and y.flags.c_contiguous and y.flags.writeable):
        return None
    n = X.shape[0]
    if not holds_examples_of(X, input_shape) or y.shape[0] != n:
        return None
    no_targets = np.zeros((0, n_outputs), dtype=dtype)
    no_labels = np.zeros(0, dtype=np.int64)
    if loss_name == "cross_entropy" and y.ndim == 1 and y.dtype == np.int64:
        targets, labels = no_targets, y
    elif loss_name == "mse" and y.dtype == dtype and (y.shape[1:] == (n_outputs,) or (y.ndim == 1 and n_outputs == 1)):
        targets, labels = y.reshape(n, n_outputs), no_labels
    else:
        return None
    inputs = X.reshape(n, -1)
    if not usable_examples(inputs, targets, labels, n_outputs):
        return None
    return Data(inputs, targets, labels, np.zeros(0))


def check_finite(a, name):
    """Raise ``ValueError`` naming the first NaN or inf in ``a`` (1-D or 2-D)."""
    where = _first_non_finite(a)
    if where is not None:
        raise ValueError(f"Input {name} contains {_kind(a[where])} (first at {_position(a, where)}).")


def prepare_targets(y, loss, n_outputs, n_examples, dtype, name="y"):
    """Targets for ``loss`` as the kernels take them: ``(targets, labels)``.

    Cross-entropy accepts class indices of shape (n,) (kept as int64 labels)
    or rows of non-negative values (probabilities) of shape (n, k). Binary cross-entropy
    takes values in [0, 1], Poisson values >= 0. The other losses take (n, k), or (n,) when the
    network has one output.
    """
    y = _as_numeric_array(y, name)
    if y.ndim not in (1, 2):
        raise ValueError(f"Expected {name} of shape (n,) or (n, {n_outputs}), got shape {y.shape}.")
    if y.shape[0] != n_examples:
        raise ValueError(f"X and {name} have different numbers of examples: {n_examples} and {y.shape[0]}.")
    check_finite(y, name)
    no_labels = np.zeros(0, dtype=np.int64)
    if loss.name == "cross_entropy" and y.ndim == 1:
        return np.zeros((0, n_outputs), dtype=dtype), _class_labels(y, n_outputs, name)
    if y.ndim == 1:
        if n_outputs != 1:
            raise ValueError(
                f"{name} has shape {y.shape}, but the network has {n_outputs} outputs; "
                f"expected shape ({n_examples}, {n_outputs})."
            )
        y = y.reshape(-1, 1)
    if y.shape[1] != n_outputs:
        raise ValueError(f"{name} has {y.shape[1]} columns, but the network has {n_outputs} outputs.")
    if loss.name == "binary_cross_entropy":
        outside = (y < 0) | (y > 1)
        if outside.any():
            row, col = np.argwhere(outside)[0]
            raise ValueError(
                f"Targets for binary_cross_entropy must lie in [0, 1]; {name}[{row}, {col}] = {y[row, col].item()!r}."
            )
    elif loss.name == "poisson" and (y < 0).any():
        # The Poisson deviance is defined for counts and rates, never negative.
        row, col = np.argwhere(y < 0)[0]
        raise ValueError(f"Targets for poisson must be >= 0; {name}[{row}, {col}] = {y[row, col].item()!r}.")
    elif loss.name == "cross_entropy" and (y < 0).any():
        # -Σ t·log p is bounded below only for t >= 0 (rows need not sum to 1).
        row, col = np.argwhere(y < 0)[0]
        raise ValueError(
            f"Target rows for cross_entropy must be >= 0 (probabilities or class weights); "
            f"{name}[{row}, {col}] = {y[row, col].item()!r}."
        )
    return _converted(y, dtype, name), no_labels


def sample_weights(sample_weight, n_examples, name="sample_weight"):
    """Per-example weights as float64 (n,), or an empty array when all are 1.

    The weights must be finite, >= 0, not all zero, and sum to a finite number
    (the mean loss divides by their sum).
    """
    if sample_weight is None:
        return np.zeros(0)
    weights = _as_numeric_array(sample_weight, name)
    if weights.shape != (n_examples,):
        raise ValueError(f"{name} must have shape ({n_examples},), got {weights.shape}.")
    weights = kernel_input(np.ascontiguousarray(weights, dtype=np.float64))
    check_finite(weights, name)
    if (weights < 0).any():
        row = int(np.flatnonzero(weights < 0)[0])
        raise ValueError(f"{name} must be >= 0; row {row} has {weights[row].item()!r}.")
    total = weights.sum()
    if total == 0:
        raise ValueError(f"{name} is 0 for every example; at least one example needs a weight > 0.")
    if not np.isfinite(total):
        raise ValueError(
            f"{name} sums to more than the largest float64 (largest weight {weights.max().item()!r}); "
            f"scale the weights down (only their ratios matter)."
        )
    return weights


def check_outputs_finite(outputs, dtype, what="outputs"):
    """Raise ``FloatingPointError`` if the network's ``outputs`` (2-D) hold NaN or infinity.

    Finite inputs and finite weights can still overflow the network's dtype
    (inputs of 1e30 through large weights, for instance); the result is then
    not an answer, and saying so beats returning NaN.
    """
    where = _first_non_finite(outputs)
    if where is not None:
        raise FloatingPointError(
            f"The network's {what} overflowed {np.dtype(dtype).name}: {_kind(outputs[where])} at "
            f"{_position(outputs, where)}. The inputs are too large for the weights; scale X (standardize "
            f"it, for example) or use dtype='float64'."
        )


def check_loss_finite(loss, dtype, what="loss"):
    """Raise ``FloatingPointError`` if an evaluated ``loss`` is NaN or infinite (see :func:`check_outputs_finite`)."""
    if not np.isfinite(loss):
        raise FloatingPointError(
            f"The {what} is {float(loss)!r}: the computation overflowed {np.dtype(dtype).name}. "
            f"The inputs or targets are too large for the weights; scale them or use dtype='float64'."
        )


# -------------------------------------------------------------- scalars
def positive_int(value, name):
    """``value`` as an int, or ``ValueError`` unless it is an integer >= 1."""
    if type(value) is int and value >= 1:  # (the common case, without the ABC's isinstance: fit asks on every call)
        return value
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


def fraction(value, name):
    """``value`` as a float, or ``ValueError`` unless it is a number in [0, 1)."""
    if type(value) is float and 0.0 <= value < 1.0:  # (as positive_int's)
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}.")
    return float(value)


def boolean(value, name):
    """``value`` as a bool, or ``TypeError`` unless it is a bool (or a NumPy bool)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}.")
    return bool(value)


def instances(values, kind, name, example):
    """``values`` (one instance or an iterable of them) as a list of ``kind`` instances, or ``TypeError``."""
    if values is None:
        return []
    if isinstance(values, kind):
        return [values]
    try:
        values = list(values)
    except TypeError:
        raise TypeError(f"{name} must be a list of {example} objects, got {values!r}.") from None
    for value in values:
        if not isinstance(value, kind):
            raise TypeError(f"{name} must be a list of {example} objects, got an element {value!r}.")
    return values


# -------------------------------------------------------------- helpers
def _as_numeric_array(a, name):
    """``a`` as an ndarray of booleans, integers or floats, or ``TypeError`` naming what it is."""
    if type(a) is np.ndarray and a.dtype.kind in "biuf":  # (what fit is given again and again, at once)
        return a
    if hasattr(a, "toarray") and hasattr(a, "nnz"):  # a SciPy sparse matrix or array
        raise TypeError(f"{name} is a sparse {type(a).__name__}; jitprop needs dense data: pass {name}.toarray().")
    if isinstance(a, np.ma.MaskedArray) and np.ma.getmaskarray(a).any():
        count = int(np.ma.getmaskarray(a).sum())
        raise ValueError(
            f"{name} is a masked array with {count} masked value(s); fill them (np.ma.filled) or drop those rows."
        )
    try:
        arr = np.asarray(a)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} could not be read as an array: {exc}") from None
    if arr.dtype.kind == "O" and arr.ndim == 0:
        shown = repr(a)
        shown = type(a).__name__ if " at 0x" in shown or len(shown) > 60 else f"{type(a).__name__} {shown}"
        raise TypeError(f"{name} must be an array-like of real numbers, got {shown}.")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got an array of dtype {arr.dtype}.")
    return arr


def _converted(a, dtype, name):
    """``a`` as a C-contiguous array of ``dtype``, checked finite; values beyond ``dtype``'s range are named."""
    if a.dtype == dtype and a.flags.c_contiguous:
        converted = kernel_input(a)  # (as it is: no conversion to overflow, and no error state to set up)
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            converted = kernel_input(np.ascontiguousarray(a, dtype=dtype))
    where = _first_non_finite(converted)
    if where is not None:
        original = a[where]
        if np.isfinite(original):
            raise ValueError(
                f"Input {name} contains infinity (first at {_position(a, where)}) once converted to the "
                f"network's {np.dtype(dtype).name}: the value {original} is beyond its range "
                f"(±{float(np.finfo(dtype).max):.3g}); scale {name} or use dtype='float64'."
            )
        check_finite(a, name)  # names the first NaN or inf of the input itself
    return converted


class _Alias:
    """Holds an array interface, and the array whose memory it describes alive."""

    def __init__(self, array):
        self.owner = array
        interface = dict(array.__array_interface__)
        interface["data"] = (interface["data"][0], False)
        self.__array_interface__ = interface


def kernel_input(a):
    """``a`` itself, or for a read-only ``a`` an alias of its memory flagged writeable (see the module docstring).

    Only for arrays the kernels read and never write.
    """
    if a.flags.writeable:
        return a
    if a.size == 0:
        return a.copy()
    return np.asarray(_Alias(a))


def _first_non_finite(a):
    """Index tuple of the first NaN or inf of ``a`` (1-D or 2-D), or None.

    A C-contiguous float table is scanned by :func:`~jitprop.kernels.finite.first_non_finite_row`
    (2.1 times NumPy's ``isfinite`` on 8,192 rows of 784, Intel Xeon of the
    Sapphire Rapids class), anything else by chunks of rows.
    """
    if a.dtype.kind in "biu":
        return None
    if a.ndim == 2 and a.dtype in _COMPILED_SCAN_DTYPES and a.flags.c_contiguous and a.flags.writeable:
        # (Read-only arrays come here as writeable aliases: see kernel_input.)
        row = int(first_non_finite_row(a))
        return None if row < 0 else (row, int(np.flatnonzero(~np.isfinite(a[row]))[0]))
    row_size = max(1, math.prod(a.shape[1:]))
    chunk_rows = max(1, _FINITE_CHUNK_ELEMENTS // row_size)
    for start in range(0, a.shape[0], chunk_rows):
        finite = np.isfinite(a[start : start + chunk_rows])
        if finite.all():
            continue
        where = np.argwhere(~finite)[0]
        return (start + int(where[0]),) + tuple(int(i) for i in where[1:])
    return None


def _kind(value):
    return "NaN" if np.isnan(value) else "infinity"


def _position(a, where):
    return f"row {where[0]}, column {where[1]}" if a.ndim == 2 else f"row {where[0]}"


def step_targets(y, steps, n_classes, n_examples, dtype, name="y"):
    """Targets of a softmax per step, as the kernels take them: ``(targets, labels)``.

    ``y`` holds a class label per step, shape (n, steps), or a row of
    ``n_classes`` non-negative targets per step (one-hot, or probabilities),
    shape (n, steps, n_classes), as :func:`prepare_targets` takes them for
    one softmax. Labels come back flat, (n·steps,) int64, example by
    example, with ``targets`` empty; targets as rows (n·steps, n_classes)
    of ``dtype`` in the same order, with ``labels`` empty.
    """
    y = _as_numeric_array(y, name)
    labels_shape, targets_shape = (n_examples, steps), (n_examples, steps, n_classes)
    if y.shape not in (labels_shape, targets_shape):
        raise ValueError(
            f"A softmax per step takes a class label per step: {name} of shape {labels_shape}, or a row of "
            f"{n_classes} targets (one-hot or probabilities) per step: {name} of shape {targets_shape}; "
            f"got shape {y.shape}."
        )
    check_finite(y, name)
    if y.ndim == 2:
        return np.zeros((0, n_classes), dtype=dtype), _class_labels(y.reshape(-1), n_classes, name)
    if (y < 0).any():
        # -Σ t·log p is bounded below only for t >= 0 (rows need not sum to 1).
        where = tuple(int(i) for i in np.argwhere(y < 0)[0])
        raise ValueError(
            f"Targets for cross_entropy must be >= 0 (probabilities or class weights); "
            f"{name}[{', '.join(map(str, where))}] = {y[where].item()!r}."
        )
    return _converted(y.reshape(n_examples * steps, n_classes), dtype, name), np.zeros(0, dtype=np.int64)


def _class_labels(y, n_outputs, name):
    """Class indices (n,) as int64, checked integral and in [0, n_outputs) before any cast."""
    if y.dtype.kind == "f":
        fractional = y != np.floor(y)
        if fractional.any():
            row = int(np.flatnonzero(fractional)[0])
            raise ValueError(f"Class labels in {name} must be integers; row {row} has {y[row].item()!r}.")
    if y.size and (y.min() < 0 or y.max() >= n_outputs):  # (two passes, no temporaries: a small fit repeats them)
        row = int(np.flatnonzero((y < 0) | (y >= n_outputs))[0])
        label = y[row].item()
        if isinstance(label, (bool, float)):  # integral, checked above
            label = int(label)
        raise ValueError(
            f"Class label {label} at row {row} of {name} is outside the network's "
            f"{n_outputs} outputs (expected 0 to {n_outputs - 1})."
        )
    return kernel_input(np.ascontiguousarray(y, dtype=np.int64))  # (no copy when they are int64 already)
