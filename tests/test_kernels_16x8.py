"""16x8 layers (int16 activations, int8 weights, int64 bias: TFLite's 16x8 mode), bit for bit: Numba equals the
int64 reference, and C equals Numba, on every drawn case.

The cases are layer_cases.py's int8 geometries (strides, dilations, padding, groups, depth multipliers) with int16
inputs holding -32768 and 32767, zero points 0, per-tensor and per-channel multipliers around the Q15 reduction's
edges (2^15, 0x7FFF0000), shifts over all of [-31, 7] and int64 biases up to the accumulator bound
2^15 * sum|w| + |bias| <= 2^47 - 1.
"""

import numpy as np
import pytest
from hypothesis import given

from microflat.testing.layer_cases import conv2d_cases_16x8, depthwise_cases_16x8, fully_connected_cases_16x8
from microflat.testing.layer_references import conv2d_reference, depthwise_reference, fully_connected_reference
from microflat.kernels import conv2d, depthwise_conv2d, fully_connected


def _check(op, reference, case):
    expected = reference(case)
    got_numba = op(case.x, case.w, case.bias, backend="numba", **case.kwargs)
    assert got_numba.dtype == np.int16 and got_numba.shape == expected.shape
    np.testing.assert_array_equal(got_numba, expected)
    got_c = op(case.x, case.w, case.bias, backend="c", **case.kwargs)
    np.testing.assert_array_equal(got_c, got_numba)


@given(case=conv2d_cases_16x8())
def test_conv2d_16x8_numba_equals_reference_and_c_equals_numba(case):
    _check(conv2d, conv2d_reference, case)


@given(case=depthwise_cases_16x8())
def test_depthwise_conv2d_16x8_numba_equals_reference_and_c_equals_numba(case):
    _check(depthwise_conv2d, depthwise_reference, case)


@given(case=fully_connected_cases_16x8())
def test_fully_connected_16x8_numba_equals_reference_and_c_equals_numba(case):
    _check(fully_connected, fully_connected_reference, case)


def _fc(**changes):
    args = dict(input=np.zeros((1, 4), np.int16), filter=np.ones((2, 4), np.int8), bias=None, input_zp=0,
                output_zp=0, output_mult=2**30, output_shift=-1)
    args.update(changes)
    return fully_connected(args.pop("input"), args.pop("filter"), args.pop("bias"), **args)


@pytest.mark.parametrize("changes, message", [
    (dict(input_zp=3), "input_zp must be in [0, 0]"),
    (dict(output_shift=8), "output_shift must be in [-31, 7]"),
    (dict(bias=np.zeros(2, np.int32)), "bias must have dtype int64"),
    (dict(act_min=-40000), "act_min must be in [-32768, 32767]"),
    (dict(bias=np.array([2**47 - 4 * 2**15, 0], np.int64)), "int64 accumulator of output channel 0 could reach"),
    (dict(filter=np.full((2, 4), -128, np.int8)), "holds -128"),
])
def test_16x8_wrapper_refuses_what_the_kernels_cannot_take(changes, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _fc(**changes)
