"""Fixed-point helpers and quantize_multiplier: Numba and C against the int64 reference."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from microflat.testing import int_reference as ref
from microflat.kernels import (
    dequantize,
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_int64,
    quantize,
    quantize_multiplier,
    quantize_multipliers,
    requantize,
    requantize_int64,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
)
from microflat.kernels import native
from microflat.kernels.numerics import multiply_by_quantized_multiplier_single_rounding

INT32 = st.one_of(
    st.sampled_from([ref.INT32_MIN, ref.INT32_MIN + 1, -1, 0, 1, 2**30, ref.INT32_MAX]),
    st.integers(ref.INT32_MIN, ref.INT32_MAX),
)
MULT = st.one_of(st.sampled_from([0, 1, 2**30, ref.INT32_MAX]), st.integers(0, ref.INT32_MAX))
SHIFT = st.integers(-31, 30)


@pytest.fixture(scope="module")
def c():
    return native.load()[1]


@given(a=INT32, b=INT32)
@example(a=ref.INT32_MIN, b=ref.INT32_MIN)  # the one saturating case
def test_saturating_rounding_doubling_high_mul(c, a, b):
    expected = int(ref.srdhm(a, b))
    assert saturating_rounding_doubling_high_mul(a, b) == expected
    assert c.saturating_rounding_doubling_high_mul(a, b) == expected


@given(x=INT32, exponent=st.integers(0, 31))
def test_rounding_divide_by_pot(c, x, exponent):
    expected = int(ref.rounding_divide_by_pot(x, exponent))
    assert rounding_divide_by_pot(x, exponent) == expected
    assert c.rounding_divide_by_pot(x, exponent) == expected


@given(x=INT32, mult=MULT, shift=SHIFT)
@example(x=ref.INT32_MAX, mult=ref.INT32_MAX, shift=30)  # left shift saturates
@example(x=ref.INT32_MIN, mult=ref.INT32_MAX, shift=30)
def test_multiply_by_quantized_multiplier(c, x, mult, shift):
    expected = int(ref.multiply_by_quantized_multiplier(x, mult, shift))
    assert multiply_by_quantized_multiplier(x, mult, shift) == expected
    assert c.multiply_by_quantized_multiplier(x, mult, shift) == expected
    assert c.mf_multiply_by_quantized_multiplier_reference(x, mult, shift) == expected


ACC64 = st.one_of(st.sampled_from([-(2**47) + 1, -1, 0, 1, 2**47 - 1]), st.integers(-(2**47) + 1, 2**47 - 1),
                  st.integers(-(2**20), 2**20))
MULT_REDUCED_EDGES = st.sampled_from([0, 2**15 - 1, 2**15, 2**30, 0x7FFEFFFF, 0x7FFF0000, ref.INT32_MAX])


@given(x=ACC64, mult=st.one_of(MULT, MULT_REDUCED_EDGES), shift=st.integers(-31, 7))
@example(x=2**47 - 1, mult=ref.INT32_MAX, shift=7)  # the quotient leaves int32 and wraps, as TFLite's cast
@example(x=-1, mult=2**30, shift=0)  # -1 * 2^14 / 2^15 = -1/2: the tie rounds up, to 0 (not away from zero)
def test_multiply_by_quantized_multiplier_int64(c, x, mult, shift):
    expected = int(ref.multiply_by_quantized_multiplier_int64(x, mult, shift))
    assert multiply_by_quantized_multiplier_int64(x, mult, shift) == expected
    assert c.multiply_by_quantized_multiplier_int64(x, mult, shift) == expected


@given(x=INT32, mult=MULT, shift=SHIFT)
@example(x=5, mult=2**30, shift=-1)  # 5/4: 1, where TFLite Micro's two roundings give 2
@example(x=-2, mult=2**30, shift=-1)  # -1/2: a tie, away from zero: -1
@example(x=ref.INT32_MIN, mult=ref.INT32_MAX, shift=30)  # saturates
def test_multiply_by_quantized_multiplier_single_rounding_of_an_int32_accumulator(c, x, mult, shift):
    expected = ref.multiply_by_quantized_multiplier_single_rounding(x, mult, shift)
    assert multiply_by_quantized_multiplier_single_rounding(x, mult, shift) == expected
    assert c.multiply_by_quantized_multiplier_single_rounding(x, mult, shift) == expected


@given(x=ACC64, mult=MULT, shift=st.integers(-31, 7))
@example(x=-(2**47) + 1, mult=ref.INT32_MAX, shift=-31)  # the split product's largest magnitude
@example(x=2**31 + 2**23, mult=2**30, shift=-17)  # just past the direct path: 2^55 + 2^47 over 2^48, a tie
def test_multiply_by_quantized_multiplier_single_rounding_of_a_16x8_accumulator(c, x, mult, shift):
    """|x| < 2^47 with shift <= 7 (the 16x8 domain): beyond 2^31 the product is split at bit 24."""
    expected = ref.multiply_by_quantized_multiplier_single_rounding(x, mult, shift)
    assert multiply_by_quantized_multiplier_single_rounding(x, mult, shift) == expected
    assert c.multiply_by_quantized_multiplier_single_rounding(x, mult, shift) == expected


@given(x=ACC64, mult=MULT, shift=st.integers(-31, 7), a=st.integers(-(2**15), 2**15 - 1),
       b=st.integers(-(2**15), 2**15 - 1))
def test_requantize_int64(c, x, mult, shift, a, b):
    lo, hi = min(a, b), max(a, b)
    expected = int(ref.requantize_int64(x, mult, shift, lo, hi))
    assert requantize_int64(x, mult, shift, lo, hi) == expected
    assert c.requantize_int64(x, mult, shift, lo, hi) == expected


@given(x=INT32, mult=INT32, shift=SHIFT)
@example(x=ref.INT32_MIN, mult=ref.INT32_MIN, shift=-1)  # srdhm's saturating case, which the fused path excludes
@example(x=ref.INT32_MIN, mult=ref.INT32_MIN + 1, shift=-31)
def test_c_multiply_by_quantized_multiplier_with_any_multiplier(c, x, mult, shift):
    """The loader allows multipliers in [0, 2^31); the C function is exact for negative ones too."""
    expected = int(ref.multiply_by_quantized_multiplier(x, mult, shift))
    assert c.multiply_by_quantized_multiplier(x, mult, shift) == expected


def test_multiply_by_quantized_multiplier_on_every_tie_of_both_roundings(c):
    """Small multipliers and shifts make both roundings land on ties often; the C
    kernels fuse the two (numerics.h derives it), so every x in three windows
    (around 0 and both int32 limits) is compared for each pair."""
    xs = np.concatenate([np.arange(-3000, 3001), np.arange(ref.INT32_MIN, ref.INT32_MIN + 600),
                         np.arange(ref.INT32_MAX - 600, ref.INT32_MAX + 1)]).astype(np.int64)
    for mult in (1, 3, 2**30, 2**30 + 1, 3 * 2**29, ref.INT32_MAX):
        for shift in range(-13, 1):
            expected = ref.multiply_by_quantized_multiplier(xs, mult, shift)
            for f in (c.multiply_by_quantized_multiplier, c.mf_multiply_by_quantized_multiplier_reference):
                got = np.array([f(int(x), mult, shift) for x in xs])
                assert np.array_equal(got, expected), (f, mult, shift)
    for shift in (-31, -30, -29):
        expected = ref.multiply_by_quantized_multiplier(xs, ref.INT32_MAX, shift)
        got = np.array([c.multiply_by_quantized_multiplier(int(x), ref.INT32_MAX, shift) for x in xs])
        assert np.array_equal(got, expected), shift


@given(acc=INT32, mult=MULT, shift=SHIFT, zp=st.integers(-128, 127), lo=st.integers(-128, 127), hi=st.integers(-128, 127))
def test_requantize(c, acc, mult, shift, zp, lo, hi):
    lo, hi = min(lo, hi), max(lo, hi)
    expected = int(ref.requantize(acc, mult, shift, zp, lo, hi))
    assert requantize(acc, mult, shift, zp, lo, hi) == expected
    assert c.requantize(acc, mult, shift, zp, lo, hi) == expected


@st.composite
def requantize_blocks(draw):
    """A block of accumulators for requantize_rows: 1 or 2 rows of channels [first, end) of `channels`, with
    per-tensor or per-channel multipliers whose shifts take the fused and the unfused path, mixed within a
    block, and either the int8 range (no activation, the SSAT case) or a random clamp."""
    rows = draw(st.integers(1, 2))
    channels = draw(st.integers(1, 12))
    first = draw(st.integers(0, channels - 1))
    end = draw(st.integers(first + 1, channels))
    per_channel = draw(st.booleans())
    n_q = channels if per_channel else 1
    mult = draw(st.lists(MULT, min_size=n_q, max_size=n_q))
    shift = draw(st.lists(st.one_of(st.integers(-31, -1), SHIFT), min_size=n_q, max_size=n_q))
    sums = draw(st.lists(INT32, min_size=rows * (end - first), max_size=rows * (end - first)))
    zp = draw(st.integers(-128, 127))
    lo, hi = sorted(draw(st.sampled_from([(-128, 127), None])) or draw(st.tuples(st.integers(-128, 127), st.integers(-128, 127))))
    return rows, channels, first, end, per_channel, mult, shift, sums, zp, lo, hi


@given(block=requantize_blocks())
def test_c_requantize_rows_equals_requantize_of_each_accumulator(c, block):
    """The matrix kernels' output stage (kernels/requantize.c) against the int64 reference, one value at a
    time; output bytes outside the block stay untouched."""
    rows, channels, first, end, per_channel, mult, shift, sums, zp, lo, hi = block
    from microflat.kernels.native import load
    ffi = load()[0]
    n = end - first
    out_row = channels + 3
    out = np.full(rows * out_row, 77, np.int8)
    sums_a = np.array(sums, np.int32)
    c.mf_requantize_rows(ffi.from_buffer("int32_t[]", sums_a), n, rows, first, end,
                      ffi.from_buffer("int32_t[]", np.array(mult, np.int32)),
                      ffi.from_buffer("int8_t[]", np.array(shift, np.int8)), int(per_channel), zp, lo, hi,
                      ffi.from_buffer("int8_t[]", out), out_row)
    expected = np.full(rows * out_row, 77, np.int8)
    for r in range(rows):
        for ch in range(first, end):
            q = ch if per_channel else 0
            expected[r * out_row + ch] = ref.requantize(sums[r * n + ch - first], mult[q], shift[q], zp, lo, hi)
    assert np.array_equal(out, expected)


positive_reals = st.one_of(
    st.floats(min_value=2.0**-40, max_value=2.0**30 - 1.0, allow_subnormal=False),
    st.sampled_from([2.0**-32, 2.0**-33, 1.0 - 2.0**-33, 0.5, 1.0, 2.0**30 - 1.0]),
)


@given(real=positive_reals)
def test_quantize_multiplier_matches_exact_rational_reference(real):
    assert quantize_multiplier(real) == ref.quantize_multiplier_exact(real)


@given(real=positive_reals)
def test_quantize_multiplier_error_is_half_a_q31_step(real):
    """|mult * 2^(shift-31) - M| <= 2^(shift-32) <= M * 2^-31, mult normalized to [2^30, 2^31)."""
    mult, shift = quantize_multiplier(real)
    if mult == 0:  # flushed: M below 2^-32 (within rounding)
        assert shift == 0 and real < 2.0**-31
        return
    assert 2**30 <= mult < 2**31 and -31 <= shift <= 30
    err = abs(math.ldexp(mult, shift - 31) - real)
    assert err <= math.ldexp(1.0, shift - 32)
    assert err <= real * 2.0**-31 * (1 + 1e-12)


def test_quantize_multiplier_edge_cases():
    assert quantize_multiplier(0.0) == (0, 0)
    assert quantize_multiplier(0.5) == (2**30, 0)
    assert quantize_multiplier(1.0) == (2**30, 1)
    assert quantize_multiplier(0.25) == (2**30, -1)
    assert quantize_multiplier(0.75) == (3 * 2**29, 0)
    # q = 1 - 2^-40 rounds up to 2^31 in Q31: renormalized to 2^30 with shift + 1.
    assert quantize_multiplier(1.0 - 2.0**-40) == (2**30, 1)
    # 2^-40 needs shift -39 < -31: flushed to zero, as TFLite.
    assert quantize_multiplier(2.0**-40) == (0, 0)
    assert quantize_multiplier(2.0**-32) == (2**30, -31)
    # Just below 2^30, q rounds up to 2^31 and the shift would be 31: refused.
    for bad in (-0.5, math.nan, math.inf, 2.0**30, 2.0**30 - 2.0**-20):
        with pytest.raises(ValueError, match="real_multiplier"):
            quantize_multiplier(bad)


def test_quantize_multipliers_per_channel():
    mult, shift = quantize_multipliers([0.5, 0.25, 0.0])
    assert mult.dtype == np.int32 and shift.dtype == np.int32
    assert mult.tolist() == [2**30, 2**30, 0] and shift.tolist() == [0, -1, 0]


@given(
    values=st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=50),
    scale=st.floats(1e-3, 10.0),
    zp=st.integers(-128, 127),
)
def test_quantize_is_nearest_ties_away_then_saturated(values, scale, zp):
    """q = clamp(round_half_away(v / scale) + zp), the quotient rounded exactly (Fraction)."""
    x = np.array(values, dtype=np.float64)
    q = quantize(x, scale, zp)
    assert q.dtype == np.int8
    for v, got in zip(x.tolist(), q.tolist()):
        t = Fraction(v / scale)  # the division is float64 for float64 input, by definition
        magnitude = math.floor(abs(t))
        if abs(t) - magnitude >= Fraction(1, 2):
            magnitude += 1
        expected = min(max((magnitude if t >= 0 else -magnitude) + zp, -128), 127)
        assert got == expected


@given(values=st.lists(st.floats(-300, 300, width=32), min_size=1, max_size=20), scale=st.floats(0.0078125, 4.0, width=32))
def test_quantize_divides_float32_input_in_float32(values, scale):
    """As TFLite's Quantize: float32 input is divided by a float32 scale in float32."""
    x = np.array(values, dtype=np.float32)
    expected = []
    for v in x:
        t = Fraction(float(np.float32(v) / np.float32(scale)))
        magnitude = math.floor(abs(t)) + (1 if abs(t) - math.floor(abs(t)) >= Fraction(1, 2) else 0)
        expected.append(min(max(magnitude if t >= 0 else -magnitude, -128), 127))
    assert quantize(x, scale, 0).tolist() == expected


def test_quantize_ties_and_saturation():
    # Ties go away from zero (numpy's np.round would give 0, 2, -2).
    assert quantize(np.array([0.5, 2.5, -2.5, -0.5]), 1.0, 0).tolist() == [1, 3, -3, -1]
    assert quantize(np.array([1e9, -1e9, np.inf, -np.inf]), 1.0, 0).tolist() == [127, -128, 127, -128]
    with pytest.raises(ValueError, match="NaN"):
        quantize(np.array([np.nan]), 1.0, 0)
    with pytest.raises(ValueError, match="scale"):
        quantize(np.array([1.0]), 0.0, 0)


@given(q=st.lists(st.integers(-128, 127), min_size=1, max_size=50), scale=st.floats(1e-3, 10.0), zp=st.integers(-128, 127))
def test_dequantize_then_quantize_round_trips(q, scale, zp):
    q = np.array(q, dtype=np.int8)
    r = dequantize(q, scale, zp, dtype=np.float64)
    np.testing.assert_array_equal(r, scale * (q.astype(np.float64) - zp))
    np.testing.assert_array_equal(quantize(r, scale, zp), q)
