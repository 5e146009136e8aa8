"""The training loop: ``Network.fit`` → epochs → one compiled call per epoch.

Each epoch draws an order of the examples, then hands the whole epoch —
every batch's forward pass, backward pass and update — to
:func:`jitprop.kernels.epoch.train_epoch`. Nothing in Python runs per batch.
"""

import time
from dataclasses import dataclass, field

import numpy as np

from . import _checks, workspace
from .errors import DivergenceError
from .kernels.dense import refresh_mirror
from .kernels.epoch import train_epoch
from .optimizers import SGD, Optimizer


@dataclass
class History:
    """What :meth:`Network.fit` returns: per-epoch records.

    Attributes
    ----------
    history : dict of str to list of float
        ``"loss"`` (mean training loss over the epoch's batches),
        ``"accuracy"`` for classification losses, ``"seconds"`` (wall time)
        and ``"examples_per_second"``.
    epochs : list of int
        0-based index of each recorded epoch.
    """

    history: dict = field(default_factory=dict)
    epochs: list = field(default_factory=list)

    def record(self, epoch, **values):
        self.epochs.append(epoch)
        for key, value in values.items():
            self.history.setdefault(key, []).append(value)

    def __getitem__(self, key):
        return self.history[key]


def train(net, X, y, epochs, batch_size, optimizer, shuffle, verbose):
    """Train ``net`` in place; see :meth:`jitprop.Network.fit`."""
    epochs = _checks.positive_int(epochs, "epochs")
    batch_size = _checks.positive_int(batch_size, "batch_size")
    if optimizer is None:
        optimizer = net.optimizer if net.optimizer is not None else SGD()
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a jitprop Optimizer such as jitprop.SGD(lr=0.01), got {optimizer!r}.")
    data = net._data(X, y)
    n = data.inputs.shape[0]
    batch_size = min(batch_size, n)
    n_batches = -(-n // batch_size)

    optimizer.prepare(net.n_params, net.dtype)
    net.optimizer = optimizer
    ws = workspace.allocate(net.layout, batch_size, net.n_params, net.dtype)
    grad = np.zeros(net.n_params, dtype=net.dtype)
    batch_stats = np.zeros((n_batches, 2))
    refresh_mirror(net.layout, net.params, net._mirror)

    history = History()
    for epoch in range(epochs):
        order = net.rng.permutation(n) if shuffle else np.arange(n, dtype=np.int64)
        lrs = np.full(n_batches, optimizer.lr)
        started = time.perf_counter()
        done = train_epoch(
            net.layout,
            net.params,
            net._mirror,
            data,
            order,
            batch_size,
            ws,
            grad,
            optimizer.kernel_arguments(),
            lrs,
            optimizer.step,
            batch_stats,
        )
        seconds = time.perf_counter() - started
        optimizer.step += done
        if done < n_batches:
            raise DivergenceError(epoch, done, float(lrs[done]))
        rows = np.full(n_batches, batch_size)
        rows[-1] = n - batch_size * (n_batches - 1)
        mean_loss = float(batch_stats[:, 0] @ rows) / n
        metrics = net._metrics(mean_loss, batch_stats[:, 1].sum(), n)
        metrics["seconds"] = seconds
        metrics["examples_per_second"] = n / seconds if seconds > 0 else float("inf")
        history.record(epoch, **metrics)
        if verbose:
            shown = "".join(f"  {key} {metrics[key]:.4f}" for key in ("loss", "accuracy") if key in metrics)
            rate = metrics["examples_per_second"]
            print(f"epoch {epoch + 1}/{epochs}{shown}  {rate:,.0f} examples/s", flush=True)
    return history

