"""Data-parallel training on P ranks: what communication adds to the cost model.

One step (a batch of ``B`` examples) on ``P`` ranks costs its computation
shared out, plus the update every rank applies, plus the combination of the
gradients of ``w`` parameters of ``b`` bytes each over a network of
bandwidth ``β`` (bytes per second) and latency ``α`` (seconds)::

    step(P) = B·F / (P·S) + U / S + allreduce(P)
    allreduce(P) = 2·(P − 1)/P · w·b/β + 2·log₂P · α        (0 for P = 1)

with ``F`` the training FLOPs of one example, ``U`` those of the step
(summing the tiles, the update: ``step_flops`` of
:func:`~jitprop.complexity.costs`) and ``S`` one rank's FLOPs per second.
``allreduce`` is the cost of a bandwidth-optimal ring (reduce-scatter then
allgather: each rank sends and receives ``(P−1)/P`` of the vector twice)
and ``2·log₂P`` rounds of latency. ``fit(combine="tiles")`` gathers every
tile's gradient instead (``T`` tiles per batch), which costs
``(P − 1)/P · T·w·b/β + log₂P · α``: ``T/2`` times the allreduce's volume,
the price of a result independent of ``P``.

The efficiency is ``step(1) / (P · step(P))``; an epoch is ``⌈m/B⌉`` steps.
Computation shrinks as 1/P while the allreduce grows towards
``2·w·b/β + 2·log₂P·α``: the O(w·m·e)/P of the cost model holds while
``B·F/(P·S)`` dominates, and stops holding near the P where the two are
equal. Keeping the efficiency above ``E`` needs a global batch of at least
about ``E/(1 − E) · P · allreduce(P) · S / F`` examples (exactly:
:func:`batch_for_efficiency`).

The model divides a batch's computation freely; jitprop shares a batch out
by whole tiles (``cost.tiles``, at most 8), so past that many ranks only a
larger batch (more tiles) gives the extra ranks work.

Counted FLOPs leave out three costs that decide a small network's step, and
that only a measurement gives (:class:`MeasuredStep`; ``benchmarks/mpi_scaling.py``
measures them, docs/scaling.md has the figures)::

    step(P) = B·F/(P·S_P) + u + o + q + comm(P)        (P > 1; P = 1: B·F/S + u)

``u`` is the step after the exchange, which every rank repeats whole (the
sum of the tiles, the update rule, packing the weights): it reads and
writes every parameter several times, so memory, not ``U/S``, sets its
time. ``o`` is the interpreter's work per batch in the rank loop (the
single-process epoch is one compiled call); ``q`` the wait for the slowest
rank at the exchange, from the imbalance and jitter of their computation
(and, on a shared machine, the stalls of a rank that lost its core).
``S_P`` is one core's throughput while ``P`` cores compute. One process on
``P`` threads (:func:`thread_epoch_seconds`) pays ``B·F/(P·S_P) + u_P + q``:
the update on its ``P`` threads, no exchange, no interpreter per batch.
"""

import math
from dataclasses import dataclass

import numpy as np

from ..kernels.tuning import MAX_TILES

COMBINES = ("allreduce", "tiles")


@dataclass(frozen=True)
class Link:
    """The interconnect: ``bandwidth`` in bytes per second, ``latency`` in seconds per message."""

    bandwidth: float
    latency: float

    def __post_init__(self):
        if not (self.bandwidth > 0 and math.isfinite(self.bandwidth)):
            raise ValueError(f"bandwidth must be a positive number of bytes per second, got {self.bandwidth!r}.")
        if not (self.latency >= 0 and math.isfinite(self.latency)):
            raise ValueError(f"latency must be a non-negative number of seconds, got {self.latency!r}.")

    def allreduce_seconds(self, n_bytes, ranks):
        """``2·(P−1)/P · n_bytes/β + 2·log₂P · α``: a ring allreduce of ``n_bytes`` over ``ranks`` ranks."""
        if ranks == 1:
            return 0.0
        return 2 * (ranks - 1) / ranks * n_bytes / self.bandwidth + 2 * math.log2(ranks) * self.latency

    def allgather_seconds(self, n_bytes, ranks):
        """``(P−1)/P · n_bytes/β + log₂P · α``: every rank receives all of ``n_bytes``, gathered from all."""
        if ranks == 1:
            return 0.0
        return (ranks - 1) / ranks * n_bytes / self.bandwidth + math.log2(ranks) * self.latency


@dataclass(frozen=True)
class MeasuredStep:
    """Seconds of the parts of a step that FLOP counts do not give, measured on a machine.

    Measured for one configuration (a number of ranks and a way of
    combining, or a number of threads of one process) and used for it; see
    the module docstring.

    Parameters
    ----------
    update : float
        The step after the exchange, which every rank (or the one process,
        on its threads) does whole: summing the tiles, the update rule,
        packing the weights: ``u``.
    loop : float
        The interpreter's work per batch in the rank loop of
        ``fit(comm=...)``: ``o`` (0 for one process, whose epoch is one
        compiled call).
    wait : float
        Time a rank (or thread) waits per step for the slowest one, from
        the imbalance and jitter of their computation and the stalls of
        one that lost its core to other work: ``q``.
    """

    update: float
    loop: float = 0.0
    wait: float = 0.0

    def __post_init__(self):
        for name in ("update", "loop", "wait"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a non-negative number of seconds, got {value!r}.")


@dataclass(frozen=True)
class ScalingPoint:
    """Predicted step and epoch of one world size (see the module docstring)."""

    ranks: int
    compute_seconds: float  # per step: B·F/(P·S) + U/S (or + u, measured)
    communication_seconds: float  # per step
    step_seconds: float
    epoch_seconds: float
    speedup: float  # epoch(1) / epoch(P)
    efficiency: float  # speedup / P
    overhead_seconds: float = 0.0  # per step: o + q of a MeasuredStep (P > 1)

    def as_dict(self):
        return dict(self.__dict__)


def communication_seconds(cost, ranks, link, combine="allreduce", tiles=None):
    """Seconds per step of combining the gradient of ``cost``'s network over ``ranks`` ranks.

    ``tiles`` (with ``combine="tiles"``) is the number of tiles per batch,
    by default ``cost.tiles``.
    """
    if combine not in COMBINES:
        raise ValueError(f"combine must be one of {', '.join(map(repr, COMBINES))}, got {combine!r}.")
    gradient = cost.params * np.dtype(cost.dtype).itemsize
    if combine == "allreduce":
        return link.allreduce_seconds(gradient, ranks)
    return link.allgather_seconds((cost.tiles if tiles is None else tiles) * gradient, ranks)


def scaling(cost, n_examples, ranks, link, flops_per_second, combine="allreduce", measured=None):
    """The predicted :class:`ScalingPoint` of each number of ranks in ``ranks``.

    Parameters
    ----------
    cost : NetworkCost
        :func:`~jitprop.complexity.costs` of the network at the global batch size.
    n_examples : int
        Examples per epoch.
    ranks : iterable of int
    link : Link
    flops_per_second : float
        One rank's training throughput (``jitprop complexity --calibrate``
        measures this machine's).
    combine : {"allreduce", "tiles"}
        As ``fit(combine=...)``.
    measured : MeasuredStep, optional
        The step's measured parts: its ``update`` replaces ``U/S`` (for
        every P; one process repeats the same step), and from P = 2 on each
        step also pays ``loop + wait``. Without it, the FLOP model alone.

    Returns
    -------
    list of ScalingPoint
    """
    if not flops_per_second > 0:
        raise ValueError(f"flops_per_second must be positive, got {flops_per_second!r}.")
    steps = -(-n_examples // cost.batch_size)
    batch = cost.batch_size * cost.training_flops_per_example / flops_per_second
    update = cost.step_flops / flops_per_second if measured is None else measured.update
    base = steps * (batch + update)
    points = []
    for p in ranks:
        p = int(p)
        if p < 1:
            raise ValueError(f"ranks must be positive, got {p}.")
        compute = batch / p + update
        talk = communication_seconds(cost, p, link, combine)
        extra = measured.loop + measured.wait if measured is not None and p > 1 else 0.0
        step = compute + talk + extra
        epoch = steps * step
        points.append(ScalingPoint(p, compute, talk, step, epoch, base / epoch, base / epoch / p, extra))
    return points


def thread_epoch_seconds(cost, n_examples, threads, flops_per_second, measured):
    """Predicted epoch of one process on ``threads`` threads: ``⌈m/B⌉ · (B·F/(P·S_P) + u_P + q)``.

    Parameters
    ----------
    cost : NetworkCost
    n_examples : int
    threads : int
    flops_per_second : float
        One core's throughput while ``threads`` cores compute (``S_P``).
    measured : MeasuredStep
        Measured with ``threads`` threads: ``update`` is the step on them,
        ``wait`` the wait for the slowest thread; ``loop`` is not counted
        (the epoch is one compiled call).

    Returns
    -------
    float
    """
    if not flops_per_second > 0:
        raise ValueError(f"flops_per_second must be positive, got {flops_per_second!r}.")
    if int(threads) < 1:
        raise ValueError(f"threads must be positive, got {threads!r}.")
    steps = -(-n_examples // cost.batch_size)
    batch = cost.batch_size * cost.training_flops_per_example / flops_per_second
    return steps * (batch / int(threads) + measured.update + measured.wait)


def batch_for_efficiency(cost, ranks, link, flops_per_second, efficiency=0.8, combine="allreduce"):
    """The smallest global batch that keeps the efficiency of ``ranks`` ranks at ``efficiency`` or more.

    With ``c = F/S`` per example, ``u = U/S`` per step and ``t`` the
    communication of a step, the efficiency ``(B·c + u) / (P·(B·c/P + u + t))``
    reaches ``E`` from ``B = (E·P·(u + t) − u) / ((1 − E)·c)`` on. The step
    (``u``) is taken with the most tiles a batch has
    (:data:`~jitprop.kernels.tuning.MAX_TILES`: their sum grows with them), so
    the batch returned reaches ``E``; with ``combine="tiles"`` the
    communication is taken at ``cost``'s tiles. Returns 1 for one rank.
    """
    if not 0 < efficiency < 1:
        raise ValueError(f"efficiency must be between 0 and 1, got {efficiency!r}.")
    talk = communication_seconds(cost, ranks, link, combine)
    per_example = cost.training_flops_per_example / flops_per_second
    update = (cost.step_flops + (MAX_TILES - cost.tiles) * cost.params) / flops_per_second
    needed = (efficiency * ranks * (update + talk) - update) / ((1 - efficiency) * per_example)
    return max(1, math.ceil(needed))


def parse_bandwidth(text):
    """``"10GB/s"``, ``"800MB/s"``, ``"100Gb/s"`` (bits) or a number of bytes per second, as bytes per second."""
    value, unit = _split_unit(text, "bandwidth")
    unit = unit.removesuffix("/s")
    scale = {"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
    bits = {"b": 1 / 8, "Kb": 1e3 / 8, "Mb": 1e6 / 8, "Gb": 1e9 / 8, "Tb": 1e12 / 8}
    if unit in bits:
        return value * bits[unit]
    if unit.upper() in scale and (unit == "" or unit[-1] == "B"):
        return value * scale[unit.upper()]
    raise ValueError(f"bandwidth {text!r}: give a number with B/s, KB/s, MB/s, GB/s (or Gb/s for bits), e.g. 10GB/s.")


def parse_latency(text):
    """``"5us"``, ``"5µs"``, ``"2ms"``, ``"1ns"``, ``"0.5s"`` or a number of seconds, as seconds."""
    value, unit = _split_unit(text, "latency")
    scale = {"": 1, "s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    if unit not in scale:
        raise ValueError(f"latency {text!r}: give a number with s, ms, us or ns, e.g. 5us.")
    return value * scale[unit]


def _split_unit(text, what):
    text = str(text).strip()
    end = len(text)
    while end and not (text[end - 1].isdigit() or text[end - 1] == "."):
        end -= 1
    try:
        value = float(text[:end])
    except ValueError:
        raise ValueError(f"{what} {text!r} does not start with a number.") from None
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"{what} {text!r} must be a non-negative number.")
    return value, text[end:].strip()
