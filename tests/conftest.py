"""Seeded fixtures shared by the test modules.

Every random number in the suite comes from a generator seeded here, so a
failure reproduces exactly. Two dtypes are used throughout (float32 and
float64): each costs one compilation of the kernels with a cold Numba cache.

Compiled kernels are cached in the repository's ``.numba_cache/`` rather
than the user's cache directory. jitprop keys that cache by a hash of all
kernel sources itself (``kernels/_numba/cache.py``), so a test run after an
edit of any kernel compiles afresh.
"""

import os
from pathlib import Path

# Before numba is imported (it reads the variable once).
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".numba_cache"))

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


@pytest.fixture(scope="session")
def digits():
    """The 1797 8x8 digits shipped with jitprop: pixels scaled to [0, 1] and int labels."""
    from jitprop.io.datasets import load_digits

    return load_digits()


@pytest.fixture
def blobs(rng):
    """240 examples of 6 features in 3 separable classes (see helpers.make_blobs)."""
    from helpers import make_blobs

    return make_blobs(rng)


@pytest.fixture
def classifier():
    """A small float64 classifier: 5 inputs, 4 ReLU units, 3 softmax outputs (see helpers.make_classifier)."""
    from helpers import make_classifier

    return make_classifier(features=5, hidden=4, dtype="float64")


@pytest.fixture
def parallel_tiles(monkeypatch):
    """Let the small networks of a test take the multi-tile (parallel) path.

    Production batches under ``tuning.SERIAL_WORK`` rows x parameters run
    serially; the kernels are the same either way, so lowering the threshold
    exercises the parallel path without large networks.
    """
    import jitprop.kernels.tuning

    monkeypatch.setattr(jitprop.kernels.tuning, "SERIAL_WORK", 1 << 12)


@pytest.fixture(scope="session")
def first_fit(tmp_path_factory):
    """Run ``tests/first_fit.py`` in a fresh process with an empty Numba cache; its JSON, by compiling processes.

    ``first_fit(1)`` compiles everything in the fit's own process
    (``JITPROP_COMPILE_PROCESSES=1``), ``first_fit(2)`` with the help of a
    second process. Each runs once per test session: a whole first compile
    is the longest thing a test waits for.
    """
    import json
    import subprocess
    import sys

    runs = {}

    def run(processes):
        if processes not in runs:
            cache = tmp_path_factory.mktemp(f"first-fit-{processes}")
            env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), JITPROP_COMPILE_PROCESSES=str(processes))
            script = Path(__file__).with_name("first_fit.py")
            done = subprocess.run([sys.executable, script], env=env, capture_output=True, text=True, timeout=900)
            assert done.returncode == 0, done.stderr
            runs[processes] = json.loads(done.stdout)
        return runs[processes]

    return run
