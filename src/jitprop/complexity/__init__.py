"""What training by back-propagation costs: a model to compute it, an experiment to measure it.

The textbook answer, which this package lets you check on your machine: for
``w`` weights, ``m`` examples and ``e`` epochs, training costs O(w·m·e); the
backward pass costs the same order as the forward pass (``2 − w₁/w`` times
it for a dense network whose first layer holds ``w₁`` of the weights);
inference is the forward pass alone. A convolution applies each weight at
every output position ``P`` of an example: it costs O(w·P·m·e), and the
ratio becomes ``2 − u₁/u`` with ``u = Σ w·P`` (see :mod:`.model`).

>>> import jitprop as jp
>>> from jitprop import complexity
>>> net = jp.Network([jp.Dense(256, "relu"), jp.Dense(256, "relu"), jp.Dense(10, "softmax")],
...                  input_dim=784, loss="cross_entropy")
>>> cost = complexity.costs(net, batch_size=128)
>>> round(cost.backward_forward_ratio, 2)
1.25
>>> print(complexity.summary(net))                       # doctest: +SKIP
>>> results = complexity.measure(quick=True)             # doctest: +SKIP

* :mod:`~jitprop.complexity.model` counts parameters, FLOPs and memory.
* :mod:`~jitprop.complexity.experiment` measures the scaling sweeps (a
  convolutional one against output positions and a recurrent one against
  steps among them), the backward/forward ratio of dense, convolutional
  and recurrent networks, and inference against training.
* :mod:`~jitprop.complexity.report` prints and plots the results; the
  ``jitprop complexity`` command is :mod:`jitprop.cli.complexity`.

See docs/complexity.md for the figures measured on a 2-core machine and
where the claims stop holding.
"""

from .experiment import (
    CNNS,
    FULL,
    QUICK,
    RNNS,
    Plan,
    calibrate,
    cnn_network,
    measure,
    positions_network,
    rnn_network,
    steps_network,
)
from .fitting import PowerLawFit, fit_power_law
from .model import LayerCost, Memory, NetworkCost, costs, summary, summary_table, update_flops_per_parameter
from .report import format_results, plot

__all__ = [
    "CNNS",
    "FULL",
    "QUICK",
    "RNNS",
    "LayerCost",
    "Memory",
    "NetworkCost",
    "Plan",
    "PowerLawFit",
    "calibrate",
    "cnn_network",
    "costs",
    "fit_power_law",
    "format_results",
    "measure",
    "plot",
    "positions_network",
    "rnn_network",
    "steps_network",
    "summary",
    "summary_table",
    "update_flops_per_parameter",
]
