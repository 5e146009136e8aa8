"""Scratch space and tile plans: the plan depends on the batch and the network alone; sizes match what is allocated."""

import numpy as np
import pytest

import jitprop as jp
from jitprop import complexity
from jitprop.kernels import kinds, tuning, workspace


def network(sizes):
    layers = [jp.Dense(width, "relu") for width in sizes[1:-1]] + [jp.Dense(sizes[-1], "softmax")]
    return jp.Network(layers, input_dim=sizes[0], loss="cross_entropy", seed=0)


def plan(rows, net, with_gradients=True):
    return workspace.plan_tile_rows(rows, net.layout, net.n_params, with_gradients)


def test_small_batches_run_as_one_tile_and_large_ones_in_blocks_of_four_rows():
    small, large, huge = network([30, 30, 2]), network([300, 300, 30]), network([1024, 1024, 1024])
    assert small.n_params < 1000 and large.n_params < 100_000 and huge.n_params > 1 << 21
    assert plan(32, small) == 32  # 32 x 1000 < SERIAL_WORK
    rows = plan(1000, large)
    assert rows % 4 == 0 and rows >= tuning.MIN_TILE_ROWS
    assert -(-1000 // rows) <= tuning.MAX_TILES
    # Without gradients, tiles need no gradient buffers: the budget on them does not apply.
    assert plan(4096, huge, with_gradients=False) < plan(4096, huge)
    # A forward pass sums nothing over a tile's rows: its tiles need only MIN_TILE_EXAMPLES rows.
    w1 = network([784, 256, 128, 10])
    assert plan(32, w1) == 32  # (training: one tile, shorter than MIN_TILE_ROWS otherwise)
    assert plan(32, w1, with_gradients=False) == tuning.MIN_TILE_EXAMPLES
    # A forward pass does a third of the work of a row: it stays serial up to three times the limit.
    rows = tuning.SERIAL_WORK // small.n_params + 64
    assert plan(rows, small) < rows == plan(rows, small, with_gradients=False)
    rows = 3 * tuning.SERIAL_WORK // small.n_params + 64
    assert plan(rows, small, with_gradients=False) < rows


def test_weights_applied_at_many_places_weigh_by_their_uses():
    # 32 sequences of 50 steps through an LSTM(64): about 21,000 parameters, each used 50 times an example.
    lstm = jp.Network([jp.LSTM(64), jp.Dense(10, "softmax")], input_shape=(50, 16), loss="cross_entropy")
    assert 32 * lstm.n_params < tuning.SERIAL_WORK  # by parameters alone, one serial tile
    rows = plan(32, lstm)
    assert rows == tuning.MIN_TILE_EXAMPLES < 32  # each product row of an example per step: tiles of 16 examples
    # A convolution: its output positions count as rows of its products.
    conv = jp.Network(
        [jp.Conv2D(16, 5, padding="same", activation="relu"), jp.MaxPool2D(2), jp.Flatten(), jp.Dense(10, "softmax")],
        input_shape=(28, 28, 1),
        loss="cross_entropy",
    )
    parameters, positions = kinds.weight_uses(conv.layout, conv.n_params)
    assert parameters.tolist() == [416, 0, 14 * 14 * 16 * 10 + 10] and positions.tolist() == [784, 1, 1]
    assert plan(64, conv) == tuning.MIN_TILE_EXAMPLES
    # A dense network's uses are its parameters: the plan by rows alone.
    dense = network([30, 64, 32, 10])
    parameters, positions = kinds.weight_uses(dense.layout, dense.n_params)
    assert parameters.sum() == dense.n_params and set(positions.tolist()) == {1}


@pytest.mark.parametrize("with_gradients", [True, False])
@pytest.mark.parametrize("capacity", [1, 37, 512, 3000])
def test_size_is_what_allocate_allocates(capacity, with_gradients):
    net = network([30, 64, 32, 10])
    size = workspace.size(net.layout, capacity, net.n_params, with_gradients)
    ws = workspace.allocate(net.layout, capacity, net.n_params, np.float32, with_gradients)
    assert ws.tile_rows == size.tile_rows and ws.panels.shape[0] == size.tiles
    assert ws.activations.size == ws.preactivations.size == size.activations
    assert (ws.deltas.size, ws.panels.shape, ws.tile_gradients.shape) == (size.deltas, size.panels, size.tile_gradients)
    assert ws.tile_stats.shape == size.tile_stats
    dtype_buffers = (ws.activations, ws.preactivations, ws.deltas, ws.panels, ws.tile_gradients)
    assert size.elements == sum(buffer.size for buffer in dtype_buffers)


_BUFFERS = ("activations", "preactivations", "deltas", "panels", "stash", "tile_gradients", "tile_stats")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("with_gradients", [True, False])
@pytest.mark.parametrize("capacity", [1, 37, 3000])
def test_an_arena_carves_a_new_workspaces_buffers_apart_from_its_block(capacity, with_gradients, dtype):
    net = network([30, 64, 32, 10])
    plan = workspace.plan(net.layout, capacity, net.n_params, with_gradients)
    arena = workspace.Arena()
    with arena.workspace(workspace.plan(net.layout, 4000, net.n_params), dtype) as larger:  # (sizes the block)
        for name in _BUFFERS:
            getattr(larger, name).fill(np.nan)  # what a pass before left there
    block = larger.activations.base
    new = workspace.allocate(net.layout, capacity, net.n_params, dtype, with_gradients)
    with arena.workspace(plan, dtype) as carved:
        for name in _BUFFERS:
            a, b = getattr(new, name), getattr(carved, name)
            assert (a.shape, a.dtype) == (b.shape, b.dtype)
            assert b.flags.c_contiguous and b.flags.writeable and b.base is block
            assert b.ctypes.data % 64 == 0  # (a cache line: NumPy's own memory starts at a multiple of 16)
        assert not carved.tile_stats.any()  # zeros, as a new workspace's
        for i, first in enumerate(_BUFFERS):
            for second in _BUFFERS[i + 1 :]:
                assert not np.shares_memory(getattr(carved, first), getattr(carved, second))
        assert carved.tile_rows == new.tile_rows
        np.testing.assert_array_equal(carved.row_offsets, new.row_offsets)
        with arena.workspace(plan, dtype) as meanwhile:  # (the block is taken: a workspace of its own)
            assert meanwhile.activations.base is not block
        carved.tile_stats.fill(1.0)
    with arena.workspace(plan, dtype) as again:  # the same plan: the workspace carved last, zeroed as new
        assert again is carved and not again.tile_stats.any()


@pytest.mark.parametrize("batch_size", [32, 1024])
def test_the_cost_model_counts_the_memory_training_allocates(batch_size):
    net = network([784, 256, 10])
    ws = workspace.allocate(net.layout, batch_size, net.n_params, net.dtype)
    memory = complexity.costs(net, batch_size).memory
    assert memory.activations == sum(b.nbytes for b in (ws.activations, ws.preactivations, ws.deltas, ws.panels))
    assert memory.gradients == ws.tile_gradients.nbytes + net.params.nbytes  # the tiles' and the batch's
    assert memory.parameters == net.params.nbytes + net.packed_weights.nbytes
