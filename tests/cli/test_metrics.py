"""Scores against worked examples."""

import numpy as np
import pytest

from jitprop.cli.metrics import confusion_matrix, precision_recall, regression_scores


def test_confusion_precision_recall_worked_example():
    true = [0, 0, 0, 1, 1, 2]
    predicted = [0, 0, 1, 1, 0, 1]
    confusion = confusion_matrix(true, predicted, 3)
    np.testing.assert_array_equal(confusion, [[2, 1, 0], [1, 1, 0], [0, 1, 0]])
    precision, recall, support = precision_recall(confusion)
    np.testing.assert_allclose(precision, [2 / 3, 1 / 3, 0])  # class 2 is never predicted: 0
    np.testing.assert_allclose(recall, [2 / 3, 1 / 2, 0])
    np.testing.assert_array_equal(support, [3, 2, 1])


def test_regression_scores_worked_example():
    scores = regression_scores([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 2.0, 5.0])
    assert scores["mse"] == pytest.approx(0.5)
    assert scores["mae"] == pytest.approx(0.5)
    assert scores["r2"] == pytest.approx(1 - 2 / 5)
    assert regression_scores([2.0, 2.0], [2.0, 2.0])["r2"] == 1.0
    assert regression_scores([2.0, 2.0], [1.0, 2.0])["r2"] == 0.0
