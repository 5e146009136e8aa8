"""Full-batch training by L-BFGS: SciPy's L-BFGS-B on a network's exact loss and gradient.

:class:`LBFGS` is what :meth:`Network.fit` takes instead of a mini-batch
:class:`~jitprop.Optimizer`. Each evaluation SciPy asks for runs the whole
training set through the compiled kernels once (:meth:`Network.flat_gradient_evaluator`,
prepared once per fit), forward and backward, into one flat gradient buffer: the parameters SciPy
proposes are copied into :attr:`Network.params` and the gradient is handed
back without another copy (a float32 network's is widened into one float64
buffer, reused). One L-BFGS iteration — a step and its line search, one or
more evaluations — is one epoch of the history and of the callbacks.

With ``fit(..., comm=...)`` the evaluations are shared out over MPI ranks
(:meth:`jitprop.distributed.Session.gradient_evaluator`) and rank 0 runs
SciPy; see docs/distributed.md.

SciPy is needed on this path only: ``pip install "jitprop[lbfgs]"`` (or
scipy itself).
"""

import math
import sys
import time
from contextlib import nullcontext

import numpy as np

from . import _checks

#: SciPy's default ``ftol`` of L-BFGS-B (``factr = 1e7`` times the machine epsilon), which scikit-learn keeps.
DEFAULT_FTOL = 1e7 * np.finfo(np.float64).eps


def _minimize():
    """SciPy's ``minimize``, or an ImportError that says how to install it."""
    try:
        from scipy.optimize import minimize
    except ImportError as exc:
        raise ImportError(
            'jitprop.LBFGS needs SciPy (>= 1.11): pip install "jitprop[lbfgs]" (or pip install scipy).'
        ) from exc
    return minimize


class LBFGS:
    """Full-batch L-BFGS-B (SciPy's) on the network's exact loss, for :meth:`Network.fit`.

    Each iteration builds a quasi-Newton direction from the last
    ``history_size`` steps ``s = p_{k+1} − p_k`` and gradient changes
    ``y = g_{k+1} − g_k``, and a line search along it finds a step meeting the
    strong Wolfe conditions. The loss is the one :meth:`Network.evaluate`
    reports: the (weighted) mean over every training example plus the L2
    penalty. ``fit(..., epochs=e)`` runs at most ``e`` iterations; training
    stops earlier when

    - ``max_i |g_i| / scale <= tol`` (SciPy's ``gtol``), or
    - ``(f_k − f_{k+1}) / max(|f_k|, |f_{k+1}|, 1) <= ftol``, ``f = loss / scale``, or
    - ``max_fun`` evaluations of the loss and gradient have been made
      (SciPy ends the iteration in progress first), or
    - a callback sets ``network.stop_training``.

    ``batch_size`` and ``shuffle`` play no part; ``clip_norm`` and
    ``resume_from`` are refused, and so are networks with Dropout layers
    (their loss is not deterministic). The network's :attr:`~Network.optimizer`
    is left as it was: L-BFGS keeps no state from one ``fit`` to the next.

    Parameters
    ----------
    max_fun : int, default 15000
        Most evaluations of the loss and its gradient per ``fit``.
    tol : float, default 1e-4
        Stop when no component of the gradient of ``loss / scale`` exceeds it, >= 0.
    ftol : float, default about 2.2e-9
        Stop when an iteration reduces ``loss / scale`` by no more than this
        relative amount, >= 0 (SciPy's default).
    history_size : int, default 10
        Steps kept for the curvature estimate (SciPy's ``maxcor``).
    max_line_search : int, default 20
        Most evaluations of one line search (SciPy's ``maxls``).
    scale : float, default 1.0
        SciPy minimises ``loss / scale``, > 0; it decides what ``tol`` and
        ``ftol`` mean. The estimators pass jitprop's loss over scikit-learn's
        objective, so that they mean what they mean for ``MLPClassifier``.

    Attributes
    ----------
    result : scipy.optimize.OptimizeResult or None
        SciPy's result of the last ``fit``: ``status`` (0: converged, 1: an
        iteration or evaluation limit, 2: stopped otherwise), ``message``,
        ``nit`` (iterations), ``nfev`` (evaluations), ``fun`` (``loss / scale``).

    Examples
    --------
    >>> import numpy as np, jitprop as jp
    >>> X = np.random.default_rng(0).normal(size=(100, 3)); y = X @ [1.0, -2.0, 0.5]
    >>> net = jp.Network([jp.Dense(8, "tanh"), jp.Dense(1)], input_dim=3, dtype="float64", seed=0)
    >>> history = net.fit(X, y, epochs=200, optimizer=jp.LBFGS(), verbose=0)
    >>> history["loss"][-1] < 1e-3
    True
    """

    #: The name the estimators (``solver=``) take.
    name = "lbfgs"
    #: scikit-learn's ``solver`` for the same method.
    sklearn_solver = "lbfgs"

    def __init__(self, max_fun=15000, tol=1e-4, ftol=DEFAULT_FTOL, history_size=10, max_line_search=20, scale=1.0):
        self.max_fun = _checks.positive_int(max_fun, "max_fun")
        self.tol = _checks.non_negative_float(tol, "tol")
        self.ftol = _checks.non_negative_float(ftol, "ftol")
        self.history_size = _checks.positive_int(history_size, "history_size")
        self.max_line_search = _checks.positive_int(max_line_search, "max_line_search")
        self.scale = _checks.positive_float(scale, "scale")
        self.result = None

    def config(self):
        """The constructor arguments."""
        names = ("max_fun", "tol", "ftol", "history_size", "max_line_search", "scale")
        return {name: getattr(self, name) for name in names}

    def __repr__(self):
        return f"LBFGS({', '.join(f'{key}={value!r}' for key, value in self.config().items())})"

    def train(self, net, data, rows, validation, first_epoch, epochs, callbacks, verbose, session=None):
        """What :meth:`Network.fit` does with an LBFGS: up to ``epochs`` iterations on the examples ``rows``.

        With a distributed ``session`` (``fit(comm=...)``), every rank
        computes the loss and gradient of its tiles of ``rows`` and they are
        combined (:meth:`jitprop.distributed.Session.gradient_evaluator`);
        rank 0 alone runs SciPy, validates and calls the callbacks, and sends
        the other ranks each point to evaluate, then the final parameters,
        so that every rank ends with the same weights, bit for bit, and the
        same history.

        Parameters
        ----------
        net : Network
        data : jitprop.kernels.layout.Data
            Prepared by :meth:`Network.prepare_data` (with class weights applied).
        rows : int64 ndarray
            The training examples of ``data``.
        validation : tuple (Data, rows or None) or None
            Evaluated after every iteration.
        first_epoch, epochs : int
            Number of the first iteration, and most iterations.
        callbacks : list of Callback
        verbose : {0, 1, 2}
            1 and 2 print one line per iteration.
        session : jitprop.distributed.Session, optional
            Train over the ranks of its communicator.

        Returns
        -------
        History
        """
        from .training import FitPlan, History

        n = rows.shape[0]
        grad = np.zeros(net.n_params, dtype=net.dtype)
        with nullcontext() if session is None else session.together("setup"):
            if session is None or session.root:
                minimize = _minimize()
            if net.layout.dropout.any():
                raise ValueError(
                    "LBFGS minimises the exact full-batch loss, which dropout would make random; "
                    "train a network with Dropout layers with a mini-batch optimizer such as jitprop.Adam()."
                )
            if session is None:
                evaluate = net.flat_gradient_evaluator(data, grad, rows)
            else:
                evaluate = session.gradient_evaluator(net, data, grad, rows)
        if session is not None and not session.root:
            history, net.epoch, self.result = session.follow(net, evaluate)
            return history
        # SciPy works in float64: a float32 gradient is widened into this buffer, a float64 one handed over as it is.
        wide = grad if net.dtype == np.float64 else np.zeros(net.n_params, dtype=np.float64)
        inverse_scale = 1.0 / self.scale
        last = {"x": None, "loss": math.nan, "correct": 0.0, "evaluations": 0}

        def loss_and_gradient(x):
            if session is not None:
                session.evaluate_at(x)
            net.params[...] = x
            last["evaluations"] += 1
            try:
                loss, correct = evaluate()
            except FloatingPointError:
                if last["evaluations"] == 1:  # at the starting point: nothing to back off to
                    raise _diverged_at_start(first_epoch) from None
                last["x"] = None  # a trial step overflowed: SciPy's line search backs off from an infinite loss
                return math.inf, wide
            last["x"], last["loss"], last["correct"] = x, loss, correct
            if inverse_scale != 1.0 or wide is not grad:
                np.multiply(grad, inverse_scale, out=wide)
            return loss * inverse_scale, wide

        history = History()
        plan = FitPlan(first_epoch=first_epoch, epochs=epochs, batch_size=n, shuffle=False)
        net.stop_training = False
        for callback in callbacks:
            callback.set_network(net)
            callback.set_fit_plan(plan)
            callback.on_train_begin({})
        state = {"epoch": first_epoch, "started": time.perf_counter(), "evaluations": 0}
        for callback in callbacks:
            callback.on_epoch_begin(first_epoch, {})

        def end_of_iteration(intermediate_result):
            epoch = state["epoch"]
            x = intermediate_result.x
            if last["x"] is None or not np.array_equal(last["x"], x):  # the accepted point was not the last evaluated
                loss_and_gradient(x)
            seconds = time.perf_counter() - state["started"]
            evaluations = last["evaluations"] - state["evaluations"]
            net.params[...] = x
            net.epoch = epoch + 1
            logs = net.metrics(last["loss"], last["correct"], n)
            if validation is not None:
                logs.update({f"val_{key}": value for key, value in net.evaluate_data(*validation).items()})
            logs["evaluations"] = evaluations
            logs["seconds"] = seconds
            logs["examples_per_second"] = n * evaluations / seconds if seconds > 0 else math.inf
            history.record(epoch, logs)
            if verbose:
                shown = "".join(f"  {key} {logs[key]:.6g}" for key in ("loss", "accuracy", "val_loss") if key in logs)
                print(f"iteration {epoch + 1}{shown}  {evaluations} evaluations", file=sys.stdout, flush=True)
            for callback in callbacks:
                callback.on_epoch_end(epoch, logs)
            if net.stop_training:
                raise StopIteration  # SciPy ends the minimisation at this point
            state.update(epoch=epoch + 1, started=time.perf_counter(), evaluations=last["evaluations"])
            for callback in callbacks:
                callback.on_epoch_begin(epoch + 1, {})

        def run():
            self.result = minimize(
                loss_and_gradient,
                net.params.astype(np.float64),
                method="L-BFGS-B",
                jac=True,
                callback=end_of_iteration,
                options={
                    "maxiter": epochs,
                    "maxfun": self.max_fun,
                    "gtol": self.tol,
                    "ftol": self.ftol,
                    "maxcor": self.history_size,
                    "maxls": self.max_line_search,
                },
            )
            net.params[...] = self.result.x
            net.epoch = first_epoch + len(history.epochs)
            for callback in callbacks:
                callback.on_train_end({})

        if session is None:
            run()
            return history
        from .errors import DivergenceError, RankError

        failure = None
        try:
            run()
        except RankError:
            raise  # (raised on every rank at once, by the exchange of an evaluation)
        except Exception as exc:
            failure = exc
        diverged = failure if isinstance(failure, DivergenceError) else None
        session.finish(net, failure, (history, net.epoch, self.result), diverged)
        return history


def _diverged_at_start(epoch):
    """The :class:`~jitprop.DivergenceError` of a loss that is not finite where L-BFGS starts."""
    from .errors import DivergenceError

    return DivergenceError(
        epoch,
        0,
        math.nan,
        f"Training diverged: the loss is NaN or infinite at the weights L-BFGS starts from (epoch {epoch}), "
        "before any step. The network keeps those weights; scale X (standardize it, for example).",
    )
