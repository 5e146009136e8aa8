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
    with pytest.raises(ValueError, match="Unknown layer type 'conv'; expected 'dense', 'dropout', .* or 'flatten'"):
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


# ------------------------------------------------------------------ layer kinds
def test_every_layer_kind_is_registered_under_the_type_its_config_names():
    from jitprop.layers import LAYER_KINDS, Layer

    assert set(LAYER_KINDS) == {
        "dense",
        "dropout",
        "conv1d",
        "conv2d",
        "max_pooling1d",
        "max_pooling2d",
        "average_pooling1d",
        "average_pooling2d",
        "global_average_pooling1d",
        "global_average_pooling2d",
        "simple_rnn",
        "gru",
        "lstm",
        "bidirectional",
        "flatten",
    }
    for name, kind in LAYER_KINDS.items():
        assert issubclass(kind, Layer) and kind.kind == name
    assert jp.Dense(3).config()["type"] == "dense" and jp.Dropout(0.1).config()["type"] == "dropout"


def test_a_network_has_the_parameters_and_widths_its_layers_count():
    layers = [jp.Dropout(0.1), jp.Dense(7, "relu"), jp.Dropout(0.2), jp.Dense(4, "tanh"), jp.Dense(3, "softmax")]
    net = jp.Network(layers, input_dim=5, loss="cross_entropy")
    shape, params, shapes = (5,), 0, []
    for layer in net.layers:
        params += layer.parameter_count(shape)
        shape = layer.output_shape(shape)
        shapes.append(shape)
    assert params == net.n_params == (5 * 7 + 7) + (7 * 4 + 4) + (4 * 3 + 3)
    assert shapes == [(5,), (7,), (7,), (4,), (3,)]
    assert [layer.weight_count(s) for layer, s in zip(net.layers, [(5,)] + shapes[:-1])] == [0, 35, 0, 28, 12]


def test_a_dense_layer_counts_the_flops_its_kernels_run():
    layer = jp.Dense(4, "tanh")  # tanh: 1 FLOP forward, 3 for its derivative, per unit
    assert layer.flops((6,), first=True, output=False) == (2 * 6 * 4 + 4 + 1 * 4, 2 * 6 * 4 + 4 + 3 * 4)
    # Not the first: it passes a delta back (another product); the output's delta comes from the loss.
    assert layer.flops((6,), first=False, output=True) == (2 * 6 * 4 + 4 + 4, 2 * 6 * 4 + 4 + 2 * 6 * 4)
    assert jp.Dropout(0.5).flops((9,), first=False, output=False) == (9, 9)
    assert jp.Dropout(0.5).flops((3, 3), first=False, output=False) == (9, 9)


def test_a_dense_layer_takes_examples_of_one_axis_or_applies_to_every_step_of_two():
    with pytest.raises(
        ValueError,
        match=r"Dense\(4.*takes examples of one axis of features, or of two \(steps, features\), got "
        r"examples of shape \(8, 8, 1\)",
    ):
        jp.Network([jp.Dense(4)], input_shape=(8, 8, 1))
    per_step = jp.Dense(4)
    net = jp.Network([per_step], input_shape=(6, 8))
    assert net.n_outputs == 6 * 4 and per_step.W.shape == (8, 4) and per_step.W.flags.c_contiguous


def test_a_new_kind_is_read_from_a_model_config_once_registered(monkeypatch):
    from jitprop import layers

    class Scale(layers.Layer):
        kind = "scale"

        def __init__(self, factor):
            self.factor = factor

        def config(self):
            return {"type": self.kind, "factor": self.factor}

    monkeypatch.setitem(layers.LAYER_KINDS, "scale", Scale)
    rebuilt = layer_from_config({"type": "scale", "factor": 2.0})
    assert isinstance(rebuilt, Scale) and rebuilt.config() == {"type": "scale", "factor": 2.0}
    with pytest.raises(ValueError, match="expected 'dense', 'dropout', 'conv1d', .*, 'flatten' or 'scale'"):
        layer_from_config({"type": "conv"})
