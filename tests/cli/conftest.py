"""Fixtures of the command-line tests: data files in every format, a trained model, a scratch directory."""

import numpy as np
import pytest

from helpers import DIGIT_NAMES, run_jitprop, write_csv


@pytest.fixture(scope="session")
def data(tmp_path_factory, digits):
    """Data files in one directory: digits as CSV (text labels), NPY and NPZ, and a regression CSV."""
    folder = tmp_path_factory.mktemp("data")
    X, y = digits
    rows = [[f"{v:g}" for v in x] + [DIGIT_NAMES[label]] for x, label in zip(X[:600], y[:600])]
    write_csv(folder / "digits.csv", [f"px{j}" for j in range(64)] + ["digit"], rows)
    np.save(folder / "digits.npy", np.column_stack([X[:600], y[:600]]))
    np.savez(folder / "digits.npz", X=X[:600], y=y[:600])
    rng = np.random.default_rng(7)
    Xr = rng.normal(size=(300, 3)) * [1.0, 100.0, 0.01]
    yr = Xr @ [2.0, 0.03, 100.0] + 50 + rng.normal(size=300) * 0.05
    write_csv(folder / "houses.csv", ["rooms", "area", "age", "price"], [[*x, t] for x, t in zip(Xr, yr)])
    return folder


@pytest.fixture(scope="session")
def digits_model(data, tmp_path_factory):
    """A model trained by ``jitprop train`` on digits.csv (text labels), as a user runs it."""
    folder = tmp_path_factory.mktemp("model")
    model = folder / "m.safetensors"
    trained = run_jitprop(
        "train",
        data / "digits.csv",
        "--target",
        "digit",
        "--epochs",
        8,
        "--hidden",
        "32",
        "--out",
        model,
        "--quiet",
        cwd=folder,
    )
    assert trained.returncode == 0, trained.stderr
    assert trained.stdout.splitlines()[0].split() == ["loss", "accuracy"]
    return model


@pytest.fixture
def in_dir(tmp_path, monkeypatch):
    """Run the test in an empty directory of its own."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
