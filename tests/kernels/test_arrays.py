"""Array intrinsics (jitprop/kernels/_numba/arrays.py): untracked copies, arguments apart, prefetches, rows in place."""

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


def test_rows_in_place_are_a_view_where_the_rows_lie_in_order_and_the_types_agree(rng):
    from numba import njit

    from jitprop.kernels._numba.arrays import rows_in_place

    @njit
    def place(table, index, r0, r1, like):
        view, in_place = rows_in_place(table, index, r0, r1, like)
        return view.copy(), in_place, view.ctypes.data

    table = rng.random((10, 4)).astype(np.float32)
    like = np.zeros((3, 4), np.float32)
    rows, in_place, address = place(table, np.array([0, 5, 6, 7, 2]), 1, 4, like)
    assert in_place and address == table[5:].ctypes.data
    np.testing.assert_array_equal(rows, table[5:8])
    # Out of order, or not consecutive: the block, to be filled by copying.
    for index in ([0, 5, 7, 6, 2], [0, 5, 6, 8, 2], [0, 7, 6, 5, 2]):
        rows, in_place, address = place(table, np.array(index), 1, 4, like)
        assert not in_place and address == like.ctypes.data
    # One row is in order; no rows are not in place.
    assert place(table, np.array([3]), 0, 1, like[:1])[1]
    assert not place(table, np.array([3]), 1, 1, like[:0])[1]
    # A view of another type (read-only rows, or another precision) is never taken.
    readonly = table.copy()
    readonly.flags.writeable = False
    assert not place(readonly, np.array([5, 6, 7]), 0, 3, like)[1]
    assert not place(table.astype(np.float64), np.array([5, 6, 7]), 0, 3, like)[1]


def test_a_forward_pass_reading_rows_in_place_gives_the_bits_of_one_that_copies_them(rng):
    import jitprop as jp

    # A gradient pass copies the rows (its backward pass reads them again); an evaluation reads them in place.
    # With one tile each (a small network, few rows) their losses are summed alike: they agree bit for bit.
    net = jp.Network([jp.Dense(40, "relu"), jp.Dense(3, "softmax")], input_dim=30, loss="cross_entropy", seed=0)
    X = rng.random((20, 30)).astype(np.float32)
    y = rng.integers(0, 3, 20)
    for rows in (1, 7, 20):
        loss, _ = net.loss_and_grads(X[:rows], y[:rows])
        assert net.evaluate(X[:rows], y[:rows])["loss"] == loss
