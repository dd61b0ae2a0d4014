"""Bit-exactness: Numba equals the int64 reference, and C equals Numba, on every drawn case.

Cases cover shapes, zero points, per-tensor and per-channel requantization
with extreme multipliers and shifts, strides, dilations, valid/same/explicit
asymmetric padding, groups, depth multipliers, clamps and biases up to the
accumulator bound; every input holds -128 and 127, every filter -127 and 127.
"""

import numpy as np
from hypothesis import given

import int_reference as ref
from layer_cases import conv2d_cases, depthwise_cases, fully_connected_cases
from microflat.kernels import conv2d, depthwise_conv2d, fully_connected


def _requantized(acc, case, channels):
    kw = case.kwargs
    if case.bias is not None:
        acc = acc + case.bias.astype(np.int64)
    mult = ref.per_channel(kw["output_mult"], channels)
    shift = ref.per_channel(kw["output_shift"], channels)
    out = ref.requantize(acc, mult, shift, kw["output_zp"], kw["act_min"], kw["act_max"])
    return out.astype(np.int8)


def _centered(x, zp):
    return x.astype(np.int64) - zp


def conv2d_reference(case):
    gh, gw = case.geometry["h"], case.geometry["w"]
    acc = ref.conv2d_accumulators(
        _centered(case.x, case.kwargs["input_zp"]), case.w.astype(np.int64),
        (gh["stride"], gw["stride"]), (gh["dilation"], gw["dilation"]),
        gh["before"], gw["before"], gh["out"], gw["out"], case.kwargs["groups"],
    )
    return _requantized(acc, case, case.w.shape[0])


def depthwise_reference(case):
    gh, gw = case.geometry["h"], case.geometry["w"]
    acc = ref.depthwise_accumulators(
        _centered(case.x, case.kwargs["input_zp"]), case.w.astype(np.int64), case.geometry["multiplier"],
        (gh["stride"], gw["stride"]), (gh["dilation"], gw["dilation"]),
        gh["before"], gw["before"], gh["out"], gw["out"],
    )
    return _requantized(acc, case, case.w.shape[3])


def fully_connected_reference(case):
    acc = _centered(case.x, case.kwargs["input_zp"]) @ case.w.astype(np.int64).T
    return _requantized(acc, case, case.w.shape[0])


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
