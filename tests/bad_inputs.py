"""Every bad input tried against jitprop's API, and the answer it must get.

One registry drives both the test (``tests/test_reliability_inputs.py`` runs
every case and checks the exception's type and message) and the table in
``docs/reliability.md``, which this module prints::

    python tests/bad_inputs.py                              # the Markdown table, on stdout
    python tests/bad_inputs.py --write docs/reliability.md  # replace the table between its markers

A case is an entry point, a description of the bad input, a call that makes
it, the exception class expected and a regular expression its message must
match (which names the argument and what was received). The table shows the
message actually raised.
"""

import argparse
import os
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conftest  # noqa: F401  (sets NUMBA_CACHE_DIR when run as a script)
import numpy as np

import jitprop as jp
from helpers import make_classifier

BEGIN = "<!-- bad-inputs-table:begin -->"
END = "<!-- bad-inputs-table:end -->"


@dataclass(frozen=True)
class Case:
    """One bad input: ``call()`` must raise ``error`` with a message matching ``match``."""

    entry: str
    what: str
    call: Callable[[], object]
    error: type
    match: str


# --------------------------------------------------------------- fixtures
def _rng():
    return np.random.default_rng(8)


def classifier(dtype="float64"):
    """5 features -> 4 relu -> 3 softmax, cross-entropy (the ``classifier`` fixture's network)."""
    return make_classifier(features=5, hidden=4, dtype=dtype)


def regressor(outputs=1, dtype="float64"):
    return jp.Network([jp.Dense(4, "tanh"), jp.Dense(outputs)], input_dim=5, loss="mse", dtype=dtype, seed=0)


def binary():
    return jp.Network([jp.Dense(2, "sigmoid")], input_dim=5, loss="binary_cross_entropy", dtype="float64", seed=0)


def data(n=10):
    rng = _rng()
    return rng.normal(size=(n, 5)), rng.integers(0, 3, size=n)


def _with(X, row, col, value):
    X = np.array(X, dtype=np.float64)
    X[row, col] = value
    return X


def _sparse(X):
    import scipy.sparse

    return scipy.sparse.csr_matrix(X)


def _masked(X):
    mask = np.zeros(X.shape, dtype=bool)
    mask[2, 1] = True
    return np.ma.masked_array(X, mask=mask)


def _dataframe_with_na(X):
    import pandas as pd

    frame = pd.DataFrame(X)
    frame[0] = pd.array([None] + [1] * (len(X) - 1), dtype="Int64")
    return frame


# ----------------------------------------------------------------- X
def _bad_X():
    """(description, X, exception, regex) for an X of a network with 5 features, 10 examples."""
    X, _ = data()
    longdouble = np.full((10, 5), np.longdouble(1))
    longdouble[4, 2] = np.longdouble("1e4000") if np.finfo(np.longdouble).max > 1e308 else np.inf
    rows = [
        ("1-D X", X[:, 0], ValueError, r"Expected a 2-D array for X, got 1-D with shape \(10,\).*reshape\(-1, 1\)"),
        ("3-D X", X[None], ValueError, r"Expected a 2-D array for X, got 3-D with shape \(1, 10, 5\)"),
        ("scalar X", 3.0, ValueError, r"Expected a 2-D array for X, got 0-D"),
        ("0-d array X", np.array(3.0), ValueError, r"Expected a 2-D array for X, got 0-D"),
        ("empty X (0 rows)", np.zeros((0, 5)), ValueError, r"X has 0 examples \(shape \(0, 5\)\)"),
        ("4 features for 5", X[:, :4], ValueError, r"X has 4 features, but the network expects 5"),
        ("0 features", np.zeros((10, 0)), ValueError, r"X has 0 features, but the network expects 5"),
        ("NaN in X", _with(X, 7, 3, np.nan), ValueError, r"Input X contains NaN \(first at row 7, column 3\)"),
        ("+inf in X", _with(X, 2, 0, np.inf), ValueError, r"Input X contains infinity \(first at row 2, column 0\)"),
        ("-inf in X", _with(X, 9, 4, -np.inf), ValueError, r"Input X contains infinity \(first at row 9, column 4\)"),
        (
            "float64 X beyond float64 (long double 1e4000)",
            longdouble,
            ValueError,
            r"Input X contains infinity \(first at row 4, column 2\)",
        ),
        ("strings", np.array([list("abcde")] * 10), TypeError, r"X must hold real numbers, got an array of dtype <U1"),
        ("object array", X.astype(object), TypeError, r"X must hold real numbers, got an array of dtype object"),
        ("complex", X.astype(complex), TypeError, r"X must hold real numbers, got an array of dtype complex128"),
        ("datetime64", np.zeros((10, 5), dtype="datetime64[s]"), TypeError, r"X must hold real numbers.*datetime64"),
        ("ragged nested lists", [[1.0, 2.0], [3.0]], TypeError, r"X could not be read as an array"),
        ("None", None, TypeError, r"X must be an array-like of real numbers, got NoneType"),
        ("a set", {1.0, 2.0}, TypeError, r"X must be an array-like of real numbers, got set"),
        (
            "a generator of rows",
            (row for row in X),
            TypeError,
            r"X must be an array-like of real numbers, got generator",
        ),
        ("masked array with a masked value", _masked(X), ValueError, r"X is a masked array with 1 masked value"),
    ]
    if _importable("scipy"):
        rows.append(("SciPy sparse matrix", _sparse(X), TypeError, r"X is a sparse csr_matrix.*X\.toarray\(\)"))
    if _importable("pandas"):
        rows.append(
            (
                "DataFrame with a missing value (pd.NA)",
                _dataframe_with_na(X),
                TypeError,
                r"X must hold real numbers, got an array of dtype object",
            )
        )
    return rows


def _importable(name):
    """Whether an optional package (not a test dependency of jitprop) is installed."""
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _x_cases():
    _, y = data()
    for what, X, error, match in _bad_X():
        yield Case("Network.predict", what, lambda X=X: classifier().predict(X), error, match)
        yield Case("Network.evaluate", what, lambda X=X: classifier().evaluate(X, y), error, match)
        yield Case("Network.loss_and_grads", what, lambda X=X: classifier().loss_and_grads(X, y), error, match)
        yield Case("Network.fit", what, lambda X=X: classifier().fit(X, y, verbose=0), error, match)
    big = np.array([[1.0, 2.0, 0.0, 0.0, 0.0], [1e300, 0.0, 0.0, 0.0, 0.0]])
    yield Case(
        "Network.predict",
        "float64 X beyond float32's range, float32 network",
        lambda: classifier("float32").predict(big),
        ValueError,
        r"Input X contains infinity \(first at row 1, column 0\) once converted to the network's float32: "
        r"the value 1e\+300 is beyond its range",
    )


# ----------------------------------------------------------------- y
def _y_cases():
    X, y = data()
    rng = _rng()
    float_labels = y.astype(float)
    float_labels[2] = 1.5
    out_of_range = y.copy()
    out_of_range[6] = 3
    negative = y.copy()
    negative[6] = -1
    huge = y.astype(float)
    huge[4] = 1e20
    unsigned = y.astype(np.uint64)
    unsigned[5] = 2**63 + 5
    labelled = [
        ("9 labels for 10 rows", y[:9], ValueError, r"X and y have different numbers of examples: 10 and 9"),
        ("NaN in y", _with(y[:, None], 4, 0, np.nan)[:, 0], ValueError, r"Input y contains NaN \(first at row 4\)"),
        (
            "inf in y",
            _with(y[:, None], 1, 0, np.inf)[:, 0],
            ValueError,
            r"Input y contains infinity \(first at row 1\)",
        ),
        (
            "label 3 with 3 outputs",
            out_of_range,
            ValueError,
            r"Class label 3 at row 6 of y is outside the network's 3 outputs \(expected 0 to 2\)",
        ),
        ("label -1", negative, ValueError, r"Class label -1 at row 6 of y is outside"),
        ("label 1.5", float_labels, ValueError, r"Class labels in y must be integers; row 2 has .*1\.5"),
        ("label 1e20 (float)", huge, ValueError, r"Class label 100000000000000000000 at row 4 of y is outside"),
        ("label 2**63 + 5 (uint64)", unsigned, ValueError, r"Class label 9223372036854775813 at row 5 of y is outside"),
        (
            "y of strings",
            np.array(list("abcabcabca")),
            TypeError,
            r"y must hold real numbers, got an array of dtype <U1",
        ),
        ("complex y", np.zeros(10, dtype=complex), TypeError, r"y must hold real numbers.*complex128"),
        ("3-D y", np.zeros((10, 3, 1)), ValueError, r"Expected y of shape \(n,\) or \(n, 3\), got shape \(10, 3, 1\)"),
        ("0-d array y", np.array(2), ValueError, r"Expected y of shape \(n,\) or \(n, 3\), got shape \(\)"),
        (
            "y rows 4 wide for 3 outputs",
            np.zeros((10, 4)),
            ValueError,
            r"y has 4 columns, but the network has 3 outputs",
        ),
        (
            "negative target probability",
            _with(np.full((10, 3), 1 / 3), 3, 1, -0.5),
            ValueError,
            r"Target rows for cross_entropy must be >= 0.*y\[3, 1\] = .*-0\.5",
        ),
        ("y None", None, TypeError, r"y must be an array-like of real numbers, got NoneType"),
    ]
    for what, bad, error, match in labelled:
        yield Case("Network.fit", what, lambda bad=bad: classifier().fit(X, bad, verbose=0), error, match)
        yield Case("Network.evaluate", what, lambda bad=bad: classifier().evaluate(X, bad), error, match)
        yield Case("Network.loss_and_grads", what, lambda bad=bad: classifier().loss_and_grads(X, bad), error, match)
    yield Case(
        "Network.fit",
        "1-D y for 3 mse outputs",
        lambda: regressor(3).fit(X, rng.normal(size=10), verbose=0),
        ValueError,
        r"y has shape \(10,\), but the network has 3 outputs; expected shape \(10, 3\)",
    )
    for value in (1.5, -0.25):
        targets = _with(np.ones((10, 2)), 3, 1, value)
        yield Case(
            "Network.fit",
            f"binary_cross_entropy target {value}",
            lambda targets=targets: binary().fit(X, targets, verbose=0),
            ValueError,
            rf"Targets for binary_cross_entropy must lie in \[0, 1\]; y\[3, 1\] = .*{re.escape(str(value))}",
        )


# ------------------------------------------------------- sample weights
def _weight_cases():
    X, y = data()
    rows = [
        (
            "sample_weight of 9 for 10 rows",
            np.ones(9),
            ValueError,
            r"sample_weight must have shape \(10,\), got \(9,\)",
        ),
        (
            "NaN sample_weight",
            _with(np.ones((10, 1)), 3, 0, np.nan)[:, 0],
            ValueError,
            r"Input sample_weight contains NaN \(first at row 3\)",
        ),
        (
            "negative sample_weight",
            _with(np.ones((10, 1)), 5, 0, -1.0)[:, 0],
            ValueError,
            r"sample_weight must be >= 0; row 5 has .*-1\.0",
        ),
        (
            "all-zero sample_weight",
            np.zeros(10),
            ValueError,
            r"sample_weight is 0 for every example; at least one example needs a weight > 0",
        ),
        (
            "sample_weight summing beyond float64",
            np.full(10, 1e308),
            ValueError,
            r"sample_weight sums to more than the largest float64",
        ),
        ("sample_weight of strings", np.array(["1"] * 10), TypeError, r"sample_weight must hold real numbers"),
    ]
    for what, weights, error, match in rows:
        yield Case(
            "Network.fit", what, lambda w=weights: classifier().fit(X, y, sample_weight=w, verbose=0), error, match
        )
        yield Case(
            "Network.evaluate", what, lambda w=weights: classifier().evaluate(X, y, sample_weight=w), error, match
        )


# ---------------------------------------------------- fit's hyper-parameters
def _fit_cases(tmp):
    X, y = data()
    junk = os.path.join(tmp, "junk.safetensors")
    with open(junk, "wb") as handle:
        handle.write(b"not a model file at all")
    other = os.path.join(tmp, "other.safetensors")
    regressor().save(other)

    def fit(**kwargs):
        return lambda: classifier().fit(X, y, **{"verbose": 0, **kwargs})

    rows = [
        ("epochs=0", fit(epochs=0), ValueError, r"epochs must be a positive integer, got 0"),
        ("epochs=-1", fit(epochs=-1), ValueError, r"epochs must be a positive integer, got -1"),
        ("epochs=1.5", fit(epochs=1.5), ValueError, r"epochs must be a positive integer, got 1\.5"),
        ("epochs=True", fit(epochs=True), ValueError, r"epochs must be a positive integer, got True"),
        ("epochs=None", fit(epochs=None), ValueError, r"epochs must be a positive integer, got None"),
        ("epochs='3'", fit(epochs="3"), ValueError, r"epochs must be a positive integer, got '3'"),
        ("batch_size=0", fit(batch_size=0), ValueError, r"batch_size must be a positive integer, got 0"),
        ("batch_size=-5", fit(batch_size=-5), ValueError, r"batch_size must be a positive integer, got -5"),
        ("batch_size=2.5", fit(batch_size=2.5), ValueError, r"batch_size must be a positive integer, got 2\.5"),
        ("optimizer='sgd'", fit(optimizer="sgd"), TypeError, r"optimizer must be a jitprop Optimizer.*got 'sgd'"),
        ("optimizer=jp.SGD (the class)", fit(optimizer=jp.SGD), TypeError, r"optimizer must be a jitprop Optimizer"),
        ("verbose=3", fit(verbose=3), ValueError, r"verbose must be 'auto', 0, 1 or 2, got 3"),
        (
            "validation_split=-0.1",
            fit(validation_split=-0.1),
            ValueError,
            r"validation_split must be (a number )?in \[0, 1\), got -0\.1",
        ),
        (
            "validation_split=1.0",
            fit(validation_split=1.0),
            ValueError,
            r"validation_split must be (a number )?in \[0, 1\), got 1\.0",
        ),
        (
            "validation_split=nan",
            fit(validation_split=float("nan")),
            ValueError,
            r"validation_split must be (a number )?in \[0, 1\), got nan",
        ),
        (
            "validation_split='0.2'",
            fit(validation_split="0.2"),
            ValueError,
            r"validation_split must be (a number )?in \[0, 1\), got '0\.2'",
        ),
        (
            "validation_split=0.5 of a single example",
            lambda: classifier().fit(X[:1], y[:1], validation_split=0.5, verbose=0),
            ValueError,
            r"validation_split=0\.5 leaves no examples for training or validation",
        ),
        (
            "validation_split=0.2 of 3 single-example classes",
            lambda: classifier().fit(X[:3], [0, 1, 2], validation_split=0.2, verbose=0),
            ValueError,
            r"validation_split=0\.2 leaves no examples for training or validation",
        ),
        (
            "validation_split and validation_data",
            fit(validation_split=0.2, validation_data=(X, y)),
            ValueError,
            r"Pass either validation_data or validation_split, not both",
        ),
        ("validation_data=X", fit(validation_data=X), ValueError, r"validation_data must be a tuple \(X_val, y_val\)"),
        (
            "validation_data with 4 features",
            fit(validation_data=(X[:, :4], y)),
            ValueError,
            r"X has 4 features, but the network expects 5",
        ),
        ("clip_norm=0", fit(clip_norm=0), ValueError, r"clip_norm must be a finite number > 0, got 0"),
        ("clip_norm=nan", fit(clip_norm=float("nan")), ValueError, r"clip_norm must be a finite number > 0, got nan"),
        ("initial_epoch=-1", fit(initial_epoch=-1), ValueError, r"initial_epoch must be an integer >= 0, got -1"),
        (
            "class_weight='bal'",
            fit(class_weight="bal"),
            ValueError,
            r"class_weight must be a dict or 'balanced', got 'bal'",
        ),
        (
            "class_weight={5: 1}",
            fit(class_weight={5: 1}),
            ValueError,
            r"class_weight key 5 is not a class index in 0\.\.2",
        ),
        (
            "class_weight={0: -1}",
            fit(class_weight={0: -1}),
            ValueError,
            r"class_weight\[0\] must be a finite number >= 0, got -1",
        ),
        ("class_weight=[1, 2]", fit(class_weight=[1, 2]), TypeError, r"class_weight must be a dict or 'balanced'"),
        (
            "callbacks=['stop']",
            fit(callbacks=["stop"]),
            TypeError,
            r"callbacks must be .*jitprop\.callbacks\.Callback.*'stop'",
        ),
        ("callbacks=5", fit(callbacks=5), TypeError, r"callbacks must be .*jitprop\.callbacks\.Callback.*5"),
        ("shuffle='maybe'", fit(shuffle="maybe"), TypeError, r"shuffle must be True or False, got 'maybe'"),
        (
            "resume_from a missing file",
            fit(resume_from=os.path.join(tmp, "missing.safetensors")),
            FileNotFoundError,
            r"missing\.safetensors",
        ),
        (
            "resume_from a file that is not a model",
            fit(resume_from=junk),
            jp.ModelFileError,
            r"Cannot load jitprop model file .*junk\.safetensors",
        ),
        ("resume_from another network's file", fit(resume_from=other), ValueError, r"holds a different network"),
    ]
    for what, call, error, match in rows:
        yield Case("Network.fit", what, call, error, match)


# --------------------------------------------------- building a network
def _construction_cases():
    def network(layers, **kwargs):
        return lambda: jp.Network(layers() if callable(layers) else layers, **{"input_dim": 3, **kwargs})

    shared = jp.Dense(2)
    jp.Network([shared], input_dim=3)
    rows = [
        ("Dense", "units=0", lambda: jp.Dense(0), ValueError, r"units must be a positive integer, got 0"),
        ("Dense", "units=2.5", lambda: jp.Dense(2.5), ValueError, r"units must be a positive integer, got 2\.5"),
        ("Dense", "units='3'", lambda: jp.Dense("3"), ValueError, r"units must be a positive integer, got '3'"),
        (
            "Dense",
            "activation='swish'",
            lambda: jp.Dense(3, "swish"),
            ValueError,
            (
                r"Unknown activation 'swish'; expected one of elu, exp, gelu, identity, leaky_relu, relu, sigmoid, "
                r"softmax, softplus, tanh"
            ),
        ),
        (
            "Dense",
            "activation=None",
            lambda: jp.Dense(3, None),
            ValueError,
            r"Unknown activation None; expected one of",
        ),
        ("Dense", "init='ones'", lambda: jp.Dense(3, init="ones"), ValueError, r"Unknown init 'ones'; expected one of"),
        (
            "Dense",
            "alpha=-0.1",
            lambda: jp.Dense(3, "leaky_relu", alpha=-0.1),
            ValueError,
            r"alpha must be a finite number >= 0, got -0\.1",
        ),
        (
            "Dense",
            "alpha=nan",
            lambda: jp.Dense(3, "elu", alpha=float("nan")),
            ValueError,
            r"alpha must be a finite number >= 0, got nan",
        ),
        ("Dense", "l2=-1", lambda: jp.Dense(3, l2=-1), ValueError, r"l2 must be a finite number >= 0, got -1"),
        ("Dropout", "rate=1.0", lambda: jp.Dropout(1.0), ValueError, r"Dropout rate must be in \[0, 1\), got 1\.0"),
        ("Dropout", "rate=-0.1", lambda: jp.Dropout(-0.1), ValueError, r"Dropout rate must be in \[0, 1\), got -0\.1"),
        (
            "Dropout",
            "rate=nan",
            lambda: jp.Dropout(float("nan")),
            ValueError,
            r"Dropout rate must be in \[0, 1\), got nan",
        ),
        (
            "Dropout",
            "rate='0.5'",
            lambda: jp.Dropout("0.5"),
            ValueError,
            r"Dropout rate must be in \[0, 1\), got '0\.5'",
        ),
        (
            "Network",
            "layers=[]",
            network([]),
            TypeError,
            r"layers must be a non-empty list of layers \(Dense, Dropout, ",
        ),
        (
            "Network",
            "layers=Dense(2) (not in a list)",
            network(jp.Dense(2)),
            TypeError,
            r"layers must be a non-empty list of layers \(Dense, Dropout, ",
        ),
        ("Network", "layers=['relu']", network(["relu"]), TypeError, r"layers must be a non-empty list"),
        (
            "Network",
            "input_dim=0",
            network(lambda: [jp.Dense(2)], input_dim=0),
            ValueError,
            r"input_dim must be a positive integer, got 0",
        ),
        (
            "Network",
            "input_dim=2.0",
            network(lambda: [jp.Dense(2)], input_dim=2.0),
            ValueError,
            r"input_dim must be a positive integer, got 2\.0",
        ),
        (
            "Network",
            "loss='hinge'",
            network(lambda: [jp.Dense(2)], loss="hinge"),
            ValueError,
            r"Unknown loss 'hinge'; expected one of binary_cross_entropy, cross_entropy, mse",
        ),
        (
            "Network",
            "dtype='float16'",
            network(lambda: [jp.Dense(2)], dtype="float16"),
            ValueError,
            r"dtype must be 'float32' or 'float64', got 'float16'",
        ),
        (
            "Network",
            "dtype=int32",
            network(lambda: [jp.Dense(2)], dtype=np.int32),
            ValueError,
            r"dtype must be 'float32' or 'float64'",
        ),
        (
            "Network",
            "seed=1.5",
            network(lambda: [jp.Dense(2)], seed=1.5),
            TypeError,
            r"seed must be an integer or None, got 1\.5",
        ),
        (
            "Network",
            "l2=-1",
            network(lambda: [jp.Dense(2)], l2=-1),
            ValueError,
            r"l2 must be a finite number >= 0, got -1",
        ),
        (
            "Network",
            "softmax on a hidden layer",
            network(lambda: [jp.Dense(4, "softmax"), jp.Dense(2, "softmax")], loss="cross_entropy"),
            ValueError,
            r"softmax is only allowed on the output layer, but Dense layer 0 uses it",
        ),
        (
            "Network",
            "cross_entropy on a sigmoid output",
            network(lambda: [jp.Dense(2, "sigmoid")], loss="cross_entropy"),
            ValueError,
            r"loss='cross_entropy' needs a 'softmax' output layer, but the last layer uses 'sigmoid'",
        ),
        (
            "Network",
            "binary_cross_entropy on a softmax output",
            network(lambda: [jp.Dense(2, "softmax")], loss="binary_cross_entropy"),
            ValueError,
            r"loss='binary_cross_entropy' needs a 'sigmoid' output layer",
        ),
        (
            "Network",
            "Dropout as the last layer",
            network(lambda: [jp.Dense(2), jp.Dropout(0.5)]),
            ValueError,
            r"The last layer must compute the outputs, as Dense does, got Dropout\(0\.5\)",
        ),
        (
            "Network",
            "two Dropout layers in a row",
            network(lambda: [jp.Dropout(0.1), jp.Dropout(0.2), jp.Dense(2)]),
            ValueError,
            r"Layers 0 and 1 are both Dropout of the same values; use one",
        ),
        (
            "Network",
            "a Dense layer of another network",
            network([shared]),
            ValueError,
            r"This Dense layer already belongs to a network",
        ),
        ("SGD", "lr=0", lambda: jp.SGD(lr=0), ValueError, r"lr must be a finite number > 0, got 0"),
        ("SGD", "lr=-0.1", lambda: jp.SGD(lr=-0.1), ValueError, r"lr must be a finite number > 0, got -0\.1"),
        ("SGD", "lr=nan", lambda: jp.SGD(lr=float("nan")), ValueError, r"lr must be a finite number > 0, got nan"),
        ("SGD", "lr=inf", lambda: jp.SGD(lr=float("inf")), ValueError, r"lr must be a finite number > 0, got inf"),
        ("SGD", "lr='0.1'", lambda: jp.SGD(lr="0.1"), ValueError, r"lr must be a finite number > 0, got '0\.1'"),
        ("SGD", "momentum=1.0", lambda: jp.SGD(momentum=1.0), ValueError, r"momentum must be in \[0, 1\), got 1\.0"),
        (
            "SGD",
            "nesterov without momentum",
            lambda: jp.SGD(nesterov=True),
            ValueError,
            r"nesterov=True requires momentum > 0",
        ),
        (
            "SGD",
            "weight_decay=-1e-3",
            lambda: jp.SGD(weight_decay=-1e-3),
            ValueError,
            r"weight_decay must be in \[0, inf\), got -0\.001",
        ),
        ("Adam", "beta_1=1.0", lambda: jp.Adam(beta_1=1.0), ValueError, r"beta_1 must be in \[0, 1\), got 1\.0"),
        ("Adam", "beta_2=-0.5", lambda: jp.Adam(beta_2=-0.5), ValueError, r"beta_2 must be in \[0, 1\), got -0\.5"),
        ("Adam", "epsilon=0", lambda: jp.Adam(epsilon=0), ValueError, r"epsilon must be in \(0, inf\), got 0"),
        ("RMSprop", "rho=1.5", lambda: jp.RMSprop(rho=1.5), ValueError, r"rho must be in \[0, 1\), got 1\.5"),
        ("Adagrad", "epsilon=-1", lambda: jp.Adagrad(epsilon=-1), ValueError, r"epsilon must be in \(0, inf\), got -1"),
        (
            "CosineDecay",
            "total_steps=0",
            lambda: jp.schedules.CosineDecay(0.1, total_steps=0),
            ValueError,
            r"total_steps must be a positive integer, got 0",
        ),
        (
            "CosineDecay",
            "warmup_steps >= total_steps",
            lambda: jp.schedules.CosineDecay(0.1, 10, warmup_steps=10),
            ValueError,
            r"warmup_steps must be in \[0, total_steps\) = \[0, 10\), got 10",
        ),
    ]
    for entry, what, call, error, match in rows:
        yield Case(entry, what, call, error, match)


# --------------------------------------------------------- model files
def _file_cases(tmp):
    rng = _rng()
    paths = {}
    for name, content in {
        "empty": b"",
        "random": rng.bytes(4096),
        "csv": b"a,b,c\n1,2,3\n",
        "header_length_forged": (2**62).to_bytes(8, "little") + b"{}",
    }.items():
        paths[name] = os.path.join(tmp, f"{name}.safetensors")
        with open(paths[name], "wb") as handle:
            handle.write(content)
    broken = regressor()
    broken.params[3] = np.nan
    rows = [
        (
            "jitprop.load",
            "a missing file",
            lambda: jp.load(os.path.join(tmp, "nothing.safetensors")),
            FileNotFoundError,
            r"nothing\.safetensors",
        ),
        ("jitprop.load", "a directory", lambda: jp.load(tmp), jp.ModelFileError, r"it is a directory"),
        (
            "jitprop.load",
            "an empty file",
            lambda: jp.load(paths["empty"]),
            jp.ModelFileError,
            r"it has 0 bytes, fewer than the 8",
        ),
        (
            "jitprop.load",
            "4 KiB of random bytes",
            lambda: jp.load(paths["random"]),
            jp.ModelFileError,
            r"header length field says",
        ),
        ("jitprop.load", "a CSV file", lambda: jp.load(paths["csv"]), jp.ModelFileError, r"header length field says"),
        (
            "jitprop.load",
            "header length forged to 2**62",
            lambda: jp.load(paths["header_length_forged"]),
            jp.ModelFileError,
            r"header length field says 4611686018427387904 bytes",
        ),
        (
            "jitprop.save",
            "not a network",
            lambda: jp.save("net", os.path.join(tmp, "x.safetensors")),
            TypeError,
            r"net must be a jitprop Network, got str",
        ),
        (
            "jitprop.save",
            "epoch=-1",
            lambda: jp.save(regressor(), os.path.join(tmp, "x.safetensors"), epoch=-1),
            ValueError,
            r"epoch must be an integer >= 0 or None, got -1",
        ),
        (
            "jitprop.save",
            "extra=object()",
            lambda: jp.save(regressor(), os.path.join(tmp, "x.safetensors"), extra=object()),
            TypeError,
            r"extra must be JSON-compatible",
        ),
        (
            "jitprop.save",
            "NaN in the parameters",
            lambda: jp.save(broken, os.path.join(tmp, "x.safetensors")),
            ValueError,
            r"net\.params holds NaN or infinity \(first at flat index 3\)",
        ),
        (
            "jitprop.save",
            "a directory that does not exist",
            lambda: jp.save(regressor(), os.path.join(tmp, "no", "such", "dir.safetensors")),
            FileNotFoundError,
            r"Cannot write: the directory .*such.* does not exist: .*dir\.safetensors'$",
        ),
    ]
    for entry, what, call, error, match in rows:
        yield Case(entry, what, call, error, match)


# ---------------------------------------------------------- numerics
def _numeric_cases():
    X, y = data()

    def huge_weights():
        net = classifier("float32")
        net.params[...] = 1e30
        return net

    yield Case(
        "Network.predict",
        "finite X through weights of 1e30 (float32 overflow)",
        lambda: huge_weights().predict(X),
        FloatingPointError,
        r"The network.s outputs overflowed float32: (NaN|infinity) at row \d+, column \d+.*scale X",
    )
    yield Case(
        "Network.evaluate",
        "finite X through weights of 1e30 (float32 overflow)",
        lambda: huge_weights().evaluate(X, y),
        FloatingPointError,
        r"The loss is nan: the computation overflowed float32",
    )
    yield Case(
        "Network.fit",
        "lr=1e300 on a float32 network (the update overflows)",
        lambda: regressor(dtype="float32").fit(X, X[:, 0], epochs=2, optimizer=jp.SGD(1e300), verbose=0),
        jp.DivergenceError,
        r"Training diverged: .*epoch 0, batch 0.*keeps the last finite weights",
    )


# ----------------------------------------------------------- estimators
def _estimator_cases():
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return
    X, y = data(40)
    rows = [
        (
            "Classifier.fit",
            "NaN in X",
            lambda: jp.Classifier(max_iter=1).fit(_with(X, 3, 2, np.nan), y),
            ValueError,
            r"Input X contains NaN",
        ),
        (
            "Regressor.fit",
            "inf in X",
            lambda: jp.Regressor(max_iter=1).fit(_with(X, 3, 2, np.inf), X[:, 0]),
            ValueError,
            r"Input X contains infinity",
        ),
        (
            "Regressor.fit",
            "NaN in y",
            lambda: jp.Regressor(max_iter=1).fit(X, _with(X, 5, 0, np.nan)[:, 0]),
            ValueError,
            r"Input y contains NaN",
        ),
        (
            "Classifier.fit",
            "continuous y for a classifier",
            lambda: jp.Classifier(max_iter=1).fit(X, X[:, 0]),
            ValueError,
            r"Unknown label type",
        ),
        (
            "Classifier.fit",
            "hidden_layer_sizes=(0,)",
            lambda: jp.Classifier(hidden_layer_sizes=(0,)).fit(X, y),
            ValueError,
            r"hidden_layer_sizes",
        ),
        (
            "Classifier.fit",
            "learning_rate_init=-1",
            lambda: jp.Classifier(learning_rate_init=-1).fit(X, y),
            ValueError,
            r"learning_rate_init",
        ),
        ("Classifier.fit", "max_iter=0", lambda: jp.Classifier(max_iter=0).fit(X, y), ValueError, r"max_iter"),
        ("Classifier.fit", "batch_size=0", lambda: jp.Classifier(batch_size=0).fit(X, y), ValueError, r"batch_size"),
        ("Classifier.fit", "solver='newton'", lambda: jp.Classifier(solver="newton").fit(X, y), ValueError, r"solver"),
        (
            "Classifier.fit",
            "activation='swish'",
            lambda: jp.Classifier(activation="swish").fit(X, y),
            ValueError,
            r"activation",
        ),
        ("Classifier.fit", "dropout=1.5", lambda: jp.Classifier(dropout=1.5).fit(X, y), ValueError, r"dropout"),
        ("Regressor.fit", "alpha=-1", lambda: jp.Regressor(alpha=-1).fit(X, X[:, 0]), ValueError, r"alpha"),
        (
            "Classifier.fit",
            "validation_fraction=1.5",
            lambda: jp.Classifier(early_stopping=True, validation_fraction=1.5).fit(X, y),
            ValueError,
            r"validation_fraction",
        ),
        (
            "Classifier.fit",
            "n_threads=0",
            lambda: jp.Classifier(n_threads=0, max_iter=1).fit(X, y),
            ValueError,
            r"n_threads",
        ),
        ("Classifier.predict", "predict before fit", lambda: jp.Classifier().predict(X), ValueError, r"not fitted"),
        (
            "Regressor.predict",
            "4 features after fitting 5",
            lambda: jp.Regressor(max_iter=1).fit(X, X[:, 0]).predict(X[:, :4]),
            ValueError,
            r"X has 4 features, but .* is expecting 5 features",
        ),
    ]
    for entry, what, call, error, match in rows:
        yield Case(entry, what, call, error, match)


def cases(tmp):
    """Every case; ``tmp`` is a directory the file cases may write into."""
    yield from _x_cases()
    yield from _y_cases()
    yield from _weight_cases()
    yield from _fit_cases(tmp)
    yield from _construction_cases()
    yield from _file_cases(tmp)
    yield from _numeric_cases()
    yield from _estimator_cases()


# ------------------------------------------------------------ running
def answer(case):
    """``(exception raised or None, its one-line message)`` for a case."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            case.call()
        except Exception as exc:  # noqa: BLE001 - every answer is recorded
            return exc, " ".join(str(exc).split())
    return None, "(accepted: no error)"


def check(case):
    """Problem with a case's answer, as a sentence, or None when it is the expected one."""
    exc, message = answer(case)
    if exc is None:
        return f"{case.entry} with {case.what}: accepted, expected {case.error.__name__}"
    if not isinstance(exc, case.error):
        return f"{case.entry} with {case.what}: {type(exc).__name__}: {message}; expected {case.error.__name__}"
    if not re.search(case.match, message):
        return f"{case.entry} with {case.what}: message {message!r} does not match {case.match!r}"
    return None


def table():
    """The Markdown table of every case and its answer, and a one-line count by exception type."""
    lines = ["| # | entry point | bad input | answer |", "|---|---|---|---|"]
    by_type = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, case in enumerate(cases(tmp), start=1):
            exc, message = answer(case)
            kind = "accepted" if exc is None else type(exc).__name__
            by_type[kind] = by_type.get(kind, 0) + 1
            message = message.replace(tmp, "<tmp>").replace("|", "\\|")
            if len(message) > 220:
                message = message[:217] + "..."
            lines.append(f"| {i} | `{case.entry}` | {case.what} | `{kind}`: {message} |")
    total = sum(by_type.values())
    summary = f"{total} bad inputs: " + ", ".join(f"{count} {kind}" for kind, count in sorted(by_type.items()))
    return summary, "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", metavar="MARKDOWN", help=f"replace the text between {BEGIN} and {END} in this file")
    args = parser.parse_args(argv)
    summary, text = table()
    block = f"{summary}\n\n{text}"
    if not args.write:
        print(block)
        return 0
    with open(args.write, encoding="utf-8") as handle:
        document = handle.read()
    if BEGIN not in document or END not in document:
        print(f"{args.write} has no {BEGIN} ... {END} markers", file=sys.stderr)
        return 1
    head, rest = document.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(args.write, "w", encoding="utf-8") as handle:
        handle.write(f"{head}{BEGIN}\n{block}\n{END}{tail}")
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
