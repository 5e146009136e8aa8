"""Single kernels: the matrix products, a convolution and pooling layer, activations, the fused loss, the parameter
updates and a parallel region.

Kernels are called through the adapters of ``common``. Inputs are built and
the kernel is run once in ``setup``, so the timings hold no compilation.
"""

import functools

import numpy as np

from . import common

#: Dense layers of the training workloads: rows of a tile (the batch size), fan_in, fan_out.
LAYERS = {
    "784x256": (128, 784, 256),  # W1's first layer, batch 128
    "1024x1024": (256, 1024, 1024),  # W3's hidden layers, batch 256
}


@functools.cache
def _product_arrays(layer, dtype):
    rows, fan_in, fan_out = LAYERS[layer]
    rng = np.random.default_rng(0)
    x = rng.random((rows, fan_in)).astype(dtype)
    wt = rng.random((fan_out, fan_in)).astype(dtype)  # weights as stored: (fan_out, fan_in)
    d = rng.random((rows, fan_out)).astype(dtype)
    return dict(
        x=x,
        wt=wt,
        z=np.empty((rows, fan_out), dtype=dtype),
        products=common.layer_products(x, wt, d),
        flops=2.0 * rows * fan_in * fan_out,
    )


class MatrixProducts:
    """The three products of back-propagation at the layer shapes of W1 and W3, as training runs them.

    * forward: ``z = x Wtᵀ`` — (rows, fan_in) by (fan_out, fan_in);
    * weight gradient: ``dWt = dᵀ x``, a sum over the rows of a tile;
    * input gradient: ``d_prev = d Wt`` — (rows, fan_out) by (fan_out, fan_in).

    Each is timed (``time_``) and reported in GFLOP/s (``track_``, 2·rows·fan_in·fan_out
    operations, the median of repeated calls). See :func:`common.layer_products`
    for the kernels each commit uses.
    """

    params = (list(LAYERS), common.DTYPES)
    param_names = ["layer", "dtype"]
    timeout = 180

    def setup(self, layer, dtype):
        # asv runs setup again before every sample: the arrays are built once per process.
        arrays = _product_arrays(layer, dtype)
        self.flops = arrays["flops"]
        self.forward, self.weight_gradient, self.input_gradient = arrays["products"]
        # Warm-up: compile (or load) every kernel timed below.
        self.forward()
        self.weight_gradient()
        self.input_gradient()

    def time_forward(self, layer, dtype):
        self.forward()

    def time_weight_gradient(self, layer, dtype):
        self.weight_gradient()

    def time_input_gradient(self, layer, dtype):
        self.input_gradient()

    def track_forward_gflops(self, layer, dtype):
        return common.gflops(self.forward, self.flops)

    def track_weight_gradient_gflops(self, layer, dtype):
        return common.gflops(self.weight_gradient, self.flops)

    def track_input_gradient_gflops(self, layer, dtype):
        return common.gflops(self.input_gradient, self.flops)

    track_forward_gflops.unit = "GFLOP/s"
    track_weight_gradient_gflops.unit = "GFLOP/s"
    track_input_gradient_gflops.unit = "GFLOP/s"


class ParallelMatrixProduct:
    """The forward product with the rows cut into blocks that run in parallel, on every thread Numba has.

    ``parallel_matmul_nt``, the kernel ``jitprop bench`` sets against BLAS
    (training parallelises over tiles of examples instead); shapes as in
    :class:`MatrixProducts`. Skipped for commits before it existed.
    """

    params = (list(LAYERS), common.DTYPES)
    param_names = ["layer", "dtype"]
    timeout = 180

    def setup(self, layer, dtype):
        self.__dict__.update(_product_arrays(layer, dtype))
        self.forward()  # NotImplementedError (skip) where the kernel is missing

    def forward(self):
        common.parallel_forward_product(self.x, self.wt, self.z)

    def time_forward(self, layer, dtype):
        self.forward()

    def track_forward_gflops(self, layer, dtype):
        return common.gflops(self.forward, self.flops)

    track_forward_gflops.unit = "GFLOP/s"


#: Activations with a branch in the kernels, as named in ``jitprop.activations``.
ACTIVATIONS = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "gelu", "softmax"]
#: Rows and width of the activation benchmarks: four batches of 128 at W1's first layer.
ACTIVATION_SHAPE = (512, 256)
#: Samples per round of the short kernels: asv re-runs setup and times one call per sample.
SHORT_KERNEL_REPEAT = (10, 50, 2.0)


@functools.cache
def _activation_arrays(name, dtype):
    code = common.activation_code(name)
    rng = np.random.default_rng(0)
    z = rng.standard_normal(ACTIVATION_SHAPE).astype(dtype)
    a = np.empty_like(z)
    common.activate(z, a, code)
    fresh = rng.standard_normal(ACTIVATION_SHAPE).astype(dtype)
    return dict(code=code, z=z, a=a, fresh=fresh, delta=fresh.copy())


class ActivationForward:
    """``a = f(z)`` on a (512, 256) block, for each activation (float32)."""

    params = ACTIVATIONS
    param_names = ["activation"]
    repeat = SHORT_KERNEL_REPEAT
    timeout = 180

    def setup(self, name):
        self.__dict__.update(_activation_arrays(name, "float32"))
        common.activate(self.z, self.a, self.code)

    def time_activate(self, name):
        common.activate(self.z, self.a, self.code)


class ActivationDerivative:
    """``delta *= f'(z)`` on a (512, 256) block, for each activation but softmax (float32).

    Softmax is only an output layer, whose delta the loss kernel computes.
    Derivatives lie in [0, 1] (mostly), so a delta multiplied over and over
    would sink into subnormal numbers, which are slow: ``number = 1`` and a
    ``setup`` that restores the delta make every timed call start from the
    same values.
    """

    params = [name for name in ACTIVATIONS if name != "softmax"]
    param_names = ["activation"]
    number = 1
    repeat = SHORT_KERNEL_REPEAT
    timeout = 180

    def setup(self, name):
        self.__dict__.update(_activation_arrays(name, "float32"))
        common.multiply_by_derivative(self.delta, self.z, self.a, self.code)
        np.copyto(self.delta, self.fresh)

    def time_multiply_by_derivative(self, name):
        common.multiply_by_derivative(self.delta, self.z, self.a, self.code)


#: Rows of the loss benchmark (a large batch: the kernel is a few operations per output).
LOSS_ROWS = 4096


class OutputLoss:
    """The fused loss kernel: loss summed over 4096 examples and the output delta (10 outputs, float32).

    Cross-entropy over a softmax output with class labels; binary
    cross-entropy and MSE over a sigmoid output with targets in [0, 1].
    """

    params = ["cross_entropy", "binary_cross_entropy", "mse"]
    param_names = ["loss"]
    repeat = SHORT_KERNEL_REPEAT
    timeout = 180

    def setup(self, loss):
        self.run = _output_loss(loss)
        self.run()

    def time_loss_and_delta(self, loss):
        self.run()


@functools.cache
def _output_loss(loss):
    return common.prepare_output_loss(loss, LOSS_ROWS, 10, "float32")


#: Parameters of W1's network (784-256-128-10), the size of the update benchmark.
W1_PARAMS = 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10


class OptimizerUpdate:
    """One fused update of W1's 235,146 parameters by each optimizer (float32).

    The update runs in parallel over chunks of parameters with every thread
    Numba has. State (momentum, moments) carries over from call to call as in
    training; the gradient stays the same.
    """

    params = list(common.OPTIMIZERS)
    param_names = ["optimizer"]
    repeat = SHORT_KERNEL_REPEAT
    timeout = 180

    def setup(self, optimizer):
        self.run = _update(optimizer)
        self.run()

    def time_update(self, optimizer):
        self.run()


@functools.cache
def _update(optimizer):
    return common.prepare_update(optimizer, W1_PARAMS, "float32")


@functools.cache
def _empty_tasks():
    """A compiled call of ``run_tasks`` whose tasks each write one number."""
    import numba

    run_tasks = common.kernel("parallel", "run_tasks")

    @numba.njit
    def mark(out, task):
        out[task] = task

    @numba.njit(nogil=True)
    def run(out, tasks):
        run_tasks(mark, tasks, (out,))

    return run


class ParallelTasks:
    """One ``run_tasks`` call of tasks that do next to nothing, on two threads: what a parallel region costs.

    One task runs in the calling thread; two wake the thread pool (about
    1.5 µs with the omp or tbb threading layer, 100 µs or more with
    workqueue). Skipped for commits before ``run_tasks`` existed.
    """

    params = [1, 2]
    param_names = ["tasks"]
    repeat = SHORT_KERNEL_REPEAT
    timeout = 180

    def setup(self, tasks):
        common.set_threads(2)
        self.run = _empty_tasks()
        self.out = np.zeros(tasks)
        self.run(self.out, tasks)

    def time_run_tasks(self, tasks):
        self.run(self.out, tasks)


#: Layers of W5 (LeNet-5-like on 28x28x1, batch 64) whose kernels are timed: (pooling kind, layer index).
CNN_LAYERS = {
    "conv 14x14x6 5x5 16": ("max", 2),  # W5's second convolution: 10x10 positions, windows of 150 inputs
    "maxpool 28x28x6 2": ("max", 1),  # W5's first pooling
    "avgpool 28x28x6 2": ("average", 1),  # the same layer averaging
}


@functools.cache
def _cnn_layer(layer, dtype):
    """``(forward, backward)`` of a layer of ``CNN_LAYERS`` on a tile of W5's batch of 64."""
    pooling, index = CNN_LAYERS[layer]
    w5 = common.WORKLOADS["W5"]
    net = common.cnn_network(w5.layers, w5.input_shape, dtype, pooling)
    forward, backward, _ = common.layer_kernels(net, index, w5.batch_size)
    return forward, backward


#: Recurrent layers whose kernels are timed: (workload, layer index); a tile of its batch.
RNN_LAYERS = {
    "lstm 50x16 64": ("W7", 0),  # W7's LSTM: 50 steps, batch 32
    "gru 100x32 128": ("W8", 0),  # W8's GRU: 100 steps, batch 64
}


@functools.cache
def _rnn_layer(layer, dtype):
    name, index = RNN_LAYERS[layer]
    workload = common.WORKLOADS[name]
    net = common.cnn_network(workload.layers, workload.input_shape, dtype)
    forward, backward, _ = common.layer_kernels(net, index, workload.batch_size)
    return forward, backward


class _TileKernels:
    """Times a layer's forward and backward kernels on a tile; ``layer_kernels(layer, dtype)`` gives them."""

    param_names = ["layer", "dtype"]
    timeout = 180

    def setup(self, layer, dtype):
        self.forward, self.backward = type(self).layer_kernels(layer, dtype)
        # Warm-up: compile (or load) both kernels.
        self.forward()
        self.backward()

    def time_forward(self, layer, dtype):
        self.forward()

    def time_backward(self, layer, dtype):
        self.backward()


class RNNLayerKernels(_TileKernels):
    """The forward and backward kernels of W7's LSTM and W8's GRU on a tile, as training calls them.

    Forward: the input projection of every step as one product, then the
    steps with the gates fused; backward: through time from the stashed
    gate activations, then the weight and recurrent-weight gradients (the
    first layer passes no gradient to its inputs).
    """

    params = (list(RNN_LAYERS), ["float32"])
    layer_kernels = staticmethod(_rnn_layer)


class CNNLayerKernels(_TileKernels):
    """The forward and backward kernels of one layer of W5 on a tile, as training calls them.

    Timed through :func:`common.layer_kernels`, which gives the layer the
    buffers training gives it, filled by a gradient pass. A tile is as many
    of the batch's 64 rows as training puts in one. The convolution (not the
    first layer: its backward kernel adds the input gradient to the weight
    gradient) lowers a few examples' windows at a time and runs the matrix
    kernels on them; forward is ``z = P Wm + b`` and ``f(z)``, backward
    ``f'``, ``dWm = Pᵀ D``, ``db`` and ``dP = D Wmᵀ`` added back into the
    input's delta. Pooling layers compute windows' maxima or means forward
    and route or share the delta backward.
    """

    params = (list(CNN_LAYERS), common.DTYPES)
    layer_kernels = staticmethod(_cnn_layer)
