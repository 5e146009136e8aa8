"""What every benchmark module shares: parameters, data and network builders, kernel adapters.

Benchmarks reach jitprop in two ways. Whole operations (an epoch, a
prediction, a fit) go through the public API, ``Network.fit`` and
``Network.predict``, which every commit of the history has. Single kernels go
through the adapters at the end of this module: kernel signatures change from
time to time, and an adapter is the one place that follows them. Where a
commit lacks an API (an optimizer, a kernel, the digits data set) the
adapter raises ``NotImplementedError``; raised from a ``setup`` that makes asv
skip the benchmark for that commit instead of failing, so history builds.

Every ``setup`` runs what it times once before timing (``warm_up`` below), so
Numba compilation, or loading the compiled code from the on-disk cache, never
lands in a timing. Compilation has its own benchmarks (``compilation.py``).
"""

import functools
import hashlib
import importlib
import importlib.util
import inspect
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np


# ---------------------------------------------------------------- Numba cache
def kernel_cache_dir():
    """The Numba cache directory of the jitprop these benchmarks import.

    Numba's on-disk cache checks only the file a function is defined in, not
    the files of the kernels it calls and inlines: a cached ``train_epoch``
    survives an edit of ``kernels/batch.py`` and then runs the old code
    against the new data layout (wrong timings, or a segmentation fault).
    asv's history environments install one commit after another into the
    same place, and the commits before jitprop keyed its cache itself
    (``kernels/_numba/cache.py``) do not rule that out. So for an installed
    jitprop the directory is one per hash of every kernel source
    (``kernels/**/*.py``, and ``_numba_options.py`` where a commit has it) under
    ``asv_benchmarks/.numba_cache/``; commits whose kernels are equal share
    their compiled code.

    For a source tree (an editable install, ``asv run --python=same``), whose
    jitprop keys its cache itself, it is the directory the tests use
    (``tests/conftest.py``): ``.numba_cache/`` at the repository root, so a
    benchmark run after the tests finds the kernels compiled.
    """
    spec = importlib.util.find_spec("jitprop")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    package = Path(next(iter(spec.submodule_search_locations))).resolve()
    root = package.parents[1]
    if package.parent.name == "src" and (root / "pyproject.toml").is_file():
        return str(root / ".numba_cache")
    digest = hashlib.sha256()
    sources = [*package.glob("kernels/**/*.py"), *package.glob("_numba_options.py")]
    for source in sorted(source for source in sources if "__pycache__" not in source.parts):
        digest.update(source.read_bytes())
    return str(Path(__file__).resolve().parents[1] / ".numba_cache" / digest.hexdigest()[:16])


def _start_numba():
    """Start Numba's compiler machinery (about half a second) by compiling a trivial function.

    Every process pays this once, on its first call of a kernel, whether the
    kernel is compiled or loaded from the cache. asv's fork server (the
    ``launch_method`` of ``asv.conf.json``) imports this module once and forks
    a process per benchmark: started here, the machinery is inherited by all
    of them instead of being started ~100 times in a run. It starts no threads.
    Nothing of jitprop is compiled, and nothing is timed here.
    """
    import numba

    numba.njit(cache=False)(lambda x: x + 1)(1)


# Before numba is first imported: it reads the variable once. A directory the
# caller chose is left alone.
if "NUMBA_CACHE_DIR" not in os.environ:
    _cache_dir = kernel_cache_dir()
    if _cache_dir is not None:
        os.environ["NUMBA_CACHE_DIR"] = _cache_dir
_start_numba()


# ----------------------------------------------------------------- parameters
DTYPES = ["float32", "float64"]
THREADS = [1, 2]


@dataclass(frozen=True)
class Workload:
    """A training task of ``jitprop bench``: data shape, network, loss and batch size.

    The shapes are those of ``jitprop.cli.bench_workloads.WORKLOADS``, copied here rather
    than imported: a series on the dashboard must keep measuring the same
    thing when ``jitprop bench`` changes, and early commits have no such
    module (``jitprop.bench`` before it moved into the command line). ``n``
    is reduced where an epoch of the full set takes more than about a second
    on one core.
    """

    name: str
    sizes: tuple  # layer widths, inputs first; () for a CNN
    activation: str
    loss: str
    batch_size: int
    n: int  # examples (the digits set for W2 and W6, whatever n says)
    lr: float = 0.01
    # A CNN or a recurrent network: one example's shape ((H, W, C), or (T, F)) and its layers,
    # output last, as tuples: ("conv", filters, kernel, padding), ("maxpool", size), ("flatten",),
    # ("lstm", units), ("gru", units), ("dense", units).
    input_shape: tuple = ()
    layers: tuple = ()


WORKLOADS = {
    w.name: w
    for w in (
        # 784-256-128-10 on MNIST-shaped data; jitprop bench uses 60,000 examples.
        Workload("W1", (784, 256, 128, 10), "relu", "cross_entropy", 128, 12_000),
        # 64-32-10 on the 1,797 digits shipped with jitprop.
        Workload("W2", (64, 32, 10), "relu", "cross_entropy", 32, 1_797),
        # Wide 1024-1024-1024-10; jitprop bench uses 20,000 examples.
        Workload("W3", (1024, 1024, 1024, 10), "relu", "cross_entropy", 256, 2_048),
        # The textbook 2-2-2 sigmoid network, batch 1 and batch 64 (full size).
        Workload("W4b1", (2, 2, 2), "sigmoid", "mse", 1, 100_000, 0.1),
        Workload("W4b64", (2, 2, 2), "sigmoid", "mse", 64, 100_000, 0.1),
        # LeNet-5-like on 28x28x1 images; jitprop bench uses 10,000 examples.
        Workload(
            "W5", (), "relu", "cross_entropy", 64, 1_024, input_shape=(28, 28, 1),
            layers=(("conv", 6, 5, "same"), ("maxpool", 2), ("conv", 16, 5, "valid"), ("maxpool", 2), ("flatten",),
                    ("dense", 120), ("dense", 84), ("dense", 10)),
        ),
        # A small CNN on the 1,797 digits as 8x8x1 images.
        Workload(
            "W6", (), "relu", "cross_entropy", 32, 1_797, input_shape=(8, 8, 1),
            layers=(("conv", 16, 3, "same"), ("maxpool", 2), ("flatten",), ("dense", 10)),
        ),
        # LSTM(64) on sequences of 50 steps of 16 features; jitprop bench uses 8,192 sequences.
        Workload(
            "W7", (), "relu", "cross_entropy", 32, 512, input_shape=(50, 16), layers=(("lstm", 64), ("dense", 10)),
        ),
        # GRU(128) on sequences of 100 steps of 32 features; jitprop bench uses 4,096 sequences.
        Workload(
            "W8", (), "relu", "cross_entropy", 64, 256, input_shape=(100, 32), layers=(("gru", 128), ("dense", 10)),
        ),
    )
}  # fmt: skip

#: The workloads whose network is dense: every commit can train them.
DENSE_WORKLOADS = [name for name, workload in WORKLOADS.items() if not workload.layers]
#: The convolutional ones (skipped before jitprop had convolutions).
CNN_WORKLOADS = [name for name, workload in WORKLOADS.items() if any(layer[0] == "conv" for layer in workload.layers)]
#: The recurrent ones (skipped before jitprop had recurrent layers).
RNN_WORKLOADS = [name for name, w in WORKLOADS.items() if any(layer[0] in ("lstm", "gru") for layer in w.layers)]


# ------------------------------------------------------------------- builders
def set_threads(threads):
    """Run Numba's parallel regions on ``threads`` threads; skip where the machine has fewer."""
    import numba

    if threads > numba.config.NUMBA_NUM_THREADS:
        raise NotImplementedError(f"{threads} threads asked, Numba allows {numba.config.NUMBA_NUM_THREADS} here")
    numba.set_num_threads(threads)


def load_digits():
    """The digits set shipped with jitprop (``jitprop.datasets``), or skip where a commit lacks it."""
    try:
        from jitprop.datasets import load_digits
    except ImportError as error:
        raise NotImplementedError(f"jitprop.datasets.load_digits: {error}") from None
    return load_digits()


def workload_data(workload, dtype, n=None):
    """``(X, y)`` of a workload in ``dtype``, from a fixed seed (the digits set for W2 and W6, as images for W6)."""
    rng = np.random.default_rng(0)
    if workload.name == "W2":
        X, y = load_digits()
        return X.astype(dtype), y
    if workload.name == "W6":
        X, y = load_digits()
        return X.astype(dtype).reshape(-1, *workload.input_shape), y
    n = workload.n if n is None else n
    if workload.layers:
        X = rng.random((n, *workload.input_shape), dtype=np.dtype(dtype).type)
        return X, rng.integers(0, workload.layers[-1][1], n)
    X = rng.random((n, workload.sizes[0]), dtype=np.dtype(dtype).type)
    if workload.loss == "cross_entropy":
        return X, rng.integers(0, workload.sizes[-1], n)
    # The textbook task: outputs are smooth functions of the inputs, in (0, 1).
    y = np.stack([X[:, 0] * X[:, 1], 0.5 * (X[:, 0] + X[:, 1])], axis=1).astype(dtype)
    return X, y


def workload_network(workload, dtype):
    """A fresh ``jitprop.Network`` of the workload's shape, seeded."""
    import jitprop as jp

    if workload.layers:
        return cnn_network(workload.layers, workload.input_shape, dtype)
    hidden = [jp.Dense(width, workload.activation) for width in workload.sizes[1:-1]]
    output = {"cross_entropy": "softmax", "mse": workload.activation}[workload.loss]
    layers = hidden + [jp.Dense(workload.sizes[-1], output)]
    return jp.Network(layers, input_dim=workload.sizes[0], loss=workload.loss, dtype=dtype, seed=0)


def cnn_network(layers, input_shape, dtype, pooling="max"):
    """A seeded CNN or recurrent network of ``layers`` (tuples as ``Workload.layers``), softmax at the output.

    Convolutions and hidden dense layers are ReLU. ``pooling`` ("max" or
    "average") is the kind of the ``"maxpool"`` layers. Skipped where the
    commit has no convolutional (or recurrent) layers.
    """
    import jitprop as jp

    if not hasattr(jp, "Conv2D"):
        raise NotImplementedError("jitprop.Conv2D is not in this commit")
    if any(layer[0] in ("lstm", "gru") for layer in layers) and not hasattr(jp, "LSTM"):
        raise NotImplementedError("jitprop.LSTM is not in this commit")
    pool = jp.MaxPool2D if pooling == "max" else jp.AvgPool2D
    built = []
    for i, (kind, *arguments) in enumerate(layers):
        activation = "softmax" if i == len(layers) - 1 else "relu"
        if kind == "conv":
            filters, kernel, padding = arguments
            built.append(jp.Conv2D(filters, kernel, padding=padding, activation=activation))
        elif kind == "maxpool":
            built.append(pool(arguments[0]))
        elif kind == "flatten":
            built.append(jp.Flatten())
        elif kind in ("lstm", "gru"):
            built.append({"lstm": jp.LSTM, "gru": jp.GRU}[kind](arguments[0]))
        else:
            built.append(jp.Dense(arguments[0], activation))
    return jp.Network(built, input_shape=input_shape, loss="cross_entropy", dtype=dtype, seed=0)


class Training:
    """A network, its data and an SGD optimizer, ready to train epoch after epoch."""

    def __init__(self, workload, dtype, n=None):
        import jitprop as jp

        self.workload = workload
        self.X, self.y = workload_data(workload, dtype, n)
        self.net = workload_network(workload, dtype)
        self.optimizer = jp.SGD(lr=workload.lr)
        self.warm = False

    def warm_up(self):
        """Train on the first two batches: compiles the epoch kernels (or loads them from the cache).

        Done once: a second call (asv runs ``setup`` again before every sample) does nothing.
        """
        if not self.warm:
            rows = min(self.X.shape[0], 2 * self.workload.batch_size)
            self.fit(self.X[:rows], self.y[:rows])
            self.warm = True

    def fit(self, X=None, y=None):
        """One epoch over ``(X, y)`` (default: all the data)."""
        X = self.X if X is None else X
        y = self.y if y is None else y
        return self.net.fit(X, y, epochs=1, batch_size=self.workload.batch_size, optimizer=self.optimizer, verbose=0)


@functools.cache
def training(workload, dtype):
    """The :class:`Training` of a workload (by name), built once per process and warmed up."""
    task = Training(WORKLOADS[workload], dtype)
    task.warm_up()
    return task


def median_seconds(run, min_seconds=0.2, min_calls=3):
    """Median wall time of ``run()`` over at least ``min_calls`` calls and ``min_seconds`` seconds.

    For ``track_`` benchmarks, which report a rate rather than a time; the
    first call is not counted (``setup`` has run it already, but a rate should
    not hang on that).
    """
    run()
    times = []
    started = time.perf_counter()
    while len(times) < min_calls or time.perf_counter() - started < min_seconds:
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def gflops(run, flops):
    """GFLOP/s of ``run()``, which does ``flops`` floating-point operations."""
    return flops / median_seconds(run) / 1e9


def throughput(run, items):
    """Items per second of ``run()``, which handles ``items`` items."""
    return items / median_seconds(run)


# -------------------------------------------------------------- kernel adapters
@functools.cache
def kernel(module, name):
    """``jitprop.kernels.<module>.<name>``; skips the benchmark where this commit has no such kernel.

    A module that later commits moved into ``kernels/_numba/`` (``parallel``,
    ``linking``) is looked for there too.
    """
    error = None
    for package in ("jitprop.kernels", "jitprop.kernels._numba"):
        try:
            return getattr(importlib.import_module(f"{package}.{module}"), name)
        except (ImportError, AttributeError) as exc:
            error = error or exc
    raise NotImplementedError(f"jitprop.kernels.{module}.{name}: {error}") from None


def _parameter_names(dispatcher):
    """Argument names of a Numba kernel (of its Python function)."""
    return list(inspect.signature(getattr(dispatcher, "py_func", dispatcher)).parameters)


def _panels():
    """``jitprop.kernels.panels``, or None for commits before it existed."""
    try:
        return importlib.import_module("jitprop.kernels.panels")
    except ImportError:
        return None


@functools.cache
def _dot_products():
    """``matmul_nt`` as ``f(a, b, out)``: ``out = a @ b.T`` (earlier commits took a flag to add to ``out``)."""
    matmul_nt = kernel("matmul", "matmul_nt")
    if "accumulate" in _parameter_names(matmul_nt):
        return lambda a, b, out: matmul_nt(a, b, out, False)
    return matmul_nt


def forward_product(x, wt, z):
    """Forward product of a dense layer: ``z = x @ Wtᵀ`` (weights stored (fan_out, fan_in)), serial."""
    _dot_products()(x, wt, z)


def parallel_forward_product(x, wt, z):
    """The forward product with the rows of ``x`` cut into blocks that run in parallel."""
    kernel("matmul", "parallel_matmul_nt")(x, wt, z)


def layer_products(x, wt, d):
    """A dense layer's three products on a tile, as this commit's training runs them.

    Returns ``(forward, weight_gradient, input_gradient)``, callables of no
    arguments: ``z = x Wtᵀ``, ``dWt = dᵀ x`` and ``d_prev = d Wt``. Commits
    with packed panels (``kernels.panels.matmul_packed_b``) read weights
    packed beforehand, as training packs them once per update, and pack the
    tile inside the call (the forward product only where the commit's
    ``kernels.dense.forward_from_panels`` or ``MAX_DOT_INPUTS`` says so);
    earlier ones run ``matmul_nt`` on the stored weights
    and their transposed mirror, the weight gradient with the two transposes
    it needed (or from panels, where ``matmul_tn`` exists).
    """
    rows, fan_in = x.shape
    fan_out = wt.shape[0]
    dtype = x.dtype
    z = np.empty((rows, fan_out), dtype)
    d_prev = np.empty((rows, fan_in), dtype)
    grad_wt = np.empty((fan_out, fan_in), dtype)
    panels = _panels()
    if panels is not None and hasattr(panels, "matmul_packed_b"):
        columns = 64 // dtype.itemsize
        forward_panels = np.empty(fan_in * panels.round_up(fan_out, columns), dtype)
        backward_panels = np.empty(fan_out * panels.round_up(fan_in, columns), dtype)
        panels.pack_rows(wt, columns, forward_panels)
        panels.pack_columns(wt, columns, backward_panels)
        scratch = np.empty(
            max(
                max(fan_in, fan_out) * panels.round_up(rows, panels.PANEL_ROWS),
                rows * (panels.padded_width(fan_out) + panels.padded_width(fan_in)),
            ),
            dtype,
        )
        dense = importlib.import_module("jitprop.kernels.dense")
        if hasattr(dense, "forward_from_panels"):
            from_panels = dense.forward_from_panels(fan_in, fan_out)
        else:
            from_panels = fan_in < getattr(dense, "MAX_DOT_INPUTS", fan_in + 1)
        if from_panels:

            def forward():
                panels.matmul_packed_b(x, forward_panels, scratch, z)

        else:  # wide inputs: training keeps the dot-product kernel

            def forward():
                _dot_products()(x, wt, z)

        return (
            forward,
            lambda: panels.matmul_tn(d, x, scratch, grad_wt),
            lambda: panels.matmul_packed_b(d, backward_panels, scratch, d_prev),
        )
    matmul_nt = _dot_products()
    w = np.ascontiguousarray(wt.T)  # the transposed mirror
    if panels is not None and hasattr(panels, "matmul_tn"):
        scratch = np.empty(rows * (panels.padded_width(fan_out) + panels.padded_width(fan_in)), dtype)

        def weight_gradient():
            panels.matmul_tn(d, x, scratch, grad_wt)

    else:
        transpose = kernel("matmul", "transpose")
        d_t, x_t = np.empty((fan_out, rows), dtype), np.empty((fan_in, rows), dtype)

        def weight_gradient():
            transpose(d, d_t)
            transpose(x, x_t)
            matmul_nt(d_t, x_t, grad_wt)

    return (
        lambda: matmul_nt(x, wt, z),
        weight_gradient,
        lambda: matmul_nt(d, w, d_prev),
    )


def activation_code(name):
    """The kernel code of an activation, from the registry ``jitprop.activations``."""
    from jitprop.activations import get_activation

    try:
        return get_activation(name).code
    except (KeyError, ValueError) as error:
        raise NotImplementedError(f"activation {name!r}: {error}") from None


def activate(z, a, code, alpha=0.01):
    """``a = f(z)`` for the activation of kernel code ``code``."""
    kernel("activations", "activate")(z, a, code, alpha)


def multiply_by_derivative(delta, z, a, code, alpha=0.01):
    """``delta *= f'(z)`` for the activation of kernel code ``code``."""
    kernel("activations", "multiply_by_derivative")(delta, z, a, code, alpha)


def prepare_output_loss(loss, rows, k, dtype, seed=0):
    """A call of the fused loss kernel (loss summed over ``rows`` examples and the output delta).

    The output layer is the one the loss needs (softmax for cross-entropy,
    sigmoid otherwise) and the targets are class labels for cross-entropy,
    values in [0, 1] otherwise.

    Returns
    -------
    callable
        ``run()`` computes the loss and writes the delta, returning what the kernel returns.
    """
    from jitprop.losses import get_loss

    try:
        spec = get_loss(loss)
    except (KeyError, ValueError) as error:
        raise NotImplementedError(f"loss {loss!r}: {error}") from None
    output = "softmax" if loss == "cross_entropy" else "sigmoid"
    try:
        losses = kernel("losses", "LOSSES")  # a kernel per loss, reading the output layer from the layout
    except NotImplementedError:
        output_loss = kernel("losses", "output_loss")
    else:
        return _prepare_loss_kernel(losses[spec.code], loss, output, rows, k, dtype, spec, seed)
    act = activation_code(output)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((rows, k)).astype(dtype)
    a = np.empty_like(z)
    activate(z, a, act)
    delta = np.empty_like(z)
    index = np.arange(rows, dtype=np.int64)
    if loss == "cross_entropy":
        targets = np.zeros((0, k), dtype=dtype)
        labels = rng.integers(0, k, rows).astype(np.int64)
    else:
        targets = rng.random((rows, k)).astype(dtype)
        labels = np.zeros(0, dtype=np.int64)
    scale = 1.0 / (rows * k) if spec.over_outputs else 1.0 / rows
    if "data" in _parameter_names(output_loss):
        from jitprop.kernels.layout import Data

        fields = {"inputs": np.zeros((rows, 1), dtype=dtype), "targets": targets, "labels": labels}
        if "weights" in Data._fields:
            fields["weights"] = np.zeros(0)
        data = Data(**fields)
        return lambda: output_loss(z, a, data, index, spec.code, act, 0.01, scale, delta)
    # The first kernels took the targets and labels themselves.
    return lambda: output_loss(z, a, targets, labels, index, spec.code, act, 0.01, scale, delta)


def _prepare_loss_kernel(loss_kernel, loss, output, rows, k, dtype, spec, seed):
    """:func:`prepare_output_loss` for kernels ``(z, a, data, index, scale, delta)``."""
    from jitprop.kernels.layout import Data

    rng = np.random.default_rng(seed)
    z = rng.standard_normal((rows, k)).astype(dtype)
    a = np.empty_like(z)
    activate(z, a, activation_code(output))
    delta = np.empty_like(z)
    index = np.arange(rows, dtype=np.int64)
    labels = rng.integers(0, k, rows).astype(np.int64) if loss == "cross_entropy" else np.zeros(0, dtype=np.int64)
    targets = np.zeros((0, k), dtype=dtype) if loss == "cross_entropy" else rng.random((rows, k)).astype(dtype)
    data = Data(np.zeros((rows, 1), dtype=dtype), targets, labels, np.zeros(0))
    scale = 1.0 / (rows * k) if spec.over_outputs else 1.0 / rows
    return lambda: loss_kernel(z, a, data, index, scale, delta)


def layer_kernels(net, layer, rows, seed=0):
    """The forward and backward kernels of layer ``layer`` of ``net`` on a tile, as training calls them.

    Builds the buffers training builds for batches of ``rows`` (a
    workspace, the network's kernel entries, packed weights), runs one
    gradient pass over the tile so that every layer's input, output and delta
    are in place, and returns ``(forward, backward, tile_rows)``: callables of
    no arguments that call the layer kind's kernels
    (``jitprop.kernels.kinds.LAYER_KERNELS``) on the first tile's rows, and
    how many rows that tile has. The backward kernel first multiplies the
    layer's delta by its activation's derivative, in place: with ReLU (0 or
    1) or none, calling it again leaves the delta as it was.
    """
    try:
        kinds = importlib.import_module("jitprop.kernels.kinds")
        batch = importlib.import_module("jitprop.kernels.batch")
        workspace = importlib.import_module("jitprop.kernels.workspace")
        tile = importlib.import_module("jitprop.kernels.tile")
        threading = importlib.import_module("jitprop._threading")
        layout_module = importlib.import_module("jitprop.kernels.layout")
    except ImportError as error:
        raise NotImplementedError(f"layer kinds: {error}") from None
    layout, params, packed = net.layout, net.params, net.packed_weights
    # The network as kernels take it: one Model, or (before there was one) its three arrays.
    if hasattr(layout_module, "Model"):
        model = (layout_module.Model(layout, params, packed),)
    else:
        model = (layout, params, packed)
    rng = np.random.default_rng(seed)
    X = rng.random((rows, *net.input_shape)).astype(net.dtype)
    data = net.prepare_data(X, rng.integers(0, net.n_outputs, rows))
    ws = workspace.allocate(layout, rows, net.n_params, net.dtype, True)
    grad = np.zeros(net.n_params, dtype=net.dtype)
    kernels = batch.batch_kernels(*model, data, ws, grad)
    index = np.arange(rows, dtype=np.int64)
    with threading.parallel_region():
        net.pack_weights()
        chunked = batch.chunking(net.n_params)
        arguments = (*model, data, index, 1.0 / rows, ws, grad, False, -1, chunked)
        batch.run_batch(kernels, np.int64(tile.GRADIENT), *arguments)
    kind = kinds.LAYER_KERNELS[int(layout.kinds[layer])]
    at = (kernels, *model, ws, np.int64(layer), np.int64(0), np.int64(ws.tile_rows))
    tile_gradient = ws.tile_gradients[0]
    return (lambda: kind.forward(*at)), (lambda: kind.backward(*at, tile_gradient)), ws.tile_rows


#: Optimizers of the update benchmark: class name in jitprop and its arguments.
OPTIMIZERS = {
    "sgd": ("SGD", {"lr": 1e-3}),
    "sgd_momentum": ("SGD", {"lr": 1e-3, "momentum": 0.9, "nesterov": True}),
    "adam": ("Adam", {"lr": 1e-3}),
    "adamw": ("AdamW", {"lr": 1e-3}),
    "rmsprop": ("RMSprop", {"lr": 1e-3}),
    "adagrad": ("Adagrad", {"lr": 1e-3}),
}


def prepare_update(name, n_params, dtype, seed=0):
    """One fused parameter update of the optimizer ``name`` over ``n_params`` parameters.

    The optimizer comes from the public classes (``jitprop.SGD`` ...), which
    build the kernel's arguments (``kernel_arguments``: code, state and
    hyper-parameters); the returned ``run()`` calls the update kernel itself.
    """
    import jitprop

    class_name, arguments = OPTIMIZERS[name]
    if not hasattr(jitprop, class_name):
        raise NotImplementedError(f"jitprop.{class_name} is not in this commit")
    optimizer = getattr(jitprop, class_name)(**arguments)
    optimizer.prepare(n_params, np.dtype(dtype))
    code, state, hyper = optimizer.kernel_arguments()
    rng = np.random.default_rng(seed)
    params = rng.standard_normal(n_params).astype(dtype)
    grad = rng.standard_normal(n_params).astype(dtype)
    lr = float(arguments["lr"])
    try:
        # Since the update shares its pass with the check that the parameters stay finite.
        step = kernel("step", "sum_and_update")
    except NotImplementedError:
        apply_update = kernel("optimizers", "apply_update")
        return lambda: apply_update(code, params, grad, state, hyper, lr, 1)
    no_tiles = np.empty((0, n_params), dtype=dtype)  # the gradient is given summed
    try:  # since each rule is a kernel of its own, passed to the step as an entry
        rule = kernel("optimizers", "rule_entry")(code, params, grad, state, hyper)
    except NotImplementedError:
        rule = code
    if "chunked" in _parameter_names(step):  # since small networks compile only one-chunk code
        chunked = kernel("batch", "chunking")(n_params)
        return lambda: step(no_tiles, 0, grad, rule, params, state, hyper, lr, 1, chunked)
    return lambda: step(no_tiles, 0, grad, rule, params, state, hyper, lr, 1)
