"""The boundary with scikit-learn, an optional dependency.

With scikit-learn (>= 1.6) installed, the estimators inherit its base classes
— and with them ``get_params``/``set_params``, ``clone``, tags, ``score`` and
the HTML repr — validate input with its ``validate_data`` (``n_features_in_``,
``feature_names_in_``, its error messages) and warn with its warning classes.

Without it, the stand-ins below give the same methods for NumPy input, so the
estimators still work: no feature names, no sparse input unless SciPy is
there, and no tags (nothing would read them).
"""

import functools
import inspect
import numbers
import types
import warnings

import numpy as np

try:
    import sklearn
except ImportError:
    sklearn = None

#: Oldest scikit-learn whose public API (``validate_data``, ``__sklearn_tags__``) the estimators use.
MINIMUM_SKLEARN = (1, 6)

if sklearn is not None:
    _version = tuple(int(part) for part in sklearn.__version__.split(".")[:2] if part.isdigit())
    if _version < MINIMUM_SKLEARN:
        raise ImportError(
            f"jitprop's estimators need scikit-learn >= {'.'.join(map(str, MINIMUM_SKLEARN))}, "
            f"found {sklearn.__version__}; upgrade it (pip install 'jitprop[sklearn]') or uninstall it."
        )

HAVE_SKLEARN = sklearn is not None

if HAVE_SKLEARN:
    from sklearn.base import BaseEstimator, ClassifierMixin, MultiOutputMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning, DataConversionWarning, NotFittedError
    from sklearn.utils import check_random_state
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import type_of_target
    from sklearn.utils.validation import check_is_fitted, validate_data

else:

    class ConvergenceWarning(UserWarning):
        """Training stopped at ``max_iter`` before the stopping criterion was met."""

    class DataConversionWarning(UserWarning):
        """Input was converted, for example a column vector ``y`` to 1-D."""

    class NotFittedError(ValueError, AttributeError):
        """The estimator was used before ``fit``."""

    class BaseEstimator:
        """``get_params``, ``set_params`` and a repr, from the ``__init__`` signature."""

        @classmethod
        def _get_param_names(cls):
            signature = inspect.signature(cls.__init__)
            parameters = signature.parameters.items()
            return sorted(name for name, p in parameters if name != "self" and p.kind != p.VAR_KEYWORD)

        def get_params(self, deep=True):
            return {name: getattr(self, name) for name in self._get_param_names()}

        def set_params(self, **params):
            valid = self._get_param_names()
            for name, value in params.items():
                if name not in valid:
                    raise ValueError(
                        f"Invalid parameter {name!r} for estimator {type(self).__name__}; valid parameters are {valid}."
                    )
                setattr(self, name, value)
            return self

        def __repr__(self):
            defaults = {name: p.default for name, p in inspect.signature(type(self).__init__).parameters.items()}
            changed = [
                f"{name}={value!r}"
                for name, value in self.get_params().items()
                if not _same(value, defaults.get(name, inspect.Parameter.empty))
            ]
            return f"{type(self).__name__}({', '.join(changed)})"

        def __getstate__(self):
            return self.__dict__.copy()

        def __setstate__(self, state):
            self.__dict__.update(state)

    class ClassifierMixin:
        """``score``: the (subset) accuracy of ``predict``."""

        _estimator_type = "classifier"

        def score(self, X, y, sample_weight=None):
            return accuracy(np.asarray(y), self.predict(X), sample_weight)

    class RegressorMixin:
        """``score``: the coefficient of determination R² of ``predict``."""

        _estimator_type = "regressor"

        def score(self, X, y, sample_weight=None):
            return r2(np.asarray(y, dtype=np.float64), self.predict(X), sample_weight)

    class MultiOutputMixin:
        """Marks support for several targets (read by scikit-learn's tags only)."""

    class available_if:
        """A method that exists only where ``check(estimator)`` is true (it may raise AttributeError itself)."""

        def __init__(self, check):
            self.check = check

        def __call__(self, method):
            self.method = method
            functools.update_wrapper(self, method)
            return self

        def __get__(self, estimator, owner=None):
            if estimator is None:
                return self.method
            if not self.check(estimator):
                raise AttributeError(f"This {type(estimator).__name__} has no attribute {self.method.__name__!r}.")
            return types.MethodType(self.method, estimator)

    def check_random_state(seed):
        if seed is None or seed is np.random:
            return np.random.mtrand._rand
        if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
            return np.random.RandomState(seed)
        if isinstance(seed, np.random.RandomState):
            return seed
        raise ValueError(f"random_state must be None, an int or a numpy.random.RandomState, got {seed!r}.")

    def check_is_fitted(estimator):
        if not any(name.endswith("_") and not name.startswith("__") for name in vars(estimator)):
            raise NotFittedError(
                f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' with appropriate "
                "arguments before using this estimator."
            )

    def type_of_target(y):
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] > 1:
            if y.dtype.kind in "biuf" and np.isin(y, (0, 1)).all():
                return "multilabel-indicator"
            return "continuous-multioutput" if _non_integer_floats(y) else "multiclass-multioutput"
        if y.ndim > 2 or (y.ndim == 2 and y.shape[1] == 0):
            return "unknown"
        if _non_integer_floats(y):
            return "continuous"
        return "multiclass" if np.unique(y).shape[0] > 2 else "binary"

    def validate_data(estimator, X, y="no_validation", reset=True, dtype=None, y_numeric=False, **_):
        """``X`` as a 2-D finite array of ``dtype`` (and ``y``), setting or checking ``n_features_in_``."""
        if hasattr(X, "toarray"):  # a SciPy sparse matrix or array
            X = X.toarray()
        X = np.asarray(X)
        if X.dtype.kind == "c":
            raise ValueError("Complex data not supported.")
        if X.ndim != 2:
            raise ValueError(f"Expected a 2-D array for X, got {X.ndim}-D with shape {X.shape}.")
        if X.shape[0] < 1 or X.shape[1] < 1:
            raise ValueError(f"X has shape {X.shape}; at least 1 sample and 1 feature are required.")
        if isinstance(dtype, tuple):  # keep a listed dtype, else take the first (scikit-learn's rule)
            dtype = X.dtype if X.dtype in dtype else dtype[0]
        X = np.asarray(X, dtype=dtype if dtype is not None else np.float64)
        if not np.isfinite(X).all():
            raise ValueError("Input X contains NaN or infinity.")
        if reset:
            estimator.n_features_in_ = X.shape[1]
        elif X.shape[1] != estimator.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(estimator).__name__} is expecting "
                f"{estimator.n_features_in_} features as input."
            )
        if isinstance(y, str) and y == "no_validation":
            return X
        if y is None:
            raise ValueError(f"{type(estimator).__name__} requires y to be passed, but the target y is None.")
        y = np.asarray(y)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"X and y have different numbers of samples: {X.shape[0]} and {y.shape[0]}.")
        if y_numeric:
            y = y.astype(np.float64)
        if y.dtype.kind in "fc" and not np.isfinite(y).all():
            raise ValueError("Input y contains NaN or infinity.")
        return X, y

    def _non_integer_floats(y):
        return y.dtype.kind == "f" and bool(np.any(y != np.round(y)))

    def _same(a, b):
        try:
            return bool(a == b) and type(a) is type(b)
        except (TypeError, ValueError):
            return a is b


def accuracy(y, predicted, sample_weight=None):
    """Weighted fraction of rows predicted exactly (every label right, for multi-label ``y``)."""
    right = np.asarray(y == predicted)
    if right.ndim == 2:
        right = right.all(axis=1)
    return float(np.average(right, weights=sample_weight))


def r2(y, predicted, sample_weight=None):
    """Coefficient of determination ``1 − Σw(y − ŷ)² / Σw(y − ȳ)²``, averaged over outputs.

    An output whose ``y`` is constant scores 1 when predicted exactly, else 0
    (scikit-learn's ``force_finite``).
    """
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    predicted = np.asarray(predicted, dtype=np.float64).reshape(len(y), -1)
    weights = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    residual = weights @ (y - predicted) ** 2
    total = weights @ (y - np.average(y, axis=0, weights=weights)) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.where(total > 0, 1.0 - residual / total, np.where(residual > 0, 0.0, 1.0))
    return float(scores.mean())


def warn_column_vector():
    warnings.warn(
        "A column-vector y was passed when a 1d array was expected. Please change the shape of y to "
        "(n_samples,), for example using ravel().",
        DataConversionWarning,
        stacklevel=4,
    )
