"""Plain-NumPy recurrent layers: step-by-step loops written from the formulas, forward and through time backward.

What the recurrent kernels are checked against. Nothing here is shared with
``jitprop.kernels.recurrent``: the forward pass keeps the pre-activations of
every gate, and the backward pass differentiates from them (the kernels
differentiate from the activations).

Shapes: ``X`` (n, T, F); ``W`` (F, g·u), ``U`` (u, g·u) in Keras' layout and
gate order; ``b`` (g·u,), or (2, g·u) for the GRU (input and recurrent bias).
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


ACTIVATIONS = {
    "softmax": (softmax, None),  # (the output of cross_entropy only: its delta is taken from z)
    "tanh": (np.tanh, lambda z: 1.0 - np.tanh(z) ** 2),
    "sigmoid": (sigmoid, lambda z: sigmoid(z) * (1.0 - sigmoid(z))),
    "relu": (lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(z.dtype)),
    "identity": (lambda z: z, np.ones_like),
}


def _order(steps, reverse):
    return range(steps - 1, -1, -1) if reverse else range(steps)


def cell_forward(kind, X, W, U, b, activation="tanh", reverse=False, initial=None):
    """``h`` of every step, (n, T, u), in the order of time, and what :func:`cell_backward` needs.

    ``initial``: the state ``(h, c)`` before the first step, each (n, u)
    (``c`` the LSTM's only); zeros by default.
    """
    n, steps, _ = X.shape
    units = U.shape[0]
    h = np.zeros((n, units))
    c = np.zeros((n, units))
    if initial is not None:
        h, c = initial
    H = np.zeros((n, steps, units))
    cache = []
    for t in _order(steps, reverse):
        x = X[:, t]
        h_prev, c_prev = h, c
        if kind == "simple_rnn":
            z = x @ W + h_prev @ U + b
            h = ACTIVATIONS[activation][0](z)
            cache.append((t, x, h_prev, z))
        elif kind == "lstm":
            z = x @ W + h_prev @ U + b
            zi, zf, zc, zo = np.split(z, 4, axis=1)
            c = sigmoid(zf) * c_prev + sigmoid(zi) * np.tanh(zc)
            h = sigmoid(zo) * np.tanh(c)
            cache.append((t, x, h_prev, c_prev, zi, zf, zc, zo, c))
        else:
            b_in, b_rec = b
            xz, xr, xh = np.split(x @ W + b_in, 3, axis=1)
            hz, hr, hh = np.split(h_prev @ U + b_rec, 3, axis=1)
            z_pre, r_pre = xz + hz, xr + hr
            r = sigmoid(r_pre)
            h_pre = xh + r * hh
            z = sigmoid(z_pre)
            h = z * h_prev + (1.0 - z) * np.tanh(h_pre)
            cache.append((t, x, h_prev, z_pre, r_pre, h_pre, hh))
        H[:, t] = h
    return H, cache


def cell_backward(kind, cache, dH, W, U, b, activation="tanh", truncate=0):
    """``(dX, dW, dU, db)`` from ∂loss/∂h of every step, ``dH`` (n, T, u), through time.

    With ``truncate`` = k > 0, no gradient passes through the state from a
    step whose position in the order of reading is a multiple of k to the
    step before it (truncated back-propagation through time).
    """
    n, steps, units = dH.shape
    dX = np.zeros((n, steps, W.shape[0]))
    dW, dU, db = np.zeros_like(W), np.zeros_like(U), np.zeros_like(b)
    dh_next = np.zeros((n, units))
    dc_next = np.zeros((n, units))
    for position, entry in reversed(list(enumerate(cache))):
        t, x, h_prev = entry[:3]
        dh = dh_next + dH[:, t]
        if kind == "simple_rnn":
            (z,) = entry[3:]
            dz = dh * ACTIVATIONS[activation][1](z)
            dz_rec = dz
            dh_next = dz @ U.T
            db += dz.sum(axis=0)
        elif kind == "lstm":
            c_prev, zi, zf, zc, zo, c = entry[3:]
            do = dh * np.tanh(c)
            dc = dc_next + dh * sigmoid(zo) * (1.0 - np.tanh(c) ** 2)
            dzi = dc * np.tanh(zc) * sigmoid(zi) * (1.0 - sigmoid(zi))
            dzf = dc * c_prev * sigmoid(zf) * (1.0 - sigmoid(zf))
            dzc = dc * sigmoid(zi) * (1.0 - np.tanh(zc) ** 2)
            dzo = do * sigmoid(zo) * (1.0 - sigmoid(zo))
            dc_next = dc * sigmoid(zf)
            dz = np.concatenate([dzi, dzf, dzc, dzo], axis=1)
            dz_rec = dz
            dh_next = dz @ U.T
            db += dz.sum(axis=0)
        else:
            z_pre, r_pre, h_pre, hh = entry[3:]
            z, r = sigmoid(z_pre), sigmoid(r_pre)
            dz_pre = dh * (h_prev - np.tanh(h_pre)) * z * (1.0 - z)
            dh_pre = dh * (1.0 - z) * (1.0 - np.tanh(h_pre) ** 2)
            dr_pre = dh_pre * hh * r * (1.0 - r)
            dz = np.concatenate([dz_pre, dr_pre, dh_pre], axis=1)
            dz_rec = np.concatenate([dz_pre, dr_pre, dh_pre * r], axis=1)
            dh_next = dh * z + dz_rec @ U.T
            db[0] += dz.sum(axis=0)
            db[1] += dz_rec.sum(axis=0)
        dW += x.T @ dz
        dU += h_prev.T @ dz_rec
        dX[:, t] = dz @ W.T
        if truncate and position % truncate == 0:
            dh_next = np.zeros_like(dh_next)
            dc_next = np.zeros_like(dc_next)
    return dX, dW, dU, db


def recurrent_forward(kind, X, directions, return_sequences, activation="tanh", initial=None):
    """A layer of one or two directions: ``directions`` is a list of ``(W, U, b)``; returns (output, caches).

    ``initial``: the forward direction's state before its first step (see :func:`cell_forward`).
    """
    outputs, caches = [], []
    for d, (W, U, b) in enumerate(directions):
        H, cache = cell_forward(kind, X, W, U, b, activation, reverse=d == 1, initial=initial if d == 0 else None)
        caches.append(cache)
        outputs.append(H if return_sequences else H[:, 0 if d == 1 else -1])
    return np.concatenate(outputs, axis=-1), caches


def recurrent_backward(kind, caches, dout, directions, return_sequences, steps, activation="tanh", truncate=0):
    """``(dX, [(dW, dU, db) per direction])`` from ∂loss/∂(the layer's output)."""
    n = dout.shape[0]
    dX = 0.0
    grads = []
    for d, ((W, U, b), cache) in enumerate(zip(directions, caches)):
        units = U.shape[0]
        part = dout[..., d * units : (d + 1) * units]
        if return_sequences:
            dH = part
        else:
            dH = np.zeros((n, steps, units))
            dH[:, 0 if d == 1 else -1] = part
        dx, dW, dU, db = cell_backward(kind, cache, dH, W, U, b, activation, truncate)
        dX = dX + dx
        grads.append((dW, dU, db))
    return dX, grads


def dense_forward(X, W, b, activation):
    """A dense layer on the last axis."""
    z = X @ W + b
    return ACTIVATIONS[activation][0](z), z


def dense_backward(X, z, da, W, activation):
    dz = da * ACTIVATIONS[activation][1](z)
    axes = tuple(range(X.ndim - 1))
    dW = np.tensordot(X, dz, axes=(axes, axes))
    return dz @ W.T, dW, dz.sum(axis=axes)


def final_state(kind, outputs, caches):
    """``(h, c)`` of a one-direction layer after its last step (``c`` zeros but for the LSTM)."""
    h = outputs[:, -1]
    c = caches[0][-1][8] if kind == "lstm" else np.zeros_like(h)
    return h.copy(), c.copy()


def network_loss_and_grads(net, X, y, truncate=0, states=None):
    """The loss of a network of recurrent and dense layers on ``(X, y)`` and its gradient, per layer as its views.

    The network's loss: mse, the mean over examples and outputs (``y`` of
    the output's shape per example, or flat), or the cross-entropy of a
    softmax per step, the mean over examples and steps (``y`` a label per
    step, (n, steps), or non-negative targets per step, (n, steps, k)).
    ``truncate`` as for :func:`cell_backward`, in every recurrent layer.
    ``states``, a dict: each (one-direction, ``return_sequences``) recurrent
    layer ``i`` starts from ``states[i]`` (``(h, c)``, zeros if absent) and
    leaves its state after the last step there (a constant: no gradient
    flows into it), as truncated back-propagation through time carries it.
    """
    layers = net.kernel_layers
    a = X
    saved = []
    for i, layer in enumerate(layers):
        if layer.kind == "dense":
            out, z = dense_forward(a, layer.W, layer.b, layer.activation)
            saved.append((a, z))
        else:
            kind, directions, sequences, activation = describe(layer)
            initial = None if states is None else states.get(i)
            out, caches = recurrent_forward(kind, a, directions, sequences, activation, initial)
            if states is not None:
                states[i] = final_state(kind, out, caches)
            saved.append((a, caches))
        a = out
    if net.loss == "cross_entropy":  # a softmax per step: the mean over examples and steps
        z = saved[-1][1]
        logp = z - z.max(axis=-1, keepdims=True)
        logp = logp - np.log(np.exp(logp).sum(axis=-1, keepdims=True))
        t = np.eye(z.shape[-1])[y] if y.ndim == 2 else y  # labels (n, steps), or targets (n, steps, k)
        loss = float(-np.mean((t * logp).sum(axis=-1)))
        # ∂/∂z of -Σ_j t_j log p_j is p·Σt - t (p - t for rows summing to 1).
        dz_out = (a * t.sum(axis=-1, keepdims=True) - t) / (t.shape[0] * t.shape[1])
    else:
        diff = a.reshape(a.shape[0], -1) - y.reshape(a.shape[0], -1)
        loss = float(np.mean(diff**2))
        da = (2.0 * diff / diff.size).reshape(a.shape)
    grads = []
    for layer, (a_in, kept) in reversed(list(zip(layers, saved))):
        if layer.kind == "dense" and layer.activation == "softmax":
            axes = tuple(range(a_in.ndim - 1))
            dW, db = np.tensordot(a_in, dz_out, axes=(axes, axes)), dz_out.sum(axis=axes)
            da = dz_out @ layer.W.T
            grads.append((dW, db))
        elif layer.kind == "dense":
            da, dW, db = dense_backward(a_in, kept, da, layer.W, layer.activation)
            grads.append((dW, db))
        else:
            kind, directions, sequences, activation = describe(layer)
            steps = a_in.shape[1]
            da, parts = recurrent_backward(kind, kept, da, directions, sequences, steps, activation, truncate)
            grads.append(tuple(g for part in parts for g in part))
    return loss, grads[::-1]


def network_predict(net, X):
    """The network's outputs for ``X``, (n, *net.output_shape)."""
    a = X
    for layer in net.kernel_layers:
        if layer.kind == "dense":
            a, _ = dense_forward(a, layer.W, layer.b, layer.activation)
        else:
            kind, directions, sequences, activation = describe(layer)
            a, _ = recurrent_forward(kind, a, directions, sequences, activation)
    return a


def describe(layer):
    """``(kind, [(W, U, b) per direction], return_sequences, activation)`` of a jitprop recurrent layer."""
    inner = [layer.forward_layer, layer.backward_layer] if layer.kind == "bidirectional" else [layer]
    kind = inner[0].kind
    activation = getattr(inner[0], "cell_activation", "tanh")
    directions = [(cell.W.astype(np.float64), cell.U.astype(np.float64), cell.b.astype(np.float64)) for cell in inner]
    return kind, directions, inner[0].return_sequences, activation
