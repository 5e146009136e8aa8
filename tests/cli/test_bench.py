"""``jitprop bench``: how it alternates engines, what it times and what it reports.

The engines here are stand-ins whose epochs take a set time (no sleeping):
the tests check the bench's bookkeeping, not anyone's speed.
"""

import json

import numpy as np
import pytest

from jitprop import cli
from jitprop.cli import bench

TINY = bench.Workload("T", "tiny 4-3-2", 60, (4, 3, 2), "relu", "cross_entropy", 10)


@pytest.fixture(autouse=True)
def no_settling(monkeypatch):
    monkeypatch.setattr(bench, "SETTLE_SECONDS", 0.0)


def stand_in(name, seconds, calls):
    """An engine class whose epochs report ``seconds`` (one value per call, cycling) and log into ``calls``."""

    class StandIn:
        def __init__(self, workload, X, y, threads):
            assert X.shape == (workload.n, workload.sizes[0])
            self.name = name
            self.count = 0

        def epoch(self):
            calls.append(name)
            value = seconds[self.count % len(seconds)]
            self.count += 1
            return value

    StandIn.name = name
    return StandIn


def test_engines_alternate_and_each_timed_epoch_counts_once():
    calls = []
    engines = (stand_in("jitprop", [2.0], calls), stand_in("slow", [4.0], calls))
    result = bench.compare_workload(TINY, threads=1, repeats=3, engines=engines)
    # A warm-up epoch each, then one timed epoch per turn (epochs of 2 s and
    # 4 s are long enough to need no re-warming).
    assert calls == ["jitprop", "slow"] * 4
    assert result["engines"]["jitprop"]["examples_per_second"] == pytest.approx(60 / 2.0)
    assert result["engines"]["slow"]["epoch_seconds"] == [4.0, 4.0, 4.0]
    assert result["ratios"] == {"slow": pytest.approx(2.0)}


def test_short_epochs_are_timed_after_untimed_ones_for_the_rewarm_time():
    calls = []
    # After the warm-up, each turn runs untimed epochs until they add up to
    # REWARM_SECONDS (0.02): 0.015 + 0.015 in the first turn, 0.025 in the
    # second; then one timed epoch.
    jitprop = stand_in("jitprop", [0.002, 0.015, 0.015, 0.001, 0.025, 0.003], calls)
    engines = (jitprop, stand_in("long", [3.0], calls))
    result = bench.compare_workload(TINY, threads=1, repeats=2, engines=engines)
    assert bench.REWARM_SECONDS == 0.02
    assert calls == ["jitprop", "long"] + ["jitprop"] * 3 + ["long"] + ["jitprop"] * 2 + ["long"]
    assert result["engines"]["jitprop"]["epoch_seconds"] == [0.001, 0.003]
    assert result["engines"]["jitprop"]["warmup_seconds"] == 0.002


def test_the_median_epoch_is_reported():
    calls = []
    engines = (stand_in("jitprop", [1.0, 5.0, 1.5], calls),)
    result = bench.compare_workload(TINY, threads=1, repeats=2, engines=engines)
    # Warm-up 1.0, then timed 5.0 and 1.5: the median of two is their mean.
    assert result["engines"]["jitprop"]["epoch_seconds"] == [5.0, 1.5]
    assert result["engines"]["jitprop"]["examples_per_second"] == pytest.approx(60 / 3.25)


def test_ratios_pair_the_epochs_of_each_round():
    calls = []
    # The third round is a slow spell for jitprop, the second and third for
    # the peer: round by round jitprop is 2x faster, whatever the medians say.
    engines = (stand_in("jitprop", [1.0, 1.0, 1.0, 4.0], calls), stand_in("peer", [2.0, 2.0, 8.0, 8.0], calls))
    result = bench.compare_workload(TINY, threads=1, repeats=3, engines=engines)
    assert result["ratios"] == {"peer": pytest.approx(2.0)}  # rounds: 2, 8 and 2
    assert result["engines"]["jitprop"]["examples_per_second"] == pytest.approx(60 / 1.0)
    assert result["engines"]["peer"]["examples_per_second"] == pytest.approx(60 / 8.0)


def test_a_peer_that_is_not_installed_is_skipped_with_a_note(monkeypatch):
    monkeypatch.setitem(bench._PEER_MODULES, "ghost", "jitprop_no_such_module")
    calls = []
    engines = (stand_in("jitprop", [2.0], calls), stand_in("ghost", [1.0], calls))
    result = bench.compare_workload(TINY, threads=1, repeats=1, engines=engines)
    assert "ghost" not in result["engines"]
    assert calls == ["jitprop", "jitprop"]
    assert any("ghost" in note and "not installed" in note for note in result["notes"])


def test_jitprop_and_numpy_train_a_real_workload():
    result = bench.compare_workload(
        bench.WORKLOADS["W4b64"], threads=1, repeats=1, quick=True, engines=(bench.JitpropEngine, bench.NumpyEngine)
    )
    speeds = {name: entry["examples_per_second"] for name, entry in result["engines"].items()}
    assert set(speeds) == {"jitprop", "numpy"}
    assert all(np.isfinite(s) and s > 0 for s in speeds.values())
    seconds = {name: np.array(entry["epoch_seconds"]) for name, entry in result["engines"].items()}
    assert result["ratios"]["numpy"] == pytest.approx(np.median(seconds["numpy"] / seconds["jitprop"]))
    workload = bench.WORKLOADS["W4b64"]
    gflops = workload.flops_per_example() * speeds["jitprop"] / 1e9
    assert result["engines"]["jitprop"]["gflops"] == pytest.approx(gflops)


def test_training_flops_count_every_product():
    # Forward and weight-gradient products of both layers, input gradient of the second only.
    w = bench.Workload("F", "", 1, (5, 4, 3), "relu", "mse", 1)
    assert w.flops_per_example() == 2 * (2 * 5 * 4 + 2 * 4 * 3) + 2 * 4 * 3


def test_report_table_shows_speeds_and_ratios():
    calls = []
    engines = (stand_in("jitprop", [2.0], calls), stand_in("slow", [4.0], calls))
    report = {
        "machine": {"cpu": "x86_64", "threads": 2},
        "versions": {},
        "threading_layer": "omp",
        "workloads": [bench.compare_workload(TINY, threads=2, repeats=1, engines=engines)],
        "matmul": [{"shape": [128, 784, 256], "jitprop_gflops": 150.0, "numpy_gflops": 200.0, "ratio": 0.75}],
    }
    text = bench.format_report(report)
    assert "threads: 2 (omp)" in text
    jitprop_line = next(line for line in text.splitlines() if line.split()[:2] == ["T", "jitprop"])
    slow_line = next(line for line in text.splitlines() if line.split()[:2] == ["T", "slow"])
    assert "30" in jitprop_line.split()[2]  # 60 examples in 2 s
    assert slow_line.split()[-1] == "2.00"
    assert "128x784x256: jitprop 150.0 GFLOP/s, numpy 200.0 GFLOP/s, ratio 0.75" in text


def test_unknown_workload_is_named(capsys):
    assert cli.main(["bench", "--workloads", "W1,W9"]) != 0
    assert "W9" in capsys.readouterr().err


def test_thread_scaling_alternates_thread_counts(monkeypatch):
    import numba

    seen = []

    class Recorder:
        def __init__(self, workload, X, y, threads):
            pass

        def epoch(self):
            seen.append(numba.get_num_threads())
            return 2.0 / numba.get_num_threads() ** 0.5

    monkeypatch.setattr(bench, "JitpropEngine", Recorder)
    before = numba.get_num_threads()
    result = bench.thread_scaling(TINY, repeats=2)
    assert numba.get_num_threads() == before
    assert seen[1:] == [1, 2, 1, 2]
    assert result["speedup"] == pytest.approx(2**0.5)
    json.dumps(result)  # the report's part is plain JSON
