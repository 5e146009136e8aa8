"""Summing the tiles' gradients, updating and checking in one pass (jitprop/kernels/step.py)."""

import numpy as np
import pytest

from jitprop.kernels import optimizers as kopt
from jitprop.kernels.batch import chunking
from jitprop.kernels.step import sum_and_update
from jitprop.kernels.tuning import SUM_ONTO_FIRST_TILE
from helpers import DTYPES


STEP_RULES = {
    "sgd": (kopt.SGD, [0.0, 0.0, 0.0], 1),
    "sgd-momentum-nesterov-decay": (kopt.SGD, [0.9, 1.0, 0.01], 1),
    "adam-amsgrad": (kopt.ADAM, [0.9, 0.999, 1e-8, 0.0, 1.0], 3),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rule", STEP_RULES)
@pytest.mark.parametrize("n", [1, 1000, 40_000, (1 << 17) + 5, SUM_ONTO_FIRST_TILE + 5])
@pytest.mark.parametrize("n_tiles", [1, 2, 3])
def test_summing_in_the_update_pass_is_summing_first_bit_for_bit(rng, n, n_tiles, rule, dtype):
    # (n: one chunk, several, several in parallel, and tiles summed onto the first.)
    # The two ways an epoch runs a step: tiles summed in the update's pass, or
    # summed first (to add a penalty or clip) and handed over as the gradient.
    # (SGD sums up to two tiles element by element as it updates, storing no sum, and leaves out the norm.)
    from jitprop.kernels.batch import reduce_tiles

    code, hyper, rows = STEP_RULES[rule]
    hyper = np.array(hyper)
    tiles = rng.normal(size=(4, n)).astype(dtype)
    params = rng.normal(size=n).astype(dtype)
    state = np.abs(rng.normal(size=(rows, n))).astype(dtype)
    want_params, want_state, want_grad = params.copy(), state.copy(), np.empty(n, dtype=dtype)
    chunked = chunking(n)
    want_sq = reduce_tiles(tiles, n_tiles, want_grad, False, chunked)
    update = kopt.rule_entry(code, params, want_grad, state, hyper)
    _, want_finite = sum_and_update(tiles, 0, want_grad, update, want_params, want_state, hyper, 0.01, 3, chunked)

    grad = np.full(n, 7.0, dtype=dtype)
    given = tiles.copy()
    grad_sq, finite = sum_and_update(tiles, n_tiles, grad, update, params, state, hyper, 0.01, 3, chunked)
    assert finite and want_finite
    sgd = code == kopt.SGD
    # (Summed in the same order up to vectorisation.)
    assert grad_sq == (0.0 if sgd else pytest.approx(want_sq, rel=1e-12))
    assert params.tobytes() == want_params.tobytes()
    assert state.tobytes() == want_state.tobytes()
    if sgd and n_tiles <= 2:
        assert tiles.tobytes() == given.tobytes() and (grad == 7.0).all()
    elif n_tiles == 1 or n >= SUM_ONTO_FIRST_TILE:
        # The tiles are summed onto the first tile's buffer (one tile's is read as it is); grad is left alone.
        assert tiles[0].tobytes() == want_grad.tobytes()
        assert (grad == 7.0).all()
    else:
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
        return sum_and_update(tiles, tiles.shape[0], grad, update, params, state, hyper, lr, 1, chunking(n))

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


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_chunk_is_the_same_with_or_without_the_chunked_code(rng, dtype):
    # chunking() gives None for networks of one chunk: the code compiled then
    # must give the bits the chunked code gives for one chunk.
    n = 1000
    tiles = rng.normal(size=(3, n)).astype(dtype)
    code, hyper, rows = STEP_RULES["adam-amsgrad"]
    hyper = np.array(hyper)
    results = []
    for chunked in (None, True):
        from jitprop.kernels.batch import reduce_tiles

        summed = np.empty(n, dtype=dtype)
        reduced_sq = reduce_tiles(tiles, 3, summed, False, chunked)
        params = np.linspace(-1, 1, n).astype(dtype)
        state = np.full((rows, n), 0.5, dtype=dtype)
        grad = np.empty(n, dtype=dtype)
        update = kopt.rule_entry(code, params, grad, state, hyper)
        own_tiles = tiles.copy()  # (left as they are: n is under SUM_ONTO_FIRST_TILE)
        grad_sq, finite = sum_and_update(own_tiles, 3, grad, update, params, state, hyper, 0.01, 2, chunked)
        assert grad.tobytes() == summed.tobytes() and own_tiles.tobytes() == tiles.tobytes()
        results.append((grad_sq, finite, params.tobytes(), state.tobytes(), reduced_sq, summed.tobytes()))
    assert chunking(n) is None and chunking(1 << 17) is True
    assert results[0] == results[1]


@pytest.mark.parametrize("n", [1, 16_384, 16_385, 40_000, 101_770, 235_146, 2_100_000])
def test_chunks_cover_the_parameters_in_equal_shares_for_two_four_or_eight_threads(n):
    from jitprop.kernels.batch import chunk_bounds, chunk_count
    from jitprop.kernels.tuning import CHUNK_GROUP, REDUCE_CHUNK

    n_chunks = chunk_count(n)
    bounds = [chunk_bounds(n, n_chunks, chunk) for chunk in range(n_chunks)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(hi == next_lo for (_, hi), (next_lo, _) in zip(bounds, bounds[1:]))
    sizes = [hi - lo for lo, hi in bounds]
    if n <= REDUCE_CHUNK:
        assert n_chunks == 1
        return
    assert n_chunks % CHUNK_GROUP == 0 and max(sizes) <= REDUCE_CHUNK + 64
    assert len(set(sizes[:-1])) == 1 and sizes[0] % 64 == 0 and 0 < sizes[-1] <= sizes[0]
    for threads in (2, 4, 8):  # (the omp layer's static shares: contiguous runs of chunks)
        shares = [sum(sizes[t * n_chunks // threads : (t + 1) * n_chunks // threads]) for t in range(threads)]
        assert max(shares) - min(shares) <= sizes[0] - sizes[-1]
