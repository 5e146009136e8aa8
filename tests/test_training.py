"""The training loop's features: validation, weights, regularisation, dropout, clipping, continuing, resuming.

The callbacks themselves are tested in test_callbacks.py.
"""

import contextlib
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import jitprop as jp
from helpers import make_blobs, make_classifier
from jitprop.callbacks import Callback


def test_history_records_every_metric_per_epoch(rng):
    X, y = make_blobs(rng)
    history = make_classifier().fit(X, y, epochs=3, validation_split=0.25, optimizer=jp.SGD(0.05), verbose=0)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds", "examples_per_second"):
        assert len(history[key]) == 3, key
    assert history.epochs == [0, 1, 2]
    assert history["lr"] == [0.05] * 3
    assert history["loss"][-1] < history["loss"][0]


def test_validation_split_is_stratified_and_held_out(rng):
    X, y = make_blobs(rng, n=300)
    net = make_classifier()
    history = net.fit(X, y, epochs=1, validation_split=0.2, verbose=0)
    # The validation metrics are those of the held-out rows: evaluating them
    # directly gives the same loss.
    from jitprop.splitting import stratified_split

    train_rows, val_rows = stratified_split(y, 0.2, np.random.default_rng([net.entropy, 1]))
    assert net.evaluate(X[val_rows], y[val_rows])["loss"] == pytest.approx(history["val_loss"][0], rel=1e-6)
    for cls in range(3):
        share = np.mean(y[val_rows] == cls) - np.mean(y == cls)
        assert abs(share) < 0.02


def test_validation_data_is_reported(rng):
    X, y = make_blobs(rng)
    net = make_classifier()
    history = net.fit(X[:200], y[:200], epochs=2, validation_data=(X[200:], y[200:]), verbose=0)
    assert history["val_loss"][-1] == pytest.approx(net.evaluate(X[200:], y[200:])["loss"])


def test_sample_weight_gives_the_weighted_mean_loss(rng):
    X, y = make_blobs(rng, n=50)
    net = make_classifier(dtype="float64")
    weights = rng.uniform(0.0, 2.0, 50)
    per_example = np.array([net.evaluate(X[i : i + 1], y[i : i + 1])["loss"] for i in range(50)])
    expected = (weights * per_example).sum() / weights.sum()
    assert net.evaluate(X, y, sample_weight=weights)["loss"] == pytest.approx(expected, rel=1e-12)
    # Its gradient is the weighted mean of per-example gradients.
    _, grads = net.loss_and_grads(X, y, sample_weight=weights)
    manual = sum(w * net.loss_and_grads(X[i : i + 1], y[i : i + 1])[1][0][0] for i, w in enumerate(weights))
    np.testing.assert_allclose(grads[0][0], manual / weights.sum(), rtol=1e-10, atol=1e-14)


def test_zero_sample_weight_removes_examples_from_training(rng):
    X, y = make_blobs(rng, n=64)
    weights = np.ones(64)
    weights[32:] = 0.0
    a, b = make_classifier(dtype="float64"), make_classifier(dtype="float64")
    a.fit(X, y, epochs=1, batch_size=64, shuffle=False, sample_weight=weights, verbose=0)
    b.fit(X[:32], y[:32], epochs=1, batch_size=32, shuffle=False, verbose=0)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-12, atol=1e-14)


def test_class_weight_balanced_equals_matching_sample_weights(rng):
    X, y = make_blobs(rng, n=90)
    counts = np.bincount(y, minlength=3)
    weights = (90 / (3 * counts))[y]
    a, b = make_classifier(dtype="float64"), make_classifier(dtype="float64")
    a.fit(X, y, epochs=2, class_weight="balanced", verbose=0)
    b.fit(X, y, epochs=2, sample_weight=weights, verbose=0)
    np.testing.assert_array_equal(a.params, b.params)


def test_l2_penalty_is_in_loss_and_gradient(rng):
    X, y = make_blobs(rng, n=20)
    plain = make_classifier(dtype="float64")
    penalised = make_classifier(dtype="float64", l2=0.01)
    loss, grads = penalised.loss_and_grads(X, y)
    plain_loss, plain_grads = plain.loss_and_grads(X, y)
    squares = sum(float((layer.W**2).sum()) for layer in plain.dense_layers)
    assert loss == pytest.approx(plain_loss + 0.01 * squares, rel=1e-12)
    for (dW, db), (pW, pb), layer in zip(grads, plain_grads, plain.dense_layers):
        np.testing.assert_allclose(dW, pW + 0.02 * layer.W, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(db, pb)  # biases are not penalised
    assert jp.gradcheck(penalised, X, y) < 1e-6


def test_layer_l2_overrides_network_l2(rng):
    net = jp.Network([jp.Dense(4, "tanh", l2=0.5), jp.Dense(2, "identity")], input_dim=3, l2=0.1, seed=0)
    np.testing.assert_array_equal(net.layout.l2, [0.5, 0.1])


def test_dropout_is_off_outside_training_and_changes_training(rng):
    X, y = make_blobs(rng, n=128)
    with_dropout = jp.Network(
        [jp.Dense(32, "relu"), jp.Dropout(0.5), jp.Dense(3, "softmax")], 6, loss="cross_entropy", seed=0
    )
    without = make_classifier(hidden=32)
    np.testing.assert_array_equal(with_dropout.params, without.params)
    np.testing.assert_array_equal(with_dropout.predict(X), without.predict(X))
    assert with_dropout.evaluate(X, y) == without.evaluate(X, y)
    with_dropout.fit(X, y, epochs=1, batch_size=128, shuffle=False, verbose=0)
    without.fit(X, y, epochs=1, batch_size=128, shuffle=False, verbose=0)
    assert not np.array_equal(with_dropout.params, without.params)


def test_dropout_mask_matches_its_definition(rng):
    """One SGD step with input dropout equals the step on the masked, rescaled inputs."""
    from jitprop.kernels.dropout import uniform
    from jitprop.training import _dropout_key

    X, y = make_blobs(rng, n=8, features=5)
    net = jp.Network([jp.Dropout(0.3), jp.Dense(4, "tanh"), jp.Dense(3, "softmax")], 5, "cross_entropy", "float64", 0)
    plain = jp.Network([jp.Dense(4, "tanh"), jp.Dense(3, "softmax")], 5, "cross_entropy", "float64", 0)
    key = _dropout_key(net, 0)
    mask = np.array([[uniform(key, 0, i, j) >= 0.3 for j in range(5)] for i in range(8)])
    _, grads = plain.loss_and_grads(X * mask / 0.7, y)
    expected = plain.params.copy()
    flat = np.concatenate([np.concatenate([dW.T.ravel(), db]) for dW, db in grads])
    expected -= 0.1 * flat
    net.fit(X, y, epochs=1, batch_size=8, shuffle=False, optimizer=jp.SGD(0.1), verbose=0)
    np.testing.assert_allclose(net.params, expected, rtol=1e-12, atol=1e-14)


def test_dropout_is_bitwise_reproducible_across_thread_counts(tmp_path):
    script = textwrap.dedent(
        """
        import sys, numpy as np, numba, jitprop as jp
        numba.set_num_threads(int(sys.argv[1]))
        rng = np.random.default_rng(3)
        X = rng.random((1000, 64)); y = rng.integers(0, 10, 1000)
        net = jp.Network([jp.Dropout(0.1), jp.Dense(128, "relu"), jp.Dropout(0.5), jp.Dense(10, "softmax")],
                         64, "cross_entropy", seed=7)
        net.fit(X, y, epochs=2, batch_size=256, optimizer=jp.SGD(0.05, momentum=0.9), verbose=0)
        sys.stdout.write(net.params.tobytes().hex())
        """
    )
    outputs = [
        subprocess.run([sys.executable, "-c", script, threads], capture_output=True, text=True, check=True).stdout
        for threads in ("1", "2")
    ]
    assert outputs[0] and outputs[0] == outputs[1]


def test_gradient_clipping_bounds_each_update(rng):
    X, y = make_blobs(rng, n=32)
    net = make_classifier(dtype="float64")
    before = net.params.copy()
    net.fit(X, y, epochs=1, batch_size=32, optimizer=jp.SGD(1.0), clip_norm=0.01, verbose=0)
    assert np.linalg.norm(net.params - before) == pytest.approx(0.01, rel=1e-9)


def test_fit_continues_across_calls_and_partial_fit(rng):
    X, y = make_blobs(rng, n=64)
    once, twice, partial = make_classifier(), make_classifier(), make_classifier()
    optimizer = jp.SGD(0.05, momentum=0.9)
    once.fit(X, y, epochs=2, optimizer=optimizer, verbose=0)
    second = jp.SGD(0.05, momentum=0.9)
    twice.fit(X, y, epochs=1, optimizer=second, verbose=0)
    history = twice.fit(X, y, epochs=1, verbose=0)  # keeps its optimizer and momentum
    assert history.epochs == [1] and twice.epoch == 2
    np.testing.assert_array_equal(once.params, twice.params)
    partial.partial_fit(X, y, optimizer=jp.SGD(0.05, momentum=0.9))
    partial.partial_fit(X, y)
    np.testing.assert_array_equal(once.params, partial.params)


def test_initial_epoch_numbers_epochs(rng):
    X, y = make_blobs(rng, n=40)
    history = make_classifier().fit(X, y, epochs=2, initial_epoch=5, verbose=0)
    assert history.epochs == [5, 6]


def test_memmap_input_is_read_in_place(rng, tmp_path, monkeypatch):
    X, y = make_blobs(rng, n=100)
    path = tmp_path / "X.npy"
    np.save(path, X.astype(np.float32))
    mapped = np.load(path, mmap_mode="r")
    import jitprop._checks as checks

    seen = []
    original = checks.as_float_matrix

    def spy(*args, **kwargs):
        result = original(*args, **kwargs)
        seen.append(result)
        return result

    monkeypatch.setattr(checks, "as_float_matrix", spy)
    a, b = make_classifier(), make_classifier()
    a.fit(mapped, y, epochs=2, verbose=0)
    b.fit(X.astype(np.float32), y, epochs=2, verbose=0)
    np.testing.assert_array_equal(a.params, b.params)
    assert np.shares_memory(seen[0], mapped)


def test_read_only_input_runs_the_kernels_compiled_for_writeable_arrays(rng, tmp_path):
    """A read-only memory map (as joblib hands to scikit-learn's workers) must not cost a second compile."""
    from jitprop.kernels.epoch import train_epoch

    X, y = make_blobs(rng, n=100)
    X = X.astype(np.float32)
    weights = np.ones(100)
    weights.flags.writeable = False
    np.save(tmp_path / "X.npy", X)
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    assert not mapped.flags.writeable
    a, b = make_classifier(), make_classifier()
    a.fit(X, y, epochs=2, verbose=0, sample_weight=np.ones(100))
    compiled = len(train_epoch.signatures)
    b.fit(mapped, y, epochs=2, verbose=0, sample_weight=weights)
    assert len(train_epoch.signatures) == compiled
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a.predict(X), b.predict(mapped))
    assert not mapped.flags.writeable  # the caller's array is untouched


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_divergence_keeps_last_finite_weights(rng, dtype):
    X = rng.normal(size=(64, 3)) * 100
    y = rng.normal(size=64) * 1e6
    net = jp.Network([jp.Dense(8, "relu"), jp.Dense(1)], input_dim=3, dtype=dtype, seed=0)
    with pytest.raises(jp.DivergenceError, match=r"epoch \d+, batch \d+.*lower learning rate") as error:
        net.fit(X, y, epochs=50, batch_size=8, optimizer=jp.SGD(10.0), verbose=0)
    assert np.isfinite(net.params).all()
    assert error.value.batch >= 0


def test_progress_bar_and_epoch_lines(rng, capsys):
    X, y = make_blobs(rng, n=64)
    make_classifier().fit(X, y, epochs=2, batch_size=8, verbose=1)
    assert "epoch 2" in capsys.readouterr().err
    make_classifier().fit(X, y, epochs=2, verbose=2)
    out = capsys.readouterr().out
    assert out.count("\n") == 2 and "loss" in out


def test_segmented_epochs_give_the_same_weights(rng):
    """A progress bar runs the epoch in segments; the result must not change."""
    X, y = make_blobs(rng, n=200)
    quiet, bar = make_classifier(), make_classifier()
    quiet.fit(X, y, epochs=2, batch_size=8, verbose=0)
    bar.fit(X, y, epochs=2, batch_size=8, verbose=1)
    np.testing.assert_array_equal(quiet.params, bar.params)


@pytest.mark.parametrize("seed", [11, None])
def test_resume_from_checkpoint_is_bitwise_identical(rng, tmp_path, seed):
    """Interrupt a fit after epoch 3, resume it from its checkpoint: same bits as never stopping."""
    from jitprop.callbacks import ModelCheckpoint

    X, y = make_blobs(rng, n=300)

    def network():
        layers = [jp.Dense(32, "relu"), jp.Dropout(0.2), jp.Dense(3, "softmax")]
        return jp.Network(layers, input_dim=6, loss="cross_entropy", seed=seed)

    def run(net, epochs=6, optimizer=None, callbacks=(), resume_from=None):
        if optimizer is None:
            optimizer = jp.Adam(jp.schedules.CosineDecay(0.01, total_steps=60, warmup_steps=5))
        return net.fit(
            X,
            y,
            epochs=epochs,
            batch_size=32,
            optimizer=optimizer,
            validation_split=0.2,
            callbacks=list(callbacks),
            resume_from=resume_from,
            verbose=0,
        )

    class Interrupt(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    interrupted = network()
    path = tmp_path / "checkpoint.safetensors"
    with pytest.raises(KeyboardInterrupt):
        run(interrupted, callbacks=[ModelCheckpoint(path), Interrupt()])

    resumed = network()
    history = run(resumed, resume_from=path)
    assert history.epochs == [3, 4, 5]
    # The interrupted network itself, carried on in this process, is the reference
    # (a network without a seed cannot be rebuilt from scratch).
    run(interrupted, epochs=3, optimizer=interrupted.optimizer)
    np.testing.assert_array_equal(resumed.params, interrupted.params)
    if seed is not None:
        uninterrupted = network()
        run(uninterrupted)
        np.testing.assert_array_equal(resumed.params, uninterrupted.params)


_WARMUP_THEN_TRAIN = """
import importlib, json, pkgutil
import numpy as np
import jitprop as jp
import jitprop.kernels
from numba.core.registry import CPUDispatcher

def signatures():
    found = {}
    for info in pkgutil.iter_modules(jitprop.kernels.__path__):
        module = importlib.import_module("jitprop.kernels." + info.name)
        for name, value in vars(module).items():
            if isinstance(value, CPUDispatcher) and value.__module__ == module.__name__:
                found[info.name + "." + name] = len(value.signatures)
    return found

rng = np.random.default_rng(1)
X = rng.random((1000, 20)).astype(np.float32)
y = rng.integers(0, 5, 1000)
net = jp.Network([jp.Dense(300, "relu"), jp.Dense(40, "tanh"), jp.Dense(5, "softmax")], 20, "cross_entropy", seed=0)
jp.warmup(network=net, batch_size=500, optimizer=jp.Adam(0.001))
before = signatures()
net.fit(X, y, epochs=1, batch_size=500, optimizer=jp.Adam(0.01), verbose=0)  # batches of several tiles
net.fit(X, y, epochs=1, batch_size=8, optimizer=jp.Adam(0.001), verbose=0)  # batches of one tile
net.evaluate(X, y)
net.predict(X)
net.loss_and_grads(X, y)
after = signatures()
print(json.dumps({name: [before.get(name, 0), count] for name, count in after.items() if count != before.get(name, 0)}))
"""


def test_warmup_of_a_network_compiles_every_kernel_its_fit_uses():
    # In a fresh process: after warmup for a network and optimizer, training it
    # (batches of one tile and of several), evaluating, predicting and taking
    # gradients compile no further kernel version.
    result = subprocess.run([sys.executable, "-c", _WARMUP_THEN_TRAIN], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {}


def test_a_fit_trains_as_with_a_workspace_of_its_own_whatever_was_fitted_before(rng):
    # Each epoch carves its workspace from memory the epochs and fits before it used (of any
    # network, any batch size, a convolution's too); while that memory is taken, an epoch
    # allocates its own. Nothing left there may show in the weights it trains.
    from jitprop import training

    X, y = make_blobs(rng, n=600, features=12)

    def trained(batch_size, width, hold=False):
        if width == "conv":
            layers = [jp.Conv1D(8, 3, padding="same", activation="relu"), jp.Flatten(), jp.Dense(3, "softmax")]
            net = jp.Network(layers, input_shape=(12, 1), loss="cross_entropy", seed=7)
        else:
            net = jp.Network([jp.Dense(width, "tanh"), jp.Dense(3, "softmax")], 12, "cross_entropy", seed=7)
        with training._FIT_MEMORY._lock if hold else contextlib.nullcontext():  # (taken: a workspace of its own)
            net.fit(X, y, epochs=2, batch_size=batch_size, optimizer=jp.Adam(0.01), verbose=0)
        return net.params

    for batch_size, width in [(32, 20), (200, 50), (32, "conv"), (32, 20), (64, 9), (200, 50), (32, "conv")]:
        np.testing.assert_array_equal(trained(batch_size, width), trained(batch_size, width, hold=True))


def test_optimizers_of_one_rule_and_other_state_shapes_train_a_network_one_after_another(rng):
    # What a fit remembers (kernels, rule, backups of the state) must fit each optimizer: Adam keeps a third
    # row of state with amsgrad, RMSprop one per option. Each fit trains as on a network of its own.
    X, y = make_blobs(rng, n=300, features=12)
    optimizers = [
        lambda: jp.Adam(0.01),
        lambda: jp.Adam(0.01, amsgrad=True),
        lambda: jp.RMSprop(0.01),
        lambda: jp.RMSprop(0.01, momentum=0.9, centered=True),
        lambda: jp.Adam(0.01),
    ]
    shared = jp.Network([jp.Dense(16, "tanh"), jp.Dense(3, "softmax")], 12, "cross_entropy", seed=3)
    for make in optimizers:
        start, shuffling = shared.params.copy(), shared.rng.bit_generator.state
        shared.fit(X, y, epochs=2, batch_size=32, optimizer=make(), verbose=0)
        alone = jp.Network([jp.Dense(16, "tanh"), jp.Dense(3, "softmax")], 12, "cross_entropy", seed=3)
        alone.params[...] = start
        alone.rng.bit_generator.state = shuffling
        alone.fit(X, y, epochs=2, batch_size=32, optimizer=make(), verbose=0)
        np.testing.assert_array_equal(shared.params, alone.params)


def test_a_divergence_restores_the_whole_state_of_an_optimizer_with_more_rows_than_the_last(rng):
    # A fit with Adam, then one with amsgrad (a third row of state) that diverges at its third batch: the
    # epoch's start is restored (its backup must hold all three rows) and the two batches before replayed.
    X, y = make_blobs(rng, n=160, features=12)
    X = X.astype(np.float32)
    X[70] = 3e38  # (in the third batch of 32, without shuffling: its products overflow float32)

    def trained(net):
        optimizer = jp.Adam(0.01, amsgrad=True)
        with pytest.raises(jp.DivergenceError):
            net.fit(X, y, epochs=1, batch_size=32, optimizer=optimizer, shuffle=False, verbose=0)
        return net.params.copy(), optimizer.state.copy()

    shared = jp.Network([jp.Dense(16, "relu"), jp.Dense(3, "softmax")], 12, "cross_entropy", seed=3)
    shared.fit(X[:64], y[:64], epochs=1, batch_size=32, optimizer=jp.Adam(0.01), verbose=0)
    alone = jp.Network([jp.Dense(16, "relu"), jp.Dense(3, "softmax")], 12, "cross_entropy", seed=3)
    alone.params[...] = shared.params
    for mine, theirs in zip(trained(shared), trained(alone)):
        np.testing.assert_array_equal(mine, theirs)


def test_an_l2_penalty_set_between_fits_applies_to_the_next(rng):
    X, y = make_blobs(rng, n=200, features=12)
    net = jp.Network([jp.Dense(16, "tanh"), jp.Dense(3, "softmax")], 12, "cross_entropy", seed=3)
    net.fit(X, y, epochs=1, batch_size=32, verbose=0)
    start, shuffling = net.params.copy(), net.rng.bit_generator.state
    net.set_l2(0.05)
    net.fit(X, y, epochs=2, batch_size=32, optimizer=jp.SGD(0.05), verbose=0)
    penalised = jp.Network([jp.Dense(16, "tanh"), jp.Dense(3, "softmax")], 12, "cross_entropy", seed=3, l2=0.05)
    penalised.params[...] = start
    penalised.rng.bit_generator.state = shuffling
    penalised.fit(X, y, epochs=2, batch_size=32, optimizer=jp.SGD(0.05), verbose=0)
    np.testing.assert_array_equal(net.params, penalised.params)
