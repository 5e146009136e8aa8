"""jitprop.complexity.model: parameters, FLOPs and memory against hand counts, and the summary.

Timing-based acceptance figures (exponents near 1, ratios, prediction error)
are not asserted in these tests: they depend on the machine and its load,
and live in docs/complexity.md.
"""

import pytest

import jitprop as jp
from helpers import dense_net
from jitprop import complexity
from jitprop.kernels.panels import MAX_PANEL_COLUMNS, PANEL_ROWS, round_up


def test_small_network_counted_by_hand():
    # 3-4-2, relu then softmax, cross-entropy.
    cost = complexity.costs(dense_net([3, 4, 2]), batch_size=8)
    assert cost.params == (3 * 4 + 4) + (4 * 2 + 2) == 26
    assert cost.weights == 12 + 8 and cost.first_layer_weights == 12
    # forward: product 2nk, bias k, activation (relu 1, softmax 5 per unit)
    layer1_forward = 2 * 3 * 4 + 4 + 4
    layer2_forward = 2 * 4 * 2 + 2 + 5 * 2
    assert cost.inference_flops == cost.forward_flops == layer1_forward + layer2_forward == 60
    # backward: weight gradient 2nk + bias gradient k, input gradient 2nk except the
    # first layer, relu derivative 1 per hidden unit; the loss value (4/output) and delta (2/output)
    layer1_backward = 2 * 3 * 4 + 4 + 4
    layer2_backward = 2 * 4 * 2 + 2 + 2 * 4 * 2
    assert cost.backward_flops == layer1_backward + layer2_backward + 4 * 2 + 2 * 2 == 78
    assert cost.training_flops_per_example == 138
    # one tile for so small a batch; SGD without momentum: 4 FLOPs per parameter, plus the norm
    assert cost.tiles == 1
    assert cost.step_flops == 4 * 26 + 2 * 26
    assert cost.epoch_flops(20) == 20 * 138 + 3 * cost.step_flops  # 3 batches of 8
    assert cost.training_flops(20, epochs=5) == 5 * cost.epoch_flops(20)
    assert cost.predict_flops(20) == 20 * 60


def test_ratio_of_the_issue_example_is_1_25():
    cost = complexity.costs(dense_net([784, 256, 256, 10]))
    w1 = 784 * 256
    w = w1 + 256 * 256 + 256 * 10
    assert cost.weights == w and cost.first_layer_weights == w1
    assert cost.matmul_ratio == pytest.approx(2 - w1 / w)
    assert round(cost.matmul_ratio, 2) == 1.25
    # the element-wise terms move the full ratio by well under a percent
    assert cost.backward_forward_ratio == pytest.approx(cost.matmul_ratio, rel=2e-3)


def test_ratio_approaches_two_for_deep_uniform_networks():
    ratios = []
    for depth in (1, 2, 4, 8, 16, 32):
        cost = complexity.costs(dense_net([64] * (depth + 1), hidden="identity", output="identity", loss="mse"))
        assert cost.matmul_ratio == pytest.approx(2 - 1 / depth)
        ratios.append(cost.backward_forward_ratio)
    assert all(a < b for a, b in zip(ratios, ratios[1:]))
    assert ratios[0] == pytest.approx(1.0, abs=0.05)
    assert 1.95 < ratios[-1] < 2.0


def test_cost_is_linear_in_weights_examples_and_epochs():
    small = complexity.costs(dense_net([784, 256, 10]), batch_size=128)
    large = complexity.costs(dense_net([784, 1024, 10]), batch_size=128)
    assert large.training_flops_per_example / small.training_flops_per_example == pytest.approx(
        large.params / small.params, rel=0.01
    )
    assert small.epoch_flops(4096 * 8) == 8 * small.epoch_flops(4096)
    assert small.training_flops(4096, 8) == 8 * small.training_flops(4096, 1)


@pytest.mark.parametrize(
    "optimizer, per_parameter, slots",
    [
        (jp.SGD(), 4, 1),  # state is allocated even without momentum
        (jp.SGD(momentum=0.9), 6, 1),
        (jp.SGD(momentum=0.9, nesterov=True), 8, 1),
        (jp.Adam(), 16, 2),
        (jp.Adam(amsgrad=True), 17, 3),
        (jp.AdamW(), 17, 2),
        (jp.RMSprop(), 8, 1),
        (jp.RMSprop(momentum=0.9, centered=True), 16, 3),
        (jp.Adagrad(), 9, 1),
    ],
)
def test_update_flops_and_state_by_optimizer(optimizer, per_parameter, slots):
    net = dense_net([10, 8, 3])
    assert complexity.update_flops_per_parameter(optimizer) == per_parameter
    cost = complexity.costs(net, batch_size=4, optimizer=optimizer)
    assert cost.step_parts["update"] == per_parameter * net.n_params
    assert cost.memory.optimizer_state == slots * net.n_params * 4


def test_memory_follows_dtype_tiles_and_batch():
    net32 = dense_net([784, 256, 256, 10])
    net64 = dense_net([784, 256, 256, 10], dtype="float64")
    cost32 = complexity.costs(net32, batch_size=128)
    cost64 = complexity.costs(net64, batch_size=128)
    # the parameters, and the weights packed into panels for the input gradient of every layer
    # but the first (forward products over 128 or more inputs read the weights as stored)
    packed = 256 * 256 + 10 * 256
    assert cost32.memory.parameters == (net32.n_params + packed) * 4
    assert cost64.memory.total == 2 * cost32.memory.total
    # the gradient and one buffer per tile
    assert cost32.tiles == 2
    assert cost32.memory.gradients == 3 * net32.n_params * 4
    # activations, pre-activations and deltas of every row; each tile's panel scratch, at most
    # for the first layer's weight gradient: 64 rows of 256 deltas and 784 inputs, each padded to whole panels
    panels = round_up(256, PANEL_ROWS) + round_up(784, MAX_PANEL_COLUMNS)
    assert cost32.memory.activations == (3 * (784 + 256 + 256 + 10) * 128 + 2 * 64 * panels) * 4
    assert complexity.costs(net32, batch_size=256).memory.activations > cost32.memory.activations


def test_l2_penalty_is_counted_per_step():
    plain = complexity.costs(dense_net([20, 10, 3]))
    net = jp.Network([jp.Dense(10, "relu", l2=1e-4), jp.Dense(3, "softmax")], input_dim=20, loss="cross_entropy")
    assert complexity.costs(net).step_parts["l2_penalty"] == 4 * 20 * 10
    assert plain.step_parts["l2_penalty"] == 0


def test_dropout_rows_cost_training_only():
    net = jp.Network(
        [jp.Dropout(0.2), jp.Dense(16, "tanh"), jp.Dropout(0.5), jp.Dense(4, "sigmoid")],
        input_dim=8,
        loss="binary_cross_entropy",
    )
    rows = complexity.summary_table(net)
    assert [row.kind for row in rows] == ["Dropout", "Dense", "Dropout", "Dense", "Loss"]
    assert [row.output_shape for row in rows] == [(None, 8), (None, 16), (None, 16), (None, 4), ()]
    assert rows[0].forward_flops == 8 and rows[2].backward_flops == 16
    cost = complexity.costs(net)
    assert cost.forward_flops == cost.inference_flops + 8 + 16
    # tanh: 1 forward, 3 backward per unit; sigmoid output: 4 forward, its delta comes from the loss
    assert rows[1].forward_flops == 2 * 8 * 16 + 16 + 16
    assert rows[1].backward_flops == 2 * 8 * 16 + 16 + 3 * 16
    assert rows[3].backward_flops == 2 * 16 * 4 + 4 + 2 * 16 * 4
    assert (rows[4].forward_flops, rows[4].backward_flops) == (7 * 4, 2 * 4)


def test_mse_delta_includes_the_output_derivative():
    rows = complexity.summary_table(dense_net([5, 3], output="tanh", loss="mse"))
    assert rows[-1].backward_flops == (3 + 3) * 3


def test_costs_rejects_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        complexity.costs(dense_net([3, 2]), batch_size=0)
    with pytest.raises(ValueError, match="n_examples"):
        complexity.costs(dense_net([3, 2])).epoch_flops(2.5)


# ---------------------------------------------------------------- the summary
def test_summary_table_rows():
    net = dense_net([784, 256, 256, 10])
    rows = complexity.summary_table(net)
    assert [row.name for row in rows] == ["dense", "dense_1", "dense_2", "loss"]
    assert [row.params for row in rows] == [200960, 65792, 2570, 0]
    assert sum(row.params for row in rows) == net.n_params == 269322
    assert [row.activation for row in rows] == ["relu", "relu", "softmax", "cross_entropy"]
    assert rows[0].forward_flops == 2 * 784 * 256 + 256 + 256
    assert rows[0].backward_flops == 2 * 784 * 256 + 256 + 256  # no input gradient for the first layer
    assert rows[1].backward_flops == 4 * 256 * 256 + 256 + 256


def test_summary_text():
    text = complexity.summary(dense_net([784, 256, 256, 10]), batch_size=128)
    lines = text.splitlines()
    assert lines[0] == "Network: 784-256-256-10, loss cross_entropy, float32"
    assert any(line.startswith("dense (Dense)") and "(None, 256)" in line and "200,960" in line for line in lines)
    assert any(line.startswith("dense_2 (Dense)") and "softmax" in line and "2,570" in line for line in lines)
    assert "Total params: 269,322" in text
    assert "2 - w1/w = 1.253" in text
    assert "Per step of 128 examples (2 tiles)" in text


# ----------------------------------------------------------------- convolutions
def _cnn(first=None, input_shape=(8, 8, 2)):
    layers = [
        jp.Conv2D(4, 3, padding="same", activation="relu"),
        jp.MaxPool2D(2),
        jp.Conv2D(8, 3, activation="relu"),
        jp.Flatten(),
        jp.Dense(10, "softmax"),
    ]
    return jp.Network(([first] if first else []) + layers, input_shape=input_shape, loss="cross_entropy", seed=0)


def test_a_convolution_uses_each_weight_at_every_output_position():
    cost = complexity.costs(_cnn())
    # conv 3x3x2 -> 4 at 8x8 positions, pool to 4x4x4, conv 3x3x4 -> 8 at 2x2, then 32 -> 10.
    uses = [3 * 3 * 2 * 4 * 64, 3 * 3 * 4 * 8 * 4, 32 * 10]
    assert [row.weight_uses for row in cost.layers] == [uses[0], 0, uses[1], 0, uses[2], 0]
    assert cost.weights == 72 + 288 + 320 and cost.first_layer_weights == 72
    assert cost.weight_uses == sum(uses) and cost.first_layer_weight_uses == uses[0]
    assert cost.shares_weights
    # The products: forward 2u, weight gradients 2u, input gradients 2u but the first layer's.
    assert cost.matmul_ratio == pytest.approx(2 - uses[0] / sum(uses))
    products = [2 * u for u in uses]
    rows = [row for row in cost.layers if row.weights]
    assert [row.forward_flops - p for row, p in zip(rows, products)] == [2 * 4 * 64, 2 * 8 * 4, 10 + 5 * 10]
    assert rows[0].backward_flops - products[0] == 2 * 4 * 64  # bias and ReLU's derivative; no input gradient
    assert rows[1].backward_flops - 2 * products[1] == 2 * 8 * 4
    assert cost.as_dict()["weight_uses"] == sum(uses)


def test_a_dense_network_uses_each_weight_once():
    cost = complexity.costs(dense_net([784, 256, 256, 10]))
    assert (cost.weight_uses, cost.first_layer_weight_uses) == (cost.weights, cost.first_layer_weights)
    assert not cost.shares_weights


def test_a_convolution_after_a_first_pooling_layer_passes_its_input_gradient_back():
    # The kernels skip the input gradient of layer 0 only, here the pooling layer; the convolution computes it.
    pooled = complexity.costs(_cnn(first=jp.MaxPool2D(2), input_shape=(16, 16, 2)))
    plain = complexity.costs(_cnn())
    assert pooled.layers[0].backward_flops == 0
    assert pooled.layers[1].backward_flops == plain.layers[0].backward_flops + 2 * plain.layers[0].weight_uses
    assert pooled.first_layer_weight_uses == 0 and pooled.matmul_ratio == 2.0


def test_summary_text_of_a_cnn():
    text = complexity.summary(_cnn())
    lines = text.splitlines()
    assert lines[0] == "Network: 8x8x2-8x8x4-4x4x4-2x2x8-10, loss cross_entropy, float32"
    uses = 4608 + 1152 + 320
    assert f"weights w = 680, used at every output position: u = w·P = {uses:,} per example" in text
    assert "first layer u1 = 4,608" in text
    assert f"(matrix products alone: 2 - u1/u = {2 - 4608 / uses:.3f})" in text
    assert "w1" not in text
