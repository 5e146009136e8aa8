"""A forward pass of a few rows in one call from Python: what a prediction of one request at a time needs.

For one row through a network of 784-256-128-10 the arithmetic takes some
ten microseconds, and the way into compiled code would take as long again:
on every call Numba unboxes each array of its arguments, and a network's
buffers, its layout and its kernels' entries are some forty arrays. A
:class:`FewRows` holds them all, made once, behind one reference, which a
call unboxes as a single pointer; :func:`forward_few_rows` then checks the
inputs, packs the panels the forward products read (the weights may have
changed since the last call), runs the batch
(:func:`~.batch.run_batch`, the code every batch runs, so the outputs are
those of any other path bit for bit), copies out the outputs and checks
them, all in that one call.
"""

import math

import numpy as np
from numba import njit, typeof, types
from numba.experimental import structref

from ._numba.linking import call
from ._numba.options import KERNEL
from .batch import run_batch
from .dense import pack_some_weights
from .finite import finite_row
from .layout import Data, rows, untracked
from .tile import FORWARD

#: What :func:`forward_few_rows` returns.
DONE = 0
INPUT_NOT_FINITE = 1
OUTPUT_NOT_FINITE = 2


@structref.register
class FewRowsType(types.StructRef):
    """The Numba type of a :class:`FewRows`: one per network's buffer types."""

    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(typ)) for name, typ in fields)


class FewRows(structref.StructRefProxy):
    """What :func:`forward_few_rows` runs a network with, made once per network and kind of input array.

    Parameters
    ----------
    kernels : Kernels
        :func:`~.batch.batch_kernels` of the network and of data of the
        inputs' type.
    model : Model
        The network (its buffers are its own for its whole life).
    ws : Workspace
        For batches of up to ``index.shape[0]`` rows.
    targets, labels, weights : ndarray
        The empty targets, labels and weights of :class:`~.layout.Data`
        without targets.
    grad : ndarray
        An empty gradient (a forward pass makes none).
    index : int64 ndarray
        ``0, 1, ...``: the rows of a batch, as many as the workspace holds.
    chunked : True or None
        :func:`~.batch.chunking` of the network's parameters.
    by_rows, by_columns : bool ndarray
        :func:`~.kinds.forward_panels` of the network: the panels a forward pass reads.
    """

    def __new__(cls, kernels, model, ws, targets, labels, weights, grad, index, chunked, by_rows, by_columns):
        return _make(kernels, model, ws, targets, labels, weights, grad, index, chunked, by_rows, by_columns)


_FIELDS = [
    "kernels",
    "model",
    "ws",
    "targets",
    "labels",
    "weights",
    "grad",
    "index",
    "chunked",
    "by_rows",
    "by_columns",
]
structref.define_proxy(FewRows, FewRowsType, _FIELDS)


@njit(cache=True)
def _make(kernels, model, ws, targets, labels, weights, grad, index, chunked, by_rows, by_columns):
    # (Compiled once and cached: StructRefProxy's own constructor is compiled anew in every process.)
    return FewRows(kernels, model, ws, targets, labels, weights, grad, index, chunked, by_rows, by_columns)


@njit(**KERNEL)
def forward_few_rows(few, inputs, outputs):
    """Write the network's outputs for the rows ``inputs`` into ``outputs``.

    Parameters
    ----------
    few : FewRows
        Of the network, for inputs of this type.
    inputs : ndarray of shape (n, n_inputs)
        C-contiguous, of the network's dtype; at most ``few.index.shape[0]`` rows.
    outputs : ndarray of shape (n, n_outputs)
        Written in place.

    Returns
    -------
    int
        ``DONE``; ``INPUT_NOT_FINITE`` if an input is NaN or infinite (then
        nothing else was done), ``OUTPUT_NOT_FINITE`` if an output is.
    """
    n = inputs.shape[0]
    for i in range(n):
        if not finite_row(inputs[i]):
            return INPUT_NOT_FINITE
    # The buffers read once, untracked: passed down as they are, they would be reference-counted at every call.
    kernels, model, ws, grad, index, chunked, by_rows, by_columns = untracked(
        (few.kernels, few.model, few.ws, few.grad, few.index, few.chunked, few.by_rows, few.by_columns)
    )
    data = untracked(Data(inputs, few.targets, few.labels, few.weights))
    call(pack_some_weights, (model, by_rows, by_columns))
    batch = (kernels, np.int64(FORWARD), model, data, index[:n], 0.0, ws, grad, False, np.int64(-1))
    call(run_batch, batch + (chunked,))
    layout = model.layout
    last = rows(ws, ws.activations, layout, layout.kinds.shape[0], np.int64(0), n)
    status = DONE
    for i in range(n):
        source = last[i]
        target = outputs[i]
        for j in range(target.shape[0]):
            target[j] = source[j]
            if not math.isfinite(source[j]):
                status = OUTPUT_NOT_FINITE
    return status


def compiled_forward_few_rows(few, inputs, outputs):
    """:func:`forward_few_rows` compiled for the types of these arguments, called without Numba's dispatch.

    A call through the dispatcher finds the types of its arguments first,
    and the type of a :class:`FewRows` is found in Python: some 0.5 µs of a
    prediction of one example that takes ten. The function returned takes
    arguments of exactly these types (the caller checks that they are:
    another array type would be read as this one) and converts them as
    the dispatcher would.
    """
    argtypes = tuple(typeof(value) for value in (few, inputs, outputs))
    forward_few_rows.compile(argtypes)
    return forward_few_rows.overloads[argtypes].entry_point
