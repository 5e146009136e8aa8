"""Inference: ``Network.predict`` throughput, and the latency of one example.

Networks of the shapes of W1, W2 and W3 (as trained in ``training``, but
untrained: prediction costs the same whatever the weights) predict on the
workload's examples in chunks of bounded memory, in parallel over tiles,
with every thread Numba has.
"""

import functools

from . import common


@functools.cache
def _predictor(workload, dtype):
    spec = common.WORKLOADS[workload]
    X, _ = common.workload_data(spec, dtype)
    net = common.workload_network(spec, dtype)
    net.predict(X[:8])  # compiles (or loads) the forward kernels
    return net, X


class Predict:
    """``Network.predict`` on the whole data set of a workload (W1 12,000, W2 1,797, W3 2,048 examples)."""

    params = (["W1", "W2", "W3"], common.DTYPES)
    param_names = ["workload", "dtype"]
    timeout = 180

    def setup(self, workload, dtype):
        self.net, self.X = _predictor(workload, dtype)

    def time_predict(self, workload, dtype):
        self.net.predict(self.X)

    def track_examples_per_second(self, workload, dtype):
        """Examples predicted per second: the median of repeated calls."""
        return common.throughput(lambda: self.net.predict(self.X), self.X.shape[0])

    track_examples_per_second.unit = "examples/s"


class PredictOne:
    """``Network.predict`` of one example, as a service answering one request at a time calls it."""

    params = (["W1", "W2"], common.DTYPES)
    param_names = ["workload", "dtype"]
    timeout = 180

    def setup(self, workload, dtype):
        self.net, X = _predictor(workload, dtype)
        self.one = X[:1].copy()
        self.net.predict(self.one)

    def time_predict_one(self, workload, dtype):
        self.net.predict(self.one)
