"""Callbacks: code that runs at the edges of training.

A callback subclasses :class:`Callback` and overrides any of
``on_train_begin(logs)``, ``on_epoch_begin(epoch, logs)``,
``on_epoch_end(epoch, logs)`` and ``on_train_end(logs)``. ``logs`` at the end
of an epoch holds that epoch's ``loss``, ``accuracy``, ``val_loss``,
``val_accuracy``, ``lr``, ``seconds`` and ``examples_per_second`` (those that
apply). ``self.network`` is the network being trained; setting
``self.network.stop_training = True`` ends training after the epoch.
``self.fit_plan`` is the :class:`~jitprop.training.FitPlan` of the ``fit``
call: its first epoch, epochs, batch size and shuffling.
"""

import csv
import io
import json
import math

import numpy as np

from .io._atomic import write_atomically


class Callback:
    """Base class: every hook does nothing.

    Attributes
    ----------
    network : Network
        The network being trained, set by ``fit`` before ``on_train_begin``.
    fit_plan : jitprop.training.FitPlan
        What the ``fit`` call trains, set likewise.
    """

    network = None
    fit_plan = None

    def set_network(self, network):
        self.network = network

    def set_fit_plan(self, plan):
        self.fit_plan = plan

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass


def _monitored(logs, monitor, who):
    if monitor not in logs:
        raise ValueError(
            f"{who} monitors {monitor!r}, but the epoch's logs hold only {', '.join(sorted(logs))}; "
            f"pass validation_data or validation_split to fit, or monitor='loss'."
        )
    return logs[monitor]


def _mode(monitor, mode):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}.")
    if mode == "auto":
        return "max" if "accuracy" in monitor else "min"
    return mode


class EarlyStopping(Callback):
    """Stop training when a monitored metric has stopped improving.

    Parameters
    ----------
    monitor : str, default "val_loss"
        Key of the epoch logs to watch.
    patience : int, default 0
        Epochs without improvement after which training stops.
    min_delta : float, default 0.0
        Smallest change that counts as an improvement.
    mode : {"auto", "min", "max"}, default "auto"
        Whether smaller or larger is better; "auto" means larger for
        accuracies, smaller otherwise.
    restore_best_weights : bool, default False
        At the end of training, put back the weights of the best epoch.

    Attributes
    ----------
    best : float
        Best value seen.
    best_epoch : int or None
        Epoch that reached it.
    stopped_epoch : int or None
        Epoch after which training was stopped, if it was.
    """

    def __init__(self, monitor="val_loss", patience=0, min_delta=0.0, mode="auto", restore_best_weights=False):
        if patience < 0:
            raise ValueError(f"patience must be >= 0, got {patience!r}.")
        if min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta!r}.")
        self.monitor = monitor
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.mode = _mode(monitor, mode)
        self.restore_best_weights = bool(restore_best_weights)

    def on_train_begin(self, logs=None):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = None
        self.stopped_epoch = None
        self.wait = 0
        self._best_params = None

    def _improved(self, value):
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        value = _monitored(logs, self.monitor, "EarlyStopping")
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self._best_params = self.network.params.copy()
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            self.network.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self._best_params is not None:
            self.network.params[...] = self._best_params


class ModelCheckpoint(Callback):
    """Save the network (weights, optimizer and random state) during training.

    A checkpoint can resume training bit for bit: ``fit(..., resume_from=path)``.

    Parameters
    ----------
    path : str
        File to write; ``{epoch}`` in it is replaced by the epoch number
        (1-based, the number of epochs trained).
    every : int, default 1
        Save after every ``every`` epochs.
    save_best_only : bool, default False
        Save only when ``monitor`` improves.
    monitor : str, default "val_loss"
    mode : {"auto", "min", "max"}, default "auto"
    extra : JSON-compatible value, optional
        Stored in each file (see :func:`jitprop.save`), e.g. preprocessing.

    Attributes
    ----------
    last_path : str or None
        The file most recently written.
    last_epoch : int or None
        Epochs trained when it was written.
    """

    def __init__(self, path, every=1, save_best_only=False, monitor="val_loss", mode="auto", extra=None):
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every!r}.")
        self.path = str(path)
        self.every = int(every)
        self.save_best_only = bool(save_best_only)
        self.monitor = monitor
        self.mode = _mode(monitor, mode)
        self.extra = extra
        self.last_path = None
        self.last_epoch = None

    def on_train_begin(self, logs=None):
        self._best = math.inf if self.mode == "min" else -math.inf

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        if self.save_best_only:
            value = _monitored(logs, self.monitor, "ModelCheckpoint")
            better = value < self._best if self.mode == "min" else value > self._best
            if not better:
                return
            self._best = value
        from .io.model_file import save

        path = self.path.format(epoch=epoch + 1)
        training = None if self.fit_plan is None else self.fit_plan.as_dict()
        save(self.network, path, epoch=epoch + 1, training=training, extra=self.extra)
        self.last_path = path
        self.last_epoch = epoch + 1


class _Logger(Callback):
    """Rewrites a log file of every epoch so far, atomically, after each epoch."""

    def __init__(self, path):
        self.path = str(path)

    def on_train_begin(self, logs=None):
        self.rows = []

    def on_epoch_end(self, epoch, logs=None):
        self.rows.append({"epoch": epoch, **{k: _plain(v) for k, v in logs.items()}})
        write_atomically(self.path, self._render().encode())


class CSVLogger(_Logger):
    """Write the per-epoch logs as CSV (one row per epoch, header first).

    Parameters
    ----------
    path : str
    """

    def _render(self):
        columns = list(dict.fromkeys(key for row in self.rows for key in row))
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        return text.getvalue()


class JSONLogger(_Logger):
    """Write the per-epoch logs as JSON: ``{"epochs": [{"epoch": 0, "loss": ...}, ...]}``.

    Parameters
    ----------
    path : str
    """

    def _render(self):
        return json.dumps({"epochs": self.rows}, indent=1) + "\n"


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value
