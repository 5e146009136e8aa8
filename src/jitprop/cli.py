"""The ``jitprop`` command: train, predict, evaluate, summary, info.

``jitprop train`` with no arguments trains a network on the built-in digits
data set; ``jitprop train DATA --target COLUMN`` trains on a CSV, NPY or NPZ
file (see :mod:`jitprop.tabular`), and stores with the model everything
``predict`` and ``evaluate`` need to treat new data the same way (see
:mod:`jitprop.preprocessing`). Plug-in commands (``complexity``, ``bench``)
are added by the modules that define them.

A mistake in the input — a missing file, a value that is not a number, a
model that does not fit the data — ends the command with one line on
standard error and exit status 2; ``--debug`` adds the traceback. Ctrl-C
ends it with status 130, leaving no half-written file.
"""

import argparse
import importlib
import importlib.util
import json
import os
import platform
import sys
import traceback

#: Modules that add a command of their own through ``register(subparsers)``.
PLUGINS = ("jitprop.complexity", "jitprop.bench")

#: Exit status of a command stopped by a mistake in its input or options.
EXIT_USAGE = 2

#: Exit status of a command stopped by Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130

_MESSAGE_ERRORS = (ValueError, TypeError, ArithmeticError, MemoryError)


class UsageError(ValueError):
    """Options that cannot work together, found before any work is done."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with a message saying what was (not) saved."""


def main(argv=None):
    """Entry point of the ``jitprop`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    name = f"jitprop {args.command}"
    try:
        return args.run(args) or 0
    except Interrupted as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print(f"{name}: interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader of standard output went away (jitprop predict ... | head)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:  # every error ends as one line; --debug adds the traceback
        if args.debug:
            traceback.print_exc()
        message, status = describe_error(exc)
        print(f"{name}: error: {message}", file=sys.stderr)
        return status


def describe_error(exc):
    """``(one-line message, exit status)`` for an exception that ends a command."""
    from .model_file import ModelFileError

    if isinstance(exc, ModelFileError):
        message, status = f"{exc.path} cannot be loaded as a jitprop model: {exc.reason}", EXIT_USAGE
    elif isinstance(exc, OSError) and exc.filename is not None:
        message, status = f"{exc.filename}: {exc.strerror or exc}", EXIT_USAGE
    elif isinstance(exc, (OSError, *_MESSAGE_ERRORS)):
        message, status = str(exc) or type(exc).__name__, EXIT_USAGE
    else:
        message = f"internal error ({type(exc).__name__}: {exc}); run with --debug for the traceback and report it"
        status = 1
    return " ".join(message.split()), status


# ------------------------------------------------------------------ parser
class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors, like every other error of the command, take one line."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    """The argument parser of ``jitprop`` and its commands, plug-ins included."""
    from . import __version__

    parser = _Parser(
        prog="jitprop",
        description="Train feed-forward neural networks on a CPU.",
        epilog="Run 'jitprop COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"jitprop {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_train(commands, common)
    _add_predict(commands, common)
    _add_evaluate(commands, common)
    summary = commands.add_parser("summary", parents=[common], help="layers, parameters and FLOPs of a model")
    summary.add_argument("model", metavar="MODEL", help="a model file written by jitprop train or jitprop.save")
    summary.set_defaults(run=_summary)
    info = commands.add_parser("info", parents=[common], help="versions, threads, CPU and compile cache")
    info.set_defaults(run=_info)
    for module in PLUGINS:
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module).register(commands)
    return parser


def _add_train(commands, common):
    from .train_command import OPTIMIZERS, run

    train = commands.add_parser(
        "train",
        parents=[common],
        help="train a network (on the built-in digits without DATA)",
        description="Train a network on DATA (CSV with a header row, NPY or NPZ), or on the built-in "
        "UCI handwritten digits when DATA is left out, and save it with what predict needs.",
    )
    train.add_argument("data", nargs="?", metavar="DATA", help="CSV, NPY or NPZ file (default: built-in digits)")
    train.add_argument("--target", metavar="COLUMN", help="column to predict (NPY: index; NPZ: array, default 'y')")
    model = train.add_argument_group("network")
    model.add_argument("--hidden", type=_widths, default=[64], metavar="WIDTHS", help="hidden widths (default 64)")
    model.add_argument(
        "--activation", default="relu", choices=_hidden_activations(), metavar="NAME",
        help="hidden activation: %(choices)s (default relu)",
    )
    model.add_argument("--task", choices=("classification", "regression"), help="default: inferred from the target")
    model.add_argument(
        "--loss",
        choices=("cross_entropy", "binary_cross_entropy", "mse"),
        help="default cross_entropy (classification) or mse (regression)",
    )
    model.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    model.add_argument(
        "--standardize",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="scale each feature to mean 0 and deviation 1 over the training part (default: on)",
    )
    fit = train.add_argument_group("training")
    fit.add_argument("--optimizer", default="adam", choices=sorted(OPTIMIZERS), help="default adam")
    fit.add_argument("--lr", type=_positive_float, help="learning rate (default: the optimizer's, adam 0.001)")
    fit.add_argument("--momentum", type=_fraction, help="momentum of sgd (default 0.9) or rmsprop (default 0)")
    fit.add_argument("--epochs", type=_positive_int, default=30, metavar="N", help="default 30")
    fit.add_argument("--batch-size", type=_positive_int, default=32, metavar="N", help="default 32")
    fit.add_argument(
        "--val-split", type=_fraction, default=0.2, metavar="FRACTION", help="held out for validation (default 0.2)"
    )
    fit.add_argument("--early-stopping", type=_count, metavar="PATIENCE", help="stop after PATIENCE bad epochs")
    fit.add_argument("--seed", type=int, default=0, help="seeds weights, split and shuffling (default 0)")
    fit.add_argument("--threads", type=_positive_int, metavar="N", help="Numba threads (default: all)")
    out = train.add_argument_group("output")
    out.add_argument("--out", default="model.safetensors", metavar="MODEL", help="default model.safetensors")
    out.add_argument("--checkpoint-every", type=_positive_int, metavar="N", help="checkpoint every N epochs")
    out.add_argument("--resume", metavar="CHECKPOINT", help="continue an interrupted run from its checkpoint")
    out.add_argument("--metrics-json", metavar="FILE", help="write final metrics and per-epoch history")
    out.add_argument("--plot", metavar="FILE.png", help="plot loss and accuracy curves (needs matplotlib)")
    out.add_argument("--quiet", action="store_true", help="print the summary only, no progress")
    train.set_defaults(run=run)


def _add_predict(commands, common):
    predict = commands.add_parser("predict", parents=[common], help="predict with a model")
    predict.add_argument("model", metavar="MODEL", help="a model file written by jitprop train")
    predict.add_argument("data", metavar="DATA", help="CSV, NPY or NPZ file with the model's feature columns")
    predict.add_argument("--out", metavar="FILE", help="CSV file to write (default: standard output)")
    predict.add_argument("--proba", action="store_true", help="add the probability of each class")
    predict.add_argument("--threads", type=_positive_int, metavar="N", help="Numba threads (default: all)")
    predict.set_defaults(run=_predict)


def _add_evaluate(commands, common):
    evaluate = commands.add_parser("evaluate", parents=[common], help="score a model on labelled data")
    evaluate.add_argument("model", metavar="MODEL", help="a model file written by jitprop train")
    evaluate.add_argument("data", metavar="DATA", help="CSV, NPY or NPZ file with features and the target")
    evaluate.add_argument("--target", metavar="COLUMN", help="default: the column the model was trained on")
    evaluate.add_argument("--metrics-json", metavar="FILE", help="write the scores as JSON")
    evaluate.add_argument("--threads", type=_positive_int, metavar="N", help="Numba threads (default: all)")
    evaluate.set_defaults(run=_evaluate)


# ------------------------------------------------------------ option types
def _widths(text):
    if text.strip().lower() in ("", "none"):
        return []
    try:
        widths = [int(part) for part in text.split(",")]
    except ValueError:
        widths = [0]
    if any(width < 1 for width in widths):
        raise argparse.ArgumentTypeError(f"expected widths like 128,64 (or 'none'), got {text!r}")
    return widths


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _count(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


def _hidden_activations():
    from .activations import ACTIVATIONS

    return [name for name in ACTIVATIONS if name != "softmax"]


# ------------------------------------------------------- shared by commands
def set_threads(threads):
    """Use ``threads`` Numba threads (``None``: leave as is), or a UsageError naming the limit."""
    if threads is None:
        return
    import numba

    limit = numba.config.NUMBA_NUM_THREADS
    if threads > limit:
        raise UsageError(
            f"--threads {threads} is more than the {limit} threads Numba started with; "
            f"set the environment variable NUMBA_NUM_THREADS={threads} to allow more."
        )
    numba.set_num_threads(threads)


def check_writable(path, option):
    """A UsageError unless a file can be created at ``path`` (checked before any work)."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"{option} {path} is a directory; give a file name.")
    if not os.path.isdir(directory):
        raise UsageError(f"{option} {path}: the directory {directory} does not exist.")
    if not os.access(directory, os.W_OK):
        raise UsageError(f"{option} {path}: the directory {directory} is not writable.")


def load_model(path):
    """``(network, preprocessing, checkpoint)`` of a model file."""
    from .model_file import load_checkpoint
    from .preprocessing import Preprocessing

    checkpoint = load_checkpoint(path)
    net = checkpoint.network
    extra = checkpoint.extra
    if isinstance(extra, dict) and "preprocessing" in extra:
        pre = Preprocessing.from_json(extra["preprocessing"], net, path)
    else:
        pre = Preprocessing.for_network(net)
    return net, pre, checkpoint


def read_for_model(path, pre, target=None):
    """The table of ``path`` with the model's feature columns, and ``target`` when given.

    Without ``target``, a column holding the target the model was trained on
    is left out of the features when the file still has it.
    """
    from .tabular import csv_columns, read_table, table_format

    kind = table_format(path)
    features = pre.features if (kind == "csv" and pre.named_features) else None
    if target is not None or pre.target is None or features is not None:
        return read_table(path, target, features=features)
    if kind == "csv" and pre.target in csv_columns(path):
        return read_table(path, pre.target)
    table = read_table(path)
    if kind == "npy" and table.X.shape[1] == len(pre.features) + 1 and _is_index(pre.target):
        table = read_table(path, pre.target)
    return table


def _is_index(name):
    try:
        int(name)
    except (TypeError, ValueError):
        return False
    return True


def warm_kernels(dtype, network=None, batch_size=32, optimizer=None, say=None):
    """Compile (or load from the cache) the kernels for ``network`` (or for ``dtype``); returns the seconds it took.

    If it takes more than a second (compiling, not loading), ``say`` is
    called with a line that tells what is happening.
    """
    import threading

    from .warmup import warmup

    notice = threading.Timer(
        1.0,
        say or (lambda line: None),
        ["kernels: compiling for this network on first use; later runs load them from the cache ..."],
    )
    notice.daemon = True
    notice.start()
    try:
        return warmup([dtype], network=network, batch_size=batch_size, optimizer=optimizer)
    finally:
        notice.cancel()


def write_json(path, document):
    from ._atomic import write_atomically

    write_atomically(path, (json.dumps(document, indent=1, allow_nan=False) + "\n").encode())


def number_format(dtype):
    """printf format that keeps every digit of a value of the network's dtype."""
    return "%.9g" if str(dtype) == "float32" else "%.17g"


# ------------------------------------------------------------------ predict
def _predict(args):
    import csv
    import io

    from ._atomic import write_atomically

    set_threads(args.threads)
    if args.out is not None:
        check_writable(args.out, "--out")
    net, pre, _ = load_model(args.model)
    if args.proba and pre.task != "classification":
        raise UsageError("--proba needs a classification model; this model does regression.")
    table = read_for_model(args.data, pre)
    outputs = net.predict(pre.inputs(table, net.dtype))
    predictions = pre.predictions(outputs)
    fmt = number_format(net.dtype)
    header = ["prediction"]
    if pre.task == "classification":
        columns = [[_label_text(label) for label in predictions]]
    else:
        columns = [[fmt % value for value in predictions]]
    if args.proba:
        header += [f"proba_{_label_text(label)}" for label in pre.classes]
        proba = pre.probabilities(outputs)
        columns += [[fmt % value for value in proba[:, j]] for j in range(proba.shape[1])]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(zip(*columns))
    if args.out is None:
        sys.stdout.write(text.getvalue())
    else:
        write_atomically(args.out, text.getvalue().encode())
        print(f"{len(predictions):,} predictions written to {args.out}")
    return 0


def _label_text(label):
    return label if isinstance(label, str) else repr(label)


# ----------------------------------------------------------------- evaluate
def _evaluate(args):
    from .metrics import confusion_matrix, precision_recall, regression_scores
    from .preprocessing import read_labels
    from .tabular import table_format

    set_threads(args.threads)
    if args.metrics_json is not None:
        check_writable(args.metrics_json, "--metrics-json")
    net, pre, _ = load_model(args.model)
    target = args.target or pre.target
    if target is None:
        target = "y" if table_format(args.data) == "npz" else None
    if target is None:
        raise UsageError("the model does not name its target column; give it with --target COLUMN.")
    table = read_for_model(args.data, pre, target)
    labels = read_labels(table)
    X = pre.inputs(table, net.dtype)
    outputs = net.predict(X)
    print(f"{args.model} on {args.data}: {table.n_examples:,} examples, target {table.target_label}")
    if pre.task == "regression":
        scores = regression_scores(labels.astype("float64"), pre.predictions(outputs))
        scores = {"loss": scores["mse"], **scores}
        print(f"loss (MSE) {scores['mse']:.6g}  MAE {scores['mae']:.6g}  R² {scores['r2']:.4f}")
    else:
        indices = pre.targets(table, labels)
        y = indices.astype(net.dtype) if net.n_outputs == 1 else indices
        scores = dict(net.evaluate(X, y))
        predicted = pre.probabilities(outputs).argmax(axis=1)
        confusion = confusion_matrix(indices, predicted, pre.n_classes)
        precision, recall, support = precision_recall(confusion)
        print(f"loss {scores['loss']:.4f}  accuracy {scores['accuracy']:.4f}\n")
        print(_class_table(pre.classes, precision, recall, support))
        print("\nconfusion matrix (rows: true class, columns: predicted class)")
        print(_confusion_table(pre.classes, confusion))
        scores["classes"] = list(pre.classes)
        scores["precision"] = precision.tolist()
        scores["recall"] = recall.tolist()
        scores["support"] = support.tolist()
        scores["confusion_matrix"] = confusion.tolist()
    if args.metrics_json is not None:
        write_json(args.metrics_json, {"examples": table.n_examples, **scores})
    return 0


def _class_table(classes, precision, recall, support):
    names = [_label_text(label) for label in classes]
    width = max(5, *(len(name) for name in names))
    rows = [f"{'class':<{width}}  precision  recall  support"]
    for name, p, r, s in zip(names, precision, recall, support):
        rows.append(f"{name:<{width}}  {p:9.4f}  {r:6.4f}  {s:7d}")
    return "\n".join(rows)


def _confusion_table(classes, confusion):
    names = [_label_text(label) for label in classes]
    width = max(len(str(int(confusion.max()))), *(len(name) for name in names))
    first = max(len(name) for name in names)
    rows = [" " * first + "".join(f"  {name:>{width}}" for name in names)]
    for name, row in zip(names, confusion):
        rows.append(f"{name:<{first}}" + "".join(f"  {int(count):>{width}}" for count in row))
    return "\n".join(rows)


# ------------------------------------------------------------------ summary
def _summary(args):
    net, pre, checkpoint = load_model(args.model)
    print(
        f"{args.model}: {net.n_params:,} parameters, {net.dtype.name}, loss {net.loss}, "
        f"{checkpoint.epoch} epochs trained, written by jitprop {checkpoint.jitprop_version}"
    )
    features = ", ".join(pre.features[:5]) + (", ..." if len(pre.features) > 5 else "")
    scaled = "standardised" if pre.standardized else "as given"
    print(f"inputs: {len(pre.features)} features ({features}), {scaled}")
    target = "the target" if pre.target is None else repr(pre.target)
    if pre.task == "classification":
        shown = ", ".join(_label_text(label) for label in pre.classes[:10])
        more = ", ..." if pre.n_classes > 10 else ""
        print(f"task: classification of {target} into {pre.n_classes} classes ({shown}{more})")
    else:
        print(f"task: regression of {target}")
    print()
    print(layer_table(net))
    return 0


def layer_table(net):
    """A table of the layers of ``net``: shapes, parameters and forward FLOPs per example."""
    from .layers import Dense

    rows = [("layer", "type", "activation", "input", "output", "parameters", "FLOPs")]
    width = net.input_dim
    for i, (layer, flops) in enumerate(zip(net.layers, _forward_flops(net))):
        if isinstance(layer, Dense):
            params = f"{layer.units * (width + 1):,}"
            rows.append((str(i), "Dense", layer.activation, f"({width},)", f"({layer.units},)", params, f"{flops:,}"))
            width = layer.units
        else:
            rows.append((str(i), "Dropout", f"rate {layer.rate:g}", f"({width},)", f"({width},)", "0", f"{flops:,}"))
    rows.append(("total", "", "", "", "", f"{net.n_params:,}", f"{sum(_forward_flops(net)):,}"))
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
    return "\n".join(line.rstrip() for line in lines)


def _forward_flops(net):
    """Forward FLOPs per example of each layer, as :mod:`jitprop.complexity` counts them when it is there."""
    if importlib.util.find_spec("jitprop.complexity") is not None:
        from .complexity import summary_table

        return [row.forward_flops for row in summary_table(net) if row.kind != "Loss"]
    from .layers import Dense

    flops, width = [], net.input_dim
    for layer in net.layers:
        if isinstance(layer, Dense):
            flops.append(2 * width * layer.units + layer.units + (layer.activation != "identity") * layer.units)
            width = layer.units
        else:
            flops.append(width)
    return flops


# --------------------------------------------------------------------- info
def _info(args):
    import numba
    import numpy

    import jitprop
    from jitprop.kernels._numba.cache import cache_directory

    # Run the kernels once so that Numba starts, and reports, its threading layer.
    seconds = warm_kernels("float32")
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = "none started"
    package = os.path.dirname(jitprop.__file__)
    cache = cache_directory() or "none writable"
    print(f"jitprop {jitprop.__version__} ({package})")
    print(f"numba {numba.__version__}, numpy {numpy.__version__}, python {platform.python_version()}")
    print(
        f"threads: {numba.get_num_threads()} in use, at most {numba.config.NUMBA_NUM_THREADS} "
        f"(NUMBA_NUM_THREADS); threading layer: {layer}"
    )
    print(f"cpu: {platform.machine()}, {_cpu_name()}")
    print(f"compile cache: {cache} (kernels ready in {seconds:.2f} s)")
    return 0


def _cpu_name():
    try:
        from llvmlite import binding

        features = binding.get_host_cpu_features()
        wanted = ("sse4.2", "avx", "avx2", "fma", "avx512f", "neon", "sve")
        shown = ", ".join(name for name in wanted if features.get(name))
        return f"{binding.get_host_cpu_name()} ({shown or 'no vector extensions found'})"
    except Exception:  # llvmlite always ships with numba, but be robust
        import numba

        return numba.config.CPU_NAME or "unknown"
