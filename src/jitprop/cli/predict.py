"""``jitprop predict``: a model's predictions for a data file, as CSV.

One row per example: the predicted label (classification) or value
(regression), and with ``--proba`` the probability of each class. Values
keep every digit of the network's dtype.
"""

import csv
import io
import sys

from ..errors import UsageError
from ._common import (
    check_one_output_row,
    check_writable,
    label_text,
    load_model,
    number_format,
    positive_int,
    model_inputs,
    read_for_model,
    unknown_category_option,
    using_threads,
)


def register(commands, common):
    """Add the ``predict`` command to the ``jitprop`` parser."""
    predict = commands.add_parser("predict", parents=[common], help="predict with a model")
    predict.add_argument("model", metavar="MODEL", help="a model file written by jitprop train")
    predict.add_argument("data", metavar="DATA", help="CSV, NPY or NPZ file with the model's feature columns")
    predict.add_argument("--out", metavar="FILE", help="CSV file to write (default: standard output)")
    predict.add_argument("--proba", action="store_true", help="add the probability of each class")
    unknown_category_option(predict)
    predict.add_argument("--threads", type=positive_int, metavar="N", help="Numba threads (default: all)")
    predict.set_defaults(run=run)


def run(args):
    """Run ``jitprop predict`` with parsed ``args``; returns the exit status."""
    from ..io._atomic import write_atomically

    with using_threads(args.threads):
        if args.out is not None:
            check_writable(args.out, "--out")
        net, pre, _ = load_model(args.model)
        check_one_output_row(net, args.model, "predict")
        if args.proba and pre.task != "classification":
            raise UsageError("--proba needs a classification model; this model does regression.")
        table = read_for_model(args.data, pre)
        outputs = net.predict(model_inputs(pre, table, net.dtype, args.unknown_category, "predict", net.input_shape))
    predictions = pre.predictions(outputs)
    fmt = number_format(net.dtype)
    header = ["prediction"]
    if pre.task == "classification":
        columns = [[label_text(label) for label in predictions]]
    else:
        columns = [[fmt % value for value in predictions]]
    if args.proba:
        header += [f"proba_{label_text(label)}" for label in pre.classes]
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
