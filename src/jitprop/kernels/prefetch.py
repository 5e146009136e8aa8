"""Asking the processor to fetch the next batch's examples while this one runs.

Batches visit the examples in a shuffled order, so each batch starts by
reading rows from places in memory the processor cannot predict. On a small
network that wait is a large part of the batch (on the 2-2-2 network with
batches of one example, about a tenth of the time). Prefetching those rows
one batch ahead overlaps the wait with the current batch's work.
"""

from numba import njit

from ._numba.arrays import prefetch
from ._numba.options import INLINED_KERNEL

from .tuning import AHEAD_ROWS


@njit(**INLINED_KERNEL)
def prefetch_examples(data, order, start, stop):
    """Prefetch the inputs and targets (or labels) of the first examples of ``order[start:stop]``."""
    for i in range(start, min(stop, start + AHEAD_ROWS)):
        example = order[i]
        prefetch(data.inputs, example)
        if data.targets.shape[0] > 0:
            prefetch(data.targets, example)
        if data.labels.shape[0] > 0:
            prefetch(data.labels, example)
