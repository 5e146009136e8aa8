"""Showing the results of :func:`~jitprop.complexity.measure`: the table and the plot.

The ``jitprop complexity`` command that prints them is :mod:`jitprop.cli.complexity`.
"""

import numpy as np

from .fitting import fit_power_law


def format_results(results):
    """The results of :func:`~jitprop.complexity.measure` as a readable table."""
    machine = results["machine"]
    cal = results["calibration"]
    plan = results["plan"]
    lines = [
        f"jitprop complexity: {machine['cpu']}, {machine['threads']} thread{'s' if machine['threads'] > 1 else ''} "
        f"({machine['threading_layer']}), {plan['dtype']}, {plan['clock']} clock, {plan['repeats']} repeats "
        f"({plan['statistic']}), {results['seconds']:.0f} s",
    ]
    busy = busy_warning(results)
    if busy:
        lines.append(busy)
    lines += [
        "",
        f"Calibration: {_layers(cal['layers'])}, batch {cal['batch_size']}: {cal['gflops']:.1f} GFLOP/s "
        f"(an epoch of {cal['examples']:,} examples in {cal['epoch_seconds']:.3f} s)",
        "",
        "Training time against size: log-log slope with its 95% confidence interval, and the FLOP model's slope",
        f"  {'against':<10}{'range':<26}{'points':>6}  {'slope':>6}  {'95% CI':<16}{'model':>6}",
    ]
    for name, sweep in results["sweeps"].items():
        xs = [p["x"] for p in sweep["points"]]
        fit = sweep["fit"]
        span = f"{xs[0]:,}..{xs[-1]:,} ({xs[-1] / xs[0]:.0f}x)"
        label = {"width": "params"}.get(name, name)  # positions of each convolution, steps: at fixed weights
        lines.append(
            f"  {label:<10}{span:<26}{len(xs):>6}  {fit['slope']:>6.3f}  "
            f"[{fit['ci95'][0]:.3f}, {fit['ci95'][1]:.3f}]  {sweep['model_slope']:>6.3f}"
        )
    lines += [
        "",
        "Epoch time across the width sweep: measured against FLOPs / calibrated throughput",
        f"  {'hidden':>6}  {'params':>9}  {'measured s':>10}  {'predicted s':>11}  {'error':>7}",
    ]
    for p in results["sweeps"]["width"]["points"]:
        lines.append(
            f"  {p['hidden']:>6}  {p['x']:>9,}  {p['seconds']:>10.4f}  {p['predicted_seconds']:>11.4f}  "
            f"{p['error']:>+7.1%}"
        )
    ratios = results["backward_forward"]
    others = [entry["batch_size"] for entry in ratios[0]["by_batch_size"][1:]]
    lines += [
        "",
        f"Backward/forward: (GRADIENT - FORWARD) / FORWARD time of run_batch, batch {ratios[0]['batch_size']}"
        + "".join(f"; then batch {b}" for b in others),
        f"  {'layers':<28}{'predicted':>9}  {'2-w1/w':>6}  {'measured':>8}  {'error':>7}  {'tile rows':>9}"
        + "".join(f"  {'batch ' + str(b):>14}" for b in others),
    ]
    for r in ratios:
        extra = "".join(f"  {e['measured']:>6.3f} ({e['error']:>+5.0%})" for e in r["by_batch_size"][1:])
        lines.append(
            f"  {_layers(r['layers']):<28}{r['predicted']:>9.3f}  {r['matmul_ratio']:>6.3f}  {r['measured']:>8.3f}  "
            f"{r['error']:>+7.1%}  {r['tile_rows']:>9}{extra}"
        )
    cnns = results.get("cnn_backward_forward") or []
    rnns = results.get("rnn_backward_forward") or []
    for kind, entries, uses in (("CNNs", cnns, "w·P"), ("recurrent networks", rnns, "w·T")):
        if not entries:
            continue
        lines += [
            "",
            f"Backward/forward of {kind}, batch {entries[0]['batch_size']} (model: weight gradient = forward "
            "product, input gradient the same but for the first layer"
            + (", the state's gradient at every step)" if entries is rnns else ")"),
            f"  {'network':<36}{'weights':>8}  {uses:>9}  {'predicted':>9}  {'2-u1/u':>6}  {'measured':>8}  "
            f"{'error':>7}",
        ]
        for r in entries:
            lines.append(
                f"  {r['network']:<36}{r['weights']:>8,}  {r['weight_uses']:>9,}  {r['predicted']:>9.3f}  "
                f"{r['matmul_ratio']:>6.3f}  {r['measured']:>8.3f}  {r['error']:>+7.1%}"
            )
    parts = results["backward_parts"]
    lines += [
        "",
        f"The backward pass taken apart: a {parts[0]['fan_in']}x{parts[0]['fan_out']} layer on one tile, "
        "relative to its forward product (FLOPs predict 1 for each)",
        f"  {'tile rows':>9}  {'forward GFLOP/s':>15}  {'input gradient':>14}  {'weight gradient':>15}",
    ]
    for p in parts:
        lines.append(
            f"  {p['tile_rows']:>9}  {p['forward_gflops']:>15.1f}  {p['input_gradient_over_forward']:>14.2f}  "
            f"{p['weight_gradient_over_forward']:>15.2f}"
        )
    inf = results["inference"]
    lines += [
        "",
        f"Inference against training, per example ({_layers(inf['layers'])}): "
        f"training {inf['training_seconds_per_example'] * 1e6:.2f} us, "
        f"inference {inf['inference_seconds_per_example'] * 1e6:.2f} us; "
        f"training/inference {inf['measured_ratio']:.2f} measured, {inf['predicted_ratio']:.2f} predicted",
        "",
    ]
    acc = results["acceptance"]
    low, high = acc["exponent_band"]
    lines.append(
        f"Acceptance: exponents in [{low}, {high}]: {_yes(acc['exponents_in_band'])}; "
        f"backward/forward within {acc['ratio_tolerance']:.0%}: {acc['ratios_within_tolerance']} of {len(ratios)}"
        + (f" (CNNs {acc['cnn_ratios_within_tolerance']} of {len(cnns)})" if cnns else "")
        + (f" (recurrent {acc.get('rnn_ratios_within_tolerance', 0)} of {len(rnns)})" if rnns else "")
        + "; "
        f"epoch time within {acc['prediction_tolerance']:.0%}: {_yes(acc['prediction_within_tolerance'])} "
        f"(largest error {results['prediction']['max_abs_error']:.1%})"
    )
    return "\n".join(lines)


def busy_warning(results):
    """A line saying the machine was busy enough to distort wall-clock timings, or ``""``."""
    machine = results["machine"]
    load = machine.get("load_average_before")
    if results["plan"]["clock"] != "wall" or not load or not machine.get("cpus"):
        return ""
    spare = machine["cpus"] - load[0]
    if spare >= machine["threads"] - 0.5:
        return ""
    return (
        f"warning: the machine was busy (load {load[0]:.1f} on {machine['cpus']} CPUs) and wall-clock timings with "
        f"{machine['threads']} threads are unreliable; --threads 1 --clock cpu is steadier"
    )


def plot(results, path):
    """Draw the scaling sweeps and the backward/forward ratios into ``path`` (PNG, SVG, PDF...).

    Each sweep panel shows every timed repeat (small dots), the point's time
    (large dots), the fitted power law and the calibrated model's prediction,
    on log-log axes. Needs matplotlib (``pip install jitprop[plot]``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install 'jitprop[plot]' (or pip install matplotlib).") from None

    # Dense sweeps and ratios in the first two columns, then a column for the convolutional
    # part and one for the recurrent part (each a sweep above its ratios) where measured.
    kinds = (("positions", "cnn_backward_forward", "CNNs"), ("steps", "rnn_backward_forward", "RNNs"))
    parts = [
        (sweep, results.get(ratios) or [], kind)
        for sweep, ratios, kind in kinds
        if sweep in results["sweeps"] or results.get(ratios)
    ]
    columns = 2 + len(parts)
    figure, grid_axes = plt.subplots(2, columns, figsize=(5.5 * columns, 8.5))
    places = {"width": grid_axes[0, 0], "examples": grid_axes[0, 1], "epochs": grid_axes[1, 0]}
    for column, (sweep, _, _) in enumerate(parts, 2):
        places[sweep] = grid_axes[0, column]
    titles = {
        "width": "Training time against parameters (hidden width)",
        "examples": "Training time against examples",
        "epochs": "Training time against epochs",
        "positions": "CNN: training time against output positions P\n(image side varies, weights fixed)",
        "steps": "RNN: training time against steps T\n(sequence length varies, weights fixed)",
    }
    xlabels = {
        "width": "parameters w",
        "examples": "examples m",
        "epochs": "epochs e",
        "positions": "positions P",
        "steps": "steps T",
    }
    for name, sweep in results["sweeps"].items():
        ax = places[name]
        points = sweep["points"]
        xs = np.array([p["x"] for p in points], dtype=float)
        for x, p in zip(xs, points):
            ax.plot([x] * len(p["samples"]), p["samples"], ".", color="0.7", markersize=4)
        measured = np.array([p["seconds"] for p in points])
        predicted = np.array([p["predicted_seconds"] for p in points])
        fit = fit_power_law(xs, measured)
        grid = np.geomspace(xs[0], xs[-1], 50)
        ax.plot(xs, measured, "o", color="C0", label="measured")
        low, high = sweep["fit"]["ci95"]
        ax.plot(grid, fit(grid), "-", color="C0", label=f"fit: slope {fit.slope:.3f} [{low:.3f}, {high:.3f}]")
        ax.plot(xs, predicted, "--", color="C3", label="model: FLOPs / calibrated GFLOP/s")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_tick))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xticks(xs)
        ax.set_xlabel(xlabels[name])
        ax.set_ylabel("seconds")
        ax.set_title(titles[name], fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)

    ax = grid_axes[1, 1]
    ratios = results["backward_forward"]
    at = np.arange(len(ratios))
    n_bars = 1 + len(ratios[0]["by_batch_size"])
    width = 0.8 / n_bars
    predicted = [r["predicted"] for r in ratios]
    ax.bar(at - 0.4 + width / 2, predicted, width, color="C3", alpha=0.7, label="predicted (FLOPs)")
    for k, shade in zip(range(n_bars - 1), ("C0", "#9ecae1", "#deebf7")):
        entries = [r["by_batch_size"][k] for r in ratios]
        measured = [e["measured"] for e in entries]
        label = f"measured, batch {entries[0]['batch_size']}"
        ax.bar(at - 0.4 + width * (k + 1.5), measured, width, color=shade, label=label)
    ax.axhline(2.0, color="0.5", linestyle=":", linewidth=1)
    ax.set_xticks(at)
    ax.set_xticklabels([_layers(r["layers"]) for r in ratios], fontsize=7, rotation=12)
    ax.set_ylabel("backward time / forward time")
    ax.set_title("Backward time / forward time (run_batch)", fontsize=10)
    ax.legend(fontsize=8)
    for column, (_, entries, kind) in enumerate(parts, 2):
        ax = grid_axes[1, column]
        if not entries:
            ax.axis("off")
            continue
        at = np.arange(len(entries))
        ax.bar(at - 0.2, [r["predicted"] for r in entries], 0.4, color="C3", alpha=0.7, label="predicted (FLOPs)")
        label = f"measured, batch {entries[0]['batch_size']}"
        ax.bar(at + 0.2, [r["measured"] for r in entries], 0.4, color="C0", label=label)
        ax.axhline(2.0, color="0.5", linestyle=":", linewidth=1)
        ax.set_xticks(at)
        ax.set_xticklabels([r["network"].replace(" ", "\n", 1) for r in entries], fontsize=7)
        ax.set_ylabel("backward time / forward time")
        ax.set_title(f"{kind}: backward time / forward time (run_batch)", fontsize=10)
        ax.legend(fontsize=8)
    machine = results["machine"]
    cal = results["calibration"]
    figure.suptitle(
        f"jitprop complexity: {machine['cpu']}, {machine['threads']} thread{'s' if machine['threads'] > 1 else ''}, "
        f"{results['plan']['dtype']}, "
        f"{results['plan']['clock']} clock, "
        f"calibrated {cal['gflops']:.1f} GFLOP/s on {_layers(cal['layers'])}",
        fontsize=11,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _tick(value, _):
    return f"{value / 1000:,.0f}k" if value >= 100000 else f"{value:,.0f}"


def _layers(sizes):
    return "-".join(str(s) for s in sizes)


def _yes(flag):
    return "yes" if flag else "no"


def plot_scaling(points, path, title=""):
    """Draw predicted epoch time and efficiency against the number of ranks into ``path``, atomically.

    ``points`` are :func:`~jitprop.complexity.scaling.scaling`'s. Needs matplotlib.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install 'jitprop[plot]' (or pip install matplotlib).") from None
    import io
    import os

    from ..io._atomic import write_atomically

    ranks = [point.ranks for point in points]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.loglog(ranks, [point.epoch_seconds for point in points], "o-", label="epoch")
    talking = [point for point in points if point.communication_seconds > 0]  # (none on one rank)
    left.loglog(
        [point.ranks for point in talking],
        [point.epoch_seconds * point.communication_seconds / point.step_seconds for point in talking],
        "s--",
        label="of which communication",
    )
    ideal = points[0].epoch_seconds * points[0].ranks
    left.loglog(ranks, [ideal / p for p in ranks], ":", color="grey", label="O(w·m·e)/P")
    left.set_xlabel("ranks P")
    left.set_ylabel("predicted epoch (s)")
    left.legend()
    right.semilogx(ranks, [100 * point.efficiency for point in points], "o-")
    right.axhline(80, color="grey", linestyle=":")
    right.set_xlabel("ranks P")
    right.set_ylabel("efficiency (%)")
    right.set_ylim(0, 105)
    for axes in (left, right):
        axes.set_xscale("log", base=2)
        axes.grid(True, which="both", alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, dpi=110, format=os.path.splitext(str(path))[1].lstrip(".") or "png")
    plt.close(figure)
    write_atomically(path, buffer.getvalue())
