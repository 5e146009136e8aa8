"""The compiled kernels, called directly, against NumPy and tests/reference.py."""

import itertools

import numpy as np
import pytest

import reference as ref
from helpers import ALL_ACTIVATIONS, HIDDEN_ACTIVATIONS
from jitprop.activations import ACTIVATIONS
from jitprop.kernels import activations as kact
from jitprop.kernels import optimizers as kopt
from jitprop.kernels.matmul import matmul_nt
from jitprop.kernels.panels import PANEL_ROWS, matmul_tn, pack_columns, pack_rows, padded_width

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
@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("m,n,k", MATMUL_SHAPES)
def test_matmul_nt_matches_numpy(rng, m, n, k, accumulate, dtype):
    a = rng.normal(size=(m, k)).astype(dtype)
    b = rng.normal(size=(n, k)).astype(dtype)
    start = rng.normal(size=(m, n)).astype(dtype)
    out = start.copy()
    matmul_nt(a, b, out, accumulate)
    expected = a.astype(np.float64) @ b.astype(np.float64).T
    if accumulate:
        expected += start
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_allclose(out, expected, **_tolerance(dtype, k))


def test_matmul_nt_overwrites_garbage_when_not_accumulating(rng):
    a = rng.normal(size=(5, 3))
    b = rng.normal(size=(6, 3))
    out = np.full((5, 6), np.nan)
    matmul_nt(a, b, out, False)
    np.testing.assert_allclose(out, a @ b.T, rtol=1e-14, atol=1e-14)


def test_matmul_nt_writes_only_out(rng):
    a = rng.normal(size=(7, 5))
    b = rng.normal(size=(67, 5))
    a0, b0 = a.copy(), b.copy()
    matmul_nt(a, b, np.zeros((7, 67)), True)
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
@pytest.mark.parametrize("n", [1, 7, 40_000])  # 40 000 > 2 chunks of the parallel update
def test_apply_update_sgd_matches_formula(rng, n, settings, dtype):
    params = rng.normal(size=n).astype(dtype)
    state = np.zeros((1, n), dtype=dtype)
    hyper = np.array([settings["momentum"], float(settings["nesterov"]), settings["weight_decay"]])
    expected_p, expected_v = [params.astype(np.float64)], [np.zeros(n)]
    lrs = [0.1, 0.05, 0.2, 0.1]
    for step, lr in enumerate(lrs, start=1):
        grad = rng.normal(size=n).astype(dtype)
        kopt.apply_update(kopt.SGD, params, grad, state, hyper, lr, step)
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
    """Networks under 65,536 weights are packed serially, larger ones (hidden=300) one panel per parallel task."""
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


# ---------------------------------------------------------- indirect calls
def _indirect_fixture():
    from numba import njit

    from jitprop.kernels.indirect import call_compiled

    @njit
    def add_scaled(out, values, k):
        if k < 0:
            raise ValueError("k must not be negative")
        for i in range(out.shape[0]):
            out[i] += k * values[i]

    @njit
    def caller(handle, out, values, ks):
        for j in range(ks.shape[0]):
            call_compiled(handle, (out, values, ks[j]))

    return add_scaled, caller


def test_a_kernel_called_through_its_address_does_what_a_direct_call_does():
    from jitprop.kernels.indirect import compiled

    add_scaled, caller = _indirect_fixture()
    values = np.arange(5.0)
    out = np.ones(5)
    handle = compiled(add_scaled, out, values, np.int64(0))
    caller(handle, out, values, np.array([1, 2, 3], dtype=np.int64))
    np.testing.assert_array_equal(out, 1.0 + 6.0 * values)
    assert compiled(add_scaled, np.zeros(3), np.zeros(3), np.int64(7)) == handle  # same types, same handle


def test_an_exception_in_a_kernel_called_through_its_address_reaches_the_caller():
    from jitprop.kernels.indirect import compiled

    add_scaled, caller = _indirect_fixture()
    out = np.zeros(3)
    handle = compiled(add_scaled, out, out, np.int64(0))
    with pytest.raises(ValueError, match="k must not be negative"):
        caller(handle, out, np.ones(3), np.array([1, -1], dtype=np.int64))
    np.testing.assert_array_equal(out, 1.0)  # the call before the failing one ran


def test_a_kernel_compiled_for_other_argument_types_is_refused():
    from jitprop.kernels.indirect import compiled

    add_scaled, caller = _indirect_fixture()
    float32_handle = compiled(add_scaled, np.zeros(3, np.float32), np.zeros(3, np.float32), np.int64(0))
    out = np.zeros(3)
    with pytest.raises(RuntimeError, match="compiled for other argument types"):
        caller(float32_handle, out, np.ones(3), np.array([1], dtype=np.int64))
    np.testing.assert_array_equal(out, 0.0)
