"""The compiled kernels, called directly, against NumPy and tests/reference.py."""

import itertools
import os
import subprocess
import sys

import numba
import numpy as np
import pytest

import reference as ref
from helpers import ALL_ACTIVATIONS, HIDDEN_ACTIVATIONS
from jitprop.activations import ACTIVATIONS
from jitprop.kernels import activations as kact
from jitprop.kernels import optimizers as kopt
from jitprop.kernels.matmul import matmul_nt
from jitprop.kernels.panels import PANEL_ROWS, matmul_tn, pack_columns, pack_rows, padded_width
from jitprop.kernels.step import sum_and_update

DTYPES = ["float32", "float64"]

# 1 and odd sizes test the 4-row / 4-column remainders; 67 and 130 cross the
# 64-column block of matmul_nt (130 = 2 blocks + 2).
MATMUL_SIZES = [1, 3, 5, 7, 67, 130]
MATMUL_SHAPES = [(m, n, k) for m, n in itertools.product(MATMUL_SIZES, MATMUL_SIZES) for k in (1, 7, 67)]


def _tolerance(dtype, k=1):
    """rtol/atol for a dot product of length k of O(1) numbers in ``dtype``."""
    eps = np.finfo(dtype).eps
    return dict(rtol=8 * eps, atol=8 * eps * np.sqrt(k) * 4)


# ------------------------------------------------------------------ matmul
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n,k", MATMUL_SHAPES)
def test_matmul_nt_matches_numpy(rng, m, n, k, dtype):
    a = rng.normal(size=(m, k)).astype(dtype)
    b = rng.normal(size=(n, k)).astype(dtype)
    out = rng.normal(size=(m, n)).astype(dtype)
    matmul_nt(a, b, out)
    expected = a.astype(np.float64) @ b.astype(np.float64).T
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_allclose(out, expected, **_tolerance(dtype, k))


def test_matmul_nt_overwrites_garbage(rng):
    a = rng.normal(size=(5, 3))
    b = rng.normal(size=(6, 3))
    out = np.full((5, 6), np.nan)
    matmul_nt(a, b, out)
    np.testing.assert_allclose(out, a @ b.T, rtol=1e-14, atol=1e-14)


def test_matmul_nt_writes_only_out(rng):
    a = rng.normal(size=(7, 5))
    b = rng.normal(size=(67, 5))
    a0, b0 = a.copy(), b.copy()
    matmul_nt(a, b, np.zeros((7, 67)))
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


# 6-row and 16/8-column blocks of matmul_tn: sizes below, at and across them.
PANEL_SIZES = [1, 5, 6, 7, 16, 17, 33]
PANEL_SHAPES = [(m, n, k) for m, n in itertools.product(PANEL_SIZES, PANEL_SIZES) for k in (0, 1, 13, 64)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n,k", PANEL_SHAPES)
def test_matmul_tn_matches_numpy(rng, m, n, k, dtype):
    a = rng.normal(size=(k, m)).astype(dtype)
    b = rng.normal(size=(k, n)).astype(dtype)
    out = np.full((m, n), np.nan, dtype=dtype)
    buffer = np.full(k * (padded_width(m) + padded_width(n)), np.nan, dtype=dtype)
    matmul_tn(a, b, buffer, out)
    expected = a.astype(np.float64).T @ b.astype(np.float64)
    np.testing.assert_allclose(out, expected, **_tolerance(dtype, k))


def test_matmul_tn_leaves_its_operands_alone(rng):
    a = rng.normal(size=(9, 7))
    b = rng.normal(size=(9, 20))
    a0, b0 = a.copy(), b.copy()
    matmul_tn(a, b, np.empty(9 * (padded_width(7) + padded_width(20))), np.empty((7, 20)))
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n", [(1, 3, 2), (50, 7, 33), (150, 64, 130)])  # 150 rows: three parallel blocks
def test_parallel_matmul_nt_matches_numpy(rng, m, k, n, dtype):
    from jitprop.kernels.matmul import parallel_matmul_nt

    a = rng.normal(size=(m, k)).astype(dtype)
    b_t = rng.normal(size=(n, k)).astype(dtype)
    out = np.full((m, n), np.nan, dtype=dtype)
    parallel_matmul_nt(a, b_t, out)
    np.testing.assert_allclose(out, a.astype(np.float64) @ b_t.astype(np.float64).T, **_tolerance(dtype, k))


@pytest.mark.parametrize("width", [PANEL_ROWS, 16])
def test_pack_columns_cuts_columns_into_zero_padded_panels(rng, width):
    x = rng.normal(size=(5, 2 * width + 3))
    buffer = np.full(5 * 3 * width, np.nan)
    assert pack_columns(x, width, buffer) == 3
    panels = buffer.reshape(3, 5, width)
    np.testing.assert_array_equal(panels[0], x[:, :width])
    np.testing.assert_array_equal(panels[1], x[:, width : 2 * width])
    np.testing.assert_array_equal(panels[2, :, :3], x[:, 2 * width :])
    np.testing.assert_array_equal(panels[2, :, 3:], 0)


@pytest.mark.parametrize("width", [PANEL_ROWS, 16])
def test_pack_rows_cuts_rows_into_transposed_zero_padded_panels(rng, width):
    x = rng.normal(size=(2 * width + 3, 5))
    buffer = np.full(3 * 5 * width, np.nan)
    assert pack_rows(x, width, buffer) == 3
    panels = buffer.reshape(3, 5, width)
    np.testing.assert_array_equal(panels[0], x[:width].T)
    np.testing.assert_array_equal(panels[1], x[width : 2 * width].T)
    np.testing.assert_array_equal(panels[2, :, :3], x[2 * width :].T)
    np.testing.assert_array_equal(panels[2, :, 3:], 0)


# ------------------------------------------------------------- activations
def test_activation_codes_are_the_kernel_constants():
    expected = {
        "identity": kact.IDENTITY,
        "sigmoid": kact.SIGMOID,
        "tanh": kact.TANH,
        "relu": kact.RELU,
        "leaky_relu": kact.LEAKY_RELU,
        "elu": kact.ELU,
        "softplus": kact.SOFTPLUS,
        "gelu": kact.GELU,
        "softmax": kact.SOFTMAX,
    }
    assert {name: spec.code for name, spec in ACTIVATIONS.items()} == expected
    assert len(set(expected.values())) == len(expected)


def _activation_inputs(rng, dtype):
    """Rows of pre-activations: random ones, exact zeros, both tails, and values that overflow a naive exp."""
    special = np.array(
        [
            [0.0, -0.0, 1e-3, -1e-3, 0.5, -0.5, 1.0],
            [-1.0, 3.0, -3.0, 8.0, -8.0, 20.0, -20.0],
            [40.0, -40.0, 90.0, -90.0, 700.0, -700.0, 2.0],
        ]
    )
    return np.vstack([special, 3 * rng.normal(size=(5, 7))]).astype(dtype)


# Element-wise functions are compared with a tolerance of a few units in the
# last place, plus an absolute floor where the value underflows (sigmoid(-90)
# is below float32's smallest normal number).
ACTIVATION_TOL = {"float32": dict(rtol=4e-7, atol=1e-37), "float64": dict(rtol=1e-14, atol=1e-300)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ALL_ACTIVATIONS)
@pytest.mark.parametrize("alpha", [None, 0.3])
def test_activate_matches_reference(rng, name, alpha, dtype):
    z = _activation_inputs(rng, dtype)
    if name == "softmax":
        z = z[:, :5]  # softmax takes rows; 700 and -700 in one row test the max shift
    a = np.full_like(z, np.nan)
    used_alpha = ref.DEFAULT_ALPHA.get(name, 0.0) if alpha is None else alpha
    kact.activate(z, a, ACTIVATIONS[name].code, used_alpha)
    expected = ref.activation(name, z, used_alpha)
    tol = dict(ACTIVATION_TOL[dtype])
    if name == "gelu":
        # z·Φ(z) computed as z·(1 + erf(z/√2))/2 loses relative accuracy in the
        # left tail (1 + erf cancels); its absolute error stays at eps·|z|.
        tol["atol"] = 1e-6 if dtype == "float32" else 1e-14
    assert np.isfinite(a).all()
    np.testing.assert_allclose(a, expected, **tol)


def test_activate_softmax_rows_sum_to_one(rng):
    z = np.vstack([rng.normal(scale=30, size=(4, 6)), np.full((1, 6), 5.0), np.array([[1e4, -1e4, 0, 0, 0, 0]])])
    a = np.empty_like(z)
    kact.activate(z, a, kact.SOFTMAX, 0.0)
    np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(a[4], 1 / 6, rtol=1e-14)
    np.testing.assert_array_equal(a[5], [1.0, 0, 0, 0, 0, 0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("alpha", [None, 0.3])
def test_multiply_by_derivative_matches_reference(rng, name, alpha, dtype):
    z = _activation_inputs(rng, dtype)
    used_alpha = ref.DEFAULT_ALPHA.get(name, 0.0) if alpha is None else alpha
    a = ref.activation(name, z, used_alpha).astype(dtype)
    delta = rng.normal(size=z.shape).astype(dtype)
    expected = delta.astype(np.float64) * ref.derivative(name, z, used_alpha)
    out = delta.copy()
    z0, a0 = z.copy(), a.copy()
    kact.multiply_by_derivative(out, z, a, ACTIVATIONS[name].code, used_alpha)
    # jitprop writes σ' = a(1 − a) and tanh' = 1 − a² from the stored output a,
    # which carries one rounding of the dtype: an absolute error of ~eps.
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(out, expected, rtol=16 * eps, atol=16 * eps * np.abs(delta).max())
    np.testing.assert_array_equal(z, z0)  # only delta is written
    np.testing.assert_array_equal(a, a0)


@pytest.mark.parametrize("name", ["relu", "leaky_relu"])
def test_derivative_at_the_kink_is_the_left_one(name):
    z = np.zeros((1, 3))
    a = np.zeros((1, 3))
    delta = np.array([[1.0, -2.0, 4.0]])
    kact.multiply_by_derivative(delta, z, a, ACTIVATIONS[name].code, 0.25)
    expected = 0.0 if name == "relu" else 0.25
    np.testing.assert_array_equal(delta, expected * np.array([[1.0, -2.0, 4.0]]))


# -------------------------------------------------------------- optimizers
SGD_SETTINGS = [
    dict(momentum=0.0, nesterov=False, weight_decay=0.0),
    dict(momentum=0.0, nesterov=False, weight_decay=0.1),
    dict(momentum=0.9, nesterov=False, weight_decay=0.0),
    dict(momentum=0.9, nesterov=True, weight_decay=0.0),
    dict(momentum=0.5, nesterov=True, weight_decay=0.05),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("settings", SGD_SETTINGS, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
@pytest.mark.parametrize("n", [1, 7, 40_000, 140_000])  # one chunk, 3 chunks, 9 in parallel
def test_sgd_update_matches_formula(rng, n, settings, dtype):
    params = rng.normal(size=n).astype(dtype)
    state = np.zeros((1, n), dtype=dtype)
    hyper = np.array([settings["momentum"], float(settings["nesterov"]), settings["weight_decay"]])
    expected_p, expected_v = [params.astype(np.float64)], [np.zeros(n)]
    lrs = [0.1, 0.05, 0.2, 0.1]
    for step, lr in enumerate(lrs, start=1):
        grad = rng.normal(size=n).astype(dtype)
        rule = kopt.rule_entry(kopt.SGD, params, grad, state, hyper)
        _, finite = sum_and_update(np.empty((0, n), dtype=dtype), 0, grad, rule, params, state, hyper, lr, step)
        assert finite
        expected_p, expected_v = ref.sgd(expected_p, [grad.astype(np.float64)], expected_v, lr, **settings)
    rtol = 1e-5 if dtype == "float32" else 1e-13
    np.testing.assert_allclose(params, expected_p[0], rtol=rtol, atol=rtol)
    if settings["momentum"] > 0:
        np.testing.assert_allclose(state[0], expected_v[0], rtol=rtol, atol=rtol)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "elu", "softplus", "gelu"])
def test_float32_transcendentals_are_float64_values_rounded(rng, name):
    # kernels/activations.py: "Transcendental functions are evaluated in float64
    # and rounded on store ... this keeps float32 results accurate." A float64
    # value rounded to float32 is within half a unit in the last place (ulp) of
    # the exact result; allow one.
    z = np.concatenate([rng.normal(scale=4.0, size=2000), np.linspace(-9, 3, 241)])
    if name == "gelu":
        # Below -5, z·(1 + erf(z/√2))/2 cancels beyond float32's precision even
        # in float64; the claim is about float64 evaluation, so stay above.
        z = z[z > -5]
    z = z.astype(np.float32)[None, :]
    a = np.empty_like(z)
    kact.activate(z, a, ACTIVATIONS[name].code, 1.0)
    exact = ref.activation(name, z, 1.0)
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    error_in_ulp = np.abs(a - exact) / ulp
    worst = int(np.argmax(error_in_ulp))
    assert error_in_ulp.max() <= 1.0, f"{name}({z[0, worst]!r}) = {a[0, worst]!r}, exact {exact[0, worst]!r}"


@pytest.mark.parametrize("hidden", [30, 300])
def test_pack_weights_packs_every_product_that_reads_panels(rng, hidden):
    """Panels of under 65,536 weights are packed serially, larger ones (hidden=300: 95,152) by parallel tasks."""
    import jitprop as jp
    from jitprop.kernels.dense import pack_weights

    layers = [jp.Dense(hidden, "relu"), jp.Dense(hidden + 1, "relu"), jp.Dense(7, "softmax")]
    net = jp.Network(layers, 5, "cross_entropy")
    net.params[...] = rng.normal(size=net.n_params)
    net._packed[...] = np.nan
    pack_weights(net.layout, net.params, net._packed)
    columns = 16  # float32: two vectors of 8
    for i in range(3):
        fan_in, fan_out = (int(v) for v in net.layout.sizes[i : i + 2])
        wt = net._dense[i].W.T
        start = net.layout.forward_panels[i]
        if fan_out < 16 or fan_in >= 128:
            assert start == -1  # the 7 outputs, and 300 inputs, run as dot products
        else:
            count = -(-fan_out // columns)
            panels = net._packed[start : start + count * fan_in * columns].reshape(count, fan_in, columns)
            padded = np.zeros((count * columns, fan_in), np.float32)
            padded[:fan_out] = wt
            np.testing.assert_array_equal(panels, padded.reshape(count, columns, fan_in).transpose(0, 2, 1))
        start = net.layout.backward_panels[i]
        if i == 0 or fan_in < 8:
            assert start == -1  # no input gradient for the first layer, nor panels for 5 inputs
        else:
            count = -(-fan_in // columns)
            panels = net._packed[start : start + count * fan_out * columns].reshape(count, fan_out, columns)
            padded = np.zeros((fan_out, count * columns), np.float32)
            padded[:, :fan_in] = wt
            np.testing.assert_array_equal(panels, padded.reshape(fan_out, count, columns).transpose(1, 0, 2))
    assert np.isfinite(net._packed).all()  # every element of the buffer is written


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (3, 5, 7), (7, 13, 15), (64, 2, 3)])
def test_narrow_layer_products_match_numpy(rng, m, k, n, dtype):
    from jitprop.kernels.matmul import matmul_nn

    a = rng.normal(size=(m, k)).astype(dtype)
    b = rng.normal(size=(k, n)).astype(dtype)
    out = np.full((m, n), np.nan, dtype=dtype)
    matmul_nn(a, b, out)
    np.testing.assert_allclose(out, a.astype(np.float64) @ b.astype(np.float64), **_tolerance(dtype, k))
    c = rng.normal(size=(m, n)).astype(dtype)
    out = np.full((k, n), np.nan, dtype=dtype)
    matmul_nn(a.T, c, out)
    np.testing.assert_allclose(out, a.astype(np.float64).T @ c.astype(np.float64), **_tolerance(dtype, m))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,depth,n", [(1, 1, 1), (5, 3, 17), (6, 16, 16), (13, 7, 40), (64, 33, 10)])
def test_matmul_packed_b_matches_numpy(rng, m, depth, n, dtype):
    from jitprop.kernels.panels import matmul_packed_b, pack_columns, panel_columns, round_up

    a = rng.normal(size=(m, depth)).astype(dtype)
    b = rng.normal(size=(depth, n)).astype(dtype)
    columns = panel_columns(a)
    b_panels = np.full(depth * round_up(n, columns), np.nan, dtype=dtype)
    pack_columns(b, columns, b_panels)
    out = np.full((m, n), np.nan, dtype=dtype)
    matmul_packed_b(a, b_panels, np.full(depth * round_up(m, PANEL_ROWS), np.nan, dtype=dtype), out)
    np.testing.assert_allclose(out, a.astype(np.float64) @ b.astype(np.float64), **_tolerance(dtype, depth))


# ------------------------------------------------------------------ untracked views, prefetch


def test_untracked_copies_share_memory_with_the_arrays_in_a_tuple(rng):
    from numba import njit

    from jitprop.kernels.layout import Data, untracked

    @njit
    def double_through_untracked(data, extra):
        (data, extra) = untracked((data, extra))
        for i in range(data.inputs.shape[0]):
            for j in range(data.inputs.shape[1]):
                data.inputs[i, j] *= 2
        extra[0] += 1
        return data.labels.sum() + data.weights.shape[0]

    inputs = rng.random((5, 3))
    data = Data(inputs.copy(), np.zeros((0, 3)), np.arange(5), np.zeros(0))
    extra = np.zeros(2)
    assert double_through_untracked(data, extra) == 10
    np.testing.assert_array_equal(data.inputs, 2 * inputs)
    np.testing.assert_array_equal(extra, [1, 0])


def test_prefetching_rows_changes_nothing(rng):
    from numba import njit

    from jitprop.kernels.layout import Data
    from jitprop.kernels.prefetch import prefetch, prefetch_examples

    @njit
    def sum_after_prefetch(table, column):
        total = 0.0
        for i in range(table.shape[0]):
            prefetch(table, i)
            prefetch(column, i)
            total += table[i].sum() + column[i]
        return total

    table, column = rng.random((7, 4)), rng.random(7)
    assert sum_after_prefetch(table, column) == pytest.approx(table.sum() + column.sum())
    for labels, targets in ((np.arange(7), np.zeros((0, 4))), (np.zeros(0, np.int64), table.copy())):
        data = Data(table.copy(), targets.copy(), labels.copy(), np.zeros(0))
        order = rng.permutation(7)
        # Past the end of the order, and a range of none: nothing is read.
        for start, stop in ((0, 7), (5, 7), (7, 7), (3, 2)):
            prefetch_examples(data, order, start, stop)
        np.testing.assert_array_equal(data.inputs, table)
        np.testing.assert_array_equal(data.targets, targets)
        np.testing.assert_array_equal(data.labels, labels)


# ------------------------------------------------------------- compilation
def _literal_integer_arguments(module):
    """``(function, line)`` of each call in ``module`` passing an integer literal to a compiled kernel."""
    import ast
    import inspect

    from numba.core.registry import CPUDispatcher

    found = []
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        if not isinstance(getattr(module, node.func.id, None), CPUDispatcher):
            continue
        for arg in node.args:
            value = arg.operand if isinstance(arg, ast.UnaryOp) else arg
            if isinstance(value, ast.Constant) and type(value.value) is int:
                found.append((node.func.id, node.lineno))
    return found


def test_kernels_pass_no_integer_literals_to_kernels():
    # Numba types a literal argument (a plain 0) as a type of its own and
    # compiles a second copy of the callee, with all it calls, for it: seconds
    # of compiling on first use for nothing. np.int64(0) shares the
    # compiled version of the callers that pass a variable.
    import importlib
    import pkgutil

    import jitprop.kernels

    found = {}
    for info in pkgutil.iter_modules(jitprop.kernels.__path__):
        module = importlib.import_module(f"jitprop.kernels.{info.name}")
        if calls := _literal_integer_arguments(module):
            found[info.name] = calls
    assert found == {}


# ---------------------------------------------------------- tasks on the thread pool
def _tasks_fixture():
    from numba import njit

    from jitprop.kernels._numba.parallel import run_tasks

    @njit
    def record(visits, threads, work, task):
        if task == work.shape[0]:
            raise ValueError("no work for this task")
        s = 0.0
        for i in range(int(work[task])):  # enough to keep a thread busy
            s += np.sqrt(i + 1.0)
        visits[task] += 1 if s != -1.0 else 2  # (s is used: the loop stays)
        threads[task] = numba.get_thread_id()

    @njit
    def linked(visits, threads, work, n_tasks):
        run_tasks(record, n_tasks, (visits, threads, work))

    return record, linked


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n_tasks", [0, 1, 2, 37])
def test_run_tasks_runs_every_task_once(threads, n_tasks):
    record, linked = _tasks_fixture()
    work = np.full(n_tasks, 1000.0)
    before = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        visits = np.zeros(n_tasks, dtype=np.int64)
        on_thread = np.full(n_tasks, -1, dtype=np.int64)
        linked(visits, on_thread, work, n_tasks)
        np.testing.assert_array_equal(visits, 1)
        assert set(on_thread.tolist()) <= set(range(numba.get_num_threads()))
    finally:
        numba.set_num_threads(before)


def test_run_tasks_spreads_the_tasks_over_the_threads():
    from jitprop import _threading

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one thread")
    if _threading.threading_layer() == "tbb":
        pytest.skip("tbb may run every task on one thread")
    record, linked = _tasks_fixture()
    visits = np.zeros(4, dtype=np.int64)
    on_thread = np.full(4, -1, dtype=np.int64)
    before = numba.get_num_threads()
    numba.set_num_threads(2)
    try:
        with _threading.parallel_region():
            linked(visits, on_thread, np.full(4, 2e6), 4)
    finally:
        numba.set_num_threads(before)
    assert sorted(set(on_thread.tolist())) == [0, 1]
    numba.set_num_threads(1)
    try:
        linked(visits, on_thread, np.full(4, 10.0), 4)
    finally:
        numba.set_num_threads(before)
    assert set(on_thread.tolist()) == {0}  # one thread: all in the caller's


def test_a_task_that_raises_makes_run_tasks_raise_after_the_others_ran():
    record, linked = _tasks_fixture()
    visits = np.zeros(6, dtype=np.int64)
    work = np.full(5, 10.0)  # task 5 has no work: it raises
    with pytest.raises(RuntimeError, match="a task of a parallel kernel raised"):
        linked(visits, np.zeros(6, dtype=np.int64), work, 6)
    np.testing.assert_array_equal(visits, [1, 1, 1, 1, 1, 0])


def test_run_tasks_code_loaded_from_the_cache_starts_the_thread_pool(tmp_path):
    # The compiled code calls into Numba's thread pool by name; a process that
    # loads it from the cache before anything started the pool must still run.
    (tmp_path / "cached_tasks.py").write_text(
        "import numpy as np\n"
        "from numba import njit\n"
        "from jitprop.kernels._numba.parallel import run_tasks\n"
        "@njit(cache=True)\n"
        "def square(x, task):\n"
        "    x[task] = x[task] ** 2\n"
        "@njit(cache=True)\n"
        "def squares(x):\n"
        "    run_tasks(square, x.shape[0], (x,))\n"
        "x = np.arange(5.0)\n"
        "squares(x)\n"
        "print(x.tolist(), squares.stats.cache_hits)\n"
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), NUMBA_NUM_THREADS="2")
    runs = [
        subprocess.run([sys.executable, "cached_tasks.py"], cwd=tmp_path, env=env, capture_output=True, text=True)
        for _ in range(2)
    ]
    assert [r.returncode for r in runs] == [0, 0], runs[-1].stderr
    compiled_run, cached_run = (r.stdout.split("]")[0] + "]" for r in runs)
    assert compiled_run == cached_run == "[0.0, 1.0, 4.0, 9.0, 16.0]"
    assert runs[1].stdout.split("]")[1].strip() != "Counter()"  # loaded from the cache


# (rule, hyper-parameters, state rows) for sum_and_update.
STEP_RULES = {
    "sgd": (kopt.SGD, [0.0, 0.0, 0.0], 1),
    "sgd-momentum-nesterov-decay": (kopt.SGD, [0.9, 1.0, 0.01], 1),
    "adam-amsgrad": (kopt.ADAM, [0.9, 0.999, 1e-8, 0.0, 1.0], 3),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rule", STEP_RULES)
@pytest.mark.parametrize("n", [1, 1000, 40_000, (1 << 17) + 5])  # one chunk, several, several in parallel
@pytest.mark.parametrize("n_tiles", [1, 3])
def test_summing_in_the_update_pass_is_summing_first_bit_for_bit(rng, n, n_tiles, rule, dtype):
    # The two ways an epoch runs a step: tiles summed in the update's pass, or
    # summed first (to add a penalty or clip) and handed over as the gradient.
    from jitprop.kernels.batch import reduce_tiles

    code, hyper, rows = STEP_RULES[rule]
    hyper = np.array(hyper)
    tiles = rng.normal(size=(4, n)).astype(dtype)
    params = rng.normal(size=n).astype(dtype)
    state = np.abs(rng.normal(size=(rows, n))).astype(dtype)
    want_params, want_state, want_grad = params.copy(), state.copy(), np.empty(n, dtype=dtype)
    want_sq = reduce_tiles(tiles, n_tiles, want_grad, False)
    update = kopt.rule_entry(code, params, want_grad, state, hyper)
    _, want_finite = sum_and_update(tiles, 0, want_grad, update, want_params, want_state, hyper, 0.01, 3)

    grad = np.empty(n, dtype=dtype)
    grad_sq, finite = sum_and_update(tiles, n_tiles, grad, update, params, state, hyper, 0.01, 3)
    assert finite and want_finite
    assert grad_sq == pytest.approx(want_sq, rel=1e-12)  # (summed in the same order up to vectorisation)
    assert params.tobytes() == want_params.tobytes()
    assert state.tobytes() == want_state.tobytes()
    assert grad.tobytes() == want_grad.tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 1000, (1 << 17) + 5])
def test_sum_and_update_reports_any_parameter_or_state_that_is_not_finite(n, dtype):
    def step(tiles, rule, lr=0.01, state_value=0.0):
        code, hyper, rows = STEP_RULES[rule]
        params = np.ones(n, dtype=dtype)
        state = np.full((rows, n), state_value, dtype=dtype)
        grad = np.empty(n, dtype=dtype)
        hyper = np.array(hyper)
        update = kopt.rule_entry(code, params, grad, state, hyper)
        return sum_and_update(tiles, tiles.shape[0], grad, update, params, state, hyper, lr, 1)

    ones = np.ones((2, n), dtype=dtype)
    assert step(ones, "sgd")[1]
    for position in sorted({0, n // 3, n - 1}):
        for bad in (np.nan, np.inf, -np.inf):
            tiles = ones.copy()
            tiles[1, position] = bad
            for rule in STEP_RULES:
                assert not step(tiles, rule)[1], (position, bad, rule)
    # A finite gradient whose update overflows.
    assert not step(ones, "sgd", lr=1e300 if dtype == "float32" else 1.5e308)[1]
    # Plain SGD keeps no state: its unused row is not looked at.
    assert step(ones, "sgd", state_value=np.nan)[1]
    assert not step(ones, "sgd-momentum-nesterov-decay", state_value=np.inf)[1]
