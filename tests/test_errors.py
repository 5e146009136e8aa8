"""Errors: bad input named by argument, expected and received value; the error classes of jitprop.errors.

The ``classifier`` fixture (conftest.py) is a small float64 network.
"""

import pickle
import re

import numpy as np
import pytest

import jitprop as jp
from helpers import make_network


# ------------------------------------------------------------ fixtures
@pytest.fixture
def data(rng):
    return rng.normal(size=(10, 5)), rng.integers(0, 3, size=10)


def _every_entry_point(net, X, y):
    """Call each method that takes data; used to check they all validate the same way."""
    return [
        lambda: net.fit(X, y, epochs=1),
        lambda: net.evaluate(X, y),
        lambda: net.loss_and_grads(X, y),
    ]


# ------------------------------------------------------------------- X
@pytest.mark.parametrize("method", ["fit", "evaluate", "loss_and_grads", "predict"])
def test_X_must_be_2d(classifier, data, method):
    X, y = data
    call = getattr(classifier, method)
    args = (X[:, 0],) if method == "predict" else (X[:, 0], y)
    with pytest.raises(ValueError, match=r"2-D array for X, got 1-D with shape \(10,\).*X\.reshape\(-1, 1\)"):
        call(*args)
    args = (X[None],) if method == "predict" else (X[None], y)
    with pytest.raises(ValueError, match=r"2-D array for X, got 3-D with shape \(1, 10, 5\)"):
        call(*args)


@pytest.mark.parametrize("method", ["fit", "evaluate", "loss_and_grads", "predict"])
def test_wrong_feature_count(classifier, data, method):
    X, y = data
    call = getattr(classifier, method)
    args = (X[:, :4],) if method == "predict" else (X[:, :4], y)
    with pytest.raises(ValueError, match=r"X has 4 features, but the network expects 5"):
        call(*args)


def test_empty_X(classifier):
    with pytest.raises(ValueError, match=r"X has 0 examples \(shape \(0, 5\)\)"):
        classifier.fit(np.zeros((0, 5)), np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match=r"X has 0 examples"):
        classifier.predict(np.zeros((0, 5)))


def test_X_and_y_of_different_lengths(classifier, data):
    X, y = data
    for call in _every_entry_point(classifier, X, y[:9]):
        with pytest.raises(ValueError, match=r"X and y have different numbers of examples: 10 and 9"):
            call()


@pytest.mark.parametrize("bad,word", [(np.nan, "NaN"), (np.inf, "infinity"), (-np.inf, "infinity")])
def test_non_finite_X_names_row_and_column(classifier, data, bad, word):
    X, y = data
    X = X.copy()
    X[7, 3] = bad
    X[8, 1] = bad
    for call in _every_entry_point(classifier, X, y) + [lambda: classifier.predict(X)]:
        with pytest.raises(ValueError, match=rf"Input X contains {word} \(first at row 7, column 3\)"):
            call()


@pytest.mark.parametrize("bad,word", [(np.nan, "NaN"), (np.inf, "infinity")])
def test_non_finite_y_names_the_row(rng, bad, word):
    net = make_network([5, 2], ["identity"], "mse", "float64")
    X = rng.normal(size=(6, 5))
    y = rng.normal(size=(6, 2))
    y[4, 1] = bad
    with pytest.raises(ValueError, match=rf"Input y contains {word} \(first at row 4, column 1\)"):
        net.fit(X, y)
    with pytest.raises(ValueError, match=rf"Input y contains {word} \(first at row 2\)"):
        make_network([5, 1], ["identity"], "mse", "float64").evaluate(X, np.array([0, 1, bad, 0, 0, 0]))


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_X_that_overflows_the_network_dtype(rng):
    net = make_network([2, 1], ["identity"], "mse", "float32")
    X = np.array([[1.0, 2.0], [1e300, 0.0]])
    with pytest.raises(ValueError, match=r"Input X contains infinity \(first at row 1, column 0\)"):
        net.predict(X)


@pytest.mark.parametrize(
    "X,kind",
    [
        (np.array([["a", "b", "c", "d", "e"]]), "<U1"),
        (np.array([[1, 2, 3, 4, 5]], dtype=object), "object"),
        (np.ones((1, 5), dtype=complex), "complex128"),
    ],
    ids=["str", "object", "complex"],
)
def test_X_of_a_non_real_dtype(classifier, X, kind):
    with pytest.raises(TypeError, match=rf"X must hold real numbers, got an array of dtype {kind}"):
        classifier.predict(X)
    with pytest.raises(TypeError, match=rf"X must hold real numbers, got an array of dtype {kind}"):
        classifier.fit(X, [0])


def test_y_of_a_non_real_dtype(classifier, data):
    X, _ = data
    with pytest.raises(TypeError, match=r"y must hold real numbers, got an array of dtype <U1"):
        classifier.fit(X, np.array(list("abcabcabca")))
    with pytest.raises(TypeError, match=r"y must hold real numbers, got an array of dtype complex128"):
        classifier.evaluate(X, np.zeros(10, dtype=complex))


def test_ragged_input_is_a_type_error(classifier):
    with pytest.raises(TypeError, match=r"X could not be read as an array"):
        classifier.predict([[1.0, 2.0], [3.0]])


def test_integer_and_boolean_X_are_accepted(classifier, data):
    X, y = data
    out = classifier.predict((X > 0).astype(np.int32))
    np.testing.assert_array_equal(out, classifier.predict(X > 0))
    assert np.isfinite(out).all()


# ------------------------------------------------------------------- y
def test_labels_out_of_range(classifier, data):
    X, y = data
    y = y.copy()
    y[6] = 3
    expected = r"Class label 3 at row 6 of y is outside the network's 3 outputs \(expected 0 to 2\)"
    with pytest.raises(ValueError, match=expected):
        classifier.fit(X, y)
    y[6] = -1
    with pytest.raises(ValueError, match=r"Class label -1 at row 6 of y is outside"):
        classifier.evaluate(X, y)


def test_labels_must_be_integers(classifier, data):
    X, y = data
    y = y.astype(float)
    y[2] = 1.5
    with pytest.raises(ValueError, match=r"Class labels in y must be integers; row 2 has .*1\.5"):
        classifier.loss_and_grads(X, y)


def test_target_rows_of_the_wrong_width(classifier, data):
    X, _ = data
    with pytest.raises(ValueError, match=r"y has 4 columns, but the network has 3 outputs"):
        classifier.fit(X, np.zeros((10, 4)))


def test_y_of_the_wrong_dimension(classifier, data):
    X, _ = data
    with pytest.raises(ValueError, match=re.escape("Expected y of shape (n,) or (n, 3), got shape (10, 3, 1)")):
        classifier.fit(X, np.zeros((10, 3, 1)))


def test_1d_y_needs_a_single_output(rng):
    net = make_network([5, 3], ["identity"], "mse", "float64")
    expected = "y has shape (10,), but the network has 3 outputs; expected shape (10, 3)"
    with pytest.raises(ValueError, match=re.escape(expected)):
        net.fit(rng.normal(size=(10, 5)), rng.normal(size=10))


@pytest.mark.parametrize("bad", [1.5, -0.25])
def test_binary_cross_entropy_targets_outside_0_1(rng, bad):
    net = make_network([5, 2], ["sigmoid"], "binary_cross_entropy", "float64")
    y = np.ones((10, 2))
    y[3, 1] = bad
    with pytest.raises(ValueError, match=rf"must lie in \[0, 1\]; y\[3, 1\] = .*{re.escape(str(bad))}"):
        net.fit(rng.normal(size=(10, 5)), y)


# ------------------------------------------------------ hyper-parameters
@pytest.mark.parametrize("lr", [0, -0.1, np.nan, np.inf, "0.1", None, True])
def test_learning_rate_must_be_positive_and_finite(lr):
    with pytest.raises(ValueError, match=rf"lr must be a finite number > 0, got {re.escape(repr(lr))}"):
        jp.SGD(lr=lr)


@pytest.mark.parametrize("name", ["epochs", "batch_size"])
@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_epochs_and_batch_size_must_be_positive_integers(classifier, data, name, value):
    X, y = data
    with pytest.raises(ValueError, match=rf"{name} must be a positive integer, got {re.escape(repr(value))}"):
        classifier.fit(X, y, **{name: value})


@pytest.mark.parametrize("momentum", [-0.1, 1.0, 2.0, np.nan])
def test_momentum_in_0_1(momentum):
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\)"):
        jp.SGD(lr=0.1, momentum=momentum)


def test_nesterov_needs_momentum():
    with pytest.raises(ValueError, match=r"nesterov=True requires momentum > 0"):
        jp.SGD(lr=0.1, nesterov=True)


@pytest.mark.parametrize("weight_decay", [-1e-3, np.inf, np.nan])
def test_weight_decay_finite_and_non_negative(weight_decay):
    with pytest.raises(ValueError, match=r"weight_decay must be in \[0, inf\), got"):
        jp.SGD(lr=0.1, weight_decay=weight_decay)


@pytest.mark.parametrize("name", ["momentum", "weight_decay"])
@pytest.mark.parametrize("value", ["0.5", None])
def test_hyperparameters_of_the_wrong_type_are_named_in_the_error(name, value):
    # lr="0.1" gets "lr must be a finite number > 0, got '0.1'"; the other
    # hyper-parameters should say as much.
    with pytest.raises((TypeError, ValueError), match=rf"{name} must be"):
        jp.SGD(lr=0.1, **{name: value})


def test_optimizer_must_be_a_jitprop_optimizer(classifier, data):
    X, y = data
    with pytest.raises(TypeError, match=r"optimizer must be a jitprop Optimizer"):
        classifier.fit(X, y, optimizer="sgd")


# -------------------------------------------------------- architecture
def test_unknown_activation_lists_the_valid_ones():
    expected = r"Unknown activation 'swish'; expected one of .*elu.*gelu.*relu.*softmax.*tanh"
    with pytest.raises(ValueError, match=expected):
        jp.Dense(3, "swish")


def test_unknown_loss_lists_the_valid_ones():
    with pytest.raises(
        ValueError, match=r"Unknown loss 'hinge'; expected one of binary_cross_entropy, cross_entropy, mse"
    ):
        jp.Network([jp.Dense(2)], input_dim=3, loss="hinge")


def test_unknown_initializer_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"Unknown init 'ones'; expected one of .*glorot_uniform.*he_normal"):
        jp.Dense(3, "relu", init="ones")


@pytest.mark.parametrize("units", [0, -2, 2.5, True, "3"])
def test_units_must_be_a_positive_integer(units):
    with pytest.raises(ValueError, match=rf"units must be a positive integer, got {re.escape(repr(units))}"):
        jp.Dense(units)


@pytest.mark.parametrize("alpha", [-0.1, np.inf, np.nan])
def test_alpha_must_be_finite_and_non_negative(alpha):
    with pytest.raises(ValueError, match=r"alpha must be a finite number >= 0"):
        jp.Dense(3, "leaky_relu", alpha=alpha)


def test_softmax_on_a_hidden_layer():
    with pytest.raises(ValueError, match=r"softmax is only allowed on the output layer, but (Dense )?layer 1 uses it"):
        jp.Network(
            [jp.Dense(4, "relu"), jp.Dense(4, "softmax"), jp.Dense(2, "softmax")], input_dim=3, loss="cross_entropy"
        )


@pytest.mark.parametrize(
    "loss,output,needed",
    [
        ("cross_entropy", "sigmoid", "softmax"),
        ("cross_entropy", "identity", "softmax"),
        ("binary_cross_entropy", "softmax", "sigmoid"),
    ],
)
def test_loss_needs_its_output_activation(loss, output, needed):
    expected = rf"loss='{loss}' needs a '{needed}' output layer, but the last layer uses '{output}'"
    with pytest.raises(ValueError, match=expected):
        jp.Network([jp.Dense(4, "relu"), jp.Dense(2, output)], input_dim=3, loss=loss)


def test_a_layer_belongs_to_one_network():
    shared = jp.Dense(2)
    jp.Network([jp.Dense(4, "tanh"), shared], input_dim=3)
    with pytest.raises(ValueError, match=r"already belongs to a network"):
        jp.Network([jp.Dense(4, "tanh"), shared], input_dim=3)
    twice = jp.Dense(3, "tanh")
    with pytest.raises(ValueError, match=r"already belongs to a network"):
        jp.Network([twice, twice], input_dim=3)


@pytest.mark.parametrize("layers", [[], [jp.Dense], ["relu"], (jp.Dense(2, "tanh"), "softmax")])
def test_layers_must_be_dense_layers(layers):
    with pytest.raises(TypeError, match=r"layers must be a non-empty list of layers \(Dense, Dropout, "):
        jp.Network(layers, input_dim=3)


@pytest.mark.parametrize("layers", [jp.Dense(2), None], ids=["one-Dense-not-in-a-list", "None"])
def test_layers_that_are_not_a_list_are_named_in_the_error(layers):
    # A common slip: Network(Dense(10, "softmax"), ...) without the brackets.
    with pytest.raises(TypeError, match=r"layers must be a non-empty list of layers \(Dense, Dropout, "):
        jp.Network(layers, input_dim=3)


@pytest.mark.parametrize("input_dim", [0, -1, 2.0, True])
def test_input_dim_must_be_a_positive_integer(input_dim):
    with pytest.raises(ValueError, match=rf"input_dim must be a positive integer, got {re.escape(repr(input_dim))}"):
        jp.Network([jp.Dense(2)], input_dim=input_dim)


@pytest.mark.parametrize("dtype", ["float16", "int32", "double precision", np.complex64])
def test_dtype_must_be_float32_or_float64(dtype):
    with pytest.raises(ValueError, match=r"dtype must be 'float32' or 'float64', got"):
        jp.Network([jp.Dense(2)], input_dim=3, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.dtype("float64"), "f8"])
def test_dtype_accepts_numpy_spellings(dtype):
    assert jp.Network([jp.Dense(2)], input_dim=3, dtype=dtype).params.dtype == np.dtype(dtype)


@pytest.mark.parametrize("seed", [1.5, "0", True])
def test_seed_must_be_an_integer(seed):
    with pytest.raises(TypeError, match=rf"seed must be an integer or None, got {re.escape(repr(seed))}"):
        jp.Network([jp.Dense(2)], input_dim=3, seed=seed)


# ----------------------------------------------------------- divergence
def _regression(rng, dtype):
    X = rng.normal(size=(64, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1
    return jp.Network([jp.Dense(1)], input_dim=3, loss="mse", dtype=dtype, seed=0), X, y


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_huge_learning_rate_raises_divergence_error(rng, dtype):
    net, X, y = _regression(rng, dtype)
    with pytest.raises(jp.DivergenceError, match=r"diverged.*NaN or infinite at epoch \d+, batch 0.*lr=1e\+06") as info:
        net.fit(X, y, epochs=100, batch_size=64, optimizer=jp.SGD(lr=1e6), shuffle=False)
    assert isinstance(info.value, ArithmeticError) and isinstance(info.value, ValueError)
    assert info.value.batch == 0 and info.value.epoch >= 1
    # The network keeps the last finite weights: those of `epoch` full-batch steps.
    assert np.isfinite(net.params).all()
    replay, _, _ = _regression(np.random.default_rng(0), dtype)
    replay.fit(X, y, epochs=info.value.epoch, batch_size=64, optimizer=jp.SGD(lr=1e6), shuffle=False)
    np.testing.assert_array_equal(net.params, replay.params)
    assert np.isfinite(net.predict(X)).all()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_divergence_in_a_mini_batch_keeps_finite_weights(rng, dtype):
    net = jp.Network([jp.Dense(8, "relu"), jp.Dense(1)], input_dim=3, loss="mse", dtype=dtype, seed=0)
    _, X, y = _regression(rng, dtype)
    with pytest.raises(jp.DivergenceError) as info:
        net.fit(X, y, epochs=200, batch_size=8, optimizer=jp.SGD(lr=1e3, momentum=0.9))
    assert 0 <= info.value.batch < 8
    assert np.isfinite(net.params).all()
    assert all(np.isfinite(layer.W).all() and np.isfinite(layer.b).all() for layer in net.layers)


# ------------------------------------------------------- the error classes
def test_every_error_class_is_in_jitprop_errors_and_where_the_api_documents_it():
    from jitprop import _threading, errors

    assert {name: cls.__mro__[1] for name, cls in vars(errors).items() if name in errors.__all__} == {
        "DataError": ValueError,
        "DivergenceError": ValueError,
        "Interrupted": KeyboardInterrupt,
        "ModelFileError": ValueError,
        "RankError": RuntimeError,
        "ThreadingLayerError": RuntimeError,
        "UsageError": ValueError,
    }
    assert jp.DivergenceError.__bases__ == (ValueError, ArithmeticError)  # caught as either, as scikit-learn's is
    assert jp.DivergenceError is errors.DivergenceError and jp.ModelFileError is errors.ModelFileError
    assert errors.ThreadingLayerError is _threading.ThreadingLayerError  # raised there, below everything else
    for name in errors.__all__:  # each listed in the module's table
        assert f":class:`{name}`" in errors.__doc__


def test_rank_error_names_the_rank_and_what_the_ranks_were_doing():
    error = jp.RankError(1, 4, "epoch 2, batch 7", "ValueError: bad shard")
    assert str(error) == "rank 1 of 4 failed (epoch 2, batch 7): ValueError: bad shard"
    again = pickle.loads(pickle.dumps(error))
    assert (again.rank, again.size, again.where, again.message, str(again)) == (
        1,
        4,
        "epoch 2, batch 7",
        "ValueError: bad shard",
        str(error),
    )


def test_model_file_error_and_divergence_error_carry_what_went_wrong():
    error = jp.ModelFileError("m.safetensors", "it is empty")
    assert (error.path, error.reason) == ("m.safetensors", "it is empty")
    assert str(error) == "Cannot load jitprop model file 'm.safetensors': it is empty"
    diverged = jp.DivergenceError(epoch=3, batch=7, lr=0.5)
    assert (diverged.epoch, diverged.batch) == (3, 7)
    assert "epoch 3, batch 7" in str(diverged) and "lr=0.5" in str(diverged)
    again = pickle.loads(pickle.dumps(diverged))  # as a worker process hands it back
    assert (again.epoch, again.batch, again.lr, str(again)) == (3, 7, 0.5, str(diverged))
