"""Bit-exactness of the non-convolution ops: Numba equals the reference, and C equals Numba.

Every drawn int8 tensor holds -128 and 127; multipliers and shifts include
their edge values; shapes include broadcasting, padding on every side and
windows that hang over the input.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from microflat.testing import ops_reference as ref
from microflat.testing.layer_cases import (activation_ranges, encoded_multiplier, int8_array, int16_array, mults, q31,
                                           shifts, zero_points)
from microflat.testing.op_cases import (add_cases, broadcast_pair, mul_cases, pool_cases, pool_geometry,
                                        softmax_cases)
from microflat import kernels as k


def _both(op, *args, **kwargs):
    got = op(*args, backend="numba", **kwargs)
    got_c = op(*args, backend="c", **kwargs)
    np.testing.assert_array_equal(got_c, got)
    return got


@given(case=add_cases())
def test_add(case):
    a, b, p = case
    np.testing.assert_array_equal(_both(k.add, a, b, **p), ref.add(a, b, p))


@given(case=mul_cases())
def test_mul(case):
    a, b, p = case
    np.testing.assert_array_equal(_both(k.mul, a, b, **p), ref.mul(a, b, p))


def _pair_multiplier(data, real, input_shift_max):
    """(mult, shift): the Q31 encoding of ``real``, or an edge encoding with shift <= input_shift_max."""
    exact = tuple(int(v[0]) for v in q31([real]))
    return data.draw(st.one_of(st.just(exact), st.tuples(mults, st.integers(-31, input_shift_max))))


@given(pair=broadcast_pair(), data=st.data())
def test_sub(pair, data):
    a, b = pair
    s1, s2, so = (data.draw(st.floats(1e-3, 1.0)) for _ in range(3))
    m1, sh1 = _pair_multiplier(data, s1 / (2 * max(s1, s2)), 0)
    m2, sh2 = _pair_multiplier(data, s2 / (2 * max(s1, s2)), 0)
    mo, sho = data.draw(st.one_of(st.just(tuple(int(v[0]) for v in q31([2 * max(s1, s2) / (2**20 * so)]))),
                                  st.tuples(mults, shifts)))
    lo, hi = data.draw(activation_ranges())
    p = dict(left_shift=data.draw(st.one_of(st.just(20), st.integers(0, 20))),
             input1_zp=data.draw(zero_points), input1_mult=m1, input1_shift=sh1,
             input2_zp=data.draw(zero_points), input2_mult=m2, input2_shift=sh2,
             output_zp=data.draw(zero_points), output_mult=mo, output_shift=sho, act_min=lo, act_max=hi)
    np.testing.assert_array_equal(_both(k.sub, a, b, **p), ref.sub(a, b, p))


@given(pair=broadcast_pair())
def test_maximum(pair):
    a, b = pair
    np.testing.assert_array_equal(_both(k.maximum, a, b), ref.maximum(a, b))


@given(pair=broadcast_pair())
def test_minimum(pair):
    a, b = pair
    np.testing.assert_array_equal(_both(k.minimum, a, b), ref.minimum(a, b))


# Input encodings of at most 1/2 that squared_difference accepts, the largest ones among them.
HALF_OR_LESS_EDGES = [(0, 0), (1, -31), (2**30, 0), (2**31 - 1, -1), (2**30, -31), (2**31 - 1, -31)]


@given(pair=broadcast_pair(), data=st.data())
def test_squared_difference(pair, data):
    a, b = pair
    s1, s2, so = (data.draw(st.floats(1e-3, 1.0)) for _ in range(3))
    m1, sh1 = data.draw(st.one_of(st.just(tuple(int(v[0]) for v in q31([s1 / (2 * max(s1, s2))]))),
                                  st.sampled_from(HALF_OR_LESS_EDGES), st.tuples(mults, st.integers(-31, -1))))
    m2, sh2 = data.draw(st.one_of(st.just(tuple(int(v[0]) for v in q31([s2 / (2 * max(s1, s2))]))),
                                  st.sampled_from(HALF_OR_LESS_EDGES), st.tuples(mults, st.integers(-31, -1))))
    mo, sho = data.draw(st.one_of(st.just(tuple(int(v[0]) for v in q31([(2 * max(s1, s2)) ** 2 / (2**14 * so)]))),
                                  st.tuples(mults, shifts)))
    p = dict(left_shift=data.draw(st.one_of(st.just(7), st.integers(0, 7))),
             input1_zp=data.draw(zero_points), input1_mult=m1, input1_shift=sh1,
             input2_zp=data.draw(zero_points), input2_mult=m2, input2_shift=sh2,
             output_zp=data.draw(zero_points), output_mult=mo, output_shift=sho)
    np.testing.assert_array_equal(_both(k.squared_difference, a, b, **p), ref.squared_difference(a, b, p))


def test_squared_difference_refuses_input_multipliers_above_one_half():
    x = np.zeros((1, 1, 1, 1), np.int8)
    p = dict(input1_zp=0, input1_mult=2**30, input1_shift=0, input2_zp=0, input2_mult=2**30, input2_shift=0,
             output_zp=0, output_mult=2**30, output_shift=0)
    k.squared_difference(x, x, **p)  # exactly 1/2: accepted
    with pytest.raises(ValueError, match="input2_mult"):
        k.squared_difference(x, x, **dict(p, input2_mult=2**30 + 1))
    with pytest.raises(ValueError, match="input1_shift"):
        k.squared_difference(x, x, **dict(p, input1_shift=1))
    with pytest.raises(ValueError, match="left_shift"):
        k.squared_difference(x, x, left_shift=8, **p)


# --- the parameter helpers against float64 ------------------------------------------------------------
#
# mbqm(x, mult, shift) with r = max(-shift, 0) rounds twice: round(x * mult / 2^31) is within 1/2 of
# x * mult / 2^31, and the rounding divide by 2^r adds 1/2 more, so (without saturation)
#     |mbqm(x, mult, shift) - x * M_enc| <= e(r) = 1/2 + [r > 0] / 2^(r+1),   M_enc = mult * 2^(shift - 31).
# The int8 result is clamp(v + zp_out) and the float one clamp(y + zp_out), and clamping is 1-Lipschitz,
# so |result - clamp(y + zp_out)| <= |v - y| for the integer v = mbqm(...) and the real y = op(a, b) / s_out.


def _e(shift):
    r = max(-int(shift), 0)
    return 0.5 + (0.5 / 2**r if r > 0 else 0.0)


def _float_case(data):
    a, b = data.draw(broadcast_pair())
    s1, s2 = data.draw(st.floats(1e-3, 1.0)), data.draw(st.floats(1e-3, 1.0))
    z1, z2, zo = data.draw(zero_points), data.draw(zero_points), data.draw(zero_points)
    x, y = np.broadcast_arrays(a.astype(np.float64) - z1, b.astype(np.float64) - z2)  # A and B, exact
    return a, b, s1, s2, z1, z2, zo, x, y


@given(data=st.data())
def test_sub_params_stay_within_the_derived_bound_of_float(data):
    # Derivation. T = 2 max(s1, s2), L = 20, real multipliers M1 = s1 / T, M2 = s2 / T, Mo = T / (2^L s_out);
    # encoded ones M1e, M2e, Moe. With A = a - z1, B = b - z2:
    #     a' = 2^L A M1e + ea,  b' = -2^L B M2e + eb  (mbqm of -M2e),  |ea| <= e(r1), |eb| <= e(r2)
    #     v  = (a' + b') Moe + eo,                                       |eo| <= e(ro)
    # and the real result is y = (s1 A - s2 B) / s_out = P0 Mo with P0 = 2^L (A M1 - B M2). With
    # P = 2^L (A M1e - B M2e):  v - y = (P - P0) Moe + P0 (Moe - Mo) + (ea + eb) Moe + eo, so
    #     |v - y| <= 2^L (|A| |M1e - M1| + |B| |M2e - M2|) Moe + |P0| |Moe - Mo| + (e(r1) + e(r2)) Moe + e(ro).
    # Here Moe <= 1 / (2^20 * 0.01) < 2^-13, so the bound is within a thousandth of e(ro) <= 1 LSB.
    a, b, s1, s2, z1, z2, zo, x, y = _float_case(data)
    so = 2 * max(s1, s2) * data.draw(st.floats(0.01, 10.0))  # outputs from a fraction of an LSB to saturation
    prm = k.sub_params(s1, s2, so)
    got = k.sub(a, b, input1_zp=z1, input2_zp=z2, output_zp=zo, **prm)
    t = 2 * max(s1, s2)
    m1, m2, mo = s1 / t, s2 / t, t / (2**20 * so)
    m1e = float(encoded_multiplier(prm["input1_mult"], prm["input1_shift"]))
    m2e = float(encoded_multiplier(prm["input2_mult"], prm["input2_shift"]))
    moe = float(encoded_multiplier(prm["output_mult"], prm["output_shift"]))
    p0 = 2**20 * (x * m1 - y * m2)
    bound = (2**20 * (np.abs(x) * abs(m1e - m1) + np.abs(y) * abs(m2e - m2)) * moe + np.abs(p0) * abs(moe - mo)
             + (_e(prm["input1_shift"]) + _e(prm["input2_shift"])) * moe + _e(prm["output_shift"]))
    real = np.clip((s1 * x - s2 * y) / so + zo, -128, 127)
    assert np.all(np.abs(got - real) <= bound + 1e-9), (got, real, bound)
    assert np.all(bound <= 1.01)


@given(data=st.data())
def test_squared_difference_params_stay_within_the_derived_bound_of_float(data):
    # Derivation. T = 2 max(s1, s2), L = 7, M1 = s1 / T, M2 = s2 / T, Mo = T^2 / (2^(2L) s_out); encoded
    # M1e, M2e, Moe. With A = a - z1, B = b - z2:
    #     D = a' - b' = P0 + d,  P0 = 2^L (A M1 - B M2),
    #     |d| <= Delta = 2^L (|A| |M1e - M1| + |B| |M2e - M2|) + e(r1) + e(r2)
    #     v = D^2 Moe + eo,  |eo| <= e(ro)
    # and the real result is y = (s1 A - s2 B)^2 / s_out = P0^2 Mo. D^2 - P0^2 = d (2 P0 + d), so
    #     |v - y| <= Delta (2 |P0| + Delta) Moe + P0^2 |Moe - Mo| + e(ro).
    # The middle term is TFLite's precision: the difference is rounded at scale T / 2^7 before squaring.
    a, b, s1, s2, z1, z2, zo, x, y = _float_case(data)
    t = 2 * max(s1, s2)
    so = t * t * 255 * data.draw(st.floats(0.01, 10.0))  # (255 T)^2 / s_out, the largest output, near 255 / f
    prm = k.squared_difference_params(s1, s2, so)
    got = k.squared_difference(a, b, input1_zp=z1, input2_zp=z2, output_zp=zo, **prm)
    m1, m2, mo = s1 / t, s2 / t, t * t / (2**14 * so)
    m1e = float(encoded_multiplier(prm["input1_mult"], prm["input1_shift"]))
    m2e = float(encoded_multiplier(prm["input2_mult"], prm["input2_shift"]))
    moe = float(encoded_multiplier(prm["output_mult"], prm["output_shift"]))
    p0 = 2**7 * (x * m1 - y * m2)
    delta = (2**7 * (np.abs(x) * abs(m1e - m1) + np.abs(y) * abs(m2e - m2))
             + _e(prm["input1_shift"]) + _e(prm["input2_shift"]))
    bound = delta * (2 * np.abs(p0) + delta) * moe + p0 * p0 * abs(moe - mo) + _e(prm["output_shift"])
    real = np.clip((s1 * x - s2 * y) ** 2 / so + zo, -128, 127)
    assert np.all(np.abs(got - real) <= bound + 1e-9), (got, real, bound)


@pytest.mark.parametrize("op, real_op", [(k.maximum, np.maximum), (k.minimum, np.minimum)])
@given(data=st.data())
def test_maximum_minimum_are_exact_on_a_shared_quantization(op, real_op, data):
    # Bound 0: with one scale s > 0 and zero point z for both inputs and the output (the converter's
    # choice), r = s (q - z) is strictly increasing in q, and so is its float64 evaluation (rounding is
    # monotonic), so the raw comparison picks the input with the larger (smaller) real value exactly.
    a, b = data.draw(broadcast_pair())
    s, z = data.draw(st.floats(1e-3, 1.0)), data.draw(zero_points)
    got = op(a, b)
    real = real_op(s * (a.astype(np.float64) - z), s * (b.astype(np.float64) - z))
    np.testing.assert_array_equal(s * (got.astype(np.float64) - z), real)


@given(case=pool_cases())
def test_average_pool2d(case):
    x, f, s, pad, lo, hi = case
    (oh, pt), (ow, pl) = pool_geometry(x, f, s, pad)
    got = _both(k.average_pool2d, x, f, stride=s, padding=pad, act_min=lo, act_max=hi)
    np.testing.assert_array_equal(got, ref.average_pool2d(x, *f, *s, pt, pl, oh, ow, lo, hi))


@given(case=pool_cases())
def test_max_pool2d(case):
    x, f, s, pad, lo, hi = case
    (oh, pt), (ow, pl) = pool_geometry(x, f, s, pad)
    got = _both(k.max_pool2d, x, f, stride=s, padding=pad, act_min=lo, act_max=hi)
    np.testing.assert_array_equal(got, ref.max_pool2d(x, *f, *s, pt, pl, oh, ow, lo, hi))


@given(data=st.data())
def test_mean_hw(data):
    x = int8_array(data.draw, (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 9)),
                               data.draw(st.integers(1, 9)), data.draw(st.integers(1, 4))))
    zi, zo = data.draw(zero_points), data.draw(zero_points)
    m, s = data.draw(mults), data.draw(shifts)
    got = _both(k.mean_hw, x, input_zp=zi, output_zp=zo, mult=m, shift=s)
    np.testing.assert_array_equal(got, ref.mean_hw(x, zi, zo, m, s))


@given(case=softmax_cases())
def test_softmax(case):
    x, mult, shift, diff_min = case
    got = _both(k.softmax, x, input_beta_mult=mult, input_left_shift=shift, diff_min=diff_min)
    np.testing.assert_array_equal(got, ref.softmax(x, mult, shift, diff_min))


@given(data=st.data())
def test_pad(data):
    x = int8_array(data.draw, tuple(data.draw(st.integers(1, 4)) for _ in range(4)))
    paddings = [tuple(data.draw(st.integers(0, 3)) for _ in range(2)) for _ in range(4)]
    v = data.draw(zero_points)
    np.testing.assert_array_equal(_both(k.pad, x, paddings, pad_value=v), ref.pad(x, paddings, v))


@pytest.mark.parametrize("width", ["int8", "int16"])
@given(data=st.data())
def test_concatenation(width, data):
    """int16: zero points 0 (TFLite's 16x8 rule) and values over the whole int16 range, where a left shift
    saturates."""
    count = data.draw(st.integers(1, 4))
    axis = data.draw(st.integers(0, 3))
    base = [data.draw(st.integers(1, 4)) for _ in range(4)]
    xs = []
    for _ in range(count):
        shape = list(base)
        shape[axis] = data.draw(st.integers(1, 4))
        xs.append((int8_array if width == "int8" else int16_array)(data.draw, tuple(shape)))
    zp = zero_points if width == "int8" else st.just(0)
    zps = [data.draw(zp) for _ in xs]
    ms = [data.draw(mults) for _ in xs]
    ss = [data.draw(shifts) for _ in xs]
    rs = [data.draw(st.integers(0, 1)) for _ in xs]
    zo = data.draw(zp)
    got = _both(k.concatenation, xs, axis=axis, input_zps=zps, output_zp=zo, mults=ms, shifts=ss, requants=rs)
    np.testing.assert_array_equal(got, ref.concatenation(xs, axis, zps, zo, ms, ss, rs))


@given(data=st.data())
def test_lut(data):
    x = int8_array(data.draw, (data.draw(st.integers(1, 300)),))
    table = int8_array(data.draw, (256,))
    np.testing.assert_array_equal(_both(k.lut, x, table), table[x.astype(np.int64) + 128])
