"""Preprocessing stored with a model: labels, task inference, standardisation, JSON round trip."""

import json

import numpy as np
import pytest

import jitprop as jp
from jitprop.cli.data_files import read_table
from jitprop import cli
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


def test_model_files_of_version_1_still_load(tmp_path):
    table = table_of(tmp_path, "a,b,y\n1,5,dog\n3,6,cat\n")
    pre = Preprocessing.fit(table, read_labels(table), "classification", standardize=True)
    doc = {key: value for key, value in pre.to_json().items() if key not in ("impute", "categorical")}
    net = jp.Network([jp.Dense(2, "softmax")], input_dim=2, loss="cross_entropy", seed=0)
    back = Preprocessing.from_json({**doc, "version": 1}, net, "m.safetensors")
    np.testing.assert_array_equal(back.inputs(table, "float64"), pre.inputs(table, "float64"))


# --------------------------------------------- categorical columns and missing values, through the command
HOUSES = """rooms,city,area,price
3,paris,60,300
4,lyon,,210
,paris,75,380
2,nice,40,190
5,lyon,120,330
3,,65,240
4,paris,90,450
2,lyon,35,120
6,nice,150,600
3,paris,,330
"""


def _inputs_by_hand(stored, rows):
    """What the model file says the inputs of ``rows`` (rooms, area, city; None where missing) are."""
    impute, categorical = stored["impute"], stored["categorical"]
    numbers = np.array([[np.nan if v is None else v for v in row[:2]] for row in rows], dtype=float)
    numbers = np.where(np.isnan(numbers), impute["values"], numbers)
    numbers = (numbers - stored["feature_mean"]) / stored["feature_scale"]
    cities = categorical["categories"]["city"]
    onehot = [[float(c == (row[2] or categorical["fills"]["city"])) for c in cities] for row in rows]
    return np.hstack([numbers, onehot])


def test_categorical_columns_and_imputation_round_trip_through_the_model_file(in_dir, capsys):
    from jitprop.io.model_file import load_checkpoint

    (in_dir / "houses.csv").write_text(HOUSES)
    train = ["train", "houses.csv", "--target", "price", "--impute", "median", "--epochs", "5", "--val-split", "0"]
    assert cli.main([*train, "--hidden", "8"]) == 0
    out = capsys.readouterr().out
    assert "categorical: city (3 categories): one-hot encoded, 5 inputs in all" in out
    assert "missing: 4 values in the training part, imputed: median of the training part" in out
    checkpoint = load_checkpoint("model.safetensors")
    stored = checkpoint.extra["preprocessing"]
    assert stored["features"] == ["rooms", "area"] and stored["impute"]["values"] == [3.0, 70.0]
    assert stored["categorical"]["categories"] == {"city": ["lyon", "nice", "paris"]}
    assert stored["categorical"]["fills"] == {"city": "paris"}

    # New rows, columns in another order, with missing values and an extra column.
    (in_dir / "new.csv").write_text("city,note,area,rooms\nnice,x,50,\n,y,,2\nlyon,z,80,4\n")
    assert cli.main(["predict", "model.safetensors", "new.csv"]) == 0
    predicted = np.array(capsys.readouterr().out.split()[1:], dtype=float)
    expected = (
        checkpoint.network.predict(
            _inputs_by_hand(stored, [(None, 50, "nice"), (2, None, None), (4, 80, "lyon")]).astype("float32")
        )[:, 0]
        * stored["target_scale"]
        + stored["target_mean"]
    )
    np.testing.assert_allclose(predicted, expected, rtol=1e-6)

    assert cli.main(["evaluate", "model.safetensors", "houses.csv"]) == 0
    assert "houses.csv: 10 examples, target column 'price'" in capsys.readouterr().out
    assert cli.main(["summary", "model.safetensors"]) == 0
    summary = capsys.readouterr().out
    assert "  city: 3 categories (lyon, nice, paris), a missing value becomes paris" in summary
    assert "missing values: imputed, median of training (rooms 3, area 70)" in summary


def test_unseen_categories_are_named_or_encoded_as_zeros(in_dir, capsys):
    (in_dir / "houses.csv").write_text(HOUSES.replace(",,", ",0,").replace("\n,", "\n3,").replace(",,", ",x,"))
    (in_dir / "houses.csv").write_text("rooms,city,price\n3,paris,300\n4,lyon,210\n2,nice,190\n5,lyon,330\n")
    assert cli.main(["train", "houses.csv", "--target", "price", "--epochs", "2", "--val-split", "0", "--quiet"]) == 0
    (in_dir / "new.csv").write_text("rooms,city\n3,paris\n4,rome\n5,oslo\n")
    assert cli.main(["predict", "model.safetensors", "new.csv"]) == 2
    err = capsys.readouterr().err
    assert "new.csv line 3, column 'city': 'rome' is not one of the categories seen in training ('lyon', " in err
    assert "--unknown-category ignore encodes it as all zeros" in err
    assert cli.main(["predict", "model.safetensors", "new.csv", "--unknown-category", "ignore"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.split()) == 4
    assert (
        "jitprop predict: warning: 2 values of categorical columns not seen in training, encoded as all zeros; "
        "the first: new.csv line 3, column 'city': 'rome'" in captured.err
    )


def test_imputation_statistics_come_from_the_training_part_only(in_dir, capsys):
    from jitprop.cli import train as train_command
    from jitprop.io.model_file import load_checkpoint

    # Column 'a' is 0 or missing in even rows and 1000 in odd ones; a random half is held out.
    rng = np.random.default_rng(1)
    rows = [f"{'' if i % 7 == 0 else (1000 if i % 2 else 0) + rng.normal()},{rng.normal()},{i % 3}" for i in range(60)]
    (in_dir / "t.csv").write_text("a,b,y\n" + "\n".join(rows) + "\n")
    for strategy in ("mean", "median", "most_frequent"):
        args = ["train", "t.csv", "--target", "y", "--impute", strategy, "--val-split", "0.5", "--epochs", "1"]
        assert cli.main([*args, "--quiet"]) == 0
        stored = load_checkpoint("model.safetensors").extra["preprocessing"]
        table = read_table("t.csv", "y", missing=True)
        labels = read_labels(table)
        train, val = train_command._split(table, labels, "classification", 0.5, 0)
        a = table.X[train, 0]
        a = a[~np.isnan(a)]
        expected = {"mean": a.mean(), "median": np.median(a), "most_frequent": np.sort(a)[0]}[strategy]
        assert stored["impute"]["values"][0] == expected
        everything = table.X[:, 0][~np.isnan(table.X[:, 0])]
        assert expected != {"mean": everything.mean(), "median": np.median(everything)}.get(strategy, None)
        filled = np.where(np.isnan(table.X[train, 0]), expected, table.X[train, 0])
        np.testing.assert_allclose(stored["feature_mean"][0], filled.mean())  # standardised after imputing
    capsys.readouterr()


def test_text_columns_without_the_options(in_dir, capsys):
    (in_dir / "h.csv").write_text("rooms,city,price\n3,paris,300\n4,lyon,210\n2,,190\n5,lyon,330\n")
    assert cli.main(["train", "h.csv", "--target", "price", "--epochs", "1"]) == 2
    assert "h.csv line 4, column 'city' is empty; fill in or drop missing values" in capsys.readouterr().err
    (in_dir / "h.csv").write_text("rooms,city,price\n3,paris,300\n4,lyon,210\n2,nice,190\n5,lyon,330\n")
    assert cli.main(["train", "h.csv", "--target", "price", "--epochs", "1", "--categorical", "none"]) == 2
    assert "h.csv line 2, column 'city': 'paris' is not a number" in capsys.readouterr().err
    assert cli.main(["train", "h.csv", "--target", "price", "--epochs", "1", "--max-categories", "2"]) == 2
    assert (
        "column 'city' has 3 distinct values ('lyon', 'nice', 'paris', ...), more than the 2" in capsys.readouterr().err
    )
    assert cli.main(["train", "h.csv", "--target", "price", "--epochs", "1", "--categorical", "rooms", "--quiet"]) == 0
    capsys.readouterr()
    assert cli.main(["summary", "model.safetensors"]) == 0
    assert "  rooms: 4 categories (2, 3, 4, 5)" in capsys.readouterr().out


def test_parquet_tables_train_and_predict_by_column_name(in_dir, capsys):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = [line.split(",") for line in HOUSES.strip().splitlines()[1:]]
    number = lambda text: float(text) if text else None  # noqa: E731
    pq.write_table(
        pa.table(
            {
                "rooms": [number(r[0]) for r in rows],
                "city": [r[1] or None for r in rows],
                "area": [number(r[2]) for r in rows],
                "price": [float(r[3]) for r in rows],
            }
        ),
        "houses.parquet",
    )
    (in_dir / "houses.csv").write_text(HOUSES)
    train = ["--target", "price", "--impute", "median", "--epochs", "3", "--val-split", "0", "--quiet"]
    assert cli.main(["train", "houses.parquet", *train, "--out", "p.safetensors"]) == 0
    assert cli.main(["train", "houses.csv", *train, "--out", "c.safetensors"]) == 0
    capsys.readouterr()
    from jitprop.io.model_file import load_checkpoint

    stored = load_checkpoint("p.safetensors").extra["preprocessing"]
    assert stored == load_checkpoint("c.safetensors").extra["preprocessing"]
    assert cli.main(["predict", "p.safetensors", "houses.parquet"]) == 0
    from_parquet = capsys.readouterr().out
    assert cli.main(["predict", "p.safetensors", "houses.csv"]) == 0
    assert capsys.readouterr().out == from_parquet
