"""Scratch space and tile plans: the plan depends on the batch and the network alone; sizes match what is allocated."""

import numpy as np
import pytest

import jitprop as jp
from jitprop import complexity
from jitprop.kernels import tuning, workspace


def network(sizes):
    layers = [jp.Dense(width, "relu") for width in sizes[1:-1]] + [jp.Dense(sizes[-1], "softmax")]
    return jp.Network(layers, input_dim=sizes[0], loss="cross_entropy", seed=0)


def test_small_batches_run_as_one_tile_and_large_ones_in_blocks_of_four_rows():
    assert workspace.plan_tile_rows(32, 1000) == 32  # 32 x 1000 < SERIAL_WORK
    rows = workspace.plan_tile_rows(1000, 100_000)
    assert rows % 4 == 0 and rows >= tuning.MIN_TILE_ROWS
    assert -(-1000 // rows) <= tuning.MAX_TILES
    # Without gradients, tiles need no gradient buffers: the budget on them does not apply.
    assert workspace.plan_tile_rows(4096, 1 << 21, with_gradients=False) < workspace.plan_tile_rows(4096, 1 << 21)
    # A forward pass does a third of the work of a row: it stays serial up to three times the limit.
    rows = tuning.SERIAL_WORK // 1000 + 64
    assert workspace.plan_tile_rows(rows, 1000) < rows == workspace.plan_tile_rows(rows, 1000, with_gradients=False)
    rows = 3 * tuning.SERIAL_WORK // 1000 + 64
    assert workspace.plan_tile_rows(rows, 1000, with_gradients=False) < rows


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


@pytest.mark.parametrize("batch_size", [32, 1024])
def test_the_cost_model_counts_the_memory_training_allocates(batch_size):
    net = network([784, 256, 10])
    ws = workspace.allocate(net.layout, batch_size, net.n_params, net.dtype)
    memory = complexity.costs(net, batch_size).memory
    assert memory.activations == sum(b.nbytes for b in (ws.activations, ws.preactivations, ws.deltas, ws.panels))
    assert memory.gradients == ws.tile_gradients.nbytes + net.params.nbytes  # the tiles' and the batch's
    assert memory.parameters == net.params.nbytes + net.packed_weights.nbytes
