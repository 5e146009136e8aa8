"""jitprop: train feed-forward neural networks by back-propagation, fast, on a CPU.

The hot loops — matrix products, activations, gradient accumulation and
parameter updates — are compiled with Numba and run in parallel over the
examples of a mini-batch; results are bitwise the same whatever the number
of threads.

>>> import jitprop as jp
>>> net = jp.Network([jp.Dense(32, "relu"), jp.Dense(10, "softmax")],
...                  input_dim=64, loss="cross_entropy", seed=0)
"""

from importlib.metadata import PackageNotFoundError, version

from .errors import DivergenceError
from .gradcheck import gradcheck
from .layers import Dense
from .network import Network
from .optimizers import SGD, Optimizer
from .training import History
from .warmup import warmup

try:
    __version__ = version("jitprop")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = [
    "Dense",
    "DivergenceError",
    "History",
    "Network",
    "Optimizer",
    "SGD",
    "gradcheck",
    "warmup",
]
