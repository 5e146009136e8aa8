"""The dense layer's kernels (jitprop/kernels/dense.py): packing the weights' panels."""

import numpy as np
import pytest


@pytest.mark.parametrize("hidden", [30, 300])
def test_pack_weights_packs_every_product_that_reads_panels(rng, hidden):
    """Panels of under 65,536 weights are packed serially, larger ones (hidden=300: 95,152) by parallel tasks."""
    import jitprop as jp
    from jitprop.kernels.batch import chunking
    from jitprop.kernels.dense import pack_weights
    from jitprop.kernels.panels import columns_for_itemsize

    layers = [jp.Dense(hidden, "relu"), jp.Dense(hidden + 1, "relu"), jp.Dense(7, "softmax")]
    net = jp.Network(layers, 5, "cross_entropy")
    net.params[...] = rng.normal(size=net.n_params)
    net._packed[...] = np.nan
    pack_weights(net.model, chunking(net.n_params))
    columns = columns_for_itemsize(4)  # float32: two vectors
    for i in range(3):
        fan_in, fan_out = (int(v) for v in net.layout.sizes[i : i + 2])
        wt = net.dense_layers[i].W.T
        start = net.layout.forward_panels[i]
        if fan_out < 16 or fan_in >= 128:
            assert start == -1  # the 7 outputs, and 300 inputs, run as dot products
        else:
            count = -(-fan_out // columns)
            panels = net._packed[start : start + count * fan_in * columns].reshape(count, fan_in, columns)
            padded = np.zeros((count * columns, fan_in), np.float32)
            padded[:fan_out] = wt
            np.testing.assert_array_equal(panels, padded.reshape(count, columns, fan_in).transpose(0, 2, 1))
        start = net.layout.backward_panels[i]
        if i == 0 or fan_in < 8:
            assert start == -1  # no input gradient for the first layer, nor panels for 5 inputs
        else:
            count = -(-fan_in // columns)
            panels = net._packed[start : start + count * fan_out * columns].reshape(count, fan_out, columns)
            padded = np.zeros((fan_out, count * columns), np.float32)
            padded[:, :fan_in] = wt
            np.testing.assert_array_equal(panels, padded.reshape(fan_out, count, columns).transpose(1, 0, 2))
    assert np.isfinite(net._packed).all()  # every element of the buffer is written
