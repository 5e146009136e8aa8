"""Callbacks: the hooks and what fit hands them, early stopping, checkpoints and the loggers."""

import json
import math

import numpy as np
import pytest

import jitprop as jp
from helpers import make_blobs, make_classifier
from jitprop.callbacks import Callback, CSVLogger, EarlyStopping, JSONLogger, ModelCheckpoint


class Recorder(Callback):
    """Notes every hook's call, and what the network and the fit plan were then."""

    def __init__(self):
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append("train_begin")
        self.seen = (self.network, self.fit_plan)

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(f"begin {epoch}")

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(f"end {epoch} {sorted(logs)[0]}")

    def on_train_end(self, logs=None):
        self.calls.append("train_end")


def test_early_stopping_stops_and_restores_best_weights(rng):
    X, y = make_blobs(rng)

    class Snapshots(Callback):
        def on_train_begin(self, logs=None):
            self.params = []

        def on_epoch_end(self, epoch, logs=None):
            self.params.append(self.network.params.copy())

    # A learning rate so large that validation loss soon stops improving.
    stopper = EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    snapshots = Snapshots()
    net = make_classifier()
    history = net.fit(
        X, y, epochs=50, validation_split=0.3, optimizer=jp.SGD(2.0), callbacks=[stopper, snapshots], verbose=0
    )
    assert len(history["loss"]) < 50
    assert stopper.stopped_epoch == history.epochs[-1]
    best = int(np.argmin(history["val_loss"]))
    assert stopper.best_epoch == history.epochs[best]
    np.testing.assert_array_equal(net.params, snapshots.params[best])


def test_early_stopping_names_missing_metric(rng):
    X, y = make_blobs(rng, n=40)
    with pytest.raises(ValueError, match="monitors 'val_loss'.*validation_split"):
        make_classifier().fit(X, y, epochs=2, callbacks=[EarlyStopping()], verbose=0)


def test_callbacks_are_called_in_order(rng):
    X, y = make_blobs(rng, n=40)
    recorder = Recorder()
    make_classifier().fit(X, y, epochs=2, callbacks=[recorder], verbose=0)
    assert recorder.calls == ["train_begin", "begin 0", "end 0 accuracy", "begin 1", "end 1 accuracy", "train_end"]


def test_csv_and_json_loggers_write_every_epoch(rng, tmp_path):
    X, y = make_blobs(rng, n=40)
    csv_path, json_path = tmp_path / "log.csv", tmp_path / "log.json"
    history = make_classifier().fit(X, y, epochs=3, callbacks=[CSVLogger(csv_path), JSONLogger(json_path)], verbose=0)
    lines = csv_path.read_text().splitlines()
    assert lines[0].split(",")[:3] == ["epoch", "loss", "accuracy"]
    assert len(lines) == 4
    assert float(lines[3].split(",")[1]) == pytest.approx(history["loss"][2])
    logged = json.loads(json_path.read_text())["epochs"]
    assert [row["loss"] for row in logged] == history["loss"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_fit_hands_each_callback_the_network_and_the_fit_plan(rng):
    X, y = make_blobs(rng, n=40)
    net = make_classifier()
    net.fit(X, y, epochs=3, batch_size=16, verbose=0)
    recorder = Recorder()
    net.fit(X, y, epochs=2, batch_size=64, shuffle=False, callbacks=[recorder], verbose=0)
    network, plan = recorder.seen
    assert network is net
    # Epochs are numbered on from the first call; the batch is at most the data.
    assert plan.as_dict() == {"first_epoch": 3, "epochs": 2, "batch_size": 40, "shuffle": False}


def test_a_callback_stops_training_after_the_epoch(rng):
    X, y = make_blobs(rng, n=40)

    class StopAfterTwo(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.network.stop_training = True

    net = make_classifier()
    history = net.fit(X, y, epochs=10, callbacks=[StopAfterTwo()], verbose=0)
    assert history.epochs == [0, 1] and net.epoch == 2


def test_early_stopping_patience_min_delta_and_mode():
    def stop_epoch(values, **options):
        stopper = EarlyStopping(**options)
        stopper.set_network(jp.Network([jp.Dense(1)], input_dim=1))
        stopper.on_train_begin()
        for epoch, value in enumerate(values):
            stopper.on_epoch_end(epoch, {options.get("monitor", "val_loss"): value})
            if stopper.network.stop_training:
                return stopper.stopped_epoch, stopper.best_epoch
        return None, stopper.best_epoch

    assert stop_epoch([1.0, 0.9, 0.95, 0.93, 0.92], patience=2) == (4, 1)
    assert stop_epoch([1.0, 0.9, 0.95, 0.93, 0.92], patience=3) == (None, 1)
    # An improvement smaller than min_delta counts as none.
    assert stop_epoch([1.0, 0.99, 0.98, 0.97], patience=1, min_delta=0.05) == (2, 0)
    # Accuracies are better when larger ("auto"), unless told otherwise.
    assert stop_epoch([0.5, 0.6, 0.55, 0.58], monitor="val_accuracy", patience=1) == (3, 1)
    assert stop_epoch([0.5, 0.6, 0.55], monitor="val_accuracy", mode="min", patience=0) == (1, 0)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: EarlyStopping(patience=-1), "patience must be >= 0"),
        (lambda: EarlyStopping(min_delta=-0.1), "min_delta must be >= 0"),
        (lambda: EarlyStopping(mode="best"), "mode must be 'auto', 'min' or 'max'"),
        (lambda: ModelCheckpoint("m.safetensors", every=0), "every must be >= 1"),
    ],
)
def test_bad_options_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_model_checkpoint_every_n_epochs_holds_the_network_and_the_fit_plan(rng, tmp_path):
    X, y = make_blobs(rng, n=40)
    net = make_classifier()
    checkpoint = ModelCheckpoint(tmp_path / "m-{epoch}.safetensors", every=2, extra={"note": "kept"})
    net.fit(X, y, epochs=5, batch_size=8, callbacks=[checkpoint], verbose=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m-2.safetensors", "m-4.safetensors"]
    assert checkpoint.last_path == str(tmp_path / "m-4.safetensors") and checkpoint.last_epoch == 4
    saved = jp.io.model_file.load_checkpoint(checkpoint.last_path)
    assert saved.epoch == 4 and saved.extra == {"note": "kept"}
    assert saved.training == {"first_epoch": 0, "epochs": 5, "batch_size": 8, "shuffle": True}
    # The weights are those after the fourth epoch: one more epoch from there gives the final ones.
    saved.network.fit(X, y, epochs=1, batch_size=8, verbose=0)
    np.testing.assert_array_equal(saved.network.params, net.params)


def test_model_checkpoint_saves_only_improvements_when_asked(tmp_path):
    net = jp.Network([jp.Dense(1)], input_dim=1)
    checkpoint = ModelCheckpoint(tmp_path / "best-{epoch}.safetensors", save_best_only=True, monitor="loss")
    checkpoint.set_network(net)
    checkpoint.on_train_begin()
    for epoch, loss in enumerate([1.0, 0.8, 0.9, 0.7, 0.7]):
        checkpoint.on_epoch_end(epoch, {"loss": loss})
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["best-1.safetensors", "best-2.safetensors", "best-4.safetensors"]
    assert checkpoint.last_epoch == 4


def test_loggers_write_plain_numbers(tmp_path):
    logger = JSONLogger(tmp_path / "log.json")
    logger.on_train_begin()
    logger.on_epoch_end(0, {"loss": np.float32(0.5), "lr": 0.01, "seconds": math.inf})
    assert json.loads((tmp_path / "log.json").read_text()) == {
        "epochs": [{"epoch": 0, "loss": 0.5, "lr": 0.01, "seconds": math.inf}]
    }
