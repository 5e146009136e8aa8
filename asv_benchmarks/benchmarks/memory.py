"""Memory: peak resident memory of a process that trains W1.

asv's ``peakmem_`` reports the largest resident set of the benchmark
process: Python, numpy, Numba and its compiled kernels, the data (60,000 x
784 float32, 188 MB, as ``jitprop bench`` trains it) and whatever ``fit``
allocates. ``fit`` reads a C-contiguous float32 array in place, so a copy of
the data would show as a step of 188 MB.
"""

from . import common


class FitMemory:
    """Peak memory of one epoch of W1 (784-256-128-10, 60,000 examples, float32, batch 128)."""

    timeout = 300

    def setup(self):
        self.task = common.Training(common.WORKLOADS["W1"], "float32", n=60_000)
        self.task.warm_up()

    def peakmem_fit_w1(self):
        self.task.fit()
