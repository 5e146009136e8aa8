"""The pooling kinds against the plain NumPy reference: max and average, global average, one and two axes."""

import numpy as np
import pytest

import jitprop as jp
import reference as ref
from jitprop.kernels import kinds, pooling, workspace
from jitprop.kernels.batch import batch_kernels, chunking, run_batch
from jitprop.kernels.layout import Data
from jitprop.kernels.tile import FORWARD, GRADIENT
from helpers import DTYPES, cnn_data, reference_grads, reference_inputs, reference_layers

#: (input shape, pool_size, strides) of a 2-D pooling layer.
CASES_2D = [
    ((4, 6, 2), 2, None),
    ((5, 7, 3), 2, None),  # the last row and column are in no window
    ((6, 6, 1), 3, 1),  # overlapping windows: gradients add up
    ((7, 5, 2), (2, 3), (3, 1)),
    ((3, 4, 2), (3, 4), None),  # one window, the whole input
    ((4, 4, 2), 1, 2),
    ((4, 6, 9), 2, None),  # channels enough for a vector of them (and one more): read through views
    ((5, 5, 16), 3, 1),
    ((4, 6, 20), 2, None),  # by vectors of channels, and 4 more
]

#: The same for one axis: (steps, channels), pool_size, strides.
CASES_1D = [((8, 2), 2, None), ((9, 3), 3, 2), ((5, 1), 5, None), ((6, 2), 2, 1), ((7, 8), 2, 1)]

POOLS = {(2, "max"): jp.MaxPool2D, (2, "avg"): jp.AvgPool2D, (1, "max"): jp.MaxPool1D, (1, "avg"): jp.AvgPool1D}


def _cases():
    for rank, cases in ((2, CASES_2D), (1, CASES_1D)):
        for kind in ("max", "avg"):
            for shape, pool, strides in cases:
                name = f"{kind}{rank}d-{'x'.join(map(str, shape))}-p{pool}-s{strides}".replace(" ", "")
                yield pytest.param(POOLS[rank, kind], shape, pool, strides, id=name)


def _check_against_reference(net, rng, n, dtype):
    out = int(np.prod(net.layers[-1].output_shape(net._input_shapes[-1])))
    X, y = cnn_data(rng, net.input_shape, n, out)
    layers = reference_layers(net)
    trace = ref.sequential_forward(layers, reference_inputs(net, X))
    rtol, atol = (2e-5, 2e-5) if dtype == "float32" else (1e-12, 1e-12)
    np.testing.assert_allclose(net.predict(X), trace[-1][2].reshape(n, *net.output_shape), rtol=rtol, atol=atol)
    loss, grads = net.loss_and_grads(X, y)
    expected_loss, expected = ref.sequential_loss_and_grads(layers, "mse", reference_inputs(net, X), y)
    assert loss == pytest.approx(expected_loss, rel=rtol)
    for (dW, db), (eW, eb) in zip(grads, reference_grads(net, expected)):
        np.testing.assert_allclose(dW, eW, rtol=rtol * 10, atol=atol * 10)
        np.testing.assert_allclose(db, eb, rtol=rtol * 10, atol=atol * 10)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 6])
@pytest.mark.parametrize(("pool", "shape", "size", "strides"), list(_cases()))
def test_pooling_runs_and_passes_its_gradient_back_as_its_reference(rng, pool, shape, size, strides, n, dtype):
    # A convolution before and after: the pooling layer's gradient reaches the first one's weights.
    conv = jp.Conv2D if len(shape) == 3 else jp.Conv1D
    layers = [conv(shape[-1], 1, activation="tanh"), pool(size, strides), conv(2, 1)]
    net = jp.Network(layers, input_shape=shape, loss="mse", dtype=dtype, seed=4)
    layers[0].b[...] = rng.normal(size=layers[0].b.shape)
    _check_against_reference(net, rng, n, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("pool", "shape"), [(jp.GlobalAvgPool2D, (3, 5, 4)), (jp.GlobalAvgPool1D, (7, 3))])
def test_global_average_pooling_runs_and_passes_its_gradient_back_as_its_reference(rng, pool, shape, dtype):
    conv = jp.Conv2D if len(shape) == 3 else jp.Conv1D
    layers = [conv(shape[-1], 1, activation="tanh"), pool(), jp.Dense(3)]
    net = jp.Network(layers, input_shape=shape, loss="mse", dtype=dtype, seed=5)
    assert net.layers[1].output_shape(shape) == (shape[-1],)
    _check_against_reference(net, rng, 5, dtype)


@pytest.mark.parametrize(("pool", "shape"), [(jp.MaxPool2D(2), (4, 4, 2)), (jp.AvgPool1D(3, 1), (6, 2))])
def test_a_first_pooling_layer_passes_no_gradient_back(rng, pool, shape):
    conv = jp.Conv2D if len(shape) == 3 else jp.Conv1D
    net = jp.Network([pool, conv(2, 1)], input_shape=shape, loss="mse", dtype="float64", seed=0)
    _check_against_reference(net, rng, 4, "float64")


@pytest.mark.parametrize("channels", [1, 8, 16, 19])  # (16 and 19: max pooling by vectors of channels, 19 and more)
def test_max_pooling_sends_a_tied_window_s_gradient_to_its_first_maximum(channels):
    # The first layer's outputs are all 1 (zero weights, bias 1): every window is a tie. Its weight's gradient,
    # Σ dx·x over the positions, then tells which position of each window got the window's gradient.
    conv = jp.Conv2D(channels, 1, init="zeros")
    net = jp.Network([conv, jp.MaxPool2D(2, 1), jp.Conv2D(1, 1)], input_shape=(3, 3, 1), dtype="float64", seed=0)
    conv.b[...] = 1.0
    net.layers[2].W[...] = 1.0
    by_vectors = channels >= pooling.VECTOR_CHANNELS
    assert net.layout.kinds[1] == (kinds.MAX_POOLING_BY_VECTORS if by_vectors else kinds.MAX_POOLING)
    X = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    y = np.zeros((1, 4))
    _, grads = net.loss_and_grads(X, y)
    _, expected = ref.sequential_loss_and_grads(reference_layers(net), "mse", X, y)
    dz = expected[1][1][0] / 4  # the output's delta, the same for all four outputs
    np.testing.assert_allclose(grads[0][0], dz * (1 + 2 + 4 + 5), rtol=1e-14)  # each window's first element
    np.testing.assert_allclose(grads[0][0], expected[0][0], rtol=1e-14)


def _passes(net, X, mode):
    """The activation and pre-activation buffers, and the stash, after one pass of ``mode`` over ``X``."""
    n = X.shape[0]
    X = np.ascontiguousarray(X.reshape(n, -1), dtype=net.dtype)
    data = Data(X, np.zeros((0, net.n_outputs), net.dtype), np.zeros(n, np.int64), np.zeros(0))
    ws = workspace.allocate(net.layout, n, net.n_params, net.dtype)
    for buffer in (ws.activations, ws.preactivations, ws.stash):
        buffer[...] = -7.0  # (a value no pass writes: what it leaves is seen)
    grad = np.zeros(net.n_params, net.dtype) if mode == GRADIENT else np.zeros(0, net.dtype)
    kernels = batch_kernels(net.model, data, ws, grad)
    run_batch(kernels, mode, net.model, data, np.arange(n), 1.0 / n, ws, grad, False, -1, chunking(net.n_params))
    return ws.activations.copy(), ws.preactivations.copy(), ws.stash.copy()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("values", ["normal", "ties and NaN"])
@pytest.mark.parametrize(
    ("shape", "size", "strides"), [((5, 7, 3), 2, None), ((6, 6, 1), 3, 1), ((4, 6, 9), 2, None), ((5, 5, 20), 3, 1)]
)
def test_max_pooling_predicts_a_gradient_pass_s_maxima_and_keeps_no_places(rng, shape, size, strides, values, dtype):
    # A pass without a backward pass runs the kind's inference kernel: the same maxima, the stash untouched.
    net = jp.Network([jp.MaxPool2D(size, strides), jp.Flatten(), jp.Dense(2)], input_shape=shape, dtype=dtype)
    if values == "normal":
        X = rng.normal(size=(3, *shape))
    else:
        X = rng.integers(-2, 3, size=(3, *shape)).astype(float)
        X.flat[rng.choice(X.size, 5, replace=False)] = np.nan
    forward = _passes(net, X, FORWARD)
    gradient = _passes(net, X, GRADIENT)
    np.testing.assert_array_equal(forward[0].view(np.uint8), gradient[0].view(np.uint8))
    np.testing.assert_array_equal(forward[1].view(np.uint8), gradient[1].view(np.uint8))
    assert (forward[2] == -7.0).all()
    assert (gradient[2] != -7.0).any()
