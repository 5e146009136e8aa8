"""Numerical extremes: stable formulas, extreme inputs, divergence — never NaN answered silently.

The kernels are checked against the plain-NumPy reference on shapes, values
and architectures drawn by hypothesis; the stable forms (log-sum-exp
cross-entropy, logit binary cross-entropy, overflow-free sigmoid and
softplus) are driven to logits where the naive forms overflow; inputs of
1e30 and 1e-30, constant columns, one class and one example are trained on
in both precisions, and must give finite weights or a clear error.
"""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jitprop as jp
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
from jitprop.losses import LOSSES

KERNEL_PROPERTIES = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same examples every run, like the suite's seeded fixtures
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _flat(grads):
    return np.concatenate([np.concatenate([np.ravel(dW), np.ravel(db)]) for dW, db in grads])


# ------------------------------------------------- kernels vs reference
@KERNEL_PROPERTIES
@given(
    dtype=st.sampled_from(DTYPES),
    loss_output=st.sampled_from(LOSS_OUTPUTS),
    hidden=st.lists(st.sampled_from(HIDDEN_ACTIVATIONS), min_size=0, max_size=2),
    widths=st.lists(st.integers(1, 64), min_size=3, max_size=3),
    features=st.integers(1, 12),
    outputs=st.integers(1, 5),
    n=st.one_of(st.integers(1, 12), st.integers(200, 600)),  # one tile; large batches of wide layers take several
    scale=st.sampled_from([1e-3, 1.0, 4.0]),
    labels=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_loss_and_gradient_match_the_reference(
    dtype, loss_output, hidden, widths, features, outputs, n, scale, labels, seed
):
    loss, output = loss_output
    if output == "softmax" and loss == "mse" and outputs == 1:
        outputs = 2  # a one-output softmax is constant: nothing to compare
    rng = np.random.default_rng(seed)
    sizes = [features, *widths[: len(hidden)], outputs]
    net = make_network(sizes, [*hidden, output], loss, dtype, seed=seed)
    randomize(net, rng, scale=0.5)
    X = away_from_kinks(net, scale * rng.normal(size=(n, features)), rng)
    y = make_targets(rng, loss, n, outputs, labels=labels and loss == "cross_entropy")

    value, grads = net.loss_and_grads(X, y)
    seen = np.asarray(X, dtype=dtype).astype(np.float64)  # what the network reads
    expected_value, expected_grads = ref.loss_and_grads(
        params_of(net), activations_of(net), loss, seen, y, alphas_of(net)
    )
    rtol, atol = TOLERANCE[dtype]
    got, expected = _flat(grads).astype(np.float64), _flat(expected_grads)
    np.testing.assert_allclose(value, expected_value, rtol=10 * rtol, atol=atol)
    np.testing.assert_allclose(got, expected, rtol=10 * rtol, atol=10 * rtol * max(1.0, np.abs(expected).max()))
    outputs_ = net.predict(X)
    np.testing.assert_allclose(
        outputs_, ref.predict(params_of(net), activations_of(net), seen, alphas_of(net)), rtol=10 * rtol, atol=atol
    )


# ------------------------------------------------------ stable forms
def _output_layer_with_logits(loss, output, dtype, logits):
    """A one-layer network on one-hot inputs whose output pre-activations are exactly ``logits`` (rows)."""
    n, k = logits.shape
    net = jp.Network([jp.Dense(k, output)], input_dim=n, loss=loss, dtype=dtype, seed=0)
    net.layers[0].W[...] = logits
    net.layers[0].b[...] = 0
    return net, np.eye(n)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_is_log_sum_exp_at_logits_that_overflow_exp(dtype):
    # exp(±1000) overflows even float64; the loss must still be exact: lse(z) - z_c.
    big = 80.0 if dtype == "float32" else 1000.0
    logits = np.array([[big, -big, 0.0], [-big, big, 0.5 * big], [0.0, 0.0, 0.0], [big, big, -big]])
    net, X = _output_layer_with_logits("cross_entropy", "softmax", dtype, logits)
    labels = np.array([1, 1, 2, 0])  # two rows whose target has probability exp(-2·big) ≈ 0: no log(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, grads = net.loss_and_grads(X, labels)
        proba = net.predict(X)
    z = logits.astype(dtype).astype(np.float64)
    expected = -np.mean(ref.log_softmax(z)[np.arange(4), labels])
    assert np.isfinite(value) and np.isfinite(_flat(grads)).all()
    np.testing.assert_allclose(value, expected, rtol=TOLERANCE[dtype][0])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert value > 0.45 * big  # a mean of about big / 2, not inf


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_cross_entropy_from_logits_far_beyond_the_sigmoid_range(dtype):
    # σ(±800) rounds to 0 or 1 in float64: log σ would be log(0). From logits the loss is exact.
    big = 800.0 if dtype == "float64" else 90.0
    logits = np.array([[big, -big], [-big, big], [0.0, 1.0]])
    targets = np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    net, X = _output_layer_with_logits("binary_cross_entropy", "sigmoid", dtype, logits)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, grads = net.loss_and_grads(X, targets)
    z = logits.astype(dtype).astype(np.float64)
    expected = np.mean(np.maximum(z, 0) - targets * z + np.log1p(np.exp(-np.abs(z))))
    np.testing.assert_allclose(value, expected, rtol=TOLERANCE[dtype][0])
    np.testing.assert_allclose(grads[0][0], (ref.sigmoid(z) - targets) / 6, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["sigmoid", "softplus", "tanh", "elu", "gelu"])
def test_saturating_activations_stay_finite_at_huge_pre_activations(dtype, activation):
    z = np.array([[1e4, -1e4, 3e38 if dtype == "float32" else 1e300, -3e38 if dtype == "float32" else -1e300]])
    net = jp.Network([jp.Dense(4, activation), jp.Dense(1)], input_dim=4, loss="mse", dtype=dtype, seed=0)
    net.layers[0].W[...] = np.diag(z[0])
    net.layers[0].b[...] = 0
    net.layers[1].W[...] = 0  # a bounded output; a NaN or inf derivative would still reach the gradient (0·inf)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, grads = net.loss_and_grads(np.eye(4), np.zeros(4))
    assert np.isfinite(value) and np.isfinite(_flat(grads)).all()


# --------------------------------------------------- extreme inputs
def _tasks(rng, n):
    return {
        "cross_entropy": (
            lambda dtype: jp.Network([jp.Dense(8, "relu"), jp.Dense(3, "softmax")], 4, "cross_entropy", dtype, seed=0),
            rng.integers(0, 3, n),
        ),
        "binary_cross_entropy": (
            lambda dtype: jp.Network(
                [jp.Dense(8, "tanh"), jp.Dense(2, "sigmoid")], 4, "binary_cross_entropy", dtype, seed=0
            ),
            (rng.random((n, 2)) > 0.5).astype(float),
        ),
        "mse": (
            lambda dtype: jp.Network([jp.Dense(8, "softplus"), jp.Dense(1)], 4, "mse", dtype, seed=0),
            rng.normal(size=n),
        ),
        "poisson": (
            lambda dtype: jp.Network([jp.Dense(8, "tanh"), jp.Dense(1, "exp")], 4, "poisson", dtype, seed=0),
            rng.poisson(2.0, size=n).astype(float),
        ),
    }


def _extreme_inputs(rng, n=24):
    base = rng.normal(size=(n, 4))
    constant = base.copy()
    constant[:, 1] = 7.0
    return {
        "1e30": base * 1e30,
        "1e-30": base * 1e-30,
        "mixed 1e30 and 1e-30 columns": np.hstack([base[:, :2] * 1e30, base[:, 2:] * 1e-30]),
        "constant column": constant,
        "every column constant": np.full((n, 4), 3.0),
        "denormal (1e-310)": base * 1e-310,
    }


ANSWERS = (jp.DivergenceError, FloatingPointError)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_extreme_inputs_give_finite_weights_or_a_clear_error(dtype, optimizer):
    rng = np.random.default_rng(12)
    outcomes = {}
    tasks = _tasks(rng, 24)
    assert set(tasks) == set(LOSSES)  # every loss meets the extreme inputs
    for loss, (build, y) in tasks.items():
        for name, X in _extreme_inputs(rng).items():
            net = build(dtype)
            opt = jp.SGD(0.1, momentum=0.9) if optimizer == "sgd" else jp.Adam(0.01)
            try:
                history = net.fit(X, y, epochs=3, batch_size=8, optimizer=opt, verbose=0)
            except ANSWERS:
                outcome = "clear error"
            else:
                assert np.isfinite(history["loss"]).all(), (loss, name)
                outcome = "trained"
            # Whatever happened, the weights are finite, and so is the optimizer state.
            assert np.isfinite(net.params).all(), (loss, name)
            assert np.isfinite(net.optimizer.state).all(), (loss, name)
            try:
                out = net.predict(X)
            except FloatingPointError:
                outcome += ", predict: clear error"
            else:
                assert np.isfinite(out).all(), f"{loss} on {name}: predict returned NaN or inf silently"
            outcomes[loss, name] = outcome
    # The small and constant inputs train; the huge ones may stop with a clear error.
    for loss in tasks:
        for name in ("1e-30", "constant column", "every column constant", "denormal (1e-310)"):
            assert outcomes[loss, name] == "trained", (loss, name, outcomes[loss, name])


@pytest.mark.parametrize("dtype", DTYPES)
def test_tiny_and_constant_inputs_give_the_reference_gradient(dtype):
    rng = np.random.default_rng(13)
    net = make_network([4, 6, 3], ["tanh", "softmax"], "cross_entropy", dtype)
    randomize(net, rng)
    y = rng.integers(0, 3, 10)
    for X in (rng.normal(size=(10, 4)) * 1e-30, np.full((10, 4), 2.0)):
        value, grads = net.loss_and_grads(X, y)
        seen = X.astype(dtype).astype(np.float64)
        expected_value, expected = ref.loss_and_grads(params_of(net), activations_of(net), "cross_entropy", seen, y)
        rtol, atol = TOLERANCE[dtype]
        np.testing.assert_allclose(value, expected_value, rtol=rtol, atol=atol)
        for (dW, db), (eW, eb) in zip(grads, expected):
            np.testing.assert_allclose(dW, eW, rtol=10 * rtol, atol=atol * 1e-30 if X[0, 0] < 1e-20 else atol)
            np.testing.assert_allclose(db, eb, rtol=10 * rtol, atol=atol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_class_only_and_one_example_train_to_the_right_answer(dtype):
    rng = np.random.default_rng(14)
    X = rng.normal(size=(40, 4))
    net = jp.Network([jp.Dense(8, "relu"), jp.Dense(3, "softmax")], 4, "cross_entropy", dtype, seed=0)
    net.fit(X, np.zeros(40, dtype=int), epochs=30, batch_size=8, optimizer=jp.SGD(0.2), verbose=0)
    metrics = net.evaluate(X, np.zeros(40, dtype=int))
    assert metrics["accuracy"] == 1.0 and metrics["loss"] < 0.05
    binary = jp.Network([jp.Dense(1, "sigmoid")], 4, "binary_cross_entropy", dtype, seed=0)
    binary.fit(X, np.ones(40), epochs=30, batch_size=8, optimizer=jp.SGD(0.5), class_weight="balanced", verbose=0)
    assert binary.evaluate(X, np.ones(40))["accuracy"] == 1.0

    single = jp.Network([jp.Dense(4, "tanh"), jp.Dense(2)], 4, "mse", dtype, seed=0)
    target = np.array([[0.5, -0.25]])
    history = single.fit(X[:1], target, epochs=200, batch_size=32, optimizer=jp.SGD(0.1), verbose=0)
    assert history["loss"][-1] < 1e-6
    np.testing.assert_allclose(single.predict(X[:1]), target, atol=2e-3)


# ------------------------------------------------------------ divergence
@pytest.mark.parametrize("dtype", DTYPES)
def test_an_update_that_overflows_is_undone(dtype):
    """A finite gradient times a huge learning rate overflows the weights: the batch is undone, not kept."""
    rng = np.random.default_rng(15)
    X = rng.normal(size=(64, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    net = jp.Network([jp.Dense(1)], input_dim=3, loss="mse", dtype=dtype, seed=0)
    initial = net.params.copy()
    lr = 1e300 if dtype == "float32" else 1.5e308  # lr · gradient overflows the dtype
    with pytest.raises(jp.DivergenceError, match=r"epoch 0, batch 0") as info:
        net.fit(X, y, epochs=3, batch_size=64, optimizer=jp.SGD(lr, momentum=0.9), shuffle=False, verbose=0)
    assert info.value.epoch == 0 and info.value.batch == 0
    np.testing.assert_array_equal(net.params, initial)  # the last finite weights: those before the batch
    assert np.isfinite(net.optimizer.state).all()


def test_adam_state_that_would_overflow_float32_is_a_divergence():
    # Gradients of ~1e22 square to ~1e44 (times 1 - beta_2 = 1e-3), beyond float32: Adam's second moment
    # would become inf, silently freezing the weights (m / sqrt(inf) = 0) and making the network unsaveable.
    rng = np.random.default_rng(16)
    X = rng.normal(size=(32, 3)) * 1e11
    y = rng.normal(size=32) * 1e11
    net = jp.Network([jp.Dense(1)], input_dim=3, loss="mse", dtype="float32", seed=0)
    with pytest.raises(jp.DivergenceError):
        net.fit(X, y, epochs=2, batch_size=32, optimizer=jp.Adam(0.01), verbose=0)
    assert np.isfinite(net.params).all() and np.isfinite(net.optimizer.state).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_after_divergence_the_network_is_usable_and_saveable(dtype, tmp_path):
    rng = np.random.default_rng(17)
    X = rng.normal(size=(64, 3)) * 100
    y = rng.normal(size=64) * 1e6
    net = jp.Network([jp.Dense(8, "relu"), jp.Dense(1)], input_dim=3, dtype=dtype, seed=0)
    checkpoint = jp.callbacks.ModelCheckpoint(tmp_path / "last.safetensors")
    with pytest.raises(jp.DivergenceError):
        net.fit(X, y, epochs=50, batch_size=8, optimizer=jp.SGD(10.0, momentum=0.5), callbacks=[checkpoint], verbose=0)
    jp.save(net, tmp_path / "diverged.safetensors")  # finite weights and state: saving works
    twin = jp.load(tmp_path / "diverged.safetensors")
    assert twin.params.tobytes() == net.params.tobytes()
    if checkpoint.last_path is not None:
        assert np.isfinite(jp.load(checkpoint.last_path).params).all()
