"""Bitwise reproducibility: the thread count changes the speed, never the result."""

import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest

import jitprop as jp
from helpers import make_network
from jitprop.kernels.workspace import plan_tile_rows

# A 64-128-10 network trained in batches of 250 examples: 3 tiles of 84 rows
# per batch (the last one shorter), run in parallel; 1100 examples make the
# last batch of each epoch 100 rows (2 tiles).
TRAINING = textwrap.dedent(
    """
    import numpy as np
    import jitprop as jp

    N, BATCH = 1150, 250

    def train(epochs=3):
        data = np.random.default_rng(7)
        X = data.normal(size=(N, 64)).astype(np.float32)
        y = data.integers(0, 10, size=N)
        net = jp.Network([jp.Dense(128, "relu"), jp.Dense(10, "softmax")],
                         input_dim=64, loss="cross_entropy", dtype="float32", seed=11)
        net.fit(X, y, epochs=epochs, batch_size=BATCH, shuffle=True,
                optimizer=jp.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4))
        return net, X, y
    """
)


def _training():
    namespace = {}
    exec(TRAINING, namespace)
    return namespace


@pytest.fixture
def restore_threads():
    threads = numba.get_num_threads()
    yield
    numba.set_num_threads(threads)


def test_training_batches_take_the_parallel_path():
    space = _training()
    net, _, _ = space["train"](epochs=1)
    tile = plan_tile_rows(space["BATCH"], net.layout, net.n_params)
    assert -(-space["BATCH"] // tile) >= 3 and space["BATCH"] % tile != 0
    last = space["N"] % space["BATCH"]
    assert -(-last // tile) >= 2


def test_same_bits_whatever_the_thread_count_in_fresh_processes(tmp_path):
    # Train once here first: this compiles the kernels and fills the on-disk
    # cache, so the child processes only load them.
    net, _, _ = _training()["train"]()
    expected = net.params.tobytes()
    results = {}
    for threads in ("1", "2", "3"):
        out = tmp_path / f"params-{threads}.bin"
        script = TRAINING + textwrap.dedent(
            f"""
            import numba, sys
            net, _, _ = train()
            open({str(out)!r}, "wb").write(net.params.tobytes())
            print(numba.get_num_threads())
            """
        )
        env = dict(os.environ, NUMBA_NUM_THREADS=threads)
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split()[-1] == threads
        results[threads] = out.read_bytes()
    assert len(expected) == 4 * net.n_params
    assert results["1"] == results["2"] == results["3"] == expected


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs Numba to allow 2 threads")
def test_same_bits_whatever_the_thread_count_in_process(restore_threads):
    train = _training()["train"]
    results = []
    for threads in (1, 2, 1):
        numba.set_num_threads(threads)
        net, X, y = train(epochs=2)
        _, grads = net.loss_and_grads(X, y)
        results.append((net.params.tobytes(), b"".join(g.tobytes() for pair in grads for g in pair)))
    assert results[0] == results[1] == results[2]


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs Numba to allow 2 threads")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_loss_and_grads_and_predict_same_bits_on_1_or_2_threads(rng, restore_threads, parallel_tiles, dtype):
    net = make_network([20, 64, 10], ["tanh", "sigmoid"], "binary_cross_entropy", dtype, seed=4)
    X = rng.normal(size=(300, 20))
    y = (rng.random((300, 10)) > 0.5).astype(float)
    assert -(-300 // plan_tile_rows(300, net.layout, net.n_params)) >= 2
    results = []
    for threads in (1, 2):
        numba.set_num_threads(threads)
        loss, grads = net.loss_and_grads(X, y)
        results.append((loss, [g.tobytes() for pair in grads for g in pair], net.predict(X).tobytes()))
    assert results[0] == results[1]


def _trained(seed, epochs=2):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    y = rng.integers(0, 3, size=60)
    net = make_network([5, 8, 3], ["relu", "softmax"], "cross_entropy", "float64", seed=seed)
    initial = np.concatenate([layer.W.ravel() for layer in net.layers])  # biases start at 0 whatever the seed
    net.fit(X, y, epochs=epochs, batch_size=16, optimizer=jp.SGD(lr=0.1), shuffle=True)
    return initial, net.params.copy()


def test_same_seed_same_weights():
    init_a, trained_a = _trained(seed=3)
    init_b, trained_b = _trained(seed=3)
    assert init_a.tobytes() == init_b.tobytes()
    assert trained_a.tobytes() == trained_b.tobytes()


def test_different_seed_different_weights():
    init_a, trained_a = _trained(seed=3)
    init_b, trained_b = _trained(seed=4)
    assert not np.any(init_a == init_b)
    assert not np.allclose(trained_a, trained_b)


def test_seed_also_drives_the_shuffling():
    # Same initial weights, different seeds: only the order of the examples differs.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    y = rng.integers(0, 3, size=60)
    a = make_network([5, 8, 3], ["relu", "softmax"], "cross_entropy", "float64", seed=3)
    b = make_network([5, 8, 3], ["relu", "softmax"], "cross_entropy", "float64", seed=4)
    b.params[...] = a.params
    for net in (a, b):
        net.fit(X, y, epochs=1, batch_size=16, optimizer=jp.SGD(lr=0.1), shuffle=True)
    assert not np.allclose(a.params, b.params)


def test_seed_none_draws_fresh_weights():
    a = make_network([5, 8, 3], ["relu", "softmax"], "cross_entropy", "float64", seed=None)
    b = make_network([5, 8, 3], ["relu", "softmax"], "cross_entropy", "float64", seed=None)
    assert not np.any(a.layers[0].W == b.layers[0].W)


def test_a_lone_tile_splits_its_large_products_without_changing_a_bit():
    # One example through a 784-256 layer (over SPLIT_COLUMNS_WORK multiply-adds): a batch of one tile
    # spreads the product's outputs over the threads, in predictions and in training with batches of one.
    from jitprop._threading import thread_count
    from jitprop.kernels.tuning import SPLIT_COLUMNS_WORK

    assert 784 * 256 >= SPLIT_COLUMNS_WORK
    data = np.random.default_rng(3)
    X = data.normal(size=(6, 784)).astype(np.float32)
    y = data.integers(0, 10, size=6)
    results = []
    for threads in (1, 2):
        net = jp.Network([jp.Dense(256, "relu"), jp.Dense(10, "softmax")], 784, "cross_entropy", seed=5)
        with thread_count(threads):
            before = net.predict(X[:1])
            net.fit(X, y, epochs=2, batch_size=1, optimizer=jp.SGD(lr=0.01), verbose=0)
            results.append((before, net.predict(X[:1]), net.params.copy()))
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)
