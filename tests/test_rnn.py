"""Recurrent networks as users build them: against a NumPy reference, gradients, threads, training, files and errors.

Every network here is float64 with mse (gradients) or float32 (training),
so the recurrent kernels compile once per dtype for the whole module.
"""

import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest

import jitprop as jp
import reference_rnn as ref
from jitprop._threading import thread_count
from jitprop.complexity.model import summary, summary_table
from jitprop.kernels import workspace


def _cell(kind, units, sequences, activation="tanh"):
    if kind == "simple_rnn":
        return jp.SimpleRNN(units, activation=activation, return_sequences=sequences)
    return {"gru": jp.GRU, "lstm": jp.LSTM}[kind](units, return_sequences=sequences)


def _randomized(net, rng):
    """The network with every parameter drawn at random (biases too), so no gradient is zero by construction."""
    net.params[...] = rng.normal(0.0, 0.5, size=net.n_params)
    return net


def _assert_loss_and_grads_match(net, X, y, loss_rtol, rtol, atol, reference=None):
    """``net.loss_and_grads(X, y)`` against the step-by-step reference run on ``reference`` (default ``net``)."""
    loss, grads = net.loss_and_grads(X, y)
    expected_loss, expected = ref.network_loss_and_grads(net if reference is None else reference, X, y)
    assert loss == pytest.approx(expected_loss, rel=loss_rtol)
    for views, wanted in zip(grads, expected):
        for got, want in zip(views, wanted):
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


# ------------------------------------------------------------------ reference
CASES = {
    # id: (kind, activation, return_sequences, bidirectional, dense before it, steps, features, units, examples)
    "lstm": ("lstm", "tanh", False, False, True, 5, 3, 4, 3),
    "lstm-sequences": ("lstm", "tanh", True, False, False, 4, 2, 3, 2),
    "gru": ("gru", "tanh", False, False, False, 5, 3, 4, 3),
    "gru-sequences": ("gru", "tanh", True, False, True, 4, 3, 2, 3),
    "simple": ("simple_rnn", "tanh", False, False, True, 6, 2, 3, 4),
    "simple-relu-sequences": ("simple_rnn", "relu", True, False, False, 3, 2, 3, 2),
    "bidirectional-lstm-sequences": ("lstm", "tanh", True, True, True, 4, 2, 3, 2),
    "bidirectional-gru": ("gru", "tanh", False, True, False, 5, 2, 3, 3),
    "bidirectional-simple": ("simple_rnn", "sigmoid", False, True, True, 3, 3, 2, 2),
    "one-step": ("lstm", "tanh", True, True, False, 1, 3, 2, 3),
    "one-unit": ("gru", "tanh", True, False, True, 4, 2, 1, 2),
    "one-example": ("lstm", "tanh", False, True, True, 5, 2, 3, 1),
    "one-of-each": ("simple_rnn", "identity", False, False, False, 1, 1, 1, 1),
}


def _case_network(rng, case):
    kind, activation, sequences, bidirectional, dense_first, steps, features, units, _ = case
    layer = _cell(kind, units, sequences, activation)
    layers = [jp.Bidirectional(layer) if bidirectional else layer, jp.Dense(2, "tanh")]
    if dense_first:
        layers.insert(0, jp.Dense(3, "tanh"))  # over steps: the recurrent layer passes a gradient back
    net = jp.Network(layers, input_shape=(steps, features), loss="mse", dtype="float64", seed=0)
    return _randomized(net, rng)


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_a_recurrent_network_runs_as_its_reference(rng, case):
    net = _case_network(rng, case)
    examples = case[-1]
    X = rng.normal(size=(examples, *net.input_shape))
    y = rng.normal(size=(examples, net.n_outputs))
    np.testing.assert_allclose(net.predict(X), ref.network_predict(net, X), rtol=1e-12, atol=1e-13)
    loss, grads = net.loss_and_grads(X, y)
    expected_loss, expected_grads = ref.network_loss_and_grads(net, X, y)
    assert loss == pytest.approx(expected_loss, rel=1e-12)
    assert len(grads) == len(expected_grads)
    for views, expected in zip(grads, expected_grads):
        assert len(views) == len(expected)
        for got, want in zip(views, expected):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)


FLOAT32_CASES = {
    # id: (kind, activation, bidirectional)
    "lstm": ("lstm", "tanh", False),
    "gru": ("gru", "tanh", True),
    "simple-sigmoid": ("simple_rnn", "sigmoid", False),
    "simple-tanh": ("simple_rnn", "tanh", True),
}


@pytest.mark.parametrize("case", list(FLOAT32_CASES.values()), ids=list(FLOAT32_CASES))
def test_a_float32_network_runs_as_its_reference_within_float32_rounding(rng, case):
    # float32 cells compute tanh and the logistic function by a rational approximation (within 7 ulps).
    kind, activation, bidirectional = case

    def network(dtype):
        layer = _cell(kind, 8, True, activation)
        layers = [jp.Dense(4, "tanh"), jp.Bidirectional(layer) if bidirectional else layer, jp.Dense(2, "tanh")]
        return jp.Network(layers, input_shape=(7, 3), loss="mse", dtype=dtype, seed=0)

    net = _randomized(network("float32"), rng)
    X = rng.normal(size=(40, 7, 3)).astype(np.float32)
    y = rng.normal(size=(40, net.n_outputs)).astype(np.float32)
    as_float64 = network("float64")
    as_float64.params[...] = net.params
    np.testing.assert_allclose(net.predict(X), ref.network_predict(as_float64, X.astype(np.float64)), rtol=1e-5,
                               atol=1e-5)  # fmt: skip
    X64, y64 = X.astype(np.float64), y.astype(np.float64)  # (float32 values: the network reads them as they are)
    _assert_loss_and_grads_match(net, X64, y64, 1e-5, 1e-4, 1e-5, reference=as_float64)


def test_tiles_and_chunks_of_a_batch_run_as_the_reference(rng, parallel_tiles):
    # Several tiles a batch, each of several chunks of examples (CHUNK_ROWS // steps examples a chunk).
    layers = [jp.Dense(3, "tanh"), jp.Bidirectional(jp.GRU(3, return_sequences=True)), jp.LSTM(2), jp.Dense(2)]
    net = _randomized(jp.Network(layers, input_shape=(5, 2), loss="mse", dtype="float64", seed=0), rng)
    ws = workspace.allocate(net.layout, 600, net.n_params, net.dtype)
    assert ws.tile_rows < 600 and ws.tile_rows > 256 // 5
    X, y = rng.normal(size=(600, 5, 2)), rng.normal(size=(600, 2))
    np.testing.assert_allclose(net.predict(X), ref.network_predict(net, X), rtol=1e-12, atol=1e-13)
    _assert_loss_and_grads_match(net, X, y, 1e-12, 1e-9, 1e-13)


def test_the_views_are_keras_layout_and_the_lstm_forget_bias_starts_at_one():
    lstm, gru, simple = jp.LSTM(4), jp.GRU(3, return_sequences=True), jp.SimpleRNN(2)
    jp.Network([lstm, jp.Dense(1)], input_shape=(5, 6))
    jp.Network([gru, jp.Dense(1)], input_shape=(5, 6))
    jp.Network([jp.Bidirectional(simple), jp.Dense(1)], input_shape=(5, 6))
    assert (lstm.W.shape, lstm.U.shape, lstm.b.shape) == ((6, 16), (4, 16), (16,))
    assert (gru.W.shape, gru.U.shape, gru.b.shape) == ((6, 9), (3, 9), (2, 9))
    assert (simple.W.shape, simple.U.shape, simple.b.shape) == ((6, 2), (2, 2), (2,))
    np.testing.assert_array_equal(lstm.b, np.r_[np.zeros(4), np.ones(4), np.zeros(8)])
    np.testing.assert_allclose(lstm.U @ lstm.U.T, np.eye(4), atol=1e-6)  # orthogonal rows
    assert not gru.b.any()


# ------------------------------------------------------------------ gradients
def test_stacked_recurrent_layers_have_exact_gradients(rng):
    layers = [
        jp.LSTM(3, return_sequences=True, l2=0.01),
        jp.Bidirectional(jp.GRU(2, return_sequences=True)),
        jp.Dense(2, "tanh"),
        jp.Flatten(),
        jp.Dense(2),
    ]
    net = _randomized(jp.Network(layers, input_shape=(4, 2), loss="mse", dtype="float64", seed=0, l2=0.02), rng)
    X = rng.normal(size=(3, 4, 2))
    y = rng.normal(size=(3, 2))
    assert jp.gradcheck(net, X, y) < 1e-6


def test_a_bidirectional_simple_rnn_has_exact_gradients(rng):
    layers = [jp.Dense(2, "tanh"), jp.Bidirectional(jp.SimpleRNN(3)), jp.Dense(2)]
    net = _randomized(jp.Network(layers, input_shape=(5, 3), loss="mse", dtype="float64", seed=1), rng)
    assert jp.gradcheck(net, rng.normal(size=(2, 5, 3)), rng.normal(size=(2, 2))) < 1e-6


# ------------------------------------------------- a softmax per step
def test_a_softmax_per_step_runs_as_its_reference(rng):
    layers = [jp.Bidirectional(jp.GRU(3, return_sequences=True)), jp.Dense(4, "softmax")]
    net = _randomized(jp.Network(layers, input_shape=(5, 2), loss="cross_entropy", dtype="float64", seed=0), rng)
    X, y = rng.normal(size=(6, 5, 2)), rng.integers(0, 4, size=(6, 5))
    probabilities = net.predict(X)
    assert probabilities.shape == (6, 5, 4)
    np.testing.assert_allclose(probabilities, ref.network_predict(net, X), rtol=1e-12)
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0)
    _assert_loss_and_grads_match(net, X, y, 1e-12, 1e-10, 1e-13)
    assert jp.gradcheck(net, X, y) < 1e-6
    correct = (probabilities.argmax(axis=-1) == y).mean()
    assert net.evaluate(X, y)["accuracy"] == pytest.approx(correct)


def test_a_label_per_step_is_learned(rng):
    X = rng.normal(size=(300, 6, 3)).astype(np.float32)
    y = X.argmax(axis=-1)  # the class of each step: its largest feature
    net = jp.Network([jp.LSTM(8, return_sequences=True), jp.Dense(3, "softmax")], input_shape=(6, 3),
                     loss="cross_entropy", seed=0)  # fmt: skip
    history = net.fit(X, y, epochs=8, batch_size=32, optimizer=jp.Adam(0.02), validation_split=0.2, verbose=0)
    assert history.history["val_accuracy"][-1] > 0.9
    expected = r"a class label per step: y of shape \(300, 6\), or .* per step: y of shape \(300, 6, 3\); got shape"
    with pytest.raises(ValueError, match=expected + r" \(300,\)"):
        net.evaluate(X, y[:, 0])
    with pytest.raises(ValueError, match="takes no class label per step"):
        net.fit(X, y, class_weight="balanced", verbose=0)


def _softmax_per_step_network(dtype, seed=0):
    layers = [jp.GRU(4, return_sequences=True), jp.Dense(3, "softmax")]
    return jp.Network(layers, input_shape=(5, 2), loss="cross_entropy", dtype=dtype, seed=seed)


def test_one_hot_targets_per_step_train_bitwise_as_their_labels(rng):
    # One-hot rows take the labels' arithmetic exactly: Σt = 1, and the zeros add nothing.
    X = rng.normal(size=(40, 5, 2)).astype(np.float32)
    labels = rng.integers(0, 3, size=(40, 5))
    one_hot = np.eye(3, dtype=np.float32)[labels]
    weights = rng.uniform(0.5, 2.0, size=40)
    nets = [_softmax_per_step_network("float32", seed=3) for _ in range(2)]
    histories = [
        net.fit(
            X,
            y,
            epochs=3,
            batch_size=8,
            optimizer=jp.Adam(0.01),
            sample_weight=weights,
            validation_split=0.25,
            verbose=0,
        ).history  # fmt: skip
        for net, y in zip(nets, (labels, one_hot))
    ]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert histories[0][key] == histories[1][key]
    np.testing.assert_array_equal(nets[0].params, nets[1].params)
    assert nets[0].evaluate(X, labels) == nets[1].evaluate(X, one_hot)
    (loss, grads), (one_hot_loss, one_hot_grads) = (nets[0].loss_and_grads(X, y) for y in (labels, one_hot))
    assert loss == one_hot_loss
    for views, others in zip(grads, one_hot_grads):
        for got, other in zip(views, others):
            np.testing.assert_array_equal(got, other)


def test_probability_targets_per_step_run_as_their_reference(rng):
    layers = [jp.Bidirectional(jp.GRU(3, return_sequences=True)), jp.Dense(4, "softmax")]
    net = _randomized(jp.Network(layers, input_shape=(5, 2), loss="cross_entropy", dtype="float64", seed=0), rng)
    X = rng.normal(size=(6, 5, 2))
    targets = rng.dirichlet(np.ones(4), size=(6, 5))
    targets[0, 1] *= 3.0  # a row that does not sum to 1 (class weights): p·Σt − t
    probabilities = net.predict(X)
    log_p = np.log(probabilities)
    assert net.evaluate(X, targets)["loss"] == pytest.approx(-np.mean((targets * log_p).sum(axis=-1)), rel=1e-12)
    _assert_loss_and_grads_match(net, X, targets, 1e-12, 1e-10, 1e-13)
    assert jp.gradcheck(net, X, targets) < 1e-6
    correct = (probabilities.argmax(axis=-1) == targets.argmax(axis=-1)).mean()
    assert net.evaluate(X, targets)["accuracy"] == pytest.approx(correct)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((4, 15), r"y of shape \(4, 5\), or a row of 3 targets \(one-hot or probabilities\) per step: "
                  r"y of shape \(4, 5, 3\); got shape \(4, 15\)"),
        ((4, 5, 4), r"y of shape \(4, 5, 3\); got shape \(4, 5, 4\)"),
        ((3, 5, 3), r"y of shape \(4, 5, 3\); got shape \(3, 5, 3\)"),
    ],
)  # fmt: skip
def test_targets_per_step_of_the_wrong_shape_are_refused(rng, shape, message):
    net = _softmax_per_step_network("float64")
    with pytest.raises(ValueError, match=message):
        net.loss_and_grads(rng.normal(size=(4, 5, 2)), np.full(shape, 1.0 / 3.0))


def test_targets_per_step_must_be_finite_and_non_negative(rng):
    net = _softmax_per_step_network("float64")
    X, targets = rng.normal(size=(4, 5, 2)), np.full((4, 5, 3), 1.0 / 3.0)
    targets[2, 3, 1] = -0.5
    with pytest.raises(ValueError, match=r"must be >= 0 .*; y\[2, 3, 1\] = -0.5"):
        net.evaluate(X, targets)
    targets[2, 3, 1] = np.nan
    with pytest.raises(ValueError, match=r"Input y contains NaN \(first at row 2\)"):
        net.evaluate(X, targets)


def test_a_softmax_per_step_warms_up_its_kernels():
    assert jp.warmup(network=_softmax_per_step_network("float32"), batch_size=4) >= 0.0


# ----------------------------------------------- truncated back-propagation
def _truncated_network(rng):
    layers = [jp.Bidirectional(jp.LSTM(3, return_sequences=True)), jp.GRU(2), jp.Dense(2)]
    return _randomized(jp.Network(layers, input_shape=(5, 2), loss="mse", dtype="float64", seed=0), rng)


def test_truncated_back_propagation_runs_as_its_reference(rng):
    from jitprop.training import truncated_backpropagation

    net = _truncated_network(rng)
    X, y = rng.normal(size=(3, 5, 2)), rng.normal(size=(3, 2))
    full_loss, full = net.loss_and_grads(X, y)
    with truncated_backpropagation(net, 2):
        loss, grads = net.loss_and_grads(X, y)
    assert loss == full_loss and not np.allclose(grads[0][1], full[0][1])
    _, expected = ref.network_loss_and_grads(net, X, y, truncate=2)
    for views, wanted in zip(grads, expected):
        for got, want in zip(views, wanted):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)
    assert not net.layout.geometry[:, 7].any()  # restored


def _flat(net, grads):
    """A gradient given per layer as its views (the reference's), laid out as the network's parameters."""
    flat = np.zeros_like(net.params, dtype=np.float64)
    offset = 0
    for layer, views, shape in zip(net.kernel_layers, grads, net._input_shapes):
        for target, value in zip(layer.parameter_views(flat, offset, shape), views):
            target[...] = value
        offset += layer.parameter_count(shape)
    return flat


def _reference_truncated_epoch(net, X, y, steps, lr, batch_size, carry=True):
    """The parameters after one epoch of SGD in the examples' order, each batch in chunks of ``steps`` steps."""
    net = net.copy()
    for b0 in range(0, X.shape[0], batch_size):
        states = {}
        for c0 in range(0, X.shape[1], steps):
            chunk = slice(c0, c0 + steps)
            xb, yb = X[b0 : b0 + batch_size, chunk], y[b0 : b0 + batch_size, chunk]
            _, grads = ref.network_loss_and_grads(net, xb, yb, states=states if carry else None)
            net.params -= lr * _flat(net, grads)
    return net.params


TRUNCATED = {
    # id: (layers, loss)
    "lstm": (lambda: [jp.LSTM(3, return_sequences=True), jp.Dense(2)], "mse"),
    "gru": (lambda: [jp.GRU(3, return_sequences=True), jp.Dense(2)], "mse"),
    "simple": (lambda: [jp.SimpleRNN(3, return_sequences=True), jp.Dense(2, "tanh")], "mse"),
    "stacked-softmax": (
        lambda: [
            jp.Dense(3, "tanh"),
            jp.LSTM(3, return_sequences=True),
            jp.GRU(2, return_sequences=True),
            jp.Dense(3, "softmax"),
        ],
        "cross_entropy",
    ),  # fmt: skip
}


def _truncated_case(rng, case, steps=7):
    layers, loss = TRUNCATED[case]
    net = _randomized(jp.Network(layers(), input_shape=(steps, 2), loss=loss, dtype="float64", seed=0), rng)
    X = rng.normal(size=(6, steps, 2))
    y = rng.integers(0, 3, size=(6, steps)) if loss == "cross_entropy" else rng.normal(size=(6, steps, 2))
    return net, X, y


@pytest.mark.parametrize("case", list(TRUNCATED))
def test_truncated_fit_runs_as_its_reference_carrying_the_state(rng, case):
    net, X, y = _truncated_case(rng, case)
    expected = _reference_truncated_epoch(net, X, y, 3, 0.1, 4)  # chunks of 3, 3 and 1 steps; batches of 4 and 2
    restarted = _reference_truncated_epoch(net, X, y, 3, 0.1, 4, carry=False)
    assert not np.allclose(expected, restarted, rtol=1e-6, atol=1e-8)  # the carried state counts
    history = net.fit(X, y, epochs=1, batch_size=4, optimizer=jp.SGD(0.1), shuffle=False, verbose=0, bptt_steps=3)
    np.testing.assert_allclose(net.params, expected, rtol=1e-10, atol=1e-12)
    assert net.optimizer.step == 2 * 3  # an update per chunk
    assert np.isfinite(history["loss"][0])
    if "accuracy" in history.history:
        assert 0.0 <= history["accuracy"][0] <= 1.0


def test_bptt_steps_of_the_whole_sequence_train_as_without_them(rng):
    net, X, y = _truncated_case(rng, "lstm")
    results = []
    for steps in (None, 7, 10):
        twin = net.copy()
        twin.fit(X, y, epochs=2, batch_size=4, optimizer=jp.Adam(0.01), verbose=0, bptt_steps=steps)
        results.append(twin.params)
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])


def test_truncated_training_is_bitwise_the_same_on_any_thread_count(rng, parallel_tiles):
    from jitprop.truncation import chunk_layout

    X = rng.normal(size=(96, 12, 3)).astype(np.float32)
    y = X[:, :, :1].cumsum(axis=1)

    def network():
        layers = [jp.Dropout(0.1), jp.LSTM(8, return_sequences=True), jp.GRU(4, return_sequences=True), jp.Dense(1)]
        return jp.Network(layers, input_shape=(12, 3), loss="mse", seed=3)

    net = network()
    assert workspace.plan_tile_rows(48, chunk_layout(net, 5), net.n_params) < 48  # batches of several tiles
    results = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        net = network()
        with thread_count(threads):
            history = net.fit(
                X, y, epochs=2, batch_size=48, optimizer=jp.Adam(0.01), clip_norm=1.0, verbose=0, bptt_steps=5,
                validation_split=0.25,
            )  # fmt: skip
        results.append((net.params.copy(), history.history))
    assert results[0][1]["loss"][-1] < results[0][1]["loss"][0]
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert {k: v for k, v in results[0][1].items() if "second" not in k} == {
        k: v for k, v in results[1][1].items() if "second" not in k
    }


def test_truncated_training_allocates_rows_of_its_chunks(rng, monkeypatch):
    import jitprop.truncation

    net, X, y = _truncated_case(rng, "lstm", steps=12)
    allocated = []
    allocate = jitprop.truncation.workspace.allocate

    def recording(layout, capacity, *args, **kwargs):
        ws = allocate(layout, capacity, *args, **kwargs)
        allocated.append((int(layout.sizes[0]), ws.activations.size, ws.stash.size, ws.deltas.size))
        return ws

    monkeypatch.setattr(jitprop.truncation.workspace, "allocate", recording)
    net.fit(X, y, epochs=1, batch_size=6, optimizer=jp.SGD(0.1), verbose=0, bptt_steps=4)
    whole = workspace.size(net.layout, 6, net.n_params)
    assert allocated == [(4 * 2, whole.activations // 3, whole.stash // 3 + 6 * 2 * 2 * 3, whole.deltas // 3)]
    # The cost model's size of the same workspace.
    chunked = jitprop.truncation.workspace_size(net, 4, 6)
    assert (chunked.activations, chunked.stash) == allocated[0][1:3]


def test_bptt_steps_need_a_recurrent_network_with_an_output_per_step(rng):
    X, y = rng.normal(size=(4, 5, 2)), rng.normal(size=(4, 2))
    with pytest.raises(ValueError, match="bptt_steps must be a positive integer"):
        _truncated_network(rng).fit(X, y, verbose=0, bptt_steps=0)
    dense = jp.Network([jp.Dense(2)], input_dim=3)
    with pytest.raises(ValueError, match="the network has no recurrent layer"):
        dense.fit(rng.normal(size=(4, 3)), y, verbose=0, bptt_steps=2)
    bidirectional = jp.Network([jp.Bidirectional(jp.GRU(2, return_sequences=True)), jp.Dense(1)], input_shape=(5, 2))
    with pytest.raises(ValueError, match=r"Bidirectional\(GRU\(2, return_sequences=True\)\) also reads the steps"):
        bidirectional.fit(X, rng.normal(size=(4, 5, 1)), verbose=0, bptt_steps=2)
    many_to_one = jp.Network([jp.LSTM(3, return_sequences=True), jp.GRU(2), jp.Dense(2)], input_shape=(5, 2))
    with pytest.raises(ValueError, match=r"needs an output per time step .* output is of shape \(2,\)"):
        many_to_one.fit(X, y, verbose=0, bptt_steps=2)
    per_step, y_steps = _truncated_case(rng, "gru", steps=5)[0], rng.normal(size=(4, 5, 2))
    with pytest.raises(ValueError, match="bptt_steps trains on chunks of steps in one process: it takes no comm"):
        per_step.fit(X, y_steps, verbose=0, bptt_steps=2, comm=object())
    with pytest.raises(ValueError, match="LBFGS .* takes no bptt_steps"):
        per_step.fit(X, y_steps, verbose=0, bptt_steps=2, optimizer=jp.LBFGS())


def test_truncated_training_reads_a_memory_mapped_x_as_an_array(rng, tmp_path):
    net, X, y = _truncated_case(rng, "lstm")
    np.save(tmp_path / "X.npy", X)
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    twin = net.copy()
    net.fit(X, y, epochs=1, batch_size=4, optimizer=jp.SGD(0.1), verbose=0, bptt_steps=2)
    twin.fit(mapped, y, epochs=1, batch_size=4, optimizer=jp.SGD(0.1), verbose=0, bptt_steps=2)
    np.testing.assert_array_equal(net.params, twin.params)


# ------------------------------------------------------------------ training
def _lstm_network(seed=0, dropout=0.0):
    layers = [jp.LSTM(8, return_sequences=True), jp.Bidirectional(jp.GRU(4)), jp.Dense(1)]
    if dropout:
        layers.insert(0, jp.Dropout(dropout))
    return jp.Network(layers, input_shape=(6, 3), loss="mse", seed=seed)


def _sequences(rng, n=256):
    X = rng.normal(size=(n, 6, 3)).astype(np.float32)
    y = (X[:, :3, 0].sum(axis=1) - X[:, 3:, 1].sum(axis=1)).astype(np.float32)
    return X, y


def test_training_is_bitwise_the_same_on_any_thread_count(rng, parallel_tiles):
    X, y = _sequences(rng)
    assert (
        workspace.plan_tile_rows(128, _lstm_network().layout, _lstm_network().n_params) < 128
    )  # batches of several tiles
    results = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        net = _lstm_network(seed=3, dropout=0.1)
        with thread_count(threads):
            history = net.fit(X, y, epochs=3, batch_size=128, optimizer=jp.Adam(0.01), clip_norm=1.0, verbose=0)
        results.append((net.params.copy(), history.history["loss"]))
    assert results[0][1][-1] < results[0][1][0]
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1] == results[1][1]


TRAINING = textwrap.dedent(
    """
    import numpy as np
    import jitprop as jp
    import jitprop.kernels.tuning

    jitprop.kernels.tuning.SERIAL_WORK = 1 << 12  # several tiles a batch
    rng = np.random.default_rng(7)
    X = rng.normal(size=(200, 6, 3)).astype(np.float32)
    y = X[:, :, :1].cumsum(axis=1).astype(np.float32)  # a target per step
    layers = [jp.Bidirectional(jp.LSTM(5, return_sequences=True)), jp.Dense(1)]
    net = jp.Network(layers, input_shape=(6, 3), loss="mse", seed=4)
    net.fit(X, y, epochs=2, batch_size=64, optimizer=jp.RMSprop(0.01), verbose=0)
    layers = [jp.LSTM(5, return_sequences=True), jp.GRU(3, return_sequences=True), jp.Dense(1)]
    carried = jp.Network(layers, input_shape=(6, 3), loss="mse", seed=4)  # truncated: chunks of 4 and 2 steps
    carried.fit(X, y, epochs=2, batch_size=64, optimizer=jp.RMSprop(0.01), verbose=0, bptt_steps=4)
    """
)


def test_same_bits_in_a_fresh_process_of_one_thread(parallel_tiles):
    # Here first (the kernels compile and fill the on-disk cache), then in a process of one thread.
    space = {}
    exec(TRAINING, space)
    expected = space["net"].params.tobytes().hex() + space["carried"].params.tobytes().hex()
    script = TRAINING + "print(net.params.tobytes().hex() + carried.params.tobytes().hex())"
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-1] == expected


@pytest.mark.parametrize(
    "optimizer",
    [jp.SGD(0.05, momentum=0.9), jp.Adam(0.01), jp.AdamW(0.01), jp.RMSprop(0.005), jp.Adagrad(0.1)],
    ids=lambda optimizer: type(optimizer).__name__,
)
def test_every_optimizer_trains_a_recurrent_network(rng, optimizer):
    X, y = _sequences(rng, 96)
    net = _lstm_network(seed=1)
    history = net.fit(X, y, epochs=6, batch_size=16, optimizer=optimizer, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_targets_per_step_train_with_validation_and_callbacks(rng, tmp_path):
    X = rng.normal(size=(120, 6, 3)).astype(np.float32)
    y = X[:, :, :1].cumsum(axis=1)  # (n, steps, 1): one target per step
    net = jp.Network([jp.GRU(6, return_sequences=True), jp.Dense(1)], input_shape=(6, 3), loss="mse", seed=2)
    stop = jp.callbacks.EarlyStopping(patience=50)
    history = net.fit(X, y, epochs=5, batch_size=16, optimizer=jp.Adam(0.01), validation_split=0.25,
                      callbacks=[stop], verbose=0)  # fmt: skip
    assert history.history["val_loss"][-1] < history.history["val_loss"][0]
    assert net.predict(X).shape == (120, 6, 1)  # (n, steps, outputs), as the model file gives them back
    net.save(tmp_path / "steps.safetensors")
    np.testing.assert_array_equal(jp.load(tmp_path / "steps.safetensors").predict(X), net.predict(X))
    assert net.evaluate(X, y)["loss"] == pytest.approx(net.evaluate(X, y.reshape(120, 6))["loss"])


def test_an_lstm_learns_the_digits_read_row_by_row(digits):
    X, y = digits
    X = X.reshape(-1, 8, 8).astype(np.float32)
    order = np.random.default_rng(0).permutation(X.shape[0])
    X, y = X[order], y[order]
    net = jp.Network([jp.LSTM(32), jp.Dense(10, "softmax")], input_shape=(8, 8), loss="cross_entropy", seed=0)
    net.fit(X[:1400], y[:1400], epochs=15, batch_size=32, optimizer=jp.Adam(lr=1e-2), clip_norm=1.0, verbose=0)
    assert net.evaluate(X[1400:], y[1400:])["accuracy"] >= 0.9


# ------------------------------------------------------- files, copies, counts
def test_a_recurrent_network_is_saved_loaded_and_resumed_bitwise(tmp_path, rng):
    X, y = _sequences(rng, 64)
    straight = _lstm_network(seed=5)
    straight.fit(X, y, epochs=4, batch_size=16, optimizer=jp.Adam(0.01), verbose=0)
    first = _lstm_network(seed=5)
    first.fit(X, y, epochs=2, batch_size=16, optimizer=jp.Adam(0.01), verbose=0)
    path = tmp_path / "rnn.safetensors"
    first.save(path)
    loaded = jp.load(path)
    assert [layer.config() for layer in loaded.layers] == [layer.config() for layer in first.layers]
    np.testing.assert_array_equal(loaded.predict(X), first.predict(X))
    np.testing.assert_array_equal(first.copy().predict(X), first.predict(X))
    loaded.fit(X, y, epochs=2, batch_size=16, verbose=0)
    np.testing.assert_array_equal(loaded.params, straight.params)


def test_a_recurrent_layer_s_config_rebuilds_it():
    from jitprop.layers import layer_from_config

    for layer in [
        jp.SimpleRNN(3, activation="relu", return_sequences=True, l2=0.1),
        jp.GRU(2),
        jp.LSTM(5, return_sequences=True),
        jp.Bidirectional(jp.GRU(4, return_sequences=True)),
    ]:
        rebuilt = layer_from_config(layer.config())
        assert type(rebuilt) is type(layer) and rebuilt.config() == layer.config() and repr(rebuilt) == repr(layer)


def test_bidirectional_has_two_layers_of_their_own_weights():
    bi = jp.Bidirectional(jp.LSTM(3, return_sequences=True))
    net = jp.Network([bi, jp.Dense(1)], input_shape=(4, 2), seed=0)
    assert bi.backward_layer.go_backwards and not bi.forward_layer.go_backwards
    assert type(bi.backward_layer) is jp.LSTM and bi.backward_layer.W.shape == bi.forward_layer.W.shape
    assert not np.shares_memory(bi.forward_layer.W, bi.backward_layer.W)
    assert np.shares_memory(bi.backward_layer.U, net.params)
    assert net.kernel_layers[0].output_shape((4, 2)) == (4, 6)


def test_summary_counts_the_parameters_of_recurrent_layers():
    net = jp.Network([jp.Bidirectional(jp.LSTM(4, return_sequences=True)), jp.GRU(3), jp.Dense(2)],
                     input_shape=(7, 5), loss="mse")  # fmt: skip
    rows = summary_table(net)
    assert [row.output_shape for row in rows[:3]] == [(None, 7, 8), (None, 3), (None, 2)]
    assert [row.params for row in rows[:3]] == [2 * (4 * 4 * (5 + 4) + 16), 9 * (8 + 3) + 18, 3 * 2 + 2]
    assert net.n_params == sum(row.params for row in rows)
    assert "bidirectional (Bidirectional)" in summary(net)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("layers", "shape", "message"),
    [
        ([jp.LSTM(3)], (8,), r"LSTM\(3\) takes examples of shape \(steps, features\), got examples of shape \(8\)"),
        ([jp.GRU(3)], (2, 3, 4), r"GRU\(3\) takes examples of shape \(steps, features\)"),
        ([jp.LSTM(3), jp.GRU(2)], (5, 2), r"GRU\(2\) takes examples of shape \(steps, features\).*\(3\)"),
        ([jp.LSTM(3, return_sequences=True), jp.Dense(4, "softmax")], (5, 2), r"softmax per step .* needs loss='c"),
    ],
)
def test_a_network_names_the_recurrent_layer_and_shapes_it_cannot_take(layers, shape, message):
    with pytest.raises(ValueError, match=message):
        jp.Network(layers, input_shape=shape)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: jp.LSTM(0), r"LSTM units must be a positive integer, got 0"),
        (lambda: jp.GRU(2, return_sequences="yes"), r"GRU return_sequences must be True or False"),
        (lambda: jp.SimpleRNN(2, activation="softmax"), r"SimpleRNN activation must be one of"),
        (lambda: jp.Bidirectional(jp.Dense(3)), r"Bidirectional takes a SimpleRNN, GRU or LSTM layer"),
    ],
)
def test_a_recurrent_layer_refuses_arguments_it_cannot_take(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_sequences_of_the_wrong_length_are_refused(rng):
    net = jp.Network([jp.LSTM(2), jp.Dense(1)], input_shape=(5, 3))
    with pytest.raises(ValueError, match=r"X must have shape \(n_samples, 5, 3\).*got an array of shape \(4, 6, 3\)"):
        net.predict(rng.normal(size=(4, 6, 3)))


@pytest.mark.parametrize(
    "layer, forward_per_unit, backward_per_unit",
    [
        # a float32 tanh is a rational function of 23 operations (clamp 2, y² 1, numerator 13, denominator 6,
        # division 1), the logistic function 3 more; each gate adds its bias and recurrent product (2)
        (jp.SimpleRNN(4), 2 + 23, 1 + 3 + 1 + 1),
        # i, f, o logistic, c̃ tanh; c = f·c₋ + i·c̃ (3), h = o·tanh(c) (1 + 23)
        (jp.LSTM(4), 4 * 2 + 3 * 26 + 23 + 3 + 1 + 23, 1 + 23 + 23 + 4 + 1),
        # z, r logistic, h̃ tanh; b¹ (3), r⊙(h₋U_h + b¹_h) (1), h = z·h₋ + (1 − z)·h̃ (4)
        (jp.GRU(4), 3 * 2 + 2 * 26 + 23 + 3 + 1 + 4, 1 + 16 + 6 + 1),
    ],
    ids=["simple_rnn", "lstm", "gru"],
)
def test_a_recurrent_layer_counts_its_products_and_its_cells_arithmetic(layer, forward_per_unit, backward_per_unit):
    steps, features, units = 3, 2, 4
    gates = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}[type(layer).__name__] * units
    jp.Network([layer], input_shape=(steps, features))
    forward = steps * (2 * features * gates + 2 * units * gates + forward_per_unit * units)
    backward = steps * (2 * features * gates + 4 * units * gates + backward_per_unit * units)
    assert layer.flops((steps, features), first=True, output=True) == (forward, backward)
    # past the first layer, dX = G Wᵀ too
    dx = steps * 2 * features * gates
    assert layer.flops((steps, features), first=False, output=True) == (forward, backward + dx)


def test_the_cost_model_counts_the_memory_of_truncated_training():
    from jitprop.complexity import costs
    from jitprop.truncation import workspace_size

    net = jp.Network([jp.LSTM(16, return_sequences=True), jp.Dense(2)], input_shape=(40, 4), loss="mse")
    whole, truncated = costs(net, 32), costs(net, 32, bptt_steps=8)
    stored = workspace.size(net.layout, 32, net.n_params)
    chunk = workspace_size(net, 8, 32)
    assert chunk.activations == stored.activations // 5 and chunk.stash == stored.stash // 5 + 32 * 2 * 2 * 16
    saved = (stored.elements - chunk.elements) * 4  # (float32; the tiles' gradients may differ too)
    tiles = (stored.tile_gradients[0] - chunk.tile_gradients[0]) * net.n_params * 4
    assert whole.memory.activations - truncated.memory.activations == saved - tiles
    assert truncated.step_flops > whole.step_flops  # five updates a batch
    assert truncated.training_flops_per_example == whole.training_flops_per_example
    assert costs(net, 32, bptt_steps=40).as_dict() == whole.as_dict()
    assert "updates per chunk of 8 steps" in summary(net, 32, bptt_steps=8)


def test_truncated_training_resumes_from_a_checkpoint_bitwise(rng, tmp_path):
    net, X, y = _truncated_case(rng, "gru")
    weights = rng.uniform(0.5, 2.0, size=X.shape[0])
    arguments = dict(epochs=3, batch_size=4, optimizer=jp.Adam(0.01), verbose=0, bptt_steps=3, sample_weight=weights)
    start = net.copy()
    path = tmp_path / "checkpoint.npz"
    stop_after_two = [jp.callbacks.ModelCheckpoint(path), _StopAfter(2)]
    net.fit(X, y, callbacks=stop_after_two, **arguments)
    uninterrupted = start.copy()
    history = uninterrupted.fit(X, y, **arguments)
    resumed = start.copy()
    resumed_history = resumed.fit(X, y, resume_from=path, **arguments)
    np.testing.assert_array_equal(resumed.params, uninterrupted.params)
    assert resumed_history["loss"] == history["loss"][2:]
    assert resumed.optimizer.step == uninterrupted.optimizer.step == 3 * 2 * 3
    with pytest.raises(ValueError, match=r"written by a fit with bptt_steps=3 .* not 2"):
        start.copy().fit(X, y, resume_from=path, **dict(arguments, bptt_steps=2))
    with pytest.raises(ValueError, match=r"written by a fit with bptt_steps=3 .* not None"):
        start.copy().fit(X, y, resume_from=path, **dict(arguments, bptt_steps=None))


class _StopAfter(jp.callbacks.Callback):
    def __init__(self, epochs):
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs):
        if epoch + 1 >= self.epochs:
            self.network.stop_training = True


def test_a_diverging_chunk_keeps_the_weights_from_before_it(rng):
    net, X, y = _truncated_case(rng, "simple")
    with pytest.raises(jp.DivergenceError):
        net.fit(X * 1e3, y * 1e200, epochs=1, batch_size=4, optimizer=jp.SGD(1e300), verbose=0, bptt_steps=3)
    assert np.isfinite(net.params).all()


@pytest.mark.parametrize("case", ["stacked-softmax", "lstm"])
def test_chunks_carrying_the_state_see_the_whole_sequences(rng, case):
    # Without updates the chunks' forward passes, each starting from the last one's state, are the whole sequence's.
    net, X, y = _truncated_case(rng, case)
    scores, before = net.evaluate(X, y), net.params.copy()
    history = net.fit(X, y, epochs=1, batch_size=4, optimizer=jp.SGD(1e-300), verbose=0, bptt_steps=3)
    np.testing.assert_array_equal(net.params, before)  # (updates too small to change a weight)
    assert history["loss"][0] == pytest.approx(scores["loss"], rel=1e-12)
    if "accuracy" in scores:
        assert history["accuracy"][0] == pytest.approx(scores["accuracy"], rel=1e-12)
