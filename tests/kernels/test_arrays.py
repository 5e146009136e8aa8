"""Array intrinsics (jitprop/kernels/_numba/arrays.py): untracked copies, arguments apart and prefetches."""

import numpy as np
import pytest

from helpers import compiled_llvm


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


def _add_rows(apart):
    """A fresh (uncached) kernel writing one array from two others, with its arguments apart or not."""
    from numba import njit

    from jitprop.kernels._numba.arrays import arguments_apart

    def kernel(a, b, out):
        if apart:
            arguments_apart()
        for i in range(out.shape[0]):
            out[i] = a[i] * b[i] + a[i]

    return njit(fastmath=True)(kernel)


def test_a_kernel_with_its_arguments_apart_vectorizes_without_run_time_alias_checks(rng):
    a, b = rng.random(100, dtype=np.float32), rng.random(100, dtype=np.float32)
    apart = compiled_llvm(_add_rows(apart=True), a, b, np.empty_like(a))
    checked = compiled_llvm(_add_rows(apart=False), a, b, np.empty_like(a))
    assert "vector.memcheck" in checked
    assert "vector.memcheck" not in apart
    assert "vector.body" in apart
    # Every pointer the function takes is marked, the arrays' data included.
    definition = next(line for line in apart.splitlines() if line.startswith("define") and "arg.out" in line)
    pointers = [p for p in definition.split("(", 1)[1].split(",") if "ptr" in p]
    assert pointers and all("noalias" in p for p in pointers)


def test_a_kernel_with_its_arguments_apart_computes_the_same_values(rng):
    a, b = rng.random(1001, dtype=np.float32), rng.random(1001, dtype=np.float32)
    outputs = []
    for apart in (True, False):
        out = np.empty_like(a)
        _add_rows(apart)(a, b, out)
        outputs.append(out)
    np.testing.assert_array_equal(outputs[0], outputs[1])
    np.testing.assert_allclose(outputs[0], a * b + a, rtol=1e-6)
