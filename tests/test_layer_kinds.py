"""A layer kind plugs in as a kernels module, a Layer class and two registry entries, and nothing else changes.

The kind defined here, ``Scale`` (``a = f(x ⊙ w + b)``, one weight and one
bias per feature), lives in this test module only: the tile, the batch, the
epoch, the cost model and the model file run it without knowing of it.
"""

import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numba import njit

import jitprop as jp
from jitprop._threading import thread_count
from jitprop.activations import get_activation
from jitprop.complexity.model import summary_table
from jitprop.kernels import kinds
from jitprop.kernels._numba.options import KERNEL
from jitprop.kernels.layout import LayerKernels, rows, untracked
from jitprop.layers import LAYER_KINDS, Layer


@njit(**KERNEL)
def scale_forward(kernels, model, ws, layer, r0, r1):
    kernels, model, ws = untracked((kernels, model, ws))
    layout, params = model.layout, model.params
    x = rows(ws, ws.activations, layout, layer, r0, r1)
    z = rows(ws, ws.preactivations, layout, layer + 1, r0, r1)
    width = x.shape[1]
    start = layout.weight_offsets[layer]
    w = params[start : start + width]
    b = params[start + width : start + 2 * width]
    for r in range(x.shape[0]):
        for j in range(width):
            z[r, j] = x[r, j] * w[j] + b[j]


@njit(**KERNEL)
def scale_backward(kernels, model, ws, layer, r0, r1, grad):
    kernels, model, ws, grad = untracked((kernels, model, ws, grad))
    layout, params = model.layout, model.params
    d = rows(ws, ws.deltas, layout, layer + 1, r0, r1)
    x = rows(ws, ws.activations, layout, layer, r0, r1)
    width = x.shape[1]
    start = layout.weight_offsets[layer]
    w = params[start : start + width]
    grad_w = grad[start : start + width]
    grad_b = grad[start + width : start + 2 * width]
    for j in range(width):
        grad_w[j] = 0
        grad_b[j] = 0
    for r in range(x.shape[0]):
        for j in range(width):
            grad_w[j] += d[r, j] * x[r, j]
            grad_b[j] += d[r, j]
    if layer > 0:
        d_prev = rows(ws, ws.deltas, layout, layer, r0, r1)
        for r in range(x.shape[0]):
            for j in range(width):
                d_prev[r, j] = d[r, j] * w[j]


SCALE = kinds.register(
    LayerKernels(
        "scale",
        scale_forward,
        scale_backward,
        tile_scratch=lambda layout, layer, tile_rows: 0,
        panels=lambda weight_shape, first, training: (False, False),
    )
)


class Scale(Layer):
    """``a = f(x ⊙ w + b)``: a weight and a bias per feature."""

    kind = "scale"
    kernel_kind = SCALE

    def __init__(self, activation="identity", l2=None):
        self.activation = get_activation(activation).name
        self.l2 = l2
        self.w = self.b = None

    def config(self):
        return {"type": self.kind, "activation": self.activation, "l2": self.l2}

    def output_shape(self, input_shape):
        return tuple(input_shape)

    def parameter_count(self, input_shape):
        return 2 * math.prod(input_shape)

    def weight_shape(self, input_shape):
        return (1, math.prod(input_shape))

    def flops(self, input_shape, first, output):
        width = math.prod(input_shape)
        return 2 * width, 2 * width + (0 if first else width)

    def parameter_views(self, buffer, offset, input_shape):
        width = math.prod(input_shape)
        return buffer[offset : offset + width].reshape(input_shape), buffer[offset + width : offset + 2 * width]

    def bind(self, params, offset, input_shape):
        self.w, self.b = self.parameter_views(params, offset, input_shape)

    def initialize(self, rng, input_shape):
        self.w[...] = 1.0 + 0.5 * rng.standard_normal(input_shape)
        self.b[...] = 0.1 * rng.standard_normal(self.b.shape)


@pytest.fixture
def scale_kind(monkeypatch):
    """``Scale`` known to model files for the test."""
    monkeypatch.setitem(LAYER_KINDS, "scale", Scale)


def _network(dtype="float64", seed=0, l2=None):
    layers = [Scale("tanh", l2=l2), jp.Dense(6, "tanh"), Scale("tanh"), jp.Dense(3, "softmax")]
    return jp.Network(layers, input_dim=4, loss="cross_entropy", dtype=dtype, seed=seed)


def test_a_new_kind_runs_as_its_numpy_reference(rng):
    net = _network()
    X = rng.normal(size=(50, 4))
    s1, d1, s2, d2 = net.layers
    h = np.tanh(X * s1.w + s1.b)
    h = np.tanh(h @ d1.W + d1.b)
    h = np.tanh(h * s2.w + s2.b)
    z = h @ d2.W + d2.b
    expected = np.exp(z - z.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(net.predict(X), expected, rtol=1e-12, atol=1e-14)


def test_a_new_kind_has_exact_gradients(rng, scale_kind):
    net = _network(l2=0.01)  # the penalty counts its weight matrix, w
    X = rng.normal(size=(30, 4))
    y = rng.integers(0, 3, 30)
    assert jp.gradcheck(net, X, y) < 1e-7
    _, grads = net.loss_and_grads(X, y)
    assert [tuple(g.shape for g in views) for views in grads] == [
        ((4,), (4,)),
        ((4, 6), (6,)),
        ((6,), (6,)),
        ((6, 3), (3,)),
    ]


def test_a_new_kind_trains_bitwise_alike_on_any_thread_count(rng):
    import numba

    X = rng.normal(size=(600, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    results = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        net = _network("float32", seed=3)
        with thread_count(threads):
            history = net.fit(X, y, epochs=4, batch_size=300, optimizer=jp.Adam(0.05), verbose=0)
        results.append((net.params.copy(), history.history["loss"]))
    assert results[0][1][-1] < results[0][1][0]
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1] == results[1][1]


def test_a_new_kind_is_saved_loaded_and_counted(tmp_path, rng, scale_kind):
    net = _network()
    X = rng.normal(size=(20, 4))
    path = tmp_path / "scale.safetensors"
    net.save(path)
    loaded = jp.load(path)
    assert [type(layer) for layer in loaded.layers] == [Scale, jp.Dense, Scale, jp.Dense]
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    rows_ = summary_table(net)
    assert [row.name for row in rows_] == ["scale", "dense", "scale_1", "dense_1", "loss"]
    assert rows_[0].params == 8 and rows_[0].forward_flops == 8


def test_a_dense_network_compiles_no_kernel_of_another_kind():
    # In a fresh process where Scale is registered: fitting and evaluating a
    # dense network compiles (or loads) neither of Scale's kernels.
    script = textwrap.dedent(
        """
        import json, sys
        sys.path.insert(0, sys.argv[1])
        import numpy as np
        import jitprop as jp
        import test_layer_kinds as plugin

        X = np.random.default_rng(0).random((40, 5))
        y = np.arange(40) % 3
        net = jp.Network([jp.Dense(8, "relu"), jp.Dense(3, "softmax")], input_dim=5, loss="cross_entropy", seed=0)
        net.fit(X, y, epochs=1, batch_size=8, optimizer=jp.Adam(), verbose=0)
        net.evaluate(X, y)
        print(json.dumps([len(plugin.scale_forward.signatures), len(plugin.scale_backward.signatures)]))
        """
    )
    here = os.path.dirname(os.path.abspath(__file__))
    run = subprocess.run([sys.executable, "-c", script, here], capture_output=True, text=True, env=dict(os.environ))
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == [0, 0]


def test_examples_of_several_axes_reach_a_kind_in_c_order(rng, tmp_path, scale_kind):
    net = jp.Network([Scale("identity")], input_shape=(2, 3), loss="mse", dtype="float64", seed=0)
    X = rng.normal(size=(5, 2, 3))
    layer = net.layers[0]
    expected = X * layer.w + layer.b.reshape(2, 3)  # (5, 2, 3): predict gives examples the output's shape
    np.testing.assert_allclose(net.predict(X), expected, rtol=1e-15)
    # Examples already flattened in C order are taken as they are; other shapes are named.
    np.testing.assert_array_equal(net.predict(X.reshape(5, 6)), net.predict(X))
    with pytest.raises(ValueError, match=r"X must have shape \(n_samples, 2, 3\) .* or \(n_samples, 6\) .*\(5, 3, 2\)"):
        net.predict(X.reshape(5, 3, 2))
    net.save(tmp_path / "shaped.safetensors")
    loaded = jp.load(tmp_path / "shaped.safetensors")
    assert loaded.input_shape == (2, 3)
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
