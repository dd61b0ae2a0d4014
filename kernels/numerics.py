"""The integer arithmetic every microflat kernel shares.

This is Jacob et al. 2018 ("Quantization and Training of Neural Networks for
Efficient Integer-Arithmetic-Only Inference") as gemmlowp and TFLite implement
it, bit for bit. The C twin is ``numerics.h`` beside this file: same names,
same argument order, same results on every input.

Quantization. A real value r is represented by an integer q as

    r = scale * (q - zero_point)

with int8 activations (asymmetric, zero_point in [-128, 127]) and int8 weights
(symmetric, zero_point 0, q in [-127, 127]).

Requantization. A kernel accumulates sum((x - x_zp) * w) + bias exactly in
int32, at scale s_in * s_w. Its output needs scale s_out, so the accumulator is
multiplied by the real number M = s_in * s_w / s_out. M is known at compile
time and is stored as a Q31 fixed-point multiplier and a power-of-two exponent:

    M ~= mult * 2^(shift - 31),   mult in [2^30, 2^31) (or 0),  shift in [-31, 30]

Sign convention for ``shift``, stated once for all of microflat: it is the
exponent of 2, as in TFLite. shift > 0 shifts left, shift < 0 shifts right.

Rounding mode: TFLite's default ("double rounding"), the only one microflat
has. The file format records it so that a future mode cannot be confused with
this one.

Functions decorated with ``njit`` run inside the kernels; they take and return
int32 and compute in int64 where an intermediate needs 64 bits. Numba promotes
int32 arithmetic to int64, so every narrowing back to int32 below is explicit
and is justified by a range argument in the comment beside it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

# Range of `shift` accepted everywhere (file format, kernels, quantize_multiplier).
# -31: one more right shift would discard every bit of a Q31 product.
# 30: a left shift of 31 would overflow `1 << left_shift` in C's int.
SHIFT_MIN = -31
SHIFT_MAX = 30

ROUNDING_MODE = "double_rounding"


def quantize_multiplier(real_multiplier: float) -> tuple[int, int]:
    """Encode a real multiplier M >= 0 as (mult, shift), as TFLite's QuantizeMultiplier.

    Numerics:
      frexp splits M = q * 2^shift with q in [0.5, 1). Then
      mult = round_half_away_from_zero(q * 2^31), so mult in [2^30, 2^31].
      If rounding reaches 2^31 (q within 2^-32 of 1), halve it and add one to
      shift, which keeps the value: 2^31 * 2^(shift-31) = 2^30 * 2^(shift+1-31).
      The encoded value mult * 2^(shift-31) is within half a Q31 step of M:
      |mult * 2^(shift-31) - M| <= 2^(shift-32) <= M * 2^-31.

    Edge cases, as TFLite:
      M == 0: (0, 0).
      shift < -31 (M < about 2^-32): every product would be shifted out, so
      the multiplier is flushed to (0, 0), which yields 0 exactly.
    microflat additionally refuses, with ValueError:
      M < 0, NaN or infinite, and shift > 30 (M >= 2^30 * (1 - 2^-32), which
      rounds up to 2^30), for which TFLite's `x * (1 << left_shift)`
      overflows; no sane layer has such a multiplier.
    """
    m = float(real_multiplier)
    if math.isnan(m) or math.isinf(m) or m < 0.0:
        raise ValueError(f"real_multiplier must be finite and >= 0, got {real_multiplier!r}")
    if m == 0.0:
        return 0, 0
    q, shift = math.frexp(m)
    q_fixed = _round_half_away_from_zero_scalar(q * float(1 << 31))  # exact scaling by 2^31
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < SHIFT_MIN:
        return 0, 0
    if shift > SHIFT_MAX:
        raise ValueError(
            f"real_multiplier {m!r} is too large: it needs shift {shift}, "
            f"above the maximum {SHIFT_MAX}"
        )
    return int(q_fixed), int(shift)


def quantize_multipliers(real_multipliers) -> tuple[np.ndarray, np.ndarray]:
    """quantize_multiplier over an array (one multiplier per output channel).

    Returns (mult, shift) as two int32 arrays of the same length.
    """
    reals = np.asarray(real_multipliers, dtype=np.float64).reshape(-1)
    pairs = [quantize_multiplier(r) for r in reals]
    mult = np.array([p[0] for p in pairs], dtype=np.int32)
    shift = np.array([p[1] for p in pairs], dtype=np.int32)
    return mult, shift


def _round_half_away_from_zero_scalar(v: float) -> int:
    """std::round: nearest integer, ties away from zero (not Python's ties-to-even)."""
    t = math.trunc(v)
    frac = v - t  # exact: subtracting the integer part of a double loses nothing
    if frac >= 0.5:
        return t + 1
    if frac <= -0.5:
        return t - 1
    return t


def round_half_away_from_zero(values: np.ndarray) -> np.ndarray:
    """Elementwise std::round on a float array (numpy's np.round ties to even).

    ``v - trunc(v)`` is exact in binary floating point, so the tie test is
    exact; ``floor(v + 0.5)`` is not (0.49999999999999994 + 0.5 rounds to 1.0).
    """
    t = np.trunc(values)
    frac = values - t
    return t + (frac >= 0.5) - (frac <= -0.5)


def quantize(real: np.ndarray, scale: float, zero_point: int, dtype=np.int8) -> np.ndarray:
    """q = clamp(round_half_away_from_zero(r / scale) + zero_point), as TFLite's Quantize.

    The division is done in the input's floating type (float32 input divides
    in float32, as TFLite does), then rounded ties-away-from-zero and
    saturated to the range of ``dtype``.
    """
    real = np.asarray(real)
    if not np.issubdtype(real.dtype, np.floating):
        raise ValueError(f"quantize: real must be a float array, got {real.dtype}")
    if not (scale > 0.0 and math.isfinite(scale)):
        raise ValueError(f"quantize: scale must be finite and > 0, got {scale!r}")
    info = np.iinfo(dtype)
    if not info.min <= zero_point <= info.max:
        raise ValueError(f"quantize: zero_point must be in [{info.min}, {info.max}], got {zero_point}")
    if np.isnan(real).any():
        raise ValueError("quantize: real contains NaN")
    scaled = real / real.dtype.type(scale)
    with np.errstate(invalid="ignore"):  # inf - trunc(inf) is NaN; the clip below saturates inf
        rounded = round_half_away_from_zero(scaled.astype(np.float64))
    rounded = np.where(np.isinf(scaled), scaled, rounded)
    return np.clip(rounded + zero_point, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int, dtype=np.float32) -> np.ndarray:
    """r = scale * (q - zero_point), computed in ``dtype`` (float32 by default, as TFLite)."""
    q = np.asarray(q)
    if not np.issubdtype(q.dtype, np.integer):
        raise ValueError(f"dequantize: q must be an integer array, got {q.dtype}")
    return (dtype(scale) * (q.astype(np.int32) - np.int32(zero_point)).astype(dtype)).astype(dtype)


# ---------------------------------------------------------------------------
# Fixed-point helpers used inside the kernels (gemmlowp fixedpoint.h)
# ---------------------------------------------------------------------------

_i32 = types.int32


@njit(_i32(_i32, _i32), cache=True, nogil=True)
def saturating_rounding_doubling_high_mul(a, b):
    """The high 32 bits of 2*a*b, rounded to nearest: round(a * b / 2^31).

    Numerics:
      a, b are int32 and a*b is exact in int64 (|a*b| <= 2^62).
      gemmlowp adds a nudge of +2^30 (product >= 0) or 1 - 2^30 (product < 0)
      and divides by 2^31 truncating toward zero, as C's `/` does. For both
      signs this equals floor((a*b + 2^30) / 2^31): ties round toward +inf.
      The only result outside int32 is a == b == -2^31 (2^62 / 2^31 = 2^31),
      which saturates to 2^31 - 1.
    Instruction: ARM's SQRDMULH.
    """
    if a == b and a == INT32_MIN:
        return INT32_MAX
    ab = np.int64(a) * np.int64(b)
    if ab >= 0:
        nudge = np.int64(1 << 30)
    else:
        nudge = np.int64(1 - (1 << 30))
    t = ab + nudge
    # C's truncating division by 2^31; Numba's `//` would floor.
    if t >= 0:
        q = t >> 31
    else:
        q = -((-t) >> 31)
    return np.int32(q)  # |q| <= 2^31 - 1 once the one overflow case is excluded


@njit(_i32(_i32, _i32), cache=True, nogil=True)
def rounding_divide_by_pot(x, exponent):
    """x / 2^exponent, rounded to nearest, ties away from zero; exponent in [0, 31].

    Numerics (gemmlowp RoundingDivideByPOT):
      mask = 2^exponent - 1; remainder = x & mask is x mod 2^exponent in [0, mask].
      threshold = mask >> 1, plus one when x < 0.
      result = (x >> exponent) + (remainder > threshold), with >> the
      arithmetic (flooring) shift. For x >= 0 the +1 fires when the fraction
      is >= 1/2: ties go up. For x < 0 the floor already went down and the
      +1 fires only when the fraction is > 1/2: ties stay down. Hence ties
      round away from zero in both cases. No overflow: |result| <= 2^31 / 2^exponent
      rounded, which fits in int32 for every exponent >= 0.
    Instruction: ARM's SRSHR (rounding shift) with a sign fix-up.
    """
    x64 = np.int64(x)
    mask = (np.int64(1) << exponent) - 1
    remainder = x64 & mask  # x mod 2^exponent; the low bits of two's complement
    threshold = mask >> 1
    if x64 < 0:
        threshold += 1
    result = x64 >> exponent
    if remainder > threshold:
        result += 1
    return np.int32(result)


@njit(_i32(_i32, _i32, _i32), cache=True, nogil=True)
def multiply_by_quantized_multiplier(x, mult, shift):
    """x * mult * 2^(shift - 31), rounded twice: TFLite's default (double rounding).

    Numerics (TFLite MultiplyByQuantizedMultiplier):
      left_shift = max(shift, 0), right_shift = max(-shift, 0).
      1. x * 2^left_shift. TFLite computes this in int32 and leaves overflow
         undefined; microflat saturates it to int32, which is the same result
         wherever TFLite's is defined.
      2. saturating_rounding_doubling_high_mul(., mult): round(. * mult / 2^31),
         ties toward +inf.
      3. rounding_divide_by_pot(., right_shift): ties away from zero.
      The two roundings can differ from one correct rounding of x * M by one
      in the last place: 5 * 0.25 (mult 2^30, shift -1) gives 3 after step 2
      and 2 after step 3, where round(1.25) = 1. That is TFLite's arithmetic,
      kept for bit-exactness.
    Ranges: mult in [0, 2^31), shift in [-31, 30].
    """
    left_shift = shift if shift > 0 else 0
    right_shift = -shift if shift < 0 else 0
    shifted = np.int64(x) * (np.int64(1) << left_shift)  # |x| < 2^31, left <= 30: < 2^61
    if shifted > INT32_MAX:
        shifted = INT32_MAX
    elif shifted < INT32_MIN:
        shifted = INT32_MIN
    high = saturating_rounding_doubling_high_mul(np.int32(shifted), mult)
    return rounding_divide_by_pot(high, np.int32(right_shift))


@njit(_i32(_i32, _i32, _i32, _i32, _i32, _i32), cache=True, nogil=True)
def requantize(acc, mult, shift, output_zp, act_min, act_max):
    """The output stage of every int8 kernel: scale, add the zero point, clamp.

    out = clamp(multiply_by_quantized_multiplier(acc, mult, shift) + output_zp,
                act_min, act_max)

    The clamp to [act_min, act_max] (a sub-range of [-128, 127]) is how ReLU
    and ReLU6 are fused. The zero point is added in int64, so the sum cannot
    overflow even when the scaled value saturated at the int32 limits (TFLite
    adds in int32; the results agree wherever TFLite's is defined).
    """
    v = np.int64(multiply_by_quantized_multiplier(acc, mult, shift)) + output_zp
    if v < act_min:
        v = act_min
    elif v > act_max:
        v = act_max
    return np.int32(v)
