"""Update rules against plain-NumPy versions of their published formulas.

Each reference below is written from the papers' / PyTorch's documented
update, in float64, independently of the kernel. The kernel is called as
an epoch calls it (``sum_and_update`` with the gradient already summed) on a
large buffer, so the parallel chunked path runs, and on a small one (the
serial path).
"""

import inspect
import json

import numba
import numpy as np
import pytest

import jitprop as jp
from jitprop.kernels.batch import chunking
from jitprop.kernels.optimizers import rule_entry
from jitprop.kernels.step import sum_and_update
from jitprop.kernels.tuning import PARALLEL_STEP, REDUCE_CHUNK
from jitprop.optimizers import BY_NAME, OPTIMIZERS, get_optimizer, optimizer_from_config

LARGE = PARALLEL_STEP + 1234  # updated in parallel chunks, the last one partial
SMALL = 1000
N_STEPS = 6


def learning_rate(t):
    """A rate that changes every step (t is 1-based), so per-step rates are exercised."""
    return 0.01 * (1.0 + 0.3 * t)


# ---- references: state is a dict of float64 arrays, t is the 1-based update count -------


def sgd_reference(p, g, s, lr, t, momentum=0.0, nesterov=False, weight_decay=0.0):
    g = g + weight_decay * p
    if momentum == 0.0:
        return p - lr * g
    s["v"] = momentum * s.get("v", 0.0) + g
    return p - lr * (g + momentum * s["v"] if nesterov else s["v"])


def adam_reference(p, g, s, lr, t, beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0.0, amsgrad=False, w=False):
    if w:
        p = p - lr * weight_decay * p
    else:
        g = g + weight_decay * p
    s["m"] = beta_1 * s.get("m", 0.0) + (1 - beta_1) * g
    s["v"] = beta_2 * s.get("v", 0.0) + (1 - beta_2) * g**2
    v = s["v"]
    if amsgrad:
        s["v_max"] = v = np.maximum(s.get("v_max", 0.0), s["v"])
    m_hat = s["m"] / (1 - beta_1**t)
    v_hat = v / (1 - beta_2**t)
    return p - lr * m_hat / (np.sqrt(v_hat) + epsilon)


def adamw_reference(p, g, s, lr, t, weight_decay=0.01, **options):
    return adam_reference(p, g, s, lr, t, weight_decay=weight_decay, w=True, **options)


def rmsprop_reference(p, g, s, lr, t, rho=0.99, epsilon=1e-8, momentum=0.0, centered=False, weight_decay=0.0):
    g = g + weight_decay * p
    s["sq"] = rho * s.get("sq", 0.0) + (1 - rho) * g**2
    variance = s["sq"]
    if centered:
        s["mean"] = rho * s.get("mean", 0.0) + (1 - rho) * g
        variance = variance - s["mean"] ** 2
    step = g / (np.sqrt(variance) + epsilon)
    if momentum > 0:
        s["b"] = momentum * s.get("b", 0.0) + step
        step = s["b"]
    return p - lr * step


def adagrad_reference(p, g, s, lr, t, initial_accumulator_value=0.0, epsilon=1e-10, weight_decay=0.0, lr_decay=0.0):
    g = g + weight_decay * p
    s["sum"] = s.get("sum", initial_accumulator_value) + g**2
    return p - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(s["sum"]) + epsilon)


REFERENCES = {
    "SGD": sgd_reference,
    "Adam": adam_reference,
    "AdamW": adamw_reference,
    "RMSprop": rmsprop_reference,
    "Adagrad": adagrad_reference,
}

#: (optimizer name, options): each branch of each rule at least once.
CASES = [
    ("SGD", {}),
    ("SGD", {"momentum": 0.9, "weight_decay": 0.01}),
    ("SGD", {"momentum": 0.8, "nesterov": True}),
    ("Adam", {}),
    ("Adam", {"weight_decay": 0.05, "amsgrad": True, "beta_2": 0.5}),
    ("AdamW", {}),
    ("AdamW", {"weight_decay": 0.1, "amsgrad": True, "beta_1": 0.5, "beta_2": 0.5, "epsilon": 1e-6}),
    ("RMSprop", {}),
    ("RMSprop", {"momentum": 0.9}),
    ("RMSprop", {"centered": True, "rho": 0.9}),
    ("RMSprop", {"centered": True, "momentum": 0.5, "weight_decay": 0.01, "epsilon": 1e-6}),
    ("Adagrad", {}),
    ("Adagrad", {"initial_accumulator_value": 0.1, "weight_decay": 0.01, "lr_decay": 0.1}),
]
CASE_IDS = [name + "-" + "-".join(f"{k}={v}" for k, v in options.items()) for name, options in CASES]

#: rtol, atol of the kernel against the float64 reference.
TOLERANCE = {"float64": (1e-12, 1e-14), "float32": (2e-5, 1e-6)}


def run_kernel(name, options, params, grads, dtype):
    """``params`` after an update by each of ``grads`` in turn, and the optimizer."""
    opt = OPTIMIZERS[name](lr=1.0, **options)
    opt.prepare(params.size, np.dtype(dtype))
    code, state, hyper = opt.kernel_arguments()
    p = params.astype(dtype)
    no_tiles = np.empty((0, p.size), dtype=dtype)  # the gradient is given summed
    rule = rule_entry(code, p, p, state, hyper)
    for t, g in enumerate(grads, start=1):
        _, finite = sum_and_update(
            no_tiles, 0, g.astype(dtype), rule, p, state, hyper, learning_rate(t), t, chunking(p.size)
        )
        assert finite
    return p, opt


def run_optimizer(opt, params, grads):
    """``params`` after ``opt`` updates them by each of ``grads`` in turn, at the rates of its schedule."""
    opt.prepare(params.size, params.dtype)
    code, state, hyper = opt.kernel_arguments()
    p = params.copy()
    no_tiles = np.empty((0, p.size), dtype=p.dtype)
    rule = rule_entry(code, p, p, state, hyper)
    for t, (g, rate) in enumerate(zip(grads, opt.learning_rates(0, len(grads), 0)), start=1):
        _, finite = sum_and_update(no_tiles, 0, g, rule, p, state, hyper, rate, t, chunking(p.size))
        assert finite
    return p


def run_reference(name, options, params, grads):
    p, s = params.copy(), {}
    for t, g in enumerate(grads, start=1):
        p = REFERENCES[name](p, g, s, learning_rate(t), t, **options)
    return p


def random_problem(rng, n):
    params = rng.normal(size=n)
    # Gradients of varied scale per step, so second moments grow and shrink (amsgrad matters).
    grads = [rng.normal(size=n) * rng.uniform(0.1, 3.0) for _ in range(N_STEPS)]
    return params, grads


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("n", [LARGE, SMALL], ids=["parallel", "serial"])
@pytest.mark.parametrize("name, options", CASES, ids=CASE_IDS)
def test_rule_matches_reference(rng, name, options, n, dtype):
    params, grads = random_problem(rng, n)
    got, opt = run_kernel(name, options, params, grads, dtype)
    expected = run_reference(name, options, params, grads)
    rtol, atol = TOLERANCE[dtype]
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)
    assert got.dtype == np.dtype(dtype)
    assert not np.array_equal(got, params.astype(dtype))


def test_amsgrad_keeps_the_largest_second_moment(rng):
    params, grads = random_problem(rng, SMALL)
    _, opt = run_kernel("Adam", {"amsgrad": True, "beta_2": 0.5}, params, grads, "float64")
    v, v_max = opt.state[1], opt.state[2]
    assert np.all(v_max >= v) and np.any(v_max > v)


def test_adagrad_state_starts_at_initial_accumulator_value():
    opt = jp.Adagrad(initial_accumulator_value=0.25)
    opt.prepare(10, np.dtype("float32"))
    assert opt.state.dtype == np.float32
    np.testing.assert_array_equal(opt.state, np.full((1, 10), 0.25, dtype=np.float32))


@pytest.mark.parametrize(
    "opt, slots",
    [
        (jp.SGD(), 1),
        (jp.Adam(), 2),
        (jp.Adam(amsgrad=True), 3),
        (jp.AdamW(amsgrad=True), 3),
        (jp.RMSprop(), 1),
        (jp.RMSprop(momentum=0.9), 2),
        (jp.RMSprop(centered=True), 2),
        (jp.RMSprop(centered=True, momentum=0.9), 3),
        (jp.Adagrad(), 1),
    ],
    ids=repr,
)
def test_state_has_one_row_per_slot(opt, slots):
    opt.prepare(7, np.dtype("float64"))
    assert opt.state.shape == (slots, 7)


def test_state_follows_a_change_of_options():
    opt = jp.Adam()
    opt.prepare(5, np.dtype("float64"))
    opt.amsgrad = True
    opt.prepare(5, np.dtype("float64"))
    assert opt.state.shape == (3, 5)


@pytest.mark.parametrize("name, options", [CASES[2], CASES[6], CASES[10], CASES[12]], ids=repr)
def test_chunking_changes_nothing(rng, name, options):
    """One call over the whole buffer (parallel chunks) equals serial calls over small pieces."""
    params, grads = random_problem(rng, LARGE)
    whole, _ = run_kernel(name, options, params, grads, "float64")
    cuts = [0, 1000, REDUCE_CHUNK - 7, REDUCE_CHUNK + 500, 2 * REDUCE_CHUNK + 3, LARGE]
    pieces = [
        run_kernel(name, options, params[lo:hi], [g[lo:hi] for g in grads], "float64")[0]
        for lo, hi in zip(cuts[:-1], cuts[1:])
    ]
    np.testing.assert_array_equal(whole, np.concatenate(pieces))


@pytest.mark.parametrize("name, options", CASES, ids=CASE_IDS)
def test_thread_count_changes_nothing(rng, name, options):
    params, grads = random_problem(rng, LARGE)
    before = numba.get_num_threads()
    results = []
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            results.append(run_kernel(name, options, params, grads, "float32")[0])
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(results[0], results[1])


@pytest.mark.parametrize("name, options", CASES, ids=CASE_IDS)
def test_rule_matches_torch(rng, name, options):
    torch = pytest.importorskip("torch")
    torch_options = dict(options)
    if "beta_1" in options or "beta_2" in options:
        torch_options["betas"] = (torch_options.pop("beta_1", 0.9), torch_options.pop("beta_2", 0.999))
    if "epsilon" in options:
        torch_options["eps"] = torch_options.pop("epsilon")
    if "rho" in options:
        torch_options["alpha"] = torch_options.pop("rho")
    params, grads = random_problem(rng, SMALL)
    tensor = torch.tensor(params.copy(), dtype=torch.float64, requires_grad=True)
    opt = getattr(torch.optim, name)([tensor], lr=1.0, foreach=False, **torch_options)
    for t, g in enumerate(grads, start=1):
        for group in opt.param_groups:
            group["lr"] = learning_rate(t)
        tensor.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
    got, _ = run_kernel(name, options, params, grads, "float64")
    np.testing.assert_allclose(got, tensor.detach().numpy(), rtol=1e-10, atol=1e-12)


# ---- the Python side ------------------------------------------------------------------


@pytest.mark.parametrize("name, options", CASES, ids=CASE_IDS)
def test_config_round_trip(name, options):
    opt = OPTIMIZERS[name](lr=0.05, **options)
    config = json.loads(json.dumps(opt.config()))
    twin = optimizer_from_config(name, config)
    assert type(twin) is type(opt)
    assert twin.config() == opt.config()
    np.testing.assert_array_equal(twin.hyperparameters(), opt.hyperparameters())


def test_config_round_trip_with_a_schedule():
    opt = jp.AdamW(lr=jp.schedules.CosineDecay(0.01, total_steps=100, warmup_steps=10), weight_decay=0.02)
    config = json.loads(json.dumps(opt.config()))
    assert config["lr"] == {
        "schedule": "CosineDecay",
        "config": {"lr": 0.01, "total_steps": 100, "warmup_steps": 10, "min_lr": 0.0},
    }
    twin = optimizer_from_config("AdamW", config)
    assert isinstance(twin.schedule, jp.schedules.CosineDecay)
    np.testing.assert_array_equal(twin.learning_rates(5, 50, 0), opt.learning_rates(5, 50, 0))


def test_float_lr_is_a_constant_schedule():
    opt = jp.Adam(lr=0.02)
    assert opt.lr == 0.02
    assert isinstance(opt.schedule, jp.schedules.Constant)
    np.testing.assert_array_equal(opt.learning_rates(7, 3, 1), [0.02, 0.02, 0.02])
    assert opt.config()["lr"] == 0.02


def test_optimizer_passes_epoch_end_to_its_schedule():
    opt = jp.RMSprop(lr=jp.schedules.ReduceLROnPlateau(0.1, patience=1, factor=0.5))
    opt.end_epoch(0, {"loss": 1.0})
    opt.end_epoch(1, {"loss": 2.0})
    np.testing.assert_array_equal(opt.learning_rates(0, 2, 2), [0.05, 0.05])


def test_registry_holds_every_optimizer():
    expected = {"SGD": jp.SGD, "Adam": jp.Adam, "AdamW": jp.AdamW, "RMSprop": jp.RMSprop, "Adagrad": jp.Adagrad}
    assert OPTIMIZERS == expected
    with pytest.raises(ValueError, match="Unknown optimizer 'Lion'; expected one of Adagrad, Adam, AdamW"):
        optimizer_from_config("Lion", {})


def test_every_optimizer_has_a_reference_and_cases():
    assert set(REFERENCES) == {name for name, _ in CASES} == set(OPTIMIZERS)


def test_every_optimizer_has_a_short_name_of_its_own():
    names = [cls.name for cls in OPTIMIZERS.values()]
    assert names == ["sgd", "adam", "adamw", "rmsprop", "adagrad"]
    assert BY_NAME == dict(zip(names, OPTIMIZERS.values()))
    assert all(get_optimizer(name) is cls for name, cls in BY_NAME.items())


def test_an_unknown_short_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="Unknown optimizer 'lion'; expected one of adagrad, adam, adamw, rmsprop"):
        get_optimizer("lion")
    with pytest.raises(ValueError, match="Unknown optimizer"):
        get_optimizer(["sgd"])


def test_scikit_learn_has_sgd_and_adam_only():
    assert {cls.name: cls.sklearn_solver for cls in OPTIMIZERS.values() if cls.sklearn_solver} == {
        "sgd": "sgd",
        "adam": "adam",
    }


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_a_scaled_loss_gives_the_same_updates_as_adaptive_says(rng, name):
    """On gradients scaled by c: the same updates with epsilon scaled by c (adaptive), or the rate by 1 / c (SGD).

    The estimators rely on it to train on jitprop's loss, a multiple of scikit-learn's objective.
    """
    cls, c = OPTIMIZERS[name], 8.0  # a power of two, so scaling rounds nowhere and the updates agree bitwise
    options = dict(momentum=0.5) if "momentum" in inspect.signature(cls).parameters else {}
    if cls.adaptive:
        plain, scaled = cls(lr=0.01, epsilon=1e-3, **options), cls(lr=0.01, epsilon=1e-3 * c, **options)
    else:
        plain, scaled = cls(lr=0.01, **options), cls(lr=0.01 / c, **options)
    params, grads = random_problem(rng, SMALL)
    updated = run_optimizer(plain, params, grads)
    np.testing.assert_array_equal(run_optimizer(scaled, params, [g * c for g in grads]), updated)
    assert not np.array_equal(updated, params)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: jp.Adam(lr=0.0), r"lr must be a finite number > 0, got 0.0\."),
        (lambda: jp.Adam(lr="fast"), r"lr must be a finite number > 0, got 'fast'\."),
        (lambda: jp.Adam(beta_1=1.5), r"beta_1 must be in \[0, 1\), got 1.5\."),
        (lambda: jp.Adam(beta_2=1.0), r"beta_2 must be in \[0, 1\), got 1.0\."),
        (lambda: jp.Adam(epsilon=0.0), r"epsilon must be in \(0, inf\), got 0.0\."),
        (lambda: jp.Adam(weight_decay=-0.1), r"weight_decay must be in \[0, inf\), got -0.1\."),
        (lambda: jp.AdamW(weight_decay=float("nan")), r"weight_decay must be in \[0, inf\), got nan\."),
        (lambda: jp.RMSprop(rho=-0.1), r"rho must be in \[0, 1\), got -0.1\."),
        (lambda: jp.RMSprop(momentum=1.0), r"momentum must be in \[0, 1\), got 1.0\."),
        (lambda: jp.RMSprop(epsilon=-1.0), r"epsilon must be in \(0, inf\), got -1.0\."),
        (lambda: jp.Adagrad(0.01, -1), r"initial_accumulator_value must be in \[0, inf\), got -1\."),
        (lambda: jp.Adagrad(lr_decay=-0.5), r"lr_decay must be in \[0, inf\), got -0.5\."),
        (lambda: jp.Adagrad(epsilon=float("inf")), r"epsilon must be in \(0, inf\), got inf\."),
        (lambda: jp.SGD(momentum=1.0), r"momentum must be in \[0, 1\), got 1.0\."),
    ],
)
def test_invalid_hyperparameters_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# ---- end to end -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "opt",
    [
        jp.SGD(lr=0.1, momentum=0.9),
        jp.Adam(lr=0.01),
        jp.Adam(lr=0.01, amsgrad=True, weight_decay=1e-3),
        jp.AdamW(lr=0.01),
        jp.RMSprop(lr=0.005),
        jp.RMSprop(lr=0.005, centered=True, momentum=0.5),
        jp.Adagrad(lr=0.1),
    ],
    ids=repr,
)
def test_fit_decreases_the_loss(blobs, opt):
    X, y = blobs
    net = jp.Network([jp.Dense(16, "tanh"), jp.Dense(3, "softmax")], input_dim=X.shape[1], loss="cross_entropy", seed=0)
    history = net.fit(X, y, epochs=10, batch_size=32, optimizer=opt)
    losses = history["loss"]
    assert losses[-1] < 0.3 * losses[0]
    assert opt.step == 10 * 8
