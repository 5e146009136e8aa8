"""Optimizers: how gradients become parameter updates.

An optimizer holds its hyper-parameters and its per-parameter state (such as
momentum); the update itself is one fused kernel over the network's flat
parameter buffer (:func:`jitprop.kernels.optimizers.apply_update`), run once
per mini-batch inside the compiled epoch. A subclass names its kernel code,
the number of state slots it needs and the hyper-parameter array the kernel
reads.
"""

import numpy as np

from ._checks import positive_float
from .kernels import optimizers as codes


class Optimizer:
    """Base class of the update rules.

    Parameters
    ----------
    lr : float
        Learning rate, > 0.

    Attributes
    ----------
    state : ndarray of shape (n_slots, n_params) or None
        Per-parameter state, created on the first step for a network.
    step : int
        Updates made so far.
    """

    code = None
    n_slots = 0

    def __init__(self, lr):
        self.lr = positive_float(lr, "lr")
        self.state = None
        self.step = 0

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
            self.state = np.zeros(shape, dtype=dtype)
            self.step = 0

    def config(self):
        """The constructor arguments, as JSON-compatible values."""
        raise NotImplementedError

    def kernel_arguments(self):
        """``(code, state, hyper)`` as :func:`~jitprop.kernels.epoch.train_epoch` takes them."""
        return (self.code, self.state, self.hyperparameters())


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
    lr : float
        Learning rate, > 0.
    momentum : float, default 0.0
        ``μ`` in [0, 1).
    nesterov : bool, default False
        Use Nesterov momentum (requires ``momentum > 0``).
    weight_decay : float, default 0.0
        ``λ`` >= 0, an L2 penalty added to the gradient.
    """

    code = codes.SGD
    n_slots = 1

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(lr)
        if not (0.0 <= momentum < 1.0):
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}.")
        if nesterov and momentum == 0.0:
            raise ValueError("nesterov=True requires momentum > 0.")
        if not (0.0 <= weight_decay < float("inf")):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}.")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.weight_decay = float(weight_decay)

    def hyperparameters(self):
        return np.array([self.momentum, float(self.nesterov), self.weight_decay])

    def config(self):
        return {"lr": self.lr, "momentum": self.momentum, "nesterov": self.nesterov, "weight_decay": self.weight_decay}

    def __repr__(self):
        return f"SGD(lr={self.lr}, momentum={self.momentum}, nesterov={self.nesterov})"


#: Optimizers by name, as saved in model files.
OPTIMIZERS = {"SGD": SGD}


def optimizer_from_config(name, config):
    """Rebuild an optimizer from its class name and :meth:`Optimizer.config`."""
    try:
        cls = OPTIMIZERS[name]
    except KeyError:
        raise ValueError(f"Unknown optimizer {name!r}; expected one of {', '.join(sorted(OPTIMIZERS))}.") from None
    return cls(**config)
