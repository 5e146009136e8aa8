"""Scores of predictions against targets: confusion matrix, precision and recall, MSE, MAE, R².

Plain NumPy, for ``jitprop evaluate`` and ``jitprop train``'s summary.
"""

import numpy as np


def confusion_matrix(true, predicted, n_classes):
    """Counts of (true class, predicted class) pairs.

    Parameters
    ----------
    true, predicted : ndarray of int of shape (n,)
        Class indices in ``0 .. n_classes - 1``.
    n_classes : int

    Returns
    -------
    ndarray of int64 of shape (n_classes, n_classes)
        ``C[i, j]`` is the number of examples of class ``i`` predicted as ``j``.
    """
    pairs = np.asarray(true, dtype=np.int64) * n_classes + np.asarray(predicted, dtype=np.int64)
    return np.bincount(pairs, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def precision_recall(confusion):
    """Per-class precision, recall and support from a confusion matrix.

    ``precision[j] = C[j, j] / Σ_i C[i, j]`` (of the examples predicted as
    ``j``, the share that are ``j``), ``recall[i] = C[i, i] / Σ_j C[i, j]``
    (of the examples of class ``i``, the share found); 0 where the
    denominator is 0. ``support[i]`` is the number of examples of class ``i``.

    Returns
    -------
    precision, recall : ndarray of float64 of shape (n_classes,)
    support : ndarray of int64 of shape (n_classes,)
    """
    confusion = np.asarray(confusion)
    hits = np.diag(confusion).astype(np.float64)
    predicted = confusion.sum(axis=0)
    support = confusion.sum(axis=1)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, support, out=np.zeros_like(hits), where=support > 0)
    return precision, recall, support.astype(np.int64)


def regression_scores(true, predicted):
    """``{"mse", "mae", "r2"}`` of predicted values against true ones.

    ``mse = mean((y - ŷ)²)``, ``mae = mean(|y - ŷ|)``,
    ``r2 = 1 - Σ(y - ŷ)² / Σ(y - ȳ)²`` (1 for a perfect fit of constant
    targets, 0 for an imperfect one).
    """
    true = np.asarray(true, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    errors = true - predicted
    residual = float(errors @ errors)
    spread = float(((true - true.mean()) ** 2).sum())
    if spread > 0:
        r2 = 1.0 - residual / spread
    else:
        r2 = 1.0 if residual == 0 else 0.0
    return {"mse": residual / true.shape[0], "mae": float(np.abs(errors).mean()), "r2": r2}
