"""Activation functions and their derivatives, selected by an integer code.

One kernel branches on the code outside its element loop, so each branch is a
plain loop that LLVM can vectorize, and no jitted function is ever passed as
an argument (which would defeat the on-disk cache). The names, formulas and
default initialisers live in :mod:`jitprop.activations`.

Transcendental functions are evaluated in float64 (``np.float64(x)``: in Numba
``float(x)`` of a float32 stays float32) and rounded on store: they are a
small part of the work and this keeps float32 results correctly rounded.
"""

import math

import numpy as np
from numba import njit

from .._numba_options import KERNEL

IDENTITY = 0
SIGMOID = 1
TANH = 2
RELU = 3
LEAKY_RELU = 4
ELU = 5
SOFTPLUS = 6
GELU = 7
SOFTMAX = 8

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@njit(**KERNEL)
def sigmoid(z):
    """Logistic function that never overflows: ``exp`` only of ``-|z|``."""
    e = math.exp(-abs(z))
    return 1.0 / (1.0 + e) if z >= 0.0 else e / (1.0 + e)


@njit(**KERNEL)
def activate(z, a, code, alpha):
    """``a = f(z)`` row by row; ``z`` and ``a`` have the same 2-D shape.

    ``alpha`` is the negative slope of ``leaky_relu`` and the scale of ``elu``.
    """
    rows, cols = z.shape
    if code == SOFTMAX:
        for r in range(rows):
            zr = z[r]
            ar = a[r]
            top = zr[0]
            for j in range(cols):
                top = max(top, zr[j])
            total = 0.0
            for j in range(cols):
                e = math.exp(zr[j] - top)
                ar[j] = e
                total += e
            inv = 1.0 / total
            for j in range(cols):
                ar[j] = ar[j] * inv
        return
    for r in range(rows):
        zr = z[r]
        ar = a[r]
        if code == IDENTITY:
            for j in range(cols):
                ar[j] = zr[j]
        elif code == RELU:
            for j in range(cols):
                ar[j] = max(zr[j], 0)
        elif code == LEAKY_RELU:
            for j in range(cols):
                ar[j] = zr[j] if zr[j] > 0 else alpha * zr[j]
        elif code == SIGMOID:
            for j in range(cols):
                ar[j] = sigmoid(np.float64(zr[j]))
        elif code == TANH:
            for j in range(cols):
                ar[j] = math.tanh(np.float64(zr[j]))
        elif code == ELU:
            for j in range(cols):
                x = np.float64(zr[j])
                ar[j] = x if x > 0.0 else alpha * math.expm1(x)
        elif code == SOFTPLUS:
            for j in range(cols):
                x = np.float64(zr[j])
                ar[j] = max(x, 0.0) + math.log1p(math.exp(-abs(x)))
        elif code == GELU:
            for j in range(cols):
                x = np.float64(zr[j])
                ar[j] = 0.5 * x * (1.0 + math.erf(x * _INV_SQRT2))


@njit(**KERNEL)
def multiply_by_derivative(delta, z, a, code, alpha):
    """``delta *= f'(z)`` element-wise, given both ``z`` and ``a = f(z)``.

    Where the derivative is cheaper in terms of the output it uses ``a``
    (``σ' = a(1 - a)``, ``tanh' = 1 - a²``, ``elu' = a + alpha`` for z < 0).
    Softmax is only allowed as an output layer, whose delta the loss kernel
    computes, so it has no branch here.
    """
    rows, cols = z.shape
    for r in range(rows):
        dr = delta[r]
        zr = z[r]
        ar = a[r]
        if code == IDENTITY:
            pass
        elif code == RELU:
            for j in range(cols):
                dr[j] = dr[j] if zr[j] > 0 else 0
        elif code == LEAKY_RELU:
            for j in range(cols):
                dr[j] = dr[j] if zr[j] > 0 else alpha * dr[j]
        elif code == SIGMOID:
            for j in range(cols):
                dr[j] = dr[j] * (ar[j] * (1 - ar[j]))
        elif code == TANH:
            for j in range(cols):
                dr[j] = dr[j] * (1 - ar[j] * ar[j])
        elif code == ELU:
            for j in range(cols):
                dr[j] = dr[j] if zr[j] > 0 else dr[j] * (ar[j] + alpha)
        elif code == SOFTPLUS:
            for j in range(cols):
                dr[j] = dr[j] * sigmoid(np.float64(zr[j]))
        elif code == GELU:
            for j in range(cols):
                x = np.float64(zr[j])
                cdf = 0.5 * (1.0 + math.erf(x * _INV_SQRT2))
                pdf = _INV_SQRT_2PI * math.exp(-0.5 * x * x)
                dr[j] = dr[j] * (cdf + x * pdf)
