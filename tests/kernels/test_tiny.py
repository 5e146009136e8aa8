"""A tiny network's batches written into the epoch (kernels.tiny) train bit for bit as its tiles would."""

import numpy as np
import pytest

import jitprop as jp
from jitprop import training
from jitprop.kernels.tiny import trains_tiny
from jitprop.kernels.workspace import plan_tile_rows

# (sizes, hidden, output, loss, batch size): every activation, each kind of loss delta.
NETWORKS = [
    ((2, 2, 2), "sigmoid", "sigmoid", "mse", 1),
    ((2, 2, 2), "sigmoid", "sigmoid", "mse", 64),
    ((3, 4, 2), "tanh", "identity", "mse", 4),
    ((3, 4, 3), "relu", "softmax", "cross_entropy", 5),
    ((3, 4, 3), "leaky_relu", "softmax", "mse", 2),
    ((2, 5, 1), "elu", "exp", "mse", 3),
    ((2, 5, 2), "softplus", "sigmoid", "binary_cross_entropy", 6),
    ((4, 3, 3, 2), "gelu", "exp", "poisson", 2),
    ((3, 2), None, "softmax", "cross_entropy", 7),
    ((4, 1), None, "sigmoid", "binary_cross_entropy", 16),
]


def _data(sizes, loss, dtype, rng, n=90):
    X = rng.normal(size=(n, sizes[0])).astype(dtype)
    k = sizes[-1]
    if loss == "cross_entropy":
        return X, rng.integers(0, k, n)
    if loss == "binary_cross_entropy":
        return X, (rng.random((n, k)) > 0.5).astype(dtype)
    if loss == "poisson":
        return X, rng.poisson(1.0, size=(n, k)).astype(dtype)
    return X, rng.random((n, k)).astype(dtype)


def _trained(monkeypatch, tiny, sizes, hidden, output, loss, batch, dtype, **fit):
    """Parameters and history (but its timings) after a fit, by the tiny batch (``tiny``) or by tiles."""
    rng = np.random.default_rng(5)
    X, y = _data(sizes, loss, dtype, rng)
    layers = [jp.Dense(units, hidden, alpha=0.3 if hidden == "leaky_relu" else None) for units in sizes[1:-1]]
    net = jp.Network([*layers, jp.Dense(sizes[-1], output)], input_dim=sizes[0], loss=loss, dtype=dtype, seed=3)
    with monkeypatch.context() as patch:
        if not tiny:
            patch.setattr(training, "trains_tiny", lambda *args: False)
        history = net.fit(X, y, epochs=2, batch_size=batch, **{"verbose": 0, **fit})
    setups = list(net._epoch_setups.values())
    assert [setup.tiny for setup in setups] == [
        net.optimizer.code if tiny else None
    ]  # (the rule's, written in for SGD)
    measured = ("seconds", "examples_per_second")
    return net.params.copy(), {key: value for key, value in history.history.items() if key not in measured}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("network", NETWORKS, ids=lambda n: "-".join(map(str, n[0])) + f"-{n[1] or n[2]}-b{n[4]}")
def test_tiny_batches_train_as_tiles_do(monkeypatch, network, dtype):
    optimizer = dict(optimizer=jp.SGD(lr=0.05, momentum=0.5))
    tiny_params, tiny_history = _trained(monkeypatch, True, *network, dtype, **optimizer)
    optimizer = dict(optimizer=jp.SGD(lr=0.05, momentum=0.5))
    tile_params, tile_history = _trained(monkeypatch, False, *network, dtype, **optimizer)
    assert tiny_params.tobytes() == tile_params.tobytes()
    assert tiny_history == tile_history


@pytest.mark.parametrize(
    "fit",
    [
        lambda: dict(optimizer=jp.Adam(lr=0.01), clip_norm=0.5),
        lambda: dict(optimizer=jp.SGD(lr=0.1), sample_weight=np.linspace(0.0, 2.0, 90)),
        lambda: dict(optimizer=jp.RMSprop(lr=0.01), class_weight="balanced"),
        lambda: dict(optimizer=jp.SGD(lr=0.1), validation_split=0.2),
        lambda: dict(optimizer=jp.SGD(lr=0.1), verbose=1),
    ],
    ids=["adam-clipped", "weighted", "rmsprop-class-weights", "validated", "in-segments"],
)
def test_tiny_batches_take_the_epochs_other_paths(monkeypatch, fit):
    network = ((3, 4, 3), "relu", "softmax", "cross_entropy", 4)
    tiny_params, tiny_history = _trained(monkeypatch, True, *network, "float32", **fit())
    tile_params, tile_history = _trained(monkeypatch, False, *network, "float32", **fit())
    assert tiny_params.tobytes() == tile_params.tobytes()
    assert tiny_history == tile_history


def test_a_diverging_tiny_network_stops_where_its_tiles_would(monkeypatch):
    results = []
    for tiny in (True, False):
        rng = np.random.default_rng(0)
        X = (rng.normal(size=(40, 2)) * 1e3).astype(np.float32)
        y = (rng.normal(size=(40, 2)) * 1e30).astype(np.float32)
        net = jp.Network([jp.Dense(2, "identity"), jp.Dense(2)], input_dim=2, loss="mse", seed=0)
        with monkeypatch.context() as patch:
            if not tiny:
                patch.setattr(training, "trains_tiny", lambda *args: False)
            with pytest.raises(jp.errors.DivergenceError) as caught:
                net.fit(X, y, epochs=1, batch_size=1, optimizer=jp.SGD(lr=1.0), verbose=0, shuffle=False)
        results.append((str(caught.value), net.params.tobytes()))
    assert results[0] == results[1]


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_a_gradient_that_overflows_under_a_finite_loss_stops_a_tiny_network_where_its_tiles_would(
    monkeypatch, momentum
):
    # z ≈ 2e18: a finite loss of about 4e36, but a weight gradient 2·z·x ≈ 4e39, past float32's range. (The
    # tiny network's SGD finds it by the parameters it makes infinite; the tiles' step by the gradient.)
    X = np.full((6, 2), 1e21, dtype=np.float32)
    X[:3] = 0.5
    y = np.zeros((6, 1), dtype=np.float32)
    results = []
    for tiny in (True, False):
        net = jp.Network([jp.Dense(1, "identity")], input_dim=2, loss="mse", seed=0)
        net.params[:] = 1e-3
        with monkeypatch.context() as patch:
            if not tiny:
                patch.setattr(training, "trains_tiny", lambda *args: False)
            with pytest.raises(jp.errors.DivergenceError) as caught:
                net.fit(
                    X, y, epochs=1, batch_size=1, optimizer=jp.SGD(lr=0.1, momentum=momentum), verbose=0, shuffle=False
                )
        assert np.isfinite(net.params).all()
        results.append((str(caught.value), net.params.tobytes(), [setup.tiny for setup in net._epoch_setups.values()]))
    assert results[0][:2] == results[1][:2] and "batch 3" in results[0][0]
    assert results[0][2] == [jp.SGD.code] and results[1][2] == [None]


def _layout(layers, input_dim, batch=1):
    net = jp.Network(layers, input_dim=input_dim, loss="mse", seed=0)
    return net.layout, plan_tile_rows(batch, net.layout, net.n_params)


def test_which_networks_train_tiny():
    layout, rows = _layout([jp.Dense(2, "sigmoid"), jp.Dense(2, "sigmoid")], 2)
    assert trains_tiny(layout, 1, rows)
    assert trains_tiny(layout, 64, 64)  # (64 rows of 2 x 2: SMALL_PRODUCT multiply-adds)
    assert not trains_tiny(layout, 65, 65)
    assert not trains_tiny(layout, 8, 4)  # a batch of two tiles
    # A product of more inputs than the dense kind writes out, or one over packed panels.
    layout, rows = _layout([jp.Dense(2)], 8)
    assert not trains_tiny(layout, 1, rows)
    layout, rows = _layout([jp.Dense(16), jp.Dense(2)], 4)
    assert not trains_tiny(layout, 1, rows)
    layout, rows = _layout([jp.Dense(3), jp.Dropout(0.5), jp.Dense(2)], 2)
    assert not trains_tiny(layout, 1, rows)
    net = jp.Network([jp.Conv1D(2, 2), jp.Flatten(), jp.Dense(2)], input_shape=(4, 1), loss="mse", seed=0)
    assert not trains_tiny(net.layout, 1, plan_tile_rows(1, net.layout, net.n_params))
