"""The convolution kind against the plain NumPy reference: every padding, strides 1 to 3, odd sizes, both dtypes."""

import numpy as np
import pytest

import jitprop as jp
import reference as ref
from jitprop.kernels.conv import by_positions
from jitprop.kernels.kinds import applies_activation
from jitprop.kernels.tuning import POSITION_PANEL_FILTERS
from helpers import DTYPES, cnn_data, reference_grads, reference_inputs, reference_layers

#: (input shape, filters, kernel_size, strides, padding) of a Conv2D.
CASES_2D = [
    ((5, 7, 2), 3, 3, 1, "valid"),
    ((5, 7, 2), 3, 3, 1, "same"),
    ((6, 5, 3), 2, (2, 3), (2, 1), "same"),
    ((7, 7, 1), 4, 3, 3, "same"),
    ((8, 8, 1), 5, 4, 3, "same"),  # an even window: one zero more after than before
    ((5, 6, 2), 3, (3, 2), 2, 1),
    ((6, 5, 2), 2, 3, (3, 2), (2, 0)),
    ((4, 5, 2), 2, 1, 1, "valid"),  # 1x1
    ((4, 5, 2), 2, 1, 2, (1, 0)),
    ((3, 4, 2), 3, (3, 4), 1, "valid"),  # the window is the whole input
    ((3, 3, 1), 1, 5, 1, 1),  # one filter, a window as large as the padded input
    ((1, 1, 3), 2, 1, 1, "same"),
]

#: The same for a Conv1D: (steps, channels), filters, kernel_size, strides, padding.
CASES_1D = [
    ((9, 2), 3, 3, 1, "valid"),
    ((9, 2), 3, 4, 2, "same"),
    ((10, 1), 2, 3, 3, "same"),
    ((7, 3), 2, 2, 1, 2),
    ((5, 2), 1, 5, 1, "valid"),
    ((4, 2), 3, 1, 1, "same"),
]


def _cases():
    for rank, cases in ((2, CASES_2D), (1, CASES_1D)):
        for case in cases:
            shape, filters, kernel, strides, padding = case
            name = f"{'x'.join(map(str, shape))}-f{filters}-k{kernel}-s{strides}-p{padding}".replace(" ", "")
            yield pytest.param(rank, case, id=name)


def _conv(rank, *args, **kwargs):
    return (jp.Conv2D if rank == 2 else jp.Conv1D)(*args, **kwargs)


def _check_against_reference(net, rng, n, dtype):
    """The network's outputs and gradients equal the reference's on ``n`` random examples."""
    out = int(np.prod(net.kernel_layers[-1].output_shape(net._input_shapes[-1])))
    X, y = cnn_data(rng, net.input_shape, n, out)
    layers = reference_layers(net)
    trace = ref.sequential_forward(layers, reference_inputs(net, X))
    expected = trace[-1][2].reshape(n, *net.output_shape)  # predict gives each example the output's shape
    rtol, atol = (2e-5, 2e-5) if dtype == "float32" else (1e-12, 1e-12)
    np.testing.assert_allclose(net.predict(X), expected, rtol=rtol, atol=atol)
    loss, grads = net.loss_and_grads(X, y)
    expected_loss, expected_grads = ref.sequential_loss_and_grads(layers, "mse", reference_inputs(net, X), y)
    assert loss == pytest.approx(expected_loss, rel=rtol)
    for (dW, db), (eW, eb) in zip(grads, reference_grads(net, expected_grads)):
        np.testing.assert_allclose(dW, eW, rtol=rtol * 10, atol=atol * 10)
        np.testing.assert_allclose(db, eb, rtol=rtol * 10, atol=atol * 10)


#: Filters added to a case's: none (the case's few filters take the products by positions, see
#: jitprop.kernels.conv.by_positions), or enough for the products by filters.
MORE_FILTERS = {"by-positions": 0, "by-filters": POSITION_PANEL_FILTERS}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 7])
@pytest.mark.parametrize("path", list(MORE_FILTERS))
@pytest.mark.parametrize(("rank", "case"), list(_cases()))
def test_a_convolution_runs_and_differentiates_as_its_reference(rng, rank, case, path, n, dtype):
    # A 1x1 convolution first, so that the case's layer passes its input's gradient back.
    shape, filters, kernel, strides, padding = case
    layers = [
        _conv(rank, shape[-1], 1, activation="tanh"),
        _conv(rank, filters + MORE_FILTERS[path], kernel, strides=strides, padding=padding),
    ]
    assert by_positions(layers[0].filters) and by_positions(layers[1].filters) == (path == "by-positions")
    net = jp.Network(layers, input_shape=shape, loss="mse", dtype=dtype, seed=1)
    for layer in layers:
        layer.b[...] = rng.normal(size=layer.b.shape)
    _check_against_reference(net, rng, n, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("path", list(MORE_FILTERS))
@pytest.mark.parametrize(("rank", "case"), list(_cases()))
def test_a_first_convolution_runs_and_differentiates_as_its_reference(rng, rank, case, path, dtype):
    # The case's layer first: no input gradient; a dense layer after it.
    shape, filters, kernel, strides, padding = case
    layers = [
        _conv(rank, filters + MORE_FILTERS[path], kernel, strides=strides, padding=padding),
        jp.Flatten(),
        jp.Dense(3),
    ]
    net = jp.Network(layers, input_shape=shape, loss="mse", dtype=dtype, seed=1)
    layers[0].b[...] = rng.normal(size=layers[0].b.shape)
    _check_against_reference(net, rng, 5, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_wide_convolution_runs_its_products_in_several_chunks_per_tile(rng, dtype):
    # 12x12 positions of 40 examples: several chunks of windows in a tile, panels wider than one block.
    layers = [jp.Conv2D(20, 3, padding="same", activation="elu"), jp.Conv2D(17, (2, 3), strides=(1, 2), padding=1)]
    net = jp.Network(layers, input_shape=(12, 12, 3), loss="mse", dtype=dtype, seed=2)
    _check_against_reference(net, rng, 40, dtype)


def test_a_convolution_s_weights_are_views_in_keras_layout():
    conv1, conv2 = jp.Conv2D(4, (3, 2), activation="relu"), jp.Conv1D(3, 5)
    net2 = jp.Network([conv1, jp.Flatten(), jp.Dense(2)], input_shape=(6, 5, 3), seed=0)
    net1 = jp.Network([conv2, jp.Flatten(), jp.Dense(2)], input_shape=(9, 2), seed=0)
    assert conv1.W.shape == (3, 2, 3, 4) and conv1.b.shape == (4,)
    assert conv2.W.shape == (5, 2, 3) and conv2.b.shape == (3,)
    assert np.shares_memory(conv1.W, net2.params) and np.shares_memory(conv2.b, net1.params)
    conv1.W[...] = 0.0
    conv1.b[...] = 0.5
    assert np.all(net2.params[: 3 * 2 * 3 * 4] == 0) and np.all(net2.params[72:76] == 0.5)


@pytest.mark.parametrize(("init", "fan_in", "fan_out"), [("he_uniform", 27, None), ("glorot_uniform", 27, 36)])
def test_a_convolution_draws_its_weights_with_keras_fans(init, fan_in, fan_out):
    conv = jp.Conv2D(4, 3, init=init)
    jp.Network([conv], input_shape=(10, 10, 3), seed=0)
    bound = np.sqrt(6.0 / fan_in) if fan_out is None else np.sqrt(6.0 / (fan_in + fan_out))
    assert np.abs(conv.W).max() <= bound
    assert np.abs(conv.W).max() > 0.8 * bound
    np.testing.assert_array_equal(conv.b, 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("first", [True, False])
@pytest.mark.parametrize("filters", [4, 8, 16, 20, 32])
def test_a_convolution_by_positions_sums_its_weight_gradient_for_any_count_of_filters(rng, dtype, first, filters):
    # The micro-kernel takes the filters a vector or two at a time: counts that fill whole vectors (8 and 16
    # float64, 16 and 32 float32) are read in place, the others from a padded copy; K = 36 leaves a ragged
    # block of rows. First and not first in the network (with and without an input gradient).
    conv = jp.Conv2D(filters, 3, padding="same", activation="tanh")
    layers = [conv, jp.Flatten(), jp.Dense(3)] if first else [jp.Conv2D(4, 1), conv, jp.Flatten(), jp.Dense(3)]
    net = jp.Network(layers, input_shape=(7, 8, 4), loss="mse", dtype=dtype, seed=3)
    assert by_positions(conv.filters)
    conv.b[...] = rng.normal(size=conv.b.shape)
    _check_against_reference(net, rng, 21, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["relu", "identity", "tanh"])
@pytest.mark.parametrize("filters", [8, 16, 20])
def test_a_convolution_by_positions_applies_its_relu_or_identity_as_it_writes_z(rng, dtype, activation, filters):
    # Relu and identity are written by the layer's forward kernel with z (the tile applies any other): both
    # forms of the forward product (filters in whole vectors or not), at stride 1 and 2, and a second layer
    # that reads what the first wrote.
    conv1 = jp.Conv2D(filters, 3, padding="same", activation=activation)
    conv2 = jp.Conv2D(filters, 3, strides=2, activation=activation)
    net = jp.Network([conv1, conv2, jp.Flatten(), jp.Dense(3)], input_shape=(9, 8, 2), loss="mse", dtype=dtype, seed=5)
    assert by_positions(conv1.filters)
    assert applies_activation(net.layout, 0) == (activation != "tanh")
    for conv in (conv1, conv2):
        conv.b[...] = rng.normal(size=conv.b.shape)
    _check_against_reference(net, rng, 6, dtype)
