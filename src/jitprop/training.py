"""The training loop: :func:`fit` (which is ``Network.fit``) → epochs → one compiled call per epoch.

Each epoch draws an order of the examples and the learning rate of every
batch, then hands the whole epoch — every batch's forward pass, backward
pass and update — to :func:`jitprop.kernels.epoch.train_epoch`. Nothing in
Python runs per batch; with a progress bar the epoch is cut into a few
segments so the bar can move, which changes nothing in the result.
"""

import sys
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import numpy as np

from . import _checks, _threading
from .callbacks import Callback
from .distributed import Rows
from .errors import DivergenceError
from .kernels import kinds, recurrent, workspace
from .kernels._numba.linking import type_key
from .kernels.aligned import aligned_zeros
from .kernels.batch import chunking
from .kernels.epoch import (
    epoch_totals,
    EpochPlan,
    backup_buffers,
    epoch_kernels,
    gradient_adjustments,
    train_epoch,
)
from .kernels.layout import Kernels
from .kernels.optimizers import rule_entry
from .kernels.tiny import trains_tiny
from .lbfgs import LBFGS
from .losses import get_loss
from .optimizers import SGD, Optimizer
from .splitting import stratified_split
from .truncation import Truncation, check_truncatable

# Segments per epoch when a progress bar is shown.
_PROGRESS_SEGMENTS = 20

#: Memory the workspaces of epochs are carved from (see kernels.workspace.Arena): a convolutional network's
#: workspace is large, and allocated afresh for each fit its pages were mapped and zeroed again: fit(epochs=1)
#: of the complexity experiment's network on 32x32 images took 1.8 times as long (160 to 168 ms against 91 to
#: 92, Intel Xeon of the Sapphire Rapids class, 4 alternating rounds).
_FIT_MEMORY = workspace.Arena()


@dataclass
class History:
    """What :meth:`Network.fit` returns: per-epoch records.

    Attributes
    ----------
    history : dict of str to list of float
        ``"loss"`` (mean training loss over the epoch's batches, with the L2
        penalty and dropout as trained), ``"accuracy"`` for classification
        losses, ``"val_loss"`` and ``"val_accuracy"`` with validation data,
        ``"lr"`` (learning rate of the epoch's last batch), ``"seconds"``
        (wall time of the epoch's training) and ``"examples_per_second"``.
    epochs : list of int
        Number of each recorded epoch.
    """

    history: dict = field(default_factory=dict)
    epochs: list = field(default_factory=list)

    def record(self, epoch, logs):
        self.epochs.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __getitem__(self, key):
        return self.history[key]


@dataclass(frozen=True)
class FitPlan:
    """What one :func:`fit` call trains, as callbacks see it (:attr:`Callback.fit_plan`).

    :class:`~jitprop.callbacks.ModelCheckpoint` stores it in each checkpoint,
    so that ``fit(..., resume_from=checkpoint)`` knows which epochs are left.

    Attributes
    ----------
    first_epoch : int
        Number of the call's first epoch.
    epochs : int
        Epochs the call trains, from ``first_epoch``.
    batch_size : int
        Examples per update (at most the number of training examples).
    shuffle : bool
    bptt_steps : int or None
        Steps per chunk of truncated back-propagation through time (``fit``'s
        ``bptt_steps`` when it is less than the sequences' steps), else None.
    """

    first_epoch: int
    epochs: int
    batch_size: int
    shuffle: bool
    bptt_steps: int | None = None

    def as_dict(self):
        """The plan as JSON-compatible values (without ``bptt_steps`` when it is None)."""
        plan = asdict(self)
        if plan["bptt_steps"] is None:
            del plan["bptt_steps"]
        return plan


def fit(
    net,
    X,
    y,
    epochs=1,
    batch_size=32,
    optimizer=None,
    shuffle=True,
    verbose="auto",
    *,
    validation_data=None,
    validation_split=0.0,
    sample_weight=None,
    class_weight=None,
    callbacks=(),
    initial_epoch=None,
    clip_norm=None,
    resume_from=None,
    comm=None,
    combine="tiles",
    bptt_steps=None,
):
    """Train by mini-batch back-propagation.

    ``Network.fit`` is this function: ``net.fit(X, y, ...)`` is
    ``fit(net, X, y, ...)``, which trains ``net`` in place.

    Parameters
    ----------
    X : array-like of shape (n_samples, input_dim)
        Any array-like; a C-contiguous float32/float64 array (including a
        ``np.memmap`` or an ``np.load(..., mmap_mode="r")`` array) is read
        in place, batch by batch, without a copy. With ``comm``, also a
        ``.npy`` path, or a :class:`jitprop.distributed.Rows` that each
        rank reads its rows of, transformed, at the start of each epoch.
    y : array-like
        ``cross_entropy``: class indices of shape (n_samples,) or rows of
        probabilities (n_samples, n_outputs). ``binary_cross_entropy``:
        values in [0, 1] of shape (n_samples,) or (n_samples, n_outputs).
        ``mse``: shape (n_samples,) for one output or (n_samples, n_outputs);
        ``poisson`` likewise, values >= 0. Outputs per step take targets of
        shape (n_samples, steps, k) (or flat, (n_samples, steps·k)); a
        softmax per step takes a class index per step, (n_samples, steps),
        or a row of probabilities per step, (n_samples, steps, k).
    epochs : int, default 1
        Epochs this call trains.
    batch_size : int, default 32
        Examples per update; the last batch of an epoch may be smaller.
    optimizer : Optimizer or LBFGS, optional
        Default: the optimizer of the previous call, else ``SGD(lr=0.01)``.
        Its state (momentum, step count) carries over between calls.
        :class:`~jitprop.LBFGS` trains on the whole training set instead:
        each epoch is one L-BFGS iteration (see there for what it ignores).
    shuffle : bool, default True
        Visit the examples in a new random order each epoch.
    verbose : {"auto", 0, 1, 2}, default "auto"
        0 silent; 1 a progress bar per epoch; 2 one line per epoch;
        "auto" is 1 when standard error is a terminal, else 0.
    validation_data : tuple (X_val, y_val), optional
        Evaluated after every epoch (``val_loss``, ``val_accuracy``).
    validation_split : float, default 0.0
        Fraction of ``(X, y)`` held out for validation instead, stratified
        by class for classification losses with class-index targets.
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative weight of each example; a batch's loss is the
        weighted mean.
    class_weight : dict or "balanced", optional
        Weight of each class (multiplies ``sample_weight``), for
        ``cross_entropy`` with class indices or ``binary_cross_entropy``
        with one output. "balanced" weighs classes by n / (k · count).
    callbacks : list of Callback, optional
        See :mod:`jitprop.callbacks` (early stopping, checkpoints, logs).
    initial_epoch : int, optional
        Number of the first epoch (default: :attr:`epoch`, the epochs
        trained so far). It numbers the history and selects the epoch's
        dropout masks and learning rates.
    clip_norm : float, optional
        Scale each batch's gradient down to this global L2 norm if larger.
    resume_from : str or path, optional
        A checkpoint written by :class:`jitprop.callbacks.ModelCheckpoint`
        during an earlier call with the same arguments: weights, optimizer
        and random state are restored and only the epochs that call had
        left are trained, ending bitwise where the uninterrupted run would.
        Any number of ranks may resume a checkpoint of any other number.
    comm : mpi4py.MPI.Intracomm, optional
        Train data-parallel over the ranks of this communicator (run under
        ``mpiexec -n P``; ``pip install 'jitprop[mpi]'``). Every rank calls
        ``fit`` with the same arguments and the whole ``X`` (an array,
        memory map or ``.npy`` path, of which each rank reads only the rows
        of its own examples); each batch is shared out by whole tiles and
        the gradients combined once per batch, so every rank holds the same
        weights after every update. Rank 0 starts them (its weights, random
        and optimizer state are broadcast), validates, runs the callbacks
        (checkpoints, logs, early stopping) and shows progress; every rank
        returns the same history. A rank that raises ends every rank with
        :class:`~jitprop.errors.RankError`. With :class:`~jitprop.LBFGS`
        every evaluation of the full-batch loss is shared out by tiles the
        same way, and rank 0 runs SciPy. See :mod:`jitprop.distributed` and
        docs/distributed.md.
    combine : {"tiles", "allreduce"}, default "tiles"
        With ``comm``: how a batch's gradients are combined. ``"tiles"``
        gathers every tile's gradient and sums them in the single process's
        order: the weights equal those of ``fit`` without ``comm``, bit for
        bit, for any number of ranks (traffic: tiles × parameters per batch).
        ``"allreduce"`` adds the ranks' partial sums (traffic: parameters per
        batch): reproducible for a given number of ranks only. The same holds
        for each evaluation of :class:`~jitprop.LBFGS`.
    bptt_steps : int, optional
        Truncated back-propagation through time, for a network with an
        output per time step (recurrent layers with
        ``return_sequences=True``, then ``Dense`` per step; no
        ``Bidirectional``): each batch of sequences trains as ⌈T/k⌉
        updates, ``k = bptt_steps``, one per chunk of steps
        ``[c·k, min(T, (c+1)·k))``. A chunk's loss is the mean over its
        steps (and outputs and examples); each recurrent layer starts
        chunk ``c`` from the state (``h``, and the LSTM's ``c``) its
        forward pass reached at the end of chunk ``c − 1`` of the same
        sequences, with the weights before that chunk's update, and no
        gradient flows into chunk ``c − 1`` (chunk 0 starts from zeros).
        The activations and stored gates take memory for ``k`` steps,
        O(k·batch·units) instead of O(T·batch·units); the gradient's
        horizon is ``k`` steps. The learning rate schedule and the
        optimizer's step count advance per update (⌈T/k⌉ per batch); the
        recorded loss of a batch is the mean of its chunks' losses,
        weighted by their steps; validation runs whole sequences. A ``k``
        of ``T`` or more trains on whole sequences, bit for bit as without
        it. A chunk whose loss or gradient is not finite raises
        :class:`~jitprop.errors.DivergenceError` with the weights of the
        update before it (earlier chunks of its batch applied). Not with
        ``comm`` nor :class:`~jitprop.LBFGS`. See :mod:`jitprop.truncation`.

    Returns
    -------
    History
        Per-epoch training loss and accuracy, validation metrics, learning
        rate, wall time and examples per second.

    Raises
    ------
    DivergenceError
        If a batch's loss or gradient is not finite; the network keeps the
        weights from before that batch.
    RankError
        With ``comm``, on every rank, when one of them raised.
    """
    if bptt_steps is not None:
        if isinstance(optimizer, LBFGS):
            raise ValueError("LBFGS trains on the exact full-batch loss: it takes no bptt_steps.")
        bptt_steps = _checks.positive_int(bptt_steps, "bptt_steps")
        if comm is not None:
            raise ValueError("bptt_steps trains on chunks of steps in one process: it takes no comm.")
        check_truncatable(net, bptt_steps)
        if bptt_steps >= net.input_shape[0]:
            bptt_steps = None  # (one chunk: the whole sequence)
    epochs = _checks.positive_int(epochs, "epochs")
    batch_size = _checks.positive_int(batch_size, "batch_size")
    clip_norm = 0.0 if clip_norm is None else _checks.positive_float(clip_norm, "clip_norm")
    if optimizer is None:
        optimizer = net.optimizer if net.optimizer is not None else SGD()
    full_batch = isinstance(optimizer, LBFGS)
    session = None
    if isinstance(X, Rows):
        if comm is None or full_batch or validation_split:
            raise ValueError(
                "X given as jitprop.distributed.Rows is read by the ranks of fit(comm=...), a few rows each, "
                "with a mini-batch optimizer and without validation_split (pass validation_data)."
            )
    if comm is not None:
        from .distributed import Session

        session = Session(comm, combine)
        verbose = _resolve_verbose(verbose) if session.root else 0
    if full_batch and (clip_norm or resume_from is not None):
        raise ValueError("LBFGS trains on the exact full-batch loss: it takes no clip_norm and no resume_from.")
    if not full_batch and not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"optimizer must be a jitprop Optimizer such as jitprop.SGD(lr=0.01), or jitprop.LBFGS(), "
            f"got {optimizer!r}."
        )
    callbacks = _checks.instances(callbacks, Callback, "callbacks", "jitprop.callbacks.Callback")
    shuffle = _checks.boolean(shuffle, "shuffle")
    verbose = _resolve_verbose(verbose)

    with nullcontext() if session is None else session.together("setup"):
        # Resuming restores the network first: its random state decides the split.
        if resume_from is not None:
            first_epoch, epochs = _resume(net, resume_from, optimizer, bptt_steps)
            optimizer = net.optimizer
        else:
            first_epoch = (
                net.epoch if initial_epoch is None else _checks.non_negative_int(initial_epoch, "initial_epoch")
            )
        if session is None:
            data = net.prepare_data(X, y, sample_weight)
        else:
            data = session.prepare_data(net, X, y, sample_weight)
        if class_weight is not None:
            data = data._replace(weights=_with_class_weights(net, data, class_weight))
        train_rows, val_data, val_rows = _split(net, data, validation_data, validation_split)
        n = train_rows.shape[0]
        if full_batch:
            validation = None if val_data is None else (val_data, val_rows)
    if full_batch:
        if session is not None:
            session.check_same(
                {
                    "network": net.config(),
                    "training examples": n,
                    "validation": None if val_data is None else val_data.inputs.shape[0],
                    "optimizer": optimizer.config(),
                    "combine": combine,
                }
            )
            session.comm.Bcast(net.params, root=0)
        return optimizer.train(net, data, train_rows, validation, first_epoch, epochs, callbacks, verbose, session)
    with nullcontext() if session is None else session.together("setup"):
        batch_size = min(batch_size, n)
        n_batches = -(-n // batch_size)

        optimizer.attach(net)
        net.optimizer = optimizer
        plan = FitPlan(
            first_epoch=first_epoch, epochs=epochs, batch_size=batch_size, shuffle=shuffle, bptt_steps=bptt_steps
        )

        batch_stats = np.zeros((n_batches, 2))
        truncation = None
        adjustments = gradient_adjustments(net.layout, clip_norm)  # (each fit: set_l2 may change the layout)
        if session is None and bptt_steps is None:
            setup = _epoch_setup(net, data, optimizer, batch_size, adjustments, val_data is not None)
            # Each epoch takes its workspace from memory kept from the epochs and fits before (see _FIT_MEMORY).
            ws_plan = workspace.plan(net.layout, batch_size, net.n_params)
        else:
            grad = aligned_zeros(net.n_params, net.dtype)
            if bptt_steps is not None:
                # A workspace of rows of bptt_steps steps instead of the whole sequence's (see .truncation).
                chunked = chunking(net.n_params)
                truncation = Truncation(net, bptt_steps, batch_size, data, grad, optimizer, adjustments, chunked)
            else:
                ws = workspace.allocate(net.layout, batch_size, net.n_params, net.dtype)
                session.prepare(net, data, ws, grad, optimizer)
    if session is not None:
        session.check_same(
            {
                "network": net.config(),
                "training examples": n,
                "validation": None if val_data is None else val_data.inputs.shape[0],
                "fit plan": plan.as_dict(),
                "optimizer": (type(optimizer).__name__, optimizer.kernel_arguments()[2].tolist()),
                "clip_norm": clip_norm,
                "combine": combine,
            }
        )
        session.share_start(net, optimizer)
    if truncation is not None or session is not None:
        with _threading.parallel_region():
            net.pack_weights()
    # (Otherwise each epoch's first call of train_epoch packs them: see _run_epoch.)

    history = History()
    net.stop_training = False
    # What every epoch takes alike, made once: whether dropout needs a key, and whether the training rows
    # are all the examples in order (their shuffled order is then the permutation itself, not a gather of
    # another array of that size).
    dropout = np.count_nonzero(net.layout.dropout) > 0
    every_example = n == data.inputs.shape[0]

    def begin():
        for callback in callbacks:
            callback.set_network(net)
            callback.set_fit_plan(plan)
            callback.on_train_begin({})

    _on_root(session, "on_train_begin", begin)
    for epoch in range(first_epoch, first_epoch + epochs):
        if net.stop_training:
            break
        _on_root(session, "on_epoch_begin", lambda: [callback.on_epoch_begin(epoch, {}) for callback in callbacks])
        if not shuffle:
            order = train_rows
        else:
            order = net.rng.permutation(n) if every_example else train_rows[net.rng.permutation(n)]
        n_updates = n_batches * (1 if truncation is None else truncation.chunks)
        epoch_plan = EpochPlan(
            order=order,
            batch_size=batch_size,
            first_batch=0,
            last_batch=n_batches,
            lrs=np.ascontiguousarray(optimizer.learning_rates(optimizer.step, n_updates, epoch), dtype=np.float64),
            step=optimizer.step,
            dropout_key=_dropout_key(net, epoch) if dropout else 0,
        )
        if truncation is not None:
            with _bar(verbose, n, epoch) as bar:
                seconds = truncation.run_epoch(net, data, epoch_plan, optimizer, epoch, bar, batch_stats)
        elif session is None:
            compiled_for = (adjustments, setup.chunked, setup.tiny)  # (what train_epoch's code is compiled for)
            with _FIT_MEMORY.workspace(ws_plan, net.dtype) as ws:
                buffers = (ws, setup.grad, setup.backup, batch_stats)
                arguments = (setup.kernels, setup.rule, data, epoch_plan, buffers, optimizer, compiled_for)
                seconds = _run_epoch(net, *arguments, epoch, verbose)
        else:
            with _bar(verbose, n, epoch) as bar:
                seconds = session.run_epoch(net, data, epoch_plan, ws, batch_stats, optimizer, adjustments, epoch, bar)
        optimizer.step += n_updates
        net.epoch = epoch + 1

        loss_sum, correct = epoch_totals(batch_stats, batch_size, n)
        logs = net.metrics(loss_sum / n, correct, n)

        def validate():
            scores = {} if val_data is None else net.evaluate_data(val_data, val_rows)
            return {f"val_{key}": value for key, value in scores.items()}, seconds

        validation, seconds = _on_root(session, "validation", validate)
        logs.update(validation)
        logs["lr"] = float(epoch_plan.lrs[-1])
        logs["seconds"] = seconds
        logs["examples_per_second"] = n / seconds if seconds > 0 else float("inf")
        history.record(epoch, logs)
        if verbose == 2:
            shown = "".join(f"  {key} {logs[key]:.4f}" for key in _SHOWN if key in logs)
            print(f"epoch {epoch + 1}{shown}  {logs['examples_per_second']:,.0f} examples/s", flush=True)
        optimizer.end_epoch(epoch, logs)

        def end_epoch():
            for callback in callbacks:
                callback.on_epoch_end(epoch, logs)
            return net.stop_training

        net.stop_training = _on_root(session, "on_epoch_end", end_epoch)

    def end():
        before = None if session is None else net.params.copy()
        for callback in callbacks:
            callback.on_train_end({})
        return before is not None and not np.array_equal(before, net.params)

    if _on_root(session, "on_train_end", end):  # (a callback restored other weights on rank 0)
        session.comm.Bcast(net.params, root=0)
    return history


def _on_root(session, where, work):
    """``work()`` here, or with a distributed ``session`` on rank 0 only, its result (or error) shared by all ranks."""
    return work() if session is None else session.from_root(where, work)


@contextmanager
def _bar(verbose, n, epoch):
    """A progress bar over the ``n`` examples of an epoch with ``verbose`` 1, else None."""
    if verbose != 1:
        yield None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=n, desc=f"epoch {epoch + 1}", unit="ex", leave=True, file=sys.stderr)
    try:
        yield bar
    finally:
        bar.close()


_SHOWN = ("loss", "accuracy", "val_loss", "val_accuracy")


def _run_epoch(net, kernels, rule, data, plan, buffers, optimizer, compiled_for, epoch, verbose):
    """Run one epoch's batches (in segments when a bar is shown); return its wall time.

    ``rule`` is the update rule's entry (see :func:`~.kernels.optimizers.rule_entry`);
    ``buffers`` are the workspace, the gradient, the backup (see :func:`~.kernels.epoch.backup_buffers`) and
    the per-batch (loss, correct) rows;
    ``compiled_for`` the ``adjustments``, ``chunked`` and ``tiny`` that ``train_epoch`` is compiled for.
    """
    ws, grad, backup, batch_stats = buffers
    n_batches = plan.last_batch
    bounds = [0, n_batches]
    bar = None
    if verbose == 1:
        from tqdm.auto import tqdm

        step = max(1, -(-n_batches // _PROGRESS_SEGMENTS))
        bounds = list(range(0, n_batches, step)) + [n_batches]
        bar = tqdm(total=plan.order.shape[0], desc=f"epoch {epoch + 1}", unit="ex", leave=True, file=sys.stderr)
    _, state, hyper = optimizer.kernel_arguments()  # (the hyper-parameters of this epoch)
    update = (rule, state, hyper)
    started = time.perf_counter()
    try:
        for first, last in zip(bounds[:-1], bounds[1:]):
            # The first segment packs the weights' panels: they may have changed since the last batch (a
            # callback, or the weights set between two fits).
            segment = plan._replace(first_batch=first, last_batch=last, pack_first=first == 0)
            with _threading.parallel_region():
                arguments = (net.model, data, segment, ws, grad, backup, update, batch_stats)
                done = train_epoch(kernels, *arguments, *compiled_for)
            if done < last:
                optimizer.step += done
                raise DivergenceError(epoch, done, float(plan.lrs[done]))
            if bar is not None:
                examples = min(plan.order.shape[0], last * plan.batch_size) - first * plan.batch_size
                bar.update(examples)
                bar.set_postfix(loss=f"{batch_stats[first:last, 0].mean():.4f}")
    finally:
        if bar is not None:
            bar.close()
    return time.perf_counter() - started


class _EpochSetup(NamedTuple):
    """What :func:`_run_epoch` runs a network's epochs with, found (and made) once for the fits alike."""

    kernels: Kernels  # epoch_kernels' (compiled for the types of the fit's arguments)
    rule: np.ndarray  # the update rule's entry (see kernels.optimizers.rule_entry)
    chunked: bool | None  # chunking of the parameters
    grad: np.ndarray  # the batch's gradient (written by each batch before it is read)
    backup: tuple  # backup_buffers' (written by each epoch before it is read)
    tiny: np.int64 | None  # the rule's code where each batch's tile is written into the epoch (see kernels.tiny)


def _epoch_setup(net, data, optimizer, batch_size, adjustments, evaluates):
    """The :class:`_EpochSetup` of a fit of ``net`` on ``data``, remembered by the network.

    Remembered for what can change between fits (the update rule, its
    state's shape, the types of the state, of the data and of the
    :func:`~.kernels.epoch.gradient_adjustments`, validation, the batch
    size, which decides whether the network :func:`~.kernels.tiny.trains_tiny`): the
    network's own buffers (its model, workspace and gradient of its dtype)
    are of the same types in every fit, and finding the types of all of
    them again, or the rule's entry, would cost a small fit more than its
    training. Only a fit that finds nothing remembered takes a workspace (for
    batches of ``batch_size``) to compile the kernels for.
    """
    code, state, hyper = optimizer.kernel_arguments()
    # (The state's shape sizes the backup: Adam keeps a third row with amsgrad, RMSprop rows by its options.)
    key = (int(code), state.shape, type_key((state, hyper, data, adjustments)), evaluates, batch_size)
    found = net._epoch_setups.get(key)
    if found is None:
        grad = aligned_zeros(net.n_params, net.dtype)
        chunked = chunking(net.n_params)
        with _FIT_MEMORY.workspace(workspace.plan(net.layout, batch_size, net.n_params), net.dtype) as ws:
            tiny = np.int64(code) if trains_tiny(net.layout, batch_size, ws.tile_rows) else None
            rule = (code, state, hyper)
            kernels = epoch_kernels(net.model, data, ws, grad, rule, adjustments, chunked, tiny, evaluates=evaluates)
        entry = rule_entry(code, net.params, grad, state, hyper)
        backup = backup_buffers(net.params, state)
        found = net._epoch_setups[key] = _EpochSetup(kernels, entry, chunked, grad, backup, tiny)
    return found


@contextmanager
def truncated_backpropagation(net, steps):
    """Within the block, ``net``'s recurrent layers back-propagate through segments of ``steps`` steps only.

    For :meth:`~jitprop.Network.loss_and_grads` and gradient checks: one
    forward pass over the whole sequence from a zero state, the state's
    gradient cut at the segments' boundaries. ``fit(..., bptt_steps=k)``
    trains differently, a chunk of ``k`` steps per update, carrying the
    state forward (see :mod:`jitprop.truncation`).
    """
    layers = np.flatnonzero(net.layout.kinds == kinds.RECURRENT)
    if layers.size == 0:
        raise ValueError("bptt_steps truncates back-propagation through time, but the network has no recurrent layer.")
    saved = net.layout.geometry[layers, recurrent.TRUNCATE].copy()
    net.layout.geometry[layers, recurrent.TRUNCATE] = steps
    try:
        yield
    finally:
        net.layout.geometry[layers, recurrent.TRUNCATE] = saved


def _resolve_verbose(verbose):
    if verbose == "auto":
        return 1 if sys.stderr.isatty() else 0
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2, got {verbose!r}.")
    return verbose


def _dropout_key(net, epoch):
    """Key of an epoch's dropout masks: a hash of the network's seed and the epoch."""
    state = np.random.SeedSequence([net.entropy, epoch]).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))  # a non-negative int64


def _split(net, data, validation_data, validation_split):
    """Training rows, and the validation data and its rows (or None)."""
    n = data.inputs.shape[0]
    everything = np.arange(n, dtype=np.int64)
    if validation_data is not None:
        if validation_split:
            raise ValueError("Pass either validation_data or validation_split, not both.")
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data must be a tuple (X_val, y_val) or (X_val, y_val, sample_weight_val).")
        return everything, net.prepare_data(*validation_data), None
    if not _checks.fraction(validation_split, "validation_split"):
        return everything, None, None
    # A generator of its own, so that the split does not move the shuffling
    # stream (and is the same when training resumes from a checkpoint).
    rng = np.random.default_rng([net.entropy, 1])
    if data.labels.shape[0] == n:  # (a label per example; not per step)
        train_rows, val_rows = stratified_split(data.labels, validation_split, rng)
    else:
        held = min(n, int(round(validation_split * n)))
        shuffled = rng.permutation(n)
        train_rows, val_rows = np.sort(shuffled[held:]), np.sort(shuffled[:held])
    if train_rows.size == 0 or val_rows.size == 0:
        raise ValueError(
            f"validation_split={validation_split} leaves no examples for training or validation "
            f"({train_rows.size} and {val_rows.size} of the {n} examples)."
        )
    return train_rows.astype(np.int64), data, val_rows.astype(np.int64)


def _with_class_weights(net, data, class_weight):
    """Per-example weights: ``data.weights`` times the weight of each example's class."""
    spec = get_loss(net.loss)
    if data.labels.shape[0] > data.inputs.shape[0]:
        raise ValueError("class_weight weighs examples by their class: it takes no class label per step.")
    if data.labels.shape[0]:
        labels = data.labels
        n_classes = net.n_outputs
    elif spec.name == "binary_cross_entropy" and net.n_outputs == 1:
        labels = (data.targets[:, 0] > 0.5).astype(np.int64)
        n_classes = 2
    else:
        raise ValueError(
            "class_weight needs class-index targets for cross_entropy or one output with binary_cross_entropy."
        )
    counts = np.bincount(labels, minlength=n_classes)
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(f"class_weight must be a dict or 'balanced', got {class_weight!r}.")
        per_class = np.where(counts > 0, labels.shape[0] / (n_classes * np.maximum(counts, 1)), 0.0)
    elif isinstance(class_weight, dict):
        per_class = np.ones(n_classes)
        for cls, weight in class_weight.items():
            if not (isinstance(cls, (int, np.integer)) and 0 <= cls < n_classes):
                raise ValueError(f"class_weight key {cls!r} is not a class index in 0..{n_classes - 1}.")
            per_class[cls] = _checks.non_negative_float(weight, f"class_weight[{cls}]")
    else:
        raise TypeError(f"class_weight must be a dict or 'balanced', got {class_weight!r}.")
    weights = per_class[labels]
    if data.weights.shape[0]:
        weights = weights * data.weights
    return np.ascontiguousarray(weights, dtype=np.float64)


def _resume(net, path, optimizer, bptt_steps=None):
    """Restore ``net`` from a checkpoint; return (first epoch, epochs left) of the interrupted fit.

    ``bptt_steps`` (None for whole sequences) must be the interrupted fit's.
    """
    from .io.model_file import load_checkpoint

    checkpoint = load_checkpoint(path)
    saved = checkpoint.network
    if saved.config() != net.config():
        raise ValueError(f"The checkpoint {path} holds a different network: {saved!r}, not {net!r}.")
    plan = checkpoint.training or {}
    if "first_epoch" not in plan or "epochs" not in plan:
        raise ValueError(f"The checkpoint {path} was not written during fit; it cannot resume training.")
    if plan.get("bptt_steps") != bptt_steps:
        raise ValueError(
            f"The checkpoint {path} was written by a fit with bptt_steps={plan.get('bptt_steps')!r} "
            f"(steps per chunk; None: whole sequences), not {bptt_steps!r}: resume it with the same bptt_steps."
        )
    net.params[...] = saved.params
    net.rng.bit_generator.state = saved.rng.bit_generator.state
    net.entropy = saved.entropy
    net.optimizer = saved.optimizer if saved.optimizer is not None else optimizer
    net.epoch = checkpoint.epoch
    return net.epoch, plan["first_epoch"] + plan["epochs"] - net.epoch
