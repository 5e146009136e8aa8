"""Arrays that start at a cache line: the network's parameters and packed panels, optimizer state, workspaces."""

import numpy as np
import pytest

import jitprop as jp
from jitprop.kernels import workspace
from jitprop.kernels.aligned import ALIGNMENT, aligned_empty, aligned_memory, aligned_zeros


def starts_at_a_line(array):
    # (An empty array has no element to read; NumPy gives it an address of its own choosing.)
    return array.size == 0 or array.ctypes.data % ALIGNMENT == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint8])
@pytest.mark.parametrize("shape", [0, 1, 7, 100, (3, 5), (2, 3, 4), (0, 4)])
def test_arrays_start_at_a_cache_line_with_the_shape_and_dtype_asked(shape, dtype):
    for _ in range(5):  # (NumPy's own memory starts at a line only now and then)
        array = aligned_zeros(shape, dtype)
        assert starts_at_a_line(array)
        assert array.shape == ((shape,) if np.ndim(shape) == 0 else shape) and array.dtype == dtype
        assert array.flags.c_contiguous and array.flags.writeable
        assert not array.any()
        empty = aligned_empty(shape, dtype)
        assert starts_at_a_line(empty) and empty.shape == array.shape
        empty[...] = 1  # (all of it is the array's own: writing it disturbs nothing else)
        assert not array.any()


def test_memory_blocks_start_at_a_line_and_hold_the_bytes_asked():
    for nbytes in (0, 1, 63, 64, 65, 4097):
        block = aligned_memory(nbytes)
        assert block.dtype == np.uint8 and block.nbytes == nbytes and starts_at_a_line(block)


def test_a_network_and_its_training_buffers_start_at_cache_lines():
    for _ in range(3):
        net = jp.Network([jp.Dense(30, "relu"), jp.Dense(3, "softmax")], input_dim=17, loss="cross_entropy", seed=0)
        assert starts_at_a_line(net.params) and starts_at_a_line(net.packed_weights)
        # The first layer's weights are a view of the parameters, from their first element (at a line).
        assert np.shares_memory(net.layers[0].W, net.params) and net.layers[0].W.ctypes.data == net.params.ctypes.data
        optimizer = jp.Adam(0.01)
        X = np.random.default_rng(0).random((40, 17)).astype(np.float32)
        net.fit(X, np.arange(40) % 3, epochs=1, batch_size=8, optimizer=optimizer, verbose=0)
        assert starts_at_a_line(optimizer.state)
        ws = workspace.allocate(net.layout, 16, net.n_params, net.dtype)
        for buffer in (ws.activations, ws.preactivations, ws.deltas, ws.panels, ws.stash, ws.tile_gradients):
            assert starts_at_a_line(buffer)
