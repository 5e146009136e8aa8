"""Data-parallel training over MPI: what ``fit(..., comm=...)`` runs instead of one compiled call per epoch.

Every rank holds the same network (rank 0's weights, random state and
optimizer state are broadcast when ``fit`` starts) and visits the examples in
the same order: each epoch's shuffle is drawn from that random state. Each
batch is cut into tiles exactly as in one process (the tile plan,
:func:`~jitprop.kernels.workspace.plan_tile_rows`, depends on the batch and
the network only); the ranks take whole tiles, in rank order (the first
``tiles % ranks`` ranks one more), and run them with
:func:`~jitprop.kernels.batch.run_tiles`, which gathers the rows of those
tiles' examples and no others. Then the gradients are combined, once per
batch, and every rank applies the same update
(:func:`~jitprop.kernels.step.sum_and_update`):

``combine="tiles"`` (the default)
    The tiles' gradients are gathered (``Allgatherv``, in place) into the
    tile buffer one process would have, and summed in tile order by the same
    kernel: the weights are those of a single-process fit, bit for bit,
    whatever the number of ranks. Each rank receives every tile's gradient:
    ``tiles × parameters`` values per batch.
``combine="allreduce"``
    Each rank sums its own tiles (:func:`~jitprop.kernels.batch.reduce_tiles`),
    and ``Allreduce`` adds the ranks' sums: one gradient's worth of traffic,
    but the additions are associated by the number of ranks (and the MPI
    library's algorithm), so the weights are reproducible for a given number
    of ranks only, and differ from a single process's in the last bits.

Each message also carries the tiles' losses and counts of correct
predictions, and a flag per rank saying whether its part of the batch
failed: a rank that raises still takes part in the exchange, every rank
then sees the flag, and every rank raises :class:`~jitprop.errors.RankError`
with the failing rank's message. Work done by rank 0 alone (validation,
callbacks, checkpoints, progress) is followed by a broadcast of its result,
or of its error, in the same way.

Full-batch :class:`~jitprop.LBFGS` shares out each evaluation of the loss and
gradient the same way (:meth:`Session.gradient_evaluator`): the ranks take
whole tiles of each chunk of the training rows, and the two ways of
combining keep their guarantees. Rank 0 alone runs SciPy; it sends the other
ranks each point to evaluate (:meth:`Session.evaluate_at`, :meth:`Session.follow`)
and, at the end, its final weights and history (:meth:`Session.finish`).
"""

import math
import time
import traceback
import warnings
from contextlib import contextmanager

import numpy as np

from . import _checks, _threading
from .errors import DivergenceError, RankError
from .kernels import workspace
from .kernels.batch import batch_scale, chunking, reduce_tiles, run_tiles, tile_totals
from .kernels.layout import Data
from .kernels.optimizers import rule_entry
from .kernels.regularization import add_l2_penalty, clip_by_global_norm
from .kernels.step import sum_and_update
from .kernels.tile import GRADIENT, network_kernels, placeholder_kernels

#: The ways of combining a batch's gradients over the ranks (see the module docstring).
COMBINES = ("tiles", "allreduce")

# Bytes after each tile's gradient in the gathered buffer: its loss and
# count of correct predictions (float64), and the failure flag of a rank
# whose first row it is.
_STATUS_BYTES = 24
_FLAG = 16
# What rank 0 sends the others with the parameters, in a full-batch fit: evaluate there, or stop.
_EVALUATE, _DONE = 1.0, 0.0


def rank_tiles(n_tiles, size):
    """``(first, end)`` tiles of each rank: whole tiles in rank order, the first ``n_tiles % size`` ranks one more.

    Ranks past ``n_tiles`` (a batch of fewer tiles than ranks) get none.
    """
    base, extra = divmod(n_tiles, size)
    ends = np.cumsum([base + (rank < extra) for rank in range(size)])
    return [(int(end - (base + (rank < extra))), int(end)) for rank, end in enumerate(ends)]


class Rows:
    """Examples that ``fit(..., comm=...)`` reads on demand: each rank reads, and transforms, only its own rows.

    What a caller gives as ``X`` when the examples must be transformed on
    the way in (standardised, converted to the network's dtype) and no rank
    should hold them all: ``jitprop train`` under ``mpiexec`` gives its
    preprocessed data file this way. At the start of every epoch each rank
    asks ``read`` for the rows of its own tiles of that epoch (whole tiles
    of every batch, as :func:`rank_tiles` shares them out), sorted, and
    trains on them from a buffer of that many rows: a rank's memory for the
    inputs is its share of the epoch's rows, never the whole data set
    (with Dropout layers, whose masks are keyed by the example's row, the
    rows are kept in a buffer of every row's place instead, of which only
    the rank's rows are ever written; so are they with targets per step).
    The targets and sample weights are given whole, as for any ``X``.

    Parameters
    ----------
    n_examples : int
        Rows of the data set.
    n_inputs : int
        Inputs of one example (the product of the network's input shape).
    read : callable
        ``read(rows, out)``: write the examples ``rows`` (an int64 ndarray,
        ascending) into ``out``, an ndarray of shape ``(len(rows), n_inputs)``
        and the network's dtype, as the network takes them.
    """

    def __init__(self, n_examples, n_inputs, read):
        self.n_examples = _checks.positive_int(n_examples, "n_examples")
        self.n_inputs = _checks.positive_int(n_inputs, "n_inputs")
        if not callable(read):
            raise TypeError(f"read must be a function read(rows, out), got {read!r}.")
        self.read = read

    def __repr__(self):
        return f"Rows(n_examples={self.n_examples}, n_inputs={self.n_inputs})"


class Session:
    """One distributed :func:`~jitprop.training.fit` call: the communicator, its rank, and the agreements.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm
        An intracommunicator; every one of its ranks calls ``fit`` with the
        same arguments.
    combine : {"tiles", "allreduce"}
        How a batch's gradients are combined (see :mod:`jitprop.distributed`).
    """

    def __init__(self, comm, combine):
        try:
            from mpi4py import MPI
        except ImportError as exc:  # pragma: no cover - comm came from mpi4py
            raise ImportError("fit(comm=...) needs mpi4py: pip install 'jitprop[mpi]'.") from exc
        if not isinstance(comm, MPI.Intracomm):
            raise TypeError(f"comm must be an mpi4py intracommunicator such as MPI.COMM_WORLD, got {comm!r}.")
        if combine not in COMBINES:
            raise ValueError(f"combine must be one of {', '.join(map(repr, COMBINES))}, got {combine!r}.")
        self.MPI = MPI
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.combine = combine
        self.source = None  # a Rows X, read at the start of every epoch

    @property
    def root(self):
        """Whether this is rank 0, the rank that validates, calls the callbacks and writes files."""
        return self.rank == 0

    # ------------------------------------------------------------ agreement
    def agree(self, where, error=None):
        """Every rank says whether it failed (``error``); if any did, every rank raises its :class:`RankError`."""
        messages = self.comm.allgather(None if error is None else _describe(error))
        for rank, message in enumerate(messages):
            if message is not None:
                raise RankError(rank, self.size, where, message) from error

    @contextmanager
    def together(self, where):
        """Run the block on every rank, then :meth:`agree` on whether it raised."""
        try:
            yield
        except Exception as exc:
            self.agree(where, exc)
            raise  # (agree raised already)
        self.agree(where)

    def from_root(self, where, work):
        """``work()`` on rank 0, its result broadcast to every rank; its exception raises :class:`RankError` on all."""
        result = error = None
        if self.root:
            try:
                result = work()
            except Exception as exc:
                error = exc
        message, result = self.comm.bcast((None if error is None else _describe(error), result), root=0)
        if message is not None:
            raise RankError(0, self.size, where, message) from error
        return result

    def check_same(self, what):
        """Raise :class:`ValueError` on every rank unless ``what`` (a dict of plain values) is the same on all."""
        first = self.comm.bcast(what if self.root else None, root=0)
        differs = sorted(key for key in what if what[key] != first.get(key))
        report = self.comm.allgather(differs)
        for rank, keys in enumerate(report):
            if keys:
                raise ValueError(
                    f"Every rank must call fit with the same network, data size and options; rank {rank} of "
                    f"{self.size} differs from rank 0 in: {', '.join(keys)}."
                )

    def share_start(self, net, optimizer):
        """Broadcast rank 0's weights, random state, optimizer state and step to every rank."""
        self.comm.Bcast(net.params, root=0)
        rng_state, entropy, step = self.comm.bcast(
            (net.rng.bit_generator.state, net.entropy, optimizer.step) if self.root else None, root=0
        )
        net.rng.bit_generator.state = rng_state
        net.entropy = entropy
        optimizer.step = step
        state = optimizer.kernel_arguments()[1]
        if state.size:
            self.comm.Bcast(state, root=0)

    # ------------------------------------------------------------------ data
    def prepare_data(self, net, X, y, sample_weight):
        """:meth:`Network.prepare_data`, without reading every row of ``X`` when it can be read in place.

        ``X`` may be the path of a ``.npy`` file, which is memory-mapped.
        A C-contiguous array (or memory map) of the network's dtype is used
        as it is, unread: each rank reads only the rows of its own tiles
        (a NaN among them then ends training as a divergence, on every
        rank, instead of being named up front). Anything else is converted
        (and read) as in one process. ``y`` and ``sample_weight`` are
        read whole.
        """
        if isinstance(X, Rows):
            return self._prepare_rows(net, X, y, sample_weight)
        if isinstance(X, (str, bytes)) or hasattr(X, "__fspath__"):
            X = np.load(X, mmap_mode="r", allow_pickle=False)
        shape = (X.shape[0], int(np.prod(net.input_shape))) if isinstance(X, np.ndarray) else None
        in_place = (
            shape is not None
            and X.dtype == net.dtype
            and X.flags.c_contiguous
            and X.shape[0] > 0
            and (X.shape[1:] == tuple(net.input_shape) or X.shape[1:] == shape[1:])
        )
        if not in_place:
            return net.prepare_data(X, y, sample_weight)
        inputs = _checks.kernel_input(X.reshape(shape))
        targets, labels = net.prepare_targets(y, shape[0])
        weights = _checks.sample_weights(sample_weight, shape[0])
        return Data(inputs, targets, labels, weights)

    def _prepare_rows(self, net, X, y, sample_weight):
        """The :class:`Data` of a :class:`Rows` ``X``: its inputs an unwritten placeholder of the full shape."""
        features = int(np.prod(net.input_shape))
        if X.n_inputs != features:
            raise ValueError(f"X (Rows) holds {X.n_inputs} inputs per example, but the network takes {features}.")
        self.source = X
        # Zeros whose pages are never written (so never allocated), but where rows go that keep their place
        # (:meth:`_read_rows`); prepare_data takes them as they are and makes the targets as for any X.
        return net.prepare_data(np.zeros((X.n_examples, features), dtype=net.dtype), y, sample_weight)

    def _read_rows(self, data, plan, tile_rows):
        """This rank's rows of the epoch ``plan``, read from :attr:`source`: ``(data, order)`` to run its tiles on.

        ``order[i]`` is where the example ``plan.order[i]`` of one of this
        rank's tiles is in the returned data: its place among the rank's
        rows, sorted (or, with Dropout, the example's own row).
        """
        order, batch_size = plan.order, plan.batch_size
        n = order.shape[0]
        places = []
        for b in range(plan.first_batch, plan.last_batch):
            start = b * batch_size
            size = min(n, start + batch_size) - start
            first, end = rank_tiles(-(-size // tile_rows), self.size)[self.rank]
            places.append(np.arange(start + first * tile_rows, start + min(size, end * tile_rows)))
        places = np.concatenate(places)
        rows = np.sort(order[places])
        if self.in_place:
            # Dropout masks are keyed by the row, or targets are per step: each example goes to its own place.
            read = np.empty((rows.shape[0], data.inputs.shape[1]), dtype=data.inputs.dtype)
            self.source.read(rows, read)
            data.inputs[rows] = read
            return data, order
        if self.buffer is None or self.buffer.shape[0] < rows.shape[0]:
            self.buffer = np.empty((rows.shape[0], data.inputs.shape[1]), dtype=data.inputs.dtype)
        inputs = self.buffer[: rows.shape[0]]
        self.source.read(rows, inputs)
        local = np.zeros(n, dtype=np.int64)
        local[places] = np.searchsorted(rows, order[places])

        def mine(values):
            return values[rows] if values.shape[0] else values

        return Data(inputs, mine(data.targets), mine(data.labels), mine(data.weights)), local

    # ---------------------------------------------------------------- epochs
    def prepare(self, net, data, ws, grad, optimizer):
        """Allocate the exchange buffers and compile (or load) the kernels of :meth:`run_epoch`."""
        n = net.n_params
        self._allocate(net, ws)
        code, state, hyper = optimizer.kernel_arguments()
        self.rule = rule_entry(code, net.params, grad, state, hyper)
        self.grad = grad
        self.chunked = chunking(n)
        self.buffer = None
        # Rows go to their own places (not a buffer of the rank's rows) where the row itself counts: Dropout
        # masks are keyed by it, and per-step targets or labels have more rows than the examples.
        n_examples = data.inputs.shape[0]
        per_step = any(values.shape[0] not in (0, n_examples) for values in (data.targets, data.labels, data.weights))
        self.in_place = bool(net.layout.dropout.any()) or per_step
        index = np.zeros(1, dtype=np.int64)
        int64 = np.int64(0)
        tiles = self.tile_ws.tile_gradients
        buffers = (net.model, data)
        placeholder = placeholder_kernels(net.layout, net.dtype, data)
        meanwhile = [
            (run_tiles, (placeholder, int64, *buffers, index, 0.0, self.tile_ws, int64)),
            (batch_scale, (data.weights, index, int64)),
            (tile_totals, (ws, int64)),
            (reduce_tiles, (tiles, int64, grad, False, self.chunked)),
            (sum_and_update, (tiles, int64, grad, self.rule, net.params, state, hyper, 0.0, int64, self.chunked)),
        ]
        if self.combine == "allreduce":
            meanwhile.append((reduce_tiles, (tiles, int64, self.flat[:n], False, self.chunked)))
        self.kernels = network_kernels(*buffers, self.tile_ws, meanwhile, inference=False)  # (gradient passes only)
        tiles_per_batch = ws.tile_gradients.shape[0]
        if self.root and tiles_per_batch < self.size:
            warnings.warn(
                f"A batch of this network is cut into {tiles_per_batch} tile(s), fewer than the {self.size} "
                f"ranks: ranks {tiles_per_batch} to {self.size - 1} have no examples to train on. A larger "
                f"batch_size (or network) makes more tiles (see jitprop.kernels.workspace.plan_tile_rows).",
                RuntimeWarning,
                stacklevel=3,
            )

    def _allocate(self, net, ws):
        """The exchange buffers for batches (or chunks) of the workspace ``ws``, and ``self.tile_ws``."""
        n = net.n_params
        self.itemsize = np.dtype(net.dtype).itemsize
        self._shares = {}  # n_tiles -> _share(n_tiles)
        if self.combine == "tiles":
            extra = -(-_STATUS_BYTES // self.itemsize)
            rows = max(ws.tile_gradients.shape[0], self.size)
            self.tiles = np.zeros((rows, n + extra), dtype=net.dtype)
            self.status = self.tiles[:, n:].view(np.uint8)
            self.tile_bytes = self.tiles.reshape(-1).view(np.uint8)
            self.tile_ws = ws._replace(tile_gradients=self.tiles)
        else:
            self.flat = np.zeros(n + 3, dtype=net.dtype)
            # Room after each tile's gradient for the loss, the count and the flag: a rank with one tile adds its
            # row over the ranks as it is, instead of copying it into flat first.
            self.tiles = np.zeros((ws.tile_gradients.shape[0], n + 3), dtype=net.dtype)
            self.tile_ws = ws._replace(tile_gradients=self.tiles)

    def run_epoch(self, net, data, plan, ws, batch_stats, optimizer, adjustments, epoch, bar=None):
        """Train on the batches of ``plan`` (as :func:`~jitprop.kernels.epoch.train_epoch` does); return the seconds.

        Raises
        ------
        DivergenceError
            On every rank, as in one process.
        RankError
            On every rank, when one failed.
        """
        layout, params = net.layout, net.params
        code, state, hyper = optimizer.kernel_arguments()
        flat_state = state.reshape(-1)
        n = plan.order.shape[0]
        outputs = np.int64(net.n_outputs if layout.loss_over_outputs else 1)
        has_panels = net.packed_weights.shape[0] > 0
        started = time.perf_counter()
        self.epoch = epoch
        mine, order = data, plan.order
        if self.source is not None:
            with self.together(f"epoch {epoch}, reading the rank's rows"):
                mine, order = self._read_rows(data, plan, ws.tile_rows)
        # As train_epoch: an update that left something non-finite is undone by restoring the epoch's start and
        # replaying the batches before it (the same bits again, on every rank together), not by a copy per batch.
        start_params, start_state = params.copy(), flat_state.copy()
        b, end, failed = plan.first_batch, plan.last_batch, -1
        while b < end:
            self.where = f"epoch {epoch}, batch {b}"
            batch = slice(b * plan.batch_size, min(n, (b + 1) * plan.batch_size))
            index = plan.order[batch]
            scale = batch_scale(data.weights, index, outputs)
            n_tiles = -(-index.shape[0] // ws.tile_rows)
            key, rows = plan.dropout_key, order[batch]
            if self.combine == "tiles":
                loss_sum, correct, tiles, summed_tiles, batch_grad = self._gather(net, mine, key, ws, rows, scale)
            else:
                loss_sum, correct, tiles, summed_tiles, batch_grad = self._allreduce(net, mine, key, ws, rows, scale)
            penalty = 0.0
            grad_sq = 0.0
            if adjustments is not None and summed_tiles:
                grad_sq = reduce_tiles(tiles, n_tiles, batch_grad, False, self.chunked)
                summed_tiles = 0
            if adjustments is not None and adjustments.penalised:
                penalty = add_l2_penalty(layout, params, batch_grad)
            batch_stats[b, 0] = loss_sum * scale + penalty
            batch_stats[b, 1] = correct
            if not math.isfinite(params.dtype.type(batch_stats[b, 0])):
                return self._diverged(optimizer, plan, b)  # (nothing applied yet; never while replaying)
            if adjustments is not None and adjustments.clip_norm > 0:
                clip_by_global_norm(batch_grad, adjustments.clip_norm)
            lr, step = float(plan.lrs[b]), np.int64(plan.step + b + 1)
            update = (tiles, np.int64(summed_tiles), batch_grad, self.rule, params, state, hyper, lr, step)
            summed_sq, finite = self._update(update)  # (a gradient not finite makes finite False)
            b += 1
            if failed < 0 and not (finite and math.isfinite(grad_sq + summed_sq)):
                failed = b - 1
                params[:] = start_params
                flat_state[:] = start_state
                b, end = plan.first_batch, failed
            if has_panels:
                with _threading.parallel_region():
                    net.pack_weights()
            if bar is not None and failed < 0:
                bar.update(index.shape[0])
                bar.set_postfix(loss=f"{batch_stats[b - 1, 0]:.4f}", refresh=False)
        if failed >= 0:
            return self._diverged(optimizer, plan, failed)
        return time.perf_counter() - started

    def _update(self, update):
        """:func:`~jitprop.kernels.step.sum_and_update` of the arguments ``update``: the step every rank applies."""
        with _threading.parallel_region():
            return sum_and_update(*update, self.chunked)

    def _diverged(self, optimizer, plan, b):
        """Count the batches done before ``b`` and raise :class:`DivergenceError` (on every rank alike)."""
        optimizer.step += b
        raise DivergenceError(self.epoch, b, float(plan.lrs[b]))

    def _local_tiles(self, net, data, dropout_key, ws, index, scale, first, end):
        """Run this rank's tiles ``first:end`` of the batch ``index``; tile ``first`` lands in ``ws``'s first row."""
        rows = index[first * ws.tile_rows : min(index.shape[0], end * ws.tile_rows)]
        arguments = (net.model, data, rows, scale, ws, np.int64(dropout_key))
        with _threading.parallel_region():
            run_tiles(self.kernels, np.int64(GRADIENT), *arguments)

    def _share(self, n_tiles):
        """``(ranges, homes, counts, places)`` of a batch of ``n_tiles`` tiles, worked out once per tile count.

        ``ranges`` is :func:`rank_tiles`; a rank's *home* is the row of its
        first tile (or, without tiles, its rank: a row it may write its flag
        in); ``counts`` and ``places`` are the bytes each rank sends in the
        gather of ``combine="tiles"``, and where they go.
        """
        share = self._shares.get(n_tiles)
        if share is None:
            ranges = rank_tiles(n_tiles, self.size)
            homes = [first if end > first else rank for rank, (first, end) in enumerate(ranges)]
            row = self.tile_ws.tile_gradients.shape[1] * self.itemsize
            counts = [max(1, end - first) * row for first, end in ranges]
            share = self._shares[n_tiles] = (ranges, homes, counts, [home * row for home in homes])
        return share

    def _gather(self, net, data, dropout_key, ws, index, scale):
        """``combine="tiles"``: every tile's gradient and stats in every rank's buffer, in tile order."""
        n_tiles = -(-index.shape[0] // ws.tile_rows)
        # (Per batch, the interpreter's work here is a few list lookups: a small batch's compute is ~1 ms.)
        ranges, homes, counts, places = self._share(n_tiles)
        first, end = ranges[self.rank]
        home = homes[self.rank]
        error = None
        try:
            if end > first:
                mine = self.tile_ws._replace(tile_gradients=self.tiles[first:])
                self._local_tiles(net, data, dropout_key, mine, index, scale, first, end)
                self.status[first:end, :16] = ws.tile_stats[: end - first].view(np.uint8)
        except Exception as exc:
            error = exc
        self.status[home, _FLAG] = error is not None
        self.comm.Allgatherv(self.MPI.IN_PLACE, [self.tile_bytes, counts, places, self.MPI.BYTE])
        failed = [rank for rank, home in enumerate(homes) if self.status[home, _FLAG]]
        if failed:
            self._fail(failed[0], error)
        ws.tile_stats[:n_tiles] = self.status[:n_tiles, :16].view(np.float64)
        loss_sum, correct = tile_totals(ws, np.int64(n_tiles))
        return loss_sum, correct, self.tiles, n_tiles, self.grad

    def _allreduce(self, net, data, dropout_key, ws, index, scale):
        """``combine="allreduce"``: this rank's tiles summed, then the ranks' sums added."""
        n_tiles = -(-index.shape[0] // ws.tile_rows)
        first, end = self._share(n_tiles)[0][self.rank]
        n = net.n_params
        mine = end - first
        flat = self.tiles[0] if mine == 1 else self.flat  # (one tile: its row is its sum)
        grad = flat[:n]
        error = None
        try:
            loss_sum = correct = 0.0
            if mine > 0:
                self._local_tiles(net, data, dropout_key, self.tile_ws, index, scale, first, end)
                if mine > 1:
                    with _threading.parallel_region():
                        reduce_tiles(self.tiles, np.int64(mine), grad, False, self.chunked)
                loss_sum, correct = tile_totals(ws, np.int64(mine))
            else:
                grad[:] = 0
            flat[n], flat[n + 1] = loss_sum, correct
        except Exception as exc:
            error = exc
        self._add_over_ranks(flat, error)
        return float(flat[n]), float(flat[n + 1]), self.tiles, 0, grad

    # ------------------------------------------------------------ full batch
    def gradient_evaluator(self, net, data, grad, rows):
        """:meth:`Network.flat_gradient_evaluator` over the ranks: the full-batch loss and gradient of L-BFGS.

        The rows are cut into the chunks one process runs them in, and each
        chunk into its tiles (the same plans); the ranks run whole tiles of
        every chunk, in rank order, as they do a mini-batch's. With
        ``combine="tiles"`` each chunk's tile gradients are gathered and
        summed in tile order onto the sum of the chunks before, as one
        process sums them: loss and gradient are one process's, bit for bit,
        whatever the number of ranks. Every tile's gradient crosses the
        network, as many values per evaluation as the tiles combine sends in
        a mini-batch epoch. With ``combine="allreduce"`` each rank sums its
        own tiles of every chunk, and one ``Allreduce`` (in float64) adds the
        ranks' gradients, losses and counts of correct predictions: one
        gradient's worth of traffic per evaluation, reproducible for a given
        number of ranks only.

        Parameters
        ----------
        net : Network
        data : jitprop.kernels.layout.Data
            The same on every rank (or a memory map each rank reads its rows of).
        grad : ndarray of shape (n_params,)
            Of the network's dtype; receives the combined gradient on every rank.
        rows : int64 ndarray
            The examples of ``data`` the loss is the mean over.

        Returns
        -------
        callable
            ``evaluate() -> (loss, correct)``, called on every rank at once
            with the same :attr:`Network.params`. It raises
            ``FloatingPointError`` on every rank if the loss is not finite,
            and :class:`RankError` on every rank if one failed.
        """
        rows, scale, capacity = net._gradient_chunks(data, rows)
        ws = workspace.allocate(net.layout, capacity, net.n_params, net.dtype, True)
        self._allocate(net, ws)
        self.grad = grad
        self.chunked = chunking(net.n_params)
        if self.combine == "allreduce":
            self.own = np.zeros(net.n_params, dtype=net.dtype)
            self.wide = np.zeros(net.n_params + 3)
        int64 = np.int64(0)
        buffers = (net.model, data)
        placeholder = placeholder_kernels(net.layout, net.dtype, data)
        meanwhile = [
            (run_tiles, (placeholder, int64, *buffers, np.zeros(1, dtype=np.int64), 0.0, self.tile_ws, int64)),
            (tile_totals, (ws, int64)),
            (reduce_tiles, (self.tile_ws.tile_gradients, int64, grad, False, self.chunked)),
        ]
        self.kernels = network_kernels(*buffers, self.tile_ws, meanwhile)
        self._order = np.zeros(net.n_params + 1)  # parameters to evaluate at, then _EVALUATE or _DONE
        self.where = "L-BFGS setup"
        chunks = [rows[lo : lo + capacity] for lo in range(0, rows.shape[0], capacity)]
        penalized = bool(net.layout.l2.any())
        evaluations = []

        def evaluate():
            evaluations.append(1)
            self.where = f"L-BFGS evaluation {len(evaluations)}"
            with _threading.parallel_region():
                net.pack_weights()
            if self.combine == "tiles":
                loss_sum, correct = self._gathered_chunks(net, data, ws, chunks, scale)
            else:
                loss_sum, correct = self._reduced_chunks(net, data, ws, chunks, scale)
            penalty = add_l2_penalty(net.layout, net.params, grad) if penalized else 0.0
            loss = loss_sum * scale + penalty
            _checks.check_loss_finite(loss, net.dtype)
            return loss, correct

        return evaluate

    def evaluate_at(self, x):
        """Rank 0, leading: tell the other ranks (in :meth:`follow`) to evaluate at the parameters ``x``."""
        self._order[:-1] = x
        self._order[-1] = _EVALUATE
        self.comm.Bcast(self._order, root=0)

    def follow(self, net, evaluate):
        """Every rank but 0: evaluate where rank 0 asks (:meth:`evaluate_at`) until it :meth:`finish`-es.

        Then take rank 0's final parameters into :attr:`Network.params` and
        return what it shared; raise as rank 0 does, if it failed.
        """
        while True:
            self.comm.Bcast(self._order, root=0)
            if self._order[-1] != _EVALUATE:
                break
            net.params[...] = self._order[:-1]
            try:
                evaluate()
            except FloatingPointError:
                pass  # (rank 0 saw the same loss, and decides)
        net.params[...] = self._order[:-1]
        message, diverged, shared = self.comm.bcast(None, root=0)
        if diverged is not None:
            raise diverged
        if message is not None:
            raise RankError(0, self.size, self.where, message)
        return shared

    def finish(self, net, failure, shared, diverged=None):
        """Rank 0, leading: end the other ranks' :meth:`follow` with its parameters and ``shared``.

        ``failure`` (an exception of rank 0's, or None) then ends every
        rank: ``diverged`` (a :class:`~jitprop.DivergenceError`) as itself,
        anything else as a :class:`RankError`.
        """
        self._order[:-1] = net.params
        self._order[-1] = _DONE
        self.comm.Bcast(self._order, root=0)
        message = None if failure is None or diverged is not None else _describe(failure)
        self.comm.bcast((message, diverged, shared), root=0)
        if diverged is not None:
            raise diverged
        if message is not None:
            raise RankError(0, self.size, self.where, message) from failure

    def _gathered_chunks(self, net, data, ws, chunks, scale):
        """``combine="tiles"``: every chunk's tiles gathered, summed onto ``self.grad`` in order as in one process."""
        loss_sum = correct = 0.0
        for k, chunk in enumerate(chunks):
            chunk_loss, chunk_correct, tiles, n_tiles, grad = self._gather(net, data, -1, ws, chunk, scale)
            with _threading.parallel_region():
                reduce_tiles(tiles, np.int64(n_tiles), grad, k > 0, self.chunked)
            loss_sum += chunk_loss
            correct += chunk_correct
        return loss_sum, correct

    def _reduced_chunks(self, net, data, ws, chunks, scale):
        """``combine="allreduce"``: this rank's tiles of every chunk summed, then one Allreduce of the ranks' sums."""
        n = net.n_params
        wide, own = self.wide, self.own
        error = None
        try:
            loss_sum = correct = 0.0
            summed = False
            for chunk in chunks:
                first, end = rank_tiles(-(-chunk.shape[0] // ws.tile_rows), self.size)[self.rank]
                if end > first:
                    self._local_tiles(net, data, -1, ws, chunk, scale, first, end)
                    with _threading.parallel_region():
                        reduce_tiles(ws.tile_gradients, np.int64(end - first), own, summed, self.chunked)
                    chunk_loss, chunk_correct = tile_totals(ws, np.int64(end - first))
                    loss_sum += chunk_loss
                    correct += chunk_correct
                    summed = True
            wide[:n] = own if summed else 0.0
            wide[n], wide[n + 1] = loss_sum, correct
        except Exception as exc:
            error = exc
        self._add_over_ranks(wide, error)
        self.grad[:] = wide[:n]
        return float(wide[n]), float(wide[n + 1])

    def _add_over_ranks(self, buffer, error):
        """Add ``buffer`` over the ranks, in place; its last element flags a rank's ``error`` (None: none).

        The flags travel with the sums, in the same allreduce: when some rank
        failed, every rank raises :class:`RankError` with the lowest one's.
        """
        buffer[-1] = error is not None
        self.comm.Allreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM)
        if buffer[-1] != 0:
            failed = [rank for rank, bad in enumerate(self.comm.allgather(error is not None)) if bad]
            self._fail(failed[0], error)

    def _fail(self, rank, error):
        """Every rank raises :class:`RankError` with the message of ``rank``, the lowest that failed."""
        message = self.comm.bcast(_describe(error) if self.rank == rank else None, root=rank)
        raise RankError(rank, self.size, self.where, message) from error


def _describe(error):
    """``"TypeName: message"`` of an exception (its last traceback line)."""
    return traceback.format_exception_only(type(error), error)[-1].strip()
