"""``jitprop train``: the built-in digits, CSV, NPY and NPZ data, progress, early stopping, Ctrl-C and resuming."""

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import jitprop as jp
from helpers import write_csv
from jitprop import cli
from jitprop.cli import train as train_command
from jitprop.io.model_file import load_checkpoint
from jitprop.losses import LOSSES
from jitprop.optimizers import BY_NAME


def test_train_without_arguments_learns_the_digits(tmp_path):
    script = Path(sys.executable).with_name("jitprop")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "jitprop"]
    done = subprocess.run([*command, "train"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Handwritten Digits" in out and "Alpaydin" in out and "CC BY 4.0" in out
    assert "1,438 training and 359 validation examples (stratified" in out
    accuracy = float(re.search(r"^validation\s+\S+\s+(\S+)$", out, re.M).group(1))
    assert accuracy >= 0.97
    assert re.search(r"^train\s+\S+\s+\S+$", out, re.M)
    assert "at most 445 epochs, stopping 44 after the best validation loss, L2 0.001" in out
    epochs = int(
        re.search(r"^(\d+) epochs in \S+ s, [\d,]+ examples/s; kernel compile or cache load \S+ s", out, re.M)[1]
    )
    assert re.search(
        r"^stopped early: no better validation loss for 44 epochs after epoch \d+, whose weights", out, re.M
    )
    assert "model written to model.safetensors" in out
    net = jp.load(tmp_path / "model.safetensors")
    assert (net.input_dim, net.n_outputs, net.epoch) == (64, 10, epochs)


def test_ctrl_c_saves_nothing_and_names_the_last_checkpoint(data, tmp_path):
    # The child restores the default SIGINT action: a shell may start background jobs with SIGINT ignored.
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jitprop",
            "train",
            str(data / "digits.npz"),
            "--epochs",
            "100000",
            "--checkpoint-every",
            "2",
            "--out",
            "model.safetensors",
            "--quiet",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    checkpoint = tmp_path / "model.checkpoint.safetensors"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.05)
    time.sleep(0.2)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 130, err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert re.fullmatch(
        r"jitprop train: interrupted after \d+ of 100000 epochs; the last checkpoint, after epoch \d+, is "
        r"model\.checkpoint\.safetensors \(continue with the same command and --resume "
        r"model\.checkpoint\.safetensors\); model\.safetensors was not written\.",
        line,
    ), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.checkpoint.safetensors"]
    assert jp.load(checkpoint).epoch % 2 == 0


def test_regression_csv_reports_and_predicts_in_the_targets_units(data, in_dir, capsys):
    assert (
        cli.main(
            [
                "train",
                str(data / "houses.csv"),
                "--target",
                "price",
                "--epochs",
                "60",
                "--quiet",
                "--metrics-json",
                "m.json",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["loss", "(MSE)", "MAE", "R²"]
    metrics = json.loads(Path("m.json").read_text())
    assert metrics["task"] == "regression" and metrics["val_r2"] > 0.95
    assert len(metrics["history"]["val_loss"]) == 60
    assert cli.main(["evaluate", "model.safetensors", str(data / "houses.csv"), "--metrics-json", "e.json"]) == 0
    scores = json.loads(Path("e.json").read_text())
    assert set(scores) == {"examples", "loss", "mse", "mae", "r2"} and scores["r2"] > 0.95
    capsys.readouterr()
    assert cli.main(["predict", "model.safetensors", str(data / "houses.csv")]) == 0
    lines = capsys.readouterr().out.splitlines()
    truth = np.loadtxt(data / "houses.csv", delimiter=",", skiprows=1)[:, 3]
    assert lines[0] == "prediction" and len(lines) == 301
    assert np.abs(np.array(lines[1:], dtype=float) - truth).mean() == pytest.approx(scores["mae"], rel=1e-5)


def test_npy_and_npz_training_and_prediction(data, in_dir, capsys):
    assert (
        cli.main(["train", str(data / "digits.npy"), "--target", "-1", "--epochs", "3", "--quiet", "--no-standardize"])
        == 0
    )
    checkpoint = load_checkpoint("model.safetensors")
    assert checkpoint.extra["preprocessing"]["target"] == "64"
    assert checkpoint.extra["preprocessing"]["feature_mean"] is None
    X = np.load(data / "digits.npz")["X"]
    expected = checkpoint.network.predict(X).argmax(axis=1)
    for source in ("digits.npy", "digits.npz"):  # the NPY file still holds the target column: it is left out
        capsys.readouterr()
        assert cli.main(["predict", "model.safetensors", str(data / source)]) == 0
        np.testing.assert_array_equal(np.array(capsys.readouterr().out.split()[1:], dtype=int), expected)
    assert cli.main(["evaluate", "model.safetensors", str(data / "digits.npz"), "--target", "y"]) == 0
    assert "accuracy" in capsys.readouterr().out
    assert cli.main(["train", str(data / "digits.npz"), "--epochs", "1", "--quiet"]) == 0
    assert load_checkpoint("model.safetensors").extra["preprocessing"]["target"] == "y"


def test_progress_bar_on_a_terminal(data, in_dir, monkeypatch, capsys):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert cli.main(["train", str(data / "digits.npz"), "--epochs", "2"]) == 0
    assert re.search(r"training: 100%.*2/2 .*val_acc", terminal.getvalue())
    assert "epoch 1:" not in terminal.getvalue()  # warmup draws no bars of its own


def test_early_stopping_plot_and_metrics(data, in_dir, capsys):
    assert (
        cli.main(
            [
                "train",
                str(data / "digits.npz"),
                "--epochs",
                "200",
                "--lr",
                "0.05",
                "--early-stopping",
                "2",
                "--metrics-json",
                "m.json",
                "--plot",
                "curves.png",
                "--quiet",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    metrics = json.loads(Path("m.json").read_text())
    assert metrics["stopped_early"] and metrics["epochs"] < 200
    assert f"after epoch {metrics['best_epoch']}, whose weights were restored" in out
    assert {"val_accuracy", "val_loss", "train_accuracy", "train_loss"} <= set(metrics)
    assert set(metrics["history"]) >= {"epoch", "loss", "accuracy", "val_loss", "val_accuracy"}
    assert Path("curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_names_the_extra(in_dir, monkeypatch, capsys):
    find_spec = train_command.importlib.util.find_spec

    def without_matplotlib(name, *args):
        return None if name == "matplotlib" else find_spec(name, *args)

    monkeypatch.setattr(train_command.importlib.util, "find_spec", without_matplotlib)
    assert cli.main(["train", "--plot", "x.png"]) == 2
    assert 'pip install "jitprop[plot]"' in capsys.readouterr().err
    assert os.listdir(".") == []


def test_resume_after_an_interruption_ends_where_the_uninterrupted_run_would(data, in_dir, monkeypatch, capsys):
    args = ["train", str(data / "digits.npz"), "--epochs", "5", "--checkpoint-every", "2", "--quiet"]
    assert cli.main([*args, "--out", "whole.safetensors"]) == 0
    on_epoch_end = train_command._ProgressBar.on_epoch_end

    def interrupt_in_epoch_4(self, epoch, logs=None):
        on_epoch_end(self, epoch, logs)
        if epoch == 3:
            raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(train_command._ProgressBar, "on_epoch_end", interrupt_in_epoch_4)
        assert cli.main([*args, "--out", "model.safetensors"]) == 130
    assert "the last checkpoint, after epoch 2, is model.checkpoint.safetensors" in capsys.readouterr().err
    assert not Path("model.safetensors").exists()
    assert cli.main([*args, "--out", "model.safetensors", "--resume", "model.checkpoint.safetensors"]) == 0
    np.testing.assert_array_equal(jp.load("model.safetensors").params, jp.load("whole.safetensors").params)


def test_binary_cross_entropy_with_integer_labels(in_dir, rng, capsys):
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int) * 5 + 1  # labels 1 and 6
    write_csv("two.csv", ["a", "b", "c", "d", "label"], [[*x, t] for x, t in zip(X, y)])
    args = ["--loss", "binary_cross_entropy", "--epochs", "20", "--lr", "0.01", "--quiet"]
    assert cli.main(["train", "two.csv", "--target", "label", *args]) == 0
    net = jp.load("model.safetensors")
    assert net.n_outputs == 1 and net.loss == "binary_cross_entropy"
    capsys.readouterr()
    assert cli.main(["predict", "model.safetensors", "two.csv", "--proba"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["prediction", "proba_1", "proba_6"]
    assert np.mean([int(row[0]) for row in rows[1:]] == y) > 0.9
    np.testing.assert_allclose(np.array(rows[1:], dtype=float)[:, 1:].sum(axis=1), 1, atol=1e-6)


# ------------------------------------------------------------------ options from the registries
def _train_option(dest):
    """The ``jitprop train`` option that stores into ``dest``."""
    commands = next(action for action in cli.build_parser()._actions if action.dest == "command")
    return next(action for action in commands.choices["train"]._actions if action.dest == dest)


def test_optimizer_and_loss_choices_are_the_registries():
    assert _train_option("optimizer").choices == sorted(BY_NAME)
    assert set(_train_option("loss").choices) == set(LOSSES)


@pytest.mark.parametrize("name", list(BY_NAME))
def test_each_optimizer_name_builds_its_optimizer(name):
    args = cli.build_parser().parse_args(["train", "--optimizer", name])
    optimizer = train_command._optimizer(args)
    assert type(optimizer) is BY_NAME[name]
    if name == "sgd":
        assert optimizer.momentum == 0.9  # the command's default, not SGD's 0
    with_momentum = args.optimizer in train_command.WITH_MOMENTUM
    assert with_momentum == hasattr(optimizer, "momentum")


def test_each_loss_goes_with_its_task():
    """Regression trains on mse or poisson, classification on the classification losses; the others are refused."""
    from jitprop.errors import UsageError

    assert train_command._loss(None, "regression", None) == "mse"
    assert train_command._loss("poisson", "regression", None) == "poisson"
    with pytest.raises(UsageError, match="--loss cross_entropy is for classification; regression trains on mse or"):
        train_command._loss("cross_entropy", "regression", None)
    with pytest.raises(UsageError, match="--loss poisson is for regression; classification uses cross_entropy"):
        train_command._loss("poisson", "classification", None)
