"""jitprop.LBFGS: SciPy's L-BFGS-B on a network's exact full-batch loss, through Network.fit."""

import sys

import numpy as np
import pytest

import jitprop as jp
from jitprop.callbacks import Callback, EarlyStopping

pytest.importorskip("scipy")


def _regression(rng, n=80, dtype="float64", hidden=6):
    X = rng.normal(size=(n, 3))
    y = np.tanh(X @ [1.0, -2.0, 0.5]) + 0.1 * X[:, 0] ** 2
    net = jp.Network([jp.Dense(hidden, "tanh"), jp.Dense(1)], input_dim=3, dtype=dtype, seed=1)
    return net, X, y


class _Recorder(Callback):
    def __init__(self):
        self.events = []

    def on_train_begin(self, logs=None):
        self.events.append("begin")

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(("epoch", epoch))

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(("end", epoch, logs["loss"], np.array(self.network.params)))

    def on_train_end(self, logs=None):
        self.events.append("end of training")


def test_flat_gradient_is_loss_and_grads_in_one_buffer(rng):
    net, X, y = _regression(rng)
    loss, grads = net.loss_and_grads(X, y)
    flat = np.full(net.n_params, np.nan)
    flat_loss, correct = net.loss_and_flat_gradient(net.prepare_data(X, y), flat)
    assert flat_loss == loss and correct == 0.0
    in_memory_order = [view.ravel(order="K") for pair in grads for view in pair]
    np.testing.assert_array_equal(flat, np.concatenate(in_memory_order))
    evaluate = net.flat_gradient_evaluator(net.prepare_data(X, y), flat)  # prepared once, for many calls
    flat[...] = np.nan
    assert evaluate() == (flat_loss, correct)
    np.testing.assert_array_equal(flat, np.concatenate(in_memory_order))  # bitwise the same
    with pytest.raises(ValueError, match=r"grad must be an ndarray of shape \(31,\) and dtype float64"):
        net.loss_and_flat_gradient(net.prepare_data(X, y), np.zeros(net.n_params, dtype=np.float32))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lbfgs_minimises_the_full_batch_loss(rng, dtype):
    net, X, y = _regression(rng, dtype=dtype)
    before = net.evaluate(X, y)["loss"]
    optimizer = jp.LBFGS()
    history = net.fit(X, y, epochs=300, optimizer=optimizer, verbose=0)
    after = net.evaluate(X, y)["loss"]
    assert after < before / 100
    assert history["loss"][-1] == pytest.approx(after, rel=1e-6)
    assert np.all(np.diff(history["loss"]) <= 1e-12)  # every accepted step lowers the loss
    assert len(history.epochs) == net.epoch == optimizer.result.nit
    assert set(history.history) == {"loss", "evaluations", "seconds", "examples_per_second"}
    assert net.optimizer is None  # L-BFGS keeps no state for the next fit
    assert np.abs(net.loss_and_grads(X, y)[1][0][0]).max() < 1e-2


def test_each_iteration_is_an_epoch_for_the_callbacks(rng):
    net, X, y = _regression(rng)
    recorder = _Recorder()
    history = net.fit(X, y, epochs=5, optimizer=jp.LBFGS(), callbacks=[recorder], verbose=0)
    assert history.epochs == [0, 1, 2, 3, 4]
    assert recorder.events[0] == "begin" and recorder.events[-1] == "end of training"
    ends = [event for event in recorder.events if event[0] == "end"]
    assert [event[1] for event in ends] == [0, 1, 2, 3, 4] and [event[2] for event in ends] == history["loss"]
    np.testing.assert_array_equal(ends[-1][3], net.params)  # the callback saw the iterate the fit ends on
    begun = [event[1] for event in recorder.events if event[0] == "epoch"]
    assert begun[:5] == [0, 1, 2, 3, 4]


def test_a_callback_stops_it_and_validation_is_scored(rng):
    net, X, y = _regression(rng)
    stopper = EarlyStopping("val_loss", patience=0, min_delta=10.0)  # no iteration improves by 10
    history = net.fit(X, y, epochs=50, optimizer=jp.LBFGS(), validation_split=0.25, callbacks=[stopper], verbose=0)
    assert len(history.epochs) == 2 and "val_loss" in history.history
    classifier = jp.Network([jp.Dense(3, "softmax")], input_dim=3, loss="cross_entropy", seed=0)
    labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 1)
    history = classifier.fit(X, labels, epochs=20, optimizer=jp.LBFGS(), verbose=0)
    assert history["accuracy"][-1] > 0.8


def test_max_fun_limits_the_evaluations(rng):
    net, X, y = _regression(rng)
    optimizer = jp.LBFGS(max_fun=7)
    history = net.fit(X, y, epochs=100, optimizer=optimizer, verbose=0)
    assert optimizer.result.status == 1 and optimizer.result.nfev <= 7 + jp.LBFGS().max_line_search
    assert sum(history["evaluations"]) <= optimizer.result.nfev


def test_what_it_refuses(rng):
    net, X, y = _regression(rng)
    with pytest.raises(ValueError, match="LBFGS trains on the exact full-batch loss: it takes no clip_norm"):
        net.fit(X, y, optimizer=jp.LBFGS(), clip_norm=1.0)
    dropped = jp.Network([jp.Dense(4), jp.Dropout(0.5), jp.Dense(1)], input_dim=3)
    with pytest.raises(ValueError, match="train a network with Dropout layers with a mini-batch optimizer"):
        dropped.fit(X, y, optimizer=jp.LBFGS())
    with pytest.raises(ValueError, match="max_fun must be a positive integer, got 0"):
        jp.LBFGS(max_fun=0)
    with pytest.raises(ValueError, match="tol must be a finite number >= 0"):
        jp.LBFGS(tol=-1.0)
    huge = jp.Network([jp.Dense(1, "exp")], input_dim=3, loss="poisson", dtype="float32", seed=0)
    huge.layers[0].W[...] = 1e30
    before = huge.params.copy()
    with pytest.raises(jp.DivergenceError, match="NaN or infinite at the weights L-BFGS starts from"):
        huge.fit(X, np.abs(y), optimizer=jp.LBFGS())
    np.testing.assert_array_equal(huge.params, before)


def test_without_scipy_the_message_says_what_to_install(rng, monkeypatch):
    net, X, y = _regression(rng)
    monkeypatch.setitem(sys.modules, "scipy.optimize", None)
    with pytest.raises(ImportError, match=r'pip install "jitprop\[lbfgs\]"'):
        net.fit(X, y, optimizer=jp.LBFGS())


def test_scale_changes_only_what_the_tolerances_mean(rng):
    """Minimising loss / c takes the same steps (L-BFGS is invariant to scaling) until a tolerance decides."""
    net, X, y = _regression(rng)
    twin = net.copy()
    first = net.fit(X, y, epochs=8, optimizer=jp.LBFGS(tol=0.0, ftol=0.0), verbose=0)
    second = twin.fit(X, y, epochs=8, optimizer=jp.LBFGS(tol=0.0, ftol=0.0, scale=4.0), verbose=0)
    np.testing.assert_allclose(first["loss"], second["loss"], rtol=1e-9)
    np.testing.assert_allclose(net.params, twin.params, rtol=1e-7, atol=1e-9)
