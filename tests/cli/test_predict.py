"""``jitprop predict``: the predictions of a model file, as the library makes them."""

import csv

import numpy as np

from helpers import DIGIT_NAMES, run_jitprop
from jitprop import cli
from jitprop.io.model_file import load_checkpoint


def standardised(X, preprocessing):
    return (X - np.array(preprocessing["feature_mean"])) / np.array(preprocessing["feature_scale"])


def test_predictions_and_probabilities_are_the_librarys(data, digits_model, tmp_path):
    predictions = tmp_path / "p.csv"
    predicted = run_jitprop("predict", digits_model, data / "digits.csv", "--proba", "--out", predictions, cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    assert predicted.stdout == f"600 predictions written to {predictions}\n"

    # The same predictions through the library: load, standardise with the stored statistics, predict.
    checkpoint = load_checkpoint(digits_model)
    net, stored = checkpoint.network, checkpoint.extra["preprocessing"]
    assert stored["classes"] == sorted(DIGIT_NAMES) and stored["features"] == [f"px{j}" for j in range(64)]
    table = np.genfromtxt(data / "digits.csv", delimiter=",", skip_header=1, usecols=range(64))
    proba = net.predict(standardised(table, stored))
    with open(predictions) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["prediction"] + [f"proba_{name}" for name in sorted(DIGIT_NAMES)]
    assert [row[0] for row in rows[1:]] == [stored["classes"][i] for i in proba.argmax(axis=1)]
    np.testing.assert_allclose(np.array([row[1:] for row in rows[1:]], dtype=float), proba, rtol=1e-6, atol=1e-9)


def test_the_built_in_model_predicts_a_csv_that_still_has_the_digit_column(data, in_dir, capsys):
    assert cli.main(["train", "--epochs", "2", "--quiet"]) == 0
    capsys.readouterr()
    assert cli.main(["predict", "model.safetensors", str(data / "digits.csv")]) == 0  # px0..px63 and digit
    assert len(capsys.readouterr().out.split()) == 601
