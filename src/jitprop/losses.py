"""The losses a network can be trained on, by name: one registry entry each.

An entry carries everything jitprop knows about a loss, and every part of
jitprop reads it from here: the kernel code the compiled kernels branch on
(:mod:`jitprop.kernels.losses` keeps the code's own table), its formula (the
table below is built from them), the output activation it requires, the FLOPs
the cost model counts, scikit-learn's name for it, and ``scale``, the ratio
of jitprop's loss to scikit-learn's objective (:meth:`Loss.sklearn_scale`),
by which the estimators convert hyper-parameters and reported losses.

Cross-entropy, binary cross-entropy and Poisson are computed from the logits
``z`` in their stable fused forms (log-sum-exp; ``max(z,0) - t·z + log1p(e^-|z|)``;
``e^z - t·z + t log t - t``, half the Poisson deviance, 0 where ``e^z = t``).
"""

from dataclasses import dataclass

from . import _rst
from .kernels import losses as codes


@dataclass(frozen=True)
class Loss:
    """A loss and what jitprop needs to know about it.

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
    formula : str
        The loss over ``n`` examples with ``k`` outputs.
    sklearn_name : str
        The name scikit-learn's MLP gives it (``loss=``).
    sklearn_ratio : float
        jitprop's loss over scikit-learn's objective for one output (see
        :meth:`sklearn_scale`).
    """

    name: str
    code: int
    output_activation: str | None
    over_outputs: bool
    classification: bool
    flops: tuple
    formula: str
    sklearn_name: str
    sklearn_ratio: float = 1.0

    def sklearn_scale(self, n_outputs):
        """jitprop's loss over scikit-learn's objective, for a network of ``n_outputs`` outputs.

        scikit-learn's MLP sums its losses over the outputs where jitprop,
        for a loss with :attr:`over_outputs`, averages over them.

        Parameters
        ----------
        n_outputs : int

        Returns
        -------
        float
            ``scale`` such that jitprop's loss = ``scale`` · scikit-learn's objective.
        """
        return self.sklearn_ratio / n_outputs if self.over_outputs else self.sklearn_ratio


#: Every loss, by name.
LOSSES = {
    loss.name: loss
    for loss in (
        Loss(
            "mse", codes.MSE, None, True, False,
            flops=(3, 3),  # subtract, square, add; subtract, multiply, scale
            formula="(1 / nk) Σ (y - ŷ)²",
            sklearn_name="squared_error",
            sklearn_ratio=2.0,  # scikit-learn's squared error carries a ½
        ),
        Loss(
            "cross_entropy", codes.CROSS_ENTROPY, "softmax", False, True,
            flops=(4, 2),  # max, subtract, exp, sum (plus one log); scale, subtract
            formula="(1 / n) Σ -Σ_j t_j log p_j, p = softmax(z)",
            sklearn_name="log_loss",
        ),
        Loss(
            "binary_cross_entropy", codes.BINARY_CROSS_ENTROPY, "sigmoid", True, True,
            flops=(7, 2),  # max, multiply, subtract, abs, exp, log1p, add; subtract, scale
            formula="(1 / nk) Σ -t log σ(z) - (1 - t) log(1 - σ(z))",
            sklearn_name="log_loss",
        ),
        Loss(
            "poisson", codes.POISSON, "exp", True, False,
            flops=(7, 2),  # exp, multiply, subtract, log, multiply, subtract, add; subtract, scale
            formula="(1 / nk) Σ e^z - y·z + y log y - y, ŷ = e^z",
            sklearn_name="poisson",
        ),
    )
}  # fmt: skip


def get_loss(name):
    """Look up a loss by name, with a message listing the valid ones."""
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown loss {name!r}; expected one of {', '.join(sorted(LOSSES))}.") from None


def _ratio(loss):
    """:meth:`Loss.sklearn_scale` as a formula in ``k``, the number of outputs."""
    return f"{loss.sklearn_ratio:g} / k" if loss.over_outputs else f"{loss.sklearn_ratio:g}"


def _table():
    """The registry as a reStructuredText table, for this module's documentation."""
    rows = [("name", "loss over n examples with k outputs", "output activation", "scikit-learn", "scale")]
    for loss in LOSSES.values():
        rows.append((loss.name, loss.formula, loss.output_activation or "any¹", loss.sklearn_name, _ratio(loss)))
    return _rst.table(rows) + "\n\n¹ softmax with ``mse`` is allowed; its Jacobian is applied exactly."


if __doc__ is not None:  # (python -OO drops docstrings)
    __doc__ += "\n" + _table() + "\n"
