"""Whether values are finite, and where the first NaN or infinity of a table lies, in one compiled pass.

Every array a user passes is checked before the kernels read it, and each
update checks the parameters and the optimizer's state it wrote. NumPy's
``isfinite`` writes a boolean per element before anything is reduced; this
pass reads each row once and keeps nothing: ``x · 0`` is 0 for every finite
``x`` and NaN for a NaN or an infinity, so a row's sum of them says whether it
holds one, a sum LLVM vectorizes without a branch per element. (The kernels
keep NaN and infinity meaningful: ``nnan`` and ``ninf`` are not among their
fastmath flags, so ``x · 0`` is not folded to 0.)
"""

from numba import njit

from ._numba.options import INLINED_KERNEL, KERNEL
from ._numba.vector_width import use_register_width


@njit(**INLINED_KERNEL)
def finite_row(row):
    """Whether every element of the 1-D ``row`` is finite (one pass, no branch per element)."""
    zero = row.dtype.type(0)
    total = zero
    for j in range(row.shape[0]):
        total += row[j] * zero
    return total == zero  # (NaN: -0.0, the sum of negative values' products, equals 0)


@njit(**KERNEL)
def first_non_finite_row(rows):
    """Index of the first row of ``rows`` that holds a NaN or an infinity, or -1 if none does.

    Parameters
    ----------
    rows : ndarray of shape (n, k)
        C-contiguous, float32 or float64.
    """
    use_register_width()
    for i in range(rows.shape[0]):
        if not finite_row(rows[i]):
            return i
    return -1


@njit(**KERNEL)
def usable_examples(inputs, targets, labels, classes):
    """Whether every input and target is finite and every class label lies in ``[0, classes)``.

    What :func:`~jitprop._checks.plain_training_data` asks of a training set,
    in one call and without a branch per row: each array is summed as one
    run of values (where the first bad one lies is left to the general
    checks, which name it).

    Parameters
    ----------
    inputs : ndarray of shape (n, k)
        C-contiguous, float32 or float64.
    targets : ndarray of shape (n, outputs) or (0, outputs)
        Of the inputs' dtype, C-contiguous; none when the examples have labels.
    labels : int64 ndarray of shape (n,) or (0,)
        Class indices; none when the examples have targets.
    classes : int
    """
    use_register_width()
    outside = 0
    for i in range(labels.shape[0]):
        outside |= (labels[i] < 0) | (labels[i] >= classes)
    return finite_row(inputs.ravel()) and finite_row(targets.ravel()) and outside == 0
