"""``jitprop summary``: what a model file holds — inputs, task, layers, parameters and FLOPs."""

from ._common import label_text, load_model


def register(commands, common):
    """Add the ``summary`` command to the ``jitprop`` parser."""
    summary = commands.add_parser("summary", parents=[common], help="layers, parameters and FLOPs of a model")
    summary.add_argument("model", metavar="MODEL", help="a model file written by jitprop train or jitprop.save")
    summary.set_defaults(run=run)


def run(args):
    """Run ``jitprop summary`` with parsed ``args``; returns the exit status."""
    net, pre, checkpoint = load_model(args.model)
    print(
        f"{args.model}: {net.n_params:,} parameters, {net.dtype.name}, loss {net.loss}, "
        f"{checkpoint.epoch} epochs trained, written by jitprop {checkpoint.jitprop_version}"
    )
    features = ", ".join(pre.features[:5]) + (", ..." if len(pre.features) > 5 else "")
    scaled = "standardised" if pre.standardized else "as given"
    print(f"inputs: {len(pre.features)} features ({features}), {scaled}")
    for line in _encoding_lines(pre):
        print(line)
    target = "the target" if pre.target is None else repr(pre.target)
    if pre.task == "classification":
        shown = ", ".join(label_text(label) for label in pre.classes[:10])
        more = ", ..." if pre.n_classes > 10 else ""
        print(f"task: classification of {target} into {pre.n_classes} classes ({shown}{more})")
    else:
        print(f"task: regression of {target}")
    print()
    print(layer_table(net))
    return 0


def _encoding_lines(pre):
    """Lines on the categorical columns (one-hot encoded) and on the imputation of missing values."""
    lines = []
    if pre.categories:
        n = len(pre.categories)
        lines.append(f"categorical: {n} column{'s' if n > 1 else ''}, one-hot encoded after the features:")
        for name, values in pre.categories.items():
            shown = ", ".join(values[:8]) + (", ..." if len(values) > 8 else "")
            fill = pre.encoder.fills.get(name)
            missing = f", a missing value becomes {fill}" if fill is not None else ""
            lines.append(f"  {name}: {len(values)} categories ({shown}){missing}")
    if pre.imputer is not None:
        imputer = pre.imputer
        how = (
            f"constant {imputer.fill_value:g}" if imputer.strategy == "constant" else f"{imputer.strategy} of training"
        )
        values = ", ".join(f"{name} {value:.6g}" for name, value in zip(pre.features[:5], imputer.values))
        more = ", ..." if len(pre.features) > 5 else ""
        lines.append(f"missing values: imputed, {how} ({values}{more})")
    return lines


def layer_table(net):
    """A table of the layers of ``net``: shapes, parameters and forward FLOPs per example.

    FLOPs are those of :func:`jitprop.complexity.summary_table`.
    """
    from ..complexity import summary_table
    from ..layers import Dense

    flops = [row.forward_flops for row in summary_table(net) if row.kind != "Loss"]
    rows = [("layer", "type", "activation", "input", "output", "parameters", "FLOPs")]
    shape = net.input_shape
    for i, (layer, layer_flops) in enumerate(zip(net.layers, flops)):
        out = layer.output_shape(shape)
        params = f"{layer.parameter_count(shape):,}"
        rows.append(
            (str(i), type(layer).__name__, layer.describe(), _shape(shape), _shape(out), params, f"{layer_flops:,}")
        )
        shape = out
    rows.append(("total", "", "", "", "", f"{net.n_params:,}", f"{sum(flops):,}"))
    widths = [max(len(row[j]) for row in rows) for j in range(len(rows[0]))]
    lines = [
        "  ".join(cell.rjust(w) if j >= 5 else cell.ljust(w) for j, (cell, w) in enumerate(zip(row, widths)))
        for row in rows
    ]
    rule = "-" * len(lines[0])
    lines[1:1] = [rule]
    lines[-1:-1] = [rule]
    lines.append(
        "FLOPs: forward pass, per example: 2·fan_in·fan_out for the product, fan_out for the bias, and the "
        "activation's cost per unit times fan_out (Dropout: one scaling per unit, in training only)."
    )
    if any(layer.kernel_kind is not None and not isinstance(layer, Dense) for layer in net.layers):
        lines.append(
            "A convolution: 2·kh·kw·c_in·c_out per output position (H_out·W_out) for the product, c_out per "
            "position for the bias and for each operation of the activation; pooling: window − 1 comparisons (max) "
            "or window − 1 additions and a division (average) per output value; Flatten: none."
        )
    if any(layer.kind in ("simple_rnn", "gru", "lstm", "bidirectional") for layer in net.layers):
        lines.append(
            "A recurrent layer of g gates (SimpleRNN 1, GRU 3, LSTM 4) and u units over T steps of F features: "
            "T·(2·F·g·u + 2·u·g·u + 7·g·u), twice for Bidirectional (see docs/complexity.md)."
        )
    return "\n".join(line.rstrip() for line in lines)


def _shape(shape):
    """A shape as Python writes a tuple: ``(64,)``, ``(8, 8, 16)``."""
    return str(tuple(int(size) for size in shape))
