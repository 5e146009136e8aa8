"""Convolutional networks as users build them: gradients, threads, training, model files, counts and errors."""

import json
import os
import subprocess
import sys
import textwrap
import time

import numba
import numpy as np
import pytest

import jitprop as jp
import reference as ref
from helpers import reference_grads, reference_inputs, reference_layers
from jitprop._threading import thread_count
from jitprop.complexity.model import summary, summary_table
from jitprop.kernels import workspace


def _mixed_2d(dtype="float64", seed=0, dropout=0.0, l2=None):
    layers = [
        jp.Conv2D(3, 3, padding="same", activation="tanh", l2=l2),
        jp.MaxPool2D(2),
        jp.Conv2D(4, (2, 3), strides=(1, 2), padding=1, activation="softplus"),
        jp.AvgPool2D(2, 1),
        jp.Flatten(),
        jp.Dense(5, "tanh"),
        jp.Dense(3, "softmax"),
    ]
    if dropout:
        layers.insert(2, jp.Dropout(dropout))
    return jp.Network(layers, input_shape=(7, 6, 2), loss="cross_entropy", dtype=dtype, seed=seed)


def _mixed_1d(dtype="float64", seed=0):
    layers = [
        jp.Conv1D(4, 3, padding="same", activation="elu"),
        jp.MaxPool1D(2),
        jp.Conv1D(3, 2, strides=2, activation="tanh"),
        jp.GlobalAvgPool1D(),
        jp.Dense(2, "sigmoid"),
    ]
    return jp.Network(layers, input_shape=(11, 2), loss="binary_cross_entropy", dtype=dtype, seed=seed)


# ------------------------------------------------------------------ gradients
def test_a_convolutional_network_has_exact_gradients(rng):
    net = _mixed_2d(l2=0.01)
    X = rng.normal(size=(4, 7, 6, 2))
    y = rng.integers(0, 3, 4)
    assert jp.gradcheck(net, X, y) < 1e-6


def test_a_network_of_one_axis_has_exact_gradients(rng):
    net = _mixed_1d()
    X = rng.normal(size=(4, 11, 2))
    y = (rng.random((4, 2)) > 0.5).astype(float)
    assert jp.gradcheck(net, X, y) < 1e-6


def test_convolution_and_global_pooling_alone_have_exact_gradients(rng):
    layers = [jp.Conv2D(2, 2, strides=2, padding="same", activation="tanh"), jp.GlobalAvgPool2D()]
    net = jp.Network(layers, input_shape=(5, 5, 3), loss="mse", dtype="float64", seed=0)
    assert jp.gradcheck(net, rng.normal(size=(3, 5, 5, 3)), rng.normal(size=(3, 2))) < 1e-6


def test_a_mixed_network_runs_as_its_reference(rng):
    net = _mixed_2d(dtype="float64", seed=3)
    X = rng.normal(size=(9, 7, 6, 2))
    y = rng.integers(0, 3, 9)
    layers = reference_layers(net)
    expected = ref.sequential_forward(layers, reference_inputs(net, X))[-1][2]
    np.testing.assert_allclose(net.predict(X), expected, rtol=1e-12, atol=1e-14)
    loss, grads = net.loss_and_grads(X, y)
    expected_loss, expected_grads = ref.sequential_loss_and_grads(layers, "cross_entropy", X, y)
    assert loss == pytest.approx(expected_loss, rel=1e-12)
    for (dW, db), (eW, eb) in zip(grads, reference_grads(net, expected_grads)):
        np.testing.assert_allclose(dW, eW, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(db, eb, rtol=1e-10, atol=1e-13)


def test_a_convolution_s_l2_penalty_counts_its_weights_only(rng):
    X = rng.normal(size=(6, 7, 6, 2))
    y = rng.integers(0, 3, 6)
    plain, penalised = _mixed_2d(), _mixed_2d(l2=0.05)
    conv = penalised.layers[0]
    difference = penalised.evaluate(X, y)["loss"] - plain.evaluate(X, y)["loss"]
    assert difference == pytest.approx(0.05 * float((conv.W**2).sum()), rel=1e-12)
    (dW, db), (plain_dW, plain_db) = penalised.loss_and_grads(X, y)[1][0], plain.loss_and_grads(X, y)[1][0]
    np.testing.assert_allclose(dW - plain_dW, 2 * 0.05 * conv.W, rtol=1e-10, atol=1e-15)
    np.testing.assert_array_equal(db, plain_db)


# ------------------------------------------------------------------ training
def test_training_is_bitwise_the_same_on_any_thread_count(rng, parallel_tiles):
    X = rng.random((256, 7, 6, 2)).astype(np.float32)
    y = rng.integers(0, 3, 256)
    assert workspace.plan_tile_rows(128, _mixed_2d().layout, _mixed_2d().n_params) < 128  # batches of several tiles
    results = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        net = _mixed_2d("float32", seed=3, dropout=0.2)
        with thread_count(threads):
            history = net.fit(X, y, epochs=3, batch_size=128, optimizer=jp.Adam(0.01), verbose=0)
        results.append((net.params.copy(), history.history["loss"]))
    assert results[0][1][-1] < results[0][1][0]
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1] == results[1][1]


def test_a_digits_sized_cnn_trains_on_several_tiles_bitwise_alike_on_any_thread_count(rng):
    # Some 13,700 parameters: batches of 128 are cut into tiles without lowering any threshold.
    def network():
        layers = [jp.Conv2D(16, 3, padding="same", activation="relu"), jp.MaxPool2D(2),
                  jp.Conv2D(32, 3, padding="same", activation="relu"), jp.MaxPool2D(2), jp.Flatten(),
                  jp.Dense(64, "relu"), jp.Dropout(0.1), jp.Dense(10, "softmax")]  # fmt: skip
        return jp.Network(layers, input_shape=(8, 8, 1), loss="cross_entropy", seed=5)

    assert workspace.plan_tile_rows(128, network().layout, network().n_params) < 128
    X = rng.random((256, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 10, 256)
    results = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        net = network()
        with thread_count(threads):
            history = net.fit(X, y, epochs=2, batch_size=128, optimizer=jp.Adam(0.01), verbose=0)
        results.append((net.params.copy(), history.history["loss"]))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1] == results[1][1]


def test_a_dense_network_compiles_no_kernel_of_the_convolution_kinds():
    script = textwrap.dedent(
        """
        import json
        import numpy as np
        import jitprop as jp
        from jitprop.kernels import conv, pooling

        X = np.random.default_rng(0).random((40, 5))
        y = np.arange(40) % 3
        net = jp.Network([jp.Dense(8, "relu"), jp.Dense(3, "softmax")], input_dim=5, loss="cross_entropy", seed=0)
        net.fit(X, y, epochs=1, batch_size=8, optimizer=jp.Adam(), verbose=0)
        net.evaluate(X, y)
        kernels = [conv.forward, conv.backward, pooling.max_forward, pooling.max_backward,
                   pooling.average_forward, pooling.average_backward]
        print(json.dumps([len(kernel.signatures) for kernel in kernels]))
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=dict(os.environ))
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == [0] * 6


@pytest.mark.parametrize(
    "optimizer",
    [jp.SGD(0.1, momentum=0.9), jp.Adam(0.01), jp.AdamW(0.01), jp.RMSprop(0.005), jp.Adagrad(0.1)],
    ids=lambda optimizer: type(optimizer).__name__,
)
def test_every_optimizer_trains_a_convolutional_network(rng, optimizer):
    X = rng.random((96, 11, 2))
    y = np.stack([X[:, :5, 0].mean(axis=1) > 0.5, X[:, 5:, 1].mean(axis=1) > 0.5], axis=1).astype(float)
    net = _mixed_1d(dtype="float32", seed=1)
    history = net.fit(X, y, epochs=8, batch_size=16, optimizer=optimizer, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_a_small_cnn_learns_the_digits(digits):
    # Measured on the project's 2-core machine: 0.98 after 6 to 10 epochs, 0.05 s an epoch (compiled).
    X, y = digits
    X = X.reshape(-1, 8, 8, 1)
    order = np.random.default_rng(0).permutation(X.shape[0])
    X, y = X[order], y[order]
    net = jp.Network(
        [
            jp.Conv2D(16, 3, padding="same", activation="relu"),
            jp.MaxPool2D(2),
            jp.Conv2D(32, 3, padding="same", activation="relu"),
            jp.MaxPool2D(2),
            jp.Flatten(),
            jp.Dense(64, activation="relu"),
            jp.Dense(10, activation="softmax"),
        ],
        input_shape=(8, 8, 1),
        loss="cross_entropy",
        seed=0,
    )
    start = time.perf_counter()
    net.fit(X[:1400], y[:1400], epochs=12, batch_size=32, optimizer=jp.Adam(lr=1e-3), verbose=0)
    print(f"12 epochs in {time.perf_counter() - start:.2f} s (with compiling, if any)")
    assert net.evaluate(X[1400:], y[1400:])["accuracy"] >= 0.95


# ------------------------------------------------------- files, copies, counts
@pytest.mark.parametrize("make", [_mixed_2d, _mixed_1d])
def test_a_convolutional_network_is_saved_loaded_and_copied(tmp_path, rng, make):
    net = make(dtype="float32", seed=2)
    X = rng.normal(size=(5, *net.input_shape))
    path = tmp_path / "cnn.safetensors"
    net.save(path)
    loaded = jp.load(path)
    assert [layer.config() for layer in loaded.layers] == [layer.config() for layer in net.layers]
    assert loaded.input_shape == net.input_shape
    np.testing.assert_array_equal(loaded.params, net.params)
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    np.testing.assert_array_equal(net.copy().predict(X), net.predict(X))


def test_a_layer_s_config_rebuilds_it():
    from jitprop.layers import layer_from_config

    for layer in [
        jp.Conv2D(3, (2, 3), strides=(2, 1), padding=(1, 0), activation="leaky_relu", alpha=0.2, init="he_normal"),
        jp.Conv1D(2, 4, padding="same", l2=0.1),
        jp.MaxPool2D((2, 3), strides=1),
        jp.AvgPool1D(3),
        jp.GlobalAvgPool2D(),
        jp.Flatten(),
    ]:
        rebuilt = layer_from_config(layer.config())
        assert type(rebuilt) is type(layer) and rebuilt.config() == layer.config() and repr(rebuilt) == repr(layer)


def test_summary_counts_the_shapes_and_flops_of_convolutions():
    net = jp.Network(
        [
            jp.Conv2D(8, 3, padding="same", activation="relu"),
            jp.MaxPool2D(2),
            jp.Conv2D(16, (2, 3), strides=2, activation="tanh"),
            jp.Flatten(),
            jp.Dense(10, "softmax"),
        ],
        input_shape=(10, 12, 3),
        loss="cross_entropy",
    )
    rows = summary_table(net)
    assert [row.output_shape for row in rows] == [(None, 10, 12, 8), (None, 5, 6, 8), (None, 2, 2, 16),
                                                  (None, 64), (None, 10), ()]  # fmt: skip
    assert [row.params for row in rows[:4]] == [3 * 3 * 3 * 8 + 8, 0, 2 * 3 * 8 * 16 + 16, 0]
    first = 2 * 3 * 3 * 3 * 8 * 10 * 12
    outputs = 10 * 12 * 8
    assert (rows[0].forward_flops, rows[0].backward_flops) == (first + outputs + outputs, first + outputs + outputs)
    second = 2 * 2 * 3 * 8 * 16 * 2 * 2
    outputs = 16 * 2 * 2
    assert rows[2].forward_flops == second + outputs + outputs  # tanh: 1 FLOP a unit
    assert rows[2].backward_flops == 2 * second + outputs + 3 * outputs  # and its derivative 3
    assert (rows[3].forward_flops, rows[3].backward_flops) == (0, 0)
    text = summary(net)
    assert "conv2d (Conv2D)" in text and "(None, 10, 12, 8)" in text and "(None, 64)" in text


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("layers", "shape", "message"),
    [
        (
            [jp.Conv2D(2, 5)],
            (3, 4, 1),
            r"Conv2D\(2, \(5, 5\).*window \(5, 5\) is larger than its padded input \(3, 4\)",
        ),
        ([jp.Conv2D(2, 4, padding=1)], (1, 6, 1), r"window \(4, 4\) is larger than its padded input \(3, 8\)"),
        ([jp.Conv1D(2, 6)], (5, 2), r"Conv1D\(2, 6.*window \(6,\) is larger than its padded input \(5,\)"),
        ([jp.MaxPool2D(3), jp.Flatten(), jp.Dense(2)], (2, 5, 1), r"MaxPool2D.*window \(3, 3\) is larger"),
        ([jp.Conv2D(2, 3)], (64,), r"Conv2D\(2.* takes examples of shape \(height, width, channels\), got .* \(64,\)"),
        ([jp.Conv1D(2, 3)], (8, 8, 1), r"Conv1D.* takes examples of shape \(steps, channels\), got .* \(8, 8, 1\)"),
        ([jp.GlobalAvgPool2D()], (4, 3), r"GlobalAvgPool2D\(\) takes examples of shape \(height, width, channels\)"),
        ([jp.Conv2D(2, 3), jp.Dense(3)], (5, 5, 1), r"Dense\(3.* takes examples of one axis.*\(3, 3, 2\).*Flatten"),
        ([jp.Conv2D(2, 3), jp.Flatten()], (5, 5, 1), r"The last layer must compute the outputs.*Flatten\(\)"),
    ],
)
def test_a_network_names_the_layer_and_shapes_it_cannot_take(layers, shape, message):
    with pytest.raises(ValueError, match=message):
        jp.Network(layers, input_shape=shape)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: jp.Conv2D(0, 3), r"Conv2D filters must be a positive integer, got 0"),
        (lambda: jp.Conv2D(2, (3, 3, 3)), r"Conv2D kernel_size must be a positive integer or 2 of them"),
        (lambda: jp.Conv1D(2, 3, strides=0), r"Conv1D strides must be positive, got 0"),
        (lambda: jp.Conv2D(2, 3, padding="full"), r"Conv2D padding must be 'valid', 'same', or zeros on each side"),
        (lambda: jp.Conv2D(2, 3, padding=-1), r"padding must be 'valid', 'same'"),
        (lambda: jp.Conv2D(2, 3, activation="swish"), r"Unknown activation 'swish'"),
        (lambda: jp.MaxPool2D(2.5), r"MaxPool2D pool_size must be a positive integer or 2 of them, got 2.5"),
        (lambda: jp.AvgPool1D(2, strides=(1, 1)), r"AvgPool1D strides must be a positive integer or 1 of them"),
    ],
)
def test_a_layer_refuses_arguments_it_cannot_take(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_a_convolution_belongs_to_one_network():
    conv = jp.Conv2D(2, 3)
    jp.Network([conv], input_shape=(4, 4, 1))
    with pytest.raises(ValueError, match="This Conv2D layer already belongs to a network"):
        jp.Network([conv], input_shape=(4, 4, 1))


def test_images_given_flat_are_read_by_the_input_shape(rng):
    net = jp.Network(
        [jp.Conv2D(4, 3, padding="same", activation="relu"), jp.MaxPool2D(2), jp.Flatten(), jp.Dense(3, "softmax")],
        input_shape=(6, 6, 2),
        loss="cross_entropy",
        seed=0,
    )
    images = rng.random((7, 6, 6, 2)).astype(np.float32)
    np.testing.assert_array_equal(net.predict(images.reshape(7, 72)), net.predict(images))
    with pytest.raises(
        ValueError, match=r"X must have shape \(n_samples, 6, 6, 2\) .* got an array of shape \(7, 71\)"
    ):
        net.predict(images.reshape(7, 72)[:, :71])
