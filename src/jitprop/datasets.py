"""The documented import path of the data sets: ``from jitprop.datasets import load_digits``.

The code lives in :mod:`jitprop.io.datasets`.
"""

from .io.datasets import load_digits

__all__ = ["load_digits"]
