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
from numba import njit, types
from numba.core import cgutils
from numba.core.imputils import impl_ret_untracked
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array

from .._numba_options import INLINED_KERNEL


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


class Workspace(NamedTuple):
    """Scratch buffers for batches of up to ``capacity`` rows."""

    row_offsets: np.ndarray  # int64 (n_layers + 1,): start of each layer's block
    activations: np.ndarray  # flat; layer 0 holds the gathered inputs
    preactivations: np.ndarray  # flat; z = x @ W + b
    deltas: np.ndarray  # flat; ∂loss/∂z
    panels: np.ndarray  # (max_tiles, size): each tile's operands of the weight gradient, packed
    tile_gradients: np.ndarray  # (max_tiles, n_params)
    tile_stats: np.ndarray  # float64 (max_tiles, 2): loss sum, correct predictions
    tile_rows: int  # rows per tile


@intrinsic
def view2d(typingctx, buffer, start, rows, cols):
    """A C-contiguous (rows, cols) view of ``buffer[start : start + rows·cols]``.

    What ``buffer[start:stop].reshape((rows, cols))`` gives, without the call
    into Numba's general reshape routine (some 25 ns, paid dozens of times per
    batch). There is no bounds check: callers compute offsets from the layout.
    The view is not reference-counted (see below), so it must not outlive
    ``buffer`` nor be returned to Python: kernels only use it within a call.
    """
    if not (isinstance(buffer, types.Array) and buffer.ndim == 1 and buffer.layout == "C"):
        return None
    result = buffer.copy(ndim=2, layout="C", readonly=False)

    def codegen(context, builder, signature, args):
        source = make_array(signature.args[0])(context, builder, args[0])
        view = make_array(signature.return_type)(context, builder)
        start_, rows_, cols_ = (
            context.cast(builder, value, kind, types.intp) for value, kind in zip(args[1:], signature.args[1:])
        )
        itemsize = context.get_constant(types.intp, context.get_abi_sizeof(context.get_data_type(buffer.dtype)))
        populate_array(
            view,
            data=cgutils.gep_inbounds(builder, source.data, start_),
            shape=cgutils.pack_array(builder, [rows_, cols_]),
            strides=cgutils.pack_array(builder, [builder.mul(cols_, itemsize), itemsize]),
            itemsize=itemsize,
            # No owner: the view is not reference-counted, so creating and
            # dropping one costs no atomic operations (dozens per batch). It
            # must not outlive ``buffer``, which kernels never let happen.
            meminfo=None,
            parent=source.parent,
        )
        return impl_ret_untracked(context, builder, signature.return_type, view._getvalue())

    return result(buffer, start, rows, cols), codegen


@intrinsic
def untracked(typingctx, value):
    """``value`` with the arrays in it (in tuples too, nested) no longer reference-counted.

    Every array a kernel reads out of a tuple such as a :class:`Layout` is
    reference-counted while in use: an atomic increment and decrement per
    read, which on a tiny network cost more than the arithmetic. The copies
    returned here share the arrays' memory but carry no reference count, so
    those operations find nothing to count. The caller's arguments keep the
    memory alive; the copies must not outlive the call (kernels never return
    them).
    """

    def codegen(context, builder, signature, args):
        return impl_ret_untracked(context, builder, signature.return_type, _untrack(context, builder, value, args[0]))

    return value(value), codegen


def _untrack(context, builder, kind, value):
    if isinstance(kind, types.Array):
        array = make_array(kind)(context, builder, value)
        array.meminfo = cgutils.get_null_value(array.meminfo.type)
        return array._getvalue()
    if isinstance(kind, types.BaseTuple):
        for i, member in enumerate(kind):
            value = builder.insert_value(value, _untrack(context, builder, member, builder.extract_value(value, i)), i)
    return value


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
