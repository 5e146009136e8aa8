"""Kernels compiled in a second process while this one compiles others (jitprop/kernels/_numba/background.py)."""

import os
import signal

import numpy as np
import pytest
from numba import njit

from jitprop.kernels._numba import background


def test_a_first_fit_loads_the_tile_a_second_process_compiled_and_trains_the_same(first_fit):
    # (tests/first_fit.py: a first fit with an empty cache, in a fresh process.)
    in_two = first_fit(2)
    in_one = first_fit(1)
    # The fit's process compiled the tile itself only when told to use one process.
    assert (in_two["tile_compiled_here"], in_two["tile_loaded"]) == (0, 1)
    assert (in_one["tile_compiled_here"], in_one["tile_loaded"]) == (1, 0)
    # The same machine code either way: the same bits.
    for result in ("params", "val_loss", "scores", "loss", "grads"):
        assert in_two[result] == in_one[result], result


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
