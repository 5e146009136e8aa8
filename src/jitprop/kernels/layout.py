"""How a network and its scratch space are laid out in flat buffers.

A kernel receives the whole network as a few arrays: the parameters in one
contiguous buffer and a :class:`Layout` that says where each layer lives in
it. Per-example scratch (activations, pre-activations, deltas) lives in flat
buffers with one block per layer; a block holds the rows
of a whole batch, so the tiles of a batch work on disjoint parts of it and
need no buffers of their own. Only gradients are per tile.

Layer ``l`` maps ``sizes[l]`` inputs to ``sizes[l + 1]`` outputs. Its weights
are stored transposed, ``Wt`` of shape (fan_out, fan_in), so that the forward
product runs over contiguous rows; the bias follows them.
"""

from typing import NamedTuple

import numpy as np
from numba import njit

from ._numba.arrays import untracked, view2d  # noqa: F401 (kernels take them from here, with the layout)
from ._numba.options import INLINED_KERNEL


class Layout(NamedTuple):
    """Architecture of a network, as arrays a kernel can read."""

    sizes: np.ndarray  # int64 (n_layers + 1,): widths, input first
    weight_offsets: np.ndarray  # int64 (n_layers,): start of Wt in the parameters
    forward_panels: np.ndarray  # int64 (n_layers,): start of the forward product's weight panels, or -1
    backward_panels: np.ndarray  # int64 (n_layers,): start of the input gradient's weight panels, or -1
    activations: np.ndarray  # int64 (n_layers,): activation codes
    alphas: np.ndarray  # float64 (n_layers,): slope of leaky_relu, scale of elu
    dropout: np.ndarray  # float64 (n_layers + 1,): rate applied to each activation block in training
    l2: np.ndarray  # float64 (n_layers,): penalty l2·ΣW² of each layer's weights
    loss: int  # loss code
    loss_over_outputs: bool  # mean over outputs as well as examples


class Kernels(NamedTuple):
    """Entries (``[address, key]``, see :func:`~.linking.entry`) of a network's tile and of the kernels it calls.

    Made by :func:`~.batch.network_kernels` for a network and its data: only
    these kernels are compiled for it. The batch and the epoch call the tile
    through its entry, and so are compiled once for all networks of the
    same types, and without waiting for the tile.
    """

    tile: np.ndarray  # int64 (2,): .batch.run_tile for the network's types
    forward: np.ndarray  # int64 (n_layers, 2): each layer's activation (see .activations)
    derivative: np.ndarray  # int64 (n_layers, 2): each hidden layer's activation derivative; zeros for the output
    loss: np.ndarray  # int64 (2,): the loss of the output layer (see .losses)
    output_derivative: np.ndarray  # int64 (2,): f' of the output layer on mse's delta, or NO_KERNEL
    dropout_masks: np.ndarray  # int64 (2,): .dropout.apply_dropout, or NO_KERNEL for a network without dropout
    dropout_undo: np.ndarray  # int64 (2,): .dropout.undo_dropout, or NO_KERNEL


class Data(NamedTuple):
    """The examples a kernel reads rows of, by index."""

    inputs: np.ndarray  # (n, n_inputs)
    targets: np.ndarray  # (n, n_outputs), or (0, n_outputs) when labels are used
    labels: np.ndarray  # int64 (n,) class indices, or (0,)
    weights: np.ndarray  # float64 (n,) weight of each example, or (0,) for all 1


@njit(**INLINED_KERNEL)
def weights(layout, params, layer):
    """``Wt`` of ``layer``: a view of shape (fan_out, fan_in)."""
    fan_in = layout.sizes[layer]
    fan_out = layout.sizes[layer + 1]
    return view2d(params, layout.weight_offsets[layer], fan_out, fan_in)


@njit(**INLINED_KERNEL)
def bias(layout, params, layer):
    """Bias of ``layer``: a view of shape (fan_out,)."""
    fan_in = layout.sizes[layer]
    fan_out = layout.sizes[layer + 1]
    start = layout.weight_offsets[layer] + fan_out * fan_in
    return params[start : start + fan_out]


@njit(**INLINED_KERNEL)
def rows(ws, buffer, layout, layer, r0, r1):
    """Rows ``r0:r1`` of ``layer``'s block of a per-row buffer: (r1 - r0, width)."""
    width = layout.sizes[layer]
    return view2d(buffer, ws.row_offsets[layer] + r0 * width, r1 - r0, width)
