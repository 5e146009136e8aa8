"""``jitprop complexity``: its options, the cost model of one network, and checks made before measuring."""

import argparse
import json

import pytest

from helpers import dense_net
from jitprop import complexity
from jitprop.cli import complexity as command


def parse(argv):
    parser = argparse.ArgumentParser(prog="jitprop")
    command.register(parser.add_subparsers(dest="command"), argparse.ArgumentParser(add_help=False))
    return parser.parse_args(argv)


def test_register_adds_the_command():
    args = parse(["complexity", "--quick", "--json", "--plot", "out.png"])
    assert args.command == "complexity" and args.quick and args.json and args.plot == "out.png"
    assert args.run is command.run


def test_network_option_prints_the_model(capsys):
    assert command.run(parse(["complexity", "--network", "784,256,256,10", "--json"])) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["layers"] == [784, 256, 256, 10]
    assert report["params"] == 269322
    assert round(report["matmul_ratio"], 2) == 1.25
    assert report["training"]["flops"] == 10 * complexity.costs(dense_net([784, 256, 256, 10]), 128).epoch_flops(60000)

    assert command.run(parse(["complexity", "--network", "64-32-10", "--epochs", "2"])) == 0
    out = capsys.readouterr().out
    assert "Total params: 2,410" in out and "Training 2 epochs of 60,000 examples" in out


def test_plot_folder_is_checked_before_measuring(tmp_path):
    pytest.importorskip("matplotlib")
    with pytest.raises(ValueError, match="does not exist"):
        command.run(parse(["complexity", "--quick", "--plot", str(tmp_path / "missing" / "plot.png")]))
