"""Optimizers: how gradients become parameter updates.

An optimizer holds its hyper-parameters, its learning-rate schedule and its
per-parameter state (such as momentum); the update itself is one fused kernel
over the network's flat parameter buffer
(a kernel of :mod:`jitprop.kernels.optimizers`), run once per mini-batch
inside the compiled epoch. A subclass names its kernel code, the number of
state slots it needs and the hyper-parameter array the kernel reads, and
says what the rest of jitprop needs to know about its rule: its short name
(:attr:`Optimizer.name`, looked up with :func:`get_optimizer`), scikit-learn's
name for it and whether it is :attr:`~Optimizer.adaptive`.

The contract with the training loop (:func:`jitprop.training.fit`), per ``fit``::

    optimizer.attach(net)      # keeps the state if it last trained net, else starts afresh (prepare)
    for epoch in ...:
        lrs = optimizer.learning_rates(optimizer.step, n_batches, epoch)
        code, state, hyper = optimizer.kernel_arguments()
        train_epoch(...)       # updates state in place; step numbers start at optimizer.step
        optimizer.step += n_batches               # after a DivergenceError: the batches done
        optimizer.end_epoch(epoch, logs)          # logs: {"loss": ..., "val_loss": ...}

``lr`` is a float or a schedule from :mod:`jitprop.schedules`;
:attr:`Optimizer.schedule` is always a schedule (:class:`~jitprop.schedules.Constant`
for a float). For a checkpoint that resumes bitwise, save ``state``, ``step``
and ``schedule.state()`` (restored with ``schedule.load_state``).
"""

import math

import weakref

import numpy as np

from ._checks import positive_float
from .kernels import optimizers as codes
from .kernels.aligned import aligned_zeros
from .schedules import Constant, Schedule, _in_range, schedule_from_config


class Optimizer:
    """Base class of the update rules.

    Parameters
    ----------
    lr : float or Schedule
        Learning rate, > 0, or a schedule from :mod:`jitprop.schedules`
        that gives the rate of every update.

    Attributes
    ----------
    lr : float or Schedule
        As given.
    schedule : Schedule
        The rates in use: ``lr`` itself, or ``Constant(lr)`` for a float.
    state : ndarray of shape (n_slots, n_params) or None
        Per-parameter state, created on the first step for a network.
    step : int
        Updates made so far.
    """

    code = None
    n_slots = 0
    #: FLOPs of one update per parameter, counted from the rule's kernel (None: not counted).
    flops_per_parameter = None
    #: The short name the estimators (``solver=``) and ``jitprop train --optimizer`` take.
    name = None
    #: scikit-learn's ``solver`` for the same rule, where it has one.
    sklearn_solver = None
    #: Whether the update divides the gradient by a running measure of its size. Then a loss
    #: scaled by ``c`` gives the same updates once ``epsilon`` is scaled by ``c``; otherwise the
    #: step is linear in the gradient, and the same updates need the rate divided by ``c``.
    adaptive = False

    def __init__(self, lr):
        if isinstance(lr, Schedule):
            self.schedule = lr
        else:
            lr = positive_float(lr, "lr")
            self.schedule = Constant(lr)
        self.lr = lr
        self.state = None
        self.step = 0
        self._network = None

    def hyperparameters(self):
        """The float64 array the update kernel reads."""
        raise NotImplementedError

    def prepare(self, n_params, dtype):
        """Make sure the state fits a network of ``n_params`` parameters of ``dtype``.

        State is kept across ``fit`` calls on the same network, so training
        can continue where it stopped; it starts afresh for another shape.
        """
        shape = (max(self.n_slots, 1), n_params)
        if self.state is None or self.state.shape != shape or self.state.dtype != dtype:
            self.state = self._initial_state(shape, dtype)
            self.step = 0

    def __getstate__(self):
        # The network an optimizer last trained is a weak reference, which
        # cannot be pickled; an unpickled optimizer keeps its state for
        # whichever network trains with it next.
        return {**self.__dict__, "_network": None}

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self.state is not None and not self.state.flags.writeable:  # e.g. memory-mapped by joblib
            self.state = np.array(self.state)

    def attach(self, network):
        """Prepare to train ``network``: keep the state if it was this network's, else start afresh.

        An optimizer carries momentum and step counts from one ``fit`` of a
        network to the next; handed to a different network, it starts over.
        """
        if self._network is not None and self._network() is not network:
            self.state = None
        self._network = weakref.ref(network)
        self.prepare(network.n_params, network.dtype)

    def _initial_state(self, shape, dtype):
        return aligned_zeros(shape, dtype)

    def learning_rates(self, first_step, n_steps, epoch):
        """The rate of each of ``n_steps`` updates from 0-based global update ``first_step`` in ``epoch``.

        Returns
        -------
        ndarray of shape (n_steps,), float64
            See :meth:`jitprop.schedules.Schedule.learning_rates`.
        """
        return self.schedule.learning_rates(first_step, n_steps, epoch)

    def end_epoch(self, epoch, logs):
        """Pass the epoch's metrics to the schedule (see :meth:`jitprop.schedules.Schedule.end_epoch`)."""
        self.schedule.end_epoch(epoch, logs)

    def config(self):
        """The constructor arguments, as JSON-compatible values.

        A schedule appears as ``{"schedule": class name, "config": its config}``.
        """
        if isinstance(self.lr, Schedule):
            return {"lr": {"schedule": type(self.lr).__name__, "config": self.lr.config()}}
        return {"lr": self.lr}

    def kernel_arguments(self):
        """``(code, state, hyper)``: the rule's code (see :func:`~.kernels.optimizers.rule_entry`), state, hyper."""
        return (self.code, self.state, self.hyperparameters())

    def __repr__(self):
        config = dict(self.config(), lr=self.lr)
        return f"{type(self).__name__}({', '.join(f'{key}={value!r}' for key, value in config.items())})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum.

    With gradient ``g``, weight decay ``λ``, momentum ``μ`` and velocity ``v``
    (the PyTorch formulation)::

        g ← g + λ·p
        v ← μ·v + g
        p ← p − lr·(g + μ·v)     if nesterov
        p ← p − lr·v             otherwise

    Parameters
    ----------
    lr : float or Schedule, default 0.01
        Learning rate, > 0, or a schedule.
    momentum : float, default 0.0
        ``μ`` in [0, 1).
    nesterov : bool, default False
        Use Nesterov momentum (requires ``momentum > 0``).
    weight_decay : float, default 0.0
        ``λ`` >= 0, an L2 penalty added to the gradient.
    """

    code = codes.SGD
    n_slots = 1
    name = "sgd"
    sklearn_solver = "sgd"

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(lr)
        momentum = _in_range(momentum, "momentum", 0.0, 1.0, "[0, 1)", high_open=True)
        if nesterov and momentum == 0.0:
            raise ValueError("nesterov=True requires momentum > 0.")
        weight_decay = _non_negative(weight_decay, "weight_decay")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.weight_decay = float(weight_decay)

    def hyperparameters(self):
        return np.array([self.momentum, float(self.nesterov), self.weight_decay])

    @property
    def flops_per_parameter(self):
        """4 (``p −= lr·(g + λp)``), 6 with momentum, 8 with Nesterov momentum."""
        if self.momentum == 0.0:
            return 4
        return 8 if self.nesterov else 6

    def config(self):
        return dict(super().config(), momentum=self.momentum, nesterov=self.nesterov, weight_decay=self.weight_decay)


class Adam(Optimizer):
    """Adam, optionally AMSGrad, with L2 weight decay added to the gradient (PyTorch's ``Adam``).

    With gradient ``g``, update count ``t`` (1-based) and the state ``m``,
    ``v`` (and ``v_max``) starting at 0::

        g ← g + λ·p
        m ← β₁·m + (1 − β₁)·g
        v ← β₂·v + (1 − β₂)·g²
        v_max ← max(v_max, v)                     if amsgrad (then v_max replaces v below)
        m̂ = m / (1 − β₁ᵗ)
        v̂ = v / (1 − β₂ᵗ)
        p ← p − lr · m̂ / (√v̂ + ε)

    As in PyTorch, AMSGrad keeps the maximum of the raw second moment ``v``
    and bias-corrects it with the current step's ``1 − β₂ᵗ``.

    Parameters
    ----------
    lr : float or Schedule, default 0.001
        Learning rate, > 0, or a schedule.
    beta_1 : float, default 0.9
        ``β₁`` in [0, 1), decay of the first moment.
    beta_2 : float, default 0.999
        ``β₂`` in [0, 1), decay of the second moment.
    epsilon : float, default 1e-8
        ``ε`` > 0, added to the denominator.
    weight_decay : float, default 0.0
        ``λ`` >= 0, an L2 penalty added to the gradient (see :class:`AdamW`
        for the decoupled kind).
    amsgrad : bool, default False
        Divide by the largest second moment so far.
    """

    code = codes.ADAM
    name = "adam"
    sklearn_solver = "adam"
    adaptive = True

    def __init__(self, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0.0, amsgrad=False):
        super().__init__(lr)
        self.beta_1 = _in_range(beta_1, "beta_1", 0.0, 1.0, "[0, 1)", high_open=True)
        self.beta_2 = _in_range(beta_2, "beta_2", 0.0, 1.0, "[0, 1)", high_open=True)
        self.epsilon = _positive(epsilon, "epsilon")
        self.weight_decay = _non_negative(weight_decay, "weight_decay")
        self.amsgrad = bool(amsgrad)

    @property
    def n_slots(self):
        return 3 if self.amsgrad else 2

    def hyperparameters(self):
        return np.array([self.beta_1, self.beta_2, self.epsilon, self.weight_decay, float(self.amsgrad)])

    @property
    def flops_per_parameter(self):
        """16, one more with AMSGrad (AdamW: one more again, for the decay)."""
        return 16 + self.amsgrad

    def config(self):
        names = ("beta_1", "beta_2", "epsilon", "weight_decay", "amsgrad")
        return dict(super().config(), **{name: getattr(self, name) for name in names})


class AdamW(Adam):
    """Adam with decoupled weight decay (PyTorch's ``AdamW``).

    The parameters shrink before the Adam step, and the gradient is left as it is::

        p ← p − lr·λ·p
        m ← β₁·m + (1 − β₁)·g
        v ← β₂·v + (1 − β₂)·g²
        v_max ← max(v_max, v)                     if amsgrad (then v_max replaces v below)
        p ← p − lr · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε)

    Parameters
    ----------
    lr : float or Schedule, default 0.001
        Learning rate, > 0, or a schedule (the decay follows the scheduled rate).
    beta_1, beta_2, epsilon, amsgrad
        As in :class:`Adam`.
    weight_decay : float, default 0.01
        ``λ`` >= 0.
    """

    code = codes.ADAMW
    name = "adamw"
    sklearn_solver = None

    def __init__(self, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0.01, amsgrad=False):
        super().__init__(lr, beta_1, beta_2, epsilon, weight_decay, amsgrad)

    @property
    def flops_per_parameter(self):
        """Adam's, plus one for the decoupled decay."""
        return super().flops_per_parameter + 1


class RMSprop(Optimizer):
    """RMSprop, optionally centered and with momentum (PyTorch's ``RMSprop``; its ``alpha`` is ``rho``).

    With gradient ``g`` and the state ``s`` (and ``ḡ``, ``b``) starting at 0::

        g ← g + λ·p
        s ← ρ·s + (1 − ρ)·g²
        ḡ ← ρ·ḡ + (1 − ρ)·g                      if centered
        d = √(s − ḡ²) + ε  if centered,  else  d = √s + ε
        b ← μ·b + g / d;   p ← p − lr·b           if momentum > 0
        p ← p − lr · g / d                        otherwise

    ``s − ḡ²`` is never negative in exact arithmetic; a rounding below 0 is
    taken as 0.

    Parameters
    ----------
    lr : float or Schedule, default 0.01
        Learning rate, > 0, or a schedule.
    rho : float, default 0.99
        ``ρ`` in [0, 1), decay of the running averages.
    epsilon : float, default 1e-8
        ``ε`` > 0, added to the denominator.
    momentum : float, default 0.0
        ``μ`` in [0, 1).
    centered : bool, default False
        Divide by an estimate of the gradient's variance instead of its second moment.
    weight_decay : float, default 0.0
        ``λ`` >= 0, an L2 penalty added to the gradient.
    """

    code = codes.RMSPROP
    name = "rmsprop"
    adaptive = True

    def __init__(self, lr=0.01, rho=0.99, epsilon=1e-8, momentum=0.0, centered=False, weight_decay=0.0):
        super().__init__(lr)
        self.rho = _in_range(rho, "rho", 0.0, 1.0, "[0, 1)", high_open=True)
        self.epsilon = _positive(epsilon, "epsilon")
        self.momentum = _in_range(momentum, "momentum", 0.0, 1.0, "[0, 1)", high_open=True)
        self.centered = bool(centered)
        self.weight_decay = _non_negative(weight_decay, "weight_decay")

    @property
    def n_slots(self):
        return 1 + int(self.centered) + int(self.momentum != 0.0)

    def hyperparameters(self):
        return np.array([self.rho, self.epsilon, self.momentum, float(self.centered), self.weight_decay])

    @property
    def flops_per_parameter(self):
        """8; centered 6 more, with momentum 2 more."""
        return 8 + (6 if self.centered else 0) + (2 if self.momentum else 0)

    def config(self):
        names = ("rho", "epsilon", "momentum", "centered", "weight_decay")
        return dict(super().config(), **{name: getattr(self, name) for name in names})


class Adagrad(Optimizer):
    """Adagrad (PyTorch's ``Adagrad``).

    With gradient ``g``, update count ``t`` (1-based) and the sum ``s``
    starting at ``initial_accumulator_value``::

        g ← g + λ·p
        s ← s + g²
        p ← p − lr / (1 + (t − 1)·lr_decay) · g / (√s + ε)

    Parameters
    ----------
    lr : float or Schedule, default 0.01
        Learning rate, > 0, or a schedule (``lr_decay`` applies on top of it).
    initial_accumulator_value : float, default 0.0
        Start of ``s``, >= 0.
    epsilon : float, default 1e-10
        ``ε`` > 0, added to the denominator.
    weight_decay : float, default 0.0
        ``λ`` >= 0, an L2 penalty added to the gradient.
    lr_decay : float, default 0.0
        >= 0; PyTorch's built-in decay of the rate with the update count.
    """

    code = codes.ADAGRAD
    n_slots = 1
    flops_per_parameter = 9
    name = "adagrad"
    adaptive = True

    def __init__(self, lr=0.01, initial_accumulator_value=0.0, epsilon=1e-10, weight_decay=0.0, lr_decay=0.0):
        super().__init__(lr)
        self.initial_accumulator_value = _non_negative(initial_accumulator_value, "initial_accumulator_value")
        self.epsilon = _positive(epsilon, "epsilon")
        self.weight_decay = _non_negative(weight_decay, "weight_decay")
        self.lr_decay = _non_negative(lr_decay, "lr_decay")

    def _initial_state(self, shape, dtype):
        return np.full(shape, self.initial_accumulator_value, dtype=dtype)

    def hyperparameters(self):
        return np.array([self.epsilon, self.weight_decay, self.lr_decay])

    def config(self):
        names = ("initial_accumulator_value", "epsilon", "weight_decay", "lr_decay")
        return dict(super().config(), **{name: getattr(self, name) for name in names})


#: Optimizers by class name, as saved in model files.
OPTIMIZERS = {cls.__name__: cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad)}

#: Optimizers by short name (:attr:`Optimizer.name`), in the order of :data:`OPTIMIZERS`.
BY_NAME = {cls.name: cls for cls in OPTIMIZERS.values()}


def get_optimizer(name):
    """Look up an optimizer class by short name (``"sgd"``, ``"adam"``, ...), with a message listing the valid ones.

    Parameters
    ----------
    name : str
        An :attr:`Optimizer.name`.

    Returns
    -------
    type
        The :class:`Optimizer` subclass.
    """
    try:
        return BY_NAME[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown optimizer {name!r}; expected one of {', '.join(sorted(BY_NAME))}.") from None


def optimizer_from_config(name, config):
    """Rebuild an optimizer from its class name and :meth:`Optimizer.config`."""
    try:
        cls = OPTIMIZERS[name]
    except KeyError:
        raise ValueError(f"Unknown optimizer {name!r}; expected one of {', '.join(sorted(OPTIMIZERS))}.") from None
    config = dict(config)
    if isinstance(config.get("lr"), dict):
        config["lr"] = schedule_from_config(config["lr"]["schedule"], config["lr"]["config"])
    return cls(**config)


def _positive(value, name):
    return _in_range(value, name, 0.0, math.inf, "(0, inf)", low_open=True, high_open=True)


def _non_negative(value, name):
    return _in_range(value, name, 0.0, math.inf, "[0, inf)", high_open=True)
