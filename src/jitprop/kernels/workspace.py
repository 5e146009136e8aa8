"""Scratch space for the kernels, the memory it is carved from, and how a batch is cut into tiles.

The tile plan depends on the batch size and the network only — never on the
number of threads — which is what makes training bitwise reproducible
whatever the thread count.
"""

import math
import threading
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np

from . import tuning
from ._numba.parallel import cheap_regions
from .aligned import aligned_memory, aligned_size
from .kinds import stash_widths, tile_scratch, weight_uses


class Workspace(NamedTuple):
    """Scratch buffers for batches of up to ``capacity`` rows."""

    row_offsets: np.ndarray  # int64 (n_layers + 1,): start of each layer's block
    activations: np.ndarray  # flat; layer 0 holds the gathered inputs
    preactivations: np.ndarray  # flat; z = x @ W + b
    deltas: np.ndarray  # flat; ∂loss/∂z
    panels: np.ndarray  # (max_tiles, size): each tile's operands of the weight gradient, packed
    stash_offsets: np.ndarray  # int64 (n_layers,): start of each layer's block of stash
    stash: np.ndarray  # flat; what a layer keeps of each row from its forward to its backward kernel (see .kinds)
    tile_gradients: np.ndarray  # (max_tiles, n_params)
    tile_stats: np.ndarray  # float64 (max_tiles, 2): loss sum, correct predictions
    tile_rows: int  # rows per tile
    # whether a batch of one tile spreads a large product over the threads (see tuning.SPLIT_COLUMNS_WORK):
    # not where a parallel region costs more than such a product (the workqueue layer)
    split_alone: bool


def plan_tile_rows(batch_rows, layout, n_params, with_gradients=True):
    """Rows per tile for batches of up to ``batch_rows`` examples (see :mod:`.tuning` for the limits).

    A batch's work is its multiply-adds per example (:func:`.kinds.weight_uses`)
    times its rows: below ``SERIAL_WORK`` it runs as one tile. Otherwise a
    tile's products should run over at least ``MIN_TILE_ROWS`` rows: a
    weight gradient sums over every place its weights applied at, so the
    layer with the most work sets how many examples make that many rows
    (one per example for a dense layer; a convolution's output positions or
    a recurrent layer's steps each add one), and a tile never holds fewer
    than ``MIN_TILE_EXAMPLES``. Without gradients there is no weight
    gradient: ``MIN_TILE_EXAMPLES`` alone bounds a tile.
    """
    parameters, positions = weight_uses(layout, n_params)
    uses = parameters * positions
    # Without gradients a row costs a third of the products (the forward pass only).
    serial_work = tuning.SERIAL_WORK if with_gradients else 3 * tuning.SERIAL_WORK
    if batch_rows * int(uses.sum()) < serial_work:
        return batch_rows
    busiest = int(positions[np.argmax(uses)]) if len(uses) else 1
    min_rows = max(tuning.MIN_TILE_EXAMPLES, -(-tuning.MIN_TILE_ROWS // busiest) if with_gradients else 0)
    n_tiles = min(tuning.MAX_TILES, batch_rows // min_rows)
    if with_gradients:
        n_tiles = min(n_tiles, max(2, tuning.TILE_GRADIENT_BUDGET // n_params))
    n_tiles = max(1, n_tiles)
    rows = -(-batch_rows // n_tiles)
    return rows + (-rows) % 4  # whole blocks of the 4-row matrix micro-kernel


class WorkspaceSize(NamedTuple):
    """The shapes of the buffers :func:`allocate` makes, without allocating them.

    Element counts of the network's dtype, except ``tile_stats`` (float64).
    The cost model (:func:`jitprop.complexity.costs`) counts memory from it.
    """

    tile_rows: int  # rows per tile
    tiles: int  # most tiles of a batch
    activations: int  # also the size of preactivations
    deltas: int  # 0 without gradients
    panels: tuple  # (tiles, elements per tile)
    stash: int  # what layers keep from the forward pass to the backward pass (recurrent layers: their gates)
    tile_gradients: tuple  # (tiles, n_params), or (1, 0) without gradients
    tile_stats: tuple  # (tiles, 2)

    @property
    def elements(self):
        """Elements of the network's dtype in all the buffers."""
        products = (self.panels[0] * self.panels[1], self.tile_gradients[0] * self.tile_gradients[1])
        return 2 * self.activations + self.deltas + self.stash + sum(products)


def size(layout, capacity, n_params, with_gradients=True):
    """The :class:`WorkspaceSize` of :func:`allocate` for batches of up to ``capacity`` rows."""
    tile_rows = plan_tile_rows(capacity, layout, n_params, with_gradients)
    tiles = -(-capacity // tile_rows)
    per_row = int(layout.sizes.sum()) * capacity
    stash = int(stash_widths(layout).sum()) * capacity
    return WorkspaceSize(
        tile_rows=tile_rows,
        tiles=tiles,
        activations=per_row,
        deltas=per_row if with_gradients else 0,
        panels=(tiles, tile_scratch(layout, tile_rows)),
        stash=stash,
        tile_gradients=(tiles, n_params) if with_gradients else (1, 0),
        tile_stats=(tiles, 2),
    )


def row_elements(layout):
    """Elements of the per-row buffers one example takes (activations and stash): what sizes a chunk of data.

    Remembered as :func:`plan`'s results are: every prediction of more
    than a few rows asks (asking each layer's kind took a tenth of a
    prediction of 32 rows through W1's network).
    """
    key = ("row", layout.sizes.tobytes(), layout.kinds.tobytes(), layout.geometry.tobytes())
    found = _PLANS.get(key)
    if found is None:
        found = _remember(key, int(layout.sizes.sum() + stash_widths(layout).sum()))
    return found


def allocate(layout, capacity, n_params, dtype, with_gradients=True):
    """A :class:`Workspace` for batches of up to ``capacity`` rows (shapes as :func:`size` gives them).

    Its buffers are new arrays; an :class:`Arena` carves the same buffers
    from memory it keeps.
    """
    return _made(plan(layout, capacity, n_params, with_gradients), dtype, None)


def _made(plan, dtype, memory):
    """The workspace of a :func:`plan`, its buffers carved from ``memory`` or from new memory.

    ``memory`` is :func:`~.aligned.aligned_memory` of at least :func:`_bytes`:
    every buffer starts at a cache line.
    """
    shape, offsets, stash_offsets = plan
    if memory is None:
        memory = aligned_memory(_bytes(shape, dtype))
    made, at = [], 0
    for dims, kind in _buffers(shape, dtype):
        made.append(np.ndarray(dims, dtype=kind, buffer=memory, offset=at))
        at += aligned_size(math.prod(dims) * kind.itemsize)
    activations, preactivations, deltas, panels, stash, tile_gradients, tile_stats = made
    tile_stats[...] = 0.0
    return Workspace(
        row_offsets=offsets.copy(),
        activations=activations,
        preactivations=preactivations,
        deltas=deltas,
        panels=panels,
        stash_offsets=stash_offsets.copy(),
        stash=stash,
        tile_gradients=tile_gradients,
        tile_stats=tile_stats,
        tile_rows=shape.tile_rows,
        split_alone=cheap_regions(),
    )


def _bytes(shape, dtype):
    """Bytes of the memory :func:`_made` carves the buffers of a workspace of ``shape`` from."""
    return sum(aligned_size(math.prod(dims) * kind.itemsize) for dims, kind in _buffers(shape, dtype))


def _buffers(shape, dtype):
    """``(shape, dtype)`` of the workspace's arrays, in the order of :func:`allocate`."""
    dtype = np.dtype(dtype)
    return [
        ((shape.activations,), dtype),
        ((shape.activations,), dtype),
        ((shape.deltas,), dtype),
        (tuple(shape.panels), dtype),
        ((shape.stash,), dtype),
        (tuple(shape.tile_gradients), dtype),
        (tuple(shape.tile_stats), np.dtype(np.float64)),
    ]


def plan(layout, capacity, n_params, with_gradients=True):
    """:func:`size` and the blocks' offsets, remembered for the last few networks and capacities.

    Working them out takes longer than a small network's batch (each
    layer's kind is asked for its scratch, stash and weight uses): a
    ``fit`` or ``predict`` called again and again would pay it every time.
    The key holds everything they are computed from, the tile plan's limits
    included.
    """
    limits = (
        tuning.SERIAL_WORK,
        tuning.MIN_TILE_ROWS,
        tuning.MIN_TILE_EXAMPLES,
        tuning.MAX_TILES,
        tuning.TILE_GRADIENT_BUDGET,
    )
    arrays = (layout.sizes, layout.kinds, layout.geometry, layout.weight_offsets, layout.weight_shapes)
    key = (*(a.tobytes() for a in arrays), int(capacity), int(n_params), bool(with_gradients), limits)
    found = _PLANS.get(key)
    if found is None:
        shape = size(layout, capacity, n_params, with_gradients)
        offsets = np.zeros(len(layout.sizes), dtype=np.int64)
        offsets[1:] = np.cumsum(layout.sizes[:-1]) * capacity
        widths = stash_widths(layout)
        stash_offsets = np.concatenate([[0], np.cumsum(widths[:-1])]).astype(np.int64) * capacity
        found = _remember(key, (shape, offsets, stash_offsets))
    return found


def _remember(key, value):
    """``value``, kept under ``key`` among the last ``_MOST_PLANS`` things remembered."""
    while len(_PLANS) >= _MOST_PLANS:
        del _PLANS[next(iter(_PLANS))]  # the oldest
    _PLANS[key] = value
    return value


_PLANS = {}
_MOST_PLANS = 64


class Arena:
    """One block of memory that workspaces are carved from, call after call: their pages mapped and zeroed once.

    A workspace allocated afresh on every call has its pages mapped and
    zeroed by the operating system again each time: a prediction of 10,000
    examples through W1's network (chunks of up to ``2**21`` elements a
    block, tens of MB) ran 1.33 to 1.40 times faster with its workspace
    carved from memory kept from the call before (Intel Xeon of the
    Sapphire Rapids class, 2 threads, medians of two sets of 3 alternating
    rounds). The block grows to
    the largest workspace asked of it and is kept for the process's life;
    the workspace carved last is given again to a call of the same plan,
    which costs less than allocating one. A workspace carved from it has the
    buffers of a new one (:func:`allocate`), so a pass's tiles, and hence its
    sums, are the same. One workspace at a time: a call made while another
    holds the block (from another thread) gets a new one. Passes over many
    rows keep one block (``network._PASS_MEMORY``), epochs of training
    another (``training._FIT_MEMORY``).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._memory = np.empty(0, dtype=np.uint8)
        self._last = None  # (plan, dtype, workspace): the last one carved, given again for the same plan

    @contextmanager
    def workspace(self, plan, dtype):
        """The workspace of a :func:`plan`, carved from the block when it is free, for the duration of the block.

        (A plan rather than the network's layout: an epoch of a small network
        took longer to find its plan again than to carve the workspace.)
        """
        if not self._lock.acquire(blocking=False):
            yield _made(plan, dtype, None)
            return
        try:
            last = self._last
            if last is not None and last[0] is plan and last[1] == dtype:
                ws = last[2]
                ws.tile_stats[...] = 0.0  # (as new)
            else:
                need = _bytes(plan[0], dtype)
                if self._memory.nbytes < need:
                    self._last = None
                    self._memory = np.empty(0, dtype=np.uint8)  # (the old block freed before the new one is made)
                    self._memory = aligned_memory(need)
                ws = _made(plan, dtype, self._memory)
                self._last = (plan, dtype, ws)
            yield ws
        finally:
            self._lock.release()
