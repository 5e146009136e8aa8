"""Layers: Dense and Dropout on their own — defaults, configs, weights in the parameter buffer, initial values."""

import numpy as np
import pytest

import jitprop as jp
from jitprop.activations import ACTIVATIONS
from jitprop.layers import layer_from_config


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_dense_defaults_come_from_the_activation(name):
    layer = jp.Dense(3, name)
    spec = ACTIVATIONS[name]
    assert layer.init == spec.default_init
    assert layer.alpha == (0.0 if spec.default_alpha is None else spec.default_alpha)
    assert layer.l2 is None and layer.W is None and layer.b is None


def test_dense_defaults_by_family():
    assert [jp.Dense(2, name).init for name in ("relu", "leaky_relu", "elu", "tanh", "sigmoid")] == [
        "he_uniform", "he_uniform", "he_uniform", "glorot_uniform", "glorot_uniform"
    ]  # fmt: skip
    assert (jp.Dense(2, "leaky_relu").alpha, jp.Dense(2, "elu").alpha, jp.Dense(2, "relu").alpha) == (0.01, 1.0, 0.0)
    assert jp.Dense(2, "elu", alpha=0.5, init="zeros", l2=0.1).config() == {
        "type": "dense", "units": 2, "activation": "elu", "alpha": 0.5, "init": "zeros", "l2": 0.1
    }  # fmt: skip


def test_repr_shows_alpha_where_it_matters():
    assert repr(jp.Dense(4, "leaky_relu")) == "Dense(4, activation='leaky_relu', alpha=0.01)"
    assert repr(jp.Dense(4, "relu", alpha=0.3)) == "Dense(4, activation='relu')"
    assert repr(jp.Dropout(0.25)) == "Dropout(0.25)"


@pytest.mark.parametrize(
    "layer", [jp.Dense(5, "gelu", l2=0.01), jp.Dense(1, "leaky_relu", alpha=0.2, init="he_normal"), jp.Dropout(0.5)]
)
def test_config_rebuilds_the_layer(layer):
    twin = layer_from_config(layer.config())
    assert type(twin) is type(layer) and twin.config() == layer.config()
    assert twin is not layer


def test_layer_from_config_names_what_is_wrong():
    with pytest.raises(ValueError, match="Unknown layer type 'conv'; expected 'dense' or 'dropout'"):
        layer_from_config({"type": "conv", "units": 3})
    with pytest.raises(TypeError, match="A layer config must be a dict"):
        layer_from_config(["dense", 3])
    assert layer_from_config({"units": 3}).config()["type"] == "dense"  # dense unless told


@pytest.mark.parametrize("rate", [-0.1, 1.0, 2, True, "0.5"])
def test_dropout_rate_must_lie_in_0_1(rate):
    with pytest.raises(ValueError, match="Dropout rate must be in \\[0, 1\\)"):
        jp.Dropout(rate)


def test_dense_weights_are_the_transposed_block_of_the_parameter_buffer():
    first, second = jp.Dense(3, "tanh"), jp.Dense(2)
    net = jp.Network([first, jp.Dropout(0.1), second], input_dim=4, dtype="float64", seed=0)
    # Layer i's block: its weights as (fan_out, fan_in) rows, then its biases.
    block = net.params[: 3 * 4 + 3]
    np.testing.assert_array_equal(first.W, block[:12].reshape(3, 4).T)
    np.testing.assert_array_equal(first.b, block[12:])
    assert first.W.shape == (4, 3) and second.W.shape == (3, 2) and second.b.shape == (2,)
    assert np.shares_memory(second.W, net.params) and first.W.flags.f_contiguous
    second.b[...] = [7.0, 8.0]
    assert list(net.params[-2:]) == [7.0, 8.0]


@pytest.mark.parametrize("init, fan_in, fan_out, bound", [
    ("he_uniform", 50, 40, np.sqrt(6 / 50)),
    ("glorot_uniform", 50, 40, np.sqrt(6 / 90)),
])  # fmt: skip
def test_initial_weights_follow_the_initialiser(init, fan_in, fan_out, bound):
    layer = jp.Dense(fan_out, "relu", init=init)
    jp.Network([layer], input_dim=fan_in, seed=3)
    assert np.abs(layer.W).max() <= bound
    assert np.abs(layer.W).max() > 0.9 * bound  # 2,000 draws come close to the bound
    assert abs(float(layer.W.mean())) < 0.05 * bound
    np.testing.assert_array_equal(layer.b, 0)
    zeros = jp.Dense(fan_out, init="zeros")
    jp.Network([zeros], input_dim=fan_in, seed=3)
    np.testing.assert_array_equal(zeros.W, 0)
