"""Packed-panel products and packing (jitprop/kernels/panels.py) against NumPy."""

import itertools

import numpy as np
import pytest

from jitprop.kernels.panels import PANEL_ROWS, matmul_tn, pack_columns, pack_rows, padded_width
from jitprop.kernels.tuning import DEPTH_BLOCK
from helpers import DTYPES, dot_tolerance


PANEL_SIZES = [1, 5, PANEL_ROWS, PANEL_ROWS + 1, 16, 17, 33]


PANEL_SHAPES = [(m, n, k) for m, n in itertools.product(PANEL_SIZES, PANEL_SIZES) for k in (0, 1, 13, 64)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n,k", PANEL_SHAPES)
def test_matmul_tn_matches_numpy(rng, m, n, k, dtype):
    a = rng.normal(size=(k, m)).astype(dtype)
    b = rng.normal(size=(k, n)).astype(dtype)
    out = np.full((m, n), np.nan, dtype=dtype)
    buffer = np.full(k * (padded_width(m) + padded_width(n)), np.nan, dtype=dtype)
    matmul_tn(a, b, buffer, out)
    expected = a.astype(np.float64).T @ b.astype(np.float64)
    np.testing.assert_allclose(out, expected, **dot_tolerance(dtype, k))


def test_matmul_tn_leaves_its_operands_alone(rng):
    a = rng.normal(size=(9, 7))
    b = rng.normal(size=(9, 20))
    a0, b0 = a.copy(), b.copy()
    matmul_tn(a, b, np.empty(9 * (padded_width(7) + padded_width(20))), np.empty((7, 20)))
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


@pytest.mark.parametrize("width", [PANEL_ROWS, 16])
def test_pack_columns_cuts_columns_into_zero_padded_panels(rng, width):
    x = rng.normal(size=(5, 2 * width + 3))
    buffer = np.full(5 * 3 * width, np.nan)
    assert pack_columns(x, width, buffer) == 3
    panels = buffer.reshape(3, 5, width)
    np.testing.assert_array_equal(panels[0], x[:, :width])
    np.testing.assert_array_equal(panels[1], x[:, width : 2 * width])
    np.testing.assert_array_equal(panels[2, :, :3], x[:, 2 * width :])
    np.testing.assert_array_equal(panels[2, :, 3:], 0)


@pytest.mark.parametrize("width", [PANEL_ROWS, 16, 32])  # (the wider two as weights are packed)
def test_pack_rows_cuts_rows_into_transposed_zero_padded_panels(rng, width):
    x = rng.normal(size=(2 * width + 3, 5))
    buffer = np.full(3 * 5 * width, np.nan)
    assert pack_rows(x, width, buffer) == 3
    panels = buffer.reshape(3, 5, width)
    np.testing.assert_array_equal(panels[0], x[:width].T)
    np.testing.assert_array_equal(panels[1], x[width : 2 * width].T)
    np.testing.assert_array_equal(panels[2, :, :3], x[2 * width :].T)
    np.testing.assert_array_equal(panels[2, :, 3:], 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "m,depth,n", [(1, 1, 1), (5, 3, 17), (6, 16, 16), (13, 7, 40), (64, 33, 10), (19, 2 * DEPTH_BLOCK + 3, 70)]
)
def test_matmul_packed_b_matches_numpy(rng, m, depth, n, dtype):
    from jitprop.kernels.panels import matmul_packed_b, pack_columns, panel_columns, round_up

    a = rng.normal(size=(m, depth)).astype(dtype)
    b = rng.normal(size=(depth, n)).astype(dtype)
    columns = panel_columns(a)
    b_panels = np.full(depth * round_up(n, columns), np.nan, dtype=dtype)
    pack_columns(b, columns, b_panels)
    out = np.full((m, n), np.nan, dtype=dtype)
    matmul_packed_b(a, b_panels, np.full(depth * round_up(m, PANEL_ROWS), np.nan, dtype=dtype), out)
    np.testing.assert_allclose(out, a.astype(np.float64) @ b.astype(np.float64), **dot_tolerance(dtype, depth))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,depth,n", [(1, 1, 1), (5, 3, 17), (PANEL_ROWS, 16, 16), (13, 7, 40), (17, 64, 256)])
def test_matmul_rows_packed_b_reads_rows_apart_and_sums_as_the_packed_product(rng, m, depth, n, dtype):
    from jitprop.kernels.panels import matmul_packed_b, matmul_rows_packed_b, pack_columns, panel_columns, round_up

    steps = 3
    x = rng.normal(size=(m, steps, depth)).astype(dtype)
    a = x[:, 1]  # rows steps·depth apart
    b = rng.normal(size=(depth, n)).astype(dtype)
    columns = panel_columns(a)
    b_panels = np.full(depth * round_up(n, columns), np.nan, dtype=dtype)
    pack_columns(b, columns, b_panels)
    out = np.full((m, n), np.nan, dtype=dtype)
    matmul_rows_packed_b(a, b_panels, out)
    np.testing.assert_allclose(out, a.astype(np.float64) @ b.astype(np.float64), **dot_tolerance(dtype, depth))
    packed = np.full((m, n), np.nan, dtype=dtype)
    matmul_packed_b(np.ascontiguousarray(a), b_panels, np.full(depth * round_up(m, PANEL_ROWS), np.nan, dtype), packed)
    np.testing.assert_array_equal(out, packed)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,blocks", [(1, 1), (5, 2), (PANEL_ROWS, 1), (17, 3), (64, 16)])
@pytest.mark.parametrize("a_first,b_first", [(0, 0), (0, 1), (1, 0)])
@pytest.mark.parametrize("segments,rows", [(0, 4), (1, 0), (1, 9), (3, 4)])
def test_matmul_tn_in_place_sums_segments_of_rows_as_numpy(rng, m, blocks, a_first, b_first, segments, rows, dtype):
    from jitprop.kernels.panels import matmul_tn_in_place, panel_columns

    period = rows + 1
    total = max(segments, 1) * period
    a = rng.normal(size=(total, m + 3)).astype(dtype)[:, 2 : 2 + m]  # rows m + 3 apart
    n = blocks * panel_columns(a)
    b = rng.normal(size=(total, n)).astype(dtype)
    out = np.full((m, n + 5), np.nan, dtype=dtype)[:, :n]
    matmul_tn_in_place(a, b, a_first, b_first, rows, segments, period, out)
    expected = np.zeros((m, n))
    for s in range(segments):
        a_rows = a[a_first + s * period : a_first + s * period + rows].astype(np.float64)
        expected += a_rows.T @ b[b_first + s * period : b_first + s * period + rows].astype(np.float64)
    np.testing.assert_allclose(out, expected, **dot_tolerance(dtype, segments * rows))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,depth,n", [(1, 1, 1), (32, 7, 16), (33, 13, 17), (64, 100, 10), (70, 3, 40), (5, 9, 8)])
def test_matmul_nt_reading_b_matches_numpy(rng, m, depth, n, dtype):
    from jitprop.kernels.panels import MAX_PANEL_COLUMNS, matmul_nt_reading_b

    a = rng.normal(size=(m, depth)).astype(dtype)
    b = rng.normal(size=(n, depth)).astype(dtype)
    out = np.full((m, n), np.nan, dtype=dtype)
    matmul_nt_reading_b(a, b, np.full(depth * MAX_PANEL_COLUMNS, np.nan, dtype=dtype), out)
    expected = a.astype(np.float64) @ b.astype(np.float64).T
    np.testing.assert_allclose(out, expected, **dot_tolerance(dtype, depth))
    rows = np.full((m, n), np.nan, dtype=dtype)  # (b's rows read where they lie: a view of every other row)
    wide = np.repeat(b, 2, axis=0)
    matmul_nt_reading_b(a, wide[::2], np.empty(depth * MAX_PANEL_COLUMNS, dtype=dtype), rows)
    np.testing.assert_array_equal(rows, out)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,depth,n", [(1, 5, 3), (64, 30, 16), (150, 47, 33)])
def test_the_parallel_micro_kernel_product_sums_each_row_as_one_call_does(rng, m, depth, n, dtype):
    from jitprop.kernels.panels import (
        MAX_PANEL_COLUMNS,
        matmul_nt_reading_b,
        parallel_matmul_nt_reading_b,
        parallel_reading_b_scratch,
    )

    a = rng.normal(size=(m, depth)).astype(dtype)
    b = rng.normal(size=(n, depth)).astype(dtype)
    out = np.full((m, n), np.nan, dtype=dtype)
    scratch = np.full(parallel_reading_b_scratch(m, depth, a.itemsize), np.nan, dtype=dtype)
    parallel_matmul_nt_reading_b(a, b, scratch, out)
    whole = np.full((m, n), np.nan, dtype=dtype)
    matmul_nt_reading_b(a, b, np.empty(depth * MAX_PANEL_COLUMNS, dtype=dtype), whole)
    np.testing.assert_array_equal(out, whole)
    expected = a.astype(np.float64) @ b.astype(np.float64).T
    np.testing.assert_allclose(out, expected, **dot_tolerance(dtype, depth))


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_half_block_sums_the_first_half_of_a_whole_blocks_columns_alike_and_writes_nothing_else(rng, dtype):
    from numba import njit

    from jitprop.kernels._numba.microkernel import outer_product_block, outer_product_half_block
    from jitprop.kernels.panels import panel_columns

    @njit
    def blocks(a, b, whole, half):
        outer_product_block(a, b, whole, 0, 0)
        outer_product_half_block(a, b, half, 0, 0)

    columns = int(panel_columns.py_func(np.zeros(1, dtype)))
    a = rng.standard_normal((37, PANEL_ROWS)).astype(dtype)
    b = rng.standard_normal((37, columns + 5)).astype(dtype)  # (a block of columns of a wider matrix)
    whole = np.full((PANEL_ROWS, columns), np.nan, dtype)
    half = np.full((PANEL_ROWS, columns), np.nan, dtype)
    blocks(a, b, whole, half)
    np.testing.assert_array_equal(half[:, : columns // 2], whole[:, : columns // 2])
    assert np.isnan(half[:, columns // 2 :]).all()
    np.testing.assert_allclose(whole, a.T @ b[:, :columns], **dot_tolerance(dtype, 37))


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_sum_cut_into_parts_added_onto_the_block_gives_the_bits_of_one_sum(rng, dtype):
    from numba import njit

    from jitprop.kernels._numba.microkernel import outer_product_block, outer_product_block_onto
    from jitprop.kernels.panels import panel_columns

    @njit
    def in_parts(a, b, whole, parts, cut):
        outer_product_block(a, b, whole, 0, 0)
        outer_product_block(a[:cut], b[:cut], parts, 1, 0)
        outer_product_block_onto(a[cut:], b[cut:], parts, 1, 0)

    columns = int(panel_columns.py_func(np.zeros(1, dtype)))
    a = rng.standard_normal((41, PANEL_ROWS)).astype(dtype)
    b = rng.standard_normal((41, columns)).astype(dtype)
    whole = np.full((PANEL_ROWS, columns), np.nan, dtype)
    parts = np.full((PANEL_ROWS + 2, columns), np.nan, dtype)  # (the block one row down)
    in_parts(a, b, whole, parts, 17)
    np.testing.assert_array_equal(parts[1:-1], whole)
    assert np.isnan(parts[[0, -1]]).all()
    np.testing.assert_allclose(whole, a.T @ b, **dot_tolerance(dtype, 41))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("height", [PANEL_ROWS, 3])
def test_a_block_stored_transposed_holds_the_blocks_bits_and_writes_nothing_else(rng, dtype, height):
    from numba import njit

    from jitprop.kernels._numba.microkernel import outer_product_strided_block, outer_product_strided_block_transposed
    from jitprop.kernels.panels import panel_columns

    columns = int(panel_columns.py_func(np.zeros(1, dtype)))
    depth, i0, j0 = 23, 3, 2

    @njit
    def both(a, b, block, out):
        # The rows of the block are rows of a (a_r = depth), read along k; b is one panel.
        geometry = (0, 1, depth, PANEL_ROWS, 0, columns, depth, 1, 0, 0, 0, 0)
        outer_product_strided_block(a, b, block, geometry)
        geometry = (0, 1, depth, height, 0, columns, depth, 1, 0, 0, i0, j0)
        outer_product_strided_block_transposed(a, b, out, geometry)

    a = rng.standard_normal((PANEL_ROWS, depth)).astype(dtype)
    b = rng.standard_normal((depth, columns)).astype(dtype)
    block = np.full((PANEL_ROWS, columns), np.nan, dtype)
    out = np.full((j0 + columns + 1, i0 + PANEL_ROWS + 1), np.nan, dtype)
    both(a, b, block, out)
    np.testing.assert_array_equal(out[j0 : j0 + columns, i0 : i0 + height], block[:height].T)
    inside = np.zeros(out.shape, bool)
    inside[j0 : j0 + columns, i0 : i0 + height] = True  # (the rows past height are written back as they were)
    assert np.isnan(out[~inside]).all()
    np.testing.assert_allclose(block, a @ b, **dot_tolerance(dtype, depth))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("rows", "height"), [(2, 2), (2, 1), (4, 4), (4, 3)])
@pytest.mark.parametrize("vectors", [2, 1])
def test_a_short_block_adds_the_sums_of_a_full_block_s_rows_and_writes_no_other_row(rng, dtype, rows, height, vectors):
    from numba import njit

    from jitprop.kernels._numba import microkernel as mk
    from jitprop.kernels.panels import panel_columns

    columns = int(panel_columns.py_func(np.zeros(1, dtype)))
    depth = 23
    full_block = mk.outer_product_strided_block_onto if vectors == 2 else mk.outer_product_strided_half_block_onto
    short_block = mk.outer_product_strided_short_block_onto
    if vectors == 1:
        short_block = mk.outer_product_strided_short_half_block_onto

    @njit
    def both(a, b, full, short, height):
        # The rows of the block are rows of a (a_r = depth), read along k, the first `height` of them. (A
        # height known to LLVM would let it share the products of the full block's repeated rows, unfused.)
        geometry = (0, 1, depth, height, 0, columns, depth, 1, 0, 0, 0, 0)
        full_block(a, b, full, geometry)
        geometry = (0, 1, depth, height, 0, columns, depth, 1, 0, 0, 1, 0)  # (one row down)
        short_block(a, b, short, geometry, rows)

    a = rng.standard_normal((PANEL_ROWS, depth)).astype(dtype)
    b = rng.standard_normal((depth, columns)).astype(dtype)
    start = rng.standard_normal((PANEL_ROWS, columns)).astype(dtype)
    full = start.copy()
    short = np.full((rows + 2, columns), np.nan, dtype)
    short[1 : rows + 1] = start[:rows]
    both(a, b, full, short, height)
    width = columns * vectors // 2
    np.testing.assert_array_equal(short[1 : height + 1, :width], full[:height, :width])
    assert np.isnan(short[[0, -1]]).all()
    np.testing.assert_array_equal(short[1 : rows + 1, width:], start[:rows, width:])
    expected = start[:height, :width] + a[:height] @ b[:, :width]
    np.testing.assert_allclose(short[1 : height + 1, :width], expected, **dot_tolerance(dtype, depth))
