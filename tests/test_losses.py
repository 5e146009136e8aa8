"""The losses' registry: what each loss requires of the network, its cost, and how it relates to scikit-learn's."""

import warnings

import numpy as np
import pytest

import jitprop as jp
import jitprop.losses as losses
from jitprop.activations import ACTIVATIONS
from jitprop.losses import LOSSES, get_loss


@pytest.mark.parametrize("name", list(LOSSES))
def test_every_entry_is_complete(name):
    spec = LOSSES[name]
    assert spec.name == name
    assert spec.output_activation is None or spec.output_activation in ACTIVATIONS
    assert all(isinstance(count, int) and count > 0 for count in spec.flops) and len(spec.flops) == 2
    assert spec.formula and spec.sklearn_name and spec.sklearn_ratio > 0


def test_what_each_loss_requires_and_reports():
    requires = {name: (spec.output_activation, spec.over_outputs, spec.classification) for name, spec in LOSSES.items()}
    assert requires == {
        "mse": (None, True, False),
        "cross_entropy": ("softmax", False, True),
        "binary_cross_entropy": ("sigmoid", True, True),
        "poisson": ("exp", True, False),
    }
    assert len({spec.code for spec in LOSSES.values()}) == len(LOSSES)


@pytest.mark.parametrize("k", [1, 2, 3, 7, 10])
def test_scale_to_scikit_learn_by_number_of_outputs(k):
    # The same floats as 2 / k (squared error's ½, summed over outputs) and 1 / k (log loss summed over labels).
    assert LOSSES["mse"].sklearn_scale(k) == 2.0 / k
    assert LOSSES["binary_cross_entropy"].sklearn_scale(k) == 1.0 / k
    assert LOSSES["cross_entropy"].sklearn_scale(k) == 1.0
    assert LOSSES["poisson"].sklearn_scale(k) == 1.0 / k  # half the deviance, summed over outputs by scikit-learn


def test_scikit_learn_names_are_its_estimators_losses():
    neural_network = pytest.importorskip("sklearn.neural_network")
    assert LOSSES["mse"].sklearn_name == neural_network.MLPRegressor().loss
    assert neural_network.MLPRegressor(loss=LOSSES["poisson"].sklearn_name).get_params()["loss"] == "poisson"
    assert LOSSES["cross_entropy"].sklearn_name == LOSSES["binary_cross_entropy"].sklearn_name
    assert LOSSES["cross_entropy"].sklearn_name == neural_network.MLPClassifier().loss


def _targets(rng, name, n, k):
    """(scikit-learn's y, jitprop's y) for ``name`` with ``k`` outputs."""
    if name == "mse":
        y = rng.normal(size=(n, k))
        return (y.ravel() if k == 1 else y), y
    if name == "cross_entropy":
        labels = rng.integers(0, k, n)
        return labels, labels
    if name == "poisson":
        y = rng.poisson(2.0, size=(n, k)).astype(np.float64)
        return (y.ravel() if k == 1 else y), y
    y = (rng.random((n, k)) > 0.5).astype(np.int64)  # one label: two classes; more: multi-label
    return (y.ravel() if k == 1 else y), y.astype(np.float64)


@pytest.mark.parametrize(
    "name,k",
    [
        ("mse", 1),
        ("mse", 3),
        ("cross_entropy", 3),
        ("binary_cross_entropy", 1),
        ("binary_cross_entropy", 3),
        ("poisson", 1),
        ("poisson", 3),
    ],
)
def test_scale_is_the_ratio_of_the_gradients_to_scikit_learns(rng, name, k):
    """From the same weights, jitprop's gradient is ``sklearn_scale(k)`` times the one scikit-learn's MLP steps along.

    scikit-learn's gradient is read off one full-batch SGD step without
    momentum or penalty: ``(before − after) / rate``.
    """
    neural_network = pytest.importorskip("sklearn.neural_network")
    spec, n, rate = LOSSES[name], 12, 0.1
    X = rng.normal(size=(n, 4))
    y_sklearn, y = _targets(rng, name, n, k)
    regression = {} if spec.classification else {"loss": spec.sklearn_name}
    estimator = (neural_network.MLPClassifier if spec.classification else neural_network.MLPRegressor)(
        **regression, hidden_layer_sizes=(), solver="sgd", learning_rate_init=rate, momentum=0.0, alpha=0.0,
        batch_size=n, shuffle=False, max_iter=1, warm_start=True, random_state=0,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning after one epoch
        estimator.fit(X, y_sklearn)
        W, b = estimator.coefs_[0].copy(), estimator.intercepts_[0].copy()
        estimator.fit(X, y_sklearn)
    sklearn_grads = ((W - estimator.coefs_[0]) / rate, (b - estimator.intercepts_[0]) / rate)

    net = jp.Network([jp.Dense(k, spec.output_activation or "identity")], input_dim=4, loss=name, dtype="float64")
    net.layers[0].W[...], net.layers[0].b[...] = W, b
    _, [grads] = net.loss_and_grads(X, y)
    for ours, theirs in zip(grads, sklearn_grads):
        np.testing.assert_allclose(ours, spec.sklearn_scale(k) * theirs, rtol=1e-9, atol=1e-12)


def test_the_documentation_table_is_built_from_the_entries():
    lines = losses.__doc__.splitlines()
    rows = {line.split()[0]: line for line in lines if line.split() and line.split()[0] in LOSSES}
    assert set(rows) == set(LOSSES)
    for name, spec in LOSSES.items():
        assert spec.formula in rows[name] and spec.sklearn_name in rows[name]
    assert "¹ softmax with ``mse`` is allowed" in losses.__doc__


def test_poisson_loss_is_half_the_deviance_scikit_learn_reports(rng):
    """From the same weights, jitprop's Poisson loss is scikit-learn's ``half_poisson`` value, constant included."""
    _loss = pytest.importorskip("sklearn.neural_network._base")
    X = rng.normal(size=(30, 4))
    y = rng.poisson(2.0, size=(30, 2)).astype(np.float64)  # zeros among them: 0·log 0 = 0
    net = jp.Network([jp.Dense(2, "exp")], input_dim=4, loss="poisson", dtype="float64", seed=3)
    theirs = _loss.poisson_loss(y, net.predict(X))  # summed over the outputs
    assert net.evaluate(X, y)["loss"] == pytest.approx(LOSSES["poisson"].sklearn_scale(2) * theirs, rel=1e-12)


def test_poisson_targets_must_not_be_negative():
    net = jp.Network([jp.Dense(1, "exp")], input_dim=2, loss="poisson")
    with pytest.raises(ValueError, match=r"Targets for poisson must be >= 0; y\[1, 0\] = -1.0"):
        net.evaluate(np.zeros((2, 2)), [1.0, -1.0])
    with pytest.raises(ValueError, match="loss='poisson' needs a 'exp' output layer"):
        jp.Network([jp.Dense(1)], input_dim=2, loss="poisson")


def test_an_unknown_name_lists_the_valid_ones():
    expected = "Unknown loss 'hinge'; expected one of binary_cross_entropy, cross_entropy, mse, poisson"
    with pytest.raises(ValueError, match=expected):
        get_loss("hinge")
