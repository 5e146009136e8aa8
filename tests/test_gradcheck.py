"""Gradients against finite differences: jitprop's gradcheck, and the reference itself."""

import numpy as np
import pytest

import jitprop as jp
import reference as ref
from helpers import (
    HIDDEN_ACTIVATIONS,
    LOSS_OUTPUTS,
    activations_of,
    alphas_of,
    make_network,
    make_targets,
    params_of,
    randomize,
)


def _small_case(rng, hidden, loss, output, dtype="float64", labels=True):
    """A 4-5-5-3 network (two hidden layers) with non-zero biases, and 6 examples."""
    net = make_network([4, 5, 5, 3], [hidden, hidden, output], loss, dtype, seed=2)
    randomize(net, rng)
    X = rng.normal(size=(6, 4))
    y = make_targets(rng, loss, 6, 3, labels=labels and loss == "cross_entropy")
    return net, X, y


@pytest.mark.parametrize("loss,output", LOSS_OUTPUTS)
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
def test_gradcheck_passes_for_every_activation_and_loss(rng, hidden, loss, output):
    net, X, y = _small_case(rng, hidden, loss, output)
    assert jp.gradcheck(net, X, y) < 1e-6


@pytest.mark.parametrize("hidden,alpha", [("leaky_relu", 0.3), ("elu", 0.5)])
def test_gradcheck_passes_with_a_custom_alpha(rng, hidden, alpha):
    net = make_network([4, 5, 3], [hidden, "softmax"], "cross_entropy", "float64", alphas=[alpha, None])
    randomize(net, rng)
    X = rng.normal(size=(6, 4))
    assert jp.gradcheck(net, X, rng.integers(0, 3, size=6)) < 1e-6


def test_gradcheck_with_probability_rows(rng):
    net, X, _ = _small_case(rng, "tanh", "cross_entropy", "softmax")
    assert jp.gradcheck(net, X, rng.dirichlet(np.ones(3), size=6)) < 1e-6


def test_gradcheck_on_a_float32_network_leaves_it_alone(rng):
    net, X, y = _small_case(rng, "gelu", "binary_cross_entropy", "sigmoid", dtype="float32")
    before = net.params.copy()
    assert jp.gradcheck(net, X, y) < 1e-6
    assert net.params.dtype == np.float32
    np.testing.assert_array_equal(net.params, before)


def _perturbed(method, change):
    """A loss_and_grads that returns the true gradient altered by ``change(grads)``."""

    def loss_and_grads(self, *args, **kwargs):
        loss, grads = method(self, *args, **kwargs)
        grads = [(dW.copy(), db.copy()) for dW, db in grads]
        change(grads)
        return loss, grads

    return loss_and_grads


def _one_percent_off(grads):
    grads[0][0][1, 2] *= 1.01


def _bias_gradient_dropped(grads):
    grads[-1][1][...] = 0.0


@pytest.mark.parametrize(
    "change,at_least", [(_one_percent_off, 5e-3), (_bias_gradient_dropped, 0.99)], ids=["one-percent", "no-bias"]
)
def test_gradcheck_detects_a_wrong_gradient(rng, monkeypatch, change, at_least):
    net, X, y = _small_case(rng, "tanh", "mse", "identity")
    assert jp.gradcheck(net, X, y) < 1e-6
    monkeypatch.setattr(jp.Network, "loss_and_grads", _perturbed(jp.Network.loss_and_grads, change))
    assert jp.gradcheck(net, X, y) > at_least


# The reference is checked the same way, so that agreeing with it means something.
@pytest.mark.parametrize("loss,output", LOSS_OUTPUTS)
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
def test_reference_gradient_matches_its_finite_differences(rng, hidden, loss, output):
    net, X, y = _small_case(rng, hidden, loss, output, labels=False)
    params, acts, alphas = params_of(net), activations_of(net), alphas_of(net)
    _, analytic = ref.loss_and_grads(params, acts, loss, X, y, alphas)
    numeric = ref.numerical_grads(params, acts, loss, X, y, alphas)
    for (dW, db), (nW, nb) in zip(analytic, numeric):
        np.testing.assert_allclose(dW, nW, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(db, nb, rtol=1e-5, atol=1e-8)


def test_jitprop_gradient_matches_independent_finite_differences(rng):
    # Differences of the reference loss, not of jitprop's: catches a gradient
    # that is consistent with a wrong loss.
    net, X, y = _small_case(rng, "softplus", "mse", "softmax")
    numeric = ref.numerical_grads(params_of(net), activations_of(net), "mse", X, y, alphas_of(net))
    _, grads = net.loss_and_grads(X, y)
    for (dW, db), (nW, nb) in zip(grads, numeric):
        np.testing.assert_allclose(dW, nW, rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(db, nb, rtol=1e-5, atol=1e-9)
