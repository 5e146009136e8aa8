"""The registry of layer kinds: what the tile calls for each layer of a network.

A layer kind is one kernels module (:mod:`.dense` is one) that provides a
:class:`~.layout.LayerKernels`: a forward and a backward kernel of fixed signatures,
which the tile (:mod:`.tile`) calls through entries, layer by layer, and
what the buffers need for it. The tile, the batch and the epoch know nothing
of any kind; a network compiles the kernels of the kinds it has and no
other. A kind is registered once, here, by :func:`register`, which gives it
the code :attr:`.layout.Layout.kinds` holds.

The contract of the two kernels, for layer ``l`` on the rows ``r0:r1`` of a
tile (blocks are those of :func:`.layout.rows`; block ``l`` is the layer's
input, block ``l + 1`` its output)::

    forward(kernels, model, ws, layer, r0, r1)
        activations[l] → preactivations[l + 1] (z).
    backward(kernels, model, ws, layer, r0, r1, grad)
        deltas[l + 1] holds ∂loss/∂z of the output: write the layer's
        parameter gradient into grad and, unless l == 0, ∂loss/∂a of its
        input into deltas[l].

A kind may also give an inference kernel (:attr:`~.layout.LayerKernels.inference`),
of the forward kernel's signature, which the tile runs instead of it in a
pass without a backward pass (a prediction's, an evaluation's): it writes
z as the forward kernel does, but nothing for the backward kernel (max
pooling leaves out where each maximum is).

A kind that keeps values of each example from its forward kernel for its
backward kernel (a recurrent layer keeps its gates at every time step)
declares how many per example, its :attr:`~.layout.LayerKernels.stash`;
the workspace gives each such layer a block of ``ws.stash`` of that many
elements per row (see :func:`stash_widths`), which the tile's rows ``r0:r1``
own as ``stash[stash_offsets[l] + r0·width : stash_offsets[l] + r1·width]``.
Unlike the tile's panel scratch, which every layer reuses, it lasts from
the forward pass to the backward pass.

A kind whose weights apply at several places of one example (a convolution
at every output position, a recurrent layer at every step) says how many, its
:attr:`~.layout.LayerKernels.positions`: a batch's work is weighed by it when
it is cut into tiles (:func:`weight_uses`).

The tile applies the layer's activation after its forward kernel
(kernels.forward[l]: z → activations[l + 1]), unless the kind's forward
kernel applies it itself as it writes z (its
:attr:`~.layout.LayerKernels.activations`, see :func:`applies_activation`),
and multiplies the delta by the activation's derivative before its
backward kernel (kernels.derivative[l]); a kind without an activation of
its own has ``identity``. Dropout and the gathering of the inputs belong to
the tile too, between layers.
"""

import numpy as np

from . import conv, dense, pooling, recurrent
from .panels import columns_for_itemsize, round_up
from .layout import LayerKernels  # noqa: F401 (a kind's module makes one; it is defined with the layout)

#: Layer kinds by code.
LAYER_KERNELS = {}


def register(kernels):
    """Add a kind's :class:`~.layout.LayerKernels`; returns its code (registering it again returns the same code)."""
    for code, known in LAYER_KERNELS.items():
        if known is kernels:
            return code
    code = len(LAYER_KERNELS)
    LAYER_KERNELS[code] = kernels
    return code


DENSE = register(dense.KERNELS)
CONV = register(conv.KERNELS)
MAX_POOLING = register(pooling.MAX_KERNELS)
AVERAGE_POOLING = register(pooling.AVERAGE_KERNELS)
RECURRENT = register(recurrent.KERNELS)
CONV_BY_POSITIONS = register(conv.POSITION_KERNELS)
MAX_POOLING_BY_VECTORS = register(pooling.MAX_BY_VECTORS_KERNELS)


def applies_activation(layout, layer):
    """Whether the forward kernel of ``layer``'s kind writes its activations itself (the tile then does not)."""
    return int(layout.activations[layer]) in LAYER_KERNELS[int(layout.kinds[layer])].activations


def max_pooling_kind(channels):
    """The kind of max pooling over ``channels``: by vectors of channels from :data:`.pooling.VECTOR_CHANNELS`."""
    return MAX_POOLING_BY_VECTORS if channels >= pooling.VECTOR_CHANNELS else MAX_POOLING


def conv_kind(filters):
    """The kind of a convolution of ``filters`` outputs: by positions for few, see :func:`.conv.by_positions`."""
    return CONV_BY_POSITIONS if conv.by_positions(filters) else CONV


def tile_scratch(layout, tile_rows):
    """Elements of ``ws.panels`` a tile of ``tile_rows`` rows needs: the most any of its layers needs."""
    need = 0
    for layer, kind in enumerate(layout.kinds):
        need = max(need, LAYER_KERNELS[int(kind)].tile_scratch(layout, layer, tile_rows))
    return need


def stash_widths(layout):
    """Elements per example each layer keeps from its forward to its backward kernel (int64, one per layer)."""
    return np.array(
        [LAYER_KERNELS[int(kind)].stash(layout, layer) for layer, kind in enumerate(layout.kinds)], dtype=np.int64
    )


def weight_uses(layout, n_params):
    """Each layer's parameters, and the places in one example each applies at (int64 arrays, one entry per layer).

    Their product is the layer's multiply-adds per example in the forward
    pass (dense: its parameters once; convolution: at every output position;
    recurrent: at every step): what the tile plan weighs a batch by
    (:func:`~.workspace.plan_tile_rows`).
    """
    ends = np.append(layout.weight_offsets[1:], n_params)
    parameters = (ends - layout.weight_offsets).astype(np.int64)
    positions = [LAYER_KERNELS[int(kind)].positions(layout, layer) for layer, kind in enumerate(layout.kinds)]
    return parameters, np.array(positions, dtype=np.int64)


def panel_offsets(kinds, weight_shapes, itemsize, training=True):
    """Where :func:`~.dense.pack_weights` puts each layer's panels of its weight matrix, and the room they take.

    A layer's kind says which of its products read panels (its
    :attr:`~.layout.LayerKernels.panels`): the forward product reads its
    weight matrix (rows, columns) packed by rows, the input gradient's
    product packed by columns. The first layer passes no gradient back.

    Parameters
    ----------
    kinds : sequence of int
    weight_shapes : sequence of (int, int)
    itemsize : int
        Bytes per element of the network's dtype.
    training : bool
        For training (the weights change after every batch); otherwise for
        forward passes only: no input gradient's panels, and a kind may read
        panels where packing them once pays off (see :func:`.dense.panels`).

    Returns
    -------
    forward, backward : ndarray of int64
        Per layer, the start of its forward and of its input-gradient panels
        in the packed buffer, or -1 where that product reads none.
    total : int
        Elements of the packed buffer.
    """
    columns = columns_for_itemsize(itemsize)
    forward = np.full(len(kinds), -1, dtype=np.int64)
    backward = np.full(len(kinds), -1, dtype=np.int64)
    total = 0
    for layer, (kind, (rows, cols)) in enumerate(zip(kinds, weight_shapes)):
        first = layer == 0 or not training  # (a forward pass passes no gradient back)
        by_rows, by_columns = LAYER_KERNELS[int(kind)].panels((int(rows), int(cols)), first, training)
        if by_rows:
            forward[layer] = total
            total += int(cols) * round_up(int(rows), columns)
        if by_columns:
            backward[layer] = total
            total += int(rows) * round_up(int(cols), columns)
    return forward, backward, total


def forward_panels(layout):
    """Which layers' panels the forward pass reads: ``(by_rows, by_columns)``, booleans per layer.

    What a pass without gradients (a prediction) needs packed: each kind's
    forward product reads its panels packed one way
    (:attr:`~.layout.LayerKernels.forward_packing`), where it reads any.
    """
    by_rows = np.zeros(len(layout.kinds), dtype=np.bool_)
    by_columns = np.zeros(len(layout.kinds), dtype=np.bool_)
    for layer, kind in enumerate(layout.kinds):
        if LAYER_KERNELS[int(kind)].forward_packing == "rows":
            by_rows[layer] = layout.forward_panels[layer] >= 0
        else:
            by_columns[layer] = layout.backward_panels[layer] >= 0
    return by_rows, by_columns
