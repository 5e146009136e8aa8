"""Network: loss, gradients, outputs and SGD steps against the plain-NumPy reference."""

import numpy as np
import pytest

import jitprop as jp
import jitprop.network
import reference as ref
from helpers import (
    DTYPES,
    HIDDEN_ACTIVATIONS,
    LOSS_OUTPUTS,
    TOLERANCE,
    activations_of,
    alphas_of,
    away_from_kinks,
    make_network,
    make_targets,
    params_of,
    randomize,
)
from jitprop.kernels.workspace import plan_tile_rows
from jitprop.kernels.tuning import POSITION_PANEL_FILTERS


def assert_matches_reference(net, X, y, dtype):
    """loss_and_grads, predict and evaluate of ``net`` agree with the reference on (X, y)."""
    rtol, atol = TOLERANCE[dtype]
    params, acts, alphas = params_of(net), activations_of(net), alphas_of(net)
    X64 = np.asarray(X, dtype=dtype).astype(np.float64)  # the values the network actually sees

    want_loss, want_grads = ref.loss_and_grads(params, acts, net.loss, X64, y, alphas)
    loss, grads = net.loss_and_grads(X, y)
    assert isinstance(loss, float)
    np.testing.assert_allclose(loss, want_loss, rtol=rtol, atol=atol)
    assert len(grads) == len(net.layers)
    for layer, (dW, db), (want_dW, want_db) in zip(net.layers, grads, want_grads):
        assert dW.shape == layer.W.shape and db.shape == layer.b.shape
        assert dW.dtype == np.dtype(dtype) and db.dtype == np.dtype(dtype)
        np.testing.assert_allclose(dW, want_dW, rtol=rtol, atol=atol)
        np.testing.assert_allclose(db, want_db, rtol=rtol, atol=atol)

    proba = net.predict(X)
    assert proba.shape == (X64.shape[0], net.n_outputs) and proba.dtype == np.dtype(dtype)
    np.testing.assert_allclose(proba, ref.predict(params, acts, X64, alphas), rtol=rtol, atol=atol)

    metrics = net.evaluate(X, y)
    want = ref.evaluate(params, acts, net.loss, X64, y, alphas)
    assert set(metrics) == set(want)
    np.testing.assert_allclose(metrics["loss"], want["loss"], rtol=rtol, atol=atol)
    if "accuracy" in want:
        assert metrics["accuracy"] == pytest.approx(want["accuracy"], abs=1e-12)


# ------------------------------------------------ every activation x loss
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss,output", LOSS_OUTPUTS)
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
def test_matches_reference_for_every_activation_and_loss(rng, hidden, loss, output, dtype):
    # Two hidden layers of odd widths; 11 examples.
    net = make_network([5, 7, 6, 3], [hidden, hidden, output], loss, dtype, seed=1)
    randomize(net, rng)
    X = away_from_kinks(net, rng.normal(size=(11, 5)), rng)
    y = make_targets(rng, loss, 11, 3, labels=(loss == "cross_entropy"))
    assert_matches_reference(net, X, y, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hidden,alpha", [("leaky_relu", 0.2), ("elu", 0.5), ("elu", 1.7)])
def test_alpha_reaches_the_kernels(rng, hidden, alpha, dtype):
    net = make_network([4, 6, 2], [hidden, "identity"], "mse", dtype, alphas=[alpha, None])
    randomize(net, rng)
    assert net.layers[0].alpha == alpha
    X = away_from_kinks(net, rng.normal(size=(9, 4)), rng)
    assert_matches_reference(net, X, rng.normal(size=(9, 2)), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_with_probability_rows(rng, dtype):
    net = make_network([4, 5, 3], ["tanh", "softmax"], "cross_entropy", dtype)
    randomize(net, rng)
    X = rng.normal(size=(8, 4))
    soft = rng.dirichlet(np.ones(3), size=8)
    assert_matches_reference(net, X, soft, dtype)
    # Rows that do not sum to one: the loss is -Σ t·log p all the same.
    assert_matches_reference(net, X, 2.5 * soft, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_labels_and_one_hot_rows_are_the_same_targets(rng, dtype):
    net = make_network([4, 6, 5], ["relu", "softmax"], "cross_entropy", dtype)
    randomize(net, rng)
    X = away_from_kinks(net, rng.normal(size=(13, 4)), rng)
    labels = rng.integers(0, 5, size=13)
    loss_l, grads_l = net.loss_and_grads(X, labels)
    loss_h, grads_h = net.loss_and_grads(X, np.eye(5)[labels])
    rtol = 1e-6 if dtype == "float32" else 1e-13
    assert loss_l == pytest.approx(loss_h, rel=rtol)
    for (dW_l, db_l), (dW_h, db_h) in zip(grads_l, grads_h):
        np.testing.assert_allclose(dW_l, dW_h, rtol=rtol, atol=rtol)
        np.testing.assert_allclose(db_l, db_h, rtol=rtol, atol=rtol)
    assert net.evaluate(X, labels) == pytest.approx(net.evaluate(X, np.eye(5)[labels]), rel=rtol)


# --------------------------------------------------------------- odd sizes
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "loss,output", [("cross_entropy", "softmax"), ("binary_cross_entropy", "sigmoid"), ("mse", "tanh")]
)
def test_one_example(rng, loss, output, dtype):
    net = make_network([3, 4, 2], ["sigmoid", output], loss, dtype)
    randomize(net, rng)
    X = rng.normal(size=(1, 3))
    assert_matches_reference(net, X, make_targets(rng, loss, 1, 2, labels=(loss == "cross_entropy")), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "loss,acts",
    [("mse", ["identity", "identity"]), ("mse", ["tanh", "sigmoid"]), ("binary_cross_entropy", ["elu", "sigmoid"])],
)
def test_one_unit_layers_and_one_feature(rng, loss, acts, dtype):
    net = make_network([1, 1, 1], acts, loss, dtype)
    randomize(net, rng, scale=1.0)
    X = rng.normal(size=(6, 1))
    y = make_targets(rng, loss, 6, 1)[:, 0]  # (n,) targets for a single output
    assert_matches_reference(net, X, y, dtype)
    assert_matches_reference(net, X, y.reshape(-1, 1), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_with_a_single_output(rng, dtype):
    # softmax of one output is 1: no loss to reduce and a zero gradient.
    net = make_network([3, 1], ["softmax"], "cross_entropy", dtype)
    X = rng.normal(size=(4, 3))
    loss, grads = net.loss_and_grads(X, np.zeros(4, dtype=int))
    assert loss == pytest.approx(0.0, abs=1e-7)
    assert all(np.all(dW == 0) and np.all(db == 0) for dW, db in grads)
    np.testing.assert_allclose(net.predict(X), 1.0)


# ---------------------------------------------------- the parallel path
def _parallel_case(rng, loss, output, hidden, dtype, n):
    net = make_network([20, 64, 10], [hidden, output], loss, dtype, seed=3)
    randomize(net, rng, scale=0.3)
    X = away_from_kinks(net, rng.normal(size=(n, 20)), rng)
    y = make_targets(rng, loss, n, 10, labels=(loss == "cross_entropy"))
    return net, X, y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "loss,output,hidden",
    [("cross_entropy", "softmax", "relu"), ("binary_cross_entropy", "sigmoid", "gelu"), ("mse", "softmax", "tanh")],
)
def test_batch_of_several_tiles_matches_reference(rng, parallel_tiles, loss, output, hidden, dtype):
    n = 300
    net, X, y = _parallel_case(rng, loss, output, hidden, dtype, n)
    tile = plan_tile_rows(n, net.layout, net.n_params)
    assert -(-n // tile) >= 2 and n % tile != 0  # several tiles, the last one shorter
    assert -(-n // plan_tile_rows(n, net.layout, net.n_params, with_gradients=False)) >= 2
    assert_matches_reference(net, X, y, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_long_rows_read_in_place_match_reference(rng, dtype):
    # A first layer of MAX_DOT_INPUTS inputs or more runs its forward product by the
    # micro-kernel reading Wt where it lies, over panels of a tile's rows: 100 rows
    # make three full panels and a ragged fourth (of 32 float32 rows, 16 float64).
    from jitprop.kernels.dense import READS_IN_PLACE, forward_product
    from jitprop.kernels.panels import columns_for_itemsize
    from jitprop.kernels.tuning import MAX_DOT_INPUTS

    n, inputs = 100, MAX_DOT_INPUTS + 22
    net = make_network([inputs, 40, 20, 3], ["tanh", "relu", "softmax"], "cross_entropy", dtype, seed=4)
    randomize(net, rng, scale=0.2)
    tile = plan_tile_rows(n, net.layout, net.n_params)
    columns = columns_for_itemsize(np.dtype(dtype).itemsize)
    assert forward_product.py_func(False, tile, inputs, 40, columns) == READS_IN_PLACE
    assert n % columns != 0
    X = away_from_kinks(net, rng.normal(size=(n, inputs)), rng)
    y = make_targets(rng, "cross_entropy", n, 3, labels=True)
    assert_matches_reference(net, X, y, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_data_in_several_chunks_matches_reference(rng, monkeypatch, dtype):
    # predict / evaluate / loss_and_grads bound their memory by running the data in
    # chunks; make chunks of 4 rows (36 = 9 elements per row x 4), so 10 examples
    # take 3 of them, the last shorter.
    monkeypatch.setattr(jitprop.network, "_CHUNK_ELEMENTS", 36)
    calls = []
    run_batch = jitprop.network.run_batch

    def counted(*args):
        calls.append(args[4].shape[0])  # the rows of the chunk
        return run_batch(*args)

    monkeypatch.setattr(jitprop.network, "run_batch", counted)
    net = make_network([3, 4, 2], ["tanh", "softmax"], "cross_entropy", dtype)
    randomize(net, rng)
    X = rng.normal(size=(10, 3))
    assert_matches_reference(net, X, rng.integers(0, 2, size=10), dtype)
    assert calls == [4, 4, 2] * 3  # loss_and_grads, predict, evaluate


# ------------------------------------------------- parameters and views
def test_weights_and_biases_are_views_into_params():
    net = make_network([4, 6, 3], ["relu", "softmax"], "cross_entropy", "float64")
    assert net.n_params == net.params.size == 4 * 6 + 6 + 6 * 3 + 3
    for layer, (fan_in, fan_out) in zip(net.layers, [(4, 6), (6, 3)]):
        assert layer.W.shape == (fan_in, fan_out) and layer.b.shape == (fan_out,)
        assert np.shares_memory(layer.W, net.params) and np.shares_memory(layer.b, net.params)
        assert layer.W.flags.writeable and layer.b.flags.writeable
    # Every parameter belongs to exactly one of the views.
    net.params[...] = 0
    for layer in net.layers:
        layer.W[...] += 1
        layer.b[...] += 1
    np.testing.assert_array_equal(net.params, 1)
    # And writing params shows through the views.
    net.params[...] = np.arange(net.n_params)
    seen = np.concatenate([np.concatenate([layer.W.ravel(), layer.b]) for layer in net.layers])
    np.testing.assert_array_equal(np.sort(seen), np.arange(net.n_params))


@pytest.mark.parametrize("dtype", DTYPES)
def test_writing_weights_changes_predictions(rng, dtype):
    net = make_network([3, 5, 2], ["tanh", "identity"], "mse", dtype)
    X = rng.normal(size=(7, 3))
    before = net.predict(X)
    W = rng.normal(size=(3, 5))
    net.layers[0].W[...] = W
    net.layers[1].b[...] = [1.0, -2.0]
    after = net.predict(X)
    assert not np.allclose(before, after)
    rtol, atol = TOLERANCE[dtype]
    np.testing.assert_allclose(after, ref.predict(params_of(net), activations_of(net), X), rtol=rtol, atol=atol)
    np.testing.assert_allclose(params_of(net)[0][0], W.astype(dtype))
    # A gradient after the change is the gradient at the new weights.
    assert_matches_reference(net, X, rng.normal(size=(7, 2)), dtype)


def test_initial_biases_are_zero_and_weights_are_not():
    net = make_network([4, 6, 3], ["relu", "softmax"], "cross_entropy", "float64", seed=5)
    for layer in net.layers:
        assert np.all(layer.b == 0)
        assert np.all(layer.W != 0) and np.unique(layer.W).size == layer.W.size


@pytest.mark.parametrize("dtype", DTYPES)
def test_copy(rng, dtype):
    net = make_network([3, 5, 2], ["elu", "sigmoid"], "binary_cross_entropy", dtype, alphas=[0.4, None])
    randomize(net, rng)
    twin = net.copy(dtype="float64")
    assert twin.dtype == np.float64 and twin.params.dtype == np.float64
    assert twin.layers[0].alpha == 0.4 and twin.loss == net.loss
    np.testing.assert_array_equal(twin.params, net.params.astype(np.float64))
    assert not np.shares_memory(twin.params, net.params)
    assert all(np.shares_memory(layer.W, twin.params) for layer in twin.layers)
    X = rng.normal(size=(6, 3))
    np.testing.assert_allclose(twin.predict(X), net.predict(X), rtol=TOLERANCE[dtype][0], atol=TOLERANCE[dtype][1])
    twin.layers[0].W[...] = 0
    assert np.all(net.layers[0].W != 0)
    same = net.copy()
    assert same.dtype == net.dtype
    np.testing.assert_array_equal(same.params, net.params)


# ------------------------------------------------------- SGD by hand
def _flat(pairs):
    return [p for pair in pairs for p in pair]


def _pairs(flat):
    return list(zip(flat[0::2], flat[1::2]))


def _reference_training(net, batches, lr, epochs, **settings):
    """Run the reference SGD over ``batches`` [(X, y), ...] for ``epochs``; returns params and batch losses."""
    params = _flat(params_of(net))
    velocity = [np.zeros_like(p) for p in params]
    losses = []
    for _ in range(epochs):
        for X, y in batches:
            loss, grads = ref.loss_and_grads(_pairs(params), activations_of(net), net.loss, X, y, alphas_of(net))
            losses.append(loss)
            params, velocity = ref.sgd(params, _flat(grads), velocity, lr, **settings)
    return _pairs(params), losses


def assert_params_equal(net, want, dtype):
    rtol, atol = TOLERANCE[dtype]
    for layer, (W, b) in zip(net.layers, want):
        np.testing.assert_allclose(layer.W, W, rtol=rtol, atol=atol)
        np.testing.assert_allclose(layer.b, b, rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "loss,acts",
    [
        ("cross_entropy", ["relu", "softmax"]),
        ("binary_cross_entropy", ["tanh", "sigmoid"]),
        ("mse", ["sigmoid", "identity"]),
        ("mse", ["gelu", "softmax"]),
    ],
)
def test_one_full_batch_sgd_step_by_hand(rng, loss, acts, dtype):
    net = make_network([4, 5, 3], acts, loss, dtype)
    randomize(net, rng)
    X = away_from_kinks(net, rng.normal(size=(10, 4)), rng).astype(dtype).astype(np.float64)
    y = make_targets(rng, loss, 10, 3, labels=(loss == "cross_entropy"))
    start = params_of(net)
    want_loss, grads = ref.loss_and_grads(start, activations_of(net), loss, X, y, alphas_of(net))
    lr = 0.3

    history = net.fit(X, y, epochs=1, batch_size=10, optimizer=jp.SGD(lr=lr), shuffle=False)

    # W ← W − lr·∂L/∂W, written out.
    assert_params_equal(net, [(W - lr * dW, b - lr * db) for (W, b), (dW, db) in zip(start, grads)], dtype)
    # The history reports the loss (and accuracy) before the update.
    rtol, atol = TOLERANCE[dtype]
    assert history["loss"] == pytest.approx([want_loss], rel=rtol, abs=atol)
    want = ref.evaluate(start, activations_of(net), loss, X, y, alphas_of(net))
    if "accuracy" in want:
        assert history["accuracy"] == pytest.approx([want["accuracy"]])
    else:
        assert "accuracy" not in history.history
    assert history.epochs == [0]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "settings",
    [
        dict(momentum=0.9),
        dict(momentum=0.8, nesterov=True),
        dict(momentum=0.0, weight_decay=0.1),
        dict(momentum=0.5, nesterov=True, weight_decay=0.05),
    ],
    ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()),
)
def test_sgd_with_momentum_over_two_epochs(rng, settings, dtype):
    net = make_network([4, 5, 3], ["tanh", "softmax"], "cross_entropy", dtype)
    randomize(net, rng)
    X = rng.normal(size=(10, 4)).astype(dtype).astype(np.float64)
    y = rng.integers(0, 3, size=10)
    want, losses = _reference_training(net, [(X, y)], 0.2, 2, **settings)
    history = net.fit(X, y, epochs=2, batch_size=10, optimizer=jp.SGD(lr=0.2, **settings), shuffle=False)
    assert_params_equal(net, want, dtype)
    rtol, atol = TOLERANCE[dtype]
    assert history["loss"] == pytest.approx(losses, rel=rtol, abs=atol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_mini_batches_in_order(rng, dtype):
    # 10 examples in batches of 4: updates on rows 0-3, 4-7, then 8-9.
    net = make_network([3, 4, 2], ["softplus", "sigmoid"], "binary_cross_entropy", dtype)
    randomize(net, rng)
    X = rng.normal(size=(10, 3)).astype(dtype).astype(np.float64)
    y = make_targets(rng, "binary_cross_entropy", 10, 2)
    batches = [(X[0:4], y[0:4]), (X[4:8], y[4:8]), (X[8:10], y[8:10])]
    want, losses = _reference_training(net, batches, 0.5, 1, momentum=0.9)
    history = net.fit(X, y, epochs=1, batch_size=4, optimizer=jp.SGD(lr=0.5, momentum=0.9), shuffle=False)
    assert_params_equal(net, want, dtype)
    # The epoch's loss is the mean over examples of the batch losses.
    rtol, atol = TOLERANCE[dtype]
    assert history["loss"][0] == pytest.approx((4 * losses[0] + 4 * losses[1] + 2 * losses[2]) / 10, rel=rtol, abs=atol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_steps_on_batches_of_several_tiles(rng, parallel_tiles, dtype):
    # Batches of 130 rows are cut into 2 tiles (68 + 62); the last batch of 40
    # rows is a single, shorter tile.
    n, batch = 300, 130
    # tanh: smooth, so six float32 updates cannot put a unit on different sides of a kink.
    net, X, y = _parallel_case(rng, "cross_entropy", "softmax", "tanh", dtype, n)
    tile = plan_tile_rows(batch, net.layout, net.n_params)
    assert -(-batch // tile) >= 2 and batch % tile != 0
    X = X.astype(dtype).astype(np.float64)
    batches = [(X[i : i + batch], y[i : i + batch]) for i in range(0, n, batch)]
    want, losses = _reference_training(net, batches, 0.1, 2, momentum=0.9)
    history = net.fit(X, y, epochs=2, batch_size=batch, optimizer=jp.SGD(lr=0.1, momentum=0.9), shuffle=False)
    rtol, atol = TOLERANCE[dtype]
    if dtype == "float32":
        rtol, atol = 1e-3, 1e-4  # six updates, each after a float32 forward and backward pass
    for layer, (W, b) in zip(net.layers, want):
        np.testing.assert_allclose(layer.W, W, rtol=rtol, atol=atol)
        np.testing.assert_allclose(layer.b, b, rtol=rtol, atol=atol)
    per_epoch = [(130 * a + 130 * b + 40 * c) / n for a, b, c in (losses[:3], losses[3:])]
    assert history["loss"] == pytest.approx(per_epoch, rel=rtol, abs=atol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_full_batch_does_not_depend_on_the_order(rng, dtype):
    net = make_network([4, 6, 3], ["relu", "softmax"], "cross_entropy", dtype, seed=7)
    twin = net.copy()
    X = rng.normal(size=(40, 4))
    y = rng.integers(0, 3, size=40)
    net.fit(X, y, epochs=3, batch_size=40, optimizer=jp.SGD(lr=0.1), shuffle=True)
    twin.fit(X, y, epochs=3, batch_size=40, optimizer=jp.SGD(lr=0.1), shuffle=False)
    rtol, atol = (1e-5, 1e-6) if dtype == "float32" else (1e-12, 1e-13)
    np.testing.assert_allclose(net.params, twin.params, rtol=rtol, atol=atol)


def test_batch_size_larger_than_the_data_is_one_batch(rng):
    net = make_network([2, 3, 1], ["tanh", "identity"], "mse", "float64")
    twin = net.copy()
    X = rng.normal(size=(5, 2))
    y = rng.normal(size=5)
    net.fit(X, y, epochs=1, batch_size=1000, optimizer=jp.SGD(lr=0.1), shuffle=False)
    twin.fit(X, y, epochs=1, batch_size=5, optimizer=jp.SGD(lr=0.1), shuffle=False)
    np.testing.assert_array_equal(net.params, twin.params)


def test_optimizer_state_carries_over_between_fits(rng):
    X = rng.normal(size=(8, 3))
    y = rng.normal(size=(8, 2))
    once = make_network([3, 4, 2], ["tanh", "identity"], "mse", "float64")
    twice = once.copy()
    once.fit(X, y, epochs=3, batch_size=8, optimizer=jp.SGD(lr=0.1, momentum=0.9), shuffle=False)
    optimizer = jp.SGD(lr=0.1, momentum=0.9)
    for _ in range(3):
        twice.fit(X, y, epochs=1, batch_size=8, optimizer=optimizer, shuffle=False)
    np.testing.assert_array_equal(once.params, twice.params)
    assert optimizer.step == 3 and twice.optimizer is optimizer


def test_default_optimizer_is_sgd_with_lr_0_01(rng):
    net = make_network([3, 2], ["identity"], "mse", "float64")
    X = rng.normal(size=(6, 3))
    y = rng.normal(size=(6, 2))
    start = params_of(net)
    _, grads = ref.loss_and_grads(start, ["identity"], "mse", X, y)
    net.fit(X, y, epochs=1, batch_size=6, shuffle=False)
    assert_params_equal(net, [(W - 0.01 * dW, b - 0.01 * db) for (W, b), (dW, db) in zip(start, grads)], "float64")


def test_history_records_every_epoch(rng):
    net = make_network([3, 4, 2], ["relu", "sigmoid"], "binary_cross_entropy", "float64")
    X = rng.normal(size=(12, 3))
    y = make_targets(rng, "binary_cross_entropy", 12, 2)
    history = net.fit(X, y, epochs=4, batch_size=5, optimizer=jp.SGD(lr=0.1))
    assert history.epochs == [0, 1, 2, 3]
    for key in ("loss", "accuracy", "seconds", "examples_per_second"):
        assert len(history[key]) == 4
    # Accuracy of binary cross-entropy counts outputs: multiples of 1/24.
    assert all(abs(acc * 24 - round(acc * 24)) < 1e-9 for acc in history["accuracy"])


def test_an_optimizer_starts_afresh_on_another_network(rng):
    # Optimizer.prepare keeps the state "across fit calls on the same network";
    # a second network of the same shape must not inherit the first one's velocity.
    X = rng.normal(size=(8, 3))
    y = rng.normal(size=(8, 2))
    first = make_network([3, 4, 2], ["tanh", "identity"], "mse", "float64", seed=0)
    second = make_network([3, 4, 2], ["tanh", "identity"], "mse", "float64", seed=1)
    fresh = second.copy()
    shared = jp.SGD(lr=0.1, momentum=0.9)
    first.fit(X, y, epochs=3, batch_size=8, optimizer=shared, shuffle=False)
    second.fit(X, y, epochs=1, batch_size=8, optimizer=shared, shuffle=False)
    fresh.fit(X, y, epochs=1, batch_size=8, optimizer=jp.SGD(lr=0.1, momentum=0.9), shuffle=False)
    np.testing.assert_array_equal(second.params, fresh.params)


@pytest.mark.parametrize("dtype", DTYPES)
def test_any_memory_layout_and_numeric_dtype_of_X(rng, dtype):
    net = make_network([3, 4, 2], ["tanh", "sigmoid"], "binary_cross_entropy", dtype)
    wide = rng.normal(size=(7, 6))
    X = np.ascontiguousarray(wide[:, ::2])
    expected = net.predict(X)
    np.testing.assert_array_equal(net.predict(wide[:, ::2]), expected)  # strided view
    np.testing.assert_array_equal(net.predict(np.asfortranarray(X)), expected)
    np.testing.assert_array_equal(net.predict(X.tolist()), expected)
    other = np.float64 if dtype == "float32" else np.float32
    np.testing.assert_allclose(net.predict(X.astype(other)), net.predict(X.astype(other).astype(dtype)), rtol=0)


def test_training_leaves_the_data_alone(rng):
    net = make_network([3, 4, 2], ["relu", "softmax"], "cross_entropy", "float32")
    X = rng.normal(size=(12, 3)).astype(np.float32)  # already the network's dtype: used without a copy
    y = rng.integers(0, 2, size=12)
    X0, y0 = X.copy(), y.copy()
    net.fit(X, y, epochs=2, batch_size=5, shuffle=True)
    net.loss_and_grads(X, y)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


def test_pickled_network_keeps_views_and_trains_on_identically(rng):
    import pickle

    X = rng.normal(size=(64, 4))
    y = rng.integers(0, 3, 64)
    net = jp.Network([jp.Dense(8, "tanh"), jp.Dense(3, "softmax")], 4, "cross_entropy", seed=1)
    net.fit(X, y, epochs=2, optimizer=jp.SGD(0.1, momentum=0.9), verbose=0)
    twin = pickle.loads(pickle.dumps(net))
    assert np.shares_memory(twin.layers[0].W, twin.params)
    np.testing.assert_array_equal(twin.predict(X), net.predict(X))
    net.fit(X, y, epochs=1, verbose=0)
    twin.fit(X, y, epochs=1, verbose=0)
    np.testing.assert_array_equal(twin.params, net.params)


def test_input_shape_of_one_axis_is_input_dim():
    by_shape = jp.Network([jp.Dense(3)], input_shape=(4,), seed=0)
    by_dim = jp.Network([jp.Dense(3)], 4, seed=0)
    assert by_shape.input_shape == by_dim.input_shape == (4,) and by_shape.input_dim == 4
    np.testing.assert_array_equal(by_shape.params, by_dim.params)
    assert jp.Network.from_config(by_dim.config()).input_shape == (4,)
    assert jp.Network.from_config({k: v for k, v in by_dim.config().items() if k != "input_shape"}).input_dim == 4


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, r"Give the network's input_dim \(features of an example\) or its input_shape, not both\."),
        ({"input_dim": 4, "input_shape": (4,)}, r"Give the network's input_dim"),
        ({"input_shape": ()}, r"input_shape must be a non-empty tuple of positive integers, got \(\)\."),
        ({"input_shape": (8, 0)}, r"each size of input_shape must be a positive integer, got 0\."),
    ],
)
def test_input_shape_errors_name_the_problem(kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):
        jp.Network([jp.Dense(3)], **kwargs)


# --------------------------------------------- predictions of a few rows
def _general_path_only(net, monkeypatch):
    """Make ``net.predict`` take the general path whatever the rows (the small one reports itself busy)."""
    busy = type("Busy", (), {"run": staticmethod(lambda *args: None), "run_as_is": staticmethod(lambda *args: None)})
    monkeypatch.setattr(net, "_small_forward", busy())


def _few_rows_networks(dtype):
    dense = make_network([130, 40, 20, 3], ["relu", "tanh", "softmax"], "cross_entropy", dtype)  # dots and panels
    conv = jp.Network(
        [jp.Conv2D(4, 3, padding="same", activation="relu"), jp.MaxPool2D(2), jp.Flatten(), jp.Dense(3)],
        input_shape=(6, 6, 2),
        dtype=dtype,
        seed=1,
    )
    # Wider than POSITION_PANEL_FILTERS: the forward product reads the weights' panels packed by columns.
    wide = jp.Conv2D(POSITION_PANEL_FILTERS + 3, 3, activation="relu")
    wide_conv = jp.Network([jp.Conv2D(2, 1), wide, jp.Flatten(), jp.Dense(3)], input_shape=(5, 4, 2), dtype=dtype)
    lstm = jp.Network([jp.LSTM(5, return_sequences=True), jp.Dense(2)], input_shape=(4, 3), dtype=dtype, seed=2)
    return dense, conv, wide_conv, lstm


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_few_rows_predict_bit_for_bit_as_the_general_path(rng, monkeypatch, dtype):
    for net in _few_rows_networks(dtype):
        X = rng.normal(size=(jitprop.network._SMALL_ROWS + 1, *net.input_shape))
        small = [net.predict(X[:n]) for n in (1, 2, 5, jitprop.network._SMALL_ROWS)]
        read_only = X[:3].astype(dtype)
        read_only.flags.writeable = False  # another kind of input array: buffers of its own
        small.append(net.predict(read_only))
        flattened = X[:2].reshape(2, -1).astype(dtype)  # each example flattened, read as it is
        small.append(net.predict(flattened))
        _general_path_only(net, monkeypatch)
        general = [net.predict(X[:n]) for n in (1, 2, 5, jitprop.network._SMALL_ROWS)] + [net.predict(read_only)]
        general.append(net.predict(flattened))
        for got, want in zip(small, general):
            assert got.shape == want.shape
            np.testing.assert_array_equal(got, want)


def test_passes_over_many_rows_give_what_their_own_buffers_give_whatever_ran_before(rng):
    # A pass of more than _SMALL_ROWS rows carves its workspace from memory the passes before it
    # used, of this network or another; while that memory is taken, a pass allocates its own.
    # Nothing a pass before left there may show in a prediction, evaluation or gradient.
    nets = [
        make_network([30, 40, 3], ["relu", "softmax"], "cross_entropy", "float32"),
        make_network([30, 7, 3], ["tanh", "softmax"], "cross_entropy", "float64", seed=1),
    ]
    X = rng.normal(size=(3000, 30))
    y = rng.integers(0, 3, 3000)

    def passes(net, n):
        loss, grads = net.loss_and_grads(X[:n], y[:n])
        return net.predict(X[:n]), net.evaluate(X[:n], y[:n]), loss, [g for pair in grads for g in pair]

    for n in (100, 3000, 100, 2999, 3000):
        for net in nets:
            got = passes(net, n)
            with jitprop.network._PASS_MEMORY._lock:  # (taken: the pass allocates a workspace of its own)
                want = passes(net, n)
            np.testing.assert_array_equal(got[0], want[0])
            assert got[1:3] == want[1:3]
            for a, b in zip(got[3], want[3]):
                np.testing.assert_array_equal(a, b)


def test_a_few_rows_see_weights_written_between_predictions(rng):
    net = make_network([64, 32, 2], ["relu", "identity"], "mse", "float32")  # packed panels forward
    X = rng.normal(size=(3, 64))
    before = net.predict(X)
    net.layers[0].W[...] = rng.normal(size=(64, 32))
    after = net.predict(X)
    assert not np.allclose(before, after)
    rtol, atol = TOLERANCE["float32"]
    np.testing.assert_allclose(after, ref.predict(params_of(net), activations_of(net), X), rtol=rtol, atol=atol)


def test_a_few_rows_of_the_network_s_dtype_are_read_as_they_are(rng, monkeypatch):
    # The path of one request at a time: no conversion, no check in Python beyond the array's kind.
    net = make_network([6, 4, 3], ["relu", "softmax"], "cross_entropy", "float32")
    converted = []
    original = jitprop._checks.as_float_examples
    monkeypatch.setattr(jitprop._checks, "as_float_examples", lambda *a, **k: converted.append(1) or original(*a, **k))
    X = rng.normal(size=(2, 6)).astype(np.float32)
    expected = net.predict(X)
    assert converted == []
    np.testing.assert_array_equal(net.predict(X.astype(np.float64)), expected)  # (converted first, then the same)
    np.testing.assert_array_equal(net.predict(np.asfortranarray(X)), expected)
    assert converted == [1, 1]


def test_a_prediction_while_the_few_rows_buffers_are_busy_takes_the_general_path(rng):
    net = make_network([10, 8, 3], ["relu", "softmax"], "cross_entropy", "float64")
    X = rng.normal(size=(4, 10))
    expected = net.predict(X)
    with net._small_forward._lock:  # as if another thread were predicting
        np.testing.assert_array_equal(net.predict(X), expected)


def test_a_few_rows_with_infinite_outputs_are_an_error_naming_them():
    net = make_network([3, 2], ["identity"], "mse", "float64")
    net.layers[0].W[0, 1] = np.inf
    with pytest.raises(FloatingPointError, match=r"overflowed float64: infinity at .*column 1"):
        net.predict(np.array([[1.0, -1.0, 0.0]]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_few_rows_with_nan_are_an_error_naming_it(dtype):
    net = make_network([3, 2], ["identity"], "mse", dtype)
    X = np.zeros((2, 3), dtype=dtype)  # the network's own dtype: read as it is, checked in the kernel
    X[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"Input X contains NaN \(first at row 1, column 2\)"):
        net.predict(X)
