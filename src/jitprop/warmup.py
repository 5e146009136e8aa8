"""Compiling the kernels ahead of time."""

import numpy as np


def warmup(dtypes=("float32", "float64")):
    """Compile (or load from the on-disk cache) every kernel training uses.

    Kernels are compiled once per process and dtype, on first use; the
    compiled code is cached on disk, so later processes only load it. Call
    this at start-up to keep that cost out of the first ``fit``.

    Parameters
    ----------
    dtypes : iterable of {"float32", "float64"}

    Returns
    -------
    float
        Seconds spent.
    """
    import time

    from .layers import Dense
    from .network import Network
    from .optimizers import SGD

    started = time.perf_counter()
    rng = np.random.default_rng(0)
    X = rng.random((600, 4))
    labels = rng.integers(0, 3, 600)
    for dtype in dtypes:
        # Wide enough that a batch of 600 is cut into tiles that run in
        # parallel (smaller networks run whole batches as one tile).
        net = Network([Dense(256, "relu"), Dense(3, "softmax")], input_dim=4, loss="cross_entropy", dtype=dtype, seed=0)
        # A batch of several tiles and batches of one tile: the two ways an
        # epoch runs; each without and with gradient clipping, which compiles
        # the epoch's code for an L2 penalty too.
        for clip_norm in (None, 1.0):
            net.fit(X, labels, epochs=1, batch_size=600, optimizer=SGD(lr=0.01), clip_norm=clip_norm, verbose=0)
            net.fit(X[:10], labels[:10], epochs=1, batch_size=2, clip_norm=clip_norm, verbose=0)
        net.loss_and_grads(X, labels)
        net.evaluate(X, labels)
        net.predict(X)
    return time.perf_counter() - started
