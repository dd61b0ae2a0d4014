"""Bit-exactness: Numba equals the int64 reference, and C equals Numba, on every drawn case.

Cases cover shapes, zero points, per-tensor and per-channel requantization
with extreme multipliers and shifts, strides, dilations, valid/same/explicit
asymmetric padding, groups, depth multipliers, clamps and biases up to the
accumulator bound; every input holds -128 and 127, every filter -127 and 127.
"""

import numpy as np
from hypothesis import given

from microflat.testing.layer_cases import conv2d_cases, depthwise_cases, fully_connected_cases
from microflat.testing.layer_references import conv2d_reference, depthwise_reference, fully_connected_reference
from microflat.kernels import conv2d, depthwise_conv2d, fully_connected


def _check(op, reference, case):
    expected = reference(case)
    got_numba = op(case.x, case.w, case.bias, backend="numba", **case.kwargs)
    assert got_numba.shape == expected.shape
    np.testing.assert_array_equal(got_numba, expected)
    got_c = op(case.x, case.w, case.bias, backend="c", **case.kwargs)
    np.testing.assert_array_equal(got_c, got_numba)


@given(case=conv2d_cases())
def test_conv2d_numba_equals_reference_and_c_equals_numba(case):
    _check(conv2d, conv2d_reference, case)


@given(case=depthwise_cases())
def test_depthwise_conv2d_numba_equals_reference_and_c_equals_numba(case):
    _check(depthwise_conv2d, depthwise_reference, case)


@given(case=fully_connected_cases())
def test_fully_connected_numba_equals_reference_and_c_equals_numba(case):
    _check(fully_connected, fully_connected_reference, case)
