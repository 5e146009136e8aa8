"""The activation functions a layer can use, by name: one registry entry each.

An entry carries everything jitprop knows about an activation, and every
part of jitprop reads it from here: the kernel code the compiled kernels
branch on (:mod:`jitprop.kernels.activations` keeps the code's own table),
its formula and derivative (the table below is built from them), the
initialiser that suits it, its default ``alpha``, the FLOPs the cost model
counts, scikit-learn's name for it, and whether a hidden layer may use it.

``alpha`` is a layer attribute: the negative slope of ``leaky_relu`` and the
scale of ``elu``. Derivatives are written in terms of the output ``a`` where
the kernels compute them so.
"""

from dataclasses import dataclass

from . import _rst
from .kernels import activations as codes


@dataclass(frozen=True)
class Activation:
    """An activation function and what jitprop needs to know about it.

    Attributes
    ----------
    name : str
    code : int
        What the kernels branch on (:mod:`jitprop.kernels.activations`).
    formula : str
        ``f(z)``.
    derivative : str
        ``f'(z)``, in terms of ``a = f(z)`` where the kernels use it.
    default_init : str
        The initialiser a :class:`~jitprop.Dense` layer uses unless given one.
    flops : tuple of int
        FLOPs per unit of ``f`` (forward) and of multiplying a delta by
        ``f'`` (backward), counting each operation, comparison or
        elementary function as one (see :mod:`jitprop.complexity.model`).
    default_alpha : float or None
        ``alpha`` of a layer that sets none; ``None`` where ``alpha`` plays no part.
    sklearn_name : str
        The name scikit-learn's MLP gives it (``activation=``, ``out_activation_``).
    hidden : bool
        Whether a hidden layer may use it (softmax is for the output layer only).
    """

    name: str
    code: int
    formula: str
    derivative: str
    default_init: str
    flops: tuple
    default_alpha: float | None = None
    sklearn_name: str | None = None
    hidden: bool = True


#: Every activation, by name. Softmax's backward FLOPs are 0: it is fused with the loss, which counts its delta.
#: Softmax and exp are for the output layer only: the link functions of cross-entropy and of Poisson regression.
ACTIVATIONS = {
    a.name: a
    for a in (
        Activation("identity", codes.IDENTITY, "z", "1", "glorot_uniform", (0, 0), sklearn_name="identity"),
        Activation(
            "sigmoid", codes.SIGMOID, "1 / (1 + e^-z)", "a (1 - a)", "glorot_uniform",
            (4, 3),  # abs, exp, add, divide; δ·a·(1 − a)
            sklearn_name="logistic",
        ),
        Activation(
            "tanh", codes.TANH, "tanh z", "1 - a²", "glorot_uniform",
            (1, 3),  # tanh; δ·(1 − a²)
            sklearn_name="tanh",
        ),
        Activation(
            "relu", codes.RELU, "max(z, 0)", "[z > 0]", "he_uniform",
            (1, 1),  # max; select
            sklearn_name="relu",
        ),
        Activation(
            "leaky_relu", codes.LEAKY_RELU, "z if z > 0 else alpha·z", "1 or alpha", "he_uniform",
            (2, 2),  # compare, multiply
            default_alpha=0.01,
        ),
        Activation(
            "elu", codes.ELU, "z if z > 0 else alpha·(e^z - 1)", "1 or a + alpha", "he_uniform",
            (3, 3),  # compare, expm1, multiply; compare, add, multiply
            default_alpha=1.0,
        ),
        Activation(
            "softplus", codes.SOFTPLUS, "log(1 + e^z)", "σ(z)", "he_uniform",
            (5, 5),  # max, abs, exp, log1p, add; sigmoid, multiply
        ),
        Activation(
            "gelu", codes.GELU, "z·Φ(z) (exact, with erf)", "Φ(z) + z·φ(z)", "he_uniform",
            (5, 10),  # multiply, erf, add, multiply, multiply; Φ, φ and products
        ),
        Activation(
            "softmax", codes.SOFTMAX, "e^z / Σ e^z (output layer only)", "Jacobian, fused with loss", "glorot_uniform",
            (5, 0),  # max, subtract, exp, sum, scale
            sklearn_name="softmax",
            hidden=False,
        ),
        Activation(
            "exp", codes.EXP, "e^z (output layer only)", "a", "glorot_uniform",
            (1, 1),  # exp; δ·a (for mse: with poisson the loss gives the delta)
            sklearn_name="exp",
            hidden=False,
        ),
    )
}  # fmt: skip


def get_activation(name):
    """Look up an activation by name, with a message listing the valid ones."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown activation {name!r}; expected one of {', '.join(sorted(ACTIVATIONS))}.") from None


def _table():
    """The registry as a reStructuredText table, for this module's documentation."""
    rows = [("name", "f(z)", "f'(z)", "default init", "FLOPs (f, f')")]
    for a in ACTIVATIONS.values():
        rows.append((a.name, a.formula, a.derivative, a.default_init, f"{a.flops[0]}, {a.flops[1]}"))
    return _rst.table(rows)


if __doc__ is not None:  # (python -OO drops docstrings)
    __doc__ += "\n" + _table() + "\n"
