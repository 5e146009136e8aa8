"""The ``jitprop`` command.

``jitprop train`` trains a network on the built-in digits data set and
reports how it did; ``jitprop info`` describes the installation.
"""

import argparse
import os
import platform
import sys
import time

import numpy as np


def main(argv=None):
    """Entry point of the ``jitprop`` console script; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.run(args)
    except (ValueError, TypeError, OSError) as exc:
        if getattr(args, "debug", False):
            raise
        print(f"jitprop {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"jitprop {args.command}: interrupted", file=sys.stderr)
        return 130


def _parser():
    parser = argparse.ArgumentParser(prog="jitprop", description="Train feed-forward neural networks on a CPU.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    commands = parser.add_subparsers(dest="command")

    train = commands.add_parser("train", help="train a network on the built-in digits data set")
    train.add_argument("--hidden", default="64", help="hidden layer widths, comma-separated (default 64)")
    train.add_argument("--activation", default="relu", help="hidden activation (default relu)")
    train.add_argument("--epochs", type=int, default=30)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--lr", type=float, default=0.1, help="learning rate of SGD (default 0.1)")
    train.add_argument("--momentum", type=float, default=0.9)
    train.add_argument("--val-split", type=float, default=0.2, help="held-out fraction (default 0.2)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    train.add_argument("--quiet", action="store_true", help="print only the summary")
    train.set_defaults(run=_train)

    info = commands.add_parser("info", help="versions, threads and compile cache of this installation")
    info.set_defaults(run=_info)
    return parser


def _train(args):
    import jitprop as jp
    from jitprop.datasets import load_digits
    from jitprop.splitting import stratified_split

    hidden = [int(width) for width in args.hidden.split(",") if width.strip()]
    X, y = load_digits()
    rng = np.random.default_rng(args.seed)
    train_rows, val_rows = stratified_split(y, args.val_split, rng)

    compile_seconds = jp.warmup([args.dtype])
    layers = [jp.Dense(width, args.activation) for width in hidden] + [jp.Dense(10, "softmax")]
    net = jp.Network(layers, input_dim=X.shape[1], loss="cross_entropy", dtype=args.dtype, seed=args.seed)
    if not args.quiet:
        print(f"digits: {len(train_rows)} training and {len(val_rows)} validation examples, 64 features, 10 classes")
        print(f"network: 64-{'-'.join(map(str, hidden))}-10, {net.n_params} parameters, {args.dtype}")
    started = time.perf_counter()
    net.fit(
        X[train_rows],
        y[train_rows],
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=jp.SGD(lr=args.lr, momentum=args.momentum),
        verbose=0 if args.quiet else 1,
    )
    seconds = time.perf_counter() - started
    train_metrics = net.evaluate(X[train_rows], y[train_rows])
    val_metrics = net.evaluate(X[val_rows], y[val_rows])
    trained = len(train_rows) * args.epochs
    print(
        f"train loss {train_metrics['loss']:.4f}  accuracy {train_metrics['accuracy']:.4f}\n"
        f"validation loss {val_metrics['loss']:.4f}  accuracy {val_metrics['accuracy']:.4f}\n"
        f"{args.epochs} epochs in {seconds:.2f} s ({trained / seconds:,.0f} examples/s); "
        f"compile or cache load {compile_seconds:.2f} s"
    )
    return 0


def _info(args):
    import numba
    import numpy

    import jitprop

    # Run one small parallel kernel so Numba reports the threading layer it chose.
    jitprop.warmup(["float32"])
    cache = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(os.path.dirname(jitprop.__file__), "kernels", "__pycache__")
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = "none started"
    print(f"jitprop {jitprop.__version__}")
    print(f"numba {numba.__version__}, numpy {numpy.__version__}, python {platform.python_version()}")
    print(f"threads: {numba.get_num_threads()} (NUMBA_NUM_THREADS to change), threading layer: {layer}")
    print(f"cpu: {platform.machine()}, {_cpu_name()}")
    print(f"compile cache: {cache}")
    return 0


def _cpu_name():
    import numba

    try:
        from llvmlite import binding

        return f"{binding.get_host_cpu_name()} ({', '.join(sorted(_cpu_features(binding)))})"
    except Exception:  # llvmlite always ships with numba, but be robust
        return numba.config.CPU_NAME or "unknown"


def _cpu_features(binding):
    wanted = ("avx", "avx2", "avx512f", "fma", "neon", "sse4.2")
    features = binding.get_host_cpu_features()
    return [name for name in wanted if features.get(name)]
