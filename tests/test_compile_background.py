"""Kernels compiled in a second process while this one compiles others (jitprop/kernels/_numba/background.py)."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numba import njit

from jitprop.kernels._numba import background

# A first fit in a fresh process: which process compiled the tile, and the result.
_FIRST_FIT = textwrap.dedent(
    """
    import json
    import numpy as np
    import jitprop as jp
    from jitprop.kernels.tile import run_tile

    rng = np.random.default_rng(0)
    X = rng.random((200, 6)).astype(np.float32)
    y = rng.integers(0, 3, 200)
    net = jp.Network([jp.Dense(16, "relu"), jp.Dense(3, "softmax")], 6, "cross_entropy", seed=0)
    history = net.fit(X, y, epochs=2, batch_size=64, optimizer=jp.Adam(), validation_split=0.2, verbose=0)
    print(json.dumps({
        "tile_compiled_here": sum(run_tile.stats.cache_misses.values()),
        "tile_loaded": sum(run_tile.stats.cache_hits.values()),
        "params": net.params.tobytes().hex(),
        "val_loss": history["val_loss"],
    }))
    """
)


def _first_fit(tmp_path, name, **env):
    environment = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / name), **env)
    run = subprocess.run(
        [sys.executable, "-c", _FIRST_FIT], env=environment, capture_output=True, text=True, timeout=900
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_a_first_fit_loads_the_tile_a_second_process_compiled_and_trains_the_same(tmp_path):
    in_two = _first_fit(tmp_path, "two")
    in_one = _first_fit(tmp_path, "one", JITPROP_COMPILE_PROCESSES="1")
    # With an empty cache, the fit's process compiled the tile itself only when told to use one process.
    assert (in_two["tile_compiled_here"], in_two["tile_loaded"]) == (0, 1)
    assert (in_one["tile_compiled_here"], in_one["tile_loaded"]) == (1, 0)
    # The same machine code either way: the same bits.
    assert in_two["params"] == in_one["params"]
    assert in_two["val_loss"] == in_one["val_loss"]


@njit(cache=True)
def _add_one(x):
    for i in range(x.shape[0]):
        x[i] += 1.0


def test_no_second_process_for_kernels_already_compiled(monkeypatch):
    started = []
    monkeypatch.setattr(background, "_start", lambda pending: started.append(pending))
    monkeypatch.setattr(background, "_may_start", lambda: True)
    x = np.zeros(3)
    _add_one(x)
    with background.compiling_in_background([(_add_one, (x,))]):
        pass
    assert started == []
    np.testing.assert_array_equal(x, 1.0)


def test_a_failing_second_process_costs_nothing_but_its_time(monkeypatch):
    # The child is handed a kernel it cannot find: it fails, and this process compiles as it would without it.
    @njit
    def add_two(x):
        for i in range(x.shape[0]):
            x[i] += 2.0

    children = []
    start = background._start
    monkeypatch.setattr(background, "_start", lambda pending: children.append(start(pending)) or children[-1])
    monkeypatch.setattr(background, "_may_start", lambda: True)
    x = np.zeros(3)
    with background.compiling_in_background([(add_two, (x,))]):
        pass
    assert len(children) == 1 and children[0].returncode != 0
    add_two(x)
    np.testing.assert_array_equal(x, 2.0)


def test_one_process_when_told_so_or_when_inside_the_second(monkeypatch):
    monkeypatch.setenv("JITPROP_COMPILE_PROCESSES", "1")
    assert not background._may_start()
    monkeypatch.delenv("JITPROP_COMPILE_PROCESSES")
    monkeypatch.setenv(background._CHILD, "1")
    assert not background._may_start()


def test_one_process_when_the_cache_is_this_process_own(monkeypatch):
    # A cache in a private temporary directory (nothing shared was writable): a child would fill its own.
    monkeypatch.delenv("JITPROP_COMPILE_PROCESSES", raising=False)
    monkeypatch.delenv(background._CHILD, raising=False)
    monkeypatch.setattr(background.cache, "is_shared", lambda: False)
    assert not background._may_start()


def test_the_second_process_is_stopped_when_the_first_fails(monkeypatch):
    children = []
    start = background._start
    monkeypatch.setattr(background, "_start", lambda pending: children.append(start(pending)) or children[-1])
    monkeypatch.setattr(background, "_may_start", lambda: True)

    @njit
    def add_three(x):
        for i in range(x.shape[0]):
            x[i] += 3.0

    x = np.zeros(3)
    with pytest.raises(KeyboardInterrupt):
        with background.compiling_in_background([(add_three, (x,))]):
            raise KeyboardInterrupt
    # Killed at once (it had barely started Python) and reaped, not left running.
    assert len(children) == 1 and children[0].returncode == (-signal.SIGKILL if os.name == "posix" else 1)
