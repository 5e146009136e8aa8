"""End to end: networks trained with jitprop learn what they should."""

import numpy as np
import pytest

import jitprop as jp
from jitprop.kernels.workspace import plan_tile_rows

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([0.0, 1.0, 1.0, 0.0])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "hidden,loss,dtype",
    [
        ("tanh", "binary_cross_entropy", "float64"),
        ("sigmoid", "binary_cross_entropy", "float32"),
        ("tanh", "mse", "float32"),
    ],
)
def test_xor(hidden, loss, dtype, seed):
    net = jp.Network([jp.Dense(4, hidden), jp.Dense(1, "sigmoid")], input_dim=2, loss=loss, dtype=dtype, seed=seed)
    history = net.fit(XOR_X, XOR_Y, epochs=500, batch_size=4, optimizer=jp.SGD(lr=0.5, momentum=0.9), shuffle=False)
    proba = net.predict(XOR_X)[:, 0]
    np.testing.assert_array_equal(proba > 0.5, XOR_Y > 0.5)
    assert history["loss"][-1] < 0.05 * history["loss"][0]
    if loss == "binary_cross_entropy":
        assert net.evaluate(XOR_X, XOR_Y)["accuracy"] == 1.0
        assert history["accuracy"][-1] == 1.0


def _split(digits, seed):
    X, y = digits
    order = np.random.default_rng(seed).permutation(len(y))
    test, train = order[:400], order[400:]
    return X[train], y[train], X[test], y[test]


def test_digits_data_set(digits):
    X, y = digits
    assert X.shape == (1797, 64) and y.shape == (1797,)
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(np.unique(y), np.arange(10))


@pytest.mark.parametrize("batch_size,lr,epochs", [(32, 0.05, 30), (200, 0.2, 40)])
def test_digits(digits, parallel_tiles, batch_size, lr, epochs):
    X_train, y_train, X_test, y_test = _split(digits, seed=0)
    net = jp.Network(
        [jp.Dense(64, "relu"), jp.Dense(10, "softmax")], input_dim=64, loss="cross_entropy", dtype="float32", seed=0
    )
    if batch_size == 200:  # this case trains on batches of several parallel tiles
        assert -(-batch_size // plan_tile_rows(batch_size, net.layout, net.n_params)) >= 2
    history = net.fit(
        X_train, y_train, epochs=epochs, batch_size=batch_size, optimizer=jp.SGD(lr=lr, momentum=0.9), shuffle=True
    )
    assert len(history["loss"]) == epochs
    assert history["loss"][-1] < 0.1 * history["loss"][0]
    assert history["accuracy"][-1] > 0.99
    test = net.evaluate(X_test, y_test)
    assert test["accuracy"] >= 0.95
    proba = net.predict(X_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert np.mean(proba.argmax(axis=1) == y_test) == pytest.approx(test["accuracy"])


def test_regression_of_a_smooth_function(rng):
    X = rng.uniform(-3, 3, size=(256, 1))
    y = np.sin(X[:, 0])
    net = jp.Network([jp.Dense(16, "tanh"), jp.Dense(1)], input_dim=1, loss="mse", dtype="float64", seed=0)
    start = net.evaluate(X, y)["loss"]
    net.fit(X, y, epochs=300, batch_size=32, optimizer=jp.SGD(lr=0.05, momentum=0.9))
    assert net.evaluate(X, y)["loss"] < min(0.01, 0.05 * start)
