"""Compilation: what a user waits for before the first epoch, each in a fresh Python process.

The one place where compilation is timed. A first ``fit`` of a W1-shaped
network (784-256-128-10, float32, 2,000 examples, batch 128) including
``import jitprop``:

* ``cold``: with an empty Numba cache, as after installing jitprop or
  changing a kernel: every kernel the fit needs is compiled. The cache
  directory is a fresh temporary one (``NUMBA_CACHE_DIR``), so there is
  nothing to load and nothing is kept;
* ``warm``: with the on-disk cache filled, as every later run of a program
  sees it: the kernels are loaded, not compiled;

and ``import jitprop`` alone.

asv's ``timeraw_`` benchmarks run the returned code in a new interpreter and
time it (``stmt``; the ``setup`` part is not timed).
"""

import os
import subprocess
import sys

from . import common  # noqa: F401  (chooses the Numba cache of a source tree)

FIRST_FIT = """
import numpy as np
import jitprop as jp
rng = np.random.default_rng(0)
X = rng.random((2000, 784), dtype=np.float32)
y = rng.integers(0, 10, 2000)
net = jp.Network([jp.Dense(256, "relu"), jp.Dense(128, "relu"), jp.Dense(10, "softmax")],
                 784, "cross_entropy", dtype="float32", seed=0)
net.fit(X, y, epochs=1, batch_size=128, optimizer=jp.SGD(lr=0.01), verbose=0)
"""

# Not timed: an empty cache directory for this process only, removed when it exits.
EMPTY_CACHE = """
import atexit, os, shutil, tempfile
cache = tempfile.mkdtemp(prefix="jitprop-asv-cold-")
atexit.register(shutil.rmtree, cache, True)
os.environ["NUMBA_CACHE_DIR"] = cache
"""


class ColdFirstFit:
    """Seconds for ``import jitprop`` and a first W1 fit that compiles every kernel it uses."""

    # Half a minute or more per sample: one per round.
    repeat = 1
    number = 1
    timeout = 600

    def timeraw_cold_first_fit(self):
        return FIRST_FIT, EMPTY_CACHE


class WarmFirstFit:
    """Seconds for ``import jitprop`` and a first W1 fit with every kernel in the on-disk cache.

    ``setup`` runs the same fit once in another process to fill the cache
    (the cache ``common`` chooses for a source tree, or Numba's own).
    """

    repeat = (1, 5, 20.0)
    number = 1
    timeout = 600

    def setup(self):
        subprocess.run([sys.executable, "-c", FIRST_FIT], check=True, env=dict(os.environ))

    def timeraw_warm_first_fit(self):
        return FIRST_FIT


class Import:
    """Seconds for ``import jitprop`` alone, in a fresh interpreter (no kernel is compiled or loaded)."""

    repeat = (1, 5, 20.0)
    number = 1
    timeout = 120

    def timeraw_import(self):
        return "import jitprop"
