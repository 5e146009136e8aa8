"""``--layers`` and ``--input-shape``: a network's hidden layers and its examples' shape, as text.

``--layers`` lists the hidden layers, input side first, separated by commas;
each is a kind and its arguments separated by colons (the output layer is
added after them, as with ``--hidden``)::

    conv2d:FILTERS:KERNEL[:PADDING[:STRIDES]]   Conv2D; KERNEL and STRIDES an int or HxW,
    conv1d:FILTERS:KERNEL[:PADDING[:STRIDES]]   PADDING valid (default), same or an int
    maxpool2d:SIZE[:STRIDES]   avgpool2d:...    pooling (STRIDES default to SIZE)
    maxpool1d:SIZE[:STRIDES]   avgpool1d:...
    globalavgpool2d   globalavgpool1d   flatten
    dense:UNITS   dropout:RATE
    lstm:UNITS[:seq]   gru:UNITS[:seq]   simplernn:UNITS[:seq]
                               recurrent layers over examples of shape (steps, features);
                               seq: output every step (return_sequences)
    bilstm:UNITS[:seq]   bigru:...   bisimplernn:...   the same, Bidirectional

for example ``conv2d:16:3:same,maxpool2d:2,flatten,dense:64`` or, with
``--input-shape 8,8`` (the digits read row by row), ``lstm:32``. Layers with
an activation take ``--activation``'s (recurrent layers keep their own: tanh
and sigmoid gates).
"""

import argparse

#: Spelling of each kind -> (class name in jitprop, whether it takes the hidden activation, its arguments).
KINDS = {
    "conv2d": ("Conv2D", True, "FILTERS:KERNEL[:PADDING[:STRIDES]]"),
    "conv1d": ("Conv1D", True, "FILTERS:KERNEL[:PADDING[:STRIDES]]"),
    "maxpool2d": ("MaxPool2D", False, "SIZE[:STRIDES]"),
    "avgpool2d": ("AvgPool2D", False, "SIZE[:STRIDES]"),
    "maxpool1d": ("MaxPool1D", False, "SIZE[:STRIDES]"),
    "avgpool1d": ("AvgPool1D", False, "SIZE[:STRIDES]"),
    "globalavgpool2d": ("GlobalAvgPool2D", False, ""),
    "globalavgpool1d": ("GlobalAvgPool1D", False, ""),
    "flatten": ("Flatten", False, ""),
    "dense": ("Dense", True, "UNITS"),
    "dropout": ("Dropout", False, "RATE"),
    "lstm": ("LSTM", False, "UNITS[:seq]"),
    "gru": ("GRU", False, "UNITS[:seq]"),
    "simplernn": ("SimpleRNN", False, "UNITS[:seq]"),
    "bilstm": ("LSTM", False, "UNITS[:seq]"),
    "bigru": ("GRU", False, "UNITS[:seq]"),
    "bisimplernn": ("SimpleRNN", False, "UNITS[:seq]"),
}

#: The recurrent kinds, and those of them wrapped in a Bidirectional.
RECURRENT = {"lstm", "gru", "simplernn", "bilstm", "bigru", "bisimplernn"}
BIDIRECTIONAL = {"bilstm", "bigru", "bisimplernn"}


def parse_layers(text):
    """``--layers``: a list of ``(kind, arguments)``, checked for spelling; :func:`build_layers` builds them."""
    layers = []
    for item in text.split(","):
        kind, *arguments = [part.strip() for part in item.strip().split(":")]
        if kind.lower() not in KINDS:
            raise argparse.ArgumentTypeError(
                f"unknown layer {kind!r} in {text!r}; expected one of {', '.join(KINDS)} (e.g. conv2d:16:3:same)"
            )
        layers.append((kind.lower(), arguments))
    return layers


def parse_input_shape(text):
    """``--input-shape``: the shape of one example, like ``8,8,1``."""
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        shape = ()
    if not shape or any(size < 1 for size in shape):
        raise argparse.ArgumentTypeError(f"expected positive sizes like 8,8,1, got {text!r}")
    return shape


def build_layers(spec, activation):
    """The layers of a :func:`parse_layers` spec, or ``ValueError`` naming the layer whose arguments are wrong."""
    import jitprop as jp

    layers = []
    for position, (kind, arguments) in enumerate(spec, 1):
        name, activated, usage = KINDS[kind]
        given = ":".join([kind, *arguments])
        required = len(usage.split("[")[0].split(":")) if usage else 0  # the arguments before the optional ones
        most = len(usage.replace("[", "").replace("]", "").split(":")) if usage else 0
        if not required <= len(arguments) <= most:
            expected = f"{kind}:{usage}" if usage else f"{kind}, without arguments"
            raise ValueError(f"--layers: layer {position} ({given}): expected {expected}.")
        values = [_value(argument) for argument in arguments]
        keywords = {"activation": activation} if activated else {}
        if kind.startswith("conv"):
            keywords.update(zip(("filters", "kernel_size", "padding", "strides"), values, strict=False))
            values = []
        if kind in RECURRENT and len(values) == 2:
            if values.pop() != "seq":
                raise ValueError(f"--layers: layer {position} ({given}): expected {kind}:{usage}.")
            keywords["return_sequences"] = True
        try:
            layer = getattr(jp, name)(*values, **keywords)
            layers.append(jp.Bidirectional(layer) if kind in BIDIRECTIONAL else layer)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"--layers: layer {position} ({given}): {exc}") from None
    return layers


def _value(text):
    """A layer argument: an int, a float, ``HxW`` (a tuple) or a word such as ``same``."""
    if "x" in text and all(part.isdigit() for part in text.split("x")):
        return tuple(int(part) for part in text.split("x"))
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def describe_layers(spec, activation=None):
    """The spec as ``--layers`` spells it, or with ``activation`` as a chain of its layers.

    Parameters
    ----------
    spec : list of (str, list of str)
        From :func:`parse_layers`.
    activation : str, optional
        ``--activation``'s: the layers are then joined by ``" -> "``, each
        layer that takes the activation followed by it (``conv2d:16:3 relu
        -> maxpool2d:2 -> lstm:32``); recurrent layers keep their own.

    Returns
    -------
    str
    """
    if activation is None:
        return ",".join(":".join([kind, *arguments]) for kind, arguments in spec)
    return " -> ".join(
        ":".join([kind, *arguments]) + (f" {activation}" if KINDS[kind][1] else "") for kind, arguments in spec
    )
