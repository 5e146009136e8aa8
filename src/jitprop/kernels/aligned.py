"""Arrays that start at a cache line: what the kernels' vector loads read without straddling two lines.

NumPy places an array's data at a multiple of 16 bytes. A 64-byte vector
load (AVX-512) from an address off a cache line reads two lines, and on a
row of weights that starts off a line every load of the row does. The
forward product of one example reads each weight once and is limited by
how fast they come in from the cache: on an Intel Xeon of the Sapphire
Rapids class, ``matmul_nt`` of one row against 128 x 784 float32 weights
took 3.4 µs with the weights at a cache line and 4.7 to 5.0 µs with them
16 or 48 bytes past one.

The network's parameters and packed panels, and every workspace, are
allocated here; a row of ``k`` elements then starts at a line whenever
``k`` times the item size is a multiple of 64.
"""

import numpy as np

#: Bytes of a cache line, and of an AVX-512 vector.
ALIGNMENT = 64


def aligned_size(nbytes):
    """``nbytes`` rounded up to a multiple of :data:`ALIGNMENT`."""
    return -(-nbytes // ALIGNMENT) * ALIGNMENT


def aligned_memory(nbytes):
    """A uint8 array of ``nbytes`` whose first byte is at a multiple of :data:`ALIGNMENT`."""
    block = np.empty(nbytes + ALIGNMENT, dtype=np.uint8)
    start = -block.ctypes.data % ALIGNMENT
    return block[start : start + nbytes]


def aligned_empty(shape, dtype):
    """An uninitialised C-contiguous array of ``shape`` and ``dtype`` that starts at a cache line.

    Parameters
    ----------
    shape : int or tuple of int
    dtype : dtype-like

    Returns
    -------
    ndarray
        Of the given shape and dtype, C-contiguous, writeable, its data at
        a multiple of :data:`ALIGNMENT` bytes (a view of a slightly larger
        block, which it keeps alive).
    """
    dtype = np.dtype(dtype)
    shape = (shape,) if np.ndim(shape) == 0 else tuple(shape)
    count = int(np.prod(shape, dtype=np.int64))
    return aligned_memory(count * dtype.itemsize).view(dtype).reshape(shape)


def aligned_zeros(shape, dtype):
    """:func:`aligned_empty` filled with zeros."""
    array = aligned_empty(shape, dtype)
    array[...] = 0
    return array
