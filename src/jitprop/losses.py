"""The losses a network can be trained on, by name.

=========================  ===================================================  ===================
name                       loss over n examples with k outputs                   output activation
=========================  ===================================================  ===================
``mse``                    (1 / nk) Σ (y - ŷ)²                                    any but softmax¹
``cross_entropy``          (1 / n) Σ -Σ_j t_j log p_j, p = softmax(z)             softmax
``binary_cross_entropy``   (1 / nk) Σ -t log σ(z) - (1 - t) log(1 - σ(z))         sigmoid
=========================  ===================================================  ===================

¹ softmax with ``mse`` is allowed; its Jacobian is applied exactly.

Cross-entropy and binary cross-entropy are computed from the logits ``z`` in
their stable fused forms (log-sum-exp; ``max(z,0) - t·z + log1p(e^-|z|)``).
"""

from dataclasses import dataclass

from .kernels import losses as codes


@dataclass(frozen=True)
class Loss:
    """A loss: its kernel code, what it requires of the network and what it costs.

    Attributes
    ----------
    name : str
    code : int
        What the kernels branch on (:mod:`jitprop.kernels.losses`).
    output_activation : str or None
        The output activation it requires, if any.
    over_outputs : bool
        Whether the mean runs over outputs as well as examples.
    classification : bool
        Whether targets are classes (and accuracy is reported).
    flops : tuple of int
        FLOPs per output of the loss value and of its delta ∂loss/∂z, as the
        cost model (:mod:`jitprop.complexity.model`) counts them.
    """

    name: str
    code: int
    output_activation: str | None
    over_outputs: bool
    classification: bool
    flops: tuple


LOSSES = {
    loss.name: loss
    for loss in (
        # subtract, square, add; subtract, multiply, scale
        Loss("mse", codes.MSE, None, True, False, flops=(3, 3)),
        # max, subtract, exp, sum (plus one log); scale, subtract
        Loss("cross_entropy", codes.CROSS_ENTROPY, "softmax", False, True, flops=(4, 2)),
        # max, multiply, subtract, abs, exp, log1p, add; subtract, scale
        Loss("binary_cross_entropy", codes.BINARY_CROSS_ENTROPY, "sigmoid", True, True, flops=(7, 2)),
    )
}


def get_loss(name):
    """Look up a loss by name, with a message listing the valid ones."""
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown loss {name!r}; expected one of {', '.join(sorted(LOSSES))}.") from None
