"""Matrix products on unpacked operands: dot products over long rows, and narrow layers.

Most products run from packed panels (:mod:`.panels`); these run here
(:func:`~.dense.forward_from_panels` and :mod:`.tuning` decide which):

* ``matmul_nt(a, b, out)``: ``out = a @ b.T`` with both operands row-major,
  so that every output element is a dot product of two contiguous rows: the
  forward product ``Z = A Wtᵀ`` of a layer with few outputs (10 classes),
  where a panel (16 or 32 wide) would be mostly padding, and of a layer
  with many inputs (``MAX_DOT_INPUTS`` or more, such as a 784-input first layer),
  whose long rows it runs as fast as the panels do without a packed copy of
  the weights;
* :func:`matmul_nn`: a plain loop for the input gradient (``D Wt``) and the
  weight gradient (``Dᵀ A``, with ``a`` a transposed view) of a layer with
  few inputs.

Products of a few dozen multiply-adds (a 2-2-2 network's) run as plain loops
written into their caller (:func:`small_matmul_nt`, :func:`small_matmul_nn`):
a call would cost more than they do.

The micro-kernel keeps a 4 x 4 block of the output in sixteen scalar
accumulators. With reassociation allowed, LLVM turns each into a vector
register and the inner loop into fused multiply-adds over ``k``; this form
reaches several times the speed of an output-in-memory (axpy) loop. The
innermost loop runs over ``range(k)`` from 0 on 1-D row views: offsets inside
the loop or ranges that start elsewhere defeat the vectorizer.

These loops run at LLVM's own vector width for the host. At the
micro-kernel's (:mod:`._numba.vector_width`) a row left over from the 4-high
blocks was 1.10 times faster on Intel's Sapphire Rapids, but its sums no
longer rounded as the blocks' do: a prediction of one example then differed
from the same row of a larger batch (scikit-learn's subset-invariance check).
At LLVM's own width they may differ too, by the host: on an Intel Xeon of
the Emerald Rapids class LLVM sums a left-over row's eight dot products in
two vector registers each (16 lanes) and the blocks' in one (8 lanes): a
row of 784 standard normal inputs against 256 such rows of weights came
out up to 2.3e-5 apart alone and in a block (float32 sums of some 30 in
size). Each sum is still the same whatever the thread count.
"""

from numba import njit

from ._numba.options import INLINED_KERNEL, KERNEL
from ._numba.parallel import run_tasks

from .tuning import COLUMN_BLOCK, PARALLEL_ROWS


@njit(**KERNEL)
def matmul_nt(a, b, out):
    """``out[i, j] = sum_p a[i, p] * b[j, p]`` for C-contiguous 2-D arrays.

    Parameters
    ----------
    a : ndarray of shape (m, k)
    b : ndarray of shape (n, k)
    out : ndarray of shape (m, n)
        Written in place.
    """
    m, k = a.shape
    n = b.shape[0]
    zero = out.dtype.type(0)
    m4 = m - m % 4
    for j0 in range(0, n, COLUMN_BLOCK):
        j1 = min(n, j0 + COLUMN_BLOCK)
        j4 = j1 - (j1 - j0) % 4
        for i in range(0, m4, 4):
            a0 = a[i]
            a1 = a[i + 1]
            a2 = a[i + 2]
            a3 = a[i + 3]
            for j in range(j0, j4, 4):
                b0 = b[j]
                b1 = b[j + 1]
                b2 = b[j + 2]
                b3 = b[j + 3]
                # (The sixteen sums, laid out as the block.)
                # fmt: off
                s00 = zero; s01 = zero; s02 = zero; s03 = zero  # noqa: E702
                s10 = zero; s11 = zero; s12 = zero; s13 = zero  # noqa: E702
                s20 = zero; s21 = zero; s22 = zero; s23 = zero  # noqa: E702
                s30 = zero; s31 = zero; s32 = zero; s33 = zero  # noqa: E702
                # fmt: on
                for p in range(k):
                    x0 = a0[p]
                    x1 = a1[p]
                    x2 = a2[p]
                    x3 = a3[p]
                    y0 = b0[p]
                    y1 = b1[p]
                    y2 = b2[p]
                    y3 = b3[p]
                    # fmt: off
                    s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3  # noqa: E702
                    s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3  # noqa: E702
                    s20 += x2 * y0; s21 += x2 * y1; s22 += x2 * y2; s23 += x2 * y3  # noqa: E702
                    s30 += x3 * y0; s31 += x3 * y1; s32 += x3 * y2; s33 += x3 * y3  # noqa: E702
                    # fmt: on
                out[i, j] = s00
                out[i, j + 1] = s01
                out[i, j + 2] = s02
                out[i, j + 3] = s03
                out[i + 1, j] = s10
                out[i + 1, j + 1] = s11
                out[i + 1, j + 2] = s12
                out[i + 1, j + 3] = s13
                out[i + 2, j] = s20
                out[i + 2, j + 1] = s21
                out[i + 2, j + 2] = s22
                out[i + 2, j + 3] = s23
                out[i + 3, j] = s30
                out[i + 3, j + 1] = s31
                out[i + 3, j + 2] = s32
                out[i + 3, j + 3] = s33
            for j in range(j4, j1):
                # Columns left over from the 4-wide blocks: a 4 x 1 block.
                bj = b[j]
                s0 = zero; s1 = zero; s2 = zero; s3 = zero  # noqa: E702  # fmt: skip
                for p in range(k):
                    y = bj[p]
                    s0 += a0[p] * y
                    s1 += a1[p] * y
                    s2 += a2[p] * y
                    s3 += a3[p] * y
                out[i, j] = s0
                out[i + 1, j] = s1
                out[i + 2, j] = s2
                out[i + 3, j] = s3
        for i in range(m4, m):
            _row_times_nt(a[i], b, out[i], j0, j1)


@njit(**INLINED_KERNEL)
def _row_times_nt(ai, b, out_i, j0, j1):
    """``out_i[j] = ai · b[j]`` for ``j0 <= j < j1``: a row left over from the 4-high blocks.

    Eight dot products at a time, each summed in a vector register of its
    own: the row's elements are read once for eight rows of ``b``, and the
    eight chains of additions overlap (one at a time, a single row, as in a
    prediction of one example, ran 1.4 times slower).
    """
    k = ai.shape[0]
    zero = out_i.dtype.type(0)
    j8 = j1 - (j1 - j0) % 8
    for j in range(j0, j8, 8):
        b0 = b[j]
        b1 = b[j + 1]
        b2 = b[j + 2]
        b3 = b[j + 3]
        b4 = b[j + 4]
        b5 = b[j + 5]
        b6 = b[j + 6]
        b7 = b[j + 7]
        s0 = zero; s1 = zero; s2 = zero; s3 = zero; s4 = zero; s5 = zero; s6 = zero; s7 = zero  # noqa: E702  # fmt: skip
        for p in range(k):
            x = ai[p]
            # fmt: off
            s0 += x * b0[p]; s1 += x * b1[p]; s2 += x * b2[p]; s3 += x * b3[p]  # noqa: E702
            s4 += x * b4[p]; s5 += x * b5[p]; s6 += x * b6[p]; s7 += x * b7[p]  # noqa: E702
            # fmt: on
        out_i[j] = s0
        out_i[j + 1] = s1
        out_i[j + 2] = s2
        out_i[j + 3] = s3
        out_i[j + 4] = s4
        out_i[j + 5] = s5
        out_i[j + 6] = s6
        out_i[j + 7] = s7
    for j in range(j8, j1):
        bj = b[j]
        s = zero
        for p in range(k):
            s += ai[p] * bj[p]
        out_i[j] = s


@njit(**KERNEL)
def parallel_matmul_nt(a, b, out):
    """``out = a @ b.T`` with the rows of ``a`` cut into fixed blocks that run in parallel.

    The forward product of a wide layer over a whole batch, on every thread:
    the form ``jitprop bench`` sets against BLAS (training parallelises over
    tiles of examples instead).
    """
    run_tasks(_matmul_rows_nt, (a.shape[0] + PARALLEL_ROWS - 1) // PARALLEL_ROWS, (a, b, out))


@njit(**KERNEL)
def _matmul_rows_nt(a, b, out, block):
    """Block ``block`` of rows of :func:`parallel_matmul_nt`."""
    lo = block * PARALLEL_ROWS
    hi = min(a.shape[0], lo + PARALLEL_ROWS)
    matmul_nt(a[lo:hi], b, out[lo:hi])


@njit(**KERNEL)
def parallel_columns_matmul_nt(a, b, out):
    """``out = a @ b.T`` with the rows of ``b`` (the columns of ``out``) cut into blocks that run in parallel.

    For a product of few rows (one example's): a task per block of
    ``COLUMN_BLOCK`` columns, which :func:`matmul_nt` visits one at a time
    anyway, so every output is computed as in one call, bit for bit.
    """
    run_tasks(_matmul_columns_nt, -(-b.shape[0] // COLUMN_BLOCK), (a, b, out))


@njit(**KERNEL)
def _matmul_columns_nt(a, b, out, block):
    """Block ``block`` of ``COLUMN_BLOCK`` columns of :func:`parallel_columns_matmul_nt`."""
    lo = block * COLUMN_BLOCK
    hi = min(b.shape[0], lo + COLUMN_BLOCK)
    matmul_nt(a, b[lo:hi], out[:, lo:hi])


@njit(**KERNEL)
def matmul_nn(a, b, out):
    """``out = a @ b`` for ``a`` (m, k) of any layout and C-contiguous ``b`` (k, n): rows of ``b`` added up, scaled."""
    small_matmul_nn(a, b, out)


@njit(**INLINED_KERNEL)
def small_matmul_nn(a, b, out):
    """:func:`matmul_nn` written into its caller: for products that take less time than a call.

    Each row of ``out`` starts from its first term instead of zeros (``0 + x·y``
    rounds to ``x·y``: the same bits), so no row of a few elements is
    cleared first, which was a call (to ``memset``) and left each first
    addition waiting on that store.
    """
    m, k = a.shape
    n = b.shape[1]
    zero = out.dtype.type(0)
    for i in range(m):
        target = out[i]
        ai = a[i]
        if k == 0:
            for j in range(n):
                target[j] = zero
            continue
        scale = ai[0]
        b0 = b[0]
        for j in range(n):
            target[j] = scale * b0[j]
        for p in range(1, k):
            scale = ai[p]
            bp = b[p]
            for j in range(n):
                target[j] += scale * bp[j]


@njit(**INLINED_KERNEL)
def small_matmul_nt(a, b, out):
    """``out = a @ b.T`` as plain loops written into the caller: for products that take less time than a call."""
    zero = out.dtype.type(0)
    for i in range(a.shape[0]):
        ai = a[i]
        for j in range(b.shape[0]):
            bj = b[j]
            s = zero
            for p in range(ai.shape[0]):
                s += ai[p] * bj[p]
            out[i, j] = s
