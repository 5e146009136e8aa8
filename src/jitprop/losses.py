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
    """A loss: its kernel code and what it requires of the network."""

    name: str
    code: int
    output_activation: str | None  # required output activation, if any
    over_outputs: bool  # mean over outputs as well as examples
    classification: bool  # targets are classes; accuracy is reported


LOSSES = {
    loss.name: loss
    for loss in (
        Loss("mse", codes.MSE, None, True, False),
        Loss("cross_entropy", codes.CROSS_ENTROPY, "softmax", False, True),
        Loss("binary_cross_entropy", codes.BINARY_CROSS_ENTROPY, "sigmoid", True, True),
    )
}


def get_loss(name):
    """Look up a loss by name, with a message listing the valid ones."""
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown loss {name!r}; expected one of {', '.join(sorted(LOSSES))}.") from None
