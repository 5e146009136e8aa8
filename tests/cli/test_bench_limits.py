"""``jitprop bench``'s measures of the machine's limits: what they alternate, pair and report."""

import json
import os

import numba
import numpy as np
import pytest

from jitprop.cli import bench_limits, bench_timing
from jitprop.cli.bench_workloads import Workload

TINY = Workload("T", "tiny 4-3-2", 60, (4, 3, 2), "relu", "cross_entropy", 10)


@pytest.fixture(autouse=True)
def no_settling(monkeypatch):
    monkeypatch.setattr(bench_timing, "SETTLE_SECONDS", 0.0)


def test_thread_scaling_alternates_thread_counts_and_pairs_them(monkeypatch):
    seen = []
    # Epoch times in the order they are asked for: a warm-up (long enough to need no re-warming), then
    # (1 thread, 2 threads) a pair, the machine's speed drifting from pair to pair. The pairs' ratios
    # are 1/0.6, 2 and 3; the medians of each thread count's times alone (3 and 1) would say 3.
    times = iter([2.0, 1.0, 0.6, 4.0, 2.0, 3.0, 1.0])

    class Recorder:
        def __init__(self, workload, X, y, threads):
            pass

        def epoch(self):
            seen.append(numba.get_num_threads())
            return next(times)

    cores = iter([{"0": 100.0, "1": 70.0}, {"0": 90.0, "1": 80.0}, {"0": 95.0, "1": 75.0}])
    monkeypatch.setattr(bench_limits, "JitpropEngine", Recorder)
    monkeypatch.setattr(bench_limits, "core_speeds", lambda: next(cores))
    before = numba.get_num_threads()
    result = bench_limits.thread_scaling(TINY, repeats=3)
    assert numba.get_num_threads() == before
    assert seen[1:] == [1, 2, 1, 2, 1, 2]
    assert result["speedup"] == pytest.approx(2.0)
    assert result["examples_per_second"] == {"1": pytest.approx(60 / 3.0), "2": pytest.approx(60 / 1.0)}
    assert result["core_gflops"] == {"0": 95.0, "1": 75.0}  # each CPU's median over the repeats
    json.dumps(result)  # the report's part is plain JSON


def test_single_thread_limit_chains_ratios_each_measured_in_one_process(monkeypatch):
    monkeypatch.setattr(bench_limits, "PRODUCT_LIBRARIES", ("numpy", "pytorch", "jitprop"))
    monkeypatch.setattr(bench_limits, "installed", lambda library: library != "pytorch")
    runs = []
    # Per round: the training against jitprop's product in its process, then numpy's product against
    # jitprop's in its own. The machine's speed moves between processes (round 2's numpy process runs
    # at half the speed of its training's); only ratios taken in one process are set against each other.
    trainings = [
        {"training_gflops": 90.0, "product_gflops": 120.0, "ratio": 0.75},
        {"training_gflops": 100.0, "product_gflops": 125.0, "ratio": 0.8},
        {"training_gflops": 50.0, "product_gflops": 70.0, "ratio": 0.7},
    ]
    products = [
        {"gflops": 115.0, "jitprop_gflops": 100.0, "ratio": 1.15},
        {"gflops": 60.0, "jitprop_gflops": 60.0, "ratio": 1.0},
        {"gflops": 70.0, "jitprop_gflops": 50.0, "ratio": 1.4},
    ]

    def run_training(workload, quick):
        assert (workload, quick) == ("T", True)
        runs.append("training")
        return trainings[runs.count("training") - 1]

    def run_product(library):
        runs.append(library)
        return {**products[runs.count(library) - 1], "blas": ["openblas, 1 threads"]}

    result = bench_limits.single_thread_limit(
        TINY, rounds=3, quick=True, log=lambda m: None, run_training=run_training, run_product=run_product
    )
    assert runs == ["training", "numpy"] * 3  # (pytorch not installed; jitprop's product timed in both)
    assert result["training_gflops"] == pytest.approx(90.0)
    assert result["training_over_own_product"] == pytest.approx(0.75)
    assert result["product_gflops"] == {"jitprop": 120.0, "numpy": 70.0}
    assert result["relative"] == {"jitprop": 1.0, "numpy": pytest.approx(1.15)}
    assert result["best"] == "numpy"
    # Each round's training over its own product, over numpy's product relative to jitprop's in that round.
    assert result["ratio"] == pytest.approx(np.median([0.75 / 1.15, 0.8 / 1.0, 0.7 / 1.4]))
    assert result["blas"] == {"numpy": ["openblas, 1 threads"]}
    json.dumps(result)


def test_jitprop_is_the_best_product_where_no_peer_beats_it_beside_it(monkeypatch):
    monkeypatch.setattr(bench_limits, "PRODUCT_LIBRARIES", ("numpy", "jitprop"))
    monkeypatch.setattr(bench_limits, "installed", lambda library: True)
    result = bench_limits.single_thread_limit(
        TINY,
        rounds=2,
        log=lambda m: None,
        run_training=lambda workload, quick: {"training_gflops": 80.0, "product_gflops": 100.0, "ratio": 0.8},
        run_product=lambda library: {"gflops": 95.0, "jitprop_gflops": 100.0, "ratio": 0.95},
    )
    assert result["best"] == "jitprop" and result["ratio"] == pytest.approx(0.8)


def test_the_training_process_alternates_epochs_and_bursts_of_its_product(monkeypatch):
    monkeypatch.setattr(bench_limits, "PRODUCT_CALLS", 1)
    events = []

    class Recorder:
        def __init__(self, workload, X, y, threads):
            self.X = X

        def epoch(self):
            events.append(("epoch", numba.get_num_threads()))
            return 2.0

    def product():
        events.append(("product", numba.get_num_threads()))

    monkeypatch.setattr(bench_limits, "JitpropEngine", Recorder)
    monkeypatch.setattr(bench_limits, "_micro_kernel_product", lambda a, b_t: product)
    result = bench_limits.training_against_product(TINY, quick=True, epochs=3)
    # A warm-up epoch and untimed products first; then epoch, product, epoch, product... all on one thread.
    assert [name for name, _ in events] == ["epoch", "product"] + ["epoch", "product"] * 3
    assert {threads for _, threads in events} == {1}
    flops = TINY.flops_per_example() * TINY.data(True)[0].shape[0]
    assert result["training_gflops"] == pytest.approx(flops / 2.0 / 1e9)
    assert result["ratio"] == pytest.approx(result["training_gflops"] / result["product_gflops"], rel=0.5)
    json.dumps(result)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="threads cannot be pinned here")
def test_each_cpu_times_the_product_on_its_own_and_the_thread_is_let_free_again():
    allowed = os.sched_getaffinity(0)
    speeds = bench_limits.core_speeds(calls=2)
    assert os.sched_getaffinity(0) == allowed
    assert set(speeds) == {str(cpu) for cpu in allowed} and all(gflops > 0 for gflops in speeds.values())


@pytest.mark.parametrize("library", ["numpy", "jitprop"])
def test_a_library_s_product_is_timed_beside_jitprop_s(library):
    figures = bench_limits.one_product(library, 48, 40, 64)
    assert figures["gflops"] > 0 and figures["jitprop_gflops"] > 0
    assert figures["ratio"] > 0
    if library == "jitprop":
        assert figures["ratio"] == pytest.approx(1.0, rel=0.5)  # (the same product, bursts apart)


def test_the_jitprop_product_is_the_product_it_names(rng):
    # The micro-kernel W3's forward pass runs, on a shape with partial panels: a @ b_t.T.
    from jitprop.kernels.panels import columns_for_itemsize, matmul_nt_reading_b

    a = rng.random((37, 29), dtype=np.float32)
    b_t = rng.random((19, 29), dtype=np.float32)
    out = np.empty((37, 19), np.float32)
    matmul_nt_reading_b(a, b_t, np.empty(29 * columns_for_itemsize(4), np.float32), out)
    np.testing.assert_allclose(out, a.astype(np.float64) @ b_t.T.astype(np.float64), rtol=1e-5)


def test_product_processes_run_on_one_thread_and_peers_without_the_old_openblas_variables(monkeypatch):
    seen = {}

    def fake_run(command, capture_output, text, env):
        seen[command[3]] = (command[4:], env)
        return type("Done", (), {"returncode": 0, "stdout": json.dumps({"gflops": 1.0}), "stderr": ""})()

    monkeypatch.setattr(bench_timing.subprocess, "run", fake_run)
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    for library in ("numpy", "jitprop"):
        assert bench_limits.product_process(library) == {"gflops": 1.0}
    for library, (shape, env) in seen.items():
        assert shape == [str(size) for size in bench_limits.LIMIT_PRODUCT]
        assert all(env[name] == "1" for name in ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"))
    assert seen["jitprop"][1]["OPENBLAS_CORETYPE"] == "Haswell"
    assert "OPENBLAS_CORETYPE" not in seen["numpy"][1]


def test_matrix_products_time_both_of_jitprops_forms_against_numpys(monkeypatch):
    monkeypatch.setattr(bench_timing, "SETTLE_SECONDS", 0.0)
    rows = bench_limits.matmul_kernels(repeats=1, burst=2)
    assert [row["shape"] for row in rows] == [[128, 784, 256], [256, 1024, 1024]]
    for row in rows:
        for form, ratio in (("jitprop_gflops", "ratio"), ("micro_kernel_gflops", "micro_kernel_ratio")):
            assert row[form] > 0
            assert row[ratio] == pytest.approx(row[form] / row["numpy_gflops"])


def test_the_limits_are_reported():
    report = {
        "matmul": [
            {
                "shape": [128, 784, 256],
                "jitprop_gflops": 150.0,
                "micro_kernel_gflops": 180.0,
                "numpy_gflops": 200.0,
                "ratio": 0.75,
                "micro_kernel_ratio": 0.9,
            },
            {"shape": [256, 1024, 1024], "jitprop_gflops": 100.0, "numpy_gflops": 200.0, "ratio": 0.5},  # (older)
        ],
        "thread_scaling": [
            {
                "workload": "W1",
                "examples_per_second": {"1": 1000.0, "2": 1800.0},
                "speedup": 1.8,
                "core_gflops": {"0": 150.0, "1": 120.0},
            },
            {"workload": "W3", "examples_per_second": {"1": 10.0, "2": 19.0}, "speedup": 1.9},
        ],
        "single_thread_limit": {
            "workload": "W3",
            "shape": [256, 1024, 1024],
            "rounds": 3,
            "training_gflops": 90.0,
            "training_over_own_product": 0.8,
            "product_gflops": {"jitprop": 110.0, "numpy": 120.0},
            "relative": {"jitprop": 1.0, "numpy": 1.05},
            "best": "numpy",
            "ratio": 0.76,
            "blas": {"numpy": ["openblas 0.3.31, SkylakeX kernels, 1 threads"]},
        },
    }
    text = "\n".join(bench_limits.format_limits(report))
    assert (
        "128x784x256: jitprop micro-kernel 180.0 GFLOP/s (0.90), dot products 150.0 GFLOP/s (0.75), "
        "numpy 200.0 GFLOP/s" in text
    )
    assert "256x1024x1024: jitprop dot products 100.0 GFLOP/s (0.50), numpy 200.0 GFLOP/s" in text
    assert "thread scaling on W1: 1,000 examples/s with 1 thread, 1,800 with 2 (1.80x)" in text
    assert "thread scaling on W3: 10 examples/s with 1 thread, 19 with 2 (1.90x)" in text
    assert "64x784x256 product on its own: 150, 120 GFLOP/s (the slowest at 0.80 of the fastest)" in text
    assert (
        "W3 trains at 90.0 GFLOP/s, 0.80 of jitprop's 256x1024x1024 product timed between its epochs; each "
        "library's product over jitprop's in its process: jitprop 1.00, numpy 1.05 (jitprop 110.0, numpy 120.0 "
        "GFLOP/s); training over the best product (numpy): 0.76" in text
    )
    assert "numpy's BLAS: openblas 0.3.31, SkylakeX kernels, 1 threads" in text
    older = {"workload": "W3", "shape": [256, 1024, 1024], "rounds": 3, "training_gflops": 90.0}
    older.update(product_gflops={"numpy": 120.0}, best="numpy", ratio=0.75, blas={})
    text = "\n".join(bench_limits.format_limits({"matmul": [], "single_thread_limit": older}))
    assert "W3 trains at 90.0 GFLOP/s; the 256x1024x1024 product: numpy 120.0 GFLOP/s" in text  # (older reports)
