"""Arguments by reference (jitprop/kernels/_numba/references.py): a kernel reads its caller's values."""

import numpy as np
import pytest
from numba import njit, typeof

from jitprop.kernels._numba.linking import call_entry, entry, type_key
from jitprop.kernels._numba.references import Reference, dereference, reference, reference_type
from jitprop.kernels.layout import Data


@njit
def _scaled_through_reference(shared, factor):
    data, flag, count = dereference(shared)
    for i in range(data.inputs.shape[0]):
        for j in range(data.inputs.shape[1]):
            data.inputs[i, j] *= factor
    return data.labels.sum() + (100 if flag else 0) + count


@njit
def _call_by_reference(kernel, data, flag, count, factors):
    shared = reference((data, flag, count))  # (made once: every call below reads the same copy)
    total = 0
    for factor in factors:
        total += call_entry(kernel, (shared, factor), 0)
    return total


def test_a_kernel_reads_and_writes_its_callers_buffers_through_a_reference(rng):
    inputs = rng.random((4, 3))
    data = Data(inputs.copy(), np.zeros((0, 3)), np.arange(4), np.zeros(0))
    kernel = entry(_scaled_through_reference, Reference((data, True, 7)), 2.0)
    assert _call_by_reference(kernel, data, True, 7, np.array([2.0, 3.0])) == 2 * (6 + 100 + 7)
    np.testing.assert_array_equal(data.inputs, 6 * inputs)  # (the arrays are the caller's own, not copies)
    assert _call_by_reference(kernel, data, False, 1, np.array([0.5])) == 6 + 1
    np.testing.assert_array_equal(data.inputs, 3 * inputs)


def test_references_to_values_of_other_types_are_other_types():
    data = Data(np.zeros((2, 3)), np.zeros((0, 3)), np.arange(2), np.zeros(0))
    as_float32 = data._replace(inputs=np.zeros((2, 3), np.float32))
    assert typeof(Reference(data)) == reference_type(typeof(data))
    assert typeof(Reference(data)) != typeof(Reference(as_float32))
    assert type_key(Reference(data)) != type_key(Reference(as_float32))
    assert type_key(Reference(data)) == type_key(Reference(data._replace(labels=np.arange(5))))


def test_a_kernel_compiled_for_one_reference_refuses_another(rng):
    data = Data(rng.random((2, 3)), np.zeros((0, 3)), np.arange(2), np.zeros(0))
    kernel = entry(_scaled_through_reference, Reference((data, True, 7)), 2.0)
    as_float32 = data._replace(inputs=data.inputs.astype(np.float32))
    with pytest.raises(RuntimeError, match="other argument types"):
        _call_by_reference(kernel, as_float32, True, 7, np.array([2.0]))
