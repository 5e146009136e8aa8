"""Dot-product and plain-loop matrix products (jitprop/kernels/matmul.py) against NumPy."""

import itertools

import numpy as np
import pytest

from jitprop.kernels.matmul import matmul_nt
from helpers import DTYPES, dot_tolerance


# 1 and odd sizes test the 4-row / 4-column remainders; 67 and 130 cross the
# 64-column block of matmul_nt (130 = 2 blocks + 2).
MATMUL_SIZES = [1, 3, 5, 7, 67, 130]


MATMUL_SHAPES = [(m, n, k) for m, n in itertools.product(MATMUL_SIZES, MATMUL_SIZES) for k in (1, 7, 67)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n,k", MATMUL_SHAPES)
def test_matmul_nt_matches_numpy(rng, m, n, k, dtype):
    a = rng.normal(size=(m, k)).astype(dtype)
    b = rng.normal(size=(n, k)).astype(dtype)
    out = rng.normal(size=(m, n)).astype(dtype)
    matmul_nt(a, b, out)
    expected = a.astype(np.float64) @ b.astype(np.float64).T
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_allclose(out, expected, **dot_tolerance(dtype, k))


def test_matmul_nt_overwrites_garbage(rng):
    a = rng.normal(size=(5, 3))
    b = rng.normal(size=(6, 3))
    out = np.full((5, 6), np.nan)
    matmul_nt(a, b, out)
    np.testing.assert_allclose(out, a @ b.T, rtol=1e-14, atol=1e-14)


def test_matmul_nt_writes_only_out(rng):
    a = rng.normal(size=(7, 5))
    b = rng.normal(size=(67, 5))
    a0, b0 = a.copy(), b.copy()
    matmul_nt(a, b, np.zeros((7, 67)))
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


#: ``out = a @ bᵀ`` products other than matmul_nt itself, each with its shapes: the parallel one over rows
#: (150 rows: three parallel blocks), and the one written into its caller over tiny products.
NT_PRODUCTS = [
    *(("parallel_matmul_nt", shape) for shape in [(1, 3, 2), (50, 7, 33), (150, 64, 130)]),
    *(("small_matmul_nt", shape) for shape in [(1, 1, 1), (1, 2, 2), (3, 5, 7), (64, 2, 2)]),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("product", "shape"), NT_PRODUCTS)
def test_other_nt_products_match_numpy(rng, product, shape, dtype):
    from jitprop.kernels import matmul

    m, k, n = shape
    a = rng.normal(size=(m, k)).astype(dtype)
    b_t = rng.normal(size=(n, k)).astype(dtype)
    out = np.full((m, n), np.nan, dtype=dtype)
    getattr(matmul, product)(a, b_t, out)
    np.testing.assert_allclose(out, a.astype(np.float64) @ b_t.astype(np.float64).T, **dot_tolerance(dtype, k))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n", [(1, 784, 256), (3, 67, 130), (5, 7, 64), (2, 3, 5)])  # 130: a ragged last block
def test_columns_in_parallel_sum_as_one_call(rng, m, k, n, dtype):
    from jitprop._threading import parallel_region, thread_count
    from jitprop.kernels.matmul import parallel_columns_matmul_nt

    a = rng.normal(size=(m, k)).astype(dtype)
    b_t = rng.normal(size=(n, k)).astype(dtype)
    serial = np.empty((m, n), dtype=dtype)
    matmul_nt(a, b_t, serial)
    for threads in (1, 2):
        out = np.full((m, n), np.nan, dtype=dtype)
        with thread_count(threads), parallel_region():
            parallel_columns_matmul_nt(a, b_t, out)
        np.testing.assert_array_equal(out, serial)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (1, 2, 2), (3, 5, 7), (7, 13, 15), (64, 2, 3)])
@pytest.mark.parametrize("product", ["matmul_nn", "small_matmul_nn"])  # (the second written into its caller)
def test_narrow_layer_products_match_numpy(rng, product, m, k, n, dtype):
    from jitprop.kernels import matmul

    matmul_nn = getattr(matmul, product)
    a = rng.normal(size=(m, k)).astype(dtype)
    b = rng.normal(size=(k, n)).astype(dtype)
    out = np.full((m, n), np.nan, dtype=dtype)
    matmul_nn(a, b, out)
    np.testing.assert_allclose(out, a.astype(np.float64) @ b.astype(np.float64), **dot_tolerance(dtype, k))
    c = rng.normal(size=(m, n)).astype(dtype)
    out = np.full((k, n), np.nan, dtype=dtype)
    matmul_nn(a.T, c, out)
    np.testing.assert_allclose(out, a.astype(np.float64).T @ c.astype(np.float64), **dot_tolerance(dtype, m))
