"""Run by tests/test_distributed.py under ``mpiexec -n 2``: distributed fits whose results the test checks.

``python distributed_worker.py OUT SCENARIO...`` runs each scenario on every
rank and writes ``OUT/rank{r}.npz`` (final weights of each scenario, and the
weights after each epoch) and ``OUT/rank{r}.json`` (errors, histories).
"""

import json
import os
import sys
from contextlib import contextmanager

import numpy as np
from mpi4py import MPI

import jitprop as jp
from jitprop import distributed
from jitprop.callbacks import Callback, ModelCheckpoint
from jitprop.kernels.workspace import plan_tile_rows, row_elements

COMM = MPI.COMM_WORLD
RANK = COMM.Get_rank()

# The network, data and batches of test_distributed.py (and of test_determinism.py):
# batches of 250 examples are 3 tiles of 84 rows, the last batch of an epoch (150) 2 tiles.
N, BATCH, EPOCHS = 1150, 250, 3


def data():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(N, 64)).astype(np.float32)
    y = rng.integers(0, 10, size=N)
    weights = rng.uniform(0.5, 2.0, size=N)
    return X, y, weights


def network():
    return jp.Network(
        [jp.Dense(128, "relu"), jp.Dense(10, "softmax")], input_dim=64, loss="cross_entropy", dtype="float32", seed=11
    )


def optimizer():
    return jp.SGD(lr=0.05, momentum=0.9, nesterov=True)


class StopAfter(Callback):
    """Stops training after epoch ``epoch`` (0-based), as an interruption would."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            self.network.stop_training = True


def same(out, results, combine="tiles"):
    """Epoch by epoch (one fit call each), with sample weights and a validation split.

    After every update the ranks compare their weights: ``{combine}_steps``
    holds, for each step, whether every rank's equalled rank 0's.
    """
    X, y, weights = data()
    net = network()
    update = distributed.Session._update
    steps = []

    def checked(self, arguments):
        done = update(self, arguments)
        params = arguments[4]
        first = COMM.bcast(params if RANK == 0 else None, root=0)
        steps.append(all(COMM.allgather(np.array_equal(params, first))))
        return done

    distributed.Session._update = checked
    try:
        _epochs(X, y, weights, net, results, combine)
    finally:
        distributed.Session._update = update
    results[f"{combine}_steps"] = np.array(steps)


def _epochs(X, y, weights, net, results, combine):
    for epoch in range(EPOCHS):
        history = net.fit(
            X,
            y,
            epochs=1,
            batch_size=BATCH,
            optimizer=optimizer() if epoch == 0 else None,
            sample_weight=weights,
            validation_split=0.2,
            verbose=0,
            comm=COMM,
            combine=combine,
        )
        results[f"{combine}_epoch{epoch}"] = net.params.copy()
        results[f"{combine}_history{epoch}"] = np.array([history["loss"][0], history["val_loss"][0]])


def allreduce(out, results):
    same(out, results, combine="allreduce")


def shard(out, results):
    """One epoch from a memory-mapped file, every row outside this rank's tiles replaced by NaN in its copy."""
    X, y, _ = data()
    net = network()
    rng = np.random.default_rng()  # a copy of the network's stream, which draws the epoch's order
    rng.bit_generator.state = net.rng.bit_generator.state
    order = rng.permutation(N)
    mine = np.zeros(N, dtype=bool)
    tile_rows = plan_tile_rows(BATCH, net.layout, net.n_params)
    for start in range(0, N, BATCH):
        batch = order[start : start + BATCH]
        tiles = [batch[i : i + tile_rows] for i in range(0, len(batch), tile_rows)]
        per_rank = -(-len(tiles) // COMM.Get_size())  # (2 ranks: the first takes the odd tile)
        for tile in tiles[RANK * per_rank : (RANK + 1) * per_rank]:
            mine[tile] = True
    poisoned = X.copy()
    poisoned[~mine] = np.nan
    path = os.path.join(out, f"X{RANK}.npy")
    np.save(path, poisoned)
    net.fit(path, y, epochs=1, batch_size=BATCH, optimizer=optimizer(), verbose=0, comm=COMM)
    results["shard"] = net.params.copy()
    results["shard_rows"] = np.flatnonzero(mine)


def idle(out, results):
    """Batches of 100: one tile each (100 × 9,610 parameters is under SERIAL_WORK), so rank 1 has none."""
    X, y, _ = data()
    for combine in ("tiles", "allreduce"):
        net = network()
        net.fit(X, y, epochs=1, batch_size=100, optimizer=optimizer(), verbose=0, comm=COMM, combine=combine)
        results[f"idle_{combine}"] = net.params.copy()


def raises(out, results, errors):
    """Rank 1 fails in its second batch; both ranks must end with its message."""
    X, y, _ = data()
    net = network()
    local_tiles = distributed.Session._local_tiles
    calls = []

    def failing(self, *args):
        calls.append(1)
        if RANK == 1 and len(calls) == 2:
            raise ValueError("cannot read the shard (on purpose)")
        return local_tiles(self, *args)

    distributed.Session._local_tiles = failing
    try:
        net.fit(X, y, epochs=1, batch_size=BATCH, optimizer=optimizer(), verbose=0, comm=COMM)
    except jp.RankError as exc:
        errors["raises"] = str(exc)
    finally:
        distributed.Session._local_tiles = local_tiles
    # A wrong argument on one rank fails the setup of every rank.
    try:
        net.fit(X, y if RANK == 0 else y[:-1], epochs=1, batch_size=BATCH, verbose=0, comm=COMM)
    except jp.RankError as exc:
        errors["setup"] = str(exc)


def diverges(out, results, errors):
    """Rank 1's tile gives a NaN gradient in the third batch: every rank keeps the weights of the two before it.

    ``diverges_{combine}`` holds the weights after the DivergenceError,
    ``diverges_{combine}_before`` those an unbroken fit had after two steps.
    """
    X, y, _ = data()
    local_tiles, update = distributed.Session._local_tiles, distributed.Session._update
    for combine in ("tiles", "allreduce"):
        after = []

        def recording(self, arguments):
            done = update(self, arguments)
            after.append(arguments[4].copy())
            return done

        distributed.Session._update = recording
        try:
            net = network()
            net.fit(X, y, epochs=1, batch_size=BATCH, optimizer=optimizer(), verbose=0, comm=COMM, combine=combine)
        finally:
            distributed.Session._update = update
        results[f"diverges_{combine}_before"] = after[1]
        calls = []

        def poisoned(self, net, data, dropout_key, ws, *args):
            local_tiles(self, net, data, dropout_key, ws, *args)
            calls.append(1)
            if RANK == 1 and len(calls) == 3:
                ws.tile_gradients[0, 0] = np.nan

        distributed.Session._local_tiles = poisoned
        net = network()
        try:
            net.fit(X, y, epochs=1, batch_size=BATCH, optimizer=optimizer(), verbose=0, comm=COMM, combine=combine)
        except jp.DivergenceError as exc:
            errors[f"diverges_{combine}"] = str(exc)
        finally:
            distributed.Session._local_tiles = local_tiles
        results[f"diverges_{combine}"] = net.params.copy()


def resume(out, results):
    """Resume a checkpoint of one process on two ranks, and write one for one process to resume."""
    X, y, _ = data()
    net = network()
    net.fit(
        X,
        y,
        epochs=EPOCHS,
        batch_size=BATCH,
        optimizer=optimizer(),
        verbose=0,
        comm=COMM,
        resume_from=os.path.join(out, "single.safetensors"),
    )
    results["resumed"] = net.params.copy()
    net = network()
    callbacks = [StopAfter(0), ModelCheckpoint(os.path.join(out, "ranks.safetensors"))]
    net.fit(X, y, epochs=EPOCHS, batch_size=BATCH, optimizer=optimizer(), verbose=0, comm=COMM, callbacks=callbacks)


def lbfgs(out, results, errors):
    """L-BFGS over the ranks, with evaluations in several chunks, both ways of combining; then a rank failing."""
    X, y, weights = data()
    for combine in ("tiles", "allreduce"):
        net = network()
        with lbfgs_chunks():
            history = net.fit(
                X,
                y,
                epochs=LBFGS_ITERATIONS,
                optimizer=jp.LBFGS(tol=0.0, ftol=0.0),
                sample_weight=weights,
                validation_split=0.2,
                verbose=0,
                comm=COMM,
                combine=combine,
            )
        results[f"lbfgs_{combine}"] = net.params.copy()
        results[f"lbfgs_{combine}_history"] = np.array([history["loss"], history["val_loss"]])
    local_tiles = distributed.Session._local_tiles
    calls = []

    def failing(self, *args):
        calls.append(1)
        if RANK == 1 and len(calls) == 3:
            raise ValueError("cannot read the shard (on purpose)")
        return local_tiles(self, *args)

    distributed.Session._local_tiles = failing
    try:
        network().fit(X, y, epochs=5, optimizer=jp.LBFGS(), verbose=0, comm=COMM)
    except jp.RankError as exc:
        errors["lbfgs"] = str(exc)
    finally:
        distributed.Session._local_tiles = local_tiles


#: L-BFGS iterations of the lbfgs scenario.
LBFGS_ITERATIONS = 6


@contextmanager
def lbfgs_chunks():
    """Evaluate the full-batch loss in chunks of 300 rows (920 training examples: 4 chunks)."""
    module = sys.modules["jitprop.network"]
    saved = module._CHUNK_ELEMENTS
    module._CHUNK_ELEMENTS = 300 * row_elements(network().layout)
    try:
        yield
    finally:
        module._CHUNK_ELEMENTS = saved


#: The options of jitprop train in the cli_shard scenario.
CLI_OPTIONS = ["--target", "-1", "--hidden", "128", "--optimizer", "sgd", "--lr", "0.05", "--batch-size", "250"]
CLI_OPTIONS += ["--epochs", "1", "--seed", "11", "--quiet"]


def cli_shard(out, results, errors):
    """``jitprop train`` on two ranks twice: first recording the rows each rank reads, then with the others NaN.

    An NPY file, its target the last column, read in blocks of 100 rows
    (12 blocks: 6 a rank). The second run, on a copy of the file per rank
    holding NaN (features and target) in every row the rank did not read
    the first time, must write the same model.
    """
    from jitprop.cli import main, preprocessing, shards

    X, y, _ = data()
    clean = os.path.join(out, "cli.npy")
    if RANK == 0:
        np.save(clean, np.column_stack([X, y]).astype(np.float32))
    COMM.Barrier()
    options = CLI_OPTIONS
    read_rows, chunk_rows = shards.read_rows, preprocessing.CHUNK_ROWS
    touched = set()

    def recorded(array, rows):
        touched.update(np.asarray(rows).tolist())
        return read_rows(array, rows)

    shards.read_rows, preprocessing.CHUNK_ROWS = recorded, 100
    try:
        status = main(["train", clean, *options, "--out", os.path.join(out, "cli_clean.safetensors")])
        touched_rows = np.array(sorted(touched), dtype=np.int64)
        poisoned = np.load(clean)
        untouched = np.ones(N, dtype=bool)
        untouched[touched_rows] = False
        poisoned[untouched] = np.nan
        path = os.path.join(out, f"cli_poisoned{RANK}.npy")
        np.save(path, poisoned)
        status += main(["train", path, *options, "--out", os.path.join(out, "cli_poisoned.safetensors")])
    finally:
        shards.read_rows, preprocessing.CHUNK_ROWS = read_rows, chunk_rows
    results["cli_rows"] = touched_rows
    errors["cli_status"] = status


def killed(out, results):
    """Rank 1 dies (SIGKILL) in epoch 3; mpiexec must end rank 0, whose checkpoint of epoch 2 stays whole."""
    X, y, _ = data()
    net = network()
    local_tiles = distributed.Session._local_tiles
    calls = []

    def dying(self, *args):
        calls.append(1)
        if RANK == 1 and len(calls) == 12:
            os.kill(os.getpid(), 9)
        return local_tiles(self, *args)

    distributed.Session._local_tiles = dying
    checkpoint = ModelCheckpoint(os.path.join(out, "killed.safetensors"))
    net.fit(X, y, epochs=100, batch_size=BATCH, optimizer=optimizer(), verbose=0, comm=COMM, callbacks=[checkpoint])


def main(out, scenarios):
    results, errors = {}, {}
    for name in scenarios:
        if name in ("raises", "diverges", "lbfgs", "cli_shard"):
            globals()[name](out, results, errors)
        else:
            globals()[name](out, results)
    np.savez(os.path.join(out, f"rank{RANK}.npz"), **results)
    with open(os.path.join(out, f"rank{RANK}.json"), "w") as file:
        json.dump({"errors": errors, "size": COMM.Get_size()}, file)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
