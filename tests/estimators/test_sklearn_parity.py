"""The estimators as scikit-learn's MLP: every parameter, lbfgs, Poisson, dtypes, divergence, assignable weights.

Most tests here are scikit-learn's own tests of ``MLPClassifier`` and
``MLPRegressor`` (sklearn/neural_network/tests/test_mlp.py), run on jitprop's
estimators, or compare the two libraries on the same problem.
"""

import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.datasets import load_digits, load_iris, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.linear_model import PoissonRegressor  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.preprocessing import MinMaxScaler  # noqa: E402

import jitprop as jp  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore:Stochastic Optimizer. Maximum iterations:sklearn.exceptions.ConvergenceWarning"
)

NON_FINITE = "Solver produced non-finite parameter weights. The input data may contain large values"
X_IRIS, Y_IRIS = load_iris(return_X_y=True)


def _digits(n_class):
    X, y = load_digits(n_class=n_class, return_X_y=True)
    return MinMaxScaler().fit_transform(X[:200]), y[:200]


def _regression():
    X, y = make_regression(n_samples=200, n_features=10, bias=20.0, noise=100.0, random_state=7)
    return X, (y - y.mean()) / y.std()


# ------------------------------------------------------------- parameters
@pytest.mark.parametrize("theirs, ours", [(MLPClassifier, jp.Classifier), (MLPRegressor, jp.Regressor)])
def test_every_parameter_of_scikit_learn_with_its_default(theirs, ours):
    sklearn_params = theirs().get_params()
    estimator = ours(**sklearn_params)  # all of them are accepted
    params = estimator.get_params()
    assert {name: params[name] for name in sklearn_params} == sklearn_params
    assert set(params) - set(sklearn_params) == {"dropout", "dtype", "n_threads"}
    assert ours().get_params()["max_fun"] == 15000 and ours().dtype is None


# --------------------------------------------------------------- dtypes
@pytest.mark.parametrize("dtype, trained", [(np.float32, np.float32), (np.float64, np.float64), (np.int64, np.float64)])
def test_dtype_none_trains_in_the_input_dtype_as_scikit_learn_keeps_it(dtype, trained):
    X = (X_IRIS * 10).astype(dtype)
    regressor = jp.Regressor(hidden_layer_sizes=(5,), max_iter=3).fit(X, Y_IRIS)
    classifier = jp.Classifier(hidden_layer_sizes=(5,), max_iter=3).fit(X, Y_IRIS)
    assert regressor.network_.dtype == classifier.network_.dtype == trained
    assert regressor.predict(X).dtype == classifier.predict_proba(X).dtype == trained
    assert regressor.coefs_[0].dtype == trained
    # Predictions in the dtype scikit-learn's would have: float32 for float32 X through float32 weights only.
    assert regressor.predict(X_IRIS).dtype == np.float64
    forced = jp.Regressor(hidden_layer_sizes=(5,), max_iter=3, dtype="float32").fit(X, Y_IRIS)
    assert forced.network_.dtype == np.float32 and forced.predict(X_IRIS.astype(np.float32)).dtype == np.float32
    assert forced.predict(X_IRIS).dtype == np.float64


def test_a_warm_start_keeps_the_dtype_of_the_first_fit():
    regressor = jp.Regressor(hidden_layer_sizes=(5,), max_iter=2, warm_start=True)
    regressor.fit(X_IRIS.astype(np.float32), Y_IRIS)
    regressor.fit(X_IRIS, Y_IRIS)
    assert regressor.network_.dtype == np.float32


# ------------------------------------------------------------- divergence
def test_divergence_with_early_stopping_keeps_the_best_weights():
    """scikit-learn's test_mlp_diverging_loss: training ends, the last validation score is NaN, the model is kept."""
    params = dict(hidden_layer_sizes=100, activation="identity", solver="sgd", learning_rate_init=1, max_iter=20)
    params.update(early_stopping=True, n_iter_no_change=10, random_state=0)
    diverged = r"Training diverged: .* at epoch \d+, batch \d+ \(learning_rate_init=1\)"
    with pytest.warns(ConvergenceWarning, match=diverged):
        mlp = jp.Regressor(**params).fit(X_IRIS, Y_IRIS)
    assert str(mlp.validation_scores_[-1]) == str(np.nan) and isinstance(mlp.validation_scores_[-1], float)
    assert len(mlp.validation_scores_) == len(mlp.loss_curve_) == mlp.n_iter_ < 20
    best = int(np.nanargmax(mlp.validation_scores_))
    assert mlp.best_validation_score_ == mlp.validation_scores_[best]
    assert mlp.score(X_IRIS[:15], Y_IRIS[:15]) > -np.inf and np.isfinite(mlp.network_.params).all()
    # The weights kept are those of the best epoch: a fit stopped there gives them.
    replay = jp.Regressor(**{**params, "max_iter": best + 1}).fit(X_IRIS, Y_IRIS)
    np.testing.assert_array_equal(replay.network_.params, mlp.network_.params)


def test_divergence_without_early_stopping_is_scikit_learns_value_error():
    params = dict(hidden_layer_sizes=100, activation="identity", solver="sgd", learning_rate_init=1, random_state=0)
    mlp = jp.Regressor(max_iter=20, **params)
    with pytest.raises(ValueError, match=NON_FINITE) as error:
        mlp.fit(X_IRIS, Y_IRIS)
    assert isinstance(error.value, jp.DivergenceError) and isinstance(error.value, ArithmeticError)
    assert "learning_rate_init=1)" in str(error.value) and "lr=" not in str(error.value)
    assert np.isfinite(mlp.network_.params).all()  # the last finite weights


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nonfinite_params(dtype):
    """scikit-learn's test_nonfinite_params, on input of either dtype."""
    rng = np.random.RandomState(0)
    X = (np.finfo(dtype).max * rng.uniform(size=(10, 2))).astype(dtype)
    y = rng.standard_normal(size=10)
    with pytest.raises(ValueError, match=NON_FINITE):
        jp.Regressor().fit(X, y)


def test_float64_input_beyond_float32_with_dtype_float32_names_the_range():
    X = np.finfo(np.float64).max * np.random.RandomState(0).uniform(size=(10, 2))
    with pytest.raises(ValueError, match=NON_FINITE + r".*beyond the range of float32 \(dtype='float32'\)"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # and no overflow warning on the way
            jp.Regressor(dtype="float32").fit(X, np.zeros(10))


def test_early_stopping_refuses_a_class_of_one_member_as_scikit_learn_does():
    """scikit-learn stratifies the validation split of a binary problem only, where it refuses such a class."""
    X, y = X_IRIS[:51], Y_IRIS[:51]  # class 1 has one member
    message = "The least populated classes in y have only 1 member, which is too few"
    with pytest.raises(ValueError, match=message):
        MLPClassifier(early_stopping=True, max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match=message + ".*Classes with too few members are: \\[1\\]"):
        jp.Classifier(early_stopping=True, max_iter=2).fit(X, y)
    for estimator in (MLPClassifier, jp.Classifier):  # three classes, one of one member: both fit
        estimator(early_stopping=True, max_iter=2).fit(X_IRIS[:101], Y_IRIS[:101])


# ------------------------------------------------------- fitted parameters
def test_coefs_and_intercepts_can_be_assigned():
    X, y = _digits(3)
    theirs = MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit(X, y)
    ours = jp.Classifier(hidden_layer_sizes=(8,), max_iter=1, random_state=1).fit(X, y)
    ours.coefs_ = theirs.coefs_
    ours.intercepts_ = theirs.intercepts_
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-12)
    assert not np.shares_memory(ours.coefs_[0], theirs.coefs_[0])  # copied into the network's parameters
    assert np.shares_memory(ours.coefs_[0], ours.network_.params)


def test_assigned_weights_are_checked_before_any_is_written():
    ours = jp.Classifier(hidden_layer_sizes=(4,), max_iter=1).fit(X_IRIS, Y_IRIS)
    before = ours.network_.params.copy()
    good = [c.copy() for c in ours.coefs_]
    cases = [
        ([good[0]], ValueError, r"coefs_ must have 2 arrays, one per layer, got 1"),
        ([good[0], good[1].T], ValueError, r"coefs_\[1\] must have shape \(4, 3\), got \(3, 4\)"),
        ([good[0], good[1] + 1j], TypeError, r"coefs_\[1\] must hold real numbers, got an array of dtype complex128"),
        ([good[0], np.full((4, 3), np.nan)], ValueError, r"coefs_\[1\] contains NaN or infinity"),
        (good[0], TypeError, r"coefs_ must be a list of 2 arrays, one per layer, got ndarray"),
    ]
    for value, error, message in cases:
        with pytest.raises(error, match=message):
            ours.coefs_ = value
    np.testing.assert_array_equal(ours.network_.params, before)
    narrow = jp.Classifier(hidden_layer_sizes=(4,), max_iter=1, dtype="float32").fit(X_IRIS, Y_IRIS)
    with pytest.raises(ValueError, match=r"intercepts_\[0\] holds values too large for the network's dtype float32"):
        narrow.intercepts_ = [np.full(4, 1e300), np.zeros(3)]
    with pytest.raises(NotFittedError, match="coefs_ can be assigned only once the Classifier is fitted"):
        jp.Classifier().coefs_ = good
    assert not hasattr(jp.Classifier(), "coefs_")


def test_partial_fit_is_hidden_for_lbfgs():
    for estimator in (jp.Classifier, jp.Regressor):
        assert not hasattr(estimator(solver="lbfgs"), "partial_fit")
        assert hasattr(estimator(solver="sgd"), "partial_fit")
        with pytest.raises(AttributeError, match="has no attribute 'partial_fit'") as error:
            estimator(solver="lbfgs").partial_fit
        assert "only available for stochastic optimizers. lbfgs is not stochastic" in str(error.value.__cause__)
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")


# ------------------------------------------------------------------ lbfgs
@pytest.mark.parametrize("n_class", [3, 2])
@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
def test_lbfgs_classification_as_scikit_learns(n_class, activation):
    """scikit-learn's test_lbfgs_classification: > 0.95 on the training part, and here its score within 0.01."""
    X, y = _digits(n_class)
    params = dict(solver="lbfgs", hidden_layer_sizes=50, max_iter=150, random_state=1, activation=activation)
    theirs = MLPClassifier(**params).fit(X[:150], y[:150])
    ours = jp.Classifier(**params).fit(X[:150], y[:150])
    assert ours.score(X[:150], y[:150]) > 0.95
    assert abs(ours.score(X[150:], y[150:]) - theirs.score(X[150:], y[150:])) <= 0.01
    assert ours.predict(X[150:]).dtype.kind == y.dtype.kind
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=0.05, abs=1e-4)
    assert not hasattr(ours, "loss_curve_") and not hasattr(theirs, "loss_curve_")


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
def test_lbfgs_regression_as_scikit_learns(activation):
    """scikit-learn's test_lbfgs_regression, and here its score within 0.01."""
    X, y = _regression()
    params = dict(solver="lbfgs", hidden_layer_sizes=50, max_iter=200, tol=1e-3, random_state=1, activation=activation)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = MLPRegressor(**params).fit(X, y)
        ours = jp.Regressor(**params).fit(X, y)
    assert ours.score(X, y) > (0.80 if activation == "identity" else 0.98)
    assert abs(ours.score(X, y) - theirs.score(X, y)) <= 0.01


@pytest.mark.parametrize("estimator, data", [(jp.Classifier, lambda: _digits(3)), (jp.Regressor, _regression)])
def test_lbfgs_max_fun(estimator, data):
    """scikit-learn's test_lbfgs_*_maxfun: max_fun ends training with a ConvergenceWarning."""
    X, y = data()
    mlp = estimator(solver="lbfgs", hidden_layer_sizes=50, tol=0.0, max_iter=150, max_fun=10, random_state=1)
    with pytest.warns(ConvergenceWarning, match=r"lbfgs failed to converge after \d+ iteration\(s\) \(status=1\)"):
        mlp.fit(X, y)
    assert 10 >= mlp.n_iter_


@pytest.mark.parametrize("estimator", [jp.Classifier, jp.Regressor])
def test_lbfgs_warm_start_reaches_max_iter(estimator):
    """scikit-learn's test_mlp_warm_start_no_convergence, for lbfgs."""
    model = estimator(solver="lbfgs", warm_start=True, max_iter=10, n_iter_no_change=np.inf, random_state=0)
    with pytest.warns(ConvergenceWarning):
        model.fit(X_IRIS, Y_IRIS)
    assert model.n_iter_ == 10
    model.set_params(max_iter=20)
    with pytest.warns(ConvergenceWarning):
        model.fit(X_IRIS, Y_IRIS)
    assert model.n_iter_ == 20


def test_lbfgs_takes_scikit_learns_steps(rng):
    """From the same weights, the same objective and tolerances: the iterates of scikit-learn's lbfgs."""
    X = rng.normal(size=(60, 4))
    y = rng.integers(0, 3, 60)
    params = dict(solver="lbfgs", hidden_layer_sizes=(5,), alpha=0.01, max_iter=15, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = MLPClassifier(**params).fit(X, y)
        ours = jp.Classifier(**params).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ and ours.loss_ == pytest.approx(theirs.loss_, rel=1e-8)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------- poisson
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mlp_vs_poisson_glm_equivalent(seed):
    """scikit-learn's test_mlp_vs_poisson_glm_equivalent: one identity unit and the log link is the Poisson GLM."""
    n = 100
    rng = np.random.default_rng(seed)
    X = np.linspace(0, 1, n)
    y = rng.poisson(np.exp(X + 1))
    X = X.reshape(n, -1)
    glm = PoissonRegressor(alpha=0, tol=1e-7).fit(X, y)
    params = dict(hidden_layer_sizes=(1,), activation="identity", alpha=0, solver="lbfgs", tol=1e-7)
    mlp = jp.Regressor(loss="poisson", random_state=np.random.RandomState(seed + 1), **params).fit(X, y)
    np.testing.assert_allclose(mlp.predict(X), glm.predict(X), rtol=1e-4)
    assert mlp.out_activation_ == "exp"
    mlp = jp.Regressor(loss="squared_error", random_state=np.random.RandomState(seed + 1), **params).fit(X, y)
    assert not np.allclose(mlp.predict(X), glm.predict(X), rtol=1e-4)


@pytest.mark.parametrize("outputs", [1, 2])
def test_poisson_sgd_matches_sklearn(rng, outputs):
    """Same random_state, no shuffling: plain SGD on the Poisson loss gives scikit-learn's weights and losses."""
    X = rng.normal(size=(120, 5))
    y = rng.poisson(np.exp(0.3 * X[:, :outputs]))
    y = y.ravel() if outputs == 1 else y
    params = dict(loss="poisson", hidden_layer_sizes=(7,), activation="tanh", solver="sgd", alpha=0.05)
    params.update(batch_size=40, shuffle=False, random_state=3, max_iter=6, tol=0.0, learning_rate_init=0.05)
    theirs = MLPRegressor(**params).fit(X, y)
    ours = jp.Regressor(**params).fit(X, y)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-9)


def test_poisson_needs_non_negative_targets():
    with pytest.raises(ValueError, match="Some value\\(s\\) of y are negative which is not allowed for Poisson"):
        jp.Regressor(loss="poisson").fit(X_IRIS, Y_IRIS - 1)
    with pytest.raises(ValueError, match="loss must be one of 'squared_error', 'poisson', got 'huber'"):
        jp.Regressor(loss="huber").fit(X_IRIS, Y_IRIS)
