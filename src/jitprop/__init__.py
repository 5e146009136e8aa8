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

from importlib.metadata import PackageNotFoundError, version

from . import callbacks, schedules
from .errors import DivergenceError, ModelFileError, RankError
from .gradcheck import gradcheck
from .io.model_file import load, save
from .layers import (
    AvgPool1D,
    AvgPool2D,
    Bidirectional,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GRU,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    LSTM,
    MaxPool1D,
    MaxPool2D,
    SimpleRNN,
)
from .lbfgs import LBFGS
from .network import Network
from .optimizers import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop
from .training import History
from .warmup import warmup


def __getattr__(name):
    # The estimators import scikit-learn (when installed), which takes a while:
    # they load on first use, so ``import jitprop`` stays quick and never needs it.
    if name in ("Classifier", "Regressor"):
        from . import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


try:
    __version__ = version("jitprop")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = [
    "Adagrad",
    "Adam",
    "AdamW",
    "AvgPool1D",
    "AvgPool2D",
    "Bidirectional",
    "Classifier",
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
    "callbacks",
    "DivergenceError",
    "History",
    "LBFGS",
    "ModelFileError",
    "Network",
    "Optimizer",
    "RankError",
    "RMSprop",
    "Regressor",
    "SGD",
    "gradcheck",
    "load",
    "save",
    "schedules",
    "warmup",
]
