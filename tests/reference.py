"""A plain-NumPy feed-forward network: the reference every jitprop result is checked against.

Written the straightforward way, in float64, one formula per line, with no
code taken from jitprop: a layer computes ``a = f(x @ W + b)`` with examples
as rows; the loss is a mean as documented in :mod:`jitprop.losses`; the
backward pass applies the chain rule layer by layer. Derivatives of the
activations are written in terms of ``z`` (jitprop uses ``a`` where that is
cheaper), so the two cannot share a mistake.

A network here is just ``params``, a list of ``(W, b)`` with ``W`` of shape
(fan_in, fan_out), plus a list of activation names (and their ``alpha``) and
a loss name.
"""

import math

import numpy as np

DEFAULT_ALPHA = {"leaky_relu": 0.01, "elu": 1.0}

_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def sigmoid(z):
    """1 / (1 + e^-z), evaluated without overflow for either sign of z."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softmax(z):
    """Row-wise softmax, shifted by the row maximum."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def log_softmax(z):
    """Row-wise log softmax: z − log-sum-exp(z), shifted by the row maximum."""
    z = np.asarray(z, dtype=np.float64)
    top = z.max(axis=1, keepdims=True)
    return z - top - np.log(np.exp(z - top).sum(axis=1, keepdims=True))


def std_normal_cdf(z):
    """Φ(z) = erfc(−z/√2) / 2, accurate in both tails."""
    return 0.5 * _erfc(-np.asarray(z, dtype=np.float64) / math.sqrt(2.0))


def std_normal_pdf(z):
    z = np.asarray(z, dtype=np.float64)
    return np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def activation(name, z, alpha=None):
    """f(z) for an element-wise activation, or softmax over rows."""
    z = np.asarray(z, dtype=np.float64)
    alpha = DEFAULT_ALPHA.get(name, 0.0) if alpha is None else alpha
    if name == "identity":
        return z.copy()
    if name == "sigmoid":
        return sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, alpha * z)
    if name == "elu":
        return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0)))
    if name == "softplus":
        # log(1 + e^z) = max(z, 0) + log(1 + e^-|z|)
        return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))
    if name == "gelu":
        return z * std_normal_cdf(z)
    if name == "softmax":
        return softmax(z)
    if name == "exp":
        return np.exp(z)
    raise ValueError(f"reference: unknown activation {name!r}")


def derivative(name, z, alpha=None):
    """f'(z) element-wise (not defined for softmax, whose Jacobian is not diagonal).

    At a kink (z = 0) the derivative from the left is used: relu' = 0, leaky_relu' = alpha.
    """
    z = np.asarray(z, dtype=np.float64)
    alpha = DEFAULT_ALPHA.get(name, 0.0) if alpha is None else alpha
    if name == "identity":
        return np.ones_like(z)
    if name == "sigmoid":
        s = sigmoid(z)
        return s * (1.0 - s)
    if name == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if name == "relu":
        return np.where(z > 0, 1.0, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, alpha)
    if name == "elu":
        return np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0.0)))
    if name == "softplus":
        return sigmoid(z)
    if name == "gelu":
        return std_normal_cdf(z) + z * std_normal_pdf(z)
    if name == "exp":
        return np.exp(z)
    raise ValueError(f"reference: no element-wise derivative for {name!r}")


def softmax_jacobian_vector(z, v):
    """Rows of J(z) @ v, with J = diag(p) − p pᵀ the Jacobian of softmax (symmetric)."""
    p = softmax(z)
    out = np.empty_like(p)
    for r in range(p.shape[0]):
        jac = np.diag(p[r]) - np.outer(p[r], p[r])
        out[r] = jac @ v[r]
    return out


def targets_as_rows(y, loss, n_outputs):
    """y as float64 rows of shape (n, n_outputs): labels become one-hot rows."""
    y = np.asarray(y)
    if loss == "cross_entropy" and y.ndim == 1:
        return np.eye(n_outputs)[y.astype(np.int64)]
    return np.asarray(y, dtype=np.float64).reshape(y.shape[0], n_outputs)


def forward(params, activations, X, alphas=None):
    """Pre-activations ``zs`` and activations ``acts`` of every layer (``acts[0]`` is X)."""
    alphas = alphas or [None] * len(params)
    acts = [np.asarray(X, dtype=np.float64)]
    zs = []
    for (W, b), name, alpha in zip(params, activations, alphas):
        z = acts[-1] @ np.asarray(W, dtype=np.float64) + np.asarray(b, dtype=np.float64)
        zs.append(z)
        acts.append(activation(name, z, alpha))
    return zs, acts


def predict(params, activations, X, alphas=None):
    return forward(params, activations, X, alphas)[1][-1]


def loss_value(loss, z, a, t):
    """Mean loss of output pre-activations ``z`` / activations ``a`` against target rows ``t``."""
    n, k = z.shape
    if loss == "mse":
        return np.sum((t - a) ** 2) / (n * k)
    if loss == "cross_entropy":
        return -np.sum(t * log_softmax(z)) / n
    if loss == "binary_cross_entropy":
        # −t log σ(z) − (1 − t) log(1 − σ(z)) = softplus(z) − t z
        return np.sum(activation("softplus", z) - t * z) / (n * k)
    if loss == "poisson":
        # Half the Poisson deviance of the mean μ = e^z: t log(t / μ) − t + μ, with 0 log 0 = 0.
        mu = np.exp(z)
        t_log_t = np.where(t > 0, t * np.log(np.where(t > 0, t, 1.0)), 0.0)
        return np.sum(t_log_t - t * z - t + mu) / (n * k)
    raise ValueError(f"reference: unknown loss {loss!r}")


def output_delta(loss, output_activation, z, a, t, alpha=None):
    """∂(mean loss)/∂z of the output layer."""
    n, k = z.shape
    if loss == "mse":
        d_a = 2.0 * (a - t) / (n * k)
        if output_activation == "softmax":
            return softmax_jacobian_vector(z, d_a)
        return d_a * derivative(output_activation, z, alpha)
    if loss == "cross_entropy":
        # ∂/∂z_j of −Σ_i t_i (z_i − lse(z)) = p_j Σ_i t_i − t_j
        p = softmax(z)
        return (p * t.sum(axis=1, keepdims=True) - t) / n
    if loss == "binary_cross_entropy":
        return (sigmoid(z) - t) / (n * k)
    if loss == "poisson":
        return (np.exp(z) - t) / (n * k)
    raise ValueError(f"reference: unknown loss {loss!r}")


def accuracy(loss, z, t):
    """Fraction correct, as jitprop defines it for its classification losses (None for mse)."""
    if loss == "cross_entropy":
        return float(np.mean(np.argmax(z, axis=1) == np.argmax(t, axis=1)))
    if loss == "binary_cross_entropy":
        return float(np.mean((z > 0) == (t > 0.5)))
    return None


def evaluate(params, activations, loss, X, y, alphas=None):
    """``{"loss": ..., "accuracy": ...}`` (accuracy only for classification losses)."""
    zs, acts = forward(params, activations, X, alphas)
    t = targets_as_rows(y, loss, zs[-1].shape[1])
    out = {"loss": loss_value(loss, zs[-1], acts[-1], t)}
    acc = accuracy(loss, zs[-1], t)
    if acc is not None:
        out["accuracy"] = acc
    return out


def loss_and_grads(params, activations, loss, X, y, alphas=None):
    """Mean loss and its gradient ``[(dW, db), ...]`` by the chain rule."""
    alphas = alphas or [None] * len(params)
    zs, acts = forward(params, activations, X, alphas)
    t = targets_as_rows(y, loss, zs[-1].shape[1])
    value = loss_value(loss, zs[-1], acts[-1], t)
    delta = output_delta(loss, activations[-1], zs[-1], acts[-1], t, alphas[-1])
    grads = [None] * len(params)
    for i in range(len(params) - 1, -1, -1):
        grads[i] = (acts[i].T @ delta, delta.sum(axis=0))
        if i > 0:
            W = np.asarray(params[i][0], dtype=np.float64)
            delta = (delta @ W.T) * derivative(activations[i - 1], zs[i - 1], alphas[i - 1])
    return value, grads


def numerical_grads(params, activations, loss, X, y, alphas=None, h=1e-6):
    """Central differences of the reference loss, for checking the reference itself."""
    params = [(np.array(W, dtype=np.float64), np.array(b, dtype=np.float64)) for W, b in params]

    def f():
        return evaluate(params, activations, loss, X, y, alphas)["loss"]

    grads = []
    for W, b in params:
        pair = []
        for p in (W, b):
            g = np.zeros_like(p)
            for idx in np.ndindex(p.shape):
                old = p[idx]
                p[idx] = old + h
                up = f()
                p[idx] = old - h
                down = f()
                p[idx] = old
                g[idx] = (up - down) / (2 * h)
            pair.append(g)
        grads.append(tuple(pair))
    return grads


def sgd(params, grads, velocity, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    """One SGD step in the PyTorch formulation, on lists of arrays; returns (params, velocity)."""
    new_params, new_velocity = [], []
    for p, g, v in zip(params, grads, velocity):
        g = g + weight_decay * p
        if momentum == 0.0:
            new_params.append(p - lr * g)
            new_velocity.append(v)
            continue
        v = momentum * v + g
        step = g + momentum * v if nesterov else v
        new_params.append(p - lr * step)
        new_velocity.append(v)
    return new_params, new_velocity


# ------------------------------------------------------- convolution and pooling
# Examples are channels-last, (n, H, W, C); one spatial axis is H = 1.


def same_padding(size, kernel, stride):
    """Zeros (before, after) of Keras' "same": ceil(size / stride) outputs, the smaller half of the zeros before."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def pad_amounts(padding, size, kernel, stride):
    """Zeros (before, after) of one axis for a padding of "valid", "same" or an int on each side."""
    if padding == "valid":
        return 0, 0
    if padding == "same":
        return same_padding(size, kernel, stride)
    return padding, padding


def conv2d(x, W, b, strides, pads):
    """z[n, i, j, o] = b[o] + Σ W[u, v, c, o] · x_padded[n, i·sh + u, j·sw + v, c], position by position.

    ``pads`` is ((top, bottom), (left, right)) zeros.
    """
    x = np.asarray(x, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    kh, kw, _, c_out = W.shape
    sh, sw = strides
    padded = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    h_out = (padded.shape[1] - kh) // sh + 1
    w_out = (padded.shape[2] - kw) // sw + 1
    z = np.zeros((x.shape[0], h_out, w_out, c_out))
    for i in range(h_out):
        for j in range(w_out):
            window = padded[:, i * sh : i * sh + kh, j * sw : j * sw + kw, :]
            z[:, i, j, :] = np.einsum("nuvc,uvco->no", window, W) + b
    return z


def conv2d_backward(x, W, dz, strides, pads):
    """(dx, dW, db) of :func:`conv2d` for ``dz = ∂loss/∂z``, window by window."""
    x = np.asarray(x, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    kh, kw = W.shape[:2]
    sh, sw = strides
    padded = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    d_padded = np.zeros_like(padded)
    dW = np.zeros_like(W)
    for i in range(dz.shape[1]):
        for j in range(dz.shape[2]):
            window = padded[:, i * sh : i * sh + kh, j * sw : j * sw + kw, :]
            dW += np.einsum("nuvc,no->uvco", window, dz[:, i, j, :])
            d_padded[:, i * sh : i * sh + kh, j * sw : j * sw + kw, :] += np.einsum("uvco,no->nuvc", W, dz[:, i, j, :])
    dx = d_padded[:, pads[0][0] : pads[0][0] + x.shape[1], pads[1][0] : pads[1][0] + x.shape[2], :]
    return dx, dW, dz.sum(axis=(0, 1, 2))


def pool2d(x, pool, strides, kind):
    """Max or mean ("max", "avg") of each window of each channel, windows inside the input."""
    x = np.asarray(x, dtype=np.float64)
    (kh, kw), (sh, sw) = pool, strides
    h_out = (x.shape[1] - kh) // sh + 1
    w_out = (x.shape[2] - kw) // sw + 1
    z = np.zeros((x.shape[0], h_out, w_out, x.shape[3]))
    for i in range(h_out):
        for j in range(w_out):
            window = x[:, i * sh : i * sh + kh, j * sw : j * sw + kw, :]
            z[:, i, j, :] = window.max(axis=(1, 2)) if kind == "max" else window.mean(axis=(1, 2))
    return z


def pool2d_backward(x, dz, pool, strides, kind):
    """∂loss/∂x of :func:`pool2d`: max passes each delta to the first maximum of its window (row by row)."""
    x = np.asarray(x, dtype=np.float64)
    (kh, kw), (sh, sw) = pool, strides
    dx = np.zeros_like(x)
    for n in range(x.shape[0]):
        for i in range(dz.shape[1]):
            for j in range(dz.shape[2]):
                for c in range(x.shape[3]):
                    window = x[n, i * sh : i * sh + kh, j * sw : j * sw + kw, c]
                    if kind == "max":
                        u, v = np.unravel_index(np.argmax(window), window.shape)  # the first maximum
                        dx[n, i * sh + u, j * sw + v, c] += dz[n, i, j, c]
                    else:
                        dx[n, i * sh : i * sh + kh, j * sw : j * sw + kw, c] += dz[n, i, j, c] / (kh * kw)
    return dx


def sequential_forward(layers, X):
    """Run ``layers`` (dicts, see :func:`sequential_loss_and_grads`) on ``X``: per layer (input, z, a)."""
    x = np.asarray(X, dtype=np.float64)
    trace = []
    for layer in layers:
        kind = layer["kind"]
        if kind == "conv":
            pads = [
                pad_amounts(p, size, k, s)
                for p, size, k, s in zip(layer["padding"], x.shape[1:3], layer["W"].shape[:2], layer["strides"])
            ]
            z = conv2d(x, layer["W"], layer["b"], layer["strides"], pads)
        elif kind in ("max", "avg"):
            z = pool2d(x, layer["pool"], layer["strides"], kind)
        elif kind == "global_avg":
            z = x.mean(axis=(1, 2))
        elif kind == "flatten":
            z = x.reshape(x.shape[0], -1)
        else:
            z = x @ np.asarray(layer["W"], dtype=np.float64) + np.asarray(layer["b"], dtype=np.float64)
        name = layer.get("activation", "identity")
        a = activation(name, z.reshape(z.shape[0], -1), layer.get("alpha")).reshape(z.shape)
        trace.append((x, z, a))
        x = a
    return trace


def sequential_loss_and_grads(layers, loss, X, y):
    """Mean loss of a network of convolution, pooling, flatten and dense layers, and its gradient by the chain rule.

    Each layer is a dict: ``{"kind": "conv", "W", "b", "strides", "padding" (per axis: "valid", "same" or an
    int), "activation", "alpha"}``, ``{"kind": "max" or "avg", "pool", "strides"}``, ``{"kind": "global_avg"}``,
    ``{"kind": "flatten"}``, ``{"kind": "dense", "W", "b", "activation", "alpha"}``. Returns the loss and
    ``[(dW, db)]`` of the layers with weights, in order.
    """
    trace = sequential_forward(layers, X)
    _, z_out, a_out = trace[-1]
    n = z_out.shape[0]
    z_flat, a_flat = z_out.reshape(n, -1), a_out.reshape(n, -1)
    t = targets_as_rows(y, loss, z_flat.shape[1])
    value = loss_value(loss, z_flat, a_flat, t)
    last = layers[-1]
    delta = output_delta(loss, last.get("activation", "identity"), z_flat, a_flat, t, last.get("alpha"))
    delta = delta.reshape(z_out.shape)  # ∂loss/∂z of the last layer
    grads = []
    for index in range(len(layers) - 1, -1, -1):
        layer = layers[index]
        x, z, _ = trace[index]
        if index < len(layers) - 1:
            delta = delta * derivative(layer.get("activation", "identity"), z, layer.get("alpha"))
        kind = layer["kind"]
        if kind == "conv":
            pads = [
                pad_amounts(p, size, k, s)
                for p, size, k, s in zip(layer["padding"], x.shape[1:3], layer["W"].shape[:2], layer["strides"])
            ]
            dx, dW, db = conv2d_backward(x, layer["W"], delta, layer["strides"], pads)
            grads.append((dW, db))
        elif kind in ("max", "avg"):
            dx = pool2d_backward(x, delta, layer["pool"], layer["strides"], kind)
        elif kind == "global_avg":
            dx = np.broadcast_to(delta[:, None, None, :] / (x.shape[1] * x.shape[2]), x.shape).copy()
        elif kind == "flatten":
            dx = delta.reshape(x.shape)
        else:
            grads.append((x.T @ delta, delta.sum(axis=0)))
            dx = delta @ np.asarray(layer["W"], dtype=np.float64).T
        delta = dx  # ∂loss/∂a of the layer before
    return value, grads[::-1]
