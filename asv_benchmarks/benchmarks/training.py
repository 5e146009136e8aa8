"""Training: one epoch of each workload of ``jitprop bench`` through ``Network.fit``.

W1 MNIST-shaped 784-256-128-10 (12,000 examples), W2 digits 64-32-10 (1,797),
W3 wide 1024-1024-1024-10 (2,048), W4 textbook 2-2-2 sigmoid at batch 1 and
batch 64 (100,000 each), with plain SGD; see ``common.WORKLOADS``. Every
combination of Numba threads (1, 2) and precision is timed. The CNNs W5
(LeNet-5-like on 28x28x1, 1,024 examples) and W6 (conv 16@3x3 on the digits
as 8x8x1 images) are timed in float32 on 1 and 2 threads, and so are the
recurrent W7 (LSTM(64), 50 steps of 16 features, 512 sequences) and W8
(GRU(128), 100 steps of 32 features, 256 sequences). ``setup`` trains
on the first two batches first, which compiles (or loads) the kernels; the
timed epochs then continue training the same network.
"""

from . import common


class TrainEpoch:
    """Seconds for one epoch of mini-batch SGD (``Network.fit(epochs=1)``)."""

    params = (common.DENSE_WORKLOADS, common.THREADS, common.DTYPES)
    param_names = ["workload", "threads", "dtype"]
    timeout = 300
    # An epoch takes up to about a second: a few samples per round are enough.
    repeat = (1, 5, 10.0)

    def setup(self, workload, threads, dtype):
        common.set_threads(threads)
        self.task = common.training(workload, dtype)

    def time_epoch(self, workload, threads, dtype):
        self.task.fit()


class TrainCNNEpoch:
    """Seconds for one epoch of mini-batch SGD of a convolutional (W5, W6) or recurrent (W7, W8) network, float32."""

    params = (common.CNN_WORKLOADS + common.RNN_WORKLOADS, common.THREADS)
    param_names = ["workload", "threads"]
    timeout = 300
    repeat = (1, 5, 10.0)

    def setup(self, workload, threads):
        common.set_threads(threads)
        self.task = common.training(workload, "float32")

    def time_epoch(self, workload, threads):
        self.task.fit()
