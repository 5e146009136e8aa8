"""The first row holding NaN or infinity, in one compiled pass (jitprop/kernels/finite.py)."""

import numpy as np
import pytest

from jitprop.kernels.finite import first_non_finite_row
from helpers import DTYPES


def _reference(rows):
    """The first row with a non-finite value, the straightforward way (-1 for none)."""
    for i, row in enumerate(rows):
        if not all(np.isfinite(value) for value in row):
            return i
    return -1


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (40, 784), (300, 17), (5, 0), (0, 4)])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, None])
def test_the_first_row_with_nan_or_infinity_is_found(rng, shape, bad, dtype):
    rows = rng.normal(size=shape).astype(dtype)
    if bad is not None and rows.size:
        # Two bad values, the later one first in its row: the earlier row is the answer.
        for _ in range(2):
            rows[rng.integers(shape[0]), rng.integers(shape[1])] = bad
    assert first_non_finite_row(rows) == _reference(rows)


@pytest.mark.parametrize("dtype", DTYPES)
def test_finite_extremes_are_finite(dtype):
    info = np.finfo(dtype)
    values = [info.max, -info.max, info.tiny, info.tiny / 4, -0.0, 0.0, info.smallest_subnormal, 1.0]
    rows = np.array([values, values[::-1]], dtype=dtype)
    assert first_non_finite_row(rows) == -1
    rows[1, -1] = np.nan
    assert first_non_finite_row(rows) == 1
