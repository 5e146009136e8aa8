"""Truncated back-propagation through time: what ``fit(..., bptt_steps=k)`` trains.

A network with an output per time step (its recurrent layers return
sequences, then ``Dense`` per step) trains each batch of sequences in
chunks of ``k`` steps, one update per chunk: chunk ``c`` covers the steps
``[c·k, min(T, (c+1)·k))``, its loss is the mean over its steps (and
outputs and examples, as the network's loss averages), and each recurrent
layer starts it from the state (``h``, and the LSTM's ``c``) its forward
pass reached at the end of chunk ``c − 1`` of the same sequences, computed
with the weights before that chunk's update; no gradient flows into chunk
``c − 1`` (PyTorch's ``hidden.detach()``). Chunk 0 starts from zeros.

The chunks run on a *twin* layout: the network's layers built for
sequences of ``k`` steps (and one for the last, shorter chunk when ``k``
does not divide ``T``), sharing :attr:`~jitprop.Network.params` and the
packed weights (no parameter's size depends on ``T``), with each recurrent
layer's ``CARRY`` set (see :mod:`jitprop.kernels.recurrent`). Its workspace
holds rows of ``k`` steps, so the activations, deltas and stash of gates
take O(k·batch·units) memory instead of O(T·batch·units); the kernels and
the epoch's compiled code are those of the whole network (the same types),
so nothing more is compiled. Each chunk is one call of
:func:`~jitprop.kernels.epoch.train_epoch` with a plan of one batch: the
update, clipping, the L2 penalty and the detection of divergence are the
whole network's. Between chunks the carried states move from the tiles'
``final`` to their ``initial`` blocks of the stash
(:func:`~jitprop.kernels.recurrent.carry_blocks`), in tile order: the tile
plan depends on the batch and ``k`` alone, so the result does not depend on
the number of threads.
"""

import time

import numpy as np

from . import _threading
from .errors import DivergenceError
from .kernels import kinds, recurrent, workspace
from .kernels.epoch import EpochPlan, backup_buffers, epoch_kernels, train_epoch
from .kernels.layout import Data, Model
from .kernels.optimizers import rule_entry
from .kernels.tile import per_step_output
from .layers.dense import Dense
from .layers.recurrent import Bidirectional, _Recurrent


def check_truncatable(net, steps):
    """Raise a ValueError unless ``net`` can train with ``bptt_steps=steps``: an output per step, one direction."""
    layers = np.flatnonzero(net.layout.kinds == kinds.RECURRENT)
    if layers.size == 0:
        raise ValueError("bptt_steps truncates back-propagation through time, but the network has no recurrent layer.")
    for layer in net.kernel_layers:
        if isinstance(layer, Bidirectional):
            raise ValueError(
                f"bptt_steps carries each layer's state forward from one chunk of steps to the next; "
                f"{layer!r} also reads the steps backwards and cannot: train it on whole sequences (no bptt_steps)."
            )
    steps_of = int(net.input_shape[0]) if len(net.input_shape) == 2 else None
    per_step = (
        steps_of is not None
        and len(net.output_shape) == 2
        and int(net.output_shape[0]) == steps_of
        and all(isinstance(layer, (Dense, _Recurrent)) for layer in net.kernel_layers)
        and all(len(shape) == 2 and int(shape[0]) == steps_of for shape in net._input_shapes)
    )
    if not per_step:
        raise ValueError(
            f"bptt_steps={steps} trains on chunks of steps, each with its own targets: it needs an output per "
            f"time step (recurrent layers with return_sequences=True, then Dense per step), but the network's "
            f"output is of shape {tuple(net.output_shape)} for input of shape {tuple(net.input_shape)}."
        )


def chunk_layout(net, steps):
    """The layout of ``net``'s layers for sequences of ``steps`` steps, its recurrent layers carrying their state."""
    from .network import Network

    config = dict(net.config(), input_shape=[steps, int(net.input_shape[1])], seed=0)
    layout = Network.from_config(config).layout
    layout.l2[...] = net.layout.l2
    layout.dropout[...] = net.layout.dropout
    carried = layout.kinds == kinds.RECURRENT
    layout.geometry[carried, recurrent.CARRY] = 1
    layout.geometry[carried, recurrent.TRUNCATE] = 0
    return layout


def workspace_size(net, steps, batch_size):
    """The :class:`~jitprop.kernels.workspace.WorkspaceSize` a truncated fit allocates for chunks of ``steps`` steps."""
    return workspace.size(chunk_layout(net, steps), batch_size, net.n_params)


class Truncation:
    """The chunked epochs of one ``fit(..., bptt_steps=k)`` call (``k`` less than the sequences' steps).

    Parameters
    ----------
    net : Network
    steps : int
        ``k``: steps per chunk.
    batch_size : int
        Most examples per batch.
    data : Data
        The training data (its types decide the compiled code).
    grad : ndarray
        The network's gradient buffer.
    optimizer : Optimizer
    adjustments, chunked
        As :func:`~jitprop.kernels.epoch.train_epoch` takes them.
    """

    def __init__(self, net, steps, batch_size, data, grad, optimizer, adjustments, chunked):
        self.total_steps = int(net.input_shape[0])
        self.features = int(net.input_shape[1])
        self.steps = steps
        self.bounds = [(c0, min(self.total_steps, c0 + steps)) for c0 in range(0, self.total_steps, steps)]
        self.layouts = {}
        self.workspaces = {}
        for c0, c1 in self.bounds:
            length = c1 - c0
            if length not in self.layouts:
                self.layouts[length] = chunk_layout(net, length)
                self.workspaces[length] = workspace.allocate(self.layouts[length], batch_size, net.n_params, net.dtype)
        self.grad = grad
        self.adjustments = adjustments
        self.chunked = chunked
        self.carried = np.flatnonzero(net.layout.kinds == kinds.RECURRENT)
        self.fractions = per_step_output(net.layout)
        layout, ws = self.layouts[steps], self.workspaces[steps]
        sample = self._chunk_data(data, np.zeros(1, dtype=np.int64), 0, 1)
        buffers = (Model(layout, net.params, net.packed_weights), sample, ws, grad)
        rule = optimizer.kernel_arguments()
        self.kernels = epoch_kernels(*buffers, rule, adjustments, chunked, None, evaluates=False)
        self.backup = backup_buffers(net.params, rule[1])

    @property
    def chunks(self):
        """Updates per batch: ⌈T/k⌉."""
        return len(self.bounds)

    def run_epoch(self, net, data, plan, optimizer, epoch, bar, batch_stats):
        """Train the epoch's batches, ``plan.lrs`` holding the rate of each update (chunk); return its wall time.

        ``batch_stats[b]`` receives batch ``b``'s loss (the mean of its
        chunks' losses, weighted by their steps) and correct predictions
        (as the whole sequences' loss counts them).
        """
        code, state, hyper = optimizer.kernel_arguments()
        update = (rule_entry(code, net.params, self.grad, state, hyper), state, hyper)
        n = plan.order.shape[0]
        n_batches = batch_stats.shape[0]
        chunk_stats = np.zeros((1, 2))
        started = time.perf_counter()
        for b in range(n_batches):
            rows = plan.order[b * plan.batch_size : min(n, (b + 1) * plan.batch_size)]
            loss = correct = 0.0
            previous = None
            for c, (c0, c1) in enumerate(self.bounds):
                length = c1 - c0
                layout, ws = self.layouts[length], self.workspaces[length]
                self._carry(ws, layout, rows.shape[0], previous)
                chunk = self._chunk_data(data, rows, c0, length)
                u = b * self.chunks + c
                key = _chunk_dropout_key(net, epoch, u) if net.layout.dropout.any() else 0
                one = EpochPlan(
                    order=np.arange(rows.shape[0], dtype=np.int64),
                    batch_size=rows.shape[0],
                    first_batch=0,
                    last_batch=1,
                    lrs=plan.lrs[u : u + 1],
                    step=plan.step + u,
                    dropout_key=key,
                )
                with _threading.parallel_region():
                    model = Model(layout, net.params, net.packed_weights)
                    arguments = (model, chunk, one, ws, self.grad, self.backup, update, chunk_stats)
                    done = train_epoch(self.kernels, *arguments, self.adjustments, self.chunked, None)
                if done < 1:
                    optimizer.step += u
                    raise DivergenceError(epoch, b, float(plan.lrs[u]))
                loss += chunk_stats[0, 0] * length
                # (A softmax per step counts each example's fraction of correct steps: weighed by steps too.)
                correct += chunk_stats[0, 1] * (length / self.total_steps if self.fractions else 1.0)
                previous = (ws, layout)
            batch_stats[b, 0] = loss / self.total_steps
            batch_stats[b, 1] = correct
            if bar is not None:
                bar.update(rows.shape[0])
                bar.set_postfix(loss=f"{batch_stats[b, 0]:.4f}")
        return time.perf_counter() - started

    def _carry(self, ws, layout, batch_rows, previous):
        """Set each recurrent layer's ``initial`` states: zero for the first chunk, else the last chunk's ``final``."""
        for layer in self.carried:
            blocks = recurrent.carry_blocks(ws, layout, layer, batch_rows)
            if previous is None:
                for initial, _ in blocks:
                    initial[...] = 0
                continue
            states = np.concatenate([final for _, final in recurrent.carry_blocks(*previous, layer, batch_rows)])
            r0 = 0
            for initial, _ in blocks:
                initial[...] = states[r0 : r0 + initial.shape[0]]
                r0 += initial.shape[0]

    def _chunk_data(self, data, rows, c0, length):
        """The :class:`~jitprop.kernels.layout.Data` of the steps ``c0 : c0 + length`` of the examples ``rows``.

        The chunk's example ``i`` is ``rows[i]``; only the chunk's steps are
        read (of a memory-mapped ``X`` too).
        """
        m = rows.shape[0]
        T, F = self.total_steps, self.features
        x = np.ascontiguousarray(data.inputs[rows, c0 * F : (c0 + length) * F])
        targets, labels = data.targets, data.labels
        n = data.inputs.shape[0]
        if targets.shape[0] == n:  # (a row of targets per example: outputs per step)
            width = targets.shape[1] // T
            targets = targets[rows].reshape(m, T, width)[:, c0 : c0 + length].reshape(m, length * width)
        elif targets.shape[0] == n * T:  # (a row per step: a softmax per step's probabilities)
            targets = targets.reshape(n, T, -1)[rows, c0 : c0 + length].reshape(m * length, -1)
        if labels.shape[0] == n * T:
            labels = labels.reshape(n, T)[rows, c0 : c0 + length].reshape(m * length)
        weights = data.weights[rows] if data.weights.shape[0] else data.weights
        return Data(
            x, np.ascontiguousarray(targets), np.ascontiguousarray(labels), np.ascontiguousarray(weights, np.float64)
        )


def _chunk_dropout_key(net, epoch, update):
    """Key of one chunk's dropout masks: a hash of the network's seed, the epoch and the update within it."""
    state = np.random.SeedSequence([net.entropy, epoch, update]).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))
