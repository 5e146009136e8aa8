"""Activation kernels and their derivatives (jitprop/kernels/activations.py) against tests/reference.py."""

import numpy as np
import pytest

import reference as ref
from helpers import ALL_ACTIVATIONS, DTYPES, HIDDEN_ACTIVATIONS
from jitprop.activations import ACTIVATIONS
from jitprop.kernels import activations as kact


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
        "exp": kact.EXP,
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
    if name == "exp":  # e^z beyond the dtype's largest number rounds to infinity, as the true value does
        beyond = expected > np.finfo(dtype).max
        assert np.isposinf(a[beyond]).all()
        a, expected = a[~beyond], expected[~beyond]
    assert np.isfinite(a).all()
    np.testing.assert_allclose(a, expected, **tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_exp_derivative_is_the_output_itself(rng, dtype):
    """exp is an output only; mse on it takes the delta through e^z = a (the Poisson loss needs no derivative)."""
    z = rng.normal(size=(4, 3)).astype(dtype)
    a = np.exp(z.astype(np.float64)).astype(dtype)
    delta = rng.normal(size=z.shape).astype(dtype)
    out = delta.copy()
    kact.multiply_by_derivative(out, z, a, kact.EXP, 0.0)
    np.testing.assert_array_equal(out, delta * a)


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
