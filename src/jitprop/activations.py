"""The activation functions a layer can use, by name.

Each entry maps a name to the integer code the kernels branch on, its formula
and the initialiser that suits it. ``alpha`` is a layer attribute: the
negative slope of ``leaky_relu`` and the scale of ``elu``.

========== ================================== ========================= ===============
name       f(z)                               f'(z)                     default init
========== ================================== ========================= ===============
identity   z                                  1                         glorot_uniform
sigmoid    1 / (1 + e^-z)                     a (1 - a)                 glorot_uniform
tanh       tanh z                             1 - a²                    glorot_uniform
relu       max(z, 0)                          [z > 0]                   he_uniform
leaky_relu z if z > 0 else alpha·z            1 or alpha                he_uniform
elu        z if z > 0 else alpha·(e^z - 1)    1 or a + alpha            he_uniform
softplus   log(1 + e^z)                       σ(z)                      he_uniform
gelu       z·Φ(z) (exact, with erf)           Φ(z) + z·φ(z)             he_uniform
softmax    e^z / Σ e^z (output layer only)    Jacobian, fused with loss glorot_uniform
========== ================================== ========================= ===============
"""

from dataclasses import dataclass

from .kernels import activations as codes


@dataclass(frozen=True)
class Activation:
    """An activation function: its kernel code, formula and default initialiser."""

    name: str
    code: int
    formula: str
    default_init: str


ACTIVATIONS = {
    a.name: a
    for a in (
        Activation("identity", codes.IDENTITY, "z", "glorot_uniform"),
        Activation("sigmoid", codes.SIGMOID, "1 / (1 + exp(-z))", "glorot_uniform"),
        Activation("tanh", codes.TANH, "tanh(z)", "glorot_uniform"),
        Activation("relu", codes.RELU, "max(z, 0)", "he_uniform"),
        Activation("leaky_relu", codes.LEAKY_RELU, "z if z > 0 else alpha*z", "he_uniform"),
        Activation("elu", codes.ELU, "z if z > 0 else alpha*(exp(z) - 1)", "he_uniform"),
        Activation("softplus", codes.SOFTPLUS, "log(1 + exp(z))", "he_uniform"),
        Activation("gelu", codes.GELU, "z * Phi(z)", "he_uniform"),
        Activation("softmax", codes.SOFTMAX, "exp(z) / sum(exp(z))", "glorot_uniform"),
    )
}


def get_activation(name):
    """Look up an activation by name, with a message listing the valid ones."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown activation {name!r}; expected one of {', '.join(sorted(ACTIVATIONS))}."
        ) from None
