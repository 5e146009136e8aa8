"""Weight initialisers: each distribution's bounds and spread, and the defaults per activation."""

import numpy as np
import pytest

import jitprop as jp
from jitprop.initializers import initial_weights

FAN_IN, FAN_OUT = 400, 300


@pytest.mark.parametrize(
    "name, limit, std",
    [
        ("glorot_uniform", np.sqrt(6 / (FAN_IN + FAN_OUT)), np.sqrt(2 / (FAN_IN + FAN_OUT))),
        ("he_uniform", np.sqrt(6 / FAN_IN), np.sqrt(2 / FAN_IN)),
        ("glorot_normal", None, np.sqrt(2 / (FAN_IN + FAN_OUT))),
        ("he_normal", None, np.sqrt(2 / FAN_IN)),
    ],
)
def test_distribution_has_its_published_spread(rng, name, limit, std):
    w = initial_weights(name, rng, FAN_IN, FAN_OUT)
    assert w.shape == (FAN_IN, FAN_OUT)
    assert abs(w.mean()) < 0.05 * std
    assert w.std() == pytest.approx(std, rel=0.02)  # 120,000 draws
    if limit is not None:
        assert np.abs(w).max() <= limit and np.abs(w).max() > 0.99 * limit


def test_zeros(rng):
    assert not initial_weights("zeros", rng, 3, 4).any()


def test_defaults_follow_the_activation_and_biases_start_at_zero():
    net = jp.Network(
        [jp.Dense(FAN_OUT, "relu"), jp.Dense(FAN_OUT, "tanh"), jp.Dense(FAN_OUT, "gelu", init="glorot_normal")],
        input_dim=FAN_IN,
        seed=0,
    )
    assert [layer.init for layer in net.layers] == ["he_uniform", "glorot_uniform", "glorot_normal"]
    assert np.abs(net.layers[0].W).max() <= np.sqrt(6 / FAN_IN)
    assert np.abs(net.layers[0].W).max() > np.sqrt(6 / (FAN_IN + FAN_OUT))  # wider than Glorot: He
    assert np.abs(net.layers[1].W).max() <= np.sqrt(6 / (2 * FAN_OUT))
    assert not any(layer.b.any() for layer in net.layers)
