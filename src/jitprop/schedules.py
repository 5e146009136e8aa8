"""Learning-rate schedules: the learning rate of every update, decided once per epoch.

The compiled epoch takes one learning rate per mini-batch, so a schedule
answers for a whole epoch at a time, in Python, and nothing runs per batch.
Steps are 0-based global update counts: the first update a network ever makes
(since its optimizer's state was created) is step 0.

The protocol the training loop follows, for epoch ``epoch`` (0-based) whose
first update is step ``first_step`` and which makes ``n_steps`` updates::

    lrs = schedule.learning_rates(first_step, n_steps, epoch)  # float64, shape (n_steps,)
    ...                                                         # train the epoch with lrs
    schedule.end_epoch(epoch, logs)                             # logs: {"loss": ..., "val_loss": ...}

``learning_rates`` does not change the schedule; only ``end_epoch`` does (and
only :class:`ReduceLROnPlateau` has anything to change), so asking twice for
the same epoch gives the same rates. ``state()`` / ``load_state(state)`` save
and restore what ``end_epoch`` changed as JSON-compatible values, so a run
resumed from a checkpoint sees bitwise the same rates. ``config()`` gives the
constructor arguments; :func:`schedule_from_config` rebuilds a schedule from
its class name and config.

A schedule object holds state: give each optimizer its own.

>>> import jitprop as jp
>>> opt = jp.SGD(lr=jp.schedules.CosineDecay(0.1, total_steps=1000, warmup_steps=50))
"""

import math
import numbers

import numpy as np

from ._checks import positive_float, positive_int


class Schedule:
    """Base class of the learning-rate schedules.

    Parameters
    ----------
    lr : float
        Initial (peak) learning rate, > 0.

    Notes
    -----
    A subclass implements :meth:`_rates` (one whose rates need no steps,
    :meth:`learning_rates` itself); one that reacts to the metrics of
    an epoch also overrides :meth:`end_epoch`, :meth:`state` and
    :meth:`load_state`.
    """

    def __init__(self, lr):
        self.lr = positive_float(lr, "lr")

    def learning_rates(self, first_step, n_steps, epoch):
        """The learning rate of each update of an epoch.

        Parameters
        ----------
        first_step : int
            0-based global count of the epoch's first update (the updates made before it).
        n_steps : int
            Updates in the epoch.
        epoch : int
            0-based index of the epoch.

        Returns
        -------
        ndarray of shape (n_steps,), float64
        """
        steps = np.arange(first_step, first_step + n_steps, dtype=np.float64)
        return np.ascontiguousarray(self._rates(steps, epoch), dtype=np.float64)

    def _rates(self, steps, epoch):
        """Rates at the 0-based global ``steps`` (float64 array) of ``epoch``."""
        raise NotImplementedError

    def end_epoch(self, epoch, logs):
        """Take note of the epoch's metrics ``logs`` (a dict such as ``{"loss": 0.3}``)."""

    def state(self):
        """What :meth:`end_epoch` changed, as JSON-compatible values."""
        return {}

    def load_state(self, state):
        """Restore what :meth:`state` returned."""

    def config(self):
        """The constructor arguments, as JSON-compatible values."""
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{key}={value!r}" for key, value in self.config().items())
        return f"{type(self).__name__}({args})"


class Constant(Schedule):
    """The same learning rate for every update: ``lr_t = lr``.

    Parameters
    ----------
    lr : float
        Learning rate, > 0.
    """

    def learning_rates(self, first_step, n_steps, epoch):
        """``n_steps`` times ``lr`` (see :meth:`Schedule.learning_rates`), without an array of the steps."""
        return np.full(n_steps, self.lr, dtype=np.float64)

    def config(self):
        return {"lr": self.lr}


class StepDecay(Schedule):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs.

    For every update of epoch ``e`` (0-based)::

        lr_e = lr · gamma^floor(e / step_size)

    Parameters
    ----------
    lr : float
        Rate of the first ``step_size`` epochs, > 0.
    step_size : int
        Epochs between decays, >= 1.
    gamma : float, default 0.1
        Factor in (0, 1].
    """

    def __init__(self, lr, step_size, gamma=0.1):
        super().__init__(lr)
        self.step_size = positive_int(step_size, "step_size")
        self.gamma = _in_range(gamma, "gamma", 0.0, 1.0, "(0, 1]", low_open=True)

    def _rates(self, steps, epoch):
        return np.full(steps.shape, self.lr * self.gamma ** (epoch // self.step_size))

    def config(self):
        return {"lr": self.lr, "step_size": self.step_size, "gamma": self.gamma}


class ExponentialDecay(Schedule):
    """Multiply the rate by ``gamma`` every epoch, or every update.

    ::

        lr_t = lr · gamma^e     per="epoch"  (e: 0-based epoch; constant within it)
        lr_t = lr · gamma^t     per="step"   (t: 0-based global update count)

    Parameters
    ----------
    lr : float
        Rate of the first epoch or update, > 0.
    gamma : float
        Factor in (0, 1].
    per : {"epoch", "step"}, default "epoch"
    """

    def __init__(self, lr, gamma, per="epoch"):
        super().__init__(lr)
        self.gamma = _in_range(gamma, "gamma", 0.0, 1.0, "(0, 1]", low_open=True)
        if per not in ("epoch", "step"):
            raise ValueError(f"per must be 'epoch' or 'step', got {per!r}.")
        self.per = per

    def _rates(self, steps, epoch):
        if self.per == "epoch":
            return np.full(steps.shape, self.lr * self.gamma**epoch)
        return self.lr * self.gamma**steps

    def config(self):
        return {"lr": self.lr, "gamma": self.gamma, "per": self.per}


class CosineDecay(Schedule):
    """Linear warm-up, then a half cosine from ``lr`` down to ``min_lr``.

    With ``t`` the 0-based global update count, ``W = warmup_steps`` and
    ``T = total_steps``::

        lr_t = lr · (t + 1) / W                                              t < W
        lr_t = min_lr + (lr − min_lr) · (1 + cos(π · (t − W) / (T − W))) / 2   W <= t < T
        lr_t = min_lr                                                        t >= T

    The warm-up starts at ``lr / W`` (never at 0, which would waste an update)
    and reaches ``lr`` at its last update ``t = W − 1``; the cosine starts at
    ``lr`` at ``t = W``.

    Parameters
    ----------
    lr : float
        Peak learning rate, > 0.
    total_steps : int
        Updates until the rate reaches ``min_lr``, >= 1.
    warmup_steps : int, default 0
        Updates of linear warm-up, in [0, total_steps).
    min_lr : float, default 0.0
        Final rate, in [0, lr].
    """

    def __init__(self, lr, total_steps, warmup_steps=0, min_lr=0.0):
        super().__init__(lr)
        self.total_steps = positive_int(total_steps, "total_steps")
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, numbers.Integral):
            raise ValueError(f"warmup_steps must be an integer in [0, {self.total_steps}), got {warmup_steps!r}.")
        if not 0 <= warmup_steps < self.total_steps:
            raise ValueError(
                f"warmup_steps must be in [0, total_steps) = [0, {self.total_steps}), got {warmup_steps!r}."
            )
        self.warmup_steps = int(warmup_steps)
        self.min_lr = _in_range(min_lr, "min_lr", 0.0, self.lr, f"[0, lr] = [0, {self.lr}]")

    def _rates(self, steps, epoch):
        w, total = self.warmup_steps, self.total_steps
        progress = np.clip((steps - w) / (total - w), 0.0, 1.0)
        rates = self.min_lr + (self.lr - self.min_lr) * 0.5 * (1.0 + np.cos(math.pi * progress))
        rates[steps >= total] = self.min_lr
        if w > 0:
            warm = steps < w
            rates[warm] = self.lr * (steps[warm] + 1.0) / w
        return rates

    def config(self):
        names = ("lr", "total_steps", "warmup_steps", "min_lr")
        return {name: getattr(self, name) for name in names}


class InverseScaling(Schedule):
    """Decay as an inverse power of the update count.

    With ``t`` the 0-based global update count::

        lr_t = lr / (t + 1)^power_t

    This is scikit-learn's ``learning_rate="invscaling"`` formula, with one
    difference: scikit-learn's ``t`` counts the *examples* seen and changes
    once per epoch, here ``t`` counts updates and changes every update.

    Parameters
    ----------
    lr : float
        Rate of the first update, > 0.
    power_t : float, default 0.5
        Exponent, >= 0 (0 gives a constant rate).
    """

    def __init__(self, lr, power_t=0.5):
        super().__init__(lr)
        self.power_t = _in_range(power_t, "power_t", 0.0, math.inf, "[0, inf)", high_open=True)

    def _rates(self, steps, epoch):
        return self.lr / (steps + 1.0) ** self.power_t

    def config(self):
        return {"lr": self.lr, "power_t": self.power_t}


class ReduceLROnPlateau(Schedule):
    """Divide the rate by ``1/factor`` when a monitored loss stops improving.

    After each epoch, :meth:`end_epoch` reads ``logs[monitor]`` (or
    ``logs["loss"]`` when ``monitor`` is absent — for example ``"val_loss"``
    when no validation data was given; ``KeyError`` when both are) and:

    - the value is an improvement if it is below ``best − min_delta``
      (the first non-NaN value always is); then ``best`` becomes the value
      and the count of epochs without improvement restarts at 0;
    - the ``cooldown`` epochs right after a reduction are not counted;
    - any other epoch without improvement adds one to the count, and when
      it reaches ``patience`` the rate becomes ``max(rate · factor, min_lr)``,
      the count restarts at 0 and a cool-down begins.

    So with ``patience=2`` the rate drops at the end of the second epoch in
    a row without improvement and applies from the next epoch on, as with
    Keras' callback (PyTorch's scheduler waits one epoch more, reducing
    when the count *exceeds* ``patience``). The monitored quantity is
    always minimized; a NaN never improves.

    Parameters
    ----------
    lr : float
        Initial learning rate, > 0.
    monitor : str, default "val_loss"
        Key of ``logs`` to watch.
    factor : float, default 0.1
        Factor in (0, 1).
    patience : int, default 10
        Epochs without improvement before a reduction, >= 1.
    min_delta : float, default 1e-4
        Smallest decrease counted as an improvement, >= 0.
    min_lr : float, default 0.0
        Lower bound of the rate, in [0, lr].
    cooldown : int, default 0
        Epochs after a reduction during which no epoch counts as without improvement, >= 0.

    Attributes
    ----------
    current_lr : float
        The rate used for the next epoch.
    """

    def __init__(self, lr, monitor="val_loss", factor=0.1, patience=10, min_delta=1e-4, min_lr=0.0, cooldown=0):
        super().__init__(lr)
        if not isinstance(monitor, str):
            raise ValueError(f"monitor must be a str such as 'val_loss', got {monitor!r}.")
        self.monitor = monitor
        self.factor = _in_range(factor, "factor", 0.0, 1.0, "(0, 1)", low_open=True, high_open=True)
        self.patience = positive_int(patience, "patience")
        self.min_delta = _in_range(min_delta, "min_delta", 0.0, math.inf, "[0, inf)", high_open=True)
        self.min_lr = _in_range(min_lr, "min_lr", 0.0, self.lr, f"[0, lr] = [0, {self.lr}]")
        if isinstance(cooldown, bool) or not isinstance(cooldown, numbers.Integral) or cooldown < 0:
            raise ValueError(f"cooldown must be an integer >= 0, got {cooldown!r}.")
        self.cooldown = int(cooldown)
        self.load_state({"current_lr": self.lr, "best": None, "wait": 0, "cooldown_left": 0})

    def _rates(self, steps, epoch):
        return np.full(steps.shape, self.current_lr)

    def end_epoch(self, epoch, logs):
        key = self.monitor if self.monitor in logs else "loss"
        if key not in logs:
            raise KeyError(
                f"ReduceLROnPlateau monitors {self.monitor!r} (or 'loss' in its absence), but logs hold {sorted(logs)}."
            )
        value = float(logs[key])
        improved = not math.isnan(value) and (self.best is None or value < self.best - self.min_delta)
        if improved:
            self.best = value
            self.wait = 0
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
        elif not improved:
            self.wait += 1
            if self.wait >= self.patience:
                self.current_lr = max(self.current_lr * self.factor, self.min_lr)
                self.cooldown_left = self.cooldown
                self.wait = 0

    def state(self):
        return {name: getattr(self, name) for name in ("current_lr", "best", "wait", "cooldown_left")}

    def load_state(self, state):
        self.current_lr = float(state["current_lr"])
        self.best = None if state["best"] is None else float(state["best"])
        self.wait = int(state["wait"])
        self.cooldown_left = int(state["cooldown_left"])

    def config(self):
        names = ("lr", "monitor", "factor", "patience", "min_delta", "min_lr", "cooldown")
        return {name: getattr(self, name) for name in names}


#: Schedules by class name, as saved in model files.
SCHEDULES = {
    cls.__name__: cls for cls in (Constant, StepDecay, ExponentialDecay, CosineDecay, InverseScaling, ReduceLROnPlateau)
}


def schedule_from_config(name, config):
    """Rebuild a schedule from its class name and :meth:`Schedule.config`."""
    try:
        cls = SCHEDULES[name]
    except KeyError:
        raise ValueError(f"Unknown schedule {name!r}; expected one of {', '.join(sorted(SCHEDULES))}.") from None
    return cls(**config)


def _in_range(value, name, low, high, shown, low_open=False, high_open=False):
    """``value`` as a float, or ``ValueError`` naming ``shown`` unless it lies between ``low`` and ``high``."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        raise ValueError(f"{name} must be in {shown}, got {value!r}.")
    return float(value)
