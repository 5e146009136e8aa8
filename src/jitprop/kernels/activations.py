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

from ._numba.options import AS_WRITTEN, INLINED_KERNEL, KERNEL

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


# The value of each element-wise activation at one element, and its
# derivative times the delta there: what the kernels below store, and what a
# tiny network's batch applies unit by unit (see .tiny). Each is compiled
# with the AS_WRITTEN options, without fast-math flags, so that it rounds the
# same in both places. ``alpha`` is the negative slope of leaky_relu and the
# scale of elu, unused by the others. Where the derivative is cheaper in
# terms of the output they use ``a`` (σ' = a(1 - a), tanh' = 1 - a²,
# elu' = a + alpha for z < 0).


@njit(**AS_WRITTEN)
def _identity(z, alpha):
    return z


@njit(**AS_WRITTEN)
def _relu(z, alpha):
    return max(z, 0)


@njit(**AS_WRITTEN)
def _leaky_relu(z, alpha):
    return z if z > 0 else alpha * z


@njit(**AS_WRITTEN)
def _sigmoid(z, alpha):
    return sigmoid(np.float64(z))


@njit(**AS_WRITTEN)
def _tanh(z, alpha):
    return math.tanh(np.float64(z))


@njit(**AS_WRITTEN)
def _elu(z, alpha):
    x = np.float64(z)
    return x if x > 0.0 else alpha * math.expm1(x)


@njit(**AS_WRITTEN)
def _softplus(z, alpha):
    x = np.float64(z)
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@njit(**AS_WRITTEN)
def _gelu(z, alpha):
    x = np.float64(z)
    return 0.5 * x * (1.0 + math.erf(x * _INV_SQRT2))


@njit(**AS_WRITTEN)
def _exp(z, alpha):
    return math.exp(np.float64(z))


@njit(**AS_WRITTEN)
def _relu_slope(d, z, a, alpha):
    return d if z > 0 else 0


@njit(**AS_WRITTEN)
def _leaky_relu_slope(d, z, a, alpha):
    return d if z > 0 else alpha * d


@njit(**AS_WRITTEN)
def _sigmoid_slope(d, z, a, alpha):
    return d * (a * (1 - a))


@njit(**AS_WRITTEN)
def _tanh_slope(d, z, a, alpha):
    return d * (1 - a * a)


@njit(**AS_WRITTEN)
def _elu_slope(d, z, a, alpha):
    return d if z > 0 else d * (a + alpha)


@njit(**AS_WRITTEN)
def _softplus_slope(d, z, a, alpha):
    return d * sigmoid(np.float64(z))


@njit(**AS_WRITTEN)
def _gelu_slope(d, z, a, alpha):
    x = np.float64(z)
    cdf = 0.5 * (1.0 + math.erf(x * _INV_SQRT2))
    pdf = _INV_SQRT_2PI * math.exp(-0.5 * x * x)
    return d * (cdf + x * pdf)


@njit(**AS_WRITTEN)
def _exp_slope(d, z, a, alpha):
    return d * a


@njit(**INLINED_KERNEL)
def activation_value(code, z, alpha):
    """``f(z)`` of one element for an element-wise activation ``code`` (any but softmax), as its kernel stores it."""
    if code == SIGMOID:
        return np.float64(_sigmoid(z, alpha))
    if code == TANH:
        return np.float64(_tanh(z, alpha))
    if code == RELU:
        return np.float64(_relu(z, alpha))
    if code == LEAKY_RELU:
        return np.float64(_leaky_relu(z, alpha))
    if code == ELU:
        return np.float64(_elu(z, alpha))
    if code == SOFTPLUS:
        return np.float64(_softplus(z, alpha))
    if code == GELU:
        return np.float64(_gelu(z, alpha))
    if code == EXP:
        return np.float64(_exp(z, alpha))
    return np.float64(_identity(z, alpha))


@njit(**INLINED_KERNEL)
def derivative_value(code, d, z, a, alpha):
    """``d · f'(z)`` of one element for an activation ``code`` with a derivative kernel, as that kernel stores it."""
    if code == SIGMOID:
        return np.float64(_sigmoid_slope(d, z, a, alpha))
    if code == TANH:
        return np.float64(_tanh_slope(d, z, a, alpha))
    if code == RELU:
        return np.float64(_relu_slope(d, z, a, alpha))
    if code == LEAKY_RELU:
        return np.float64(_leaky_relu_slope(d, z, a, alpha))
    if code == ELU:
        return np.float64(_elu_slope(d, z, a, alpha))
    if code == SOFTPLUS:
        return np.float64(_softplus_slope(d, z, a, alpha))
    if code == GELU:
        return np.float64(_gelu_slope(d, z, a, alpha))
    if code == EXP:
        return np.float64(_exp_slope(d, z, a, alpha))
    return np.float64(d)


# Every kernel takes ``(z, a, alpha)`` (forward) or ``(delta, z, a, alpha)``
# (derivative); below 0, ``alpha`` is minus the width of softmax's groups (a
# softmax per step, which users' alphas, never negative, cannot ask for).
# Shapes are (rows, units).


@njit(**INLINED_KERNEL)
def _apply(value, z, a, alpha):
    """``a = value(z)`` element by element."""
    for r in range(z.shape[0]):
        zr = z[r]
        ar = a[r]
        for j in range(z.shape[1]):
            ar[j] = value(zr[j], alpha)


@njit(**INLINED_KERNEL)
def _multiply(slope, delta, z, a, alpha):
    """``delta = slope(delta, z, a)`` element by element."""
    for r in range(z.shape[0]):
        dr = delta[r]
        zr = z[r]
        ar = a[r]
        for j in range(z.shape[1]):
            dr[j] = slope(dr[j], zr[j], ar[j], alpha)


@njit(**KERNEL)
def identity_forward(z, a, alpha):
    _apply(_identity, z, a, alpha)


@njit(**KERNEL)
def relu_forward(z, a, alpha):
    _apply(_relu, z, a, alpha)


@njit(**KERNEL)
def leaky_relu_forward(z, a, alpha):
    _apply(_leaky_relu, z, a, alpha)


@njit(**KERNEL)
def sigmoid_forward(z, a, alpha):
    _apply(_sigmoid, z, a, alpha)


@njit(**KERNEL)
def tanh_forward(z, a, alpha):
    _apply(_tanh, z, a, alpha)


@njit(**KERNEL)
def elu_forward(z, a, alpha):
    _apply(_elu, z, a, alpha)


@njit(**KERNEL)
def softplus_forward(z, a, alpha):
    _apply(_softplus, z, a, alpha)


@njit(**KERNEL)
def gelu_forward(z, a, alpha):
    _apply(_gelu, z, a, alpha)


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
    _apply(_exp, z, a, alpha)


@njit(**KERNEL)
def identity_derivative(delta, z, a, alpha):
    pass


@njit(**KERNEL)
def relu_derivative(delta, z, a, alpha):
    _multiply(_relu_slope, delta, z, a, alpha)


@njit(**KERNEL)
def leaky_relu_derivative(delta, z, a, alpha):
    _multiply(_leaky_relu_slope, delta, z, a, alpha)


@njit(**KERNEL)
def sigmoid_derivative(delta, z, a, alpha):
    _multiply(_sigmoid_slope, delta, z, a, alpha)


@njit(**KERNEL)
def tanh_derivative(delta, z, a, alpha):
    _multiply(_tanh_slope, delta, z, a, alpha)


@njit(**KERNEL)
def elu_derivative(delta, z, a, alpha):
    _multiply(_elu_slope, delta, z, a, alpha)


@njit(**KERNEL)
def softplus_derivative(delta, z, a, alpha):
    _multiply(_softplus_slope, delta, z, a, alpha)


@njit(**KERNEL)
def gelu_derivative(delta, z, a, alpha):
    _multiply(_gelu_slope, delta, z, a, alpha)


@njit(**KERNEL)
def exp_derivative(delta, z, a, alpha):
    _multiply(_exp_slope, delta, z, a, alpha)


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
