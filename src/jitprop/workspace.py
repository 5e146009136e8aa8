"""Scratch space for the kernels, and how a batch is cut into tiles.

The tile plan depends on the batch size and the network only — never on the
number of threads — which is what makes training bitwise reproducible
whatever the thread count.
"""

import numpy as np

from .kernels.layout import Workspace
from .kernels.dense import tile_panel_size

#: Batches with fewer than this many (rows x parameters) run as one tile,
#: serially: below it a batch takes tens of microseconds, and a parallel
#: region (a few microseconds, far more when the machine is busy and a
#: worker thread must be woken) would cost more than it saves.
SERIAL_WORK = 1 << 20
#: Fewest rows in a tile: the weight gradient is a product over the rows of a
#: tile, and short products run far below the machine's peak.
MIN_TILE_ROWS = 64
#: Most tiles in a batch.
MAX_TILES = 8
#: Most gradient elements held by the tiles of a batch together.
TILE_GRADIENT_BUDGET = 1 << 22


def plan_tile_rows(batch_rows, n_params, with_gradients=True):
    """Rows per tile for batches of up to ``batch_rows`` examples."""
    if batch_rows * n_params < SERIAL_WORK:
        return batch_rows
    n_tiles = min(MAX_TILES, batch_rows // MIN_TILE_ROWS)
    if with_gradients:
        n_tiles = min(n_tiles, max(2, TILE_GRADIENT_BUDGET // n_params))
    n_tiles = max(1, n_tiles)
    rows = -(-batch_rows // n_tiles)
    return rows + (-rows) % 4  # whole blocks of the 4-row matrix micro-kernel


def allocate(layout, capacity, n_params, dtype, with_gradients=True):
    """A :class:`Workspace` for batches of up to ``capacity`` rows."""
    tile_rows = plan_tile_rows(capacity, n_params, with_gradients)
    max_tiles = -(-capacity // tile_rows)
    offsets = np.zeros(len(layout.sizes), dtype=np.int64)
    offsets[1:] = np.cumsum(layout.sizes[:-1]) * capacity
    per_row = int(layout.sizes.sum()) * capacity

    def block(size):
        return np.empty(size, dtype=dtype)

    backward = per_row if with_gradients else 0
    panel_size = tile_panel_size(layout.sizes, tile_rows)
    return Workspace(
        row_offsets=offsets,
        activations=block(per_row),
        preactivations=block(per_row),
        deltas=block(backward),
        panels=np.empty((max_tiles, panel_size), dtype=dtype),
        tile_gradients=np.empty((max_tiles if with_gradients else 1, n_params if with_gradients else 0), dtype=dtype),
        tile_stats=np.zeros((max_tiles, 2)),
        tile_rows=tile_rows,
    )
