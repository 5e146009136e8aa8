"""The ``jitprop`` command as a whole: its commands, user errors, exit statuses.

Subprocess tests run the command as users do (each pays Python start-up and
the Numba cache load, about a second); the finer behaviour is tested by
calling :func:`jitprop.cli.main` in-process. Each command has a test module
of its own (test_train.py, test_predict.py, ...).
"""

import os
import re

import numpy as np
import pytest

import jitprop as jp
from helpers import run_jitprop
from jitprop import cli


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


def test_every_command_is_registered(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    listed = capsys.readouterr().out
    for command in ("train", "predict", "evaluate", "summary", "info", "complexity", "bench"):
        assert re.search(rf"^    {command}\b", listed, re.M), command
    assert [module.__name__.rsplit(".", 1)[1] for module in cli.COMMANDS] == [
        "train",
        "predict",
        "evaluate",
        "summary",
        "info",
        "complexity",
        "bench",
    ]


def test_an_internal_error_says_so_and_exits_1(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli.info, "run", broken)
    assert cli.main(["info"]) == 1
    assert capsys.readouterr().err == (
        "jitprop info: error: internal error (RuntimeError: a bug); run with --debug for the traceback and report it\n"
    )
