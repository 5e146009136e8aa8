"""Kernels compiled on their own and called through symbols (jitprop.kernels._numba.linking)."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numba import njit

from jitprop.kernels._numba.linking import NO_KERNEL, call, call_entry, entry, type_key


@njit
def _double(x, out):
    for i in range(x.shape[0]):
        out[i] = 2.0 * x[i]


@njit
def _square(x, out):
    for i in range(x.shape[0]):
        out[i] = x[i] * x[i]


@njit
def _checked_sum(x):
    if x.shape[0] == 0:
        raise ValueError("nothing to sum")
    total = 0.0
    for i in range(x.shape[0]):
        total += x[i]
    return total


@njit
def _call_directly(x, out):
    call(_double, (x, out))


@njit
def _call_entry(kernel_entry, x, out):
    call_entry(kernel_entry, (x, out), None)


@njit
def _sum_through(kernel_entry, x):
    return call_entry(kernel_entry, (x,), 0.0)


@njit
def _sum_of(x):
    return call(_checked_sum, (x,))


def test_call_runs_the_kernel_and_keeps_its_code_out_of_the_caller():
    x = np.arange(4.0)
    out = np.zeros(4)
    _call_directly(x, out)
    np.testing.assert_array_equal(out, 2 * x)
    (caller,) = _call_directly.overloads.values()
    (callee,) = _double.overloads.values()
    # The caller only declares the kernel's published symbol; the code is the callee's alone.
    assert callee.fndesc.llvm_func_name not in caller.library.get_llvm_str()
    assert "declare" in caller.library.get_llvm_str()


def test_call_returns_the_kernels_value_and_propagates_its_exception():
    assert _sum_of(np.arange(5.0)) == 10.0
    with pytest.raises(ValueError, match="nothing to sum"):
        _sum_of(np.zeros(0))


def test_an_entry_runs_its_kernel_and_the_caller_is_compiled_once_for_all_kernels():
    x = np.arange(3.0)
    out = np.zeros(3)
    _call_entry(entry(_square, x, out), x, out)
    np.testing.assert_array_equal(out, x * x)
    _call_entry(entry(_double, x, out), x, out)
    np.testing.assert_array_equal(out, 2 * x)
    assert len(_call_entry.signatures) == 1
    out[:] = -1.0
    _call_entry(NO_KERNEL, x, out)  # no kernel: nothing happens
    np.testing.assert_array_equal(out, -1.0)
    assert entry(_square, x, out) is entry(_square, np.ones(7), np.ones(7))  # made once per types


def test_an_entry_returns_the_kernels_value_and_propagates_its_exception():
    assert _sum_through(entry(_checked_sum, np.zeros(1)), np.arange(5.0)) == 10.0
    with pytest.raises(ValueError, match="nothing to sum"):
        _sum_through(entry(_checked_sum, np.zeros(1)), np.zeros(0))


def test_an_entry_for_other_types_is_refused_not_run():
    x = np.arange(3.0)
    out = np.zeros(3)
    float32_entry = entry(_double, x.astype(np.float32), out.astype(np.float32))
    with pytest.raises(RuntimeError, match="compiled for other argument types"):
        _call_entry(float32_entry, x, out)
    np.testing.assert_array_equal(out, 0.0)


def test_code_loaded_from_the_cache_publishes_the_kernels_it_calls(tmp_path):
    # A fresh process loads the caller's machine code from the cache, which
    # refers to the callee by name only: the callee (and the callee's own
    # callee) must be published first.
    (tmp_path / "cached_calls.py").write_text(
        textwrap.dedent(
            """
            import numpy as np
            from numba import njit
            from jitprop.kernels._numba.linking import NO_KERNEL, call, call_entry, entry, type_key

            @njit(cache=True)
            def triple(x):
                for i in range(x.shape[0]):
                    x[i] *= 3.0

            @njit(cache=True)
            def halve(x):
                call(triple, (x,))
                for i in range(x.shape[0]):
                    x[i] /= 2.0

            @njit(cache=True)
            def run(x):
                call(halve, (x,))

            x = np.arange(4.0)
            run(x)
            print(x.tolist(), sum(run.stats.cache_hits.values()))
            """
        )
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    runs = [
        subprocess.run([sys.executable, "cached_calls.py"], cwd=tmp_path, env=env, capture_output=True, text=True)
        for _ in range(2)
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr
    # Compiled in the first process, loaded from the cache in the second: the same results.
    assert [run.stdout.split() for run in runs] == [["[0.0,", "1.5,", "3.0,", "4.5]", hits] for hits in "01"]


def test_a_fit_compiles_only_the_kernels_its_network_uses():
    # In a fresh process: which of jitprop's kernels were compiled (or loaded
    # from the cache) for a ReLU network with a softmax output trained by Adam.
    script = textwrap.dedent(
        """
        import importlib, pkgutil
        import numpy as np
        import numba
        import jitprop as jp
        import jitprop.kernels

        X = np.random.default_rng(0).random((40, 5))
        y = np.arange(40) % 3
        net = jp.Network([jp.Dense(8, "relu"), jp.Dense(3, "softmax")], input_dim=5, loss="cross_entropy", seed=0)
        net.fit(X, y, epochs=1, batch_size=8, optimizer=jp.Adam(), verbose=0)
        net.evaluate(X, y)
        for info in pkgutil.iter_modules(jitprop.kernels.__path__):
            module = importlib.import_module("jitprop.kernels." + info.name)
            for name, value in vars(module).items():
                if isinstance(value, numba.core.registry.CPUDispatcher) and value.__module__ == module.__name__:
                    if value.signatures:
                        print(name)
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=dict(os.environ))
    assert run.returncode == 0, run.stderr
    compiled = set(run.stdout.split())
    assert {"relu_forward", "relu_derivative", "softmax_forward", "cross_entropy_loss", "adam_update"} <= compiled
    unused = {
        "sgd_update", "adamw_update", "rmsprop_update", "adagrad_update",  # other rules
        "mse_loss", "binary_cross_entropy_loss",  # other losses
        "identity_forward", "sigmoid_forward", "tanh_forward", "leaky_relu_forward", "elu_forward",
        "softplus_forward", "gelu_forward", "tanh_derivative", "sigmoid_derivative", "gelu_derivative",
        "apply_dropout", "undo_dropout",  # no dropout layer
        "add_l2_penalty", "clip_by_global_norm",  # no penalty, no clipping
        "_pack_every", "_step_chunk", "_reduce_task",  # 103 parameters: one chunk, serial
    }  # fmt: skip
    assert compiled & unused == set()


def test_a_caller_compiled_against_a_cached_kernel_publishes_what_that_kernel_calls(tmp_path):
    # Process 1 compiles `middle` (which calls `leaf` through its symbol);
    # process 2 loads `middle` from the cache and compiles `top` calling it;
    # process 3 loads `top`: every symbol on the way must be published.
    (tmp_path / "chain.py").write_text(
        textwrap.dedent(
            """
            import sys
            import numpy as np
            from numba import njit
            from jitprop.kernels._numba.linking import call
            from jitprop.kernels._numba.parallel import run_tasks

            @njit(cache=True)
            def leaf(x, task):
                x[task] += 1.0

            @njit(cache=True)
            def middle(x):
                run_tasks(leaf, x.shape[0], (x,))

            @njit(cache=True)
            def top(x):
                call(middle, (x,))
                return x.sum()

            x = np.zeros(4)
            print(middle(x) if sys.argv[1] == "middle" else top(x))
            """
        )
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    for step in ("middle", "top", "top"):
        run = subprocess.run(
            [sys.executable, "chain.py", step], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
        assert run.returncode == 0, (step, run.stderr)
    assert run.stdout.split() == ["4.0"]


def test_no_compiled_kernel_links_one_that_calls_through_symbols(first_fit):
    # The rule of kernels/_numba/linking.py: a kernel whose code calls others through
    # their symbols is itself called through its symbol. Linked into a caller
    # by a plain call instead, a copy of it loaded from the cache would leave
    # the caller's cached code without the hooks that publish those symbols.
    # Checked, in a process that compiled everything itself (code loaded from
    # the cache does not say what it linked), on every kernel that a fit, an
    # evaluation and the gradients use (tests/first_fit.py).
    run = first_fit(1)
    assert run["links"] == []
    # (Kernels of both sorts were compiled there: the check had something to check.)
    assert run["kernels_checked"] > 20 and run["kernels_publishing"] > 0, run


def _typed_examples():
    """Values whose Numba types differ in every way a kernel's arguments can: dtype, rank, layout,
    writeability, alignment, and tuples of them."""
    a = np.zeros((4, 6), dtype=np.float32)
    readonly = a.copy()
    readonly.flags.writeable = False
    misaligned = np.ndarray((5,), dtype=np.float32, buffer=bytearray(4 * 6 + 1), offset=1)
    values = [
        a, a.T, a[:, ::2], a[:, :3], a[0], a.astype(np.float64), a.astype(np.int64), readonly, readonly.T,
        misaligned, np.zeros(0), np.zeros((0, 3), dtype=np.float32), 1.0, 2, True,
    ]  # fmt: skip
    return values + [(a, a.T), (a, (a, 1.0)), (a.T, a), ((a, a), 1.0)]


def test_equal_type_keys_mean_equal_numba_types():
    import numba

    values = _typed_examples()
    for x in values:
        for y in values:
            if type_key(x) == type_key(y):
                assert numba.typeof(x) == numba.typeof(y)


def test_arrays_of_one_numba_type_made_alike_have_one_type_key():
    a = np.zeros((4, 6), dtype=np.float32)
    assert type_key(a) == type_key(np.ones((7, 2), dtype=np.float32)) == type_key(a.copy())
    assert type_key((a, 1.0)) == type_key((a.copy(), 2.0))
