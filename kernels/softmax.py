"""Softmax over the last axis: TFLite's int8 reference Softmax (gemmlowp fixed-point exp), and its int16 form
(SoftmaxInt16, two 513-entry tables), below.

int8: the output quantization is fixed: scale 1/256, zero point -128, so y_q = 256 p - 128.

Numerics, per row of ``depth`` values:
  1. d = x - max(row) in [-255, 0]. Values with d < diff_min contribute 0
     and output -128.
  2. d is rescaled to Q5.26: r = srdhm(d * 2^left_shift, beta_mult), the
     encoding of beta * s_in * 2^26 * d (preprocess_softmax_scaling).
     diff_min guarantees |d| * 2^left_shift <= 31 * 2^26, so the shift fits.
  3. e = exp_on_negative_values(r) in Q0.31; the sum of e over the row is
     accumulated in Q12.19 (each e rounded by 2^-12): at most depth * 2^19,
     so depth < 4096 keeps it inside int32.
  4. The reciprocal of the sum: with z = clz(sum), the sum is 2^(12-z) * (1 + f),
     f in [0, 1); 1/(1+f) comes from one_over_one_plus_x_for_x_in_0_1.
  5. y = rdbp(srdhm(1/(1+f), e), (12 - z) + 31 - 8) - 128, clamped to int8:
     e / sum * 2^8 - 128. The exponent can exceed 31 only when the quotient
     is below 2^-32, which rounds to 0 (gemmlowp would shift by >= 32, which
     is undefined in C); microflat returns that 0 explicitly.

int16 (softmax_s16; docs/RECURRENT.md section 2 is the specification): input int16 with zero point 0, output
Q0.15 (scale 1/32768, zero point 0). Prepare (softmax_s16_params): (M, s) = QuantizeMultiplier(s_in beta /
(10 / 65535)), which maps an input difference in [-65535, 0] to [-10, 0] on the exp table's int16 grid. Two
513-entry tables (TFLite's LUTPopulateInt16 in double, softmax_s16_tables): exp on [-10, 0] and 1 / (1 + x) on
[0, 1], both at output scale 2 / 65535 (values times 32768). lut_lookup_s16(v, T), v int16: the top 9 bits
index, the low 7 interpolate: T[i] + ((T[i+1] - T[i]) (v & 127) + 64) >> 7 with i = 256 + (v >> 7) in [0, 511].
Per row of ``depth`` values:
  1. d = x - max(row) in [-65535, 0]; t = sat16(multiply_by_quantized_multiplier(d, M, s) + 32767);
     e = lut_lookup_s16(t, exp) in [2, 32762] (exp in Q0.15, the table's ends), cached in the output row.
  2. S = sum of e: at most depth * 32762, below 2^31 for depth <= SOFTMAX_S16_MAX_DEPTH = 65535.
  3. hp = clz(S) in [1, 17] (S >= 32762 > 2^14); the sum normalized to 17 bits,
     ss = (S 2^(hp - 1) + 2^13) >> 14 in [2^16, 2^17], and u = sat16(ss - 98304): S / 2^(31 - hp) - 1 recentred
     from [0, 1] to the table's [-32768, 32767].
  4. rc = lut_lookup_s16(u, 1 / (1 + x)) ~ 2^(31 - hp) / S in Q0.15; y = clamp((e rc + 2^(k-1)) >> k, 0, 32767)
     with k = 31 - hp in [14, 30]: e / S in Q0.15 (e rc <= 32767^2 < 2^30 in int64).
Bounds: s in [-31, SOFTMAX_S16_LEFT_SHIFT_MAX = 15], so the left shift of |d| <= 65535 stays below
65535 * 2^15 < 2^31 (TFLite shifts in int32 and would overflow above; numerics' saturation never acts), and M in
[0, 2^31). The tables are constants whose consecutive entries differ by at most 634 (exp) and 64 (1 / (1 + x)),
so every slope, product and sum of lut_lookup_s16 stays inside int16 (TFLite's int16 intermediates never wrap).
The output row may be the input row (each x is read once, before its e is written): the kernel runs in place.

C twin: softmax.c, its tables in the generated softmax_s16_tables.h
(python -m microflat.kernels.softmax > kernels/softmax_s16_tables.h).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types

from . import _checks
from ._dispatch import check_backend, run_kernel
from ._jit import kernel
from .numerics import (
    INT32_MAX,
    SHIFT_MIN,
    count_leading_zeros,
    exp_on_negative_values,
    multiply_by_quantized_multiplier,
    one_over_one_plus_x_for_x_in_0_1,
    quantize_multiplier,
    round_half_away_from_zero,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
    wrapping_add,
)

_i32 = types.int32

SCALED_DIFF_INTEGER_BITS = 5
ACCUMULATION_INTEGER_BITS = 12
SOFTMAX_MAX_DEPTH = 4095
SOFTMAX_OUTPUT_SCALE = 1.0 / 256.0
SOFTMAX_OUTPUT_ZP = -128


def softmax_input_radius(input_left_shift: int) -> int:
    """Largest |d| whose rescaled value fits Q5.26: floor((2^5 - 1) * 2^26 / 2^left_shift)."""
    return ((1 << SCALED_DIFF_INTEGER_BITS) - 1) * (1 << (31 - SCALED_DIFF_INTEGER_BITS)) >> input_left_shift


def preprocess_softmax_scaling(beta: float, input_scale: float) -> tuple[int, int, int]:
    """(input_beta_mult, input_left_shift, diff_min) for softmax_s8, as TFLite's PreprocessSoftmaxScaling.

    The real multiplier beta * s_in * 2^26 (capped at 2^31 - 1) is encoded as
    mult * 2^(left_shift - 31) with left_shift in [0, 31]; diff_min is minus
    the input radius. Raises ValueError when beta * s_in is so small that the
    multiplier is below 1 (left_shift would be negative).
    """
    real = min(beta * input_scale * float(1 << (31 - SCALED_DIFF_INTEGER_BITS)), float(2**31 - 1))
    if not (real >= 1.0 and math.isfinite(real)):
        raise ValueError(f"softmax: beta * input_scale = {beta * input_scale!r} is too small (or not finite)")
    q, shift = math.frexp(real)
    mult = int(q * (1 << 31) + 0.5)  # q * 2^31 > 0: round half up = away from zero
    if mult == 1 << 31:
        mult //= 2
        shift += 1
    return mult, shift, -softmax_input_radius(shift)


@kernel(
    types.void(
        _i32, _i32,  # outer (rows), depth
        _i32, _i32, _i32,  # input_beta_mult, input_left_shift, diff_min
        types.int8[::1], types.int8[::1],  # input, output
    )
)
def softmax_s8(outer, depth, input_beta_mult, input_left_shift, diff_min, input, output):
    """The jitted kernel; trusts its caller."""
    for row in range(outer):
        base = row * depth
        max_in_row = np.int32(-128)
        for c in range(depth):
            max_in_row = max(max_in_row, np.int32(input[base + c]))
        sum_of_exps = np.int32(0)  # Q12.19
        for c in range(depth):
            d = np.int32(input[base + c]) - max_in_row
            if d >= diff_min:
                r = saturating_rounding_doubling_high_mul(np.int32(np.int64(d) << input_left_shift), input_beta_mult)
                e = exp_on_negative_values(r)
                sum_of_exps = wrapping_add(sum_of_exps, rounding_divide_by_pot(e, np.int32(ACCUMULATION_INTEGER_BITS)))
        headroom_plus_one = count_leading_zeros(np.uint32(sum_of_exps))
        num_bits_over_unit = ACCUMULATION_INTEGER_BITS - headroom_plus_one
        shifted_sum_minus_one = np.int32(
            np.int64((np.uint32(sum_of_exps) << np.uint32(headroom_plus_one)) & np.uint32(0xFFFFFFFF)) - (1 << 31)
        )
        shifted_scale = one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one)
        exponent = num_bits_over_unit + 31 - 8
        for c in range(depth):
            d = np.int32(input[base + c]) - max_in_row
            if d >= diff_min:
                r = saturating_rounding_doubling_high_mul(np.int32(np.int64(d) << input_left_shift), input_beta_mult)
                e = exp_on_negative_values(r)
                p = saturating_rounding_doubling_high_mul(shifted_scale, e)
                unsat = rounding_divide_by_pot(p, np.int32(exponent)) if exponent <= 31 else np.int32(0)
                output[base + c] = np.int8(min(max(np.int64(unsat) - 128, -128), 127))
            else:
                output[base + c] = np.int8(-128)


def softmax(input: np.ndarray, *, input_beta_mult: int, input_left_shift: int, diff_min: int,
            backend: str = "numba") -> np.ndarray:
    """int8 softmax over the last axis, TFLite's int8 reference; output scale 1/256, zero point -128.

    ``preprocess_softmax_scaling(beta, input_scale)`` gives the three parameters.
    """
    fn = "softmax"
    check_backend(fn, backend)
    if not isinstance(input, np.ndarray) or input.ndim < 1:
        raise ValueError(f"{fn}: input must be a numpy array with at least one dimension")
    x = _checks.array(fn, "input", input, np.int8, input.ndim)
    if x.size == 0:
        raise ValueError(f"{fn}: input {x.shape} is empty")
    depth = x.shape[-1]
    if depth > SOFTMAX_MAX_DEPTH:
        raise ValueError(f"{fn}: depth {depth} exceeds {SOFTMAX_MAX_DEPTH}; the Q12.19 sum could overflow")
    m = _checks.integer(fn, "input_beta_mult", input_beta_mult, 0, INT32_MAX)
    ls = _checks.integer(fn, "input_left_shift", input_left_shift, 0, 31)
    dm = _checks.integer(fn, "diff_min", diff_min, -(2**31), 0)
    if dm < -softmax_input_radius(ls):
        raise ValueError(f"{fn}: diff_min {dm} is below -{softmax_input_radius(ls)}; the rescaled difference could overflow")
    out = np.empty_like(x)
    run_kernel(backend, softmax_s8, outer=x.size // depth, depth=depth, input_beta_mult=m, input_left_shift=ls,
               diff_min=dm, input=x.reshape(-1), output=out.reshape(-1))
    return out


# --- int16: TFLite's SoftmaxInt16 ---------------------------------------------------------------------------------

SOFTMAX_S16_MAX_DEPTH = 65535  # the int32 sum of the exps: 65535 * 32762 < 2^31
SOFTMAX_S16_LEFT_SHIFT_MAX = 15  # 65535 * 2^15 < 2^31: the scaled difference's left shift stays inside int32
SOFTMAX_S16_OUTPUT_SCALE = 1.0 / 32768.0
SOFTMAX_S16_OUTPUT_ZP = 0
S16_LUT_ENTRIES = 513
_INT16_RANGE = 65535  # TFLite's range: int16 max - min
# (sum, CRC-32 of the little-endian int16 bytes) of the two tables, as RECURRENT.md 2.1 recomputed them
EXP_LUT_CHECKS = (1_694_030, 0xAC7DFFAA)
ONE_OVER_ONE_PLUS_X_LUT_CHECKS = (11_653_643, 0xADF81625)


def lut_populate_s16(f, input_scale: float, input_zp: int, output_scale: float, output_zp: int) -> np.ndarray:
    """TFLite's LUTPopulateInt16 in double (its FloatT = double form): 512 samples of f over the int16 input range,
    each corrected by half the interpolation error at its segment's midpoint, plus the last sample for the last
    slope; clamped to int16. Python floats are C doubles and math.exp is the C library's exp, so every operation
    is the one TFLite's loop performs, in the same order; std::round is numerics' round_half_away_from_zero."""
    def _round_half_away(v: float) -> float:
        return float(round_half_away_from_zero(np.float64(v)))

    input_min = input_scale * float(-32768 - input_zp)
    input_max = input_scale * float(32767 - input_zp)
    output_min = output_scale * float(-32768 - output_zp)
    output_max = output_scale * float(32767 - output_zp)
    step = (input_max - input_min) / 512.0
    half_step = step / 2.0
    scaling = 65536.0 / (output_max - output_min)
    lut = np.empty(S16_LUT_ENTRIES, np.int16)
    for i in range(512):
        val = f(input_min + i * step)
        val_midpoint = f(input_min + i * step + half_step)
        val_next = f(input_min + (i + 1) * step)
        sample = _round_half_away(val * scaling)
        midpoint_interp = _round_half_away((val_next * scaling + _round_half_away(val * scaling)) / 2.0)
        midpoint = _round_half_away(val_midpoint * scaling)
        bias = _round_half_away((midpoint_interp - midpoint) / 2.0)
        lut[i] = int(min(max(sample - bias, -32768.0), 32767.0))
    lut[512] = int(min(max(_round_half_away(f(input_max) * scaling), -32768.0), 32767.0))
    return lut


def softmax_s16_tables() -> tuple[np.ndarray, np.ndarray]:
    """(exp table, 1 / (1 + x) table) of TFLite's int16 SoftmaxPrepare: exp on [-10, 0] (input scale 10 / 65535,
    zero point 32767) and 1 / (1 + x) on [0, 1] (1 / 65535, zero point -32768), both at output scale 2 / 65535."""
    exp_lut = lut_populate_s16(math.exp, 10.0 / _INT16_RANGE, 32767, 2.0 / _INT16_RANGE, 0)
    one_over = lut_populate_s16(lambda v: 1.0 / (1.0 + v), 1.0 / _INT16_RANGE, -32768, 2.0 / _INT16_RANGE, 0)
    return exp_lut, one_over


EXP_LUT_S16, ONE_OVER_ONE_PLUS_X_LUT_S16 = softmax_s16_tables()


def softmax_s16_params(input_scale: float, beta: float = 1.0) -> tuple[int, int]:
    """(input_multiplier, input_left_shift) of int16 softmax: QuantizeMultiplier(s_in beta / (10 / 65535)), as
    TFLite's SoftmaxPrepare computes it (activations.cc: the float32 scale times the float32 beta, a float product,
    then divided in double; TFLite Micro multiplies the two in double instead, which differs only in the last bit of
    a product that is not exact: beta 1, the compiler's, is exact either way). Raises ValueError where the shift
    would exceed SOFTMAX_S16_LEFT_SHIFT_MAX (s_in beta >= 2^15 / 6553.5, about 5: TFLite's int32 shift would
    overflow)."""
    product = float(np.float32(input_scale) * np.float32(beta))
    if not (product > 0 and math.isfinite(product)):
        raise ValueError(f"softmax_s16_params: input_scale * beta must be finite and > 0, got {product!r}")
    mult, shift = quantize_multiplier(product / (10.0 / _INT16_RANGE))
    if shift > SOFTMAX_S16_LEFT_SHIFT_MAX:
        raise ValueError(f"softmax_s16_params: input_scale * beta = {product!r} needs input_left_shift {shift}, "
                         f"above {SOFTMAX_S16_LEFT_SHIFT_MAX}: 65535 * 2^shift would leave int32")
    return mult, shift


@njit(inline="always", cache=True, nogil=True)
def lut_lookup_s16(value, lut):
    """TFLite's int16 table lookup (generic_int16_table_lookup) of an int16 value (an int64 holding it) in a
    513-entry table: lut[i] + ((lut[i+1] - lut[i]) * (value & 127) + 64) >> 7, i = 256 + (value >> 7). On the
    softmax tables every intermediate lies inside int16 (module docstring), so no int16 wrap is taken."""
    index = 256 + (value >> 7)
    base = np.int64(lut[index])
    slope = np.int64(lut[index + 1]) - base
    return base + ((slope * (value & 127) + 64) >> 7)


@kernel(
    types.void(
        _i32, _i32,  # outer (rows), depth
        _i32, _i32,  # input_multiplier, input_left_shift
        types.int16[::1], types.int16[::1],  # input, output
    )
)
def softmax_s16(outer, depth, input_multiplier, input_left_shift, input, output):
    """The jitted kernel; trusts its caller (depth <= 65535, input_left_shift <= 15)."""
    for row in range(outer):
        base = row * depth
        max_in_row = np.int32(-32768)
        for c in range(depth):
            max_in_row = max(max_in_row, np.int32(input[base + c]))
        sum_of_exps = np.int64(0)  # < 2^31: Q16.15
        for c in range(depth):
            d = np.int32(np.int32(input[base + c]) - max_in_row)  # [-65535, 0]
            t = np.int64(multiply_by_quantized_multiplier(d, input_multiplier, input_left_shift)) + 32767
            t = min(max(t, np.int64(-32768)), np.int64(32767))
            e = lut_lookup_s16(t, EXP_LUT_S16)
            output[base + c] = np.int16(e)
            sum_of_exps += e
        headroom_plus_one = np.int64(count_leading_zeros(np.uint32(sum_of_exps)))
        shifted_sum = ((sum_of_exps << (headroom_plus_one - 1)) + (1 << 13)) >> 14  # [2^16, 2^17]
        u = min(max(shifted_sum - 98304, np.int64(-32768)), np.int64(32767))
        reciprocal = lut_lookup_s16(u, ONE_OVER_ONE_PLUS_X_LUT_S16)  # Q0.15
        right_shift = 31 - headroom_plus_one  # [14, 30]
        for c in range(depth):
            y = (np.int64(output[base + c]) * reciprocal + (np.int64(1) << (right_shift - 1))) >> right_shift
            output[base + c] = np.int16(min(max(y, np.int64(0)), np.int64(32767)))


def softmax_int16(input: np.ndarray, *, input_multiplier: int, input_left_shift: int,
                  backend: str = "numba") -> np.ndarray:
    """int16 softmax over the last axis (input zero point 0), TFLite's SoftmaxInt16; output Q0.15 (scale 1/32768,
    zero point 0). ``softmax_s16_params(input_scale, beta)`` gives the two parameters."""
    fn = "softmax_int16"
    check_backend(fn, backend)
    if not isinstance(input, np.ndarray) or input.ndim < 1:
        raise ValueError(f"{fn}: input must be a numpy array with at least one dimension")
    x = _checks.array(fn, "input", input, np.int16, input.ndim)
    if x.size == 0:
        raise ValueError(f"{fn}: input {x.shape} is empty")
    depth = x.shape[-1]
    if depth > SOFTMAX_S16_MAX_DEPTH:
        raise ValueError(f"{fn}: depth {depth} exceeds {SOFTMAX_S16_MAX_DEPTH}; the int32 sum could overflow")
    m = _checks.integer(fn, "input_multiplier", input_multiplier, 0, INT32_MAX)
    ls = _checks.integer(fn, "input_left_shift", input_left_shift, SHIFT_MIN, SOFTMAX_S16_LEFT_SHIFT_MAX)
    out = np.empty_like(x)
    run_kernel(backend, softmax_s16, outer=x.size // depth, depth=depth, input_multiplier=m, input_left_shift=ls,
               input=x.reshape(-1), output=out.reshape(-1))
    return out


def softmax_s16_tables_header() -> str:
    """kernels/softmax_s16_tables.h: the two tables as C arrays, generated from softmax_s16_tables()."""
    def array(name, lut, checks, what):
        rows = [", ".join(str(int(v)) for v in lut[i:i + 16]) for i in range(0, len(lut), 16)]
        body = ",\n    ".join(rows)
        return (f"/* {what}: sum {checks[0]:,}, CRC-32 0x{checks[1]:08x} */\n"
                f"static const int16_t {name}[{S16_LUT_ENTRIES}] = {{\n    {body}\n}};\n")
    exp_lut, one_over = softmax_s16_tables()
    return (
        "/*\n"
        " * The two 513-entry tables of the int16 softmax (mf_softmax_s16), TFLite's LUTPopulateInt16 in double.\n"
        " * Generated by softmax.py's softmax_s16_tables_header; do not edit:\n"
        " *     python -m microflat.kernels.softmax > kernels/softmax_s16_tables.h\n"
        " * tests/test_kernels_s16_activations.py regenerates it and compares.\n"
        " */\n"
        "#ifndef MICROFLAT_SOFTMAX_S16_TABLES_H\n"
        "#define MICROFLAT_SOFTMAX_S16_TABLES_H\n\n"
        "#include <stdint.h>\n\n"
        + array("mf_softmax_s16_exp_lut", exp_lut, EXP_LUT_CHECKS, "exp(x) on [-10, 0], times 32768")
        + "\n"
        + array("mf_softmax_s16_one_over_one_plus_x_lut", one_over, ONE_OVER_ONE_PLUS_X_LUT_CHECKS,
                "1 / (1 + x) on [0, 1], times 32768")
        + "\n#endif /* MICROFLAT_SOFTMAX_S16_TABLES_H */\n"
    )


if __name__ == "__main__":
    print(softmax_s16_tables_header(), end="")
