"""``jitprop train``: read the data, hold out a validation part, train, report, save.

The steps, in order: check the options and output paths (before any work),
read the data (:mod:`.data_files`), decide the task, split off a
stratified validation part, fit the preprocessing on the training part
(:mod:`.preprocessing`), compile the kernels (timed on its own),
train with a progress bar, then print the summary and write the model, the
metrics and the plot — each file atomically, and only once training is
over, so Ctrl-C never leaves a half-written one.

Under ``mpiexec -n P`` (with mpi4py installed: ``pip install 'jitprop[mpi]'``)
the P ranks train one network together (``fit(comm=MPI.COMM_WORLD)``, see
:mod:`jitprop.distributed`); each rank reads its share of an NPY or NPZ
file's rows (:mod:`.shards`; other files are read whole on every rank), rank
0 alone prints, checkpoints and writes the model, metrics and plot.
"""

import argparse
import importlib.util
import inspect
import io
import math
import os
import sys
import time
from dataclasses import dataclass

import numba
import numpy as np

from .. import optimizers
from ..activations import ACTIVATIONS
from ..callbacks import Callback, EarlyStopping, ModelCheckpoint
from ..errors import DataError, Interrupted, UsageError
from ..io._atomic import write_atomically
from ..losses import LOSSES
from ._common import (
    check_writable,
    column_list,
    count,
    fraction,
    impute_strategy,
    non_negative_float,
    positive_float,
    positive_int,
    using_threads,
    warm_kernels,
    widths,
    write_json,
)
from .budget import L2, Budget, choose_budget
from .data_files import Table, check_features, read_table, table_format
from .layer_spec import build_layers, describe_layers, parse_input_shape, parse_layers
from .preprocessing import MAX_CATEGORIES, Preprocessing, infer_task, read_labels
from .shards import Shards, shardable

#: ``--optimizer`` name → the arguments the command sets where they differ from the optimizer's defaults.
OPTIMIZER_DEFAULTS = {"sgd": {"momentum": 0.9}}
#: The optimizers ``--momentum`` applies to: those that take a momentum.
WITH_MOMENTUM = tuple(
    name for name, cls in optimizers.BY_NAME.items() if "momentum" in inspect.signature(cls).parameters
)

#: Credit line of the built-in data set (see :mod:`jitprop.io.datasets`).
DIGITS_CREDIT = (
    "the UCI Optical Recognition of Handwritten Digits data set, E. Alpaydin and C. Kaynak (1998), CC BY 4.0"
)


def register(commands, common):
    """Add the ``train`` command to the ``jitprop`` parser."""
    train = commands.add_parser(
        "train",
        parents=[common],
        help="train a network (on the built-in digits without DATA)",
        description="Train a network on DATA (CSV with a header row, NPY or NPZ), or on the built-in "
        "UCI handwritten digits when DATA is left out, and save it with what predict needs.",
    )
    train.add_argument("data", nargs="?", metavar="DATA", help="CSV, NPY or NPZ file (default: built-in digits)")
    train.add_argument("--target", metavar="COLUMN", help="column to predict (NPY: index; NPZ: array, default 'y')")
    table = train.add_argument_group("table")
    table.add_argument(
        "--categorical",
        type=column_list,
        default=[],
        metavar="COLUMNS",
        help="CSV feature columns to one-hot encode besides those holding text, e.g. integer codes "
        "(default: the text columns; 'none' refuses text in feature columns)",
    )
    table.add_argument(
        "--max-categories",
        type=positive_int,
        default=MAX_CATEGORIES,
        metavar="N",
        help=f"most distinct values of a categorical column (default {MAX_CATEGORIES})",
    )
    table.add_argument(
        "--impute",
        type=impute_strategy,
        metavar="STRATEGY",
        help="fill missing values with the mean, median, most_frequent value of the training part, or "
        "constant:VALUE (default: refuse them)",
    )
    model = train.add_argument_group("network")
    model.add_argument("--hidden", type=widths, metavar="WIDTHS", help="hidden dense widths (default 64)")
    model.add_argument(
        "--layers",
        type=parse_layers,
        metavar="SPEC",
        help="hidden layers of any kind instead of --hidden, e.g. conv2d:16:3:same,maxpool2d:2,flatten,dense:64 "
        "(see docs/cli.md)",
    )
    model.add_argument(
        "--input-shape",
        type=parse_input_shape,
        metavar="SHAPE",
        help="shape of one example, e.g. 8,8,1 for the digits as images (default: an NPZ array's, else flat)",
    )
    hidden = [name for name, spec in ACTIVATIONS.items() if spec.hidden]
    model.add_argument(
        "--activation",
        default="relu",
        choices=hidden,
        metavar="NAME",
        help="hidden activation: %(choices)s (default relu)",
    )
    model.add_argument("--task", choices=("classification", "regression"), help="default: inferred from the target")
    model.add_argument(
        "--loss",
        choices=sorted(LOSSES, key=lambda name: not LOSSES[name].classification),  # classification's first
        help="default cross_entropy (classification) or mse (regression)",
    )
    model.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    model.add_argument(
        "--standardize",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="scale each feature to mean 0 and deviation 1 over the training part (default: on)",
    )
    model.add_argument(
        "--l2",
        type=non_negative_float,
        metavar="LAMBDA",
        help=f"L2 penalty on the weights (default: {L2:g} without --epochs, else 0)",
    )
    fit = train.add_argument_group("training")
    fit.add_argument("--optimizer", default="adam", choices=sorted(optimizers.BY_NAME), help="default adam")
    fit.add_argument("--lr", type=positive_float, help="learning rate (default: the optimizer's, adam 0.001)")
    fit.add_argument("--momentum", type=fraction, help="momentum of sgd (default 0.9) or rmsprop (default 0)")
    fit.add_argument(
        "--epochs",
        type=positive_int,
        metavar="N",
        help="train N epochs (default: enough for about 20,000 updates, stopping early on the validation loss)",
    )
    fit.add_argument("--batch-size", type=positive_int, default=32, metavar="N", help="default 32")
    fit.add_argument(
        "--val-split", type=fraction, default=0.2, metavar="FRACTION", help="held out for validation (default 0.2)"
    )
    fit.add_argument(
        "--early-stopping",
        type=count,
        metavar="PATIENCE",
        help="stop after PATIENCE bad epochs (default: off with --epochs, else a tenth of the epochs, 10 to 100)",
    )
    fit.add_argument("--seed", type=int, default=0, help="seeds weights, split and shuffling (default 0)")
    fit.add_argument("--threads", type=positive_int, metavar="N", help="Numba threads (default: all)")
    fit.add_argument(
        "--combine",
        choices=("tiles", "allreduce"),
        default="tiles",
        help="under mpiexec: gather every tile's gradient and sum them as one process would (the same weights, "
        "bit for bit; default), or add the ranks' sums (less traffic)",
    )
    out = train.add_argument_group("output")
    out.add_argument("--out", default="model.safetensors", metavar="MODEL", help="default model.safetensors")
    out.add_argument("--checkpoint-every", type=positive_int, metavar="N", help="checkpoint every N epochs")
    out.add_argument("--resume", metavar="CHECKPOINT", help="continue an interrupted run from its checkpoint")
    out.add_argument("--metrics-json", metavar="FILE", help="write final metrics and per-epoch history")
    out.add_argument("--plot", metavar="FILE.png", help="plot loss and accuracy curves (needs matplotlib)")
    out.add_argument("--quiet", action="store_true", help="print the summary only, no progress")
    train.set_defaults(run=run)


@dataclass
class _TrainingSetup:
    """Everything training needs, decided from the options and the data before it starts."""

    table: Table
    source: str
    task: str
    reason: str
    pre: Preprocessing
    labels: np.ndarray
    train: tuple  # (X, y, rows); rows is None for every example
    val: tuple | None
    net: object
    optimizer: object
    extra: dict
    budget: Budget
    shards: Shards | None = None  # under mpiexec, when the data file is read by shards


def run(args):
    """Run ``jitprop train`` with parsed ``args``; returns the exit status."""
    _check_options(args)
    with using_threads(args.threads):
        return _train(args)


def _train(args):
    import jitprop as jp

    comm = communicator()
    root = comm is None or comm.Get_rank() == 0
    ranks = 1 if comm is None else comm.Get_size()
    quiet = args.quiet or not root
    say = (lambda *lines: None) if quiet else (lambda *lines: print(*lines, sep="\n", flush=True))
    setup = _prepare(args, comm)
    say(*_description(setup, args))
    compile_seconds = warm_kernels(args.dtype, setup.net, args.batch_size, setup.optimizer, say)
    say(f"kernels: ready in {compile_seconds:.2f} s (compiled on first use, then loaded from the cache)")

    history, seconds, stopper = _fit(setup, args, comm, quiet)
    if setup.shards is not None:  # (every rank scores a share of the training part)
        _, y, rows = setup.train
        trained = setup.shards.scores(setup.net, setup.pre, setup.task, setup.labels, y, rows, setup.net.input_shape)
    if not root:
        return 0
    units = _TargetUnits(setup.pre)
    results = {"train": trained if setup.shards is not None else _scores(setup, *setup.train)}
    if setup.val is not None:
        results["validation"] = _scores(setup, *setup.val)
    examples_per_second = len(setup.train[1]) * len(history.epochs) / seconds if seconds > 0 else float("inf")
    print(_results_table(results))
    print(
        f"{len(history.epochs)} epochs in {seconds:.2f} s, {examples_per_second:,.0f} examples/s; "
        f"kernel compile or cache load {compile_seconds:.2f} s, not included"
    )
    print(_why_stopped(setup, history, stopper))
    if comm is not None:
        print(f"trained on {ranks} MPI ranks (gradients combined per batch: --combine {args.combine})")

    jp.save(setup.net, args.out, extra=setup.extra)
    print(f"model written to {args.out}")
    if args.metrics_json is not None:
        document = {
            "task": setup.task,
            "loss_function": setup.net.loss,
            "epochs": len(history.epochs),
            **{f"train_{key}": value for key, value in results["train"].items()},
            **{f"val_{key}": value for key, value in results.get("validation", {}).items()},
            "seconds": seconds,
            "examples_per_second": examples_per_second,
            "compile_seconds": compile_seconds,
            "ranks": ranks,
            "max_epochs": setup.budget.epochs,
            "stopped_early": stopper is not None and stopper.stopped_epoch is not None,
            "best_epoch": None if stopper is None or stopper.best_epoch is None else stopper.best_epoch + 1,
            "history": units.history(history),
        }
        write_json(args.metrics_json, document)
        say(f"metrics written to {args.metrics_json}")
    if args.plot is not None:
        _plot(args.plot, units.history(history), setup.task)
        say(f"plot written to {args.plot}")
    return 0


def _prepare(args, comm=None):
    """Read the data, decide the task, split, fit the preprocessing and build the network.

    Under mpiexec (``comm``), an NPY or NPZ file is read by shards where it
    can be (:mod:`.shards`): the training inputs are then a
    :class:`~jitprop.distributed.Rows` and only rank 0 holds the
    validation inputs (the others a placeholder of their shape).
    """
    import jitprop as jp

    if args.layers is not None and args.hidden is not None:
        raise UsageError("give the hidden layers by --hidden or by --layers, not both.")
    if args.layers is None and args.hidden is None:
        args.hidden = [64]
    table, source = _read_data(args, check_finite=comm is None)
    shards = None
    if comm is not None and table_format(table.path) in ("npy", "npz"):
        if shardable(table, args.impute):
            shards = Shards(comm, table)
            table = shards.checked(args.impute is not None)
        else:
            check_features(table, args.impute is not None)
    labels = read_labels(table)
    if args.task is None:
        task, reason = infer_task(labels, table.target_label)
        reason = f"inferred: {reason}; --task to change"
    else:
        task, reason = args.task, "--task"
    train_rows, val_rows = _split(table, labels, task, args.val_split, args.seed)
    statistics = None if shards is None else shards.column_statistics
    pre = Preprocessing.fit(
        table, labels, task, args.standardize, train_rows, args.impute, args.max_categories, statistics
    )
    loss = _loss(args.loss, task, pre)
    y = pre.targets(table, labels)
    if loss == "binary_cross_entropy":
        y = y.astype(args.dtype)
    if shards is None:
        X = pre.inputs(table, args.dtype)
        train = (X, y, None) if train_rows is None else (X[train_rows], y[train_rows], train_rows)
        val = None if val_rows is None else (X[val_rows], y[val_rows], val_rows)
    else:
        train = (shards.rows(pre, train_rows, args.dtype), y if train_rows is None else y[train_rows], train_rows)
        val = None
        if val_rows is not None:
            if comm.Get_rank() == 0:  # (rank 0 validates; the others' placeholder is never read)
                X_val = shards.inputs(pre, val_rows, args.dtype)
            else:
                X_val = np.zeros((val_rows.shape[0], pre.n_inputs), dtype=args.dtype)
            val = (X_val, y[val_rows], val_rows)

    budget = choose_budget(args.epochs, args.early_stopping, args.l2, len(train[1]), args.batch_size, val is not None)
    n_outputs = pre.n_classes if loss == "cross_entropy" else 1
    shape = _example_shape(args, table, pre)
    layers = _hidden_layers(args) + [jp.Dense(n_outputs, _output(loss))]
    try:
        net = jp.Network(layers, loss=loss, dtype=args.dtype, seed=args.seed, l2=budget.l2, input_shape=shape)
    except ValueError as exc:
        hint = "; give the shape of an example with --input-shape (e.g. 8,8,1)" if len(shape) == 1 else ""
        raise UsageError(f"the network cannot be built: {str(exc).rstrip('.')}{hint}.") from None
    if len(net.output_shape) > 1:  # the output layer applies to every step
        raise UsageError(
            f"the network outputs ({', '.join(map(str, net.output_shape))}) per example, one row per step, but "
            f"the data has one target per example: end --layers with a layer that leaves one axis (a recurrent "
            f"layer without :seq, flatten or a global pool)."
        )
    if len(shape) > 1:  # the network takes examples of their own shape
        if shards is None:
            train = (train[0].reshape(-1, *shape), *train[1:])
        val = None if val is None else (val[0].reshape(-1, *shape), *val[1:])
    extra = {"preprocessing": pre.to_json(), "command": _options(args)}
    if args.resume is not None:
        _check_resume(args.resume, extra)
    optimizer = _optimizer(args)
    return _TrainingSetup(table, source, task, reason, pre, labels, train, val, net, optimizer, extra, budget, shards)


def _hidden_layers(args):
    """The hidden layers ``--hidden`` or ``--layers`` asks for (without either, :func:`_prepare` sets 64 units)."""
    import jitprop as jp

    if args.layers is not None:
        try:
            return build_layers(args.layers, args.activation)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    return [jp.Dense(width, args.activation) for width in args.hidden]


def _example_shape(args, table, pre):
    """The shape of one example: ``--input-shape``, else an NPZ array's own, else flat."""
    if args.input_shape is None:
        if table.example_shape is not None and pre.n_inputs == math.prod(table.example_shape):
            return table.example_shape
        return (pre.n_inputs,)
    if math.prod(args.input_shape) != pre.n_inputs:
        shape = ",".join(map(str, args.input_shape))
        raise UsageError(
            f"--input-shape {shape} holds {math.prod(args.input_shape)} values, but each example has "
            f"{pre.n_inputs} inputs."
        )
    return args.input_shape


def _output(loss):
    """The output layer's activation for ``loss``: the one it requires, else identity."""
    return LOSSES[loss].output_activation or "identity"


def _description(setup, args):
    """The lines printed before training."""
    net, pre, table = setup.net, setup.pre, setup.table
    classes = f" into {pre.n_classes} classes" if setup.task == "classification" else ""
    if setup.val is None:
        split = "no validation part"
    else:
        kind = "stratified" if setup.task == "classification" else "random"
        n_train, n_val = len(setup.train[1]), len(setup.val[1])
        split = f"{n_train:,} training and {n_val:,} validation examples ({kind}, seed {args.seed})"
    if args.layers is not None:  # layer by layer: only some take --activation
        shape = (
            f"{'x'.join(map(str, net.input_shape))} -> {describe_layers(args.layers, args.activation)} -> "
            f"dense:{net.layers[-1].units} {_output(net.loss)}"
        )
    else:
        shape = "-".join(str(w) for w in [net.input_dim, *args.hidden, net.n_outputs])
        shape += f", {args.activation}, {_output(net.loss)} output"
    scaled = ", standardised" if pre.standardized else ""
    credit = (f"      from {DIGITS_CREDIT}",) if setup.table.path == "digits" else ()
    return (
        f"data: {setup.source}: {table.n_examples:,} examples, {len(pre.features)} features{scaled}, "
        f"target {table.target_label}",
        *credit,
        *_table_lines(setup),
        f"task: {setup.task}{classes} ({setup.reason})",
        f"split: {split}",
        f"network: {shape}, {net.loss} loss, {net.n_params:,} parameters, {args.dtype}",
        f"optimizer: {_describe_optimizer(setup.optimizer)}; {setup.budget.describe()}, batch size {args.batch_size}, "
        f"{numba.get_num_threads()} threads",
    )


def _table_lines(setup):
    """The lines about categorical columns and missing values, when there are any."""
    pre, table, rows = setup.pre, setup.table, setup.train[2]
    lines = []
    if pre.categories:
        columns = ", ".join(f"{name} ({len(values)} categories)" for name, values in pre.categories.items())
        lines.append(f"categorical: {columns}: one-hot encoded, {pre.n_inputs} inputs in all")
    if pre.imputer is not None:
        X = table.X if rows is None else table.X[rows]
        missing = int(np.isnan(X).sum())
        missing += sum(
            int(np.count_nonzero((v if rows is None else v[rows]) == "")) for v in table.categorical.values()
        )
        strategy = pre.imputer.strategy
        how = f"constant {pre.imputer.fill_value:g}" if strategy == "constant" else f"{strategy} of the training part"
        lines.append(f"missing: {missing:,} values in the training part, imputed: {how}")
    return lines


def _fit(setup, args, comm=None, quiet=False):
    """Train (over the ranks of ``comm``, if given); returns ``(history, seconds, early stopper or None)``.

    Ctrl-C raises Interrupted.
    """
    budget = setup.budget
    bar = _ProgressBar(budget.epochs, enabled=not quiet, units=_TargetUnits(setup.pre))
    callbacks = [bar]
    stopper = checkpoint = None
    if budget.patience is not None:
        stopper = EarlyStopping("val_loss", patience=budget.patience, restore_best_weights=True)
        callbacks.append(stopper)
    if args.checkpoint_every is not None:
        checkpoint = ModelCheckpoint(checkpoint_path(args.out), every=args.checkpoint_every, extra=setup.extra)
        callbacks.append(checkpoint)
    started = time.perf_counter()
    try:
        history = setup.net.fit(
            setup.train[0],
            setup.train[1],
            epochs=budget.epochs,
            batch_size=args.batch_size,
            optimizer=setup.optimizer,
            verbose=0,
            validation_data=None if setup.val is None else setup.val[:2],
            callbacks=callbacks,
            resume_from=args.resume,
            **({} if comm is None else {"comm": comm, "combine": args.combine}),
        )
    except KeyboardInterrupt:
        if comm is not None and comm.Get_rank() != 0:
            raise  # (rank 0, which checkpoints, says what was saved)
        raise Interrupted(_interrupted(setup.net, args, budget.epochs, checkpoint)) from None
    except ArithmeticError as exc:  # DivergenceError
        hint = "" if setup.pre.standardized else " Standardising the features (--standardize) often helps."
        raise ArithmeticError(f"{exc}{hint}") from exc
    finally:
        bar.close()
    return history, time.perf_counter() - started, stopper


def _why_stopped(setup, history, stopper):
    """The line that says why training stopped, and which weights the model has."""
    budget, epochs = setup.budget, len(history.epochs)
    if stopper is not None and stopper.stopped_epoch is not None:
        return (
            f"stopped early: no better validation loss for {budget.patience} epochs after epoch "
            f"{stopper.best_epoch + 1}, whose weights were restored"
        )
    if budget.default:
        where = (
            f"stopped at the most epochs of the default budget, {budget.epochs:,} "
            f"(about {budget.updates:,} updates of {len(setup.train[1]):,} training examples)"
        )
    else:
        where = f"stopped after the {budget.epochs:,} epochs of --epochs"
    if stopper is not None and stopper.best_epoch is not None and stopper.best_epoch + 1 < epochs:
        return f"{where}; the weights of epoch {stopper.best_epoch + 1}, the best validation loss, were restored"
    return where


#: Variables the MPI launchers set to the number of ranks (MPICH and Intel MPI, Open MPI, PMIx).
_RANKS_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")


def communicator():
    """``MPI.COMM_WORLD`` when this process is one of several started by ``mpiexec``, else None.

    Raises
    ------
    UsageError
        Started as one of several ranks, without mpi4py to join them.
    """
    sizes = [int(os.environ[name]) for name in _RANKS_VARIABLES if os.environ.get(name, "").isdigit()]
    if not sizes or max(sizes) < 2:
        return None
    try:
        from mpi4py import MPI
    except ImportError:
        raise UsageError(
            f"jitprop train was started as one of {max(sizes)} MPI ranks, but mpi4py is not installed: "
            f"pip install 'jitprop[mpi]'."
        ) from None
    return MPI.COMM_WORLD if MPI.COMM_WORLD.Get_size() > 1 else None


def checkpoint_path(out):
    """Where ``--checkpoint-every`` writes, next to the model ``out``."""
    stem, extension = os.path.splitext(out)
    return f"{stem}.checkpoint{extension or '.safetensors'}"


# ------------------------------------------------------------------ options
def _check_options(args):
    """Every check that needs no data, so that a mistake costs no reading and no training."""
    if args.data is None and args.target is not None:
        raise UsageError("--target names a column of DATA; give the DATA file too.")
    if args.early_stopping is not None and args.val_split == 0:
        raise UsageError("--early-stopping watches the validation loss; it needs --val-split > 0.")
    if args.momentum is not None and args.optimizer not in WITH_MOMENTUM:
        raise UsageError(f"--momentum applies to {' and '.join(WITH_MOMENTUM)}, not {args.optimizer}.")
    if args.plot is not None and importlib.util.find_spec("matplotlib") is None:
        raise UsageError('--plot needs matplotlib; install it with: pip install "jitprop[plot]"')
    for option, path in (("--out", args.out), ("--metrics-json", args.metrics_json), ("--plot", args.plot)):
        if path is not None:
            check_writable(path, option)
    if args.resume is not None and not os.path.isfile(args.resume):
        raise UsageError(f"--resume {args.resume}: no such checkpoint file.")


def _options(args):
    """The options that shaped the model, stored with it for reference."""
    keys = (
        "categorical",
        "max_categories",
        "impute",
        "hidden",
        "layers",
        "input_shape",
        "activation",
        "loss",
        "task",
        "dtype",
        "standardize",
        "l2",
        "optimizer",
        "lr",
        "momentum",
        "epochs",
        "batch_size",
        "val_split",
        "early_stopping",
        "seed",
    )
    return {"data": None if args.data is None else os.path.basename(args.data), **{k: getattr(args, k) for k in keys}}


def _optimizer(args):
    kwargs = dict(OPTIMIZER_DEFAULTS.get(args.optimizer, {}))
    if args.lr is not None:
        kwargs["lr"] = args.lr
    if args.momentum is not None:
        kwargs["momentum"] = args.momentum
    return optimizers.BY_NAME[args.optimizer](**kwargs)


def _describe_optimizer(optimizer):
    config = optimizer.config()
    momentum = config.get("momentum")
    return f"{type(optimizer).__name__} lr {optimizer.lr:g}" + (f", momentum {momentum:g}" if momentum else "")


def _loss(loss, task, pre):
    if task == "regression":
        if loss is not None and LOSSES[loss].classification:
            raise UsageError(f"--loss {loss} is for classification; regression trains on mse or poisson.")
        return loss or "mse"
    if loss is not None and not LOSSES[loss].classification:
        raise UsageError(f"--loss {loss} is for regression; classification uses cross_entropy or binary_cross_entropy.")
    if loss == "binary_cross_entropy" and pre.n_classes != 2:
        raise UsageError(f"--loss binary_cross_entropy needs two classes; the target has {pre.n_classes}.")
    return loss or "cross_entropy"


def _check_resume(path, extra):
    from ..io.model_file import load_checkpoint

    saved = load_checkpoint(path).extra
    if not isinstance(saved, dict) or saved.get("preprocessing") != extra["preprocessing"]:
        raise UsageError(
            f"--resume {path}: the checkpoint was written for other data or preprocessing; "
            f"resume with the options and DATA of the interrupted run."
        )


# --------------------------------------------------------------------- data
def _read_data(args, check_finite=True):
    """``(table, description of the source)``; NPY and NPZ features unchecked without ``check_finite``."""
    if args.data is None:
        from ..io.datasets import load_digits

        X, y = load_digits()
        names = [str(j) for j in range(X.shape[1])]
        table = Table(
            path="digits",
            X=X,
            feature_names=names,
            named=False,
            y=y,
            target="digit",
            lines=None,
            feature_labels=[f"pixel {name}" for name in names],
            target_label="'digit'",
        )
        return table, "built-in digits"
    target = args.target
    if target is None:
        if table_format(args.data) != "npz":
            raise UsageError(f"--target is required: name the column of {args.data} to predict.")
        target = "y"
    if table_format(args.data) in ("npy", "npz") and args.categorical:
        raise UsageError("--categorical names columns of a CSV or Parquet file; NPY and NPZ features are numbers.")
    read = read_table(
        args.data,
        target,
        progress=not args.quiet,
        categorical=args.categorical or (),
        infer_categorical=args.categorical is not None,
        missing=args.impute is not None,
        check_finite=check_finite,
    )
    return read, args.data


def _split(table, labels, task, fraction, seed):
    """Training and validation rows (sorted), or (None, None) without validation."""
    if fraction == 0:
        return None, None
    from ..splitting import stratified_split

    rng = np.random.default_rng(seed)
    n = table.n_examples
    if task == "classification":
        train, val = stratified_split(labels, fraction, rng)
    else:
        held = int(round(fraction * n))
        order = rng.permutation(n)
        train, val = np.sort(order[held:]), np.sort(order[:held])
    if val.shape[0] == 0 or train.shape[0] == 0:
        raise DataError(
            f"--val-split {fraction:g} of {table.path}'s {n} examples leaves no "
            f"{'validation' if val.shape[0] == 0 else 'training'} examples; change --val-split (0 for none)."
        )
    return train, val


# ------------------------------------------------------------------ metrics
class _TargetUnits:
    """Regression losses in the target's units (training sees the target standardised)."""

    def __init__(self, pre):
        self.factor = pre.target_scale**2 if pre.task == "regression" else 1.0

    def logs(self, logs):
        return {k: v * self.factor if k in ("loss", "val_loss") else v for k, v in logs.items()}

    def history(self, history):
        rows = {"epoch": [epoch + 1 for epoch in history.epochs]}
        for key, values in history.history.items():
            rows[key] = [value * self.factor for value in values] if key in ("loss", "val_loss") else list(values)
        return rows


def _scores(setup, X, y, rows):
    """Final scores on a part: loss and accuracy, or (regression, in the target's units) MSE, MAE and R²."""
    if setup.task == "classification":
        return setup.net.evaluate(X, y)
    from .metrics import regression_scores

    true = setup.labels if rows is None else setup.labels[rows]
    scores = regression_scores(true.astype(np.float64), setup.pre.predictions(setup.net.predict(X)))
    return {"loss": scores["mse"], "mae": scores["mae"], "r2": scores["r2"]}


def _results_table(results):
    keys = list(next(iter(results.values())))
    names = {"loss": "loss (MSE)" if "mae" in keys else "loss", "accuracy": "accuracy", "mae": "MAE", "r2": "R²"}
    rows = [f"{'':<10}" + "".join(f"  {names[key]:>10}" for key in keys)]
    for part, scores in results.items():
        cells = (f"{scores[key]:.4f}" if "accuracy" in keys else f"{scores[key]:.4g}" for key in keys)
        rows.append(f"{part:<10}" + "".join(f"  {cell:>10}" for cell in cells))
    return "\n".join(rows)


# ---------------------------------------------------------------- callbacks
class _ProgressBar(Callback):
    """One bar over the epochs, showing the last epoch's metrics."""

    def __init__(self, epochs, enabled, units):
        self.epochs = epochs
        self.enabled = enabled
        self.units = units
        self.bar = None

    def on_train_begin(self, logs=None):
        from tqdm.auto import tqdm

        self.bar = tqdm(
            total=self.epochs,
            desc="training",
            unit="epoch",
            file=sys.stderr,
            disable=None if self.enabled else True,
            dynamic_ncols=True,
        )

    def on_epoch_end(self, epoch, logs=None):
        shown = self.units.logs(logs)
        keys = {"loss": "loss", "accuracy": "acc", "val_loss": "val_loss", "val_accuracy": "val_acc"}
        text = " ".join(
            f"{name} {shown[key]:.4f}" if "acc" in name else f"{name} {shown[key]:.4g}"
            for key, name in keys.items()
            if key in shown
        )
        self.bar.set_postfix_str(text, refresh=False)
        self.bar.update(epoch + 1 - self.bar.n)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _interrupted(net, args, epochs, checkpoint):
    """The line to print when Ctrl-C stops training."""
    where = f"interrupted after {net.epoch} of {epochs} epochs"
    if checkpoint is None:
        return f"{where}; nothing was saved ({args.out} was not written)."
    if checkpoint.last_path is None:
        return f"{where}, before the first checkpoint; nothing was saved ({args.out} was not written)."
    return (
        f"{where}; the last checkpoint, after epoch {checkpoint.last_epoch}, is {checkpoint.last_path} "
        f"(continue with the same command and --resume {checkpoint.last_path}); {args.out} was not written."
    )


# --------------------------------------------------------------------- plot
def _plot(path, history, task):
    from matplotlib.figure import Figure

    panels = ["loss"] + (["accuracy"] if "accuracy" in history else [])
    figure = Figure(figsize=(5 * len(panels), 3.6))
    epochs = history["epoch"]
    for i, key in enumerate(panels):
        axes = figure.add_subplot(1, len(panels), i + 1)
        axes.plot(epochs, history[key], label="train")
        if f"val_{key}" in history:
            axes.plot(epochs, history[f"val_{key}"], label="validation")
        axes.set_xlabel("epoch")
        axes.set_ylabel("loss (MSE)" if key == "loss" and task == "regression" else key)
        axes.grid(alpha=0.3)
        axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    write_atomically(path, buffer.getvalue())
