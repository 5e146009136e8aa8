"""What the classifier and the regressor share: scikit-learn's MLP training, run by a jitprop Network.

The path of one ``fit``: check the hyper-parameters → validate ``X`` and
encode ``y`` (the subclass's :meth:`MLP._encode`) → on the first fit, build
the :class:`~jitprop.Network` with scikit-learn's initial weights → hold out
a validation part if ``early_stopping`` → one :meth:`Network.fit` call of
``max_iter`` epochs, with :class:`_SklearnEpochEnd` as its callback doing after
every epoch what scikit-learn's loop does (loss curve, ``tol`` /
``n_iter_no_change`` stopping, learning-rate schedule, best weights).

How jitprop's loss relates to scikit-learn's objective is one number per
task, ``scale``, given by the loss's entry (:meth:`jitprop.losses.Loss.sklearn_scale`):
jitprop minimises ``scale · L`` where ``L`` is the per-batch objective of
``MLPClassifier``/``MLPRegressor`` (data loss plus ``alpha·‖W‖² / (2·batch)``).
Hyper-parameters are converted so that the updates are those of ``L`` itself
(see :func:`_optimizer`), and losses are reported in scikit-learn's units
(divided by ``scale``).
"""

import math
import numbers
import warnings
from itertools import pairwise
from types import SimpleNamespace
from typing import NamedTuple

import numba
import numpy as np

from .. import optimizers
from .._threading import thread_count
from ..activations import ACTIVATIONS as JITPROP_ACTIVATIONS
from ..callbacks import Callback
from ..errors import DivergenceError
from ..layers import Dense, Dropout
from ..lbfgs import LBFGS
from ..losses import LOSSES
from ..network import Network
from ..schedules import Constant
from ..splitting import stratified_split
from . import _sklearn as sk

#: Hidden-layer activations by the name the estimators take (scikit-learn's, then jitprop's) → jitprop's name.
ACTIVATIONS = {a.sklearn_name: a.name for a in JITPROP_ACTIVATIONS.values() if a.hidden and a.sklearn_name}
ACTIVATIONS.update({a.name: a.name for a in JITPROP_ACTIVATIONS.values() if a.hidden and a.name not in ACTIVATIONS})
#: The solvers by name: every optimizer, by its short name, then scikit-learn's full-batch "lbfgs".
SOLVERS = (*optimizers.BY_NAME, "lbfgs")
#: What ``dtype=None`` keeps (scikit-learn's rule): float32 input trains in float32, anything else in float64.
PRESERVED_DTYPES = (np.float64, np.float32)
LEARNING_RATES = ("constant", "invscaling", "adaptive")
#: ``learning_rate="adaptive"`` stops once the rate has fallen to this (scikit-learn's threshold).
SMALLEST_ADAPTIVE_RATE = 1e-6


class Task(NamedTuple):
    """What :meth:`MLP._encode` makes of ``y``: the targets as :meth:`Network.fit` takes them, and the output."""

    targets: np.ndarray  # class indices (n,), or (n, n_outputs) floats
    loss: str  # jitprop loss
    output_activation: str  # jitprop activation of the output layer
    n_outputs: int
    scale: float  # jitprop's loss = scale · scikit-learn's objective
    strata: np.ndarray | None  # class of each sample for a stratified validation split, or None

    @classmethod
    def of(cls, targets, loss, n_outputs, strata=None):
        """Training ``loss`` on ``targets``: the output activation and ``scale`` come from the loss's entry."""
        spec = LOSSES[loss]
        output = spec.output_activation or "identity"
        return cls(targets, loss, output, n_outputs, spec.sklearn_scale(n_outputs), strata)


class MLP(sk.BaseEstimator):
    """Base of :class:`~jitprop.Classifier` and :class:`~jitprop.Regressor`; not for direct use.

    A subclass implements ``_encode(y, first, incremental, classes)`` → :class:`Task`
    and ``_validation_score(outputs, y, sample_weight)`` → float, and sets
    ``_numeric_targets`` (whether ``y`` is converted to numbers when validated).
    """

    _numeric_targets = False

    # ------------------------------------------------------------------ fitting
    def _fit(self, X, y, sample_weight=None, incremental=False, classes=None):
        p = self._checked_params()
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True.")
        first = not hasattr(self, "network_") or not (self.warm_start or incremental)
        # A first fit trains in ``dtype``, or with None in the input's (float32 stays, anything else is float64);
        # later ones in the network's.
        dtype = (p.dtype or PRESERVED_DTYPES) if first else self.network_.dtype
        if dtype == np.float32:
            _check_float32_range(X)
        X, y = self._validate(X, y, reset=first, dtype=dtype, y_numeric=self._numeric_targets)
        task = self._encode(y, first=first, incremental=incremental, classes=classes)
        weights = _sample_weight(sample_weight, X.shape[0])
        random_state = sk.check_random_state(self.random_state)
        if first:
            self._initialize(X.shape[1], task, p, random_state, X.dtype)
        elif task.n_outputs != self.n_outputs_:
            raise ValueError(f"y has {task.n_outputs} outputs, but the estimator was fitted with {self.n_outputs_}.")
        if p.solver == "lbfgs":
            return self._fit_lbfgs(X, task, weights, p)
        if not hasattr(self, "loss_curve_"):  # a warm start after lbfgs, which keeps no such records
            self._reset_records()
        elif self.early_stopping and self.validation_scores_ is None:  # warm start, now with early stopping
            self.validation_scores_, self.best_validation_score_, self.best_loss_ = [], -np.inf, None
        early_stopping = self.early_stopping
        # scikit-learn stratifies binary problems only, and refuses a class of one member there.
        lonely = getattr(self, "classes_", None) if task.n_outputs == 1 else None
        train, val = _split(X.shape[0], task.strata, self.validation_fraction, random_state, early_stopping, lonely)
        X_train, targets, w_train = _rows(X, train), _rows(task.targets, train), _rows(weights, train)
        validation = None
        if val is not None:
            validation = (X[val], y[val], None if weights is None else weights[val])
            if w_train is not None and not w_train.any():
                raise ValueError("The sample weights of the training part are all zero; change random_state.")
        batch_size = _batch_size(self.batch_size, X_train.shape[0])

        net = self.network_
        mean_weight = 1.0 if w_train is None else float(w_train.mean())
        l2 = 0.0 if p.solver == "adamw" else self._loss_scale * self.alpha / (2.0 * batch_size * mean_weight)
        _set_l2(net, l2)
        if not incremental or net.optimizer is None:
            self._learning_rate = float(self.learning_rate_init)
            net.optimizer = _optimizer(p, self._learning_rate, self._loss_scale)
        epoch_end = _SklearnEpochEnd(self, p, validation, X_train.shape[0])
        self.n_iter_ = 0
        diverged = None
        try:
            with thread_count(p.n_threads):
                net.fit(
                    X_train,
                    targets,
                    epochs=1 if incremental else self.max_iter,
                    batch_size=batch_size,
                    shuffle=self.shuffle,
                    verbose=0,
                    sample_weight=w_train,
                    callbacks=[epoch_end],
                )
        except DivergenceError as error:
            diverged = error
        if early_stopping:
            net.params[...] = self._best_params
        if diverged is not None:
            self._diverged(diverged, early_stopping)
        elif not incremental and not epoch_end.converged and self.n_iter_ == self.max_iter:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the optimization "
                "hasn't converged yet.",
                sk.ConvergenceWarning,
                stacklevel=3,
            )
        return self

    def _diverged(self, error, early_stopping):
        """After a :class:`~jitprop.DivergenceError` in an epoch: what scikit-learn's MLP does with non-finite weights.

        With ``early_stopping`` the epoch scores NaN, training ends and the
        best validation epoch's weights (already restored) are kept, with a
        ``ConvergenceWarning``; otherwise scikit-learn's ``ValueError``, as a
        :class:`~jitprop.DivergenceError` that quotes ``learning_rate_init``.
        The network keeps the last finite weights either way.
        """
        epoch = self.n_iter_  # the failing epoch of this fit, 0-based
        where = f"epoch {epoch}, batch {error.batch}"
        if early_stopping:
            self.n_iter_ += 1
            self.loss_ = math.nan
            self.loss_curve_.append(math.nan)
            self.validation_scores_.append(math.nan)
            scores = np.asarray(self.validation_scores_, dtype=np.float64)
            if np.isfinite(scores).any():
                best = int(np.nanargmax(scores))
                kept = f"the weights of its best validation epoch (validation_scores_[{best}] = {scores[best]:.6g})"
            else:
                kept = "the weights it started from"
            warnings.warn(
                f"Training diverged: the loss or gradient became NaN or infinite at {where} "
                f"(learning_rate_init={self.learning_rate_init!r}). Training stopped, and the estimator keeps "
                f"{kept}.",
                sk.ConvergenceWarning,
                stacklevel=4,
            )
            return
        message = (
            "Solver produced non-finite parameter weights. The input data may contain large values and need to be "
            f"preprocessed. The loss or gradient became NaN or infinite at {where}; the network keeps the last "
            f"finite weights. Scale X (standardize it, for example) or lower learning_rate_init "
            f"(learning_rate_init={self.learning_rate_init!r})."
        )
        raise DivergenceError(epoch, error.batch, self.learning_rate_init, message) from None

    def _initialize(self, n_features, task, p, random_state, dtype):
        """Build :attr:`network_` with scikit-learn's initial weights, and reset the fit's records.

        The weights are drawn as ``MLPClassifier`` draws them — layer by layer,
        weights then biases, U(−b, b) with ``b = √(6 / (fan_in + fan_out))``
        (``√2`` for logistic) — from ``random_state``, so that the same
        ``random_state`` starts from the same weights. Then one draw seeds the
        network (shuffling, dropout).
        """
        sizes = [n_features, *p.hidden_layer_sizes, task.n_outputs]
        factor = 2.0 if p.activation == "sigmoid" else 6.0
        initial = []
        for fan_in, fan_out in pairwise(sizes):
            bound = math.sqrt(factor / (fan_in + fan_out))
            initial.append(
                (random_state.uniform(-bound, bound, (fan_in, fan_out)), random_state.uniform(-bound, bound, fan_out))
            )
        seed = int(random_state.randint(np.iinfo(np.int32).max))
        layers = []
        for units in p.hidden_layer_sizes:
            layers.append(Dense(units, p.activation))
            if self.dropout:
                layers.append(Dropout(self.dropout))
        layers.append(Dense(task.n_outputs, task.output_activation))
        net = Network(layers, input_dim=n_features, loss=task.loss, dtype=dtype, seed=seed)
        for layer, (W, b) in zip(_dense(net), initial):
            layer.W[...] = W
            layer.b[...] = b

        self.network_ = net
        self.n_outputs_ = task.n_outputs
        self.n_layers_ = len(sizes)
        self.out_activation_ = JITPROP_ACTIVATIONS[task.output_activation].sklearn_name
        self._loss_scale = task.scale
        self.t_ = 0
        self._best_params = net.params.copy()
        for name in ("loss_curve_", "validation_scores_", "best_validation_score_", "best_loss_"):
            if hasattr(self, name):  # of an earlier fit
                delattr(self, name)
        if p.solver != "lbfgs":  # as in scikit-learn, these are the stochastic solvers' records
            self._reset_records()

    def _reset_records(self):
        """Start the per-epoch records of the stochastic solvers afresh."""
        self.loss_curve_ = []
        self._no_improvement_count = 0
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = np.inf

    def _fit_lbfgs(self, X, task, weights, p):
        """``solver="lbfgs"``: SciPy's L-BFGS-B on scikit-learn's full-batch objective, as ``MLPClassifier`` runs it.

        :class:`jitprop.LBFGS` minimises jitprop's loss divided by ``scale``,
        which is scikit-learn's objective (data loss plus
        ``alpha·‖W‖² / (2·Σw)``), with ``gtol=tol``, ``maxfun=max_fun`` and
        at most ``max_iter`` iterations.
        """
        net = self.network_
        total_weight = float(X.shape[0]) if weights is None else float(weights.sum())
        _set_l2(net, self._loss_scale * self.alpha / (2.0 * total_weight))
        solver = LBFGS(max_fun=self.max_fun, tol=self.tol, scale=self._loss_scale)
        try:
            with thread_count(p.n_threads):
                net.fit(
                    X,
                    task.targets,
                    epochs=self.max_iter,
                    optimizer=solver,
                    verbose=2 if self.verbose else 0,
                    sample_weight=weights,
                )
        except DivergenceError as error:
            raise DivergenceError(
                0,
                0,
                math.nan,
                "Solver produced non-finite parameter weights. The input data may contain large values and need "
                f"to be preprocessed. {error}",
            ) from None
        result = solver.result
        self.n_iter_ = min(int(result.nit), self.max_iter)
        self.loss_ = float(result.fun)
        if result.status != 0:
            message = f"lbfgs failed to converge after {self.n_iter_} iteration(s) (status={result.status}):\n"
            message += f"{result.message}\n"
            if self.n_iter_ == self.max_iter:
                message += f"\nIncrease the number of iterations to improve the convergence (max_iter={self.max_iter})."
            message += (
                "\nYou might also want to scale the data as shown in:\n"
                "    https://scikit-learn.org/stable/modules/preprocessing.html"
            )
            warnings.warn(message, sk.ConvergenceWarning, stacklevel=3)
        return self

    def _validate(self, X, y="no_validation", reset=False, dtype=None, **check):
        """``X`` (and ``y``) validated by scikit-learn when installed; ``X`` dense, C-ordered, of ``dtype``.

        ``dtype`` is a dtype, a tuple of them (``X`` keeps its own if listed,
        else takes the first), or None for the network's.
        """
        if dtype is None:
            dtype = self.network_.dtype
        if isinstance(y, str) and y == "no_validation":
            X, y = sk.validate_data(self, X, reset=reset, accept_sparse=True, dtype=dtype), None
        else:
            X, y = sk.validate_data(
                self, X, y, reset=reset, accept_sparse=True, dtype=dtype, multi_output=True, **check
            )
        if hasattr(X, "toarray"):  # sparse input: the kernels read dense rows
            X = X.toarray()
        X = np.ascontiguousarray(X, dtype=X.dtype if isinstance(dtype, tuple) else dtype)
        return X if y is None else (X, y)

    def _checked_params(self):
        """The hyper-parameters checked, in the forms used when fitting; errors name each one."""
        p = SimpleNamespace()
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, numbers.Integral) else list(sizes) if _iterable(sizes) else None
        if sizes is None or not all(_is_int(s) and s >= 1 for s in sizes):
            raise ValueError(
                f"hidden_layer_sizes must be a positive int or a sequence of them, got {self.hidden_layer_sizes!r}."
            )
        p.hidden_layer_sizes = [int(s) for s in sizes]
        p.activation = _choice(self.activation, "activation", ACTIVATIONS)
        p.activation = ACTIVATIONS[p.activation]
        p.solver = _choice(self.solver, "solver", SOLVERS)
        p.learning_rate = _choice(self.learning_rate, "learning_rate", LEARNING_RATES)
        _number(self.alpha, "alpha", 0.0)
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto") and not (
            _is_int(self.batch_size) and self.batch_size >= 1
        ):
            raise ValueError(f"batch_size must be 'auto' or a positive int, got {self.batch_size!r}.")
        _number(self.learning_rate_init, "learning_rate_init", 0.0, low_open=True)
        _number(self.power_t, "power_t", 0.0)
        if not (_is_int(self.max_iter) and self.max_iter >= 1):
            raise ValueError(f"max_iter must be a positive int, got {self.max_iter!r}.")
        _number(self.tol, "tol", 0.0)
        _number(self.momentum, "momentum", 0.0, 1.0, high_open=True)
        for name in ("beta_1", "beta_2"):
            _number(getattr(self, name), name, 0.0, 1.0, high_open=True)
        _number(self.epsilon, "epsilon", 0.0, low_open=True)
        if self.early_stopping:
            _number(self.validation_fraction, "validation_fraction", 0.0, 1.0, low_open=True, high_open=True)
        if not ((_is_int(self.n_iter_no_change) and self.n_iter_no_change >= 1) or self.n_iter_no_change == np.inf):
            raise ValueError(f"n_iter_no_change must be a positive int or numpy.inf, got {self.n_iter_no_change!r}.")
        if not (_is_int(self.max_fun) and self.max_fun >= 1):
            raise ValueError(f"max_fun must be a positive int, got {self.max_fun!r}.")
        _number(self.dropout, "dropout", 0.0, 1.0, high_open=True)
        if self.dropout and p.solver == "lbfgs":
            raise ValueError(
                f"dropout={self.dropout!r} needs a stochastic solver: 'lbfgs' minimises the exact full-batch loss."
            )
        p.dtype = None
        if self.dtype is not None:
            try:
                p.dtype = np.dtype(self.dtype)
            except TypeError:
                pass
            if p.dtype is None or p.dtype.name not in ("float32", "float64"):
                raise ValueError(f"dtype must be None, 'float32' or 'float64', got {self.dtype!r}.")
        p.n_threads = _threads_wanted(self.n_threads)
        for name in ("beta_1", "beta_2", "epsilon", "momentum", "nesterovs_momentum", "power_t"):
            setattr(p, name, getattr(self, name))
        p.alpha = self.alpha
        return p

    def _partial_fit_available(self):
        """Whether ``partial_fit`` exists: for the stochastic solvers only, as in scikit-learn."""
        if self.solver == "lbfgs":
            raise AttributeError(
                f"partial_fit is only available for stochastic optimizers. {self.solver} is not stochastic."
            )
        return True

    # --------------------------------------------------------------- inference
    def _outputs(self, X):
        """Output-layer activations for ``X`` (validated against the fit), in the dtype scikit-learn's would have.

        That is float32 for float32 ``X`` through a float32 network, else
        float64 (the network computes in its dtype either way).
        """
        sk.check_is_fitted(self)
        narrow = getattr(X, "dtype", None) == np.float32
        X = self._validate(X)
        with thread_count(_threads_wanted(self.n_threads)):
            outputs = self.network_.predict(X)
        return outputs if narrow or outputs.dtype == np.float64 else outputs.astype(np.float64)

    # ------------------------------------------------------ fitted parameters
    @property
    def coefs_(self):
        """list of ndarray: ``coefs_[i]`` of shape (fan_in, fan_out) — live, writable views of the weights.

        Assigning a list of arrays of the same shapes copies them into the network's parameters.
        """
        return [layer.W for layer in _dense(self.network_)]

    @coefs_.setter
    def coefs_(self, values):
        self._assign("coefs_", values, [layer.W for layer in _dense(self._fitted_network("coefs_"))])

    @property
    def intercepts_(self):
        """list of ndarray: ``intercepts_[i]`` of shape (fan_out,) — live, writable views of the biases.

        Assigning a list of arrays of the same shapes copies them into the network's parameters.
        """
        return [layer.b for layer in _dense(self.network_)]

    @intercepts_.setter
    def intercepts_(self, values):
        self._assign("intercepts_", values, [layer.b for layer in _dense(self._fitted_network("intercepts_"))])

    def _fitted_network(self, name):
        network = getattr(self, "network_", None)
        if network is None:
            raise sk.NotFittedError(
                f"{name} can be assigned only once the {type(self).__name__} is fitted: the values are copied into "
                "the parameters of its network_. Call 'fit' first."
            )
        return network

    @staticmethod
    def _assign(name, values, views):
        """Copy ``values`` (one array per layer) into ``views``, all checked before any is written."""
        if not _iterable(values) or hasattr(values, "shape"):
            raise TypeError(
                f"{name} must be a list of {len(views)} arrays, one per layer, got {type(values).__name__}."
            )
        values = list(values)
        if len(values) != len(views):
            raise ValueError(f"{name} must have {len(views)} arrays, one per layer, got {len(values)}.")
        arrays = []
        for i, (value, view) in enumerate(zip(values, views)):
            array = np.asarray(value)
            if array.dtype.kind not in "fiu":
                raise TypeError(f"{name}[{i}] must hold real numbers, got an array of dtype {array.dtype}.")
            if array.shape != view.shape:
                raise ValueError(f"{name}[{i}] must have shape {view.shape}, got {array.shape}.")
            if not np.isfinite(array).all():
                raise ValueError(f"{name}[{i}] contains NaN or infinity.")
            with np.errstate(over="ignore"):
                converted = array.astype(view.dtype)
            if not np.isfinite(converted).all():
                raise ValueError(f"{name}[{i}] holds values too large for the network's dtype {view.dtype}.")
            arrays.append(converted)
        for array, view in zip(arrays, views):
            view[...] = array

    # ------------------------------------------------------------------ pickle
    def __setstate__(self, state):
        # joblib may hand arrays back read-only (memory-mapped); the network
        # rebuilds its own buffers when unpickled (Network.__setstate__).
        state = dict(state)
        if "_best_params" in state:
            state["_best_params"] = np.array(state["_best_params"])
        super().__setstate__(state)


class _SklearnEpochEnd(Callback):
    """After each epoch, what scikit-learn's MLP loop does: record, stop, schedule, keep the best weights.

    - ``loss_curve_`` gets the epoch's training loss in scikit-learn's units.
    - With ``early_stopping``, the score of the validation part goes to
      ``validation_scores_``; an epoch counts as no improvement when the score
      is below ``best_validation_score_ + tol`` (the best weights are kept).
      Otherwise an epoch counts as no improvement when the loss is above
      ``best_loss_ − tol``. More than ``n_iter_no_change`` such epochs in a row
      stop training — or, with ``learning_rate="adaptive"``, divide the rate
      by 5 until it is at most 1e-6.
    - ``learning_rate="invscaling"``: the next epoch's rate is
      ``learning_rate_init / (t_ + 1)^power_t``, ``t_`` the samples seen.
    """

    def __init__(self, estimator, params, validation, n_train):
        self.estimator = estimator
        self.params = params
        self.validation = validation
        self.n_train = n_train
        self.converged = False
        self.scheduled = params.solver != "adam" and params.learning_rate != "constant"

    def on_epoch_end(self, epoch, logs=None):
        est, p = self.estimator, self.params
        est.n_iter_ += 1
        est.t_ += self.n_train
        est.loss_ = logs["loss"] / est._loss_scale
        est.loss_curve_.append(est.loss_)
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}")
        self._count_no_improvement()
        if self.scheduled and p.learning_rate == "invscaling":
            est._learning_rate = est.learning_rate_init / (est.t_ + 1) ** p.power_t
        if est._no_improvement_count > est.n_iter_no_change:
            what = "Validation score" if self.validation is not None else "Training loss"
            message = f"{what} did not improve more than tol={est.tol:f} for {est.n_iter_no_change} consecutive epochs."
            if self.scheduled and p.learning_rate == "adaptive" and est._learning_rate > SMALLEST_ADAPTIVE_RATE:
                est._learning_rate /= 5.0
                est._no_improvement_count = 0
                if est.verbose:
                    print(f"{message} Setting learning rate to {est._learning_rate:f}")
            else:
                if est.verbose:
                    print(f"{message} Stopping.")
                self.converged = True
                self.network.stop_training = True
        _set_rate(self.network.optimizer, est._learning_rate, est._loss_scale)

    def _count_no_improvement(self):
        est = self.estimator
        if self.validation is not None:
            X_val, y_val, w_val = self.validation
            try:
                outputs = self.network.predict(X_val)
            except FloatingPointError:  # outputs overflowed: scikit-learn scores non-finite predictions NaN
                score = math.nan
            else:
                score = self.estimator._validation_score(outputs, y_val, w_val)
            est.validation_scores_.append(score)
            if est.verbose:
                print(f"Validation score: {score:f}")
            improved = score >= est.best_validation_score_ + est.tol
            est._no_improvement_count = 0 if improved else est._no_improvement_count + 1
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                est._best_params = self.network.params.copy()
        else:
            loss = est.loss_curve_[-1]
            est._no_improvement_count = 0 if loss <= est.best_loss_ - est.tol else est._no_improvement_count + 1
            est.best_loss_ = min(est.best_loss_, loss)


# ---------------------------------------------------------------- optimizers
#: Per solver, the optimizer's arguments taken from the checked hyper-parameters, but for the rate and ``epsilon``.
SOLVER_ARGUMENTS = {
    "sgd": lambda p: dict(momentum=p.momentum, nesterov=bool(p.nesterovs_momentum) and p.momentum > 0),
    "adam": lambda p: dict(beta_1=p.beta_1, beta_2=p.beta_2),
    "adamw": lambda p: dict(beta_1=p.beta_1, beta_2=p.beta_2, weight_decay=p.alpha),
    "rmsprop": lambda p: {},
    "adagrad": lambda p: {},
}


def _optimizer(p, learning_rate, scale):
    """The jitprop optimizer whose updates on ``scale · L`` are the solver's updates on ``L``.

    The step of a rule that is not :attr:`~jitprop.optimizers.Optimizer.adaptive`
    (SGD) is linear in the gradient, so its rate is divided by ``scale``; the
    adaptive rules divide by a running gradient magnitude, so their
    ``epsilon`` is multiplied by ``scale`` instead.
    """
    optimizer = optimizers.BY_NAME[p.solver]
    arguments = SOLVER_ARGUMENTS[p.solver](p)
    if optimizer.adaptive:
        arguments["epsilon"] = p.epsilon * scale
    return optimizer(_rate(learning_rate, optimizer, scale), **arguments)


def _rate(learning_rate, optimizer, scale):
    """The rate ``optimizer`` (an instance or its class) takes for ``learning_rate`` on ``scale · L``."""
    return learning_rate if optimizer.adaptive else learning_rate / scale


def _set_rate(optimizer, learning_rate, scale):
    """Make ``optimizer`` use ``learning_rate`` (scikit-learn's units) from the next epoch on."""
    rate = _rate(learning_rate, optimizer, scale)
    if optimizer.lr != rate:
        optimizer.lr = rate
        optimizer.schedule = Constant(rate)


def _set_l2(net, l2):
    """Set the L2 penalty of every Dense layer of ``net``.

    scikit-learn's penalty is divided by the batch size, so it is set at each
    fit; the network's layers leave ``l2`` to the network.
    """
    net.set_l2(l2)


# ------------------------------------------------------------------- threads
def _threads_wanted(n_threads):
    """``n_threads`` as a count Numba accepts: None, -1 (all), or an int >= 1 capped at ``NUMBA_NUM_THREADS``."""
    if n_threads is None:
        return None
    if _is_int(n_threads) and (n_threads >= 1 or n_threads == -1):
        most = numba.config.NUMBA_NUM_THREADS
        return most if n_threads == -1 else min(int(n_threads), most)
    raise ValueError(f"n_threads must be None, -1 or a positive int, got {n_threads!r}.")


# ---------------------------------------------------------------------- data
def _split(n, strata, fraction, random_state, early_stopping, refuse_lonely=None):
    """Rows to train on and rows to validate on (None without early stopping).

    The validation part is ``validation_fraction`` of the samples, drawn with
    a generator seeded from ``random_state``, stratified by class for
    single-label classification (``strata``: class indices). With
    ``refuse_lonely`` (the classes, named in the message) a class of one
    member is refused.
    """
    everything = np.arange(n)
    if not early_stopping:
        return everything, None
    rng = np.random.default_rng(int(random_state.randint(np.iinfo(np.int32).max)))
    if strata is not None:
        counts = np.bincount(strata)
        if refuse_lonely is not None and (counts == 1).any():  # scikit-learn's stratified split, in its words
            alone = np.flatnonzero(counts == 1)
            raise ValueError(
                "The least populated classes in y have only 1 member, which is too few. The minimum number of "
                f"groups for any class cannot be less than 2. Classes with too few members are: "
                f"{np.asarray(refuse_lonely)[alone].tolist()}"
            )
        train, val = stratified_split(strata, fraction, rng)
    else:
        held = math.ceil(fraction * n)
        shuffled = rng.permutation(n)
        train, val = np.sort(shuffled[held:]), np.sort(shuffled[:held])
    if val.shape[0] < 2 or train.shape[0] < 1:
        raise ValueError("The validation set is too small. Increase 'validation_fraction' or the size of your dataset.")
    return train, val


def _check_float32_range(X):
    """Refuse finite float64 ``X`` that float32 cannot hold, in the words scikit-learn uses for its overflow.

    Converted, such values would be infinite: the input would seem to hold
    infinity where it is the training precision that is too small.
    """
    values = getattr(X, "data", None) if hasattr(X, "toarray") else X
    if not (isinstance(values, np.ndarray) and values.dtype == np.float64 and values.size):
        return
    low, high = float(values.min()), float(values.max())
    largest = max(-low, high)
    if math.isfinite(low) and math.isfinite(high) and largest > float(np.finfo(np.float32).max):
        raise ValueError(
            "Solver produced non-finite parameter weights. The input data may contain large values and need to be "
            f"preprocessed. X holds values as large as {largest:.3g}, beyond the range of float32 (dtype='float32'); "
            "scale X (standardize it, for example) or train in float64 (dtype=None or 'float64')."
        )


def _rows(a, rows):
    if a is None or rows.shape[0] == a.shape[0]:
        return a
    return a[rows]


def _batch_size(batch_size, n):
    if batch_size == "auto":
        return min(200, n)
    if batch_size > n:
        warnings.warn(
            f"Got batch_size={batch_size}, larger than the {n} training samples; it is clipped to {n}.",
            stacklevel=4,
        )
    return min(batch_size, n)


def _sample_weight(sample_weight, n):
    """``sample_weight`` as float64 (n,), or None; checked finite, non-negative and not all zero."""
    if sample_weight is None:
        return None
    weights = np.asarray(sample_weight, dtype=np.float64)
    if weights.ndim == 0:
        weights = np.full(n, float(weights))
    if weights.shape != (n,):
        raise ValueError(f"sample_weight.shape == {weights.shape}, expected ({n},)!")
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError("sample_weight must be finite and >= 0.")
    if not weights.any():
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return weights


# ------------------------------------------------------------------- network
def _dense(net):
    return [layer for layer in net.layers if isinstance(layer, Dense)]


# ---------------------------------------------------------------- parameters
def _store_params(estimator, arguments):
    """What an estimator's ``__init__`` does: store every argument as an attribute of the same name."""
    for name, value in arguments.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _iterable(value):
    try:
        iter(value)
    except TypeError:
        return False
    return not isinstance(value, str)


def _choice(value, name, options):
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}, got {value!r}.")
    return value


def _number(value, name, low, high=math.inf, low_open=False, high_open=False):
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        shown = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be a number in {shown}, got {value!r}.")
    return float(value)
