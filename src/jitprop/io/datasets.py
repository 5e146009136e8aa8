"""Data sets shipped with jitprop.

The digits set is a copy of the test part of the UCI "Optical Recognition of
Handwritten Digits" data set (E. Alpaydin and C. Kaynak, 1998), from the UCI
Machine Learning Repository (Dua and Graff), licensed under Creative Commons
Attribution 4.0 International (CC BY 4.0). It holds 1,797 images of 8 x 8
pixels, each pixel an integer from 0 to 16, with their digit 0-9.
"""

import gzip
from importlib import resources

import numpy as np


def load_digits(scale=True):
    """The UCI optical handwritten digits: 1,797 examples, 64 features, 10 classes.

    Parameters
    ----------
    scale : bool, default True
        Divide the pixel counts (0-16) by 16 so that features lie in [0, 1].

    Returns
    -------
    X : ndarray of shape (1797, 64), float64
    y : ndarray of shape (1797,), int64
        The digit each row shows.
    """
    with resources.files("jitprop.io").joinpath("data/digits.csv.gz").open("rb") as raw:
        with gzip.open(raw, "rt") as text:
            table = np.loadtxt(text, delimiter=",")
    X = table[:, :-1]
    y = table[:, -1].astype(np.int64)
    return (X / 16.0 if scale else X), y
