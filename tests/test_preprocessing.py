"""jitprop.preprocessing: imputation and one-hot encoding fitted on training rows, stored as JSON."""

import json

import numpy as np
import pytest

from jitprop.errors import DataError
from jitprop.preprocessing import Imputer, OneHotEncoder

NAN = np.nan


@pytest.mark.parametrize(
    "strategy, fill_value, expected",
    [
        ("mean", None, [2.0, 10.0]),
        ("median", None, [1.0, 10.0]),
        ("most_frequent", None, [1.0, 10.0]),
        ("constant", -1.0, [-1.0, -1.0]),
    ],
)
def test_imputer_fills_nan_with_a_statistic_of_the_training_rows(strategy, fill_value, expected):
    X = np.array([[1.0, 10.0], [NAN, 10.0], [1.0, NAN], [4.0, 10.0], [100.0, NAN]])
    imputer = Imputer(strategy, fill_value).fit(X, rows=np.array([0, 1, 2, 3]))  # the last row is not training
    np.testing.assert_array_equal(imputer.values, expected)
    filled = imputer.transform(X)
    np.testing.assert_array_equal(filled[[1, 2, 4], [0, 1, 1]], [expected[0], expected[1], expected[1]])
    assert np.isnan(X[1, 0])  # transform copies
    back = Imputer.from_json(json.loads(json.dumps(imputer.to_json())))
    np.testing.assert_array_equal(back.transform(X), filled)


def test_imputer_checks_its_arguments_and_columns_without_values():
    with pytest.raises(ValueError, match="strategy must be one of"):
        Imputer("mode")
    with pytest.raises(ValueError, match="fill_value goes with the 'constant' strategy"):
        Imputer("constant")
    with pytest.raises(DataError, match=r"column 1 has no values in the training part to take the mean of"):
        Imputer().fit(np.array([[1.0, NAN], [2.0, NAN]]))


def test_one_hot_encoder_categories_unknown_values_and_the_cap():
    columns = {"city": np.array(["paris", "lyon", "paris", "nice"]), "size": np.array(["s", "m", "s", "xl"])}
    encoder = OneHotEncoder().fit(columns, rows=np.array([0, 1, 2]))  # 'nice' and 'xl' are in row 3 only
    assert encoder.categories == {"city": ["lyon", "paris"], "size": ["m", "s"]}
    np.testing.assert_array_equal(
        encoder.transform({k: v[:3] for k, v in columns.items()}), [[0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1]]
    )
    with pytest.raises(DataError, match=r"row 3, column 'city': 'nice' is not one of the categories seen in training"):
        encoder.transform(columns)
    np.testing.assert_array_equal(encoder.transform(columns, unknown="ignore")[3], [0, 0, 0, 0])
    assert encoder.unknown_values(columns) == (2, [(3, "city", "nice"), (3, "size", "xl")])
    back = OneHotEncoder.from_json(json.loads(json.dumps(encoder.to_json())))
    np.testing.assert_array_equal(back.transform(columns, "ignore"), encoder.transform(columns, "ignore"))
    with pytest.raises(DataError, match=r"column 'id' has 4 distinct values .* more than the 3 a categorical column"):
        OneHotEncoder(max_categories=3).fit({"id": np.array(["a", "b", "c", "d"])})


def test_one_hot_encoder_fills_empty_values():
    columns = {"city": np.array(["paris", "", "lyon", "paris"])}
    with pytest.raises(DataError, match=r"row 1, column 'city' is empty"):
        OneHotEncoder().fit(columns).transform(columns)
    frequent = OneHotEncoder().fit(columns, most_frequent=True)
    assert frequent.fills == {"city": "paris"}
    np.testing.assert_array_equal(frequent.transform(columns)[1], [0, 1])
    constant = OneHotEncoder(fill="unknown").fit(columns)
    assert constant.categories == {"city": ["lyon", "paris", "unknown"]}
    np.testing.assert_array_equal(constant.transform(columns)[1], [0, 0, 1])
