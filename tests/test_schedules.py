"""Learning-rate schedules against hand-computed rates; state and config round trips."""

import json
import math

import numpy as np
import pytest

import jitprop as jp
from jitprop.schedules import (
    SCHEDULES,
    Constant,
    CosineDecay,
    ExponentialDecay,
    InverseScaling,
    ReduceLROnPlateau,
    StepDecay,
    schedule_from_config,
)


def rates(schedule, first_step, n_steps, epoch=0):
    out = schedule.learning_rates(first_step, n_steps, epoch)
    assert out.dtype == np.float64 and out.shape == (n_steps,) and out.flags.c_contiguous
    return out


def test_constant():
    np.testing.assert_array_equal(rates(Constant(0.3), 10, 4, epoch=2), [0.3] * 4)


def test_step_decay_is_constant_within_an_epoch():
    schedule = StepDecay(0.1, step_size=2, gamma=0.5)
    per_epoch = [rates(schedule, 3 * epoch, 3, epoch) for epoch in range(5)]
    for got, expected in zip(per_epoch, [0.1, 0.1, 0.05, 0.05, 0.025]):
        np.testing.assert_allclose(got, [expected] * 3, rtol=1e-15)


def test_exponential_decay_per_epoch_and_per_step():
    np.testing.assert_allclose(rates(ExponentialDecay(0.1, 0.5), 40, 2, epoch=3), [0.0125, 0.0125], rtol=1e-15)
    per_step = ExponentialDecay(0.1, 0.5, per="step")
    np.testing.assert_allclose(rates(per_step, 2, 3, epoch=7), [0.025, 0.0125, 0.00625], rtol=1e-15)


def test_cosine_decay_with_warmup():
    schedule = CosineDecay(1.0, total_steps=10, warmup_steps=4, min_lr=0.1)
    got = rates(schedule, 0, 12)
    # warm-up t = 0..3: (t + 1)/4; cosine over t = 4..9 with progress (t − 4)/6; min_lr from t = 10.
    expected = [0.25, 0.5, 0.75, 1.0, 1.0, 0.1 + 0.9 * (1 + math.sqrt(3) / 2) / 2, 0.1 + 0.9 * 0.75, 0.55]
    expected += [0.1 + 0.9 * 0.25, 0.1 + 0.9 * (1 - math.sqrt(3) / 2) / 2, 0.1, 0.1]
    np.testing.assert_allclose(got, expected, rtol=1e-14)


def test_cosine_decay_without_warmup_starts_at_lr():
    got = rates(CosineDecay(0.2, total_steps=4), 0, 6)
    np.testing.assert_allclose(got, [0.2, 0.2 * (1 + math.sqrt(0.5)) / 2, 0.1, 0.2 * (1 - math.sqrt(0.5)) / 2, 0, 0])


def test_inverse_scaling():
    got = rates(InverseScaling(0.1, power_t=0.5), 0, 16)
    np.testing.assert_allclose(got[[0, 3, 8, 15]], [0.1, 0.05, 0.1 / 3, 0.025], rtol=1e-15)
    np.testing.assert_array_equal(rates(InverseScaling(0.1, power_t=0.0), 5, 2), [0.1, 0.1])


@pytest.mark.parametrize(
    "schedule",
    [CosineDecay(0.1, 50, warmup_steps=7, min_lr=0.01), InverseScaling(0.3, 0.7), ExponentialDecay(1, 0.9, "step")],
    ids=repr,
)
def test_rates_do_not_depend_on_how_steps_are_split_into_epochs(schedule):
    whole = rates(schedule, 0, 60)
    pieces = np.concatenate([rates(schedule, 0, 13), rates(schedule, 13, 40, 1), rates(schedule, 53, 7, 2)])
    np.testing.assert_array_equal(whole, pieces)


# ---- ReduceLROnPlateau ----------------------------------------------------------------


def run_plateau(schedule, losses, key="val_loss"):
    """The rate of each epoch, and of the epoch after the last, feeding ``losses``."""
    seen = []
    for epoch, loss in enumerate(losses):
        seen.append(float(rates(schedule, 0, 1, epoch)[0]))
        schedule.end_epoch(epoch, {"loss": 123.0, key: loss} if key != "loss" else {"loss": loss})
    seen.append(float(rates(schedule, 0, 1, len(losses))[0]))
    return seen


def test_plateau_reduces_after_patience_epochs_without_improvement():
    schedule = ReduceLROnPlateau(0.1, factor=0.5, patience=2)
    # improvements at epochs 0, 1; none at 2, 3 → reduced from epoch 4; none at 4, 5 → again from epoch 6.
    got = run_plateau(schedule, [1.0, 0.9, 0.95, 0.92, 0.91, 0.93, 0.5])
    np.testing.assert_allclose(got, [0.1] * 4 + [0.05] * 2 + [0.025] * 2, rtol=1e-15)


def test_plateau_ignores_changes_below_min_delta():
    schedule = ReduceLROnPlateau(0.1, factor=0.5, patience=2, min_delta=0.01)
    got = run_plateau(schedule, [1.0, 0.995, 0.991, 0.5])
    np.testing.assert_allclose(got, [0.1] * 3 + [0.05] * 2, rtol=1e-15)


def test_plateau_cooldown_and_min_lr():
    schedule = ReduceLROnPlateau(0.1, factor=0.1, patience=1, cooldown=2, min_lr=0.005)
    got = run_plateau(schedule, [1.0, 2.0, 2.0, 2.0, 2.0, 2.0])
    # reduced after epoch 1; epochs 2 and 3 cool down; reduced again (to min_lr) after epoch 4.
    np.testing.assert_allclose(got, [0.1, 0.1, 0.01, 0.01, 0.01, 0.005, 0.005], rtol=1e-15)


def test_plateau_falls_back_to_loss_and_nan_never_improves():
    schedule = ReduceLROnPlateau(0.1, factor=0.5, patience=1)
    got = run_plateau(schedule, [1.0, float("nan")], key="loss")
    np.testing.assert_allclose(got, [0.1, 0.1, 0.05], rtol=1e-15)
    with pytest.raises(KeyError, match="monitors 'val_loss'"):
        schedule.end_epoch(2, {"accuracy": 0.5})


def test_plateau_state_round_trip_resumes_identically():
    losses = [1.0, 0.8, 0.85, 0.9, 0.7, 0.71, 0.72, 0.73, 0.74]
    original = ReduceLROnPlateau(0.1, factor=0.5, patience=2, cooldown=1)
    run_plateau(original, losses[:4])
    saved = json.loads(json.dumps({"config": original.config(), "state": original.state()}))
    resumed = schedule_from_config("ReduceLROnPlateau", saved["config"])
    resumed.load_state(saved["state"])
    assert resumed.state() == original.state()
    assert run_plateau(resumed, losses[4:]) == run_plateau(original, losses[4:])


def test_fresh_plateau_state_is_json_compatible():
    state = ReduceLROnPlateau(0.1).state()
    assert json.loads(json.dumps(state)) == state == {"current_lr": 0.1, "best": None, "wait": 0, "cooldown_left": 0}


# ---- config, validation -----------------------------------------------------------------

ALL = [
    Constant(0.1),
    StepDecay(0.1, 3, gamma=0.5),
    ExponentialDecay(0.1, 0.9, per="step"),
    CosineDecay(0.1, 100, warmup_steps=5, min_lr=0.001),
    InverseScaling(0.1, power_t=0.25),
    ReduceLROnPlateau(0.1, monitor="loss", factor=0.2, patience=3, min_delta=0.0, min_lr=1e-4, cooldown=1),
]


@pytest.mark.parametrize("schedule", ALL, ids=repr)
def test_config_round_trip(schedule):
    name = type(schedule).__name__
    assert SCHEDULES[name] is type(schedule)
    twin = schedule_from_config(name, json.loads(json.dumps(schedule.config())))
    assert twin.config() == schedule.config()
    np.testing.assert_array_equal(rates(twin, 17, 30, 4), rates(schedule, 17, 30, 4))
    assert json.loads(json.dumps(schedule.state())) == schedule.state()


def test_unknown_schedule():
    with pytest.raises(ValueError, match="Unknown schedule 'Cyclic'; expected one of Constant, CosineDecay"):
        schedule_from_config("Cyclic", {})


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Constant(0), r"lr must be a finite number > 0, got 0\."),
        (lambda: StepDecay(0.1, 0), r"step_size must be a positive integer, got 0\."),
        (lambda: StepDecay(0.1, 2, gamma=1.5), r"gamma must be in \(0, 1\], got 1.5\."),
        (lambda: ExponentialDecay(0.1, 0.0), r"gamma must be in \(0, 1\], got 0.0\."),
        (lambda: ExponentialDecay(0.1, 0.9, per="batch"), r"per must be 'epoch' or 'step', got 'batch'\."),
        (lambda: CosineDecay(0.1, 10, warmup_steps=10), r"warmup_steps must be in \[0, total_steps\) = \[0, 10\)"),
        (lambda: CosineDecay(0.1, 10, min_lr=0.2), r"min_lr must be in \[0, lr\] = \[0, 0.1\], got 0.2\."),
        (lambda: InverseScaling(0.1, power_t=-1), r"power_t must be in \[0, inf\), got -1\."),
        (lambda: ReduceLROnPlateau(0.1, factor=1.0), r"factor must be in \(0, 1\), got 1.0\."),
        (lambda: ReduceLROnPlateau(0.1, patience=0), r"patience must be a positive integer, got 0\."),
        (lambda: ReduceLROnPlateau(0.1, cooldown=-1), r"cooldown must be an integer >= 0, got -1\."),
        (lambda: ReduceLROnPlateau(0.1, min_delta=-1e-3), r"min_delta must be in \[0, inf\), got -0.001\."),
    ],
)
def test_invalid_arguments_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# ---- with an optimizer ----------------------------------------------------------------


def test_optimizer_takes_a_schedule():
    schedule = CosineDecay(0.1, total_steps=1000)
    opt = jp.SGD(lr=schedule)
    assert opt.lr is schedule and opt.schedule is schedule
    np.testing.assert_array_equal(opt.learning_rates(100, 10, 3), rates(schedule, 100, 10, 3))
    assert "lr=CosineDecay(lr=0.1, total_steps=1000" in repr(opt)


def test_fit_with_a_schedule():
    """Needs the training loop to take its rates from ``optimizer.learning_rates``."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(96, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1
    net = jp.Network([jp.Dense(1, "identity")], input_dim=3, loss="mse", seed=0)
    opt = jp.SGD(lr=CosineDecay(0.1, total_steps=60, warmup_steps=6))
    losses = net.fit(X, y, epochs=5, batch_size=8, optimizer=opt)["loss"]
    assert losses[-1] < 0.1 * losses[0]
    assert opt.step == 60
