"""``jitprop train --layers ... --input-shape ...``: convolutional and recurrent networks from the command line."""

import re

import numpy as np
import pytest

import jitprop as jp
from jitprop import cli
from jitprop.cli import layer_spec


def test_a_spec_builds_the_layers_it_names():
    spec = layer_spec.parse_layers(
        "conv2d:16:3:same,maxpool2d:2,conv2d:8:3x2:1:2,avgpool2d:2:1,flatten,dropout:0.25,dense:64"
    )
    layers = layer_spec.build_layers(spec, "tanh")
    assert [type(layer).__name__ for layer in layers] == [
        "Conv2D", "MaxPool2D", "Conv2D", "AvgPool2D", "Flatten", "Dropout", "Dense"
    ]  # fmt: skip
    first, third = layers[0].config(), layers[2].config()
    assert (first["filters"], first["activation"]) == (16, "tanh")
    assert net_shapes(layers) == [(8, 8, 16), (4, 4, 16), (2, 3, 8), (1, 2, 8), (16,), (16,), (64,)]
    assert third["strides"] in ([2, 2], (2, 2)) and layers[6].units == 64 and layers[5].rate == 0.25
    assert (
        layer_spec.describe_layers(spec)
        == "conv2d:16:3:same,maxpool2d:2,conv2d:8:3x2:1:2,avgpool2d:2:1,flatten,dropout:0.25,dense:64"
    )


def test_a_spec_builds_recurrent_layers():
    spec = layer_spec.parse_layers("bilstm:4:seq,gru:3:seq,dense:2,simplernn:5")
    layers = layer_spec.build_layers(spec, "relu")
    assert [type(layer).__name__ for layer in layers] == ["Bidirectional", "GRU", "Dense", "SimpleRNN"]
    assert type(layers[0].forward_layer).__name__ == "LSTM" and layers[0].return_sequences
    assert layers[3].cell_activation == "tanh" and not layers[3].return_sequences
    net = jp.Network([*layers, jp.Dense(3)], input_shape=(6, 2))
    assert [layer.output_shape(shape) for layer, shape in zip(net.layers, net._input_shapes)] == [
        (6, 8), (6, 3), (6, 2), (5,), (3,)
    ]  # fmt: skip
    assert layer_spec.describe_layers(spec) == "bilstm:4:seq,gru:3:seq,dense:2,simplernn:5"
    assert layer_spec.describe_layers(spec, "relu") == "bilstm:4:seq -> gru:3:seq -> dense:2 relu -> simplernn:5"


def net_shapes(layers):
    net = jp.Network([*layers, jp.Dense(3)], input_shape=(8, 8, 1))
    shape, shapes = net.input_shape, []
    for layer in net.layers[:-1]:
        shape = layer.output_shape(shape)
        shapes.append(tuple(shape))
    return shapes


@pytest.mark.parametrize(
    "options, message",
    [
        (["--layers", "foo:1"], r"unknown layer 'foo' in 'foo:1'; expected one of conv2d, conv1d"),
        (["--layers", "conv2d:16"], r"--layers: layer 1 \(conv2d:16\): expected conv2d:FILTERS:KERNEL\[:PADDING"),
        (["--layers", "flatten:2"], r"layer 1 \(flatten:2\): expected flatten, without arguments"),
        (["--layers", "dense:x"], r"layer 1 \(dense:x\): units must be a positive integer, got 'x'"),
        (["--layers", "lstm:8:all"], r"layer 1 \(lstm:8:all\): expected lstm:UNITS\[:seq\]"),
        (["--layers", "gru:4"], r"GRU\(4\) takes examples of shape \(steps, features\)"),
        (["--layers", "conv2d:4:3"], r"takes examples of shape \(height, width, channels\).*--input-shape \(e\.g\."),
        (["--layers", "conv2d:4:9", "--input-shape", "8,8,1"], r"the network cannot be built: .*Conv2D"),
        (["--input-shape", "8,8,2"], r"--input-shape 8,8,2 holds 128 values, but each example has 64 inputs"),
        (["--input-shape", "8,x"], r"expected positive sizes like 8,8,1, got '8,x'"),
        (["--layers", "dense:8", "--hidden", "8"], r"give the hidden layers by --hidden or by --layers, not both"),
        (["--layers", "lstm:8:seq", "--input-shape", "8,8"], r"the network outputs \(8, 10\) per example, one row per"),
    ],
)
def test_bad_specs_are_named(options, message, in_dir, capsys):
    assert _exit_status(["train", "--epochs", "1", *options]) != 0
    assert re.search(message, capsys.readouterr().err)


def _exit_status(arguments):
    """What ``jitprop`` exits with (argparse exits by itself on a malformed option)."""
    try:
        return cli.main(arguments)
    except SystemExit as exc:
        return exc.code


def test_the_digits_train_as_images_and_predict_from_an_npz_of_images(tmp_path, in_dir, capsys, digits):
    X, y = digits
    images = tmp_path / "images.npz"
    np.savez(images, X=X.reshape(-1, 8, 8, 1).astype(np.float32), y=y)
    options = ["--layers", "conv2d:16:3:same,maxpool2d:2,flatten", "--epochs", "12", "--seed", "0"]
    assert cli.main(["train", *options, "--input-shape", "8,8,1", "--metrics-json", "m.json"]) == 0
    out = capsys.readouterr().out
    assert "network: 8x8x1 -> conv2d:16:3:same relu -> maxpool2d:2 -> flatten -> dense:10 softmax, cross_" in out
    accuracy = float(re.search(r"^validation\s+\S+\s+(\S+)$", out, re.M).group(1))
    assert accuracy >= 0.95
    net = jp.load("model.safetensors")
    assert net.input_shape == (8, 8, 1) and type(net.layers[0]).__name__ == "Conv2D"
    # An NPZ of images: its examples' shape is the network's without --input-shape.
    assert cli.main(["train", str(images), "--target", "y", *options, "--out", "from_npz.safetensors"]) == 0
    capsys.readouterr()
    assert jp.load("from_npz.safetensors").input_shape == (8, 8, 1)
    assert cli.main(["predict", "from_npz.safetensors", str(images), "--out", "p.csv"]) == 0
    predicted = np.loadtxt("p.csv", skiprows=1, dtype=int)
    assert (predicted == y).mean() >= 0.95
    assert cli.main(["evaluate", "from_npz.safetensors", str(images), "--target", "y"]) == 0


def test_the_digits_train_as_sequences_of_rows_with_an_lstm(tmp_path, in_dir, capsys, digits):
    X, y = digits
    rows = tmp_path / "rows.npz"
    np.savez(rows, X=X.reshape(-1, 8, 8).astype(np.float32), y=y)
    options = ["--layers", "lstm:32", "--epochs", "15", "--lr", "0.01", "--seed", "0"]
    assert cli.main(["train", str(rows), "--target", "y", *options]) == 0
    out = capsys.readouterr().out
    assert "network: 8x8 -> lstm:32 -> dense:10 softmax, cross_entropy loss," in out  # (no hidden activation)
    accuracy = float(re.search(r"^validation\s+\S+\s+(\S+)$", out, re.M).group(1))
    assert accuracy >= 0.95  # 0.986 when measured
    net = jp.load("model.safetensors")
    assert net.input_shape == (8, 8) and type(net.layers[0]).__name__ == "LSTM"
    assert cli.main(["predict", "model.safetensors", str(rows), "--out", "p.csv"]) == 0
    predicted = np.loadtxt("p.csv", skiprows=1, dtype=int)
    assert (predicted == y).mean() >= 0.95
    assert cli.main(["summary", "model.safetensors"]) == 0
    assert "A recurrent layer of g gates" in capsys.readouterr().out


def test_predict_and_evaluate_name_a_model_with_outputs_per_step(tmp_path, in_dir, capsys, digits):
    X, y = digits
    rows = tmp_path / "rows.npz"
    np.savez(rows, X=X[:20].reshape(-1, 8, 8).astype(np.float32), y=y[:20])
    layers = [jp.LSTM(4, return_sequences=True), jp.Dense(10, "softmax")]
    jp.Network(layers, input_shape=(8, 8), loss="cross_entropy", seed=0).save(tmp_path / "steps.safetensors")
    for command in (["predict"], ["evaluate", "--target", "y"]):
        assert _exit_status([*command, str(tmp_path / "steps.safetensors"), str(rows)]) != 0
        err = capsys.readouterr().err
        assert re.search(rf"steps.safetensors outputs \(8, 10\) per example .*jitprop {command[0]} takes models", err)
