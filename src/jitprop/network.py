"""The network: layers over one contiguous parameter buffer."""

import math
import numbers
import threading

import numpy as np

from . import _checks, _threading, training
from .kernels import workspace
from .activations import get_activation
from .kernels._numba.linking import type_key
from .kernels.aligned import aligned_zeros
from .kernels.batch import batch_kernels, chunking, run_batch
from .kernels.tile import FORWARD, GRADIENT, LOSS
from .kernels.dense import pack_some_weights
from .kernels.dense import pack_weights as pack_weight_panels
from .kernels.few_rows import INPUT_NOT_FINITE, OUTPUT_NOT_FINITE, FewRows, compiled_forward_few_rows
from .kernels.kinds import forward_panels, panel_offsets
from .kernels.layout import GEOMETRY, Data, Layout, Model
from .kernels.regularization import add_l2_penalty
from .layers import LAYER_KINDS, Dense, Dropout, Layer, layer_from_config
from .losses import get_loss

_DTYPES = ("float32", "float64")

#: Elements of one per-row scratch buffer when data is processed in chunks
#: (predict, evaluate, loss_and_grads): bounds their memory whatever ``n``.
_CHUNK_ELEMENTS = 1 << 21

#: Most rows :meth:`Network.predict` runs through a :class:`_SmallForward`.
_SMALL_ROWS = 16

#: Most rows of a prediction that reads the weights as training does, packing
#: no copy of them (the forward products of long rows read them in place,
#: see kernels.dense.forward_product); more rows read panels of their
#: own, packed once per call (Network._many_rows_model). Measured (Intel Xeon
#: of the Sapphire Rapids class, 2 threads, examples/s read in place over
#: packed, medians of 3 alternating rounds): W1's network 1.27, 1.02, ~1.0,
#: 0.93, 0.86 for 32, 256, 1,024, 4,096, 10,000 rows; W3's 1.55, 1.09, 0.91,
#: 0.83, 0.79.
_PACKED_ROWS = 256


class _SmallForward:
    """A forward pass of a few rows with everything made once: what ``predict`` of one request at a time needs.

    For a few rows the arithmetic takes microseconds, and a pass made from
    scratch would spend most of its time allocating a workspace, finding
    the types of its kernels' arguments and unboxing them. This keeps a
    :class:`~jitprop.kernels.few_rows.FewRows` per kind of input array, for
    batches of up to ``_SMALL_ROWS`` rows (fewer if they would take more
    memory than a chunk of the general path), and runs it in one compiled
    call (:func:`~jitprop.kernels.few_rows.forward_few_rows`), which checks
    the inputs and outputs and packs the weights, as the general path does,
    and gives its results bit for bit (both run such a batch through
    :func:`~jitprop.kernels.batch.run_batch`). One call at a time uses the
    buffers: a call made while another runs (from another thread) takes the
    general path. The call goes past Numba's dispatch
    (:func:`~jitprop.kernels.few_rows.compiled_forward_few_rows`): the
    arguments' types are checked here instead.
    """

    def __init__(self, net):
        self.capacity = min(_SMALL_ROWS, _CHUNK_ELEMENTS // workspace.row_elements(net.layout))
        # (Kept rather than asked of the network on every call: each question costs a tenth of a microsecond.)
        self._dtype = net.dtype
        self._input_shape = net.input_shape
        self._flat_input = (math.prod(net.input_shape),)
        self._lock = threading.Lock()
        self._made = {}

    def run_as_is(self, net, X):
        """The outputs of ``X`` if it is a few rows the kernels read as they are (else None, or if busy).

        Such rows are an ndarray of the network's dtype, C-contiguous and
        writeable, each example of the network's input shape or flattened:
        what a request of one example usually is. Their checks here cost
        the same whatever their size; the kernel checks them for NaN and inf.
        """
        # (Identity first: a builtin dtype is one object; any other that is equal takes the general way.)
        if type(X) is not np.ndarray or X.dtype is not self._dtype:
            return None
        shape = X.shape
        examples = shape[1:]
        if examples != self._flat_input and examples != self._input_shape:
            return None
        flags = X.flags
        if not (flags.c_contiguous and flags.writeable):
            return None
        return self.run(net, X if len(shape) == 2 else X.reshape(shape[0], -1), flags.aligned)

    def run(self, net, X, aligned):
        """The outputs of the rows ``X`` (2-D, as the kernels read them), or None if they are too many, or if busy.

        ``aligned`` is ``X.flags.aligned`` (the rest of ``X``'s type is the
        network's: C-contiguous, writeable, 2-D).
        """
        n = X.shape[0]
        if not 0 < n <= self.capacity or not self._lock.acquire(False):
            return None
        try:
            made = self._made.get(aligned)
            if made is None:
                made = self._made[aligned] = self._make(net, X)
            few, forward, tile_rows, splits, n_outputs, dtype = made
            outputs = np.empty((n, n_outputs), dtype)
            # More than one tile, or a product the kernels split (see kernels.dense.forward): on Numba's threads.
            guard = _threading.region_guard() if n > tile_rows or splits else None
            if guard is None:
                status = forward(few, X, outputs)
            else:
                with guard:
                    status = forward(few, X, outputs)
        finally:
            self._lock.release()
        if status == INPUT_NOT_FINITE:
            _checks.check_finite(X, "X")
        elif status == OUTPUT_NOT_FINITE:
            _checks.check_outputs_finite(outputs, self._dtype)
        return outputs

    def _make(self, net, X):
        ws = workspace.allocate(net.layout, self.capacity, net.n_params, net.dtype, False)
        empty = (np.zeros((0, net.n_outputs), dtype=net.dtype), np.zeros(0, dtype=np.int64), np.zeros(0))
        grad = np.zeros(0, dtype=net.dtype)
        kernels = batch_kernels(net.model, Data(X, *empty), ws, grad, lone_tiles=True)
        index = np.arange(self.capacity, dtype=np.int64)
        chunked = chunking(net.n_params)
        few = FewRows(kernels, net.model, ws, *empty, grad, index, chunked, *net._prediction_panels)
        forward = compiled_forward_few_rows(few, X, np.empty((1, net.n_outputs), dtype=net.dtype))
        # (The outputs' width and dtype kept rather than asked of the network on every call.)
        return few, forward, ws.tile_rows, bool(kernels.split_product[0]), net.n_outputs, net.dtype


#: Memory for the workspaces of passes over many rows (predictions, evaluations, gradients; see workspace.Arena).
_PASS_MEMORY = workspace.Arena()


class Network:
    """A feed-forward network trained by back-propagation.

    Parameters
    ----------
    layers : list of Layer
        The layers, input side first: ``Dense``, ``Dropout``, the
        convolutions (``Conv1D``, ``Conv2D``), pooling (``MaxPool1D``,
        ``MaxPool2D``, ``AvgPool1D``, ``AvgPool2D``, ``GlobalAvgPool1D``,
        ``GlobalAvgPool2D``), ``Flatten`` and the recurrent layers
        (``SimpleRNN``, ``GRU``, ``LSTM``, ``Bidirectional``), which take
        examples of shape (steps, features). Each layer belongs to one
        network. A ``Dropout`` applies to the outputs of the layer before it
        (or to the inputs when it comes first); the last layer computes the
        outputs (it is not ``Dropout`` nor ``Flatten``).
    input_dim : int, optional
        Number of input features: the same as ``input_shape=(input_dim,)``.
    loss : {"mse", "cross_entropy", "binary_cross_entropy", "poisson"}, default "mse"
        The loss minimised by :meth:`fit` (see :mod:`jitprop.losses`).
        ``cross_entropy`` needs a ``softmax`` output layer,
        ``binary_cross_entropy`` a ``sigmoid`` one and ``poisson`` an ``exp`` one.
    dtype : {"float32", "float64"}, default "float32"
        Precision of parameters and computation.
    seed : int, optional
        Seeds weight initialisation, shuffling and dropout: the same seed gives
        the same weights after training, bit for bit, whatever the thread count.
    l2 : float, default 0.0
        L2 penalty ``l2 · ΣW²`` for every ``Dense`` layer that sets none itself.
    input_shape : tuple of int, optional
        The shape of one example, when it has more than one axis (for
        example ``(height, width, channels)``); ``X`` then has shape
        ``(n_samples, *input_shape)``. Give ``input_dim`` or ``input_shape``.

    Attributes
    ----------
    layers : list of Layer
        ``layers[i].W`` (fan_in, fan_out) and ``layers[i].b`` (fan_out,) of a
        ``Dense`` layer are writable views into :attr:`params`; so are a
        convolution's ``W`` (kh, kw, c_in, c_out) or (k, c_in, c_out) and ``b``,
        and a recurrent layer's ``W``, ``U`` and ``b``.
    params : ndarray of shape (n_params,)
        Every parameter of the network in one buffer.
    output_shape : tuple of int
        The shape of one example's outputs, as :meth:`predict` returns them:
        ``(n_outputs,)``, or ``(steps, k)`` for ``k`` outputs per step.
    optimizer : Optimizer or None
        The optimizer of the last :meth:`fit`.
    epoch : int
        Epochs trained so far.
    rng : numpy.random.Generator
        Source of initial weights and of the order of examples in each epoch.
    entropy : int
        The seed, or the entropy drawn without one; with the epoch it keys
        the dropout masks, and it seeds the split of ``validation_split``.
    layout : jitprop.kernels.layout.Layout
        The architecture as the kernels read it: widths, offsets into
        :attr:`params`, activation and loss codes, dropout rates, L2 penalties.

    Notes
    -----
    The training loop (:mod:`jitprop.training`), and other code that runs the
    kernels itself, use the network through :attr:`model` (:attr:`layout`,
    :attr:`params` and :attr:`packed_weights` in one), :attr:`entropy`, :attr:`dense_layers` and four
    methods: :meth:`prepare_data`, :meth:`pack_weights`,
    :meth:`evaluate_data` and :meth:`metrics`.
    """

    def __init__(self, layers, input_dim=None, loss="mse", dtype="float32", seed=None, l2=0.0, *, input_shape=None):
        if not isinstance(layers, (list, tuple)) or not layers or not all(isinstance(layer, Layer) for layer in layers):
            names = ", ".join(kind.__name__ for kind in LAYER_KINDS.values())
            raise TypeError(f"layers must be a non-empty list of layers ({names}, ...), got {layers!r}.")
        layers = list(layers)
        self.input_shape = _input_shape(input_dim, input_shape)
        self.input_dim = math.prod(self.input_shape)
        spec = get_loss(loss)
        self.loss = spec.name
        self.dtype = _network_dtype(dtype)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise TypeError(f"seed must be an integer or None, got {seed!r}.")
        self.seed = seed
        self.l2 = _checks.non_negative_float(l2, "l2")
        computing, dropout = _check_architecture(layers, spec)
        self.layers = layers
        self._computing = computing
        self.optimizer = None
        self.epoch = 0
        self.stop_training = False
        seeds = np.random.SeedSequence(seed)
        self.entropy = seeds.entropy  # the seed, or fresh entropy without one
        self.rng = np.random.default_rng(seeds)

        # The shape of an example into each layer with kernels, and out of the last.
        shape, inputs = self.input_shape, []
        for layer in layers:
            if layer.kernel_kind is not None:
                inputs.append(shape)
            shape = tuple(layer.output_shape(shape))
        shapes = inputs + [shape]
        self.output_shape = shape
        if len(shape) == 2 and computing[-1].activation == "softmax" and spec.name != "cross_entropy":
            raise ValueError(
                f"A softmax per step ({computing[-1]!r} on steps) needs loss='cross_entropy', got {spec.name!r}."
            )
        counts = [layer.parameter_count(shape) for layer, shape in zip(computing, inputs)]
        weight_offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        kinds = np.array([layer.kernel_code(shape) for layer, shape in zip(computing, inputs)], dtype=np.int64)
        weight_shapes = np.array([layer.weight_shape(shape) for layer, shape in zip(computing, inputs)], np.int64)
        geometry = np.zeros((len(computing), GEOMETRY), dtype=np.int64)
        for row, layer, shape in zip(geometry, computing, inputs):
            values = layer.geometry(shape)
            row[: len(values)] = values
        forward_offsets, backward_offsets, packed_size = panel_offsets(kinds, weight_shapes, self.dtype.itemsize)
        self.layout = Layout(
            sizes=np.array([math.prod(shape) for shape in shapes], dtype=np.int64),
            kinds=kinds,
            geometry=geometry,
            weight_offsets=weight_offsets,
            weight_shapes=weight_shapes,
            forward_panels=forward_offsets,
            backward_panels=backward_offsets,
            activations=np.array([get_activation(layer.activation).code for layer in computing], dtype=np.int64),
            alphas=np.array([layer.kernel_alpha(shape) for layer, shape in zip(computing, inputs)], np.float64),
            dropout=np.array(dropout, dtype=np.float64),
            l2=np.array([self.l2 if layer.l2 is None else layer.l2 for layer in computing], dtype=np.float64),
            loss=spec.code,
            loss_over_outputs=spec.over_outputs,
        )
        self.params = aligned_zeros(int(sum(counts)), self.dtype)
        # The weights packed into the panels the matrix products read (see kernels.dense.pack_weights).
        self._packed = aligned_zeros(packed_size, self.dtype)
        # The panels a prediction packs, (by_rows, by_columns) per layer: fixed with the layout.
        self._prediction_panels = forward_panels(self.layout)
        self._small_forward = _SmallForward(self)
        self._many_rows_forward = None  # (layout, packed) of predictions of many rows, made by the first
        self._epoch_setups = {}  # what training.fit found for the types of its arguments (see there)
        self._batch_kernels = {}  # what _run found for the types of its arguments (see there)
        self._input_shapes = inputs
        for layer, offset, shape in zip(computing, weight_offsets, inputs):
            layer.bind(self.params, int(offset), shape)
            layer.initialize(self.rng, shape)

    # ------------------------------------------------------------------ sizes
    @property
    def n_params(self):
        """Number of parameters (weights and biases)."""
        return self.params.shape[0]

    @property
    def n_outputs(self):
        """Width of the output layer."""
        return int(self.layout.sizes[-1])

    @property
    def dense_layers(self):
        """The Dense layers of :attr:`layers`, input side first."""
        return [layer for layer in self._computing if isinstance(layer, Dense)]

    @property
    def kernel_layers(self):
        """The layers the kernels run one after another (all but dropout), input side first.

        Layer ``l`` of :attr:`layout` is ``kernel_layers[l]``.
        """
        return self._computing

    @property
    def packed_weights(self):
        """The weights packed into the panels the matrix products read (see :meth:`pack_weights`).

        A buffer of the network's dtype that :meth:`pack_weights` fills from
        :attr:`params`; the kernels take it next to :attr:`params`.
        """
        return self._packed

    @property
    def model(self):
        """The network as the kernels take it: :attr:`layout`, :attr:`params` and :attr:`packed_weights`.

        A :class:`~jitprop.kernels.layout.Model` of those three (made on each
        access: it follows ``params`` if it is replaced).
        """
        return Model(self.layout, self.params, self._packed)

    def __repr__(self):
        return (
            f"Network({self.layers!r}, input_dim={self.input_dim}, loss={self.loss!r}, "
            f"dtype={self.dtype.name!r}, seed={self.seed!r}, l2={self.l2!r})"
        )

    def set_l2(self, l2):
        """Change the network-wide L2 penalty (layers that set their own keep theirs).

        Parameters
        ----------
        l2 : float
            The new ``l2`` (>= 0).
        """
        self.l2 = _checks.non_negative_float(l2, "l2")
        for i, layer in enumerate(self._computing):
            if layer.l2 is None:
                self.layout.l2[i] = self.l2

    def __getstate__(self):
        # Pickled as its architecture, parameters and training state, so that
        # the layers' W and b are views of the parameters again once loaded.
        return {
            "config": self.config(),
            "params": self.params.copy(),
            "rng": self.rng.bit_generator.state,
            "entropy": self.entropy,
            "epoch": self.epoch,
            "optimizer": self.optimizer,
        }

    def __setstate__(self, state):
        twin = Network.from_config(state["config"])
        self.__dict__.update(twin.__dict__)
        self.params[...] = state["params"]
        self.rng.bit_generator.state = state["rng"]
        self.entropy = state["entropy"]
        self.epoch = state["epoch"]
        self.optimizer = state["optimizer"]

    def summary(self, batch_size=32, optimizer=None, bptt_steps=None):
        """Print a table of the layers: shapes, parameters and FLOPs per example.

        See :func:`jitprop.complexity.summary` for what is counted; with
        ``bptt_steps``, the memory of ``fit(..., bptt_steps=k)``.
        """
        from .complexity import summary

        print(summary(self, batch_size, optimizer, bptt_steps))

    def config(self):
        """The architecture as JSON-compatible values; :meth:`from_config` rebuilds it."""
        return {
            "layers": [layer.config() for layer in self.layers],
            "input_dim": self.input_dim,
            "input_shape": list(self.input_shape),
            "loss": self.loss,
            "dtype": self.dtype.name,
            "seed": self.seed,
            "l2": self.l2,
        }

    @classmethod
    def from_config(cls, config):
        """A new network with the architecture :meth:`config` describes (fresh weights)."""
        return cls(
            [layer_from_config(layer) for layer in config["layers"]],
            None if "input_shape" in config else config["input_dim"],
            loss=config["loss"],
            dtype=config["dtype"],
            seed=config["seed"],
            l2=config.get("l2", 0.0),
            input_shape=config.get("input_shape"),
        )

    def copy(self, dtype=None):
        """A new network with the same architecture and parameters.

        Parameters
        ----------
        dtype : {"float32", "float64"}, optional
            Precision of the copy; default that of this network.
        """
        config = self.config()
        if dtype is not None:
            config["dtype"] = dtype
        twin = Network.from_config(config)
        twin.params[...] = self.params
        twin.rng.bit_generator.state = self.rng.bit_generator.state
        return twin

    # -------------------------------------------------------------- inference
    def predict(self, X):
        """Network outputs for ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, *input_shape)
            Or (n_samples, input_dim), each example flattened.

        Returns
        -------
        ndarray of shape (n_samples, *output_shape)
            Activations of the output layer (probabilities for softmax and
            sigmoid outputs), in the network's dtype, each example in the
            shape of :attr:`output_shape`: (n_samples, n_outputs) for an
            output of one axis, (n_samples, steps, k) for ``k`` outputs per
            step (after a recurrent layer with ``return_sequences=True``).
        """
        small = self._small_forward
        outputs = small.run_as_is(self, X)
        if outputs is None:
            X = _checks.as_float_examples(X, self.dtype, self.input_shape)
            outputs = small.run(self, X, X.flags.aligned)
        if outputs is None:
            outputs = np.empty((X.shape[0], self.n_outputs), dtype=self.dtype)
            no_targets = np.zeros((0, self.n_outputs), dtype=self.dtype)
            data = Data(X, no_targets, np.zeros(0, dtype=np.int64), np.zeros(0))
            self._run(FORWARD, data, outputs=outputs)
        return outputs if len(self.output_shape) == 1 else outputs.reshape(outputs.shape[0], *self.output_shape)

    def evaluate(self, X, y, sample_weight=None):
        """Loss (and accuracy, for classification losses) on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, input_dim)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            As for :meth:`fit`: also (n_samples, steps, outputs) for outputs
            per step and, for a softmax per step, (n_samples, steps) labels
            or (n_samples, steps, k) targets.
        sample_weight : array-like of shape (n_samples,), optional
            Weights of the examples in the mean loss.

        Returns
        -------
        dict
            ``{"loss": float}`` — the mean loss plus the L2 penalty, as
            training minimises it — and ``"accuracy"`` for ``cross_entropy``
            (fraction of examples whose largest output is the target class)
            and ``binary_cross_entropy`` (fraction of outputs on the right
            side of 0.5). Dropout is off.
        """
        return self.evaluate_data(self.prepare_data(X, y, sample_weight))

    def loss_and_grads(self, X, y, sample_weight=None):
        """The loss on ``(X, y)`` and its exact gradient.

        The loss is the one :meth:`evaluate` reports: the (weighted) mean over
        the examples plus the L2 penalty, with dropout off.

        Returns
        -------
        loss : float
        grads : list of tuple
            Per layer with parameters, its gradient in the shapes of its
            parameters: ``(dW, db)`` (Dense, Conv1D, Conv2D), ``(dW, dU, db)``
            (SimpleRNN, GRU, LSTM), the forward layer's then the backward
            layer's for Bidirectional.
        """
        data = self.prepare_data(X, y, sample_weight)
        grad = np.zeros(self.n_params, dtype=self.dtype)
        loss, _ = self._run(GRADIENT, data, grad=grad)
        return loss, self._unflatten(grad)

    def loss_and_flat_gradient(self, data, grad, rows=None):
        """The loss on prepared ``data`` and its exact gradient, written into one flat buffer.

        What :meth:`loss_and_grads` computes, without converting the data or
        allocating the gradient: for optimisers that work on the flat
        parameter vector (:class:`jitprop.LBFGS`). ``grad[i]`` is
        ``∂loss/∂params[i]``.

        Parameters
        ----------
        data : jitprop.kernels.layout.Data
            From :meth:`prepare_data`.
        grad : ndarray of shape (n_params,)
            Of the network's dtype; overwritten.
        rows : int64 ndarray, optional
            The examples of ``data`` the loss is the mean over (all by default).

        Returns
        -------
        loss : float
            The (weighted) mean loss plus the L2 penalty, dropout off.
        correct : float
            Correct predictions, as :meth:`metrics` counts them.

        Raises
        ------
        FloatingPointError
            If the loss is not finite.
        """
        return self.flat_gradient_evaluator(data, grad, rows)()

    def flat_gradient_evaluator(self, data, grad, rows=None):
        """:meth:`loss_and_flat_gradient` as a function of no arguments, prepared once for many calls.

        The buffers and kernels of the computation are made here, once: a
        call reads :attr:`params` as they are then, writes ``grad`` and
        returns ``(loss, correct)``. On small data sets this setup costs
        more than the computation itself, and an optimiser such as
        :class:`jitprop.LBFGS` evaluates the same data hundreds of times.
        The result is bitwise :meth:`loss_and_flat_gradient`'s: the same
        chunks, summed in the same order.

        Parameters
        ----------
        data, grad, rows
            As for :meth:`loss_and_flat_gradient`; kept by the function.

        Returns
        -------
        callable
            ``evaluate() -> (loss, correct)``; raises ``FloatingPointError``
            if the loss is not finite.
        """
        if not (isinstance(grad, np.ndarray) and grad.shape == (self.n_params,) and grad.dtype == self.dtype):
            raise ValueError(f"grad must be an ndarray of shape ({self.n_params},) and dtype {self.dtype.name}.")
        # What _run prepares on each call, prepared once.
        rows, scale, capacity = self._gradient_chunks(data, rows)
        n = rows.shape[0]
        ws = workspace.allocate(self.layout, capacity, self.n_params, self.dtype, True)
        kernels = batch_kernels(self.model, data, ws, grad)
        chunked = chunking(self.n_params)
        chunks = [(lo, rows[lo : min(n, lo + capacity)]) for lo in range(0, n, capacity)]
        penalized = bool(self.layout.l2.any())

        def evaluate():
            loss_sum = correct = 0.0
            with _threading.parallel_region():
                self.pack_weights()
                for lo, chunk in chunks:
                    arguments = (self.model, data, chunk, scale, ws, grad, lo > 0, -1)
                    chunk_loss, chunk_correct, _ = run_batch(kernels, GRADIENT, *arguments, chunked)
                    loss_sum += chunk_loss
                    correct += chunk_correct
            penalty = add_l2_penalty(self.layout, self.params, grad) if penalized else 0.0
            loss = loss_sum * scale + penalty
            _checks.check_loss_finite(loss, self.dtype)
            return loss, correct

        return evaluate

    def _gradient_chunks(self, data, rows=None):
        """How :meth:`_run` and :meth:`flat_gradient_evaluator` cut ``rows`` of ``data``: ``(rows, scale, capacity)``.

        ``rows`` (all of ``data``'s by default, int64) are run in chunks of
        ``capacity`` rows, in order, and the summed loss and gradient are
        multiplied by ``scale``, one over the examples' total weight. The
        distributed evaluator (:meth:`jitprop.distributed.Session.gradient_evaluator`)
        cuts them the same way.
        """
        if rows is None:
            rows = np.arange(data.inputs.shape[0], dtype=np.int64)
        n = rows.shape[0]
        total_weight = float(data.weights[rows].sum()) if data.weights.shape[0] else float(n)
        scale = self._scale(total_weight) if total_weight > 0 else 0.0
        capacity = max(1, min(n, _CHUNK_ELEMENTS // workspace.row_elements(self.layout)))
        return rows, scale, capacity

    # --------------------------------------------------------------- training
    #: Train by mini-batch back-propagation: :func:`jitprop.training.fit` is
    #: this method, so its keywords and their documentation are written once.
    fit = training.fit

    def save(self, path, **kwargs):
        """Write the network to a safetensors file; see :func:`jitprop.save`."""
        from .io.model_file import save

        save(self, path, **kwargs)

    def partial_fit(self, X, y, batch_size=32, optimizer=None, sample_weight=None):
        """One epoch over ``(X, y)``, continuing from the current state.

        Returns
        -------
        History
        """
        return self.fit(
            X, y, epochs=1, batch_size=batch_size, optimizer=optimizer, verbose=0, sample_weight=sample_weight
        )

    # ------------------------------------------------- for the training loop
    def prepare_data(self, X, y, sample_weight=None):
        """``(X, y, sample_weight)`` checked and converted to the arrays the kernels read.

        Parameters
        ----------
        X, y, sample_weight
            As for :meth:`fit`.

        Returns
        -------
        jitprop.kernels.layout.Data
            ``inputs`` (n_samples, input_dim) of the network's dtype;
            ``targets`` (n_samples, n_outputs), or empty when ``labels``
            (n_samples,) holds class indices; for a softmax per step,
            ``targets`` (n_samples·steps, k) or ``labels`` (n_samples·steps,)
            (see :func:`jitprop._checks.step_targets`); ``weights``
            (n_samples,), or empty without ``sample_weight``.
        """
        if sample_weight is None and len(self.output_shape) == 1:
            data = _checks.plain_training_data(X, y, self.dtype, self.input_shape, self.n_outputs, self.loss)
            if data is not None:
                return data
        X = _checks.as_float_examples(X, self.dtype, self.input_shape)
        targets, labels = self.prepare_targets(y, X.shape[0])
        return Data(X, targets, labels, _checks.sample_weights(sample_weight, X.shape[0]))

    def prepare_targets(self, y, n_examples):
        """``y`` checked and converted to the ``(targets, labels)`` of :meth:`prepare_data`, for ``n_examples``."""
        if self._softmax_per_step:
            steps, classes = self.output_shape
            return _checks.step_targets(y, steps, classes, n_examples, self.dtype)
        if len(self.output_shape) > 1 and np.ndim(y) == 1 + len(self.output_shape):
            y = np.asarray(y)
            if y.shape[1:] == self.output_shape:  # a target per step (and output), as the outputs are shaped
                y = y.reshape(y.shape[0], -1)
        return _checks.prepare_targets(y, get_loss(self.loss), self.n_outputs, n_examples, self.dtype)

    def pack_weights(self):
        """Copy the weights of :attr:`params` into :attr:`packed_weights`; call it after changing them.

        Runs on Numba's threads: call it inside
        :func:`jitprop._threading.parallel_region`.
        """
        if self._packed.size:  # (a network of layers that all read their weights as they are has none)
            pack_weight_panels(self.model, chunking(self.n_params))

    def evaluate_data(self, data, rows=None):
        """:meth:`evaluate` on the examples ``rows`` (int64 indices, all by default) of prepared ``data``.

        Parameters
        ----------
        data : jitprop.kernels.layout.Data
            From :meth:`prepare_data`.
        rows : ndarray of int64, optional

        Returns
        -------
        dict
            As :meth:`evaluate` returns it.
        """
        n = data.inputs.shape[0] if rows is None else rows.shape[0]
        mean_loss, correct = self._run(LOSS, data, rows)
        return self.metrics(mean_loss, correct, n)

    def metrics(self, mean_loss, correct, n_examples):
        """``{"loss": ..., "accuracy": ...}`` as :meth:`evaluate` reports them, from their sums.

        Parameters
        ----------
        mean_loss : float
            The mean loss, with the L2 penalty.
        correct : float
            Correct predictions: examples whose largest output is the
            target class (``cross_entropy``), outputs on the right side of
            0.5 (``binary_cross_entropy``); ignored for ``mse``.
        n_examples : int

        Returns
        -------
        dict
            ``"loss"``, and ``"accuracy"`` for the classification losses.
        """
        metrics = {"loss": float(mean_loss)}
        spec = get_loss(self.loss)
        if spec.classification:
            counted = n_examples * self.n_outputs if spec.over_outputs else n_examples
            metrics["accuracy"] = float(correct / counted)
        return metrics

    # ---------------------------------------------------------------- helpers
    @property
    def _softmax_per_step(self):
        """Whether the output is a softmax per step (a Dense softmax over steps), trained on a class per step."""
        return bool(self.layout.alphas[-1] < 0 and self.loss == "cross_entropy")

    def _scale(self, n):
        """Factor turning a loss summed over ``n`` examples (or total weight ``n``) into its mean."""
        return 1.0 / (n * self.n_outputs) if self.layout.loss_over_outputs else 1.0 / n

    def _run(self, mode, data, rows=None, grad=None, outputs=None):
        """Run the examples ``rows`` of ``data`` through :func:`run_batch` in chunks of bounded memory.

        Chunk boundaries depend on the number of rows and the network only;
        gradients of the chunks are summed in order into ``grad``. Returns the
        mean loss (with the L2 penalty) and the count of correct predictions.
        """
        rows, scale, capacity = self._gradient_chunks(data, rows)
        n = rows.shape[0]
        if grad is None:
            grad = np.zeros(0, dtype=self.dtype)
        k = self.n_outputs
        loss_sum = correct = 0.0
        model = self._many_rows_model() if mode == FORWARD and n > _PACKED_ROWS else self.model
        plan = workspace.plan(self.layout, capacity, self.n_params, mode == GRADIENT)
        with _PASS_MEMORY.workspace(plan, self.dtype) as ws:
            start = ws.row_offsets[len(self._computing)]
            kernels = self._batch_kernels_for(model, data, ws, grad)
            with _threading.parallel_region():
                if model.packed.size and mode == FORWARD and model.layout is self.layout:
                    # (A prediction reads no input gradient's panels. Evaluation packs them all, with the
                    # kernel training compiles anyway: a first jitprop train has no other kernel to compile.)
                    pack_some_weights(model, *self._prediction_panels)
                elif model.packed.size:
                    pack_weight_panels(model, chunking(self.n_params))
                for lo in range(0, n, capacity):
                    hi = min(n, lo + capacity)
                    arguments = (model, data, rows[lo:hi], scale, ws, grad, lo > 0, -1)
                    chunk_loss, chunk_correct, _ = run_batch(kernels, mode, *arguments, chunking(self.n_params))
                    loss_sum += chunk_loss
                    correct += chunk_correct
                    if outputs is not None:
                        outputs[lo:hi] = ws.activations[start : start + (hi - lo) * k].reshape(hi - lo, k)
        if outputs is not None:
            _checks.check_outputs_finite(outputs, self.dtype)
        if mode == FORWARD:
            return 0.0, correct
        # (A network without a penalty needs no code for it.)
        penalty = add_l2_penalty(self.layout, self.params, grad) if self.layout.l2.any() else 0.0
        loss = loss_sum * scale + penalty
        _checks.check_loss_finite(loss, self.dtype)
        return loss, correct

    def _batch_kernels_for(self, model, data, ws, grad):
        """:func:`~.kernels.batch.batch_kernels`, remembered for the types that can change between calls.

        The workspace and the layout are of the same types in every call,
        and so are the parameters unless replaced: finding the types of all
        of them cost a prediction of 32 rows through W1's network a fifth
        of its time.
        """
        key = (model.layout is self.layout, type_key((model.params, data)))
        kernels = self._batch_kernels.get(key)
        if kernels is None:
            kernels = self._batch_kernels[key] = batch_kernels(model, data, ws, grad)
        return kernels

    def _many_rows_model(self):
        """The network as a prediction of many rows reads it: with panels of its own, which it packs.

        Its forward products run from packed panels wherever their outputs
        fill a block (:func:`~jitprop.kernels.kinds.panel_offsets` for
        forward passes), also over long rows, whose weights training reads
        where they lie rather than pack them after every update: packed once
        for thousands of rows they pay. Up to ``_PACKED_ROWS`` rows run as
        training does (a few of them through :class:`_SmallForward`).
        """
        if self._many_rows_forward is None:
            layout = self.layout
            forward, backward, size = panel_offsets(layout.kinds, layout.weight_shapes, self.dtype.itemsize, False)
            # (The other arrays are the network's own, and change with it.)
            panels = layout._replace(forward_panels=forward, backward_panels=backward)
            self._many_rows_forward = (panels, aligned_zeros(size, self.dtype))
        layout, packed = self._many_rows_forward
        return Model(layout, self.params, packed)

    def _unflatten(self, flat):
        """Per-layer views of a flat gradient, shaped like the layer's parameters (``(dW, db)`` for Dense)."""
        layers = zip(self._computing, self.layout.weight_offsets, self._input_shapes)
        return [
            layer.parameter_views(flat, int(offset), shape)
            for layer, offset, shape in layers
            if layer.parameter_count(shape)
        ]


def _input_shape(input_dim, input_shape):
    """The shape of an example from ``Network``'s ``input_dim`` or ``input_shape``, whichever is given."""
    if (input_dim is None) == (input_shape is None):
        raise TypeError("Give the network's input_dim (features of an example) or its input_shape, not both.")
    if input_shape is None:
        return (_checks.positive_int(input_dim, "input_dim"),)
    if isinstance(input_shape, numbers.Integral) and not isinstance(input_shape, bool):
        input_shape = (input_shape,)
    if not isinstance(input_shape, (tuple, list)) or not input_shape:
        raise TypeError(f"input_shape must be a non-empty tuple of positive integers, got {input_shape!r}.")
    return tuple(_checks.positive_int(size, "each size of input_shape") for size in input_shape)


def _network_dtype(dtype):
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved is None or resolved.name not in _DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}.")
    return resolved


def _check_architecture(layers, loss):
    """The layers with kernels, and the dropout rate of each of their input blocks (inputs first) and of the output."""
    computing = [layer for layer in layers if layer.kernel_kind is not None]
    if layers[-1].kernel_kind is None:
        raise ValueError(f"The last layer must compute the outputs, as Dense does, got {layers[-1]!r}.")
    dropout = [0.0] * (len(computing) + 1)
    dropped_by = {}  # block -> the Dropout layer applied to it
    block = 0
    for i, layer in enumerate(layers):
        if layer.kernel_kind is not None:
            block += 1
        elif isinstance(layer, Dropout):
            if block in dropped_by:
                raise ValueError(f"Layers {dropped_by[block]} and {i} are both Dropout of the same values; use one.")
            dropped_by[block] = i
            dropout[block] = layer.rate
    for i, layer in enumerate(computing[:-1]):
        if not get_activation(layer.activation).hidden:
            raise ValueError(
                f"{layer.activation} is only allowed on the output layer, but {type(layer).__name__} layer {i} uses it."
            )
    output = computing[-1].activation
    if loss.output_activation is not None and output != loss.output_activation:
        raise ValueError(
            f"loss={loss.name!r} needs a {loss.output_activation!r} output layer, but the last layer uses {output!r}."
        )
    return computing, dropout
