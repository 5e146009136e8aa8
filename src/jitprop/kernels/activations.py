"""Activation functions and their derivatives: a kernel each, found by an integer code.

Each activation has a forward kernel ``a = f(z)`` and (except softmax, which
is only an output and whose delta the loss computes) a kernel
``delta *= f'(z)`` (exp, an output only too, has one for mse; with the
Poisson loss its delta comes from the loss), each a plain loop over rows that LLVM can vectorize.
:data:`FORWARD` and :data:`DERIVATIVE` map the codes to them; a network's
tile calls each layer's through an entry (see :func:`~.tile.network_kernels`),
so only the kernels of the activations it has are compiled. The names,
formulas and default initialisers live in :mod:`jitprop.activations`.

Transcendental functions are evaluated in float64 (``np.float64(x)``: in Numba
``float(x)`` of a float32 stays float32) and rounded on store: they are a
small part of the work and this keeps float32 results correctly rounded.
"""

import math

import numpy as np
from numba import njit

from ._numba.options import INLINED_KERNEL, KERNEL

IDENTITY = 0
SIGMOID = 1
TANH = 2
RELU = 3
LEAKY_RELU = 4
ELU = 5
SOFTPLUS = 6
GELU = 7
SOFTMAX = 8
EXP = 9

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@njit(**INLINED_KERNEL)
def sigmoid(z):
    """Logistic function that never overflows: ``exp`` only of ``-|z|``."""
    e = math.exp(-abs(z))
    return 1.0 / (1.0 + e) if z >= 0.0 else e / (1.0 + e)


# Every kernel takes ``(z, a, alpha)`` (forward) or ``(delta, z, a, alpha)``
# (derivative); ``alpha`` is the negative slope of leaky_relu and the scale
# of elu; below 0, minus the width of softmax's groups (a softmax per step,
# which users' alphas, never negative, cannot ask for); unused by the others.
# Shapes are (rows, units).


@njit(**KERNEL)
def identity_forward(z, a, alpha):
    for r in range(z.shape[0]):
        zr = z[r]
        ar = a[r]
        for j in range(z.shape[1]):
            ar[j] = zr[j]


@njit(**KERNEL)
def relu_forward(z, a, alpha):
    for r in range(z.shape[0]):
        zr = z[r]
        ar = a[r]
        for j in range(z.shape[1]):
            ar[j] = max(zr[j], 0)


@njit(**KERNEL)
def leaky_relu_forward(z, a, alpha):
    for r in range(z.shape[0]):
        zr = z[r]
        ar = a[r]
        for j in range(z.shape[1]):
            ar[j] = zr[j] if zr[j] > 0 else alpha * zr[j]


@njit(**KERNEL)
def sigmoid_forward(z, a, alpha):
    for r in range(z.shape[0]):
        zr = z[r]
        ar = a[r]
        for j in range(z.shape[1]):
            ar[j] = sigmoid(np.float64(zr[j]))


@njit(**KERNEL)
def tanh_forward(z, a, alpha):
    for r in range(z.shape[0]):
        zr = z[r]
        ar = a[r]
        for j in range(z.shape[1]):
            ar[j] = math.tanh(np.float64(zr[j]))


@njit(**KERNEL)
def elu_forward(z, a, alpha):
    for r in range(z.shape[0]):
        zr = z[r]
        ar = a[r]
        for j in range(z.shape[1]):
            x = np.float64(zr[j])
            ar[j] = x if x > 0.0 else alpha * math.expm1(x)


@njit(**KERNEL)
def softplus_forward(z, a, alpha):
    for r in range(z.shape[0]):
        zr = z[r]
        ar = a[r]
        for j in range(z.shape[1]):
            x = np.float64(zr[j])
            ar[j] = max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@njit(**KERNEL)
def gelu_forward(z, a, alpha):
    for r in range(z.shape[0]):
        zr = z[r]
        ar = a[r]
        for j in range(z.shape[1]):
            x = np.float64(zr[j])
            ar[j] = 0.5 * x * (1.0 + math.erf(x * _INV_SQRT2))


@njit(**KERNEL)
def softmax_forward(z, a, alpha):
    # The softmax of each row, or with alpha < 0 of each group of −alpha outputs (one per step of a Dense
    # layer over steps).
    width = int(-alpha) if alpha < 0 else z.shape[1]
    for r in range(z.shape[0]):
        for start in range(0, z.shape[1], width):
            _softmax_group(z[r, start : start + width], a[r, start : start + width])


@njit(**INLINED_KERNEL)
def _softmax_group(z, a):
    """``a = softmax(z)`` of one group of outputs (``z``, ``a`` 1-D)."""
    top = z[0]
    for j in range(z.shape[0]):
        top = max(top, z[j])
    total = 0.0
    for j in range(z.shape[0]):
        e = math.exp(z[j] - top)
        a[j] = e
        total += e
    inv = 1.0 / total
    for j in range(z.shape[0]):
        a[j] = a[j] * inv


@njit(**KERNEL)
def exp_forward(z, a, alpha):
    for r in range(z.shape[0]):
        zr = z[r]
        ar = a[r]
        for j in range(z.shape[1]):
            ar[j] = math.exp(np.float64(zr[j]))


# Derivatives. Where the derivative is cheaper in terms of the output they
# use ``a`` (σ' = a(1 - a), tanh' = 1 - a², elu' = a + alpha for z < 0).


@njit(**KERNEL)
def identity_derivative(delta, z, a, alpha):
    pass


@njit(**KERNEL)
def relu_derivative(delta, z, a, alpha):
    for r in range(z.shape[0]):
        dr = delta[r]
        zr = z[r]
        for j in range(z.shape[1]):
            dr[j] = dr[j] if zr[j] > 0 else 0


@njit(**KERNEL)
def leaky_relu_derivative(delta, z, a, alpha):
    for r in range(z.shape[0]):
        dr = delta[r]
        zr = z[r]
        for j in range(z.shape[1]):
            dr[j] = dr[j] if zr[j] > 0 else alpha * dr[j]


@njit(**KERNEL)
def sigmoid_derivative(delta, z, a, alpha):
    for r in range(z.shape[0]):
        dr = delta[r]
        ar = a[r]
        for j in range(z.shape[1]):
            dr[j] = dr[j] * (ar[j] * (1 - ar[j]))


@njit(**KERNEL)
def tanh_derivative(delta, z, a, alpha):
    for r in range(z.shape[0]):
        dr = delta[r]
        ar = a[r]
        for j in range(z.shape[1]):
            dr[j] = dr[j] * (1 - ar[j] * ar[j])


@njit(**KERNEL)
def elu_derivative(delta, z, a, alpha):
    for r in range(z.shape[0]):
        dr = delta[r]
        zr = z[r]
        ar = a[r]
        for j in range(z.shape[1]):
            dr[j] = dr[j] if zr[j] > 0 else dr[j] * (ar[j] + alpha)


@njit(**KERNEL)
def softplus_derivative(delta, z, a, alpha):
    for r in range(z.shape[0]):
        dr = delta[r]
        zr = z[r]
        for j in range(z.shape[1]):
            dr[j] = dr[j] * sigmoid(np.float64(zr[j]))


@njit(**KERNEL)
def gelu_derivative(delta, z, a, alpha):
    for r in range(z.shape[0]):
        dr = delta[r]
        zr = z[r]
        for j in range(z.shape[1]):
            x = np.float64(zr[j])
            cdf = 0.5 * (1.0 + math.erf(x * _INV_SQRT2))
            pdf = _INV_SQRT_2PI * math.exp(-0.5 * x * x)
            dr[j] = dr[j] * (cdf + x * pdf)


@njit(**KERNEL)
def exp_derivative(delta, z, a, alpha):
    for r in range(z.shape[0]):
        dr = delta[r]
        ar = a[r]
        for j in range(z.shape[1]):
            dr[j] = dr[j] * ar[j]


#: Forward kernel of each activation code.
FORWARD = {
    IDENTITY: identity_forward,
    SIGMOID: sigmoid_forward,
    TANH: tanh_forward,
    RELU: relu_forward,
    LEAKY_RELU: leaky_relu_forward,
    ELU: elu_forward,
    SOFTPLUS: softplus_forward,
    GELU: gelu_forward,
    SOFTMAX: softmax_forward,
    EXP: exp_forward,
}
#: Derivative kernel of each activation code but softmax's: every hidden layer's, and exp's (an output of mse).
DERIVATIVE = {
    IDENTITY: identity_derivative,
    SIGMOID: sigmoid_derivative,
    TANH: tanh_derivative,
    RELU: relu_derivative,
    LEAKY_RELU: leaky_relu_derivative,
    ELU: elu_derivative,
    SOFTPLUS: softplus_derivative,
    GELU: gelu_derivative,
    EXP: exp_derivative,
}


def activate(z, a, code, alpha):
    """``a = f(z)`` row by row for the activation ``code``: its forward kernel (from Python)."""
    FORWARD[code](z, a, alpha)


def multiply_by_derivative(delta, z, a, code, alpha):
    """``delta *= f'(z)`` element-wise for the activation ``code`` (any but softmax): its derivative kernel."""
    DERIVATIVE[code](delta, z, a, alpha)
