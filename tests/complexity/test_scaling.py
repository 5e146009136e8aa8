"""The data-parallel scaling model: communication per step, efficiency, the batch that keeps it, the command."""

import json
import math

import pytest

from helpers import run_jitprop
from jitprop.complexity import costs
from jitprop.complexity.experiment import relu_network
from jitprop.complexity.scaling import (
    Link,
    MeasuredStep,
    batch_for_efficiency,
    communication_seconds,
    parse_bandwidth,
    parse_latency,
    scaling,
    thread_epoch_seconds,
)
from jitprop.cli.complexity import parse_ranks


def test_a_ring_allreduce_costs_its_volume_twice_and_two_latencies_per_doubling():
    link = Link(bandwidth=1e9, latency=5e-6)
    assert link.allreduce_seconds(1e6, 1) == 0.0
    # P = 4: 2·(3/4)·1e6/1e9 + 2·2·5e-6
    assert link.allreduce_seconds(1e6, 4) == pytest.approx(1.5e-3 + 20e-6)
    assert link.allgather_seconds(1e6, 4) == pytest.approx(0.75e-3 + 10e-6)


def test_the_efficiency_is_the_compute_share_and_falls_with_the_ranks():
    cost = costs(relu_network((784, 256, 128, 10)), batch_size=128)
    link = Link(10e9, 5e-6)
    speed = 20e9
    points = scaling(cost, 60_000, [1, 2, 4, 64], link, speed)
    assert points[0].efficiency == pytest.approx(1.0) and points[0].communication_seconds == 0
    steps = math.ceil(60_000 / 128)
    batch = 128 * cost.training_flops_per_example / speed
    update = cost.step_flops / speed
    talk = 2 * 0.5 * cost.params * 4 / 10e9 + 2 * 5e-6
    assert points[1].epoch_seconds == pytest.approx(steps * (batch / 2 + update + talk))
    assert points[1].efficiency == pytest.approx((batch + update) / (2 * (batch / 2 + update + talk)))
    assert [p.efficiency for p in points] == sorted((p.efficiency for p in points), reverse=True)
    # Gathering every tile sends T/2 times the allreduce's volume (and half its latency).
    gathered = communication_seconds(cost, 2, link, "tiles")
    assert gathered == pytest.approx(0.5 * cost.tiles * cost.params * 4 / 10e9 + 5e-6)


@pytest.mark.parametrize("ranks", [2, 16, 256])
def test_the_batch_for_an_efficiency_reaches_it(ranks):
    net = relu_network((784, 256, 128, 10))
    link, speed = Link(10e9, 5e-6), 20e9
    batch = batch_for_efficiency(costs(net, 128), ranks, link, speed, 0.8)
    assert scaling(costs(net, batch), 60_000, [ranks], link, speed)[0].efficiency >= 0.8
    assert scaling(costs(net, max(1, batch // 2)), 60_000, [ranks], link, speed)[0].efficiency < 0.8


def test_units_and_rank_lists_are_read():
    assert parse_bandwidth("10GB/s") == 10e9
    assert parse_bandwidth("100Gb/s") == 12.5e9
    assert parse_bandwidth("2.5e8") == 2.5e8
    assert parse_latency("5us") == pytest.approx(5e-6) and parse_latency("2ms") == pytest.approx(2e-3)
    assert parse_ranks("1,2,...,16") == [1, 2, 4, 8, 16]
    assert parse_ranks("3,5") == [3, 5]
    with pytest.raises(ValueError, match="bandwidth '10 furlongs'"):
        parse_bandwidth("10 furlongs")
    with pytest.raises(ValueError, match="'0' is not a positive number of ranks"):
        parse_ranks("0,2")


def test_the_command_predicts_epochs_on_ranks(tmp_path):
    done = run_jitprop(
        "complexity",
        "--network",
        "784,256,128,10",
        "--ranks",
        "1,2,...,1024",
        "--bandwidth",
        "10GB/s",
        "--latency",
        "5us",
        "--gflops",
        "20",
        "--json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [point["ranks"] for point in report["points"]] == [2**i for i in range(11)]
    assert report["points"][0]["efficiency"] == pytest.approx(1.0)
    assert report["points"][-1]["efficiency"] < 0.05
    text = run_jitprop(
        "complexity",
        "--network",
        "784,256,128,10",
        "--ranks",
        "1,4",
        "--gflops",
        "20",
        "--plot",
        tmp_path / "s.png",
        cwd=tmp_path,
    )
    assert text.returncode == 0, text.stderr
    assert "efficiency" in text.stdout and (tmp_path / "s.png").stat().st_size > 0


def test_measured_parts_add_to_every_step_and_the_loop_and_wait_only_on_ranks():
    cost = costs(relu_network((784, 256, 128, 10)), batch_size=128)
    link, speed = Link(5e9, 2e-6), 40e9
    measured = MeasuredStep(update=2e-4, loop=1.5e-4, wait=1e-4)
    one, two = scaling(cost, 60_000, [1, 2], link, speed, "tiles", measured)
    steps = math.ceil(60_000 / 128)
    batch = 128 * cost.training_flops_per_example / speed
    # One process repeats the measured update instead of U/S, and pays no loop, wait or exchange.
    assert one.epoch_seconds == pytest.approx(steps * (batch + 2e-4))
    talk = communication_seconds(cost, 2, link, "tiles")
    assert two.epoch_seconds == pytest.approx(steps * (batch / 2 + 2e-4 + talk + 2.5e-4))
    assert two.overhead_seconds == pytest.approx(2.5e-4) and one.overhead_seconds == 0
    # Without measured parts the FLOP model is unchanged.
    plain = scaling(cost, 60_000, [2], link, speed, "tiles")[0]
    assert plain.epoch_seconds == pytest.approx(steps * (batch / 2 + cost.step_flops / speed + talk))


def test_ranks_cost_more_than_threads_by_the_exchange_the_loop_and_the_undivided_update():
    cost = costs(relu_network((784, 256, 128, 10)), batch_size=128)
    link, speed = Link(5e9, 2e-6), 40e9
    update, wait = 2e-4, 1e-4
    ranks = scaling(cost, 60_000, [2], link, speed, "allreduce", MeasuredStep(update, loop=1.5e-4, wait=wait))[0]
    threads = thread_epoch_seconds(cost, 60_000, 2, speed, MeasuredStep(update / 2, wait=wait))
    steps = math.ceil(60_000 / 128)
    difference = steps * (communication_seconds(cost, 2, link) + 1.5e-4 + update / 2)
    assert ranks.epoch_seconds - threads == pytest.approx(difference)
    with pytest.raises(ValueError, match="wait must be a non-negative number of seconds"):
        MeasuredStep(update, wait=-1.0)
