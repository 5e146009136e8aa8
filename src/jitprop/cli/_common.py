"""What the commands share: option types, checks made before any work, model files, output.

Nothing here imports a command module, so every command can import this one.
"""

import argparse
import json
import os
import threading

import numpy as np

from .._threading import thread_count
from ..errors import UsageError


# ------------------------------------------------------------ option types
def widths(text):
    """``--hidden``: widths like ``128,64``, or ``none`` for no hidden layer."""
    if text.strip().lower() in ("", "none"):
        return []
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        values = [0]
    if any(width < 1 for width in values):
        raise argparse.ArgumentTypeError(f"expected widths like 128,64 (or 'none'), got {text!r}")
    return values


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def count(text):
    """An integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def non_negative_float(text):
    """A finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def column_list(text):
    """``--categorical``: column names like ``city,zip``, or ``none`` (None) for no categorical columns."""
    if text.strip().lower() == "none":
        return None
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected column names like city,zip (or 'none'), got {text!r}")
    return names


def impute_strategy(text):
    """``--impute``: ``(strategy, None)``, or ``("constant", VALUE)`` for ``constant:VALUE`` (a number)."""
    from ..preprocessing import STRATEGIES

    strategy, colon, value = text.partition(":")
    if strategy not in STRATEGIES or (strategy == "constant") != bool(colon):
        choices = ", ".join(s for s in STRATEGIES if s != "constant")
        raise argparse.ArgumentTypeError(f"expected {choices} or constant:VALUE, got {text!r}")
    if colon:
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not np.isfinite(number):
            raise argparse.ArgumentTypeError(f"constant:VALUE takes a finite number, got {value!r}")
        return strategy, value.strip()
    return strategy, None


def fraction(text):
    """A number in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


# ---------------------------------------------------------- checks and setup
def using_threads(threads):
    """Context in which Numba uses ``threads`` threads (``None``: as it is); a UsageError names the limit.

    The check comes when this is called, before the block does any work.
    """
    if threads is not None:
        import numba

        limit = numba.config.NUMBA_NUM_THREADS
        if threads > limit:
            raise UsageError(
                f"--threads {threads} is more than the {limit} threads Numba started with; "
                f"set the environment variable NUMBA_NUM_THREADS={threads} to allow more."
            )
    return thread_count(threads)


def check_writable(path, option):
    """A UsageError unless a file can be created at ``path`` (checked before any work)."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"{option} {path} is a directory; give a file name.")
    if not os.path.isdir(directory):
        raise UsageError(f"{option} {path}: the directory {directory} does not exist.")
    if not os.access(directory, os.W_OK):
        raise UsageError(f"{option} {path}: the directory {directory} is not writable.")


def warm_kernels(dtype, network=None, batch_size=32, optimizer=None, say=None):
    """Compile (or load from the cache) the kernels for ``network`` (or for ``dtype``); returns the seconds it took.

    If it takes more than a second (compiling, not loading), ``say`` is
    called with a line that tells what is happening.
    """
    from ..warmup import warmup

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


# ------------------------------------------------------------- model files
def load_model(path):
    """``(network, preprocessing, checkpoint)`` of a model file."""
    from ..io.model_file import load_checkpoint
    from .preprocessing import Preprocessing

    checkpoint = load_checkpoint(path)
    net = checkpoint.network
    extra = checkpoint.extra
    if isinstance(extra, dict) and "preprocessing" in extra:
        pre = Preprocessing.from_json(extra["preprocessing"], net, path)
    else:
        pre = Preprocessing.for_network(net)
    return net, pre, checkpoint


def check_one_output_row(net, path, command):
    """``UsageError`` unless ``net`` has one row of outputs per example, what ``command`` writes or scores.

    A network with outputs per step (a recurrent layer with
    ``return_sequences=True`` before the output layer) predicts
    ``(steps, k)`` per example; the commands take one target and write one
    prediction per example.
    """
    if len(net.output_shape) > 1:
        shape = ", ".join(map(str, net.output_shape))
        raise UsageError(
            f"{path} outputs ({shape}) per example (one row per step); jitprop {command} takes models with one "
            f"row of outputs per example: use Network.predict in Python for outputs per step."
        )


def read_for_model(path, pre, target=None):
    """The table of ``path`` with the model's feature columns, and ``target`` when given.

    Without ``target``, a column holding the target the model was trained on
    is left out of the features when the file still has it. Categorical
    columns are read as text and, for a model that imputes, missing values
    are let through.
    """
    from .data_files import read_table, table_columns, table_format

    kind = table_format(path)
    named = kind in ("csv", "parquet")
    features = pre.columns if (named and pre.named_features) else None
    options = {"missing": pre.imputer is not None}
    if named:
        options["categorical"] = list(pre.categories)
    if target is not None or pre.target is None or features is not None:
        return read_table(path, target, features=features, **options)
    if named and pre.target in table_columns(path):
        return read_table(path, pre.target, **options)
    table = read_table(path, **options)
    if kind == "npy" and table.X.shape[1] == len(pre.features) + 1 and _is_index(pre.target):
        table = read_table(path, pre.target, **options)
    return table


def unknown_category_option(parser):
    """Add ``--unknown-category`` to the ``predict`` or ``evaluate`` parser."""
    parser.add_argument(
        "--unknown-category",
        choices=("error", "ignore"),
        default="error",
        help="a category of a categorical column not seen in training: stop with the row and value (default), "
        "or encode it as all zeros with a warning",
    )


def model_inputs(pre, table, dtype, unknown, command, input_shape=None):
    """The network inputs of ``table``, each example of ``input_shape`` (flat by default); under
    ``unknown="ignore"``, a warning on standard error for unseen categories."""
    import sys

    inputs = pre.inputs(table, dtype, unknown)
    if input_shape is not None and len(input_shape) > 1:
        inputs = inputs.reshape(-1, *input_shape)
    if unknown == "ignore":
        line = pre.unknown_categories(table)
        if line is not None:
            print(f"jitprop {command}: warning: {line}", file=sys.stderr)
    return inputs


def _is_index(name):
    try:
        int(name)
    except (TypeError, ValueError):
        return False
    return True


# ------------------------------------------------------------------ output
def write_json(path, document):
    """Write ``document`` to ``path`` as indented JSON, atomically."""
    from ..io._atomic import write_atomically

    write_atomically(path, (json.dumps(document, indent=1, allow_nan=False) + "\n").encode())


def number_format(dtype):
    """printf format that keeps every digit of a value of the network's dtype."""
    return "%.9g" if str(dtype) == "float32" else "%.17g"


def label_text(label):
    """A class label as printed: text as it is, numbers as Python writes them."""
    return label if isinstance(label, str) else repr(label)
