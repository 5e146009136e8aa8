"""Data-parallel fit over MPI: two ranks (``mpiexec -n 2``) against one process, and failures.

The ranks run ``distributed_worker.py`` (one ``mpiexec`` for most scenarios,
one more for the killed rank); this process trains the same networks without
``comm`` and compares. All of it uses one network, dtype and batch size, so
the kernels compile once (the ranks share this process's Numba cache).
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import jitprop as jp
from jitprop.cli import main, preprocessing
from jitprop.io.model_file import load_checkpoint
from jitprop.kernels.workspace import plan_tile_rows

pytest.importorskip("mpi4py", reason="the distributed tests need mpi4py (pip install 'jitprop[mpi]')")

import distributed_worker as worker  # noqa: E402

WORKER = Path(__file__).with_name("distributed_worker.py")
MPIEXEC = shutil.which("mpiexec", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec (pip install 'jitprop[mpi]' brings MPICH's)")


def mpiexec(out, *scenarios, ranks=2, timeout=300):
    path = os.pathsep.join(filter(None, [str(WORKER.parent), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, NUMBA_NUM_THREADS="1", PYTHONPATH=path)
    command = [MPIEXEC, "-n", str(ranks), sys.executable, str(WORKER), str(out), *scenarios]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The single-process references, then the ranks' results: ``(reference, [rank 0, rank 1], out)``."""
    out = tmp_path_factory.mktemp("distributed")
    X, y, weights = worker.data()
    reference = {}
    net = worker.network()
    for epoch in range(worker.EPOCHS):
        history = net.fit(
            X,
            y,
            epochs=1,
            batch_size=worker.BATCH,
            optimizer=worker.optimizer() if epoch == 0 else None,
            sample_weight=weights,
            validation_split=0.2,
            verbose=0,
        )
        reference[f"epoch{epoch}"] = net.params.copy()
        reference[f"history{epoch}"] = np.array([history["loss"][0], history["val_loss"][0]])
    net = worker.network()
    net.fit(X, y, epochs=1, batch_size=worker.BATCH, optimizer=worker.optimizer(), verbose=0)
    reference["shard"] = net.params.copy()
    net = worker.network()
    net.fit(X, y, epochs=worker.EPOCHS, batch_size=worker.BATCH, optimizer=worker.optimizer(), verbose=0)
    reference["uninterrupted"] = net.params.copy()
    net = worker.network()
    net.fit(X, y, epochs=1, batch_size=100, optimizer=worker.optimizer(), verbose=0)
    reference["idle"] = net.params.copy()
    net = worker.network()
    callbacks = [worker.StopAfter(0), jp.callbacks.ModelCheckpoint(str(out / "single.safetensors"))]
    net.fit(
        X,
        y,
        epochs=worker.EPOCHS,
        batch_size=worker.BATCH,
        optimizer=worker.optimizer(),
        verbose=0,
        callbacks=callbacks,
    )

    for combine in ("tiles", "allreduce"):  # (one process combines nothing: the reference of both)
        net = worker.network()
        with worker.lbfgs_chunks():
            history = net.fit(
                X,
                y,
                epochs=worker.LBFGS_ITERATIONS,
                optimizer=jp.LBFGS(tol=0.0, ftol=0.0),
                sample_weight=weights,
                validation_split=0.2,
                verbose=0,
            )
        reference["lbfgs"] = net.params.copy()
        reference["lbfgs_history"] = np.array([history["loss"], history["val_loss"]])

    scenarios = ("same", "allreduce", "shard", "idle", "raises", "diverges", "resume", "lbfgs", "cli_shard")
    done = mpiexec(out, *scenarios)
    assert done.returncode == 0, done.stdout + done.stderr
    (out / "stderr.txt").write_text(done.stderr)
    ranks = []
    for rank in range(2):
        with np.load(out / f"rank{rank}.npz") as arrays:
            results = dict(arrays)
        results.update(json.loads((out / f"rank{rank}.json").read_text()))
        ranks.append(results)
    return reference, ranks, out


def test_every_rank_holds_the_same_weights_after_every_step(runs):
    _, ranks, _ = runs
    for combine in ("tiles", "allreduce"):
        steps = ranks[0][f"{combine}_steps"]
        assert steps.shape == (worker.EPOCHS * 4,) and steps.all()  # 920 training examples: 4 batches an epoch


def test_two_ranks_hold_the_weights_of_one_process_bit_for_bit_after_every_epoch(runs):
    reference, ranks, _ = runs
    for epoch in range(worker.EPOCHS):
        for rank in ranks:
            np.testing.assert_array_equal(rank[f"tiles_epoch{epoch}"], reference[f"epoch{epoch}"])
            # The same training and validation loss too (rank 0 validates, every rank reports).
            np.testing.assert_array_equal(rank[f"tiles_history{epoch}"], reference[f"history{epoch}"])


def test_allreduce_keeps_the_ranks_equal_and_close_to_one_process(runs):
    reference, (first, second), _ = runs
    for epoch in range(worker.EPOCHS):
        np.testing.assert_array_equal(first[f"allreduce_epoch{epoch}"], second[f"allreduce_epoch{epoch}"])
        np.testing.assert_allclose(first[f"allreduce_epoch{epoch}"], reference[f"epoch{epoch}"], atol=1e-5)


def test_a_rank_reads_only_the_rows_of_its_own_tiles(runs):
    reference, ranks, _ = runs
    # Each rank's file held NaN in every row but its own tiles' (a read of one would diverge).
    for rank in ranks:
        np.testing.assert_array_equal(rank["shard"], reference["shard"])
    rows = [set(rank["shard_rows"].tolist()) for rank in ranks]
    assert not rows[0] & rows[1] and len(rows[0] | rows[1]) == worker.N
    # Batches of 3 tiles and a last one of 2: rank 1 takes one tile of each, about a third of the rows.
    assert 0.3 * worker.N < len(rows[1]) < 0.4 * worker.N


def test_a_rank_without_tiles_takes_part_and_holds_the_same_weights(runs):
    reference, ranks, out = runs
    assert (
        plan_tile_rows(100, worker.network().layout, worker.network().n_params) == 100
    )  # one tile a batch: rank 1 computes nothing
    for rank in ranks:
        np.testing.assert_array_equal(rank["idle_tiles"], reference["idle"])
        # (one tile: the allreduce adds rank 1's zeros to rank 0's sum, exactly)
        np.testing.assert_array_equal(rank["idle_allreduce"], reference["idle"])
    assert "fewer than the 2 ranks" in (out / "stderr.txt").read_text()


def test_a_failing_rank_ends_every_rank_with_its_message(runs):
    _, ranks, _ = runs
    for rank in ranks:
        assert rank["errors"]["raises"] == (
            "rank 1 of 2 failed (epoch 0, batch 1): ValueError: cannot read the shard (on purpose)"
        )
        assert rank["errors"]["setup"].startswith("rank 1 of 2 failed (setup): ValueError:")


def test_an_update_that_is_not_finite_leaves_every_rank_with_the_weights_before_it(runs):
    _, ranks, _ = runs
    for combine in ("tiles", "allreduce"):
        for rank in ranks:
            assert "batch 2" in rank["errors"][f"diverges_{combine}"]
            np.testing.assert_array_equal(rank[f"diverges_{combine}"], rank[f"diverges_{combine}_before"])


def test_lbfgs_over_two_ranks_is_one_process_bit_for_bit_with_tiles(runs):
    reference, (first, second), _ = runs
    assert reference["lbfgs_history"].shape == (2, worker.LBFGS_ITERATIONS)
    for rank in (first, second):
        np.testing.assert_array_equal(rank["lbfgs_tiles"], reference["lbfgs"])
        np.testing.assert_array_equal(rank["lbfgs_tiles_history"], reference["lbfgs_history"])
    # allreduce: the ranks agree bit for bit, and with one process closely.
    np.testing.assert_array_equal(first["lbfgs_allreduce"], second["lbfgs_allreduce"])
    np.testing.assert_array_equal(first["lbfgs_allreduce_history"], second["lbfgs_allreduce_history"])
    np.testing.assert_allclose(first["lbfgs_allreduce_history"], reference["lbfgs_history"], rtol=1e-4)
    assert not np.array_equal(first["lbfgs_allreduce"], first["lbfgs_tiles"])  # (another sum, other bits)


def test_a_failing_rank_ends_lbfgs_on_every_rank(runs):
    _, ranks, _ = runs
    for rank in ranks:
        assert rank["errors"]["lbfgs"] == (
            "rank 1 of 2 failed (L-BFGS evaluation 3): ValueError: cannot read the shard (on purpose)"
        )


def test_training_resumes_across_world_sizes(runs):
    reference, ranks, out = runs
    # One process's checkpoint, resumed on two ranks.
    for rank in ranks:
        np.testing.assert_array_equal(rank["resumed"], reference["uninterrupted"])
    # Two ranks' checkpoint (written by rank 0), resumed in one process.
    X, y, _ = worker.data()
    net = worker.network()
    net.fit(
        X,
        y,
        epochs=worker.EPOCHS,
        batch_size=worker.BATCH,
        optimizer=worker.optimizer(),
        verbose=0,
        resume_from=str(out / "ranks.safetensors"),
    )
    np.testing.assert_array_equal(net.params, reference["uninterrupted"])


def test_the_command_line_reads_only_each_ranks_share_of_the_file(runs, tmp_path, monkeypatch):
    _, ranks, out = runs
    assert [rank["errors"]["cli_status"] for rank in ranks] == [0, 0]
    # The rows the ranks read cover the file between them, and each read only a part of it ...
    rows = [set(rank["cli_rows"].tolist()) for rank in ranks]
    assert len(rows[0] | rows[1]) == worker.N
    # (rank 0 also validates: it reads the validation rows, a fifth of the file)
    assert len(rows[0]) < 0.95 * worker.N and len(rows[1]) < 0.7 * worker.N
    # ... and nothing else: with NaN in every other row of each rank's copy, the same model.
    clean = jp.load(str(out / "cli_clean.safetensors"))
    np.testing.assert_array_equal(jp.load(str(out / "cli_poisoned.safetensors")).params, clean.params)
    assert clean.epoch == 1
    # The blocks' statistics, added in block order, are one process's: so is the model, bit for bit.
    monkeypatch.setattr(preprocessing, "CHUNK_ROWS", 100)
    assert main(["train", str(out / "cli.npy"), *worker.CLI_OPTIONS, "--out", str(tmp_path / "one.safetensors")]) == 0
    np.testing.assert_array_equal(jp.load(str(tmp_path / "one.safetensors")).params, clean.params)


def test_a_killed_rank_ends_the_job_and_leaves_the_last_checkpoint_whole(tmp_path, runs):
    started = time.perf_counter()
    done = mpiexec(tmp_path, "killed", timeout=120)
    assert done.returncode != 0
    assert time.perf_counter() - started < 60
    checkpoint = load_checkpoint(str(tmp_path / "killed.safetensors"))
    assert checkpoint.epoch == 2
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".safetensors"] == ["killed.safetensors"]


def test_the_command_line_trains_on_the_ranks_of_mpiexec(tmp_path, runs):
    X, y, _ = worker.data()
    np.savez(tmp_path / "data.npz", X=X, y=y)
    options = ["--target", "y", "--hidden", "128", "--optimizer", "sgd", "--lr", "0.05", "--batch-size", "250"]
    options += ["--epochs", "2", "--seed", "11", "--quiet"]
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    command = [MPIEXEC, "-n", "2", sys.executable, "-m", "jitprop", "train", "data.npz", *options]
    done = subprocess.run(
        [*command, "--out", "ranks.safetensors", "--metrics-json", "m.json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("trained on 2 MPI ranks") == 1  # (rank 0 reports, alone)
    assert json.loads((tmp_path / "m.json").read_text())["ranks"] == 2
    single = subprocess.run(
        [sys.executable, "-m", "jitprop", "train", "data.npz", *options, "--out", "one.safetensors"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert single.returncode == 0, single.stderr
    assert "MPI" not in single.stdout
    np.testing.assert_array_equal(
        jp.load(str(tmp_path / "ranks.safetensors")).params, jp.load(str(tmp_path / "one.safetensors")).params
    )


def test_rows_read_on_demand_train_as_the_array_does():
    """A Rows X on a communicator of one rank: each epoch reads every row once, and the weights are the array's."""
    from mpi4py import MPI

    from jitprop.distributed import Rows

    X, y, weights = worker.data()
    for dropout in (0.0, 0.2):  # (with Dropout, the rows go to their own places: the masks are keyed by the row)
        reads = []

        def read(rows, out):
            reads.append(rows.copy())
            out[...] = X[rows]

        def layers():
            return [jp.Dense(128, "relu"), *([jp.Dropout(dropout)] if dropout else []), jp.Dense(10, "softmax")]

        nets = [jp.Network(layers(), input_dim=64, loss="cross_entropy", dtype="float32", seed=3) for _ in range(2)]
        options = dict(epochs=2, batch_size=worker.BATCH, optimizer=jp.SGD(lr=0.05), sample_weight=weights, verbose=0)
        nets[0].fit(X, y, **options)
        nets[1].fit(Rows(worker.N, 64, read), y, comm=MPI.COMM_SELF, **{**options, "optimizer": jp.SGD(lr=0.05)})
        np.testing.assert_array_equal(nets[1].params, nets[0].params)
        assert len(reads) == 2 and all(np.array_equal(rows, np.arange(worker.N)) for rows in reads)


def test_rows_are_refused_where_they_cannot_be_read():
    from mpi4py import MPI

    from jitprop.distributed import Rows

    X, y, _ = worker.data()
    rows = Rows(worker.N, 64, lambda rows, out: None)
    net = worker.network()
    with pytest.raises(ValueError, match=r"read by the ranks of fit\(comm=...\)"):
        net.fit(rows, y)
    with pytest.raises(ValueError, match="without validation_split"):
        net.fit(rows, y, comm=MPI.COMM_SELF, validation_split=0.2)
    with pytest.raises(ValueError, match="with a mini-batch optimizer"):
        net.fit(rows, y, comm=MPI.COMM_SELF, optimizer=jp.LBFGS())
    with pytest.raises(jp.RankError, match="X \\(Rows\\) holds 63 inputs per example, but the network takes 64"):
        net.fit(Rows(worker.N, 63, lambda rows, out: None), y, comm=MPI.COMM_SELF)
    with pytest.raises(TypeError, match="read must be a function"):
        Rows(worker.N, 64, "X.npy")
    with pytest.raises(ValueError, match="n_examples must be a positive integer, got 0"):
        Rows(0, 64, lambda rows, out: None)


def test_a_memory_map_of_sequences_with_a_target_per_step_trains_as_the_array_does(tmp_path, rng):
    """The in-place path of fit(comm=...) (a .npy path, read by rows) takes targets per step as one process does."""
    from mpi4py import MPI

    X = rng.normal(size=(96, 5, 3)).astype(np.float32)
    np.save(tmp_path / "X.npy", X)
    targets = {
        "mse": rng.normal(size=(96, 5, 2)).astype(np.float32),  # (n, steps, outputs)
        "cross_entropy": rng.integers(0, 2, size=(96, 5)),  # a label per step
    }
    for loss, y in targets.items():
        output = "softmax" if loss == "cross_entropy" else "identity"
        nets = [
            jp.Network([jp.GRU(4, return_sequences=True), jp.Dense(2, output)], input_shape=(5, 3), loss=loss, seed=1)
            for _ in range(2)
        ]
        nets[0].fit(X, y, epochs=2, batch_size=32, optimizer=jp.SGD(lr=0.1), verbose=0)
        nets[1].fit(
            tmp_path / "X.npy", y, epochs=2, batch_size=32, optimizer=jp.SGD(lr=0.1), verbose=0, comm=MPI.COMM_SELF
        )
        np.testing.assert_array_equal(nets[1].params, nets[0].params)
