"""The training budget of ``jitprop train`` when ``--epochs`` is not given: enough updates, then early stopping.

A fixed number of epochs gives a large table many updates and a small one
few: 30 epochs of batches of 32 are 14,000 updates on the digits but 120 on
iris, which stops far from a good fit. By default the command therefore
trains for at most :func:`max_epochs` epochs, as many as it takes for about
:data:`UPDATES` updates (at least :data:`MIN_EPOCHS`, at most
:data:`MAX_EPOCHS`), and stops when the validation loss has not improved for
:func:`default_patience` epochs, keeping the weights of the best epoch.
Without a validation part it trains for the whole budget.

Training small tables that long overfits them unless the weights are kept
small: the default budget comes with an L2 penalty of :data:`L2` (scikit-
learn's ``MLPClassifier`` has one too). Without it, the validation loss of
the breast cancer table is lowest after 10 epochs, at 0.938 accuracy, and
0.965 with it. ``--epochs N`` trains exactly as before: N epochs, no penalty
and no early stopping unless asked for.
"""

import math
from dataclasses import dataclass

#: Updates (batches) the default budget allows, spread over as many epochs as that takes.
UPDATES = 20_000

#: Bounds on the default number of epochs: large tables get this many at least, tiny ones at most.
MIN_EPOCHS = 30
MAX_EPOCHS = 5_000

#: L2 penalty of the default budget (``Network(l2=...)``).
L2 = 1e-3

#: Bounds on the default patience of early stopping, in epochs.
MIN_PATIENCE = 10
MAX_PATIENCE = 100


@dataclass
class Budget:
    """How long ``jitprop train`` trains.

    Attributes
    ----------
    epochs : int
        The most epochs to train.
    patience : int or None
        Stop after this many epochs without a better validation loss (None: never).
    default : bool
        Whether ``epochs`` is the default, chosen from the table's size.
    l2 : float
        The network's L2 penalty.
    updates : int or None
        The updates the default budget aims at (None for ``--epochs``).
    """

    epochs: int
    patience: int | None
    default: bool
    l2: float
    updates: int | None = None

    def describe(self):
        """How the budget reads in the line ``optimizer: ...``."""
        penalty = f", L2 {self.l2:g}" if self.l2 else ""
        if self.patience is None:
            return f"{self.epochs:,} epochs{penalty}"
        return f"at most {self.epochs:,} epochs, stopping {self.patience} after the best validation loss{penalty}"


def choose_budget(epochs, patience, l2, n_train, batch_size, validation):
    """The budget for ``--epochs``, ``--early-stopping`` and ``--l2`` (each None when not given).

    Parameters
    ----------
    epochs, patience : int or None
        The options as given.
    l2 : float or None
        The option as given.
    n_train : int
        Training examples.
    batch_size : int
    validation : bool
        Whether there is a validation part to stop on.
    """
    if epochs is not None:
        return Budget(epochs, patience, default=False, l2=0.0 if l2 is None else l2)
    most = max_epochs(n_train, batch_size)
    if patience is None and validation:
        patience = default_patience(most)
    return Budget(most, patience, default=True, l2=L2 if l2 is None else l2, updates=UPDATES)


def max_epochs(n_train, batch_size):
    """Epochs for about :data:`UPDATES` updates, within [:data:`MIN_EPOCHS`, :data:`MAX_EPOCHS`]."""
    steps = math.ceil(n_train / batch_size)
    return min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(UPDATES / steps)))


def default_patience(epochs):
    """A tenth of the epochs, within [:data:`MIN_PATIENCE`, :data:`MAX_PATIENCE`]."""
    return min(MAX_PATIENCE, max(MIN_PATIENCE, epochs // 10))
