"""``jitprop bench``: how it alternates engines, what it times and what it reports.

The engines here are stand-ins whose epochs take a set time (no sleeping):
the tests check the bench's bookkeeping, not anyone's speed.
"""

import json
import sys
import types

import numpy as np
import pytest

from jitprop import cli
from jitprop.cli import bench, bench_fit_call, bench_inference, bench_timing
from jitprop.cli.bench_workloads import Conv, Dense, Flatten, MaxPool, Recurrent, WORKLOADS, Workload
from jitprop.cli.bench_engines import (
    _PEER_MODULES,
    HandWrittenEngine,
    JaxEngine,
    JitpropEngine,
    NumpyEngine,
    TorchEngine,
)

TINY = Workload("T", "tiny 4-3-2", 60, (4, 3, 2), "relu", "cross_entropy", 10)


@pytest.fixture(autouse=True)
def no_settling(monkeypatch):
    monkeypatch.setattr(bench_timing, "SETTLE_SECONDS", 0.0)


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
    result = bench_timing.compare_workload(TINY, threads=1, repeats=3, engines=engines)
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
    result = bench_timing.compare_workload(TINY, threads=1, repeats=2, engines=engines)
    assert bench_timing.REWARM_SECONDS == 0.02
    assert calls == ["jitprop", "long"] + ["jitprop"] * 3 + ["long"] + ["jitprop"] * 2 + ["long"]
    assert result["engines"]["jitprop"]["epoch_seconds"] == [0.001, 0.003]
    assert result["engines"]["jitprop"]["warmup_seconds"] == 0.002


def test_the_median_epoch_is_reported():
    calls = []
    engines = (stand_in("jitprop", [1.0, 5.0, 1.5], calls),)
    result = bench_timing.compare_workload(TINY, threads=1, repeats=2, engines=engines)
    # Warm-up 1.0, then timed 5.0 and 1.5: the median of two is their mean.
    assert result["engines"]["jitprop"]["epoch_seconds"] == [5.0, 1.5]
    assert result["engines"]["jitprop"]["examples_per_second"] == pytest.approx(60 / 3.25)


def test_ratios_pair_the_epochs_of_each_round():
    calls = []
    # The third round is a slow spell for jitprop, the second and third for
    # the peer: round by round jitprop is 2x faster, whatever the medians say.
    engines = (stand_in("jitprop", [1.0, 1.0, 1.0, 4.0], calls), stand_in("peer", [2.0, 2.0, 8.0, 8.0], calls))
    result = bench_timing.compare_workload(TINY, threads=1, repeats=3, engines=engines)
    assert result["ratios"] == {"peer": pytest.approx(2.0)}  # rounds: 2, 8 and 2
    assert result["engines"]["jitprop"]["examples_per_second"] == pytest.approx(60 / 1.0)
    assert result["engines"]["peer"]["examples_per_second"] == pytest.approx(60 / 8.0)


def test_a_peer_that_is_not_installed_is_skipped_with_a_note(monkeypatch):
    monkeypatch.setitem(_PEER_MODULES, "ghost", "jitprop_no_such_module")
    calls = []
    engines = (stand_in("jitprop", [2.0], calls), stand_in("ghost", [1.0], calls))
    result = bench_timing.compare_workload(TINY, threads=1, repeats=1, engines=engines)
    assert "ghost" not in result["engines"]
    assert calls == ["jitprop", "jitprop"]
    assert any("ghost" in note and "not installed" in note for note in result["notes"])


def test_jitprop_and_numpy_train_a_real_workload():
    result = bench_timing.compare_workload(
        WORKLOADS["W4b64"], threads=1, repeats=1, quick=True, engines=(JitpropEngine, NumpyEngine)
    )
    speeds = {name: entry["examples_per_second"] for name, entry in result["engines"].items()}
    assert set(speeds) == {"jitprop", "numpy"}
    assert all(np.isfinite(s) and s > 0 for s in speeds.values())
    seconds = {name: np.array(entry["epoch_seconds"]) for name, entry in result["engines"].items()}
    assert result["ratios"]["numpy"] == pytest.approx(np.median(seconds["numpy"] / seconds["jitprop"]))
    workload = WORKLOADS["W4b64"]
    gflops = workload.flops_per_example() * speeds["jitprop"] / 1e9
    assert result["engines"]["jitprop"]["gflops"] == pytest.approx(gflops)


def test_training_flops_count_every_product():
    # Forward and weight-gradient products of both layers, input gradient of the second only.
    w = Workload("F", "", 1, (5, 4, 3), "relu", "mse", 1)
    assert w.flops_per_example() == 2 * (2 * 5 * 4 + 2 * 4 * 3) + 2 * 4 * 3


def test_report_table_shows_speeds_and_ratios():
    calls = []
    engines = (stand_in("jitprop", [2.0], calls), stand_in("slow", [4.0], calls))
    report = {
        "machine": {"cpu": "x86_64", "threads": 2},
        "versions": {},
        "threading_layer": "omp",
        "workloads": [bench_timing.compare_workload(TINY, threads=2, repeats=1, engines=engines)],
        "matmul": [{"shape": [128, 784, 256], "jitprop_gflops": 150.0, "numpy_gflops": 200.0, "ratio": 0.75}],
    }
    text = bench.format_report(report)
    assert "threads: 2 (omp)" in text
    jitprop_line = next(line for line in text.splitlines() if line.split()[:2] == ["T", "jitprop"])
    slow_line = next(line for line in text.splitlines() if line.split()[:2] == ["T", "slow"])
    assert "30" in jitprop_line.split()[2]  # 60 examples in 2 s
    assert slow_line.split()[-1] == "2.00"
    assert "128x784x256: jitprop dot products 150.0 GFLOP/s (0.75), numpy 200.0 GFLOP/s" in text


def test_unknown_workload_is_named(capsys):
    assert cli.main(["bench", "--workloads", "W1,W9"]) != 0
    assert "W9" in capsys.readouterr().err


# ------------------------------------------------------------------ the CNN workloads
def test_w5_is_lenet5_on_28x28x1_images():
    w5 = WORKLOADS["W5"]
    assert (w5.n, w5.batch_size, w5.loss, w5.activation, w5.dataset) == (10_000, 64, "cross_entropy", "relu", "random")
    shape, layers = w5.architecture()
    assert shape == (28, 28, 1)
    assert layers == (
        Conv(6, 5, "same"),
        MaxPool(2),
        Conv(16, 5, "valid"),
        MaxPool(2),
        Flatten(),
        Dense(120),
        Dense(84),
        Dense(10),
    )
    assert w5.shapes() == [
        (28, 28, 1),
        (28, 28, 6),
        (14, 14, 6),
        (10, 10, 16),
        (5, 5, 16),
        (400,),
        (120,),
        (84,),
        (10,),
    ]
    X, y = w5.data(quick=True)
    assert X.shape == (2000, 28, 28, 1) and X.dtype == np.float32
    assert y.shape == (2000,) and set(np.unique(y)) <= set(range(10))


def test_w6_is_a_small_cnn_on_the_digits_as_8x8x1_images():
    from jitprop.io.datasets import load_digits

    w6 = WORKLOADS["W6"]
    assert (w6.batch_size, w6.loss, w6.dataset) == (32, "cross_entropy", "digits")
    shape, layers = w6.architecture()
    assert shape == (8, 8, 1)
    assert layers == (Conv(16, 3, "same"), MaxPool(2), Flatten(), Dense(10))
    X, y = w6.data()
    digits, labels = load_digits()
    assert X.shape == (1_797, 8, 8, 1) and X.dtype == np.float32
    np.testing.assert_array_equal(X.reshape(-1, 64), digits.astype(np.float32))
    np.testing.assert_array_equal(y, labels)


def test_dense_workloads_keep_their_widths_as_their_architecture():
    w1 = WORKLOADS["W1"]
    assert w1.dense and not WORKLOADS["W5"].dense
    assert w1.architecture() == ((784,), (Dense(256), Dense(128), Dense(10)))
    assert w1.flops_per_example() == 2 * 2 * (784 * 256 + 256 * 128 + 128 * 10) + 2 * (256 * 128 + 128 * 10)
    X, y = WORKLOADS["W2"].data()
    assert X.shape == (1_797, 64)


def test_cnn_training_flops_count_each_product_at_every_position():
    # A 3x3 convolution on 8x8x1 ("same": 64 positions, 16 filters), then 256 -> 10.
    conv, dense = 2 * 9 * 1 * 16 * 64, 2 * 256 * 10
    assert WORKLOADS["W6"].flops_per_example() == 2 * (conv + dense) + dense


def test_recurrent_workloads_and_their_flops():
    w7, w8 = WORKLOADS["W7"], WORKLOADS["W8"]
    assert w7.architecture() == ((50, 16), (Recurrent("lstm", 64), Dense(10)))
    assert w8.architecture() == ((100, 32), (Recurrent("gru", 128), Dense(10)))
    assert (w7.n, w7.batch_size, w8.n, w8.batch_size) == (8_192, 32, 4_096, 64)
    assert w7.shapes() == [(50, 16), (64,), (10,)]
    X, y = w7.data(quick=True)
    assert X.shape == (2_000, 50, 16) and X.dtype == np.float32 and set(np.unique(y)) <= set(range(10))
    # Per step, the inputs' product (16 -> 4·64) and the state's (64 -> 4·64): forward, weight gradient,
    # and the state's gradient through every step; the first layer passes no gradient to its inputs.
    inputs, state, dense = 2 * 50 * 16 * 256, 2 * 50 * 64 * 256, 2 * 64 * 10
    assert w7.flops_per_example() == 2 * inputs + 3 * state + 3 * dense
    inputs, state, dense = 2 * 100 * 32 * 384, 2 * 100 * 128 * 384, 2 * 128 * 10
    assert w8.flops_per_example() == 2 * inputs + 3 * state + 3 * dense


def test_the_peers_run_the_recurrent_cells_alike():
    """PyTorch's nn.LSTM/nn.GRU and the JAX cells give one loss from the same Keras-layout weights."""
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    rng = np.random.default_rng(1)
    for name in ("W7", "W8"):
        w = WORKLOADS[name]
        X, y = w.data(quick=True)
        X, y = X[:8], y[:8]
        jax_engine = JaxEngine(w, X, y, 1)
        perturbed = [[np.asarray(a) + 0.1 * rng.normal(size=a.shape) for a in arrays] for arrays in jax_engine.params]
        weights = [tuple(a.astype(np.float32) for a in arrays) for arrays in perturbed]
        torch_engine = TorchEngine(w, X, y, 1)
        jax_engine.set_weights(weights)
        torch_engine.set_weights(weights)
        assert jax_engine.loss(X, y) == pytest.approx(torch_engine.loss(X, y), rel=1e-5)


def test_the_jitprop_engine_builds_the_workload_s_network():
    w5 = WORKLOADS["W5"]
    X, y = w5.data(quick=True)
    net = JitpropEngine(w5, X[:10], y[:10], 1).net
    assert net.input_shape == (28, 28, 1)
    assert [type(layer).__name__ for layer in net.layers] == [
        "Conv2D", "MaxPool2D", "Conv2D", "MaxPool2D", "Flatten", "Dense", "Dense", "Dense",
    ]  # fmt: skip
    assert [layer.activation for layer in net.layers if hasattr(layer, "W")] == ["relu"] * 4 + ["softmax"]
    # LeNet-5's parameters: 156 + 2,416 + 48,120 + 10,164 + 850.
    assert net.n_params == 61_706


def test_dense_only_engines_skip_a_cnn_with_a_note():
    calls = []
    result = bench_timing.compare_workload(
        WORKLOADS["W6"], threads=1, repeats=1, engines=(stand_in_cnn("jitprop", calls), NumpyEngine)
    )
    assert set(result["engines"]) == {"jitprop"}
    assert any(note.startswith("numpy") and "dense networks only" in note for note in result["notes"])


def stand_in_cnn(name, calls):
    class StandIn:
        def __init__(self, workload, X, y, threads):
            assert X.shape[1:] == workload.architecture()[0]

        def epoch(self):
            calls.append(name)
            return 2.0

    StandIn.name = name
    return StandIn


PEERS = {"pytorch": ("torch", TorchEngine), "jax": ("jax", JaxEngine)}


@pytest.mark.parametrize("peer", sorted(PEERS))
@pytest.mark.parametrize("workload", ["W2", "W4b64", "W5", "W6", "W7", "W8"])
def test_a_peer_computes_jitprop_s_loss_from_jitprop_s_weights(peer, workload):
    module, engine = PEERS[peer]
    pytest.importorskip(module)
    w = WORKLOADS[workload]
    X, y = w.data(quick=True)
    X, y = X[:64], y[:64]
    ours = JitpropEngine(w, X, y, 1)
    theirs = engine(w, X, y, 1)
    theirs.set_weights(ours.weights())
    assert theirs.loss(X[:5], y[:5]) == pytest.approx(ours.loss(X[:5], y[:5]), rel=1e-5)


@pytest.mark.parametrize("peer", sorted(PEERS))
def test_a_peer_trains_a_cnn_epoch_by_epoch(peer):
    module, engine = PEERS[peer]
    pytest.importorskip(module)
    w6 = WORKLOADS["W6"]
    X, y = w6.data()
    runner = engine(w6, X[:300], y[:300], 1)
    before = runner.loss(X[:300], y[:300])
    for _ in range(3):
        assert runner.epoch() > 0
    assert runner.loss(X[:300], y[:300]) < before


# -------------------------------------------------------------- engines in their own processes
def test_processes_alternate_engines_round_by_round_and_pair_their_medians():
    runs = []
    per_round = {"jitprop": [[1.0, 1.2, 0.9], [2.0, 2.0, 2.0]], "peer": [[3.0, 3.0, 3.3], [4.0, 4.4, 4.0]]}

    def run_engine(workload, engine, threads, quick):
        assert (workload, threads, quick) == ("W6", 2, True)
        seconds = per_round[engine][sum(1 for _, e in runs if e == engine)]
        runs.append((workload, engine))
        return {"epoch_seconds": seconds, "warmup_seconds": 5.0}

    engines = (stand_in("jitprop", [1.0], []), stand_in("peer", [1.0], []))
    result = bench_timing.compare_in_processes(
        WORKLOADS["W6"],
        threads=2,
        rounds=2,
        quick=True,
        engines=engines,
        log=lambda m: None,
        run_engine=run_engine,
    )
    assert [engine for _, engine in runs] == ["jitprop", "peer", "jitprop", "peer"]
    assert result["engines"]["jitprop"]["epoch_seconds"] == [1.0, 2.0]  # each process's median
    assert result["engines"]["peer"]["epoch_seconds"] == [3.0, 4.0]
    assert result["engines"]["peer"]["warmup_seconds"] == [5.0, 5.0]
    assert result["ratios"] == {"peer": pytest.approx(np.median([3.0, 2.0]))}
    assert result["processes"] == {"rounds": 2, "epochs_per_process": bench_timing.PROCESS_EPOCHS}
    assert "each engine in its own process, 2 rounds" in bench.format_report(
        {"machine": {"threads": 2}, "threading_layer": "omp", "workloads": [result], "matmul": []}
    )


def test_an_engine_process_trains_and_reports_its_epochs():
    entry = bench_timing.engine_process("W4b64", "numpy", 1, quick=True)
    assert len(entry["epoch_seconds"]) == bench_timing.PROCESS_EPOCHS
    assert all(seconds > 0 for seconds in entry["epoch_seconds"]) and entry["warmup_seconds"] > 0


def test_unknown_engine_is_named(capsys):
    assert cli.main(["bench", "--workloads", "W6", "--engines", "jitprop,theano"]) != 0
    assert "theano" in capsys.readouterr().err


def test_the_hand_written_loop_trains_as_the_straightforward_numpy_epoch(rng):
    # Two epochs of W4's network by the hand-written kernel against the same SGD written with NumPy (float64).
    from jitprop.kernels.handwritten import sigmoid_mse_epoch

    X, Y = rng.random((50, 2)), rng.random((50, 3))
    W1, b1, W2, b2 = rng.normal(size=(2, 4)), rng.normal(size=4), rng.normal(size=(4, 3)), rng.normal(size=3)
    expected = [W1.copy(), b1.copy(), W2.copy(), b2.copy()]
    orders = [rng.permutation(50) for _ in range(2)]
    for order in orders:
        sigmoid_mse_epoch(X, Y, order, W1, b1, W2, b2, 0.5, 8)
        w1, c1, w2, c2 = expected
        for start in range(0, 50, 8):
            index = order[start : start + 8]
            h = 1 / (1 + np.exp(-(X[index] @ w1 + c1)))
            a = 1 / (1 + np.exp(-(h @ w2 + c2)))
            d2 = 2 * (a - Y[index]) / a.size * a * (1 - a)
            d1 = (d2 @ w2.T) * h * (1 - h)
            w2 -= 0.5 * h.T @ d2
            c2 -= 0.5 * d2.sum(axis=0)
            w1 -= 0.5 * X[index].T @ d1
            c1 -= 0.5 * d1.sum(axis=0)
    for got, want in zip((W1, b1, W2, b2), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_the_hand_written_engine_runs_w4_only_and_trains_it():
    assert bench_timing._skipped(HandWrittenEngine, WORKLOADS["W4b1"]) is None
    assert "W4" in bench_timing._skipped(HandWrittenEngine, WORKLOADS["W2"])
    result = bench_timing.compare_workload(
        WORKLOADS["W4b1"], threads=1, repeats=1, quick=True, engines=(HandWrittenEngine,)
    )
    assert result["engines"]["hand-written"]["examples_per_second"] > 0


def test_peer_processes_run_without_the_old_openblas_variables(monkeypatch):
    seen = {}

    def fake_run(command, capture_output, text, env):
        seen[command[4]] = env
        return type("Done", (), {"returncode": 0, "stdout": json.dumps({"epoch_seconds": [1.0]}), "stderr": ""})()

    monkeypatch.setattr(bench_timing.subprocess, "run", fake_run)
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "1048576")
    for engine in ("jitprop", "numpy", "pytorch"):
        bench_timing.engine_process("W2", engine, 1)
    assert seen["jitprop"]["OPENBLAS_CORETYPE"] == "Haswell"  # jitprop's own process as the user runs it
    for peer in ("numpy", "pytorch"):
        assert not set(bench_timing.PEER_UNSET) & set(seen[peer])


def test_the_report_names_each_peer_s_blas_kernels():
    libraries = bench_timing.blas_kernels()  # NumPy's BLAS is loaded in this process
    if not libraries:
        pytest.skip("threadpoolctl is not installed")
    assert all("threads" in line for line in libraries)

    def run_engine(workload, engine, threads, quick):
        return {"epoch_seconds": [1.0], "warmup_seconds": 1.0, "blas": ["openblas 0.3.29, SkylakeX kernels, 1 threads"]}

    engines = (stand_in("jitprop", [1.0], []), stand_in("numpy", [1.0], []))
    result = bench_timing.compare_in_processes(
        WORKLOADS["W2"], 1, 1, True, engines=engines, log=lambda m: None, run_engine=run_engine
    )
    assert result["notes"] == ["numpy's BLAS: openblas 0.3.29, SkylakeX kernels, 1 threads"]


def test_pytorch_s_own_blas_is_named_from_its_build(monkeypatch):
    # (threadpoolctl does not see the MKL a PyTorch wheel links in; its build settings say it.)
    config = (
        "  - Intel(R) oneAPI Math Kernel Library Version 2024.2-Product Build 20240605 for Intel(R) 64\n"
        "  - Build settings: BLAS_INFO=mkl, BUILD_TYPE=Release, CXX_FLAGS=-O2\n"
    )
    torch = types.SimpleNamespace(__config__=types.SimpleNamespace(show=lambda: config), get_num_threads=lambda: 3)
    monkeypatch.setitem(sys.modules, "torch", torch)
    assert bench_timing.blas_kernels()[-1] == "pytorch's own mkl 2024.2, 3 threads"
    torch.__config__ = types.SimpleNamespace(show=lambda: "  - Build settings: BUILD_TYPE=Release\n")
    assert bench_timing.blas_kernels()[-1] == "pytorch's own BLAS (unnamed), 3 threads"
    monkeypatch.delitem(sys.modules, "torch")
    assert not any(line.startswith("pytorch") for line in bench_timing.blas_kernels())


def test_a_fit_calls_cost_beyond_its_epochs_is_one_epochs_call_less_a_tenth_of_ten(monkeypatch):
    # A machine on which a fit call costs 30 µs and each epoch 1 ms, except that every other pair runs at half speed.
    clock = [0.0]
    calls = []

    class Network:
        def fit(self, X, y, epochs, batch_size, optimizer, verbose):
            slow = 2.0 if len(calls) // 2 % 2 else 1.0
            calls.append(epochs)
            clock[0] += slow * (30e-6 + epochs * 1e-3)

    class Engine:
        def __init__(self, workload, X, y, threads):
            self.net, self.optimizer = Network(), None

    monkeypatch.setattr(bench_fit_call, "JitpropEngine", Engine)
    monkeypatch.setattr(bench_fit_call.time, "perf_counter", lambda: clock[0])
    figures = bench_fit_call.fit_call(WORKLOADS["W2"], 1, pairs=6)
    assert calls == [1, 10] * 7  # a warm-up pair, then the timed ones, alternating
    # One epoch's call less a tenth of ten's: 30 − 3 µs, 54 at half speed; the median of 3 of each.
    assert figures["beyond_epochs_us"] == pytest.approx(40.5)
    assert figures["epoch_us"] == pytest.approx(1504.5)
    assert figures["one_epoch_call_us"] == pytest.approx(1545.0)


def test_a_fit_calls_cost_is_measured_in_processes_of_their_own_and_reported():
    report = bench_fit_call.fit_call_in_processes(WORKLOADS["W2"], 1, 2, log=lambda m: None, pairs=3)
    assert len(report["rounds"]) == 2 and report["pairs"] == 3
    assert report["epoch_us"] == pytest.approx(np.median([r["epoch_us"] for r in report["rounds"]]))
    assert 0 < report["epoch_us"] < report["one_epoch_call_us"] + 1e3
    text = bench_fit_call.format_fit_call(report)
    assert "beyond its epochs" in text and "W2" in text


def test_inference_times_a_batch_and_one_example_of_the_jitprop_engine(monkeypatch):
    monkeypatch.setattr(bench_inference, "INFERENCE_ROWS", 500)
    monkeypatch.setattr(bench_inference, "INFERENCE_CALLS", 20)
    figures = bench_inference.inference(WORKLOADS["W4b64"], "jitprop", 1)
    assert figures["examples_per_second"] > 0 and 0 < figures["one_example_us"] <= figures["one_example_p90_us"]


def test_inference_runs_each_engine_in_its_own_process_and_reports_medians(capsys):
    report = bench_inference.inference_in_processes(WORKLOADS["W4b64"], 1, 2, engines=("jitprop",), log=lambda m: None)
    entry = report["engines"]["jitprop"]
    assert len(entry["rounds"]) == 2
    assert entry["one_example_us"] == pytest.approx(np.median([r["one_example_us"] for r in entry["rounds"]]))
    text = bench_inference.format_inference(report)
    assert "jitprop" in text and "one example" in text
