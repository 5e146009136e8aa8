"""Array intrinsics (jitprop/kernels/_numba/arrays.py): untracked copies and prefetches."""

import numpy as np
import pytest


def test_untracked_copies_share_memory_with_the_arrays_in_a_tuple(rng):
    from numba import njit

    from jitprop.kernels.layout import Data, untracked

    @njit
    def double_through_untracked(data, extra):
        (data, extra) = untracked((data, extra))
        for i in range(data.inputs.shape[0]):
            for j in range(data.inputs.shape[1]):
                data.inputs[i, j] *= 2
        extra[0] += 1
        return data.labels.sum() + data.weights.shape[0]

    inputs = rng.random((5, 3))
    data = Data(inputs.copy(), np.zeros((0, 3)), np.arange(5), np.zeros(0))
    extra = np.zeros(2)
    assert double_through_untracked(data, extra) == 10
    np.testing.assert_array_equal(data.inputs, 2 * inputs)
    np.testing.assert_array_equal(extra, [1, 0])


def test_prefetching_rows_changes_nothing(rng):
    from numba import njit

    from jitprop.kernels.layout import Data
    from jitprop.kernels.prefetch import prefetch, prefetch_examples

    @njit
    def sum_after_prefetch(table, column):
        total = 0.0
        for i in range(table.shape[0]):
            prefetch(table, i)
            prefetch(column, i)
            total += table[i].sum() + column[i]
        return total

    table, column = rng.random((7, 4)), rng.random(7)
    assert sum_after_prefetch(table, column) == pytest.approx(table.sum() + column.sum())
    for labels, targets in ((np.arange(7), np.zeros((0, 4))), (np.zeros(0, np.int64), table.copy())):
        data = Data(table.copy(), targets.copy(), labels.copy(), np.zeros(0))
        order = rng.permutation(7)
        # Past the end of the order, and a range of none: nothing is read.
        for start, stop in ((0, 7), (5, 7), (7, 7), (3, 2)):
            prefetch_examples(data, order, start, stop)
        np.testing.assert_array_equal(data.inputs, table)
        np.testing.assert_array_equal(data.targets, targets)
        np.testing.assert_array_equal(data.labels, labels)
