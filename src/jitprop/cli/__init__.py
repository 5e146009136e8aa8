"""The ``jitprop`` command: train, predict, evaluate, summary, info, complexity, bench.

Each command is a module of this package with ``register(commands, common)``,
which adds its parser, and a ``run(args)`` the parser calls:

* :mod:`.train` — ``jitprop train``: read the data, split, preprocess, fit, save;
* :mod:`.predict` — ``jitprop predict``: a model's predictions for a data file, as CSV;
* :mod:`.evaluate` — ``jitprop evaluate``: scores, per-class table, confusion matrix;
* :mod:`.summary` — ``jitprop summary``: what a model file holds;
* :mod:`.info` — ``jitprop info``: versions, threads, CPU and compile cache;
* :mod:`.complexity` — ``jitprop complexity``: the cost model and its measurements;
* :mod:`.bench` — ``jitprop bench``: jitprop against PyTorch, scikit-learn and NumPy.

What commands share lives in :mod:`._common`; reading data files in
:mod:`.data_files`; the transformations a model stores with it in
:mod:`.preprocessing`; scores in :mod:`.metrics`.

``jitprop train`` with no arguments trains a network on the built-in digits
data set; ``jitprop train DATA --target COLUMN`` trains on a CSV, NPY or NPZ
file, and stores with the model everything ``predict`` and ``evaluate`` need
to treat new data the same way.

A mistake in the input — a missing file, a value that is not a number, a
model that does not fit the data — ends the command with one line on
standard error and exit status 2; ``--debug`` adds the traceback. Ctrl-C
ends it with status 130, leaving no half-written file.
"""

import argparse
import os
import sys
import traceback

from ..errors import Interrupted, ModelFileError
from . import bench, complexity, evaluate, info, predict, summary, train

#: The command modules, in the order ``jitprop --help`` lists them.
COMMANDS = (train, predict, evaluate, summary, info, complexity, bench)

#: Exit status of a command stopped by a mistake in its input or options.
EXIT_USAGE = 2

#: Exit status of a command stopped by Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130

_MESSAGE_ERRORS = (ValueError, TypeError, ArithmeticError, MemoryError)


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


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors, like every other error of the command, take one line."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    """The argument parser of ``jitprop`` and its commands."""
    from .. import __version__

    parser = _Parser(
        prog="jitprop",
        description="Train feed-forward neural networks on a CPU.",
        epilog="Run 'jitprop COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"jitprop {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    # Every command also takes --debug after its name.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands, common)
    return parser
