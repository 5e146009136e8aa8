"""``jitprop evaluate``: scores, the per-class table and the confusion matrix, as the library computes them."""

import json

import numpy as np
import pytest

from helpers import run_jitprop
from jitprop.io.model_file import load_checkpoint


def test_scores_are_the_librarys(data, digits_model, tmp_path):
    scores = tmp_path / "s.json"
    evaluated = run_jitprop("evaluate", digits_model, data / "digits.csv", "--metrics-json", scores, cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr

    checkpoint = load_checkpoint(digits_model)
    net, stored = checkpoint.network, checkpoint.extra["preprocessing"]
    table = np.genfromtxt(data / "digits.csv", delimiter=",", skip_header=1, usecols=range(64))
    labels = np.genfromtxt(data / "digits.csv", delimiter=",", skip_header=1, usecols=64, dtype=str)
    X = (table - np.array(stored["feature_mean"])) / np.array(stored["feature_scale"])
    expected = net.evaluate(X, np.searchsorted(stored["classes"], labels))
    report = json.loads(scores.read_text())
    assert report["loss"] == pytest.approx(expected["loss"], rel=1e-6)
    assert report["accuracy"] == pytest.approx(expected["accuracy"])
    assert report["examples"] == 600 and len(report["confusion_matrix"]) == 10
    confusion = np.array(report["confusion_matrix"])
    assert confusion.sum() == 600 and report["support"] == confusion.sum(axis=1).tolist()
    assert np.trace(confusion) / 600 == pytest.approx(report["accuracy"])
    assert "confusion matrix" in evaluated.stdout and "precision" in evaluated.stdout
