"""The built-in digits: what load_digits returns, and that the file ships inside the package."""

import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

import jitprop
from jitprop.io.datasets import load_digits


def test_load_digits_shapes_scale_and_labels():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64 and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    raw, same = load_digits(scale=False)
    np.testing.assert_array_equal(raw / 16.0, X)
    np.testing.assert_array_equal(same, y)
    assert set(np.unique(raw)) <= set(range(17))


def test_the_documented_import_path_still_works():
    from jitprop.datasets import load_digits as documented

    assert documented is load_digits


def test_the_data_and_its_licence_are_package_data():
    # Read as the installed package reads it, through importlib.resources.
    data = resources.files("jitprop.io").joinpath("data")
    assert data.joinpath("digits.csv.gz").is_file() and data.joinpath("DIGITS-LICENSE.txt").is_file()
    assert "(CC BY 4.0)" in data.joinpath("DIGITS-LICENSE.txt").read_text()


def test_the_wheel_takes_the_whole_package_directory():
    # hatchling puts every file under the listed package directories in the wheel, data files
    # included; a wheel built from this tree holds jitprop/io/data/digits.csv.gz.
    tomllib = pytest.importorskip("tomllib") if sys.version_info >= (3, 11) else pytest.importorskip("tomli")
    root = Path(__file__).resolve().parents[2]
    config = tomllib.loads((root / "pyproject.toml").read_text())
    wheel = config["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["packages"] == ["src/jitprop"] and "exclude" not in wheel and "only-include" not in wheel
    assert (root / "src/jitprop/io/data/digits.csv.gz").is_file()
    assert config["project"]["scripts"]["jitprop"] == "jitprop.cli:main"
    assert Path(jitprop.__file__).parent.joinpath("io", "data", "digits.csv.gz").is_file()
