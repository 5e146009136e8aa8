"""Preprocessing stored with a model: labels, task inference, standardisation, JSON round trip."""

import json

import numpy as np
import pytest

import jitprop as jp
from jitprop.cli.data_files import read_table
from jitprop.cli.preprocessing import Preprocessing, infer_task, read_labels
from jitprop.errors import DataError


def table_of(tmp_path, text, target="y"):
    (tmp_path / "t.csv").write_text(text)
    return read_table(tmp_path / "t.csv", target)


def test_text_that_reads_as_numbers_becomes_numbers(tmp_path):
    assert read_labels(table_of(tmp_path, "x,y\n1,2\n2,1.0\n3,10\n")).tolist() == [2, 1, 10]
    assert read_labels(table_of(tmp_path, "x,y\n1,2.5\n2,1\n")).dtype == np.float64
    assert read_labels(table_of(tmp_path, "x,y\n1, b\n2,a\n3,10\n")).tolist() == ["b", "a", "10"]
    with pytest.raises(DataError, match=r"line 3, column 'y' is empty; every example needs a target"):
        read_labels(table_of(tmp_path, "x,y\n1,a\n2,\n"))
    with pytest.raises(DataError, match=r"line 2, column 'y' is NaN"):
        read_labels(table_of(tmp_path, "x,y\n1,nan\n2,3\n"))


@pytest.mark.parametrize(
    "labels, task",
    [
        (np.array(["a", "b", "a"]), "classification"),
        (np.array([0.5, 1.5, 2.0]), "regression"),
        (np.repeat(np.arange(10), 3), "classification"),
        (np.arange(30), "regression"),  # as many values as examples: not classes
        (np.repeat(np.arange(60), 3), "regression"),  # more than MAX_INFERRED_CLASSES
    ],
)
def test_infer_task(labels, task):
    assert infer_task(labels, "y")[0] == task


def test_classes_standardisation_and_json_round_trip(tmp_path):
    table = table_of(tmp_path, "a,b,y\n1,5,dog\n3,5,cat\n5,5,dog\n100,5,bird\n")
    labels = read_labels(table)
    pre = Preprocessing.fit(table, labels, "classification", standardize=True, rows=np.array([0, 1, 2]))
    assert pre.classes == ["bird", "cat", "dog"]
    np.testing.assert_allclose(pre.feature_mean, [3, 5])
    np.testing.assert_allclose(pre.feature_scale, [np.sqrt(8 / 3), 1])  # a constant column gets scale 1
    np.testing.assert_array_equal(pre.targets(table, labels), [2, 1, 2, 0])
    inputs = pre.inputs(table, "float64")
    np.testing.assert_allclose(inputs[:, 0], (np.array([1, 3, 5, 100]) - 3) / np.sqrt(8 / 3))

    net = jp.Network([jp.Dense(3, "softmax")], input_dim=2, loss="cross_entropy", seed=0)
    back = Preprocessing.from_json(json.loads(json.dumps(pre.to_json())), net, "m.safetensors")
    assert back.to_json() == pre.to_json()
    np.testing.assert_array_equal(back.inputs(table, "float64"), inputs)
    outputs = np.array([[0.1, 0.2, 0.7], [0.8, 0.1, 0.1]])
    assert back.predictions(outputs).tolist() == ["dog", "bird"]

    other = table_of(tmp_path, "a,b,y\n1,5,fish\n")
    with pytest.raises(DataError, match=r"line 2, column 'y': 'fish' is not one of the model's classes \('bird'"):
        back.targets(other, read_labels(other))
    small = jp.Network([jp.Dense(2, "softmax")], input_dim=2, loss="cross_entropy", seed=0)
    with pytest.raises(DataError, match=r"a classifier with 2 outputs needs 2 classes"):
        Preprocessing.from_json(pre.to_json(), small, "m.safetensors")


def test_regression_targets_are_standardised_and_mapped_back(tmp_path):
    table = table_of(tmp_path, "a,y\n1,10\n2,20\n3,30\n4,40\n")
    labels = read_labels(table)
    pre = Preprocessing.fit(table, labels, "regression", standardize=False)
    assert (pre.target_mean, pre.target_scale) == (25.0, np.sqrt(125.0))
    standard = pre.targets(table, labels)
    np.testing.assert_allclose(standard.mean(), 0, atol=1e-12)
    np.testing.assert_allclose(pre.predictions(standard[:, None]), [10, 20, 30, 40])
    text = table_of(tmp_path, "a,y\n1,10\n2,cheap\n")
    with pytest.raises(DataError, match=r"line 3, column 'y': 'cheap' is not a number; a regression target"):
        pre.targets(text, read_labels(text))


def test_models_saved_without_preprocessing_use_positions_and_class_indices():
    net = jp.Network([jp.Dense(1, "sigmoid")], input_dim=3, loss="binary_cross_entropy", seed=0)
    pre = Preprocessing.for_network(net)
    assert (pre.task, pre.classes, pre.features) == ("classification", [0, 1], ["0", "1", "2"])
    np.testing.assert_allclose(pre.probabilities(np.array([[0.25]])), [[0.75, 0.25]])
    regression = Preprocessing.for_network(jp.Network([jp.Dense(1)], input_dim=3, loss="mse", seed=0))
    assert regression.task == "regression"
