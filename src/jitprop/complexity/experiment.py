"""The experiment: measure what training costs on this machine and set it against the model.

Every measurement times the code a user runs — ``Network.fit`` for training,
``Network.predict`` for inference — except the forward/backward split, which
calls :func:`jitprop.kernels.batch.run_batch` itself, on the batches and tile
plan training uses, once with ``FORWARD`` (forward pass only) and once with
``GRADIENT`` (forward, loss and backward): backward = gradient − forward.

Timings on a shared machine are noisy, so the design resists noise rather than
hoping for quiet:

* the kernels are compiled (:func:`jitprop.warmup`) and every point is run
  once untimed before any timing;
* each sweep runs all its points once per repeat, in alternating order
  (forwards, then backwards), so a slow spell of the machine lands on
  different points in different repeats instead of bending the curve;
* every run of a sweep's point follows a run of its first point (the
  cheapest), and the point's time is its ratio to that run, times the
  first point's time: a slow spell longer than the two runs slows both,
  and the ratio, from which the exponent comes, stays as it was. With a
  process that took one of two CPUs for 0.3 to 2 s at a time, idle as
  long in between, the epochs exponent came out at 0.51, 1.14, 0.88, 0.97,
  1.08 and 1.00 in six sweeps without the pairs, and at 0.92, 0.98, 0.95,
  0.97, 0.99 and 0.96 with them (Intel Xeon of the Emerald Rapids class,
  2 threads, 5 repeats, alternating in one process);
* forward and gradient passes alternate batch by batch, so both see the
  same machine;
* each point's time is a robust statistic of its repeats (the median by
  default; ``statistic="min"`` takes the fastest, since interference only
  ever adds time);
* ``clock="cpu"`` (one thread) times the CPU time of the thread doing the
  work, which other processes cannot inflate.

Clocks, threads and the kernel-level benches live in :mod:`.timing`.
"""

import time
from dataclasses import asdict, dataclass, replace

import numpy as np

from .._threading import thread_count
from ..optimizers import SGD
from .fitting import fit_power_law
from .model import costs
from .timing import BatchBench, check_threads, layer_parts, load_average, machine, resolve_clock, timed

_STATISTICS = {"median": np.median, "min": np.min}

#: Acceptance bands of the claims (see docs/complexity.md).
EXPONENT_BAND = (0.9, 1.1)
RATIO_TOLERANCE = 0.20
PREDICTION_TOLERANCE = 0.25


@dataclass(frozen=True)
class Plan:
    """Sizes of one run of the experiment. :data:`FULL` and :data:`QUICK` are the two the CLI uses.

    Networks are dense, ReLU hidden layers and a softmax output trained with
    cross-entropy by ``SGD`` on random inputs in [0, 1) and random labels;
    the cost of an epoch does not depend on the values. The convolutional
    part trains :func:`positions_network` on images of each side in
    ``image_sides`` (its weights do not depend on the side) and times the
    backward/forward ratio of the CNNs of :data:`CNNS` named in
    ``cnns``; the recurrent part likewise trains :func:`steps_network` on
    sequences of each length in ``sequence_steps`` and times the recurrent
    networks of :data:`RNNS` named in ``rnns``. A plan without them skips
    that part.
    """

    widths: tuple  # hidden widths of the width sweep (one hidden layer)
    width_examples: int  # m of each width point (one epoch)
    examples: tuple  # m of the examples sweep (one epoch)
    epochs: tuple  # e of the epochs sweep
    epoch_examples: int  # m of each epochs point
    hidden: int  # hidden width of the examples and epochs sweeps
    batch_size: int  # batch size of every fit
    architectures: tuple  # layer sizes of the backward/forward measurements
    ratio_batch_sizes: tuple  # batch sizes of the backward/forward measurements, headline first
    ratio_examples: int
    parts_layer: tuple  # (fan_in, fan_out) of the layer whose backward is taken apart
    parts_rows: tuple  # tile rows at which it is taken apart
    reference: tuple  # layer sizes of the calibration and inference network
    reference_examples: int
    repeats: int
    input_dim: int = 784
    outputs: int = 10
    dtype: str = "float32"
    image_sides: tuple = ()  # sides s of the s x s x 1 images of the positions sweep
    image_examples: int = 0  # m of each positions point (one epoch)
    cnns: tuple = ()  # names in CNNS of the convolutional backward/forward measurements
    cnn_batch_size: int = 64
    cnn_examples: int = 0
    sequence_steps: tuple = ()  # steps T of the sequences of the steps sweep
    sequence_examples: int = 0  # m of each steps point (one epoch)
    rnns: tuple = ()  # names in RNNS of the recurrent backward/forward measurements
    rnn_batch_size: int = 32
    rnn_examples: int = 0


FULL = Plan(
    widths=(128, 181, 256, 362, 512, 724, 1024),
    width_examples=8192,
    examples=(4096, 5793, 8192, 11585, 16384, 23170, 32768),
    epochs=(1, 2, 3, 4, 5, 6, 7, 8),
    epoch_examples=4096,
    hidden=256,
    batch_size=128,
    architectures=((784, 256, 10), (784, 256, 256, 10), (784, 512, 512, 10), (256, 256, 256, 256, 256, 256, 10)),
    ratio_batch_sizes=(2048, 128),
    ratio_examples=4096,
    parts_layer=(784, 256),
    parts_rows=(64, 128, 256, 512),
    reference=(784, 256, 256, 10),
    reference_examples=8192,
    repeats=5,
    image_sides=(8, 11, 16, 23, 32),
    image_examples=1024,
    cnns=("16x16x1 conv8-pool-conv16-dense10", "16x16x4 conv16-conv16-gap-dense10"),
    cnn_examples=1024,
    sequence_steps=(8, 11, 16, 23, 32, 45, 64),
    # 2,048 sequences: at 512 an epoch of 8 steps took about 1 ms, time against length had an intercept of
    # 0.29 ms (what a fit call and its batches cost at any length) and the exponent measured 0.81-0.84 (Intel).
    sequence_examples=2048,
    rnns=("T=32 F=16 lstm64-dense10", "T=32 F=16 gru64-dense10"),
    rnn_examples=512,
)

QUICK = Plan(
    widths=(128, 256, 512),
    width_examples=2048,
    examples=(2048, 4096, 8192),
    epochs=(1, 2, 4),
    epoch_examples=2048,
    hidden=128,
    batch_size=128,
    architectures=((784, 128, 10), (784, 128, 128, 10), (256, 256, 256, 256, 10)),
    ratio_batch_sizes=(1024,),
    ratio_examples=2048,
    parts_layer=(784, 128),
    parts_rows=(64, 256),
    reference=(784, 128, 128, 10),
    reference_examples=2048,
    repeats=2,
    image_sides=(8, 16, 32),
    image_examples=256,
    cnns=("16x16x1 conv8-pool-conv16-dense10",),
    cnn_examples=256,
    sequence_steps=(8, 16, 32),
    sequence_examples=128,
    rnns=("T=32 F=16 lstm64-dense10",),
    rnn_examples=128,
)


def positions_network(side, dtype="float32", seed=0):
    """The network of the positions sweep, on ``side`` x ``side`` x 1 images.

    Two 3x3 convolutions ("same": each has ``side²`` output positions), 8
    and 16 filters, ReLU; a global average pool, so that the dense softmax
    layer of 10 outputs sees 16 values whatever the side: 1,418 parameters
    for every side, and the products cost ``side²`` times theirs per example.
    """
    from ..layers import Conv2D, Dense, GlobalAvgPool2D

    layers = [
        Conv2D(8, 3, padding="same", activation="relu"),
        Conv2D(16, 3, padding="same", activation="relu"),
        GlobalAvgPool2D(),
        Dense(10, "softmax"),
    ]
    return _network(layers, (side, side, 1), dtype, seed)


def _cnn_a():
    from ..layers import Conv2D, Dense, Flatten, MaxPool2D

    return [
        Conv2D(8, 3, padding="same", activation="relu"),
        MaxPool2D(2),
        Conv2D(16, 3, padding="same", activation="relu"),
        Flatten(),
        Dense(10, "softmax"),
    ]


def _cnn_b():
    from ..layers import Conv2D, Dense, GlobalAvgPool2D

    return [
        Conv2D(16, 3, padding="same", activation="relu"),
        Conv2D(16, 3, padding="same", activation="relu"),
        GlobalAvgPool2D(),
        Dense(10, "softmax"),
    ]


#: The CNNs whose backward/forward ratio is measured: name -> (input shape, a function making the layers).
CNNS = {
    "16x16x1 conv8-pool-conv16-dense10": ((16, 16, 1), _cnn_a),
    "16x16x4 conv16-conv16-gap-dense10": ((16, 16, 4), _cnn_b),
}


def cnn_network(name, dtype="float32", seed=0):
    """The CNN ``name`` of :data:`CNNS`: ReLU convolutions, softmax output, cross-entropy."""
    shape, layers = CNNS[name]
    return _network(layers(), shape, dtype, seed)


def steps_network(steps, dtype="float32", seed=0):
    """The network of the steps sweep, on sequences of ``steps`` steps of 8 features.

    An LSTM of 32 units, its last output into a dense softmax layer of 10:
    5,578 parameters whatever the length, each of the LSTM's used at every
    step, so that its products cost ``steps`` times theirs per example.
    """
    from ..layers import LSTM, Dense

    return _network([LSTM(32), Dense(10, "softmax")], (steps, 8), dtype, seed)


def _rnn(cell):
    def layers():
        from ..layers import GRU, LSTM, Dense

        return [{"lstm": LSTM, "gru": GRU}[cell](64), Dense(10, "softmax")]

    return layers


#: The recurrent networks whose backward/forward ratio is measured: name -> (input shape, a function making the layers).
RNNS = {
    "T=32 F=16 lstm64-dense10": ((32, 16), _rnn("lstm")),
    "T=32 F=16 gru64-dense10": ((32, 16), _rnn("gru")),
}


def rnn_network(name, dtype="float32", seed=0):
    """The recurrent network ``name`` of :data:`RNNS`: softmax output, cross-entropy."""
    shape, layers = RNNS[name]
    return _network(layers(), shape, dtype, seed)


def _network(layers, input_shape, dtype, seed):
    from ..network import Network

    return Network(layers, input_shape=input_shape, loss="cross_entropy", dtype=dtype, seed=seed)


def measure(
    quick=False, repeats=None, seed=0, statistic="median", plan=None, progress=None, threads=None, clock="wall"
):
    """Run the experiment: scaling sweeps, backward/forward ratios, inference against training.

    Parameters
    ----------
    quick : bool, default False
        Use :data:`QUICK` (under 15 s on 2 cores) instead of :data:`FULL`
        (about a minute); ignored when ``plan`` is given.
    repeats : int, optional
        Timings per point (default: the plan's).
    seed : int, default 0
        Seeds the data and the networks.
    statistic : {"median", "min"}, default "median"
        How a point's repeats become its time.
    plan : Plan, optional
        Sizes of everything measured.
    progress : callable, optional
        Called with a short message as each part starts.
    threads : int, optional
        Numba threads during the run (default: as set, ``NUMBA_NUM_THREADS``
        or every core); restored afterwards. On a machine that other jobs
        keep busy, parallel regions wait for descheduled threads and one
        thread gives far steadier figures.
    clock : {"wall", "cpu"}, default "wall"
        ``"wall"`` times elapsed time, what a user waits for. ``"cpu"`` times
        the CPU time of the calling thread (``time.thread_time``), which does
        not count the time other processes hold the core: the figure to use
        on a busy machine. It needs one thread (``threads`` 1 or unset, and
        then set to 1), since the kernels then run on the calling thread.

    Returns
    -------
    dict
        JSON-compatible::

            {"exponents": {"width": s, "examples": s, "epochs": s},
             "sweeps": {"width": {"fit": {"slope", "ci95", ...}, "points": [...],
                                  "model_slope": ...}, "examples": ..., "epochs": ...},
             "backward_forward": [{"layers": [...], "predicted": r, "measured": r, "batch_size": b,
                                   "by_batch_size": [...], ...}, ...],
             "backward_parts": [{"tile_rows": t, "input_gradient_over_forward": q,
                                 "weight_gradient_over_forward": q, ...}, ...],
             "inference": {"training_seconds_per_example", "inference_seconds_per_example",
                           "measured_ratio", "predicted_ratio", ...},
             "calibration": {"layers": [...], "flops_per_second", ...},
             "prediction": {"errors": [...], "max_abs_error": ...},
             "acceptance": {...}, "machine": {...}, "plan": {...}, "seconds": ...}

        Exponents are log-log slopes of training time against parameters
        (varying the hidden width), examples and epochs.
    """
    plan = plan or (QUICK if quick else FULL)
    if repeats is not None:
        plan = replace(plan, repeats=int(repeats))
    if plan.repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {plan.repeats!r}.")
    if statistic not in _STATISTICS:
        raise ValueError(f"statistic must be one of {', '.join(_STATISTICS)}, got {statistic!r}.")
    threads, timer = resolve_clock(clock, threads)
    with thread_count(check_threads(threads)):
        return _measure(plan, seed, statistic, timer, clock, progress or (lambda message: None))


def _measure(plan, seed, statistic, timer, clock, say):
    import jitprop

    started = time.perf_counter()
    load_before = load_average()
    jitprop.warmup([plan.dtype])
    experiment = _Experiment(plan, seed, _STATISTICS[statistic], timer)

    say("calibration and inference: reference network " + "-".join(map(str, plan.reference)))
    reference = experiment.reference()
    throughput = reference["calibration"]["flops_per_second"]
    say("sweep: hidden width " + ", ".join(map(str, plan.widths)))
    sweeps = {"width": experiment.width_sweep(throughput)}
    say("sweep: examples " + ", ".join(map(str, plan.examples)))
    sweeps["examples"] = experiment.examples_sweep(throughput)
    say("sweep: epochs " + ", ".join(map(str, plan.epochs)))
    sweeps["epochs"] = experiment.epochs_sweep(throughput)
    say("backward/forward on " + "; ".join("-".join(map(str, a)) for a in plan.architectures))
    ratios = experiment.backward_forward()
    rows = ", ".join(map(str, plan.parts_rows))
    say(f"backward taken apart: a {plan.parts_layer[0]}x{plan.parts_layer[1]} layer, tiles of {rows} rows")
    parts = experiment.backward_parts()
    cnn_ratios = []
    if plan.image_sides:
        sides = ", ".join(f"{s}x{s}" for s in plan.image_sides)
        say(f"sweep: output positions, images of {sides} (the same weights)")
        sweeps["positions"] = experiment.positions_sweep(throughput)
    if plan.cnns:
        say("backward/forward on " + "; ".join(plan.cnns))
        cnn_ratios = experiment.cnn_backward_forward()
    rnn_ratios = []
    if plan.sequence_steps:
        say("sweep: steps " + ", ".join(map(str, plan.sequence_steps)) + " of an LSTM (the same weights)")
        sweeps["steps"] = experiment.steps_sweep(throughput)
    if plan.rnns:
        say("backward/forward on " + "; ".join(plan.rnns))
        rnn_ratios = experiment.rnn_backward_forward()

    errors = [point["error"] for point in sweeps["width"]["points"]]
    exponents = {name: sweep["fit"]["slope"] for name, sweep in sweeps.items()}
    low, high = EXPONENT_BAND
    return {
        "exponents": exponents,
        "sweeps": sweeps,
        "backward_forward": ratios,
        "cnn_backward_forward": cnn_ratios,
        "rnn_backward_forward": rnn_ratios,
        "backward_parts": parts,
        "inference": reference["inference"],
        "calibration": reference["calibration"],
        "prediction": {
            "sweep": "width",
            "errors": errors,
            "max_abs_error": max(abs(e) for e in errors),
        },
        "acceptance": {
            "exponents_in_band": all(low <= s <= high for s in exponents.values()),
            "exponent_band": list(EXPONENT_BAND),
            "ratios_within_tolerance": sum(abs(r["error"]) <= RATIO_TOLERANCE for r in ratios),
            "cnn_ratios_within_tolerance": sum(abs(r["error"]) <= RATIO_TOLERANCE for r in cnn_ratios),
            "rnn_ratios_within_tolerance": sum(abs(r["error"]) <= RATIO_TOLERANCE for r in rnn_ratios),
            "ratio_tolerance": RATIO_TOLERANCE,
            "prediction_within_tolerance": max(abs(e) for e in errors) <= PREDICTION_TOLERANCE,
            "prediction_tolerance": PREDICTION_TOLERANCE,
        },
        "machine": machine(load_before),
        "plan": dict(asdict(plan), statistic=statistic, seed=seed, clock=clock),
        "seconds": time.perf_counter() - started,
    }


def calibrate(net=None, n_examples=8192, batch_size=128, repeats=3, seed=0, threads=None, clock="wall"):
    """Training throughput of this machine, in FLOPs per second.

    Trains a copy of ``net`` (default: 784-256-256-10, ReLU, softmax,
    float32; a CNN too, on random images of its input shape) for one epoch
    of ``n_examples`` random examples, ``repeats`` times after one untimed
    run, and divides the epoch's FLOPs (:meth:`NetworkCost.epoch_flops`) by
    the median time. Predicted time of
    any training run is then its FLOPs divided by this figure.

    ``threads`` and ``clock`` are as for :func:`measure`.

    Returns
    -------
    dict
        ``{"layers", "batch_size", "examples", "epoch_seconds", "flops_per_second", "gflops"}``.
    """
    net = relu_network((784, 256, 256, 10), "float32", seed) if net is None else net.copy()
    threads, timer = resolve_clock(clock, threads)
    rng = np.random.default_rng(seed)
    X = rng.random((n_examples, *net.input_shape), dtype=np.float32).astype(net.dtype, copy=False)
    y = rng.integers(0, net.n_outputs, n_examples)
    if net.loss != "cross_entropy":
        y = np.eye(net.n_outputs)[y]
    optimizer = _sgd()

    def fit():
        net.fit(X, y, epochs=1, batch_size=batch_size, optimizer=optimizer, verbose=0)

    with thread_count(check_threads(threads)):
        fit()
        seconds = float(np.median([timed(timer, fit) for _ in range(repeats)]))
    flops = costs(net, batch_size, optimizer).epoch_flops(n_examples)
    return _calibration(net, batch_size, n_examples, seconds, flops)


def _alternating(n, rep):
    """The order repeat ``rep`` visits ``n`` points in: forwards in even repeats, backwards in odd ones."""
    return range(n) if rep % 2 == 0 else reversed(range(n))


class _Experiment:
    """The data, networks and timing loops of one run of :func:`measure`."""

    def __init__(self, plan, seed, statistic, timer):
        self.plan = plan
        self.timer = timer
        self.seed = seed
        self.statistic = statistic
        rng = np.random.default_rng(seed)
        most = max(
            plan.width_examples, max(plan.examples), plan.epoch_examples, plan.ratio_examples, plan.reference_examples
        )
        widest = max(
            [plan.input_dim, plan.reference[0], *(a[0] for a in plan.architectures)]
            + [side * side for side in plan.image_sides]
            + [int(np.prod(CNNS[name][0])) for name in plan.cnns]
            + [steps * 8 for steps in plan.sequence_steps]
            + [int(np.prod(RNNS[name][0])) for name in plan.rnns]
        )
        most = max(most, plan.image_examples, plan.cnn_examples, plan.sequence_examples, plan.rnn_examples)
        self.X = rng.random((most, widest), dtype=np.float32).astype(plan.dtype, copy=False)
        self.y = rng.integers(0, plan.outputs, most)

    # ----------------------------------------------------------- primitives
    def inputs(self, n_inputs, n_examples):
        return np.ascontiguousarray(self.X[:n_examples, :n_inputs])

    def network(self, sizes):
        return relu_network(sizes, self.plan.dtype, self.seed)

    def fit_timer(self, sizes, n_examples, epochs, net=None):
        """A network of ``sizes`` (or ``net``) and a function that trains it and returns the seconds taken.

        Returns ``(net, run, warm)``: ``run()`` trains ``epochs`` epochs and
        returns the seconds, ``warm()`` trains a few batches untimed.
        """
        net = self.network(sizes) if net is None else net
        X = self.inputs(int(net.layout.sizes[0]), n_examples).reshape(n_examples, *net.input_shape)
        y = self.y[:n_examples]
        optimizer = _sgd()
        batch_size = self.plan.batch_size

        def fit():
            net.fit(X, y, epochs=epochs, batch_size=batch_size, optimizer=optimizer, verbose=0)

        def run():
            return timed(self.timer, fit)

        def warm():
            few = min(n_examples, 4 * batch_size)
            net.fit(X[:few], y[:few], epochs=1, batch_size=batch_size, optimizer=optimizer, verbose=0)

        return net, run, warm

    def repeat(self, runs):
        """Time each of ``runs`` (functions returning seconds) ``repeats`` times, alternating order.

        Returns an array of shape (len(runs), repeats).
        """
        samples = np.zeros((len(runs), self.plan.repeats))
        for rep in range(self.plan.repeats):
            for i in _alternating(len(runs), rep):
                samples[i, rep] = runs[i]()
        return samples

    def repeat_paired(self, runs):
        """Time each of ``runs`` ``repeats`` times as :meth:`repeat` does, each right after a run of the first.

        Returns ``(samples, ratios, first)``: the runs' times and their
        ratios to the run of the first just before, arrays of shape
        (len(runs), repeats), and the first run's times, all of them (the
        first's own runs are its pairs' first half: ratio 1).
        """
        samples = np.zeros((len(runs), self.plan.repeats))
        ratios = np.ones((len(runs), self.plan.repeats))
        first = []
        for rep in range(self.plan.repeats):
            for i in _alternating(len(runs), rep):
                before = runs[0]()
                first.append(before)
                if i == 0:
                    samples[i, rep] = before
                    continue
                samples[i, rep] = runs[i]()
                ratios[i, rep] = samples[i, rep] / before
        return samples, ratios, np.array(first)

    def point(self, x, samples, seconds, predicted, **extra):
        """A point of a sweep, measured as ``samples`` and taking ``seconds``, against ``predicted``."""
        seconds = float(seconds)
        return dict(
            extra,
            x=x,
            seconds=seconds,
            samples=[float(s) for s in samples],
            predicted_seconds=predicted,
            error=seconds / predicted - 1.0,
        )

    def sweep(self, x_name, xs, setups, flops, throughput):
        """Time the fits ``setups`` (from :meth:`fit_timer`, the cheapest first) and fit time ∝ x^slope.

        A point's time is ``statistic`` of its ratios to the first point's
        run just before (see :meth:`repeat_paired`) times ``statistic`` of
        the first point's times.
        """
        for _, _, warm in setups:
            warm()
        samples, ratios, first = self.repeat_paired([run for _, run, _ in setups])
        first_seconds = self.statistic(first)
        points = [
            self.point(x, s, self.statistic(r) * first_seconds, f / throughput, flops=f)
            for x, s, r, f in zip(xs, samples, ratios, flops)
        ]
        fit = fit_power_law(xs, [p["seconds"] for p in points])
        model = fit_power_law(xs, flops)
        return {"x": x_name, "points": points, "fit": fit.as_dict(), "model_slope": model.slope}

    # ---------------------------------------------------------------- parts
    def width_sweep(self, throughput):
        plan = self.plan
        setups = [self.fit_timer((plan.input_dim, h, plan.outputs), plan.width_examples, 1) for h in plan.widths]
        nets = [net for net, _, _ in setups]
        flops = [costs(net, plan.batch_size, _sgd()).epoch_flops(plan.width_examples) for net in nets]
        result = self.sweep("params", [net.n_params for net in nets], setups, flops, throughput)
        for point, h in zip(result["points"], plan.widths):
            point["hidden"] = h
        return result

    def examples_sweep(self, throughput):
        plan = self.plan
        sizes = (plan.input_dim, plan.hidden, plan.outputs)
        setups = [self.fit_timer(sizes, m, 1) for m in plan.examples]
        cost = costs(setups[0][0], plan.batch_size, _sgd())
        flops = [cost.epoch_flops(m) for m in plan.examples]
        return self.sweep("examples", list(plan.examples), setups, flops, throughput)

    def epochs_sweep(self, throughput):
        plan = self.plan
        sizes = (plan.input_dim, plan.hidden, plan.outputs)
        setups = [self.fit_timer(sizes, plan.epoch_examples, e) for e in plan.epochs]
        cost = costs(setups[0][0], plan.batch_size, _sgd())
        flops = [cost.training_flops(plan.epoch_examples, e) for e in plan.epochs]
        return self.sweep("epochs", list(plan.epochs), setups, flops, throughput)

    def positions_sweep(self, throughput):
        """Training time against the output positions of the convolutions, at fixed weights (the image side varies)."""
        plan = self.plan
        nets = [positions_network(side, plan.dtype, self.seed) for side in plan.image_sides]
        setups = [self.fit_timer(None, plan.image_examples, 1, net) for net in nets]
        flops = [costs(net, plan.batch_size, _sgd()).epoch_flops(plan.image_examples) for net in nets]
        result = self.sweep("positions", [side * side for side in plan.image_sides], setups, flops, throughput)
        for point, side, net in zip(result["points"], plan.image_sides, nets):
            point["side"] = side
            point["params"] = net.n_params
        return result

    def steps_sweep(self, throughput):
        """Training time against the steps of the sequences, at fixed weights (an LSTM's; the length varies)."""
        plan = self.plan
        nets = [steps_network(steps, plan.dtype, self.seed) for steps in plan.sequence_steps]
        setups = [self.fit_timer(None, plan.sequence_examples, 1, net) for net in nets]
        flops = [costs(net, plan.batch_size, _sgd()).epoch_flops(plan.sequence_examples) for net in nets]
        result = self.sweep("steps", list(plan.sequence_steps), setups, flops, throughput)
        for point, net in zip(result["points"], nets):
            point["params"] = net.n_params
        return result

    def reference(self):
        """Calibrate on the reference network, and time its inference against its training."""
        plan = self.plan
        m = plan.reference_examples
        net, train, warm = self.fit_timer(plan.reference, m, 1)
        X = self.inputs(plan.reference[0], m)

        def infer():
            return timed(self.timer, lambda: net.predict(X))

        warm()
        net.predict(X)
        samples = self.repeat([train, infer])
        train_s, infer_s = (float(self.statistic(s)) for s in samples)
        cost = costs(net, plan.batch_size, _sgd())
        epoch_flops = cost.epoch_flops(m)
        return {
            "calibration": _calibration(net, plan.batch_size, m, train_s, epoch_flops),
            "inference": {
                "layers": list(plan.reference),
                "examples": m,
                "training_seconds_per_example": train_s / m,
                "inference_seconds_per_example": infer_s / m,
                "measured_ratio": train_s / infer_s,
                "predicted_ratio": epoch_flops / cost.predict_flops(m),
                "training_samples": [float(s) for s in samples[0]],
                "inference_samples": [float(s) for s in samples[1]],
            },
        }

    def backward_forward(self):
        """Forward and gradient passes of :func:`run_batch`, per architecture and batch size.

        The first of ``plan.ratio_batch_sizes`` gives each entry's
        ``measured``; every batch size is listed under ``by_batch_size``.
        """
        plan = self.plan
        nets = [self.network(sizes) for sizes in plan.architectures]
        return self._ratios(nets, plan.ratio_examples, plan.ratio_batch_sizes)

    def cnn_backward_forward(self):
        """:meth:`backward_forward` of the CNNs of ``plan.cnns``, at ``plan.cnn_batch_size``."""
        plan = self.plan
        nets = [cnn_network(name, plan.dtype, self.seed) for name in plan.cnns]
        return self._named_ratios(plan.cnns, nets, plan.cnn_examples, plan.cnn_batch_size)

    def rnn_backward_forward(self):
        """:meth:`backward_forward` of the recurrent networks of ``plan.rnns``, at ``plan.rnn_batch_size``."""
        plan = self.plan
        nets = [rnn_network(name, plan.dtype, self.seed) for name in plan.rnns]
        return self._named_ratios(plan.rnns, nets, plan.rnn_examples, plan.rnn_batch_size)

    def _named_ratios(self, names, nets, m, batch_size):
        results = self._ratios(nets, m, (batch_size,))
        for name, net, entry in zip(names, nets, results):
            cost = costs(net, batch_size, _sgd())
            entry["network"] = name
            entry["weights"] = cost.weights
            entry["weight_uses"] = cost.weight_uses
        return results

    def _ratios(self, nets, m, batch_sizes):
        """The backward/forward measurements of ``nets`` on ``m`` examples at each of ``batch_sizes``."""
        measured = {}
        for batch in batch_sizes:
            usable = m - m % batch  # whole batches only: every sample times the same work
            if usable == 0:
                raise ValueError(f"{m} examples hold no whole batch of {batch}.")
            benches = [
                BatchBench(net, self.X[:usable, : int(net.layout.sizes[0])], self.y[:usable], batch, self.timer)
                for net in nets
            ]
            for bench in benches:
                bench.run(0)
            samples = [([], []) for _ in benches]
            for rep in range(self.plan.repeats):
                for i in _alternating(len(benches), rep):
                    forward, gradient = benches[i].run(rep)
                    samples[i][0].extend(forward)
                    samples[i][1].extend(gradient)
            for i, (bench, (forward, gradient)) in enumerate(zip(benches, samples)):
                f = float(self.statistic(forward)) / batch
                g = float(self.statistic(gradient)) / batch
                measured.setdefault(i, []).append(
                    {
                        "batch_size": batch,
                        "tile_rows": bench.ws.tile_rows,
                        "measured": (g - f) / f,
                        "forward_seconds_per_example": f,
                        "gradient_seconds_per_example": g,
                        "samples": len(forward),
                    }
                )
        results = []
        for i, net in enumerate(nets):
            cost = costs(net, batch_sizes[0], _sgd())
            head = measured[i][0]
            f = head["forward_seconds_per_example"]
            b = head["gradient_seconds_per_example"] - f
            for entry in measured[i]:
                entry["error"] = entry["measured"] / cost.backward_forward_ratio - 1.0
            results.append(
                {
                    "layers": cost.sizes,
                    "predicted": cost.backward_forward_ratio,
                    "matmul_ratio": cost.matmul_ratio,
                    "measured": head["measured"],
                    "error": head["error"],
                    "batch_size": head["batch_size"],
                    "tile_rows": head["tile_rows"],
                    "forward_gflops": cost.forward_flops / f / 1e9,
                    "backward_gflops": cost.backward_flops / b / 1e9 if b > 0 else None,
                    "by_batch_size": measured[i],
                }
            )
        return results

    def backward_parts(self):
        """One layer's backward pieces on a tile, relative to its forward product (see :func:`layer_parts`)."""
        n, k = self.plan.parts_layer
        samples = 5 * self.plan.repeats
        dtype = np.dtype(self.plan.dtype)
        return layer_parts(n, k, self.plan.parts_rows, dtype, samples, self.statistic, self.timer, self.seed)


def relu_network(sizes, dtype="float32", seed=0):
    """A dense network of ``sizes`` (inputs first): ReLU hidden layers, softmax output, cross-entropy."""
    from ..layers import Dense
    from ..network import Network

    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"layer sizes must be at least two positive widths, got {sizes!r}.")
    layers = [Dense(width, "relu") for width in sizes[1:-1]] + [Dense(sizes[-1], "softmax")]
    return Network(layers, input_dim=sizes[0], loss="cross_entropy", dtype=dtype, seed=seed)


def _calibration(net, batch_size, n_examples, seconds, flops):
    return {
        "layers": [int(s) for s in net.layout.sizes],
        "batch_size": batch_size,
        "examples": n_examples,
        "epoch_seconds": seconds,
        "epoch_flops": flops,
        "flops_per_second": flops / seconds,
        "gflops": flops / seconds / 1e9,
    }


def _sgd():
    """The optimizer of every fit: plain SGD with a small rate (random labels; the cost ignores values)."""
    return SGD(lr=1e-3)
