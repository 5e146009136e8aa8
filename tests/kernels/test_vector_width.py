"""use_register_width: LLVM vectorizes a marked kernel's loops as wide as the micro-kernel's registers."""

import numpy as np
import pytest
from numba import njit

from jitprop.kernels._numba.microkernel import AVX512, VECTOR_BYTES
from jitprop.kernels._numba.vector_width import use_register_width
from helpers import compiled_llvm

#: What the kernels are compiled for: an input and an output of eight float32.
_ARRAYS = (np.zeros(8, dtype=np.float32), np.zeros(8, dtype=np.float32))


def _scale_and_shift(marked):
    """A fresh (uncached) kernel with one vectorizable loop, marked or not."""

    def kernel(a, out):
        if marked:
            use_register_width()
        for i in range(a.shape[0]):
            out[i] = a[i] * np.float32(3) + np.float32(1)

    return njit(fastmath=True)(kernel)


def test_a_marked_kernel_carries_the_width_in_its_llvm_function():
    assert f'"prefer-vector-width"="{VECTOR_BYTES * 8}"' in compiled_llvm(_scale_and_shift(marked=True), *_ARRAYS)
    assert "prefer-vector-width" not in compiled_llvm(_scale_and_shift(marked=False), *_ARRAYS)


def test_a_marked_kernel_computes_the_same_values():
    a = np.linspace(-5, 5, 1001, dtype=np.float32)
    outputs = []
    for marked in (True, False):
        out = np.empty_like(a)
        _scale_and_shift(marked)(a, out)
        outputs.append(out)
    np.testing.assert_array_equal(outputs[0], outputs[1])
    np.testing.assert_allclose(outputs[0], a * 3 + 1, rtol=1e-6, atol=1e-6)  # (a fused multiply-add near 0)


@pytest.mark.skipif(not AVX512, reason="the host has no AVX-512: its registers are the width LLVM prefers")
def test_with_avx512_a_marked_kernels_loop_runs_in_64_byte_registers():
    assert "zmm" in _compiled_asm(_scale_and_shift(marked=True))


def _compiled_asm(kernel):
    kernel(*_ARRAYS)
    return kernel.inspect_asm(kernel.signatures[0])
