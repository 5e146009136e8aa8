"""Weight initialisers, by name.

For a layer with ``fan_in`` inputs and ``fan_out`` outputs (for a
convolution, as Keras counts them: ``fan_in = kh·kw·c_in`` and
``fan_out = kh·kw·c_out``, the kernel's window times its channels):

==================  =====================================================
name                distribution
==================  =====================================================
``glorot_uniform``  U(-l, l), l = sqrt(6 / (fan_in + fan_out))
``glorot_normal``   N(0, s²), s = sqrt(2 / (fan_in + fan_out))
``he_uniform``      U(-l, l), l = sqrt(6 / fan_in)
``he_normal``       N(0, s²), s = sqrt(2 / fan_in)
``zeros``           0
==================  =====================================================
"""

import numpy as np


def _glorot_uniform(rng, fan_in, fan_out, shape):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def _glorot_normal(rng, fan_in, fan_out, shape):
    return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), size=shape)


def _he_uniform(rng, fan_in, fan_out, shape):
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=shape)


def _he_normal(rng, fan_in, fan_out, shape):
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)


def _zeros(rng, fan_in, fan_out, shape):
    return np.zeros(shape)


INITIALIZERS = {
    "glorot_uniform": _glorot_uniform,
    "glorot_normal": _glorot_normal,
    "he_uniform": _he_uniform,
    "he_normal": _he_normal,
    "zeros": _zeros,
}


def initial_weights(name, rng, fan_in, fan_out, shape=None):
    """Draw float64 weights of ``shape`` (default (fan_in, fan_out)) from the initialiser ``name``."""
    try:
        init = INITIALIZERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown initializer {name!r}; expected one of {', '.join(sorted(INITIALIZERS))}.") from None
    return init(rng, fan_in, fan_out, (fan_in, fan_out) if shape is None else tuple(shape))
