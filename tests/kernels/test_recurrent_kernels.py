"""The recurrent kind against the plain NumPy step-by-step reference: every cell, one and two directions, both dtypes.

The forward and backward kernels of ``kernels/recurrent.py`` (with the step
loops of ``kernels/cells.py``), run through ``predict`` and ``loss_and_grads``
as ``test_conv.py`` runs the convolution's. The networks hold recurrent
layers only, so that no other kind's kernels are compiled: a first recurrent
layer returning sequences, then the case's layer, which so passes the
gradient of its input back.
"""

import numpy as np
import pytest

import jitprop as jp
import reference_rnn as ref
from helpers import DTYPES

#: id: (cell, SimpleRNN's activation, steps, features, units).
CELLS = {
    "simple_rnn": ("simple_rnn", "tanh", 4, 3, 3),
    "simple_rnn-relu": ("simple_rnn", "relu", 3, 2, 4),
    "gru": ("gru", "tanh", 4, 3, 3),
    "lstm": ("lstm", "tanh", 4, 2, 3),
    "lstm-one-step-one-unit": ("lstm", "tanh", 1, 2, 1),
}


def _cell(kind, units, sequences, activation):
    if kind == "simple_rnn":
        return jp.SimpleRNN(units, activation=activation, return_sequences=sequences)
    return {"gru": jp.GRU, "lstm": jp.LSTM}[kind](units, return_sequences=sequences)


def _network(case, sequences, bidirectional, dtype, rng):
    kind, activation, steps, features, units = case
    layer = _cell(kind, units, sequences, activation)
    layers = [_cell(kind, 2, True, activation), jp.Bidirectional(layer) if bidirectional else layer]
    net = jp.Network(layers, input_shape=(steps, features), loss="mse", dtype=dtype, seed=0)
    net.params[...] = rng.normal(0.0, 0.5, size=net.n_params)  # biases too: no gradient is zero by construction
    return net


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 5])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["forward", "bidirectional"])
@pytest.mark.parametrize("sequences", [False, True], ids=["last-step", "sequences"])
@pytest.mark.parametrize("case", list(CELLS.values()), ids=list(CELLS))
def test_a_recurrent_layer_runs_and_differentiates_as_its_reference(rng, case, sequences, bidirectional, n, dtype):
    net = _network(case, sequences, bidirectional, dtype, rng)
    X = rng.normal(size=(n, *net.input_shape)).astype(dtype)
    y = rng.normal(size=(n, *net.output_shape)).astype(dtype)
    # The reference runs in float64 on the same parameters; float32 cells compute tanh and the
    # logistic function by a rational approximation (within 7 ulps).
    twin = net.copy(dtype="float64")
    rtol, atol = (1e-5, 1e-5) if dtype == "float32" else (1e-12, 1e-13)
    outputs = net.predict(X)
    assert outputs.shape == (n, *net.output_shape) and outputs.dtype == dtype
    np.testing.assert_allclose(outputs, ref.network_predict(twin, X.astype(np.float64)), rtol=rtol, atol=atol)
    loss, grads = net.loss_and_grads(X, y)
    expected_loss, expected_grads = ref.network_loss_and_grads(twin, X.astype(np.float64), y.astype(np.float64))
    assert loss == pytest.approx(expected_loss, rel=rtol)
    assert [len(views) for views in grads] == [len(views) for views in expected_grads]
    for views, expected in zip(grads, expected_grads):
        for got, want in zip(views, expected):
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=rtol * 10, atol=atol * 10)


def test_float32_cells_tanh_and_logistic_function_are_within_their_stated_error():
    from numba import njit

    from jitprop.kernels._numba.options import KERNEL
    from jitprop.kernels.cells import _sigmoid, _tanh

    @njit(**dict(KERNEL, cache=False))
    def apply(x, tanh, sigmoid):
        zero = x.dtype.type(0)
        for i in range(x.size):
            tanh[i] = _tanh(x[i], zero)
            sigmoid[i] = _sigmoid(x[i], zero)

    x = np.concatenate([np.linspace(-12, 12, 2_000_001), np.geomspace(1e-9, 1, 100_001)]).astype(np.float32)
    x = np.concatenate([x, -x])
    tanh, sigmoid = np.empty_like(x), np.empty_like(x)
    apply(x, tanh, sigmoid)
    exact = np.tanh(x.astype(np.float64))
    ulps = np.abs(tanh - exact) / np.spacing(np.abs(exact).astype(np.float32))
    assert ulps.max() <= 7
    logistic = 1 / (1 + np.exp(-x.astype(np.float64)))
    assert np.abs(sigmoid - logistic).max() <= 2e-7
    assert sigmoid.min() > 0 and sigmoid.max() <= 1
