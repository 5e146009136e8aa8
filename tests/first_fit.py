"""A first fit in a fresh process: run by tests, with an empty Numba cache, as ``python first_fit.py``.

Prints one JSON object: how the tile kernel came to this process (compiled
here or loaded from the cache), the trained parameters and validation
losses, and ``links``: each kernel compiled here that links, as plain code,
a kernel whose code calls others through their symbols (the rule of
``jitprop/kernels/_numba/linking.py`` is that none does), with how many
kernels were checked and how many of them call through symbols. The fit uses
dropout, clipping, Adam and validation data, then an evaluation and the
gradients, so that every kernel those use is compiled.
"""

import importlib
import json
import pkgutil

import numpy as np
from numba.core.registry import CPUDispatcher

import jitprop as jp
import jitprop.kernels
from jitprop.kernels._numba.linking import Publish
from jitprop.kernels.tile import run_tile


def _links():
    """What the rule of linking.py concerns, of the kernels compiled in this process.

    Returns ``(checked, publishing, links)``: the number of kernels
    compiled here, of those whose code calls others through their symbols,
    and ``"<kernel> links <kernel>"`` for each that links one of the latter.
    """
    publishes = {}  # library of a kernel whose code calls others through their symbols -> its name
    kernels = []
    for info in pkgutil.iter_modules(jitprop.kernels.__path__):
        module = importlib.import_module("jitprop.kernels." + info.name)
        for name, value in vars(module).items():
            if isinstance(value, CPUDispatcher) and value.__module__ == module.__name__:
                for result in value.overloads.values():
                    kernels.append((info.name + "." + name, result))
                    if any(isinstance(hook, Publish) for hook in result.reload_init):
                        publishes[result.library] = info.name + "." + name
    # (Code loaded from the cache does not say what it linked: only what was compiled here is checked.)
    links = [
        f"{name} links {publishes[library]}"
        for name, result in kernels
        for library in result.library._linking_libraries
        if library in publishes
    ]
    return len(kernels), len(publishes), links


rng = np.random.default_rng(0)
X = rng.random((200, 6)).astype(np.float32)
y = rng.integers(0, 3, 200)
layers = [jp.Dense(16, "relu"), jp.Dropout(0.1), jp.Dense(3, "softmax")]
net = jp.Network(layers, 6, "cross_entropy", seed=0)
fit = dict(epochs=2, batch_size=64, optimizer=jp.Adam(), clip_norm=1.0, validation_split=0.2, verbose=0)
history = net.fit(X, y, **fit)
scores = net.evaluate(X, y)
loss, grads = net.loss_and_grads(X, y)
checked, publishing, links = _links()
print(
    json.dumps(
        {
            "tile_compiled_here": sum(run_tile.stats.cache_misses.values()),
            "tile_loaded": sum(run_tile.stats.cache_hits.values()),
            "params": net.params.tobytes().hex(),
            "val_loss": history["val_loss"],
            "scores": scores,
            "loss": float(loss),
            "grads": b"".join(np.asarray(g).tobytes() for layer in grads for g in layer).hex(),
            "kernels_checked": checked,
            "kernels_publishing": publishing,
            "links": links,
        }
    )
)
