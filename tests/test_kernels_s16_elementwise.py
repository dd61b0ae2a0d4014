"""16-bit activations (TFLite's 16x8 mode) of the elementwise, pooling and quantization families: add_s16, sub_s16,
mul_s16, average_pool2d_s16, max_pool2d_s16, quantize_s16, dequantize_s16, requantize_s8_s16, requantize_s16_s8 and
requantize_s16_s16, through their public wrappers.

Numba equals a plain int64 / float64 reference written here, and C equals Numba byte for byte, on every drawn
case. The references follow TFLite's definitions in another formulation than the kernels: whole-array numpy with
int_reference's closed-form roundings (floor expressions, not gemmlowp's nudge and mask), pooling over an explicitly
padded image with a validity mask, ties-away rounding as sign(v) floor(|v| + 1/2) in float64, dequantization as
a double product narrowed to float (TFLite's older form). The references also assert the int32 bounds the kernels'
docstrings derive (the shifted int16 inputs, the sum of the scaled inputs, the int16 product), so a case outside
them fails loudly instead of agreeing by accident.

Every drawn int16 array holds -32768 and 32767 (int8 ones -128 and 127); zero points include the type's ends and
0; multipliers include 0, 1, 2^30, 2^31 - 1 and shifts -31 and 30 (input multipliers of ADD / SUB at most 1/2, the
wrapper's contract); shapes broadcast; activation ranges are the defaults (None) or drawn inside int16.

Where ai-edge-litert is installed, int16 ADD, SUB and MUL are also compared with LiteRT's reference kernels
(OpResolverType.BUILTIN_REF) bit for bit, on .tflite files built by benchmarks/tflite_builder.py at drawn float32
scales, zero points 0 (TFLite requires them for int16) and fused activations NONE / RELU / RELU6. ADD and SUB set
pot_scale_int16 false, the general-scale path (add.cc, sub.cc: left_shift 15). MUL compares where TFLite's
arithmetic is defined: MultiplyByQuantizedMultiplier computes x * 2^shift in int32 for a positive shift, which
overflows (undefined; LiteRT wraps) once |a * b| 2^shift >= 2^31; there microflat saturates, and the test asserts
the saturated value.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from microflat.testing.int_reference import (INT32_MAX, multiply_by_quantized_multiplier, quantize_multiplier_exact, requantize,
                           same_padding)
from microflat.testing.layer_cases import mults, shifts, with_edges
from microflat import kernels as K

I16_MIN, I16_MAX = -(2**15), 2**15 - 1
I8_MIN, I8_MAX = -128, 127


# --- strategies ----------------------------------------------------------------------------------------------------

def int_array(draw, shape, dtype=np.int16):
    info = np.iinfo(dtype)
    arr = draw(hnp.arrays(dtype, shape, elements=st.integers(int(info.min), int(info.max))))
    return with_edges(draw, arr, int(info.min), int(info.max))


def zero_points(dtype=np.int16):
    info = np.iinfo(dtype)
    return st.one_of(st.sampled_from([int(info.min), 0, int(info.max)]), st.integers(int(info.min), int(info.max)))


@st.composite
def activation_ranges(draw):
    """(act_min, act_max) as the wrapper takes them: None for the int16 default, or a drawn sub-range."""
    if draw(st.booleans()):
        return None, None
    a, b = draw(st.integers(I16_MIN, I16_MAX)), draw(st.integers(I16_MIN, I16_MAX))
    return min(a, b), max(a, b)


def _range(lo, hi):
    return I16_MIN if lo is None else lo, I16_MAX if hi is None else hi


@st.composite
def broadcast_pair(draw):
    shape = [draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 5))]
    a_shape = [d if draw(st.integers(0, 3)) else 1 for d in shape]
    b_shape = [d if draw(st.integers(0, 3)) else 1 for d in shape]
    return int_array(draw, tuple(a_shape)), int_array(draw, tuple(b_shape))


# Input encodings of at most 1/2 (shift <= -1, or shift 0 with mult <= 2^30), the largest among them.
HALF_OR_LESS_EDGES = [(0, 0), (1, -31), (2**30, 0), (2**31 - 1, -1), (2**30, -1), (2**30, -31), (2**31 - 1, -31)]


def _input_multiplier(draw, real):
    """(mult, shift) of an input of ADD / SUB: the exact Q31 encoding of ``real`` or an edge encoding <= 1/2."""
    return draw(st.one_of(st.just(quantize_multiplier_exact(real)), st.sampled_from(HALF_OR_LESS_EDGES),
                               st.tuples(mults, st.integers(-31, -1))))


@st.composite
def add_cases(draw):
    """(a, b, the wrapper's keyword arguments) of add / sub: zero points anywhere in int16."""
    a, b = draw(broadcast_pair())
    s1, s2, so = (draw(st.floats(1e-4, 1.0)) for _ in range(3))
    m1, sh1 = _input_multiplier(draw, s1 / (2 * max(s1, s2)))
    m2, sh2 = _input_multiplier(draw, s2 / (2 * max(s1, s2)))
    mo, sho = draw(st.one_of(st.just(quantize_multiplier_exact(2 * max(s1, s2) / (2**15 * so))),
                             st.tuples(mults, shifts)))
    lo, hi = draw(activation_ranges())
    left_shift = draw(st.one_of(st.just(None), st.just(15), st.integers(0, 15)))
    p = dict(input1_zp=draw(zero_points()), input1_mult=m1, input1_shift=sh1,
             input2_zp=draw(zero_points()), input2_mult=m2, input2_shift=sh2,
             output_zp=draw(zero_points()), output_mult=mo, output_shift=sho, act_min=lo, act_max=hi)
    if left_shift is not None:
        p["left_shift"] = left_shift
    return a, b, p


# --- references (plain int64 / float64; never microflat) ----------------------------------------------------------

def ref_add(a, b, p, input2_sign=1):
    """TFLite's AddElementwise on int16 (add.cc, left_shift 15): both inputs centred and shifted left in int32,
    each scaled to the common scale, summed in int32, rescaled, offset, clamped. SUB (input2_sign -1) negates the
    second Q31 multiplier (sub_s8's and sub_s16's op_sign)."""
    x, y = np.broadcast_arrays(a.astype(np.int64), b.astype(np.int64))
    ls = p.get("left_shift", 15)
    xs = (x - p["input1_zp"]) * 2**ls
    ys = (y - p["input2_zp"]) * 2**ls
    assert max(np.abs(xs).max(), np.abs(ys).max()) <= INT32_MAX, "a shifted input leaves int32"
    total = (multiply_by_quantized_multiplier(xs, p["input1_mult"], p["input1_shift"])
             + multiply_by_quantized_multiplier(ys, input2_sign * p["input2_mult"], p["input2_shift"]))
    assert np.abs(total).max() <= 2**31 - 2**15, "the sum of the scaled inputs exceeds the derived bound"
    lo, hi = _range(p["act_min"], p["act_max"])
    return requantize(total, p["output_mult"], p["output_shift"], p["output_zp"], lo, hi).astype(np.int16)


def ref_mul(a, b, p):
    """TFLite's MulElementwise on int16: the int32 product of the centred inputs, rescaled, offset, clamped."""
    x, y = np.broadcast_arrays(a.astype(np.int64), b.astype(np.int64))
    prod = (x - p["input1_zp"]) * (y - p["input2_zp"])
    assert np.abs(prod).max() <= 2**30, "the product exceeds the derived bound"
    lo, hi = _range(p["act_min"], p["act_max"])
    return requantize(prod, p["output_mult"], p["output_shift"], p["output_zp"], lo, hi).astype(np.int16)


def _windows(x, fh, fw, sh, sw, pt, pl, oh, ow):
    """(values, valid): [N, OH, OW, C, FH*FW] taps of x over an explicitly padded image, and which are inside it."""
    n, h, w, c = x.shape
    rows, cols = max((oh - 1) * sh + fh, pt + h), max((ow - 1) * sw + fw, pl + w)
    image = np.zeros((n, rows, cols, c), np.int64)
    inside = np.zeros((n, rows, cols, c), bool)
    image[:, pt:pt + h, pl:pl + w] = x
    inside[:, pt:pt + h, pl:pl + w] = True
    taps = [(ky, kx) for ky in range(fh) for kx in range(fw)]
    cut = lambda a, ky, kx: a[:, ky:ky + sh * (oh - 1) + 1:sh, kx:kx + sw * (ow - 1) + 1:sw]  # noqa: E731
    return (np.stack([cut(image, ky, kx) for ky, kx in taps], -1),
            np.stack([cut(inside, ky, kx) for ky, kx in taps], -1))


def ref_average_pool(x, geometry, lo, hi):
    """Sum and count of the in-bounds taps; acc / count rounded to nearest, ties away from zero, in the closed form
    sign(acc) floor((|acc| + floor(count / 2)) / count) (C's truncating (acc +- count/2) / count)."""
    values, valid = _windows(x, *geometry)
    acc = np.where(valid, values, 0).sum(-1)
    count = valid.sum(-1)
    assert np.abs(acc).max() + count.max() // 2 <= INT32_MAX
    avg = np.sign(acc) * ((np.abs(acc) + count // 2) // count)
    return np.clip(avg, *_range(lo, hi)).astype(np.int16)


def ref_max_pool(x, geometry, lo, hi):
    values, valid = _windows(x, *geometry)
    return np.clip(np.where(valid, values, I16_MIN).max(-1), *_range(lo, hi)).astype(np.int16)


def ref_quantize(x, scale, zp):
    """TFLite's AffineQuantize on int16: the float32 quotient, rounded half away from zero (here in float64 as
    sign(v) floor(|v| + 1/2), exact for every float32 v that does not saturate), plus zp, clamped; NaN -> zp."""
    with np.errstate(over="ignore", invalid="ignore"):
        v = (x / np.float32(scale)).astype(np.float64)  # one float32 division each, as TFLite's
    with np.errstate(invalid="ignore"):
        r = np.sign(v) * np.floor(np.abs(v) + 0.5)
    r = np.where(np.isnan(v), 0.0, r)
    return np.clip(r + zp, I16_MIN, I16_MAX).astype(np.int16)


def ref_dequantize(q, scale, zp):
    """TFLite's Dequantize in its older double form: the double product of the float32 scale and q - zp (exact),
    narrowed to float; the kernels multiply in float32, as the current reference/dequantize.h does."""
    return (np.float64(np.float32(scale)) * (q.astype(np.int64) - zp).astype(np.float64)).astype(np.float32)


def ref_requantize(x, zi, zo, mult, shift, out_dtype):
    """TFLite's Requantize: MultiplyByQuantizedMultiplier(x - zi) + zo, clamped to the output type."""
    info = np.iinfo(out_dtype)
    return requantize(x.astype(np.int64) - zi, mult, shift, zo, int(info.min), int(info.max)).astype(out_dtype)


def _both(op, *args, **kwargs):
    """Numba's result, after checking that C gives the same bytes."""
    got = op(*args, backend="numba", **kwargs)
    got_c = op(*args, backend="c", **kwargs)
    assert got_c.dtype == got.dtype and got_c.shape == got.shape
    assert got_c.tobytes() == got.tobytes()
    return got


# --- elementwise ---------------------------------------------------------------------------------------------------

@given(data=st.data())
def test_add_s16(data):
    a, b, p = data.draw(add_cases())
    got = _both(K.add, a, b, **p)
    assert got.dtype == np.int16
    np.testing.assert_array_equal(got, ref_add(a, b, p))


@given(data=st.data())
def test_sub_s16(data):
    a, b, p = data.draw(add_cases())
    np.testing.assert_array_equal(_both(K.sub, a, b, **p), ref_add(a, b, p, input2_sign=-1))


@given(pair=broadcast_pair(), data=st.data())
def test_mul_s16(pair, data):
    a, b = pair
    lo, hi = data.draw(activation_ranges())
    p = dict(input1_zp=0, input2_zp=0, output_zp=data.draw(zero_points()), act_min=lo, act_max=hi)
    s1, s2, so = (data.draw(st.floats(1e-4, 1.0)) for _ in range(3))
    mo, sho = data.draw(st.one_of(st.just(quantize_multiplier_exact(s1 * s2 / (2**15 * so))),
                                  st.tuples(mults, shifts)))
    p.update(output_mult=mo, output_shift=sho)
    got = _both(K.mul, a, b, **p)
    assert got.dtype == np.int16
    np.testing.assert_array_equal(got, ref_mul(a, b, p))


def test_add_sub_mul_at_the_extremes_of_the_derived_bounds():
    # Every pairing of the int16 ends with zero points at the far ends: |a - zp| = 65535, shifted by 15 (the most
    # the wrapper allows), with the largest input multipliers it accepts; ref_add asserts the sum stays below
    # 2^31 - 2^15. MUL at its bound |a * b| = 2^30 (zero points 0).
    ends = np.array([I16_MIN, I16_MAX], np.int16)
    a = np.repeat(ends, 2).reshape(1, 1, 1, 4)
    b = np.tile(ends, 2).reshape(1, 1, 1, 4)
    for zp1 in (I16_MIN, I16_MAX):
        for zp2 in (I16_MIN, I16_MAX):
            for (m1, s1), (m2, s2) in [((2**30, 0), (2**30, 0)), ((2**31 - 1, -1), (2**30, 0))]:
                p = dict(input1_zp=zp1, input1_mult=m1, input1_shift=s1, input2_zp=zp2, input2_mult=m2,
                         input2_shift=s2, output_zp=0, output_mult=2**31 - 1, output_shift=-16, act_min=None,
                         act_max=None)
                np.testing.assert_array_equal(_both(K.add, a, b, **p), ref_add(a, b, p))
                np.testing.assert_array_equal(_both(K.sub, a, b, **p), ref_add(a, b, p, input2_sign=-1))
    p = dict(input1_zp=0, input2_zp=0, output_zp=0, output_mult=2**31 - 1, output_shift=-15, act_min=None,
             act_max=None)
    got = _both(K.mul, a, b, **p)
    np.testing.assert_array_equal(got, ref_mul(a, b, p))
    assert got.reshape(-1).tolist() == [32767, -32767, -32767, 32766]  # 2^30 * (1 - 2^-31) / 2^15 rounds to 2^15


def test_add_sub_mul_defaults_follow_the_dtype():
    x = np.array([I16_MIN, -1, 0, 1, I16_MAX], np.int16).reshape(1, 1, 1, 5)
    one_half = dict(input1_zp=0, input1_mult=2**30, input1_shift=0, input2_zp=0, input2_mult=2**30, input2_shift=0,
                    output_zp=0, output_mult=2**30, output_shift=-14)
    # a/2 + a/2 at scale 2^-15, rescaled by 2^15 / 2: the identity, over the whole int16 range (no clamp by default)
    np.testing.assert_array_equal(K.add(x, x, **one_half), x)
    assert K.add(x, x, **one_half).dtype == np.int16
    assert K.add_params(0.5, 0.25, 1.0, left_shift=K.elementwise.ADD_LEFT_SHIFT_INT16)["left_shift"] == 15
    np.testing.assert_array_equal(K.mul(x, np.ones_like(x), input1_zp=0, input2_zp=0, output_zp=0,
                                        output_mult=2**30, output_shift=1), x)
    # the int8 defaults are unchanged: left_shift 20 and [-128, 127]
    x8 = np.array([-128, 0, 127], np.int8).reshape(1, 1, 1, 3)
    got8 = K.add(x8, x8, input1_zp=0, input1_mult=2**30, input1_shift=0, input2_zp=0, input2_mult=2**30,
                 input2_shift=0, output_zp=0, output_mult=2**30, output_shift=-19)
    assert got8.dtype == np.int8 and got8.reshape(-1).tolist() == [-128, 0, 127]


@pytest.mark.parametrize("call, message", [
    (lambda x, x8, q: K.add(x, x8, **q), "add: input2 must have dtype int16, got int8"),
    (lambda x, x8, q: K.add(x.astype(np.float32), x, **q), "add: input1 must have dtype int8 or int16, got float32"),
    (lambda x, x8, q: K.add(x, x, **q, left_shift=16), r"add: left_shift must be in \[0, 15\]"),
    (lambda x, x8, q: K.add(x, x, **dict(q, input1_mult=2**30 + 1)), "add: input1_mult .* above 1/2"),
    (lambda x, x8, q: K.sub(x, x, **dict(q, input2_mult=2**31 - 1)), "sub: input2_mult .* above 1/2"),
    (lambda x, x8, q: K.add(x, x, **dict(q, input1_shift=1)), "add: input1_shift must be <= 0"),
    (lambda x, x8, q: K.add(x, x, **dict(q, output_zp=2**15)), r"add: output_zp must be in \[-32768, 32767\]"),
    (lambda x, x8, q: K.add(x, x, **q, act_min=-40000), r"add: act_min must be in \[-32768, 32767\]"),
    (lambda x, x8, q: K.mul(x, x, input1_zp=1, input2_zp=0, output_zp=0, output_mult=1, output_shift=0),
     "mul: int16 inputs need input1_zp and input2_zp 0"),
    (lambda x, x8, q: K.mul(x, x, input1_zp=0, input2_zp=-5, output_zp=0, output_mult=1, output_shift=0),
     "mul: int16 inputs need input1_zp and input2_zp 0"),
    (lambda x, x8, q: K.average_pool2d(np.zeros((1, 300, 300, 1), np.int16), (300, 300)),
     "average_pool2d: an int16 window of 300 x 300 taps exceeds 65535"),
    (lambda x, x8, q: K.max_pool2d(x.astype(np.int32), 1), "max_pool2d: input must have dtype int8 or int16"),
    (lambda x, x8, q: K.requantize_tensor(x8, dtype=np.int8, input_zp=0, output_zp=0, mult=1, shift=0),
     "requantize_tensor: int8 -> int8 is not supported"),
    (lambda x, x8, q: K.requantize_tensor(x, dtype=np.int16, input_zp=0, output_zp=-32769, mult=1, shift=0),
     r"requantize_tensor: output_zp must be in \[-32768, 32767\]"),
    (lambda x, x8, q: K.requantize_tensor(x, dtype=np.int8, input_zp=0, output_zp=128, mult=1, shift=0),
     r"requantize_tensor: output_zp must be in \[-128, 127\]"),
    (lambda x, x8, q: K.quantize_int16(x.astype(np.float32), scale=0.0, zero_point=0), "quantize_int16: scale"),
    (lambda x, x8, q: K.dequantize_int16(x8, scale=1.0, zero_point=0), "dequantize_int16: input must have dtype int16"),
])
def test_wrappers_refuse(call, message):
    x = np.zeros((1, 2, 2, 3), np.int16)
    x8 = np.zeros((1, 2, 2, 3), np.int8)
    q = dict(input1_zp=0, input1_mult=2**30, input1_shift=0, input2_zp=0, input2_mult=2**30, input2_shift=0,
             output_zp=0, output_mult=2**30, output_shift=-14)
    with pytest.raises(ValueError, match=message):
        call(x, x8, q)


# --- pooling -------------------------------------------------------------------------------------------------------

@st.composite
def pool_cases(draw):
    """(x, filter, stride, padding argument, geometry (fh, fw, sh, sw, pt, pl, oh, ow), act_min, act_max)."""
    fh, fw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(fh, fh + 6)), draw(st.integers(fw, fw + 6))
    pad = draw(st.sampled_from(["valid", "same", "explicit"]))
    if pad == "same":
        (oh, pt, _), (ow, pl, _) = same_padding(h, fh, sh, 1), same_padding(w, fw, sw, 1)
    else:
        # explicit padding below the window size on each side: every window overlaps the input
        pad = (0, 0, 0, 0) if pad == "valid" else tuple(draw(st.integers(0, k - 1)) for k in (fh, fh, fw, fw))
        pt, pl = pad[0], pad[2]
        oh, ow = (h + pad[0] + pad[1] - fh) // sh + 1, (w + pad[2] + pad[3] - fw) // sw + 1
    x = int_array(draw, (draw(st.integers(1, 2)), h, w, draw(st.integers(1, 4))))
    lo, hi = draw(activation_ranges())
    return x, (fh, fw), (sh, sw), pad, (fh, fw, sh, sw, pt, pl, oh, ow), lo, hi


@given(case=pool_cases())
def test_average_pool2d_s16(case):
    x, f, s, pad, geometry, lo, hi = case
    got = _both(K.average_pool2d, x, f, stride=s, padding=pad, act_min=lo, act_max=hi)
    np.testing.assert_array_equal(got, ref_average_pool(x, geometry, lo, hi))


@given(case=pool_cases())
def test_max_pool2d_s16(case):
    x, f, s, pad, geometry, lo, hi = case
    got = _both(K.max_pool2d, x, f, stride=s, padding=pad, act_min=lo, act_max=hi)
    np.testing.assert_array_equal(got, ref_max_pool(x, geometry, lo, hi))


def test_average_pool2d_s16_at_its_largest_window():
    # 65535 taps of -32768: |acc| = 2^31 - 2^15, the bound the wrapper keeps; ties of the rounding division too.
    x = np.full((1, 255, 257, 1), I16_MIN, np.int16)  # 255 * 257 = 65535
    got = _both(K.average_pool2d, x, (255, 257))
    assert got.reshape(-1).tolist() == [I16_MIN]
    x = np.array([1, 2, -1, -2], np.int16).reshape(1, 2, 2, 1)  # 2 pixels per window: 1.5 -> 2, -1.5 -> -2
    np.testing.assert_array_equal(_both(K.average_pool2d, x, (1, 2)).reshape(-1), [2, -2])


# --- quantization --------------------------------------------------------------------------------------------------

float32_values = st.one_of(
    st.floats(width=32, allow_nan=True, allow_infinity=True),
    st.integers(-70000, 70000).map(lambda k: np.float32(k) / 2),  # ties at every half-integer
    st.sampled_from([0.5, -0.5, 1.5, -2.5, 32767.5, -32768.5, 65535.5, -65536.0, 65536.0, 3e38, -3e38]),
)
scales = st.one_of(st.floats(2.0**-20, 2.0**10, width=32), st.sampled_from([1.0, 0.5, 2.0**-15, 3.0]))


@given(x=hnp.arrays(np.float32, st.integers(1, 40), elements=float32_values), scale=scales, zp=zero_points())
def test_quantize_s16(x, scale, zp):
    got = _both(K.quantize_int16, x, scale=scale, zero_point=zp)
    assert got.dtype == np.int16
    np.testing.assert_array_equal(got, ref_quantize(x, scale, zp))


@given(data=st.data(), scale=scales, zp=zero_points())
def test_dequantize_s16(data, scale, zp):
    q = int_array(data.draw, (data.draw(st.integers(2, 40)),))
    got = _both(K.dequantize_int16, q, scale=scale, zero_point=zp)
    assert got.dtype == np.float32
    assert got.tobytes() == ref_dequantize(q, scale, zp).tobytes()  # the double form, to the bit


REQUANTIZE_PAIRS = [(np.int8, np.int16), (np.int16, np.int8), (np.int16, np.int16)]


@pytest.mark.parametrize("in_dtype, out_dtype", REQUANTIZE_PAIRS, ids=lambda d: np.dtype(d).name)
@given(data=st.data())
def test_requantize_tensor(in_dtype, out_dtype, data):
    x = int_array(data.draw, (data.draw(st.integers(2, 40)),), in_dtype)
    zi, zo = data.draw(zero_points(in_dtype)), data.draw(zero_points(out_dtype))
    s_in, s_out = data.draw(st.floats(1e-5, 1.0)), data.draw(st.floats(1e-5, 1.0))
    # the exact Q31 encoding of s_in / s_out (above 1 too: QuantizeMultiplier), or the edge values
    mult, shift = data.draw(st.one_of(st.just(quantize_multiplier_exact(s_in / s_out)), st.tuples(mults, shifts)))
    got = _both(K.requantize_tensor, x, dtype=out_dtype, input_zp=zi, output_zp=zo, mult=mult, shift=shift)
    assert got.dtype == out_dtype
    np.testing.assert_array_equal(got, ref_requantize(x, zi, zo, mult, shift, out_dtype))


# --- LiteRT's reference kernels ------------------------------------------------------------------------------------

def _litert():
    pytest.importorskip("ai_edge_litert")
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
    import tflite_builder

    return Interpreter, OpResolverType, tflite_builder


ACTIVATIONS = {"NONE": 0, "RELU": 1, "RELU6": 3}  # ActivationFunctionType


def _activation_range(name, scale):
    """TFLite's CalculateActivationRangeQuantized for an int16 output of zero point 0: quantize(f) =
    TfLiteRound(f / scale) in float32."""
    if name == "NONE":
        return I16_MIN, I16_MAX
    if name == "RELU":
        return 0, I16_MAX
    six = float(np.float32(6.0) / np.float32(scale))
    assume(six < 2**31 - 1)  # TFLite's static_cast<int32_t> of the rounded quotient is undefined above
    return 0, min(I16_MAX, int(np.floor(six + 0.5)))


def _run_litert(op, scales, shapes, activation, inputs):
    Interpreter, OpResolverType, T = _litert()
    b = T.TFLiteBuilder()
    x1 = b.tensor("a", "int16", shapes[0], scale=scales[0], zero_point=0)
    x2 = b.tensor("b", "int16", shapes[1], scale=scales[1], zero_point=0)
    y = b.tensor("y", "int16", shapes[2], scale=scales[2], zero_point=0)
    options = dict(fused_activation_function=ACTIVATIONS[activation])
    if op != "MUL":
        options["pot_scale_int16"] = 0  # the general-scale path (left_shift 15), not the power-of-two one
    b.operator(op, [x1, x2], [y], {"ADD": "AddOptions", "SUB": "SubOptions", "MUL": "MulOptions"}[op], options)
    b.set_io([x1, x2], [y])
    it = Interpreter(model_content=b.to_bytes(), num_threads=1,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    for d, a in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], a)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


def _f32_scale(lo, hi):
    return st.floats(np.log(lo), np.log(hi)).map(lambda v: float(np.float32(np.exp(v))))


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL"])
@settings(max_examples=60)  # each example builds a .tflite and runs LiteRT (a few ms); 60 keep the test near 2 s
@given(pair=broadcast_pair(), data=st.data())
def test_int16_add_sub_mul_equal_litert_reference(op, pair, data):
    a, b = pair
    shape = np.broadcast_shapes(a.shape, b.shape)
    s1, s2 = data.draw(_f32_scale(1e-4, 0.1)), data.draw(_f32_scale(1e-4, 0.1))
    activation = data.draw(st.sampled_from(sorted(ACTIVATIONS)))
    if op == "MUL":
        # M = s1 s2 / s_out from 2^-19 (a realistic int16 product) up to 4 (left shifts that can overflow TFLite)
        so = float(np.float32(s1 * s2 / data.draw(_f32_scale(2.0**-19, 4.0))))
        p = K.mul_params(s1, s2, so)
    else:
        # output multiplier 2 max(s1, s2) / (2^15 s_out) below 1, as add.cc's QuantizeMultiplierSmallerThanOneExp
        # demands
        so = float(np.float32(max(s1, s2) * data.draw(st.floats(2.0**-12, 8.0))))
        p = K.add_params(s1, s2, so, left_shift=15)
    lo, hi = _activation_range(activation, so)
    want = _run_litert(op, (s1, s2, so), (a.shape, b.shape, shape), activation, [a, b])
    kernel = {"ADD": K.add, "SUB": K.sub, "MUL": K.mul}[op]
    p.update(input1_zp=0, input2_zp=0, output_zp=0, act_min=lo, act_max=hi)
    got = _both(kernel, a, b, **p)
    assert got.shape == want.shape and want.dtype == np.int16
    if op == "MUL":
        x, y = np.broadcast_arrays(a.astype(np.int64), b.astype(np.int64))
        product = x * y
        defined = np.abs(product) * 2 ** max(p["output_shift"], 0) <= INT32_MAX
        np.testing.assert_array_equal(got[defined], want[defined])
        # where TFLite's int32 left shift overflows, microflat saturates it: the clamp bound of the product's sign
        np.testing.assert_array_equal(got[~defined], np.where(product[~defined] > 0, hi, lo))
    else:
        np.testing.assert_array_equal(got, want)


def test_builder_int16_constants_match_litert_generated_schema():
    schema = pytest.importorskip("ai_edge_litert.schema_py_generated")
    _, _, T = _litert()
    assert schema.TensorType.INT16 == T.TENSOR_TYPE["int16"]
    assert schema.AddOptionsT().potScaleInt16 is True and schema.SubOptionsT().potScaleInt16 is True  # the default
