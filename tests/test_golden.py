"""Small hand-computed cases. Every expected number is derived in the comments, not copied from the code."""

import numpy as np
import pytest

from microflat.kernels import (
    conv2d,
    depthwise_conv2d,
    fully_connected,
    multiply_by_quantized_multiplier,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
)

BACKENDS = ["numba", "c"]


def test_fixed_point_helpers_by_hand():
    # round(a*b / 2^31): 2^30 * 2^30 / 2^31 = 2^29.
    assert saturating_rounding_doubling_high_mul(2**30, 2**30) == 2**29
    # 1 * 2^30 / 2^31 = 0.5: ties go toward +inf -> 1;  -0.5 -> 0.
    assert saturating_rounding_doubling_high_mul(1, 2**30) == 1
    assert saturating_rounding_doubling_high_mul(-1, 2**30) == 0
    # (-2^31)^2 / 2^31 = 2^31 does not fit: saturates.
    assert saturating_rounding_doubling_high_mul(-(2**31), -(2**31)) == 2**31 - 1
    # x / 2^e, ties away from zero: 5/2 = 2.5 -> 3, -5/2 -> -3, 7/4 = 1.75 -> 2, -6/4 = -1.5 -> -2, -4/2 = -2.
    assert [rounding_divide_by_pot(v, e) for v, e in [(5, 1), (-5, 1), (7, 2), (-6, 2), (-4, 1)]] == [3, -3, 2, -2, -2]
    # Double rounding: 5 * 0.25 with M = 0.25 = 2^30 * 2^(-1-31). SRDHM(5, 2^30) = round(2.5) = 3,
    # then 3 / 2 = 1.5 -> 2. One correct rounding of 1.25 would give 1; TFLite gives 2.
    assert multiply_by_quantized_multiplier(5, 2**30, -1) == 2
    # M = 1.0 = 2^30 * 2^(1-31): 7 * 2 = 14, SRDHM(14, 2^30) = 7.
    assert multiply_by_quantized_multiplier(7, 2**30, 1) == 7


# A 3x3 image, input_zp = 1, so x - zp = [[0,1,2],[3,4,5],[6,7,8]], and the 2x2 filter [[1,2],[3,4]].
X33 = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9], dtype=np.int8).reshape(1, 3, 3, 1)
F22 = np.array([1, 2, 3, 4], dtype=np.int8).reshape(1, 2, 2, 1)
# M = 0.125 = 2^30 * 2^(-2-31): mult 2^30, shift -2.
EIGHTH = dict(output_mult=[2**30], output_shift=[-2])


@pytest.mark.parametrize("backend", BACKENDS)
def test_conv2d_valid_by_hand(backend):
    # acc(0,0) = 0*1 + 1*2 + 3*3 + 4*4 = 27;  acc(0,1) = 1 + 4 + 12 + 20 = 37
    # acc(1,0) = 3 + 8 + 18 + 28 = 57;        acc(1,1) = 4 + 10 + 21 + 32 = 67;  + bias 3: 30, 40, 60, 70.
    # * 0.125, double rounding: 30 -> SRDHM 15 -> 15/4 = 3.75 -> 4;  40 -> 20 -> 5;  60 -> 30 -> 7.5 -> 8;
    # 70 -> 35 -> 8.75 -> 9.  + output_zp -10: [-6, -5, -2, -1].
    out = conv2d(X33, F22, np.array([3], np.int32), input_zp=1, output_zp=-10, backend=backend, **EIGHTH)
    assert out.reshape(-1).tolist() == [-6, -5, -2, -1]
    # The same with a fused clamp at act_max = -3 (a ReLU-style cap).
    out = conv2d(X33, F22, np.array([3], np.int32), input_zp=1, output_zp=-10, act_max=-3, backend=backend, **EIGHTH)
    assert out.reshape(-1).tolist() == [-6, -5, -3, -3]


@pytest.mark.parametrize("backend", BACKENDS)
def test_conv2d_same_padding_is_asymmetric_like_tflite(backend):
    # SAME, 2x2 filter, stride 1 on 3x3: output 3x3, total padding (3-1)*1 + 2 - 3 = 1, all of it after
    # (bottom/right). Padding taps contribute (zp - zp) = 0.
    # acc row 0: 27, 37, (2*1 + 5*3) = 17;  row 1: 57, 67, (5*1 + 8*3) = 29;  row 2: (6 + 14) = 20, (7 + 16) = 23, 8.
    # + bias 3: 30 40 20 / 60 70 32 / 23 26 11.
    # * 0.125 double-rounded: 30->4, 40->5, 20->SRDHM 10->2.5->3, 60->8, 70->9, 32->16->4,
    # 23->SRDHM round(11.5)=12->3, 26->13->3.25->3, 11->SRDHM round(5.5)=6->1.5->2.   + zp -10.
    out = conv2d(X33, F22, np.array([3], np.int32), input_zp=1, output_zp=-10, padding="same", backend=backend, **EIGHTH)
    assert out[0, :, :, 0].tolist() == [[-6, -5, -7], [-2, -1, -6], [-7, -7, -8]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_conv2d_stride_dilation_groups_by_hand(backend):
    # 1x1x5 row, 2 channels, groups = 2: channel 0 = [1,2,3,4,5], channel 1 = [10,20,30,40,50], zp 0.
    x = np.array([[1, 10], [2, 20], [3, 30], [4, 40], [5, 50]], dtype=np.int8).reshape(1, 1, 5, 2)
    # filter OHWI [2, 1, 2, 1]: out 0 = [1, -1] on channel 0, out 1 = [1, 1] on channel 1; dilation 2, stride 2.
    # taps at ix and ix + 2; outputs at ix = 0 and 2 (out width (5 - 3) // 2 + 1 = 2).
    # out 0: 1 - 3 = -2, 3 - 5 = -2;  out 1: 10 + 30 = 40, 30 + 50 = 80.  M = 1 (mult 2^30, shift 1).
    w = np.array([1, -1, 1, 1], dtype=np.int8).reshape(2, 1, 2, 1)
    out = conv2d(x, w, None, input_zp=0, output_zp=0, output_mult=[2**30], output_shift=[1],
                 stride=2, dilation=2, groups=2, backend=backend)
    assert out[0, 0].tolist() == [[-2, 40], [-2, 80]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_depthwise_conv2d_multiplier_two_by_hand(backend):
    # 2x2 image, 2 channels: channel 0 = [[1,2],[3,4]], channel 1 = [[-1,-2],[-3,-4]], zp 0.
    x = np.array([1, -1, 2, -2, 3, -3, 4, -4], dtype=np.int8).reshape(1, 2, 2, 2)
    # depth multiplier 2 -> 4 outputs; output c = i*2 + m reads input channel i.
    # c0: all ones on ch0 -> 10;  c1: top-left only on ch0 -> 1;  c2: all ones on ch1 -> -10;
    # c3: bottom-right only on ch1 -> -4.
    w = np.zeros((1, 2, 2, 4), dtype=np.int8)
    w[0, :, :, 0] = 1
    w[0, 0, 0, 1] = 1
    w[0, :, :, 2] = 1
    w[0, 1, 1, 3] = 1
    # Per channel: M = 1 (2^30, shift 1) for c0..c2; M = 0.5 (2^30, shift 0) for c3:
    # SRDHM(-4, 2^30) = floor((-4 * 2^30 + 2^30) / 2^31) = floor(-1.5) = -2.  + output_zp 5.
    out = depthwise_conv2d(x, w, None, input_zp=0, output_zp=5, output_mult=[2**30] * 4,
                           output_shift=[1, 1, 1, 0], backend=backend)
    assert out.reshape(-1).tolist() == [15, 6, -5, 3]


@pytest.mark.parametrize("backend", BACKENDS)
def test_fully_connected_per_tensor_by_hand(backend):
    # x = [10, -20, 30], zp 10 -> [0, -30, 20].  W = [[1,2,3],[-1,0,1]], bias [100, -7].
    # acc0 = 0 - 60 + 60 + 100 = 100;  acc1 = 0 + 0 + 20 - 7 = 13.
    # M = 0.1: frexp = 0.8 * 2^-3, mult = round(0.8 * 2^31) = round(1717986918.4) = 1717986918, shift -3.
    # acc0: SRDHM = round(100 * 0.79999999981) = round(79.99999998) = 80; 80 / 8 = 10.
    # acc1: SRDHM = round(13 * 0.79999999981) = round(10.39999999) = 10; 10 / 8 = 1.25 -> 1.  + zp -1.
    x = np.array([[10, -20, 30]], dtype=np.int8)
    w = np.array([[1, 2, 3], [-1, 0, 1]], dtype=np.int8)
    out = fully_connected(x, w, np.array([100, -7], np.int32), input_zp=10, output_zp=-1,
                          output_mult=1717986918, output_shift=-3, backend=backend)
    assert out.tolist() == [[9, 0]]
