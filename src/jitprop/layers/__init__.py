"""Layers a network is built from: one class per layer kind, and the registry of kinds.

A layer kind is a class here and a module of :mod:`jitprop.kernels` (its
forward and backward kernels, registered in :mod:`jitprop.kernels.kinds`,
and its parameter and FLOP counts), joined by an entry of
:data:`LAYER_KINDS`. What reads layers through that interface — the
network's layout and parameters (:class:`~jitprop.Network`), the tile that
runs them, rebuilding them from a model file's configuration
(:func:`layer_from_config`), the cost model and the command line's tables —
needs no change for a new kind. Layers without kernels are applied between
the others (:class:`Dropout`) or only change the shape of an example
(:class:`Flatten`). A recurrent layer keeps values of each example from its
forward to its backward kernel (see :mod:`jitprop.kernels.kinds`).
"""

from .base import Layer
from .conv import Conv1D, Conv2D
from .dense import Dense
from .dropout import Dropout
from .flatten import Flatten
from .pooling import AvgPool1D, AvgPool2D, GlobalAvgPool1D, GlobalAvgPool2D, MaxPool1D, MaxPool2D
from .recurrent import GRU, LSTM, Bidirectional, SimpleRNN

__all__ = [
    "AvgPool1D",
    "AvgPool2D",
    "Bidirectional",
    "Conv1D",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "GRU",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "LAYER_KINDS",
    "LSTM",
    "Layer",
    "MaxPool1D",
    "MaxPool2D",
    "SimpleRNN",
    "layer_from_config",
]

#: Every layer kind, by name: what a model file's ``"type"`` names.
LAYER_KINDS = {
    kind.kind: kind
    for kind in (
        Dense,
        Dropout,
        Conv1D,
        Conv2D,
        MaxPool1D,
        MaxPool2D,
        AvgPool1D,
        AvgPool2D,
        GlobalAvgPool1D,
        GlobalAvgPool2D,
        SimpleRNN,
        GRU,
        LSTM,
        Bidirectional,
        Flatten,
    )
}


def layer_from_config(config):
    """Rebuild a layer from its :meth:`~Layer.config` dictionary (its kind from ``"type"``, dense by default)."""
    if not isinstance(config, dict):
        raise TypeError(f"A layer config must be a dict, got {config!r}.")
    config = dict(config)
    kind = config.pop("type", "dense")
    if kind not in LAYER_KINDS:
        names = [repr(name) for name in LAYER_KINDS]
        expected = ", ".join(names[:-1]) + " or " + names[-1]
        raise ValueError(f"Unknown layer type {kind!r}; expected {expected}.")
    return LAYER_KINDS[kind](**config)
