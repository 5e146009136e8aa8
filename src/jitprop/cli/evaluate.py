"""``jitprop evaluate``: a model's scores on labelled data.

Classification: loss and accuracy, precision and recall per class and the
confusion matrix. Regression: MSE, MAE and R², in the target's units.
"""

from ..errors import UsageError
from ._common import (
    check_one_output_row,
    check_writable,
    label_text,
    load_model,
    positive_int,
    model_inputs,
    read_for_model,
    unknown_category_option,
    using_threads,
    write_json,
)


def register(commands, common):
    """Add the ``evaluate`` command to the ``jitprop`` parser."""
    evaluate = commands.add_parser("evaluate", parents=[common], help="score a model on labelled data")
    evaluate.add_argument("model", metavar="MODEL", help="a model file written by jitprop train")
    evaluate.add_argument("data", metavar="DATA", help="CSV, NPY or NPZ file with features and the target")
    evaluate.add_argument("--target", metavar="COLUMN", help="default: the column the model was trained on")
    evaluate.add_argument("--metrics-json", metavar="FILE", help="write the scores as JSON")
    unknown_category_option(evaluate)
    evaluate.add_argument("--threads", type=positive_int, metavar="N", help="Numba threads (default: all)")
    evaluate.set_defaults(run=run)


def run(args):
    """Run ``jitprop evaluate`` with parsed ``args``; returns the exit status."""
    with using_threads(args.threads):
        return _evaluate(args)


def _evaluate(args):
    from .data_files import table_format
    from .metrics import confusion_matrix, precision_recall, regression_scores
    from .preprocessing import read_labels

    if args.metrics_json is not None:
        check_writable(args.metrics_json, "--metrics-json")
    net, pre, _ = load_model(args.model)
    check_one_output_row(net, args.model, "evaluate")
    target = args.target or pre.target
    if target is None:
        target = "y" if table_format(args.data) == "npz" else None
    if target is None:
        raise UsageError("the model does not name its target column; give it with --target COLUMN.")
    table = read_for_model(args.data, pre, target)
    labels = read_labels(table)
    X = model_inputs(pre, table, net.dtype, args.unknown_category, "evaluate", net.input_shape)
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
    names = [label_text(label) for label in classes]
    width = max(5, *(len(name) for name in names))
    rows = [f"{'class':<{width}}  precision  recall  support"]
    for name, p, r, s in zip(names, precision, recall, support):
        rows.append(f"{name:<{width}}  {p:9.4f}  {r:6.4f}  {s:7d}")
    return "\n".join(rows)


def _confusion_table(classes, confusion):
    names = [label_text(label) for label in classes]
    width = max(len(str(int(confusion.max()))), *(len(name) for name in names))
    first = max(len(name) for name in names)
    rows = [" " * first + "".join(f"  {name:>{width}}" for name in names)]
    for name, row in zip(names, confusion):
        rows.append(f"{name:<{first}}" + "".join(f"  {int(count):>{width}}" for count in row))
    return "\n".join(rows)
