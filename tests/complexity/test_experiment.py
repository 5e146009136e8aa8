"""jitprop.complexity.experiment and .timing: what the experiment returns, its options, threads and clocks.

The experiment is only checked for what it returns: its timings depend on
the machine and its load (docs/complexity.md has the measured figures).
"""

import json
import math

import numpy as np
import pytest

from helpers import dense_net
from jitprop import complexity


@pytest.fixture(scope="module")
def quick_results():
    return complexity.measure(quick=True, repeats=1)


def test_measure_quick_returns_the_documented_structure(quick_results):
    results = json.loads(json.dumps(quick_results))  # JSON-compatible throughout
    assert set(results["exponents"]) == {"width", "examples", "epochs", "positions", "steps"}
    assert all(isinstance(value, float) for value in results["exponents"].values())
    for name, sweep in results["sweeps"].items():
        assert sweep["fit"]["slope"] == results["exponents"][name]
        low, high = sweep["fit"]["ci95"]
        assert low <= sweep["fit"]["slope"] <= high
        assert len(sweep["points"]) >= 3
        for point in sweep["points"]:
            assert point["seconds"] > 0 and point["predicted_seconds"] > 0
    assert len(results["backward_forward"]) >= 3
    for entry in results["backward_forward"]:
        assert set(entry) >= {"layers", "predicted", "measured", "matmul_ratio", "batch_size", "tile_rows"}
        assert entry["layers"][0] in (784, 256)
        assert 1.0 <= entry["predicted"] < 2.0
    positions = results["sweeps"]["positions"]["points"]
    assert [p["x"] for p in positions] == [side * side for side in complexity.QUICK.image_sides]
    assert len({p["params"] for p in positions}) == 1  # the weights stay as they are
    assert len(results["cnn_backward_forward"]) == len(complexity.QUICK.cnns)
    for entry in results["cnn_backward_forward"]:
        assert entry["network"] in complexity.CNNS and entry["weight_uses"] > entry["weights"]
        assert 1.0 <= entry["predicted"] < 2.0 and _timed(entry)
    assert "cnn_ratios_within_tolerance" in results["acceptance"]
    steps = results["sweeps"]["steps"]["points"]
    assert [p["x"] for p in steps] == list(complexity.QUICK.sequence_steps)
    assert len({p["params"] for p in steps}) == 1
    assert len(results["rnn_backward_forward"]) == len(complexity.QUICK.rnns)
    for entry in results["rnn_backward_forward"]:
        assert entry["network"] in complexity.RNNS and entry["weight_uses"] > entry["weights"]
        assert 1.0 <= entry["predicted"] < 2.5 and _timed(entry)
    assert "rnn_ratios_within_tolerance" in results["acceptance"]
    inference = results["inference"]
    assert inference["training_seconds_per_example"] > 0 and inference["inference_seconds_per_example"] > 0
    assert 2.0 < inference["predicted_ratio"] < 3.0
    assert results["calibration"]["flops_per_second"] > 0
    assert len(results["prediction"]["errors"]) == len(results["sweeps"]["width"]["points"])
    assert set(results["acceptance"]) >= {"exponents_in_band", "ratios_within_tolerance", "prediction_within_tolerance"}
    assert results["plan"]["repeats"] == 1 and results["plan"]["clock"] == "wall"


def test_format_and_plot(quick_results, tmp_path):
    text = complexity.format_results(quick_results)
    assert "Calibration:" in text and "Backward/forward" in text and "Acceptance:" in text
    assert "Backward/forward of recurrent networks" in text and "  steps " in text
    pytest.importorskip("matplotlib")
    path = tmp_path / "complexity.png"
    complexity.plot(quick_results, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_measure_rejects_bad_options():
    with pytest.raises(ValueError, match="statistic"):
        complexity.measure(quick=True, statistic="mean")
    with pytest.raises(ValueError, match="clock"):
        complexity.measure(quick=True, clock="cpu", threads=2)
    with pytest.raises(ValueError, match="clock must be"):
        complexity.measure(quick=True, clock="sundial")


def test_calibrate_leaves_the_network_alone():
    net = dense_net([20, 16, 3])
    before = net.params.copy()
    calibration = complexity.calibrate(net, n_examples=256, batch_size=32, repeats=1)
    np.testing.assert_array_equal(net.params, before)
    assert calibration["layers"] == [20, 16, 3] and calibration["gflops"] > 0


def test_thread_counts_are_checked_and_clocks_resolved():
    import time

    from jitprop.complexity.timing import check_threads, resolve_clock

    assert check_threads(None) is None and check_threads(1) == 1
    assert resolve_clock("cpu", None) == (1, time.thread_time)
    assert resolve_clock("wall", 2) == (2, time.perf_counter)
    with pytest.raises(ValueError, match="threads must be an integer"):
        check_threads(0)
    with pytest.raises(ValueError, match="threads must be an integer"):
        check_threads(True)


def test_measure_restores_the_thread_count(monkeypatch):
    import numba

    from jitprop.complexity import experiment

    seen = []
    monkeypatch.setattr(experiment, "_measure", lambda *args: seen.append(numba.get_num_threads()))
    before = numba.get_num_threads()
    complexity.measure(quick=True, threads=1)
    assert seen == [1] and numba.get_num_threads() == before


def test_the_positions_sweep_network_keeps_its_weights_and_scales_its_products_with_the_positions():
    nets = [complexity.positions_network(side) for side in (8, 16, 32)]
    assert len({net.n_params for net in nets}) == 1
    uses = [complexity.costs(net).weight_uses for net in nets]
    # Convolutions scale with the side squared; the dense layer after the global pool (160 weights) does not.
    assert (uses[1] - 160) == 4 * (uses[0] - 160) and (uses[2] - 160) == 16 * (uses[0] - 160)


def test_the_steps_sweep_network_keeps_its_weights_and_scales_its_products_with_the_steps():
    nets = [complexity.steps_network(steps) for steps in (8, 16, 32)]
    assert len({net.n_params for net in nets}) == 1
    uses = [complexity.costs(net).weight_uses for net in nets]
    # The LSTM's weights are used at every step; the dense layer's after its last output (320) once.
    assert (uses[1] - 320) == 2 * (uses[0] - 320) and (uses[2] - 320) == 4 * (uses[0] - 320)


def test_a_sweep_fits_the_exponent_of_synthetic_timings():
    import time

    from jitprop.complexity.experiment import _Experiment

    experiment = _Experiment(complexity.QUICK, 0, np.median, time.perf_counter)
    positions = [64, 256, 1024]
    setups = [(None, (lambda p=p: 2e-6 * p**1.05), lambda: None) for p in positions]
    result = experiment.sweep("positions", positions, setups, [1e3 * p for p in positions], 1e9)
    assert result["fit"]["slope"] == pytest.approx(1.05)
    assert result["model_slope"] == pytest.approx(1.0)
    assert [point["samples"] for point in result["points"]][0] == [2e-6 * 64**1.05] * complexity.QUICK.repeats


def test_a_sweep_measures_each_point_against_a_run_of_the_first_just_before_it():
    # A machine whose speed changes at random from one run of the first point to the next, as in slow spells:
    # the points' raw times scatter, but each point's ratio to the run before it is exact, and so is the slope.
    import time

    from jitprop.complexity.experiment import _Experiment

    experiment = _Experiment(complexity.QUICK, 0, np.median, time.perf_counter)
    speeds = np.random.default_rng(0).choice([1.0, 2.0, 3.0], size=1000)
    state = {"runs_of_first": 0}

    def slowness():
        return speeds[state["runs_of_first"] - 1]

    def first():
        state["runs_of_first"] += 1
        return 2e-6 * 64**1.05 * slowness()

    positions = [64, 256, 1024]
    setups = [(None, first, lambda: None)]
    setups += [(None, (lambda p=p: 2e-6 * p**1.05 * slowness()), lambda: None) for p in positions[1:]]
    result = experiment.sweep("positions", positions, setups, [1e3 * p for p in positions], 1e9)
    assert result["fit"]["slope"] == pytest.approx(1.05, rel=1e-12)
    assert any(len(set(point["samples"])) > 1 for point in result["points"])  # (the spells were there)
    runs_of_first = state["runs_of_first"]
    assert runs_of_first == len(positions) * complexity.QUICK.repeats  # (one before every point's run)


def test_calibrate_trains_a_cnn_on_images_of_its_input_shape():
    net = complexity.cnn_network("16x16x1 conv8-pool-conv16-dense10")
    result = complexity.calibrate(net, n_examples=128, batch_size=64, repeats=1)
    assert result["flops_per_second"] > 0 and result["layers"][0] == 256


def _timed(entry):
    """Whether a backward/forward entry holds real timings: a ratio of one quick sample each may be of any
    sign on a busy machine (wall clock), so its value is the experiment's figure, not this test's."""
    timings = entry["by_batch_size"]
    return math.isfinite(entry["measured"]) and all(
        t["forward_seconds_per_example"] > 0 and t["gradient_seconds_per_example"] > 0 for t in timings
    )
