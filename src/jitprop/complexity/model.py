"""The cost model: parameters, FLOPs and memory of a network, by counting.

A dense layer with ``n`` inputs and ``k`` outputs, per example:

================== ====================================== =========================
pass               work                                   FLOPs
================== ====================================== =========================
forward            ``z = x @ W + b``, ``a = f(z)``        ``2nk + k + c_f·k``
backward           ``dW = xᵀ δ``, ``db = Σ δ``            ``2nk + k``
                   ``δ_prev = (δ @ Wᵀ) ⊙ f'(z_prev)``     ``2nk`` (not the first layer)
                   ``δ ⊙ f'(z)`` of a hidden layer        ``c_d·k``
================== ====================================== =========================

``c_f`` and ``c_d`` count the arithmetic operations of the activation and its
derivative per unit (each operation, comparison or elementary function counts
one). Each activation's entry in :data:`jitprop.activations.ACTIVATIONS`
holds its pair ``(c_f, c_d)`` as ``flops``; the output layer's delta comes
from the loss, whose entry in :data:`jitprop.losses.LOSSES` holds ``flops``
per output likewise. These element-wise terms are O(k) against O(nk) for the
products: a few percent of the total for layers of a few dozen units, less
for wider ones; the products decide every claim.

A convolution shares its weights across the ``P`` output positions of an
example (``P = H_out·W_out``, or ``L_out`` for one axis): with windows of
``K = kh·kw·C_in`` inputs and ``C_out`` filters it has ``w = K·C_out``
weights and applies each ``P`` times, so its products cost ``P`` times a
dense layer's of the same weights:

================== ====================================== =========================
pass               work                                   FLOPs
================== ====================================== =========================
forward            ``Z = P_x Wm + b``, ``A = f(Z)``       ``2·K·C_out·P + (1 + c_f)·C_out·P``
backward           ``dWm = P_xᵀ D``, ``db = Σ D``         ``2·K·C_out·P + C_out·P``
                   ``dP_x = D Wmᵀ``, added back           ``2·K·C_out·P`` (not the first layer)
================== ====================================== =========================

(``P_x`` the matrix of the example's windows, one row per position.)
Pooling layers have no weights; they cost O(window) per output value, and
no backward pass as the first layer. The first layer is the first layer
the kernels run (Dropout and Flatten do not count): its input needs no
gradient.

A layer's *weight uses* are its weights times the positions it applies
them at (``w·P``; ``w`` for a dense layer). With ``u`` weight uses in all and
``u₁`` in the first layer, the products alone give forward ``2u`` and
backward ``4u − 2u₁``: a backward/forward ratio of ``2 − u₁/u``. For a dense
network ``u = w`` and ``u₁ = w₁``: ``2 − w₁/w`` — 1.25 for 784-256-256-10,
approaching 2 for deep uniform networks. Training ``m`` examples for ``e``
epochs costs ``e·(m·(forward + backward) + ⌈m/B⌉·step)`` FLOPs, where a step
(per batch of ``B``) sums the tiles' gradients and updates every parameter:
O(w·m·e) for a dense network, O(u·m·e) = O(w·P·m·e) with weight sharing,
while the step stays O(w). Inference is the forward pass alone.
"""

import numbers
from dataclasses import dataclass, field

from ..kernels import workspace
from ..activations import get_activation
from ..losses import get_loss


@dataclass(frozen=True)
class LayerCost:
    """One row of :func:`summary_table`: a layer (or the loss) and what it costs.

    FLOPs are per example; ``forward_flops`` is what inference computes
    (Dropout rows count their training cost, which inference skips).
    """

    name: str
    kind: str  # the layer's class name ("Dense", "Conv2D", "Dropout", ...) or "Loss"
    output_shape: tuple  # (None, units) or (None, *shape), like Keras; () for the loss
    activation: str  # activation, or the loss's name; "" for Dropout
    params: int  # weights and biases
    weights: int
    forward_flops: int
    backward_flops: int
    weight_uses: int = 0  # weights times the output positions they apply at (weights for Dense)


@dataclass(frozen=True)
class Memory:
    """Bytes a training run holds, as :func:`costs` counts them for a batch size.

    ``parameters`` counts the parameters and the packed copy of the weights
    the matrix products read; ``gradients`` the batch gradient and the
    per-tile gradient buffers; ``activations`` the per-batch workspace
    (activations, pre-activations, deltas, and each tile's panel scratch).
    """

    parameters: int
    gradients: int
    optimizer_state: int
    activations: int

    @property
    def total(self):
        return self.parameters + self.gradients + self.optimizer_state + self.activations


@dataclass(frozen=True)
class NetworkCost:
    """What a network costs to run and to train; returned by :func:`costs`.

    Attributes
    ----------
    layers : list of LayerCost
        Per layer, input side first, then the loss.
    sizes : list of int
        Values per example at the input and after each layer the kernels
        run (the widths of a dense network, inputs first).
    params : int
        Weights and biases: the ``w`` of O(w·m·e).
    weights, first_layer_weights : int
        The weights alone, in all and in the first layer: the ``w`` and ``w₁``
        of ``2 − w₁/w``.
    weight_uses, first_layer_weight_uses : int
        Weights times the output positions each applies at, in all and in
        the first layer: the ``u`` and ``u₁`` of ``2 − u₁/u`` (equal to ``w``
        and ``w₁`` for a dense network).
    inference_flops : int
        Forward FLOPs per example without dropout or loss: what ``predict`` does.
    forward_flops : int
        Forward FLOPs per example in training (dropout included).
    backward_flops : int
        FLOPs per example that training adds beyond the forward pass: the
        loss and its delta, then every layer's gradients.
    step_flops : int
        FLOPs per optimizer step (per batch): summing the tile gradients,
        the gradient's squared norm, the L2 penalty and the update.
    batch_size, tiles : int
        The batch size counted and the tiles it is cut into (as training
        cuts it: :func:`jitprop.kernels.workspace.size`).
    memory : Memory
    dtype : str
    step_parts : dict of str to int
        ``step_flops`` by part: ``reduce_tiles``, ``gradient_norm``,
        ``l2_penalty``, ``update``.
    """

    layers: list
    sizes: list
    params: int
    weights: int
    first_layer_weights: int
    inference_flops: int
    forward_flops: int
    backward_flops: int
    step_flops: int
    batch_size: int
    tiles: int
    memory: Memory
    dtype: str
    step_parts: dict = field(default_factory=dict)
    weight_uses: int = 0
    first_layer_weight_uses: int = 0

    @property
    def training_flops_per_example(self):
        """Forward plus backward FLOPs of one example (the update excluded)."""
        return self.forward_flops + self.backward_flops

    @property
    def backward_forward_ratio(self):
        """Predicted backward/forward time: ``backward_flops / forward_flops``."""
        return self.backward_flops / self.forward_flops

    @property
    def matmul_ratio(self):
        """The ratio of the matrix products alone: ``2 − u₁/u`` (u: weight uses; ``2 − w₁/w`` for a dense network)."""
        return 2.0 - self.first_layer_weight_uses / self.weight_uses

    @property
    def shares_weights(self):
        """Whether some layer applies its weights at more than one position (a convolution)."""
        return self.weight_uses != self.weights

    def epoch_flops(self, n_examples):
        """FLOPs of one epoch over ``n_examples``: ``m·(forward + backward) + ⌈m/B⌉·step``."""
        n_examples = _count(n_examples, "n_examples")
        steps = -(-n_examples // self.batch_size)
        return n_examples * self.training_flops_per_example + steps * self.step_flops

    def training_flops(self, n_examples, epochs=1):
        """FLOPs of ``epochs`` epochs over ``n_examples``: O(w·m·e)."""
        return _count(epochs, "epochs") * self.epoch_flops(n_examples)

    def predict_flops(self, n_examples):
        """FLOPs of ``predict`` on ``n_examples``: ``m·inference_flops``."""
        return _count(n_examples, "n_examples") * self.inference_flops

    def as_dict(self):
        """The cost as JSON-compatible values."""
        return {
            "layers": self.sizes,
            "params": self.params,
            "weights": self.weights,
            "first_layer_weights": self.first_layer_weights,
            "weight_uses": self.weight_uses,
            "first_layer_weight_uses": self.first_layer_weight_uses,
            "dtype": self.dtype,
            "batch_size": self.batch_size,
            "tiles": self.tiles,
            "flops_per_example": {
                "inference": self.inference_flops,
                "forward": self.forward_flops,
                "backward": self.backward_flops,
                "training": self.training_flops_per_example,
            },
            "flops_per_step": dict(self.step_parts, total=self.step_flops),
            "backward_forward": self.backward_forward_ratio,
            "matmul_ratio": self.matmul_ratio,
            "memory_bytes": {
                "parameters": self.memory.parameters,
                "gradients": self.memory.gradients,
                "optimizer_state": self.memory.optimizer_state,
                "activations": self.memory.activations,
                "total": self.memory.total,
            },
        }


def costs(net, batch_size=32, optimizer=None, bptt_steps=None):
    """Count the parameters, FLOPs and memory of training and running ``net``.

    Parameters
    ----------
    net : Network
    batch_size : int, default 32
        Examples per optimizer step; decides the tile count, the per-batch
        memory and the share of the update in an epoch.
    optimizer : Optimizer, optional
        The update rule counted per step; default ``SGD()``, the default of
        :meth:`~jitprop.Network.fit`.
    bptt_steps : int, optional
        Count training as ``fit(..., bptt_steps=k)`` runs it: the
        workspace (and so the activations' memory and the tiles) of chunks
        of ``k`` steps, and ⌈T/k⌉ updates per batch in ``step_flops``. The
        FLOPs per example are the same as without it.

    Returns
    -------
    NetworkCost
    """
    from ..optimizers import SGD

    batch_size = _count(batch_size, "batch_size")
    optimizer = SGD() if optimizer is None else optimizer
    chunks = 1
    if bptt_steps is not None:
        from ..truncation import check_truncatable

        bptt_steps = _count(bptt_steps, "bptt_steps")
        check_truncatable(net, bptt_steps)
        if bptt_steps >= net.input_shape[0]:
            bptt_steps = None
        else:
            chunks = -(-int(net.input_shape[0]) // bptt_steps)
    rows = summary_table(net)
    # The rows of the layers the kernels run (not dropout, which inference skips), and their layers.
    computing = [(row, layer) for row, layer in zip(rows, net.layers) if layer.kernel_kind is not None]
    params = sum(row.params for row in rows)
    weights = sum(row.weights for row in rows)
    first = computing[0][0]
    inference = sum(row.forward_flops for row, _ in computing)
    forward = sum(row.forward_flops for row in rows if row.kind != "Loss")
    backward = sum(row.backward_flops for row in rows) + rows[-1].forward_flops  # the loss value too

    # The buffers training allocates for a batch (workspace.allocate), counted without allocating them.
    if bptt_steps is None:
        scratch = workspace.size(net.layout, batch_size, params)
    else:
        from ..truncation import workspace_size

        scratch = workspace_size(net, bptt_steps, batch_size)  # (the last, shorter chunk's is smaller)
    tiles = scratch.tiles
    penalised = sum(row.weights for row, layer in computing if _l2_of(net, layer) > 0)
    # (With bptt_steps, a batch makes an update per chunk of steps.)
    step_parts = {
        "reduce_tiles": chunks * (tiles - 1) * params,
        "gradient_norm": chunks * 2 * params,
        "l2_penalty": chunks * 4 * penalised,  # Σ W² (2) and g += 2·l2·W (2)
        "update": chunks * update_flops_per_parameter(optimizer) * params,
    }
    itemsize = net.dtype.itemsize
    tile_gradients = scratch.tile_gradients[0] * scratch.tile_gradients[1]
    memory = Memory(
        parameters=(params + net.packed_weights.size) * itemsize,
        gradients=(params + tile_gradients) * itemsize,  # the batch gradient and the tiles' own
        optimizer_state=max(1, int(optimizer.n_slots)) * params * itemsize,  # as Optimizer.prepare allocates
        activations=(scratch.elements - tile_gradients) * itemsize,
    )
    return NetworkCost(
        layers=rows,
        sizes=[int(size) for size in net.layout.sizes],
        params=params,
        weights=weights,
        first_layer_weights=first.weights,
        weight_uses=sum(row.weight_uses for row in rows),
        first_layer_weight_uses=first.weight_uses,
        inference_flops=inference,
        forward_flops=forward,
        backward_flops=backward,
        step_flops=sum(step_parts.values()),
        batch_size=batch_size,
        tiles=tiles,
        memory=memory,
        dtype=net.dtype.name,
        step_parts=step_parts,
    )


def summary_table(net):
    """Per-layer rows of parameters and FLOPs per example, then a row for the loss.

    Returns
    -------
    list of LayerCost
        One row per layer of ``net.layers``, in order, and a last row
        ``kind="Loss"`` whose forward FLOPs are the loss value and backward
        FLOPs its delta at the output.
    """
    rows = []
    shape = net.input_shape
    # No layer the kernels run yet: the next one is layer 0 of the layout, whose input gets no gradient.
    first = True
    counts = {}
    for layer in net.layers:
        # Each layer kind counts itself (jitprop.layers.Layer), from its kernels' formulas.
        seen = counts[layer.kind] = counts.get(layer.kind, -1) + 1
        name = layer.kind if seen == 0 else f"{layer.kind}_{seen}"
        forward, backward = layer.flops(shape, first, layer is net.layers[-1])
        out = layer.output_shape(shape)
        params = layer.parameter_count(shape)
        activation = getattr(layer, "activation", "")
        weights = layer.weight_count(shape)
        kind = type(layer).__name__
        positions = layer.weight_positions(shape)  # where each weight applies: 1 for a dense layer's
        row = LayerCost(name, kind, (None, *out), activation, params, weights, forward, backward, weights * positions)
        rows.append(row)
        first = first and layer.kernel_kind is None
        shape = out
    k = net.n_outputs
    value, delta = get_loss(net.loss).flops
    if net.loss == "mse":
        delta += get_activation(net.kernel_layers[-1].activation).flops[1]
    rows.append(LayerCost("loss", "Loss", (), net.loss, 0, 0, value * k, delta * k))
    return rows


def summary(net, batch_size=32, optimizer=None, bptt_steps=None):
    """A Keras-like table of the layers' shapes, parameters and FLOPs per example.

    Parameters
    ----------
    net : Network
    batch_size, optimizer, bptt_steps
        As for :func:`costs`; they decide the memory and per-step lines.

    Returns
    -------
    str
    """
    cost = costs(net, batch_size, optimizer, bptt_steps)
    header = ("Layer (type)", "Output shape", "Activation", "Param #", "Forward FLOPs", "Backward FLOPs")
    body = [
        (
            f"{row.name} ({row.kind})",
            "-" if not row.output_shape else f"(None, {', '.join(map(str, row.output_shape[1:]))})",
            row.activation or "-",
            f"{row.params:,}",
            f"{row.forward_flops:,}",
            f"{row.backward_flops:,}",
        )
        for row in cost.layers
    ]
    widths = [max(len(line[i]) for line in [header] + body) for i in range(len(header))]
    right = {3, 4, 5}

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    rule = "=" * len(line(header))
    memory = cost.memory
    shapes = [net.input_shape] + [
        row.output_shape[1:] for row, layer in zip(cost.layers, net.layers) if layer.kernel_kind is not None
    ]
    lines = [
        f"Network: {'-'.join('x'.join(map(str, shape)) for shape in shapes)}, loss {net.loss}, {cost.dtype}",
        rule,
        line(header),
        "-" * len(rule),
        *(line(cells) for cells in body),
        rule,
        f"Total params: {cost.params:,} ({_bytes(cost.params * net.dtype.itemsize)}); weights w = {cost.weights:,}, "
        + (
            f"used at every output position: u = w·P = {cost.weight_uses:,} per example, first layer "
            f"u1 = {cost.first_layer_weight_uses:,}"
            if cost.shares_weights
            else f"first layer w1 = {cost.first_layer_weights:,}"
        ),
        f"FLOPs per example: forward {cost.forward_flops:,} (inference {cost.inference_flops:,}), "
        f"backward {cost.backward_flops:,}, training {cost.training_flops_per_example:,}",
        f"Backward/forward: {cost.backward_forward_ratio:.3f} (matrix products alone: "
        f"{'2 - u1/u' if cost.shares_weights else '2 - w1/w'} = {cost.matmul_ratio:.3f})",
        f"Per step of {cost.batch_size} examples ({cost.tiles} tile{'s' if cost.tiles > 1 else ''}"
        + (
            f", updates per chunk of {bptt_steps} steps"
            if bptt_steps is not None and bptt_steps < net.input_shape[0]
            else ""
        )
        + f"): {cost.step_flops:,} FLOPs",
        f"Training memory: {_bytes(memory.total)} (parameters and their packed copy "
        f"{_bytes(memory.parameters)}, gradients "
        f"{_bytes(memory.gradients)}, optimizer state {_bytes(memory.optimizer_state)}, activations "
        f"{_bytes(memory.activations)} per batch)",
    ]
    return "\n".join(lines)


def update_flops_per_parameter(optimizer):
    """FLOPs per parameter of one update of ``optimizer``: its ``flops_per_parameter``, counted from its kernel.

    Counts follow :mod:`jitprop.kernels.optimizers`: SGD 4 (``p −= lr·(g + λp)``),
    with momentum 6, Nesterov 8; Adam 16 (AdamW 17, AMSGrad +1); RMSprop 8,
    centered +6, with momentum +2; Adagrad 9.
    """
    from ..optimizers import Optimizer

    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a jitprop Optimizer, got {optimizer!r}.")
    if optimizer.flops_per_parameter is None:
        raise ValueError(f"No FLOP count for optimizer {optimizer!r}.")
    return optimizer.flops_per_parameter


def _l2_of(net, layer):
    return net.l2 if layer.l2 is None else layer.l2


def _count(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def _bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
