"""Holding out part of a data set for validation."""

import numpy as np


def stratified_split(labels, fraction, rng):
    """Indices of a training part and a held-out part with the same class proportions.

    Each class contributes ``round(fraction * count)`` examples to the held-out
    part (at least one when it has two or more examples), chosen at random.

    Parameters
    ----------
    labels : ndarray of shape (n,)
    fraction : float
        Share of examples to hold out, in (0, 1).
    rng : numpy.random.Generator

    Returns
    -------
    train, held_out : int64 ndarrays
        Sorted indices.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"The validation fraction must lie in (0, 1), got {fraction!r}.")
    held_out = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        take = int(round(fraction * members.size))
        if members.size >= 2:
            take = min(max(take, 1), members.size - 1)
        held_out.append(rng.choice(members, size=take, replace=False))
    held_out = np.sort(np.concatenate(held_out)).astype(np.int64)
    train = np.setdiff1d(np.arange(labels.shape[0]), held_out).astype(np.int64)
    return train, held_out
