"""int8 softmax over the last axis: TFLite's int8 reference Softmax (gemmlowp fixed-point exp).

Output quantization is fixed: scale 1/256, zero point -128, so y_q = 256 p - 128.

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

C twin: softmax.c.
"""

from __future__ import annotations

import math

import numpy as np
from numba import types

from . import _checks
from ._dispatch import check_backend, run_kernel
from ._jit import kernel
from .numerics import (
    INT32_MAX,
    count_leading_zeros,
    exp_on_negative_values,
    one_over_one_plus_x_for_x_in_0_1,
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
