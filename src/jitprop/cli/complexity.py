"""``jitprop complexity``: the cost model of a network, or the experiment that measures it.

With ``--network`` it prints what :func:`jitprop.complexity.costs` counts for
one network (and with ``--calibrate`` the times this machine's throughput
predicts); otherwise it runs :func:`jitprop.complexity.measure` and prints
(and plots) its results.
"""

import json
import sys
from pathlib import Path

from ..complexity import calibrate, costs, format_results, measure, plot, summary
from ..complexity.experiment import relu_network


def register(commands, common):
    """Add the ``complexity`` command to the ``jitprop`` parser."""
    command = commands.add_parser(
        "complexity",
        parents=[common],
        help="what training by back-propagation costs: the cost model and measurements on this machine",
        description=(
            "Measure how training time scales with parameters, examples and epochs, the backward/forward "
            "ratio and inference against training, and compare with the FLOP model. With --network, print "
            "the cost model of one network instead."
        ),
    )
    add = command.add_argument
    add("--quick", action="store_true", help="a smaller run (under 15 s)")
    add("--repeats", type=int, default=None, help="timings per point (default 5, quick 2)")
    add("--statistic", choices=["median", "min"], default="median", help="how repeats become a time (median)")
    add("--threads", type=int, default=None, help="Numba threads while measuring (default: all)")
    add(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="wall: elapsed time (default); cpu: CPU time of the one working thread, "
        "which other processes cannot inflate (implies --threads 1)",
    )
    add("--seed", type=int, default=0)
    add("--json", action="store_true", help="print the results as one JSON object")
    add("--plot", metavar="FILE.png", help="draw the scaling plots (needs matplotlib)")
    add("--network", metavar="SIZES", help="print the cost model of this network instead, e.g. 784,256,256,10")
    add("--examples", type=int, default=60000, help="with --network: examples per epoch (60000)")
    add("--epochs", type=int, default=10, help="with --network: epochs (10)")
    add("--batch-size", type=int, default=128, help="with --network: batch size (128)")
    add("--calibrate", action="store_true", help="with --network: measure GFLOP/s and predict times")
    add(
        "--ranks",
        metavar="P,P,...",
        help="with --network: predict data-parallel epochs on these numbers of MPI ranks, e.g. 1,2,4,...,1024 "
        "(a list with '...' doubles up to the last)",
    )
    add("--bandwidth", default="10GB/s", help="with --ranks: the interconnect's bandwidth (default 10GB/s)")
    add("--latency", default="5us", help="with --ranks: the latency of one message (default 5us)")
    add(
        "--gflops",
        type=float,
        default=None,
        help="with --ranks: one rank's training GFLOP/s (default: measured, as --calibrate)",
    )
    add("--combine", choices=["allreduce", "tiles"], default="allreduce", help="with --ranks: fit(combine=...)")
    command.set_defaults(run=run)


def run(args):
    """Run ``jitprop complexity`` with parsed arguments; returns the exit code."""
    if args.network:
        return _model_only(args)
    if args.plot:  # fail before a minute of measuring, not after
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise ValueError("--plot needs matplotlib: pip install 'jitprop[plot]'.") from None
        folder = Path(args.plot).resolve().parent
        if not folder.is_dir():
            raise ValueError(f"--plot {args.plot}: the folder {folder} does not exist.")

    def progress(message):
        print(f"[complexity] {message}", file=sys.stderr, flush=True)

    results = measure(
        quick=args.quick,
        repeats=args.repeats,
        seed=args.seed,
        statistic=args.statistic,
        progress=progress,
        threads=args.threads,
        clock=args.clock,
    )
    if args.plot:
        plot(results, args.plot)
        results["plot"] = str(args.plot)
    if args.json:
        print(json.dumps(results))
    else:
        print(format_results(results))
        if args.plot:
            print(f"plot: {args.plot}")
    return 0


def _model_only(args):
    if args.ranks:
        return _scaling(args)
    try:
        sizes = [int(s) for s in args.network.replace("-", ",").split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--network must be widths separated by commas, e.g. 784,256,10; got {args.network!r}.")
    net = relu_network(sizes, "float32", args.seed)
    cost = costs(net, args.batch_size)
    report = cost.as_dict()
    flops = cost.training_flops(args.examples, args.epochs)
    report["training"] = {
        "examples": args.examples,
        "epochs": args.epochs,
        "flops": flops,
        "inference_flops": cost.predict_flops(args.examples),
    }
    if args.calibrate:
        cal = calibrate(repeats=args.repeats or 3, seed=args.seed, threads=args.threads, clock=args.clock)
        report["calibration"] = cal
        speed = cal["flops_per_second"]
        report["training"]["predicted_seconds"] = flops / speed
        report["training"]["predicted_inference_seconds"] = cost.predict_flops(args.examples) / speed
    if args.json:
        print(json.dumps(report))
        return 0
    print(summary(net, args.batch_size))
    print(
        f"Training {args.epochs} epochs of {args.examples:,} examples, batch {args.batch_size}: {flops:.3e} FLOPs; "
        f"inference of {args.examples:,}: {cost.predict_flops(args.examples):.3e} FLOPs"
    )
    if args.calibrate:
        t = report["training"]
        print(
            f"At {report['calibration']['gflops']:.1f} GFLOP/s (calibrated): training {t['predicted_seconds']:.2f} s, "
            f"inference {t['predicted_inference_seconds']:.3f} s"
        )
    return 0


def _sizes(text):
    try:
        return [int(s) for s in text.replace("-", ",").split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--network must be widths separated by commas, e.g. 784,256,10; got {text!r}.") from None


def parse_ranks(text):
    """``"1,2,4"``, or ``"1,2,...,1024"`` (doubling from the last listed up to the end), as a list of ints."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    ranks = []
    for i, part in enumerate(parts):
        if part in ("...", "…"):
            if not ranks or i + 1 >= len(parts):
                raise ValueError(f"--ranks {text!r}: '...' goes between a first and a last number, e.g. 1,2,...,1024.")
            last = int(parts[i + 1])
            while ranks[-1] * 2 < last:
                ranks.append(ranks[-1] * 2)
            continue
        if not part.isdigit() or int(part) < 1:
            raise ValueError(f"--ranks {text!r}: {part!r} is not a positive number of ranks.")
        ranks.append(int(part))
    return ranks


def _scaling(args):
    from ..complexity.scaling import Link, batch_for_efficiency, parse_bandwidth, parse_latency, scaling

    ranks = parse_ranks(args.ranks)
    link = Link(parse_bandwidth(args.bandwidth), parse_latency(args.latency))
    net = relu_network(_sizes(args.network), "float32", args.seed)
    cost = costs(net, args.batch_size)
    if args.gflops is not None:
        speed, source = args.gflops * 1e9, "given (--gflops)"
    else:
        cal = calibrate(net, batch_size=args.batch_size, repeats=args.repeats or 3, seed=args.seed, threads=1)
        speed, source = cal["flops_per_second"], "measured on this machine, 1 thread"
    points = scaling(cost, args.examples, ranks, link, speed, args.combine)
    batches = [batch_for_efficiency(cost, p, link, speed, 0.8, args.combine) for p in ranks]
    if args.json:
        rows = [dict(point.as_dict(), batch_for_80_percent=b) for point, b in zip(points, batches)]
        print(
            json.dumps(
                {
                    "network": cost.sizes,
                    "params": cost.params,
                    "batch_size": args.batch_size,
                    "examples": args.examples,
                    "bandwidth": link.bandwidth,
                    "latency": link.latency,
                    "flops_per_second": speed,
                    "combine": args.combine,
                    "points": rows,
                }
            )
        )
    else:
        print(
            f"network {'-'.join(map(str, cost.sizes))}: {cost.params:,} parameters ({cost.dtype}); epoch of "
            f"{args.examples:,} examples in batches of {args.batch_size} ({cost.tiles} tiles each)"
        )
        print(
            f"one rank: {speed / 1e9:.1f} GFLOP/s ({source}); link {link.bandwidth / 1e9:g} GB/s, "
            f"{link.latency * 1e6:g} us; gradients combined by {args.combine}"
        )
        print(
            f"{'ranks':>6} {'compute/step':>13} {'comm/step':>11} {'epoch':>10} {'speedup':>8} {'efficiency':>10} "
            f"{'batch for 80%':>14}"
        )
        for point, batch in zip(points, batches):
            print(
                f"{point.ranks:>6} {_time(point.compute_seconds):>13} {_time(point.communication_seconds):>11} "
                f"{_time(point.epoch_seconds):>10} {point.speedup:>8.1f} {point.efficiency:>10.1%} {batch:>14,}"
            )
        print(
            f"(the model divides a batch freely; jitprop shares it out by whole tiles, {cost.tiles} here: more "
            f"ranks than tiles need a larger batch)"
        )
    if args.plot:
        from ..complexity.report import plot_scaling

        plot_scaling(points, args.plot, title=f"{'-'.join(map(str, cost.sizes))}, batch {args.batch_size}")
        if not args.json:
            print(f"plot: {args.plot}")
    return 0


def _time(seconds):
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"
