"""jitprop: train feed-forward neural networks by back-propagation, fast, on a CPU.

The hot loops — matrix products, activations, gradient accumulation and
parameter updates — are compiled with Numba and run in parallel over the
examples of a mini-batch; results are bitwise the same whatever the number
of threads.

>>> import jitprop as jp
>>> net = jp.Network([jp.Dense(32, "relu"), jp.Dense(10, "softmax")],
...                  input_dim=64, loss="cross_entropy", seed=0)
"""

# First, before anything imports Numba: an unsupported Numba or llvmlite is an ImportError naming the fix.
from .kernels import _numba  # noqa: F401, I001

import importlib

# Functions named as the modules that define them: imported now, or the
# import of their module (by jitprop itself, on first use of another name)
# would bind the module to the name. Both modules import only NumPy.
from .gradcheck import gradcheck as gradcheck
from .warmup import warmup as warmup

#: Where each public name lives. They load on first use (PEP 562), so that
#: ``import jitprop`` imports little more than NumPy, and a
#: process that needs only the kernels (a second process compiling some of
#: them, see kernels/_numba/background.py) does not import the rest.
_PUBLIC = {
    **dict.fromkeys(("callbacks", "schedules"), None),
    **dict.fromkeys(("DivergenceError", "ModelFileError", "RankError"), "errors"),
    **dict.fromkeys(("load", "save"), "io.model_file"),
    **dict.fromkeys(
        (
            "AvgPool1D",
            "AvgPool2D",
            "Bidirectional",
            "Conv1D",
            "Conv2D",
            "Dense",
            "Dropout",
            "Flatten",
            "GRU",
            "GlobalAvgPool1D",
            "GlobalAvgPool2D",
            "LSTM",
            "MaxPool1D",
            "MaxPool2D",
            "SimpleRNN",
        ),
        "layers",
    ),
    "LBFGS": "lbfgs",
    "Network": "network",
    **dict.fromkeys(("SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop"), "optimizers"),
    "History": "training",
    # (The estimators import scikit-learn, when installed, which takes a while.)
    **dict.fromkeys(("Classifier", "Regressor"), "estimators"),
}


def __getattr__(name):
    if name == "__version__":
        value = _version()
    elif name in _PUBLIC:
        module = _PUBLIC[name]
        value = importlib.import_module(f"{__name__}.{module or name}")
        if module is not None:
            value = getattr(value, name)
    else:
        # A submodule, as ``jitprop.network`` was when the package imported everything at once.
        try:
            value = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value  # (found once)
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__) | {"__version__"})


def _version():
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("jitprop")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0"


__all__ = sorted([*_PUBLIC, "gradcheck", "warmup"])
