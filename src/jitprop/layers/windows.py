"""What convolution and pooling layers share: window sizes and strides per axis, and the shapes of their examples."""

import numbers

from ..kernels import windows

#: The axes of an example, by the number of spatial axes: what messages call them.
AXES = {1: "(steps, channels)", 2: "(height, width, channels)"}


def per_axis(value, rank, name, layer_name):
    """``value`` (an int, or a tuple or list of ``rank`` ints, each >= 1) as a tuple of ``rank`` ints."""
    given = value
    if _is_int(value):
        value = (value,) * rank
    if not isinstance(value, (tuple, list)) or len(value) != rank or not all(_is_int(v) for v in value):
        raise ValueError(f"{layer_name} {name} must be a positive integer or {rank} of them, got {given!r}.")
    if min(value) < 1:
        raise ValueError(f"{layer_name} {name} must be positive, got {given!r}.")
    return tuple(int(v) for v in value)


def padding_of(padding, rank, layer_name):
    """``"valid"``, ``"same"``, or zeros on each side: an int >= 0 or ``rank`` of them, as a tuple."""
    if padding in ("valid", "same"):
        return padding
    if _is_int(padding):
        padding = (padding,) * rank
    if (
        not isinstance(padding, (tuple, list))
        or len(padding) != rank
        or not all(_is_int(p) and p >= 0 for p in padding)
    ):
        raise ValueError(
            f"{layer_name} padding must be 'valid', 'same', or zeros on each side (an integer >= 0 or {rank} of "
            f"them), got {padding!r}."
        )
    return tuple(int(p) for p in padding)


def spatial(input_shape, rank, layer):
    """``((H, W), C)`` of examples of ``input_shape`` for a layer of ``rank`` spatial axes (H = 1 for one axis)."""
    if len(input_shape) != rank + 1:
        raise ValueError(
            f"{layer!r} takes examples of shape {AXES[rank]}, got examples of shape {_shape(input_shape)}."
        )
    sizes = tuple(int(size) for size in input_shape[:-1])
    return ((1,) + sizes if rank == 1 else sizes), int(input_shape[-1])


def output_hw(layer, input_shape, hw, kernel, strides, padding):
    """The output's (H_out, W_out) and the zeros before each axis; ``ValueError`` if a window does not fit."""
    pads = [windows.axis_padding(size, k, s, p) for size, k, s, p in zip(hw, kernel, strides, padding)]
    out = tuple(windows.output_length(size, k, s, *pad) for size, k, s, pad in zip(hw, kernel, strides, pads))
    if min(out) < 1:
        padded = tuple(size + before + after for size, (before, after) in zip(hw, pads))
        rank = len(input_shape) - 1
        raise ValueError(
            f"{layer!r}: its window {_shape(kernel[-rank:])} is larger than its padded input "
            f"{_shape(padded[-rank:])} (examples of shape {_shape(input_shape)})."
        )
    return out, tuple(before for before, _ in pads)


def full(values, rank, fill):
    """Per-axis values of a layer of ``rank`` axes as the kernels' two: ``fill`` first for one axis."""
    return ((fill,) + tuple(values)) if rank == 1 else tuple(values)


def _shape(shape):
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
