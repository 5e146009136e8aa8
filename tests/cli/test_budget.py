"""The default training budget: enough updates for small tables, early stopping, and the targets it reaches."""

import json
import re

import numpy as np
import pytest

from jitprop import cli
from jitprop.cli import budget


def test_small_tables_get_more_epochs_and_large_ones_at_least_the_minimum():
    assert budget.max_epochs(120, 32) == 5000  # iris: 4 batches an epoch
    assert budget.max_epochs(1438, 32) == 445  # digits: 45 batches, 20,025 updates
    assert budget.max_epochs(400_000, 32) == budget.MIN_EPOCHS
    assert budget.default_patience(5000) == 100 and budget.default_patience(445) == 44
    assert budget.default_patience(30) == 10


def test_epochs_keeps_its_meaning():
    given = budget.choose_budget(30, None, None, 1438, 32, validation=True)
    assert (given.epochs, given.patience, given.default, given.l2) == (30, None, False, 0.0)
    default = budget.choose_budget(None, None, None, 1438, 32, validation=True)
    assert (default.epochs, default.patience, default.default, default.l2) == (445, 44, True, budget.L2)
    assert budget.choose_budget(None, None, None, 1438, 32, validation=False).patience is None
    assert budget.choose_budget(None, 3, 0.0, 1438, 32, validation=True).patience == 3


def test_the_output_says_why_training_stopped(data, in_dir, capsys, monkeypatch):
    assert cli.main(["train", str(data / "digits.npz"), "--epochs", "3", "--quiet"]) == 0
    assert "stopped after the 3 epochs of --epochs" in capsys.readouterr().out
    monkeypatch.setattr(budget, "UPDATES", 1000)
    monkeypatch.setattr(budget, "MIN_EPOCHS", 3)
    assert cli.main(["train", str(data / "digits.npz"), "--val-split", "0", "--batch-size", "200", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "stopped at the most epochs of the default budget, 334 (about 1,000 updates of 600 training examples)" in out
    args = ["train", str(data / "digits.npz"), "--epochs", "40", "--early-stopping", "39", "--lr", "0.05", "--quiet"]
    assert cli.main(args) == 0
    assert re.search(
        r"stopped after the 40 epochs of --epochs; the weights of epoch \d+, the best", capsys.readouterr().out
    )


def _tables(folder):
    """CSV copies of the scikit-learn tables (iris with its species names), and the built-in digits."""
    datasets = pytest.importorskip("sklearn.datasets")
    tables = {}
    for name, loader in [
        ("iris", datasets.load_iris),
        ("cancer", datasets.load_breast_cancer),
        ("wine", datasets.load_wine),
        ("diabetes", datasets.load_diabetes),
    ]:
        bunch = loader()
        y = np.asarray(bunch.target_names)[bunch.target] if name == "iris" else bunch.target
        names = [str(c).replace(" ", "_") for c in bunch.feature_names]
        lines = [",".join(names) + ",target"]
        lines += [",".join(repr(float(v)) for v in row) + f",{t}" for row, t in zip(bunch.data, y)]
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n")
        tables[name] = (bunch.data, bunch.target)
    return tables


def _default_command(arguments, capsys):
    assert cli.main(["train", *arguments, "--metrics-json", "m.json"]) == 0
    capsys.readouterr()
    with open("m.json") as f:
        return json.load(f)


@pytest.mark.parametrize(
    "name, target", [("digits", 0.97), ("iris", 0.95), ("cancer", 0.96), ("wine", 0.95)], ids=lambda x: str(x)
)
def test_the_default_command_reaches_its_target(in_dir, capsys, name, target):
    arguments = [] if name == "digits" else [f"{name}.csv", "--target", "target"]
    if name != "digits":
        _tables(in_dir)
    metrics = _default_command(arguments, capsys)
    assert metrics["val_accuracy"] >= target


def test_diabetes_r2_is_that_of_scikit_learns_default_pipeline_or_better(in_dir, capsys):
    pytest.importorskip("sklearn")
    from sklearn.metrics import r2_score
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _tables(in_dir)["diabetes"]
    metrics = _default_command(["diabetes.csv", "--target", "target"], capsys)
    # The command's validation part: a random fifth drawn by --seed 0 (jitprop.cli.train._split).
    order = np.random.default_rng(0).permutation(len(y))
    held = int(round(0.2 * len(y)))
    train, val = np.sort(order[held:]), np.sort(order[:held])
    with pytest.warns(Warning):  # scikit-learn's default of 200 iterations does not converge here
        model = make_pipeline(StandardScaler(), MLPRegressor(random_state=0)).fit(X[train], y[train])
    assert metrics["val_r2"] >= r2_score(y[val], model.predict(X[val])) - 0.03
    assert metrics["val_r2"] >= 0.44  # and within 0.03 of the same pipeline with the target standardised too
