"""How a network and its scratch space are laid out in flat buffers.

A kernel receives the whole network as a :class:`Model`: the parameters in
one contiguous buffer, a :class:`Layout` that says where each layer lives in
it, and the panels its products read the weights from. Per-example scratch
(activations, pre-activations, deltas) lives in flat buffers with one block
per layer; a block holds the rows of a whole batch, so the tiles of a batch
work on disjoint parts of it and need no buffers of their own. Only gradients are per tile.

Layer ``l`` maps ``sizes[l]`` features of an example to ``sizes[l + 1]``;
what it computes is its kind's (see :mod:`.kinds`). Its parameters start at
``weight_offsets[l]`` with its weight matrix, ``weight_shapes[l]`` (rows,
columns), followed by its other parameters (a dense layer's weights are
stored transposed, ``Wt`` of shape (fan_out, fan_in), so that the forward
product runs over contiguous rows; the bias follows them).
"""

from typing import Callable, NamedTuple

import numpy as np
from numba import njit

from ._numba.arrays import untracked, view2d  # noqa: F401 (kernels take them from here, with the layout)
from ._numba.options import INLINED_KERNEL


class Layout(NamedTuple):
    """Architecture of a network, as arrays a kernel can read."""

    sizes: np.ndarray  # int64 (n_layers + 1,): features per example of each block, input first
    kinds: np.ndarray  # int64 (n_layers,): layer kind codes (see .kinds)
    geometry: np.ndarray  # int64 (n_layers, GEOMETRY): what a kind needs besides sizes (its module says what)
    weight_offsets: np.ndarray  # int64 (n_layers,): start of each layer's parameters, its weight matrix first
    weight_shapes: np.ndarray  # int64 (n_layers, 2): rows and columns of the weight matrix, (0, 0) for none
    forward_panels: np.ndarray  # int64 (n_layers,): start of the forward product's weight panels, or -1
    backward_panels: np.ndarray  # int64 (n_layers,): start of the input gradient's weight panels, or -1
    activations: np.ndarray  # int64 (n_layers,): activation codes
    alphas: np.ndarray  # float64 (n_layers,): slope of leaky_relu, scale of elu
    dropout: np.ndarray  # float64 (n_layers + 1,): rate applied to each activation block in training
    l2: np.ndarray  # float64 (n_layers,): penalty l2·ΣW² of each layer's weights
    loss: int  # loss code
    loss_over_outputs: bool  # mean over outputs as well as examples


class Model(NamedTuple):
    """A network as kernels take it: where each layer lives, its parameters and their packed panels."""

    layout: Layout
    params: np.ndarray  # (n_params,): every parameter, where the layout places it
    packed: np.ndarray  # the weights' panels, as the products read them (see .dense.pack_weights); (0,) for none


#: Columns of :attr:`Layout.geometry` (the windows of convolution and pooling use 12, see :mod:`.windows`).
GEOMETRY = 12


class LayerKernels(NamedTuple):
    """What a layer kind's kernels module gives the engine (see :mod:`.kinds` for the contract)."""

    name: str
    forward: Callable  # the forward kernel (a Numba dispatcher)
    backward: Callable  # the backward kernel
    tile_scratch: Callable  # (layout, layer, tile_rows) -> elements of ws.panels a tile needs for the layer
    # (weight_shape, first, training) -> whether products read the weights packed (by rows, by columns)
    panels: Callable
    # (layout, layer) -> elements per example the forward kernel keeps in ws.stash for the backward kernel
    stash: Callable = lambda layout, layer: 0
    # (layout, layer) -> places in one example each of the layer's weights applies at (see .kinds.weight_uses)
    positions: Callable = lambda layout, layer: 1
    # which of its panels the forward product reads, where it reads any: "rows" or "columns" (see .kinds.panel_offsets)
    forward_packing: str = "rows"
    # codes of the activations (see .activations) its forward kernel applies itself, writing activations[l + 1]
    # as well as z; the tile applies any other (see .kinds.applies_activation)
    activations: frozenset = frozenset()
    # the forward kernel of a pass without a backward pass (a prediction's, an evaluation's), where the kind has
    # one: it writes what the forward kernel writes but the stash; None: the forward kernel serves both
    inference: Callable = None


class Kernels(NamedTuple):
    """Entries (``[address, key]``, see :func:`~.linking.entry`) of a network's tile and of the kernels it calls.

    Made by :func:`~.tile.network_kernels` for a network and its data: only
    these kernels are compiled for it. The batch and the epoch call the tile
    through its entry, and so are compiled once for all networks of the
    same types, and without waiting for the tile.
    """

    tile: np.ndarray  # int64 (2,): .tile.run_tile for the network's types
    layer_forward: np.ndarray  # int64 (n_layers, 2): each layer's kind's forward kernel (see .kinds)
    # int64 (n_layers, 2): each layer's kind's forward kernel for a pass without a backward pass: its inference
    # kernel, where it has one (see .kinds)
    layer_inference: np.ndarray
    layer_backward: np.ndarray  # int64 (n_layers, 2): each layer's kind's backward kernel
    # int64 (n_layers, 2): each layer's activation (see .activations), NO_KERNEL where its kind's forward
    # kernel applies it (see .kinds.applies_activation)
    forward: np.ndarray
    derivative: np.ndarray  # int64 (n_layers, 2): f' of each layer's activation, to turn ∂loss/∂a into ∂loss/∂z;
    # the output layer's is NO_KERNEL unless its loss gives ∂loss/∂a (mse of an output other than softmax)
    loss: np.ndarray  # int64 (2,): the loss of the output layer (see .losses)
    dropout_masks: np.ndarray  # int64 (2,): .dropout.apply_dropout, or NO_KERNEL for a network without dropout
    dropout_undo: np.ndarray  # int64 (2,): .dropout.undo_dropout, or NO_KERNEL
    # int64 (2,): .matmul.parallel_columns_matmul_nt, with which a batch of one tile spreads a large dense
    # product over the threads (see .dense.forward), or NO_KERNEL where no batch would (then it is not compiled)
    split_product: np.ndarray


class Data(NamedTuple):
    """The examples a kernel reads rows of, by index."""

    inputs: np.ndarray  # (n, n_inputs)
    targets: np.ndarray  # (n, n_outputs), or (0, n_outputs) when labels are used; (n·T, k) for a softmax per step
    labels: np.ndarray  # int64 (n,) class indices, (n·T,) for a softmax per step, or (0,)
    weights: np.ndarray  # float64 (n,) weight of each example, or (0,) for all 1


@njit(**INLINED_KERNEL)
def weights(layout, params, layer):
    """The weight matrix of ``layer`` (a dense layer's ``Wt``): a view of shape ``layout.weight_shapes[layer]``."""
    return view2d(params, layout.weight_offsets[layer], layout.weight_shapes[layer, 0], layout.weight_shapes[layer, 1])


@njit(**INLINED_KERNEL)
def bias(layout, params, layer):
    """Bias of a dense ``layer``: a view of shape (fan_out,)."""
    fan_in = layout.sizes[layer]
    fan_out = layout.sizes[layer + 1]
    start = layout.weight_offsets[layer] + fan_out * fan_in
    return params[start : start + fan_out]


@njit(**INLINED_KERNEL)
def rows(ws, buffer, layout, layer, r0, r1):
    """Rows ``r0:r1`` of ``layer``'s block of a per-row buffer: (r1 - r0, width)."""
    width = layout.sizes[layer]
    return view2d(buffer, ws.row_offsets[layer] + r0 * width, r1 - r0, width)
