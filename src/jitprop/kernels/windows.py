"""Windows over examples of one or two spatial axes: the geometry the convolution and pooling kinds share.

An example of a convolution or pooling layer is channels-last, ``(H, W, C)``
in C order (the channels of a position contiguous); an example of one axis,
``(T, C)``, is the same with ``H = 1``. The layer slides a window of
``kh x kw`` positions with strides ``(sh, sw)`` over the input padded with
``ph`` zeros before the first row and ``pw`` before the first column (and as
many after as the output size needs): output position ``(i, j)`` reads the
input positions ``(i·sh + u − ph, j·sw + v − pw)`` for ``u < kh``, ``v < kw``,
zeros outside the input.

A layer's row of :attr:`.layout.Layout.geometry` holds, at these columns:
``H``, ``W``, ``C`` (input), ``H_OUT``, ``W_OUT``, ``C_OUT`` (output), ``KH``,
``KW`` (window), ``SH``, ``SW`` (strides), ``PH``, ``PW`` (zeros before).
"""

H, W, C, H_OUT, W_OUT, C_OUT, KH, KW, SH, SW, PH, PW = range(12)

#: Columns of a geometry row that windows use.
COLUMNS = 12


def axis_padding(size, kernel, stride, padding):
    """Zeros ``(before, after)`` one axis of ``size`` gets for a window of ``kernel`` and ``stride``.

    ``padding`` is ``"valid"`` (none), ``"same"`` (Keras' rule: an output of
    ``ceil(size / stride)`` positions, from ``max((out − 1)·stride + kernel −
    size, 0)`` zeros in all, the smaller half before) or an int: that many on
    each side (PyTorch's rule).
    """
    if padding == "valid":
        return 0, 0
    if padding == "same":
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel - size, 0)
        return total // 2, total - total // 2
    return int(padding), int(padding)


def output_length(size, kernel, stride, before, after):
    """Positions of a window of ``kernel`` at ``stride`` over ``size`` inputs with zeros added: 0 if none fits."""
    padded = size + before + after
    return 0 if padded < kernel else (padded - kernel) // stride + 1


def geometry_row(input_hw, channels, output_hw, channels_out, kernel, strides, before):
    """A layer's row of :attr:`.layout.Layout.geometry` (see the module's documentation), as a tuple."""
    return (*input_hw, channels, *output_hw, channels_out, *kernel, *strides, *before)
