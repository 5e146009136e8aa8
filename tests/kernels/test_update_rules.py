"""Update-rule kernels (jitprop/kernels/optimizers.py) against their formulas."""

import numpy as np
import pytest

import reference as ref
from jitprop.kernels import optimizers as kopt
from jitprop.kernels.batch import chunking
from jitprop.kernels.step import sum_and_update
from helpers import DTYPES


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
        no_tiles = np.empty((0, n), dtype=dtype)
        _, finite = sum_and_update(no_tiles, 0, grad, rule, params, state, hyper, lr, step, chunking(n))
        assert finite
        expected_p, expected_v = ref.sgd(expected_p, [grad.astype(np.float64)], expected_v, lr, **settings)
    rtol = 1e-5 if dtype == "float32" else 1e-13
    np.testing.assert_allclose(params, expected_p[0], rtol=rtol, atol=rtol)
    if settings["momentum"] > 0:
        np.testing.assert_allclose(state[0], expected_v[0], rtol=rtol, atol=rtol)
