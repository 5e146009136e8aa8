"""The ``jitprop`` command: each command, each user error, exit codes, Ctrl-C.

Subprocess tests run the command as users do (each pays Python start-up and
the Numba cache load, about a second); the finer behaviour is tested by
calling :func:`jitprop.cli.main` in-process.
"""

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest

import jitprop as jp
from jitprop import cli, train_command
from jitprop.kernels._numba.cache import cache_directory
from jitprop.model_file import load_checkpoint

NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


# ---------------------------------------------------------------- helpers
def run_jitprop(*args, cwd, timeout=120):
    """Run ``python -m jitprop ARGS`` in ``cwd``; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "jitprop", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory, digits):
    """Data files in one directory: digits as CSV (text labels), NPY and NPZ, and a regression CSV."""
    folder = tmp_path_factory.mktemp("data")
    X, y = digits
    rows = [[f"{v:g}" for v in x] + [NAMES[label]] for x, label in zip(X[:600], y[:600])]
    write_csv(folder / "digits.csv", [f"px{j}" for j in range(64)] + ["digit"], rows)
    np.save(folder / "digits.npy", np.column_stack([X[:600], y[:600]]))
    np.savez(folder / "digits.npz", X=X[:600], y=y[:600])
    rng = np.random.default_rng(7)
    Xr = rng.normal(size=(300, 3)) * [1.0, 100.0, 0.01]
    yr = Xr @ [2.0, 0.03, 100.0] + 50 + rng.normal(size=300) * 0.05
    write_csv(folder / "houses.csv", ["rooms", "area", "age", "price"], [[*x, t] for x, t in zip(Xr, yr)])
    return folder


@pytest.fixture
def in_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def standardised(X, preprocessing):
    return (X - np.array(preprocessing["feature_mean"])) / np.array(preprocessing["feature_scale"])


# ------------------------------------------------------ train, no arguments
def test_train_without_arguments_learns_the_digits(tmp_path):
    script = Path(sys.executable).with_name("jitprop")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "jitprop"]
    done = subprocess.run([*command, "train"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Handwritten Digits" in out and "Alpaydin" in out and "CC BY 4.0" in out
    assert "1,438 training and 359 validation examples (stratified" in out
    accuracy = float(re.search(r"^validation\s+\S+\s+(\S+)$", out, re.M).group(1))
    assert accuracy >= 0.95
    assert re.search(r"^train\s+\S+\s+\S+$", out, re.M)
    assert re.search(r"30 epochs in \S+ s, [\d,]+ examples/s; kernel compile or cache load \S+ s", out)
    assert "model written to model.safetensors" in out
    net = jp.load(tmp_path / "model.safetensors")
    assert (net.input_dim, net.n_outputs, net.epoch) == (64, 10, 30)


# ---------------------------------------------------------- CSV round trip
def test_csv_round_trip_matches_the_library(data, tmp_path):
    model, predictions, scores = tmp_path / "m.safetensors", tmp_path / "p.csv", tmp_path / "s.json"
    trained = run_jitprop(
        "train", data / "digits.csv", "--target", "digit", "--epochs", 8, "--hidden", "32",
        "--out", model, "--quiet", cwd=tmp_path,
    )
    assert trained.returncode == 0, trained.stderr
    assert trained.stdout.splitlines()[0].split() == ["loss", "accuracy"]
    predicted = run_jitprop("predict", model, data / "digits.csv", "--proba", "--out", predictions, cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    evaluated = run_jitprop("evaluate", model, data / "digits.csv", "--metrics-json", scores, cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr

    # The same predictions through the library: load, standardise with the stored statistics, predict.
    checkpoint = load_checkpoint(model)
    net, stored = checkpoint.network, checkpoint.extra["preprocessing"]
    assert stored["classes"] == sorted(NAMES) and stored["features"] == [f"px{j}" for j in range(64)]
    table = np.genfromtxt(data / "digits.csv", delimiter=",", skip_header=1, usecols=range(64))
    labels = np.genfromtxt(data / "digits.csv", delimiter=",", skip_header=1, usecols=64, dtype=str)
    proba = net.predict(standardised(table, stored))
    with open(predictions) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["prediction"] + [f"proba_{name}" for name in sorted(NAMES)]
    assert [row[0] for row in rows[1:]] == [stored["classes"][i] for i in proba.argmax(axis=1)]
    np.testing.assert_allclose(np.array([row[1:] for row in rows[1:]], dtype=float), proba, rtol=1e-6, atol=1e-9)

    expected = net.evaluate(standardised(table, stored), np.searchsorted(stored["classes"], labels))
    report = json.loads(scores.read_text())
    assert report["loss"] == pytest.approx(expected["loss"], rel=1e-6)
    assert report["accuracy"] == pytest.approx(expected["accuracy"])
    assert report["examples"] == 600 and len(report["confusion_matrix"]) == 10
    assert "confusion matrix" in evaluated.stdout and "precision" in evaluated.stdout


# ------------------------------------------------------------- user errors
ERRORS = {  # case: (arguments, the message after "jitprop COMMAND: error: ")
    "missing file": (["train", "nowhere.csv", "--target", "y"], r"nowhere\.csv: No such file or directory"),
    "unreadable CSV": (["train", "garbage.csv", "--target", "y"], r"garbage\.csv line 1 is not UTF-8 text"),
    "non-numeric value": (
        ["train", "bad.csv", "--target", "label"],
        r"bad\.csv line 3, column 'b': 'oops' is not a number",
    ),
    "missing target": (
        ["train", "bad.csv", "--target", "price"],
        r"bad\.csv has no column 'price'; its columns are 'a', 'b', 'label'",
    ),
    "NaN value": (["train", "nan.csv", "--target", "label"], r"nan\.csv line 4, column 'a' is NaN; remove or impute"),
    "inf value": (
        ["train", "inf.csv", "--target", "label"],
        r"inf\.csv line 2, column 'b' is infinite; remove or impute",
    ),
    "not a model": (["predict", "bad.csv", "bad.csv"], r"bad\.csv cannot be loaded as a jitprop model: "),
    "feature count": (
        ["predict", "m.safetensors", "wide.npy"],
        r"wide\.npy has 5 feature columns, but the model expects 3",
    ),
    "too many threads": (
        ["train", "--threads", "999"],
        r"--threads 999 is more than the \d+ threads Numba started with",
    ),
}


@pytest.fixture(scope="module")
def error_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("errors")
    (folder / "garbage.csv").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)  # an image
    (folder / "bad.csv").write_text("a,b,label\n1,2,x\n3,oops,y\n")
    (folder / "nan.csv").write_text("a,b,label\n1,2,x\n3,4,y\nnan,6,x\n")
    (folder / "inf.csv").write_text("a,b,label\n1,-inf,x\n3,4,y\n")
    np.save(folder / "wide.npy", np.ones((4, 5)))
    net = jp.Network([jp.Dense(2, "softmax")], input_dim=3, loss="cross_entropy", seed=0)
    jp.save(net, folder / "m.safetensors")
    return folder


@pytest.mark.parametrize("case", ERRORS)
def test_user_errors_end_with_one_line_and_status_2(error_files, case):
    args, message = ERRORS[case]
    done = run_jitprop(*args, cwd=error_files)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert re.match(rf"jitprop {args[0]}: error: {message}", lines[0]), lines[0]


def test_debug_shows_the_traceback(error_files):
    done = run_jitprop("--debug", "train", "bad.csv", "--target", "label", cwd=error_files)
    assert done.returncode == 2
    assert "Traceback (most recent call last)" in done.stderr
    assert done.stderr.rstrip().splitlines()[-1].startswith("jitprop train: error: bad.csv line 3")


def test_usage_errors_exit_2(tmp_path):
    assert run_jitprop(cwd=tmp_path).returncode == 2
    done = run_jitprop("train", "--epochs", "0", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        "jitprop train: error: argument --epochs: expected a positive integer, got '0' (see jitprop train --help)\n"
    )


def test_ctrl_c_saves_nothing_and_names_the_last_checkpoint(data, tmp_path):
    # The child restores the default SIGINT action: a shell may start background jobs with SIGINT ignored.
    child = subprocess.Popen(
        [sys.executable, "-m", "jitprop", "train", str(data / "digits.npz"), "--epochs", "100000",
         "--checkpoint-every", "2", "--out", "model.safetensors", "--quiet"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
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


def test_info_and_summary(data, tmp_path):
    info = run_jitprop("info", cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    patterns = [r"^jitprop \S+", r"^numba \S+, numpy \S+", r"threads: \d+ in use, at most \d+", r"threading layer: \w+"]
    for pattern in patterns + [r"^cpu: ", r"^compile cache: "]:
        assert re.search(pattern, info.stdout, re.M), info.stdout
    assert f"compile cache: {cache_directory()} (" in info.stdout  # where this process's kernels are, too
    net = jp.Network([jp.Dense(64, "relu"), jp.Dropout(0.5), jp.Dense(10, "softmax")], 64, "cross_entropy", seed=0)
    jp.save(net, tmp_path / "m.safetensors")
    summary = run_jitprop("summary", "m.safetensors", cwd=tmp_path)
    assert summary.returncode == 0, summary.stderr
    rows = {line.split()[0]: line.split() for line in summary.stdout.splitlines() if line[:1].isdigit() or
            line.startswith("total")}
    assert rows["0"][1:] == ["Dense", "relu", "(64,)", "(64,)", "4,160", "8,320"]  # 2·64·64 + 64 + 64
    assert rows["1"][1:6] == ["Dropout", "rate", "0.5", "(64,)", "(64,)"]
    assert rows["2"][1:6] == ["Dense", "softmax", "(64,)", "(10,)", "650"]
    flops = [int(rows[name][-1].replace(",", "")) for name in ("0", "1", "2", "total")]
    assert rows["total"][1] == "4,810" and flops[3] == sum(flops[:3]) and flops[2] >= 2 * 64 * 10 + 10
    assert "2·fan_in·fan_out" in summary.stdout


# ------------------------------------------------------- in-process tests
def test_regression_csv_reports_and_predicts_in_the_targets_units(data, in_dir, capsys):
    assert cli.main(["train", str(data / "houses.csv"), "--target", "price", "--epochs", "60", "--quiet",
                     "--metrics-json", "m.json"]) == 0
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
    assert cli.main(["train", str(data / "digits.npy"), "--target", "-1", "--epochs", "3", "--quiet",
                     "--no-standardize"]) == 0
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


def test_the_built_in_model_predicts_a_csv_that_still_has_the_digit_column(data, in_dir, capsys):
    assert cli.main(["train", "--epochs", "2", "--quiet"]) == 0
    capsys.readouterr()
    assert cli.main(["predict", "model.safetensors", str(data / "digits.csv")]) == 0  # px0..px63 and digit
    assert len(capsys.readouterr().out.split()) == 601


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
    assert cli.main(["train", str(data / "digits.npz"), "--epochs", "200", "--lr", "0.05", "--early-stopping", "2",
                     "--metrics-json", "m.json", "--plot", "curves.png", "--quiet"]) == 0
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


def test_wrong_options_fail_before_any_work(data, in_dir, capsys):
    cases = [
        (["train", "--early-stopping", "3", "--val-split", "0"], "--early-stopping watches the validation loss"),
        (["train", "--target", "y"], "--target names a column of DATA"),
        (["train", "--momentum", "0.5"], "--momentum applies to sgd and rmsprop, not adam"),
        (["train", "--out", "nowhere/m.safetensors"], "the directory"),
        (["train", str(data / "houses.csv"), "--target", "price", "--loss", "cross_entropy"], "trains on mse"),
        (["train", str(data / "digits.csv"), "--target", "digit", "--loss", "binary_cross_entropy"], "two classes"),
        (["train", str(data / "digits.csv")], "--target is required"),
        (["predict", str(data / "digits.csv"), str(data / "digits.csv")], "cannot be loaded as a jitprop model"),
    ]
    for args, message in cases:
        assert cli.main(args) == 2, args
        assert message in capsys.readouterr().err
    assert os.listdir(".") == []


def test_plugin_commands_are_registered(monkeypatch, capsys):
    plugin = types.ModuleType("fake_plugin")
    plugin.__spec__ = types.SimpleNamespace(name="fake_plugin")

    def register(commands):
        command = commands.add_parser("fake", help="a plug-in")
        command.set_defaults(run=lambda args: print("plug-in ran") or 0)

    plugin.register = register
    monkeypatch.setitem(sys.modules, "fake_plugin", plugin)
    monkeypatch.setattr(cli, "PLUGINS", ("fake_plugin", "jitprop.no_such_plugin"))
    assert cli.main(["fake"]) == 0
    assert capsys.readouterr().out == "plug-in ran\n"
