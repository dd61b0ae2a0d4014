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

from ._jit import kernel

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

# Range of `shift` accepted everywhere (file format, kernels, quantize_multiplier).
# -31: one more right shift would discard every bit of a Q31 product.
# 30: a left shift of 31 would overflow `1 << left_shift` in C's int.
SHIFT_MIN = -31
SHIFT_MAX = 30

ROUNDING_MODE = "double_rounding"
# |x - input_zp| of an int8 activation: x and input_zp both lie in [-128, 127].
MAX_CENTERED_INPUT = 255

# 16x8 layers (int16 activations with zero point 0, int8 weights, int64 accumulators and biases; TFLite's
# 16x8 mode): |x| <= 2^15, and TFLite's multiply_by_quantized_multiplier_int64 asserts its accumulator lies
# in [-2^47, 2^47) and its shift in [-31, 7] (the result of shift 8 or more would leave int32 at once).
MAX_S16_INPUT = 2**15
S16_ACCUMULATOR_MAX = 2**47 - 1
S16_SHIFT_MAX = 7


def weight_abs_sums(weights, channel_axis: int, zero_point: int = 0) -> np.ndarray:
    """sum |w - zero_point| over each output channel's weights (along ``channel_axis``), int64: the weight term
    of accumulator_overflow. zero_point is the weights' own (0 but for an asymmetric fully connected weight)."""
    w = np.asarray(weights, np.int64)
    centred = np.abs(w - int(zero_point)) if zero_point else np.abs(w)
    return np.moveaxis(centred, channel_axis, 0).reshape(w.shape[channel_axis], -1).sum(axis=1)


def accumulator_overflow(abs_weight_sums, bias=None, max_input=MAX_CENTERED_INPUT,
                         limit=INT32_MAX) -> tuple[int, int] | None:
    """The one accumulator rule of every weighted layer (conv, depthwise, fully connected): None when it holds,
    else (channel, bound) of the worst output channel.

    abs_weight_sums[c] = sum_k |w[c, k] - w_zp| (weight_abs_sums), w_zp the weights' zero point: 0 for
    symmetric weights (|w| <= 127), or an asymmetric fully connected weight's, where |w - w_zp| <= 255. Each
    product (x - input_zp) * (w - w_zp) has |x - input_zp| <= 255, so output channel c's int32 accumulator,
    and every partial sum of it, is at most 255 * sum_k |w[c, k] - w_zp| + |bias[c]| in magnitude, whatever
    the input; the kernels (int32 in C, and the SIMD tiles) rely on that bound being <= 2^31 - 1. The public
    kernels, both loaders and the compiler apply this function (the C loader its twin, weight_encoding.c's
    mf_weight_channel_bound, which sums |w - w_zp| the same way).

    A 16x8 layer passes max_input=MAX_S16_INPUT and limit=S16_ACCUMULATOR_MAX: its int64 accumulator,
    2^15 * sum_k |w[c, k]| + |bias[c]|, must stay inside multiply_by_quantized_multiplier_int64's domain.
    The weight term is below 2^15 * 127 * 2^31 = 2^53 in int64; a bias beyond 2^62 in magnitude fails every
    limit, so |bias| is capped there (INT64_MIN included) and the sum cannot wrap."""
    bound = max_input * np.asarray(abs_weight_sums, np.int64).reshape(-1)
    if bias is not None and np.size(bias):
        b = np.asarray(bias, np.int64).reshape(-1)
        bound = bound + np.abs(np.clip(b, -(2**62), 2**62))
    if bound.size == 0 or int(bound.max()) <= limit:
        return None
    c = int(np.argmax(bound))
    return c, int(bound[c])


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
_i64 = types.int64


@kernel(_i32(_i32, _i32))
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


@kernel(_i32(_i32, _i32))
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


@kernel(_i32(_i32, _i32, _i32))
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


@kernel(_i32(_i64, _i32, _i32))
def clamp(v, act_min, act_max):
    """v clamped to [act_min, act_max]: the last step of every output stage (a fused ReLU or ReLU6 is a narrower
    range). v in int64, so a zero point added to a saturated int32 value cannot overflow first."""
    if v < act_min:
        return np.int32(act_min)
    if v > act_max:
        return np.int32(act_max)
    return np.int32(v)


@kernel(_i32(_i64, _i32, _i32))
def multiply_by_quantized_multiplier_single_rounding(x, mult, shift):
    """x * mult * 2^(shift - 31), rounded once, ties away from zero: what LiteRT's reference FULLY_CONNECTED
    computes, int8 and 16x8 (measured: tests/test_tflite_import.py's witness, where M = 1/4 gives 5 -> 1, 2 -> 1,
    -2 -> -1, 10 -> 3, -10 -> -3), where TFLite Micro and CMSIS-NN round twice (multiply_by_quantized_multiplier)
    or, in 16x8, once with a Q15 multiplier (multiply_by_quantized_multiplier_int64).

    Numerics: total = 31 - shift, m = |x|; the result is sign(x) floor((m mult + 2^(total - 1)) / 2^total):
    ties away from zero (the rounding is of the magnitude). Exact in int64 in two cases:
      m <= 2^31 (an int8 layer's int32 accumulator; shift in [-31, 30], total in [1, 62]): m mult < 2^62 and
        the rounding term is at most 2^61;
      m < 2^47 (a 16x8 layer's accumulator; the loaders' bound) with shift <= 7 (total >= 24, the 16x8
        verifiers' range): m = hi 2^24 + lo, and floor((A 2^24 + B) / 2^total) = floor((A + floor(B / 2^24)) /
        2^(total - 24)) for A = hi mult < 2^23 2^31 = 2^54 and B = lo mult + 2^(total - 1) < 2^55 + 2^61.
    The quotient exceeds int32 only where x M does; it is saturated here, and every caller clamps next.
    """
    total = np.int64(31 - shift)
    m = -np.int64(x) if x < 0 else np.int64(x)
    half = np.int64(1) << (total - 1)
    if m <= (np.int64(1) << 31):
        q = (m * np.int64(mult) + half) >> total
    else:
        q = ((m >> 24) * np.int64(mult) + (((m & 0xFFFFFF) * np.int64(mult) + half) >> 24)) >> (total - 24)
    result = -q if x < 0 else q
    if result > INT32_MAX:
        result = INT32_MAX
    elif result < INT32_MIN:
        result = INT32_MIN
    return np.int32(result)


@kernel(_i32(_i32, _i32, _i32, _i32, _i32, _i32))
def requantize_single_rounding(acc, mult, shift, output_zp, act_min, act_max):
    """requantize with multiply_by_quantized_multiplier_single_rounding: the output stage of LiteRT's reference
    per-tensor FULLY_CONNECTED, which a FULLY_CONNECTED with FullyConnectedOptions.single_rounding runs."""
    return clamp(np.int64(multiply_by_quantized_multiplier_single_rounding(acc, mult, shift)) + output_zp, act_min,
                 act_max)


@kernel(_i32(_i32, _i32, _i32, _i32, _i32, _i32))
def requantize(acc, mult, shift, output_zp, act_min, act_max):
    """The output stage of every int8 kernel: scale, add the zero point, clamp.

    out = clamp(multiply_by_quantized_multiplier(acc, mult, shift) + output_zp,
                act_min, act_max)

    The clamp to [act_min, act_max] (a sub-range of [-128, 127]) is how ReLU
    and ReLU6 are fused. The zero point is added in int64, so the sum cannot
    overflow even when the scaled value saturated at the int32 limits (TFLite
    adds in int32; the results agree wherever TFLite's is defined).
    """
    return clamp(np.int64(multiply_by_quantized_multiplier(acc, mult, shift)) + output_zp, act_min, act_max)



@kernel(_i32(_i64, _i32, _i32))
def multiply_by_quantized_multiplier_int64(x, mult, shift):
    """x * mult * 2^(shift - 31) for an int64 accumulator, rounded once: TFLite's
    MultiplyByQuantizedMultiplier(int64_t, ...) of its 16x8 layers (and CMSIS-NN's arm_nn_requantize_s64).

    Numerics: the Q31 multiplier is first reduced to Q15, rounding half up and saturating at 2^15 - 1:
      reduced = mult < 0x7FFF0000 ? (mult + 2^15) >> 16 : 0x7FFF,  in [0, 2^15)
    then, with total = 15 - shift in [8, 46] (shift in [-31, 7]):
      result = floor((x * reduced + 2^(total - 1)) / 2^total)
    one rounding, half up (ties toward +inf), of x * reduced * 2^(shift - 15). The 16-bit multiplier costs
    precision: its relative error is up to 2^-15, against 2^-31 for the int8 layers' Q31 one; that is TFLite's
    arithmetic, kept for bit-exactness.
    Ranges: |x| <= 2^47 - 1 (the loaders' accumulator rule, accumulator_overflow with S16_ACCUMULATOR_MAX), so
    |x * reduced| < 2^62 and the sum stays in int64. The quotient can exceed int32 when the layer's real
    multiplier is large; TFLite then narrows it with static_cast, which wraps modulo 2^32 (its range check
    is a debug-only DCHECK), and so does this function (Numba's int32 conversion, C's (int32_t) cast on
    GCC and Clang). Every 16x8 output is then clamped to int16, so a wrapped value is only ever a clamped
    garbage value in TFLite too."""
    reduced = (np.int64(mult) + (1 << 15)) >> 16 if mult < 0x7FFF0000 else np.int64(0x7FFF)
    total = np.int64(15 - shift)
    return np.int32(np.int64(x) * reduced + (np.int64(1) << (total - 1)) >> total)


@kernel(_i32(_i64, _i32, _i32, _i32, _i32))
def requantize_int64(acc, mult, shift, act_min, act_max):
    """The output stage of every 16x8 kernel: clamp(multiply_by_quantized_multiplier_int64(acc), act_min,
    act_max), with [act_min, act_max] inside int16 and no zero point (int16 activations are symmetric)."""
    return clamp(multiply_by_quantized_multiplier_int64(acc, mult, shift), act_min, act_max)


@kernel(_i32(_i64, _i32, _i32, _i32, _i32))
def requantize_int64_single_rounding(acc, mult, shift, act_min, act_max):
    """requantize_int64 with multiply_by_quantized_multiplier_single_rounding: the output stage of LiteRT's
    reference 16x8 FULLY_CONNECTED (FullyConnectedOptions.single_rounding)."""
    return clamp(multiply_by_quantized_multiplier_single_rounding(acc, mult, shift), act_min, act_max)


def requant_prepare_channels(mult, shift):
    """numerics.h's requant_prepare over arrays of multipliers and shifts: (round, right, fused).

    right = -shift - 1 and round = 2^30 + 2^(31 + right) (int64 arrays) for the fused form below;
    fused: every channel has shift <= -1 and mult != INT32_MIN, the condition numerics.h derives."""
    mult = np.asarray(mult, np.int64)
    shift = np.asarray(shift, np.int64)
    right = np.where(shift <= -1, -shift - 1, 0)
    return (np.int64(1) << 30) + (np.int64(1) << (31 + right)), right, bool(np.all((shift <= -1) & (mult != INT32_MIN)))


@njit(inline="always", cache=True, nogil=True)
def requant_fused(x, mult, round, right):
    """multiply_by_quantized_multiplier(x, mult, -(right + 1)) of a fused multiplier (numerics.h's
    requant_fused, derived there): the high word of x * mult + round - [x ^ mult < 0] 2^31, shifted right
    by `right`. On int64 values that hold int32 ones; branch-free, so a loop of it vectorizes. The result
    lies within +-(2^30 + 2^29 + 1)."""
    negative = np.int64(1 << 31) if (x ^ mult) < 0 else np.int64(0)
    return ((x * mult + (round - negative)) >> 32) >> right


@njit(inline="always", cache=True, nogil=True)
def multiply_by_quantized_multiplier_right(x, mult, right):
    """multiply_by_quantized_multiplier(x, mult, -right) for right >= 0, x an int32 and mult in (-2^31, 2^31)
    (SUB's negated multiplier included), branch-free on int64 values so that a loop of it vectorizes.

    Numerics: the first rounding, saturating_rounding_doubling_high_mul, is floor((x * mult + 2^30) / 2^31)
    for both signs (derived at that function); its one saturating case needs mult = -2^31, excluded here.
    The second is rounding_divide_by_pot: (s >> right) + [remainder > threshold], with threshold = mask / 2
    plus one for negative s."""
    s = (x * mult + (np.int64(1) << 30)) >> 31
    mask = (np.int64(1) << right) - 1
    threshold = (mask >> 1) + (np.int64(1) if s < 0 else np.int64(0))
    return (s >> right) + (np.int64(1) if (s & mask) > threshold else np.int64(0))


# ---------------------------------------------------------------------------
# gemmlowp fixed-point math used by softmax (fixedpoint.h, 32-bit raw values)
#
# A Qm value holds a real number r as raw = r * 2^(31 - m) in an int32 (m
# integer bits, 31 - m fractional bits). A product of Qa and Qb raw values
# through saturating_rounding_doubling_high_mul is a Q(a+b) value. Sums of
# raw values wrap in int32 as in gemmlowp (none of the sums below can leave
# int32 for inputs in the stated ranges; wrapping keeps C and Numba equal
# even where they could).
# ---------------------------------------------------------------------------


@kernel(_i32(_i32, _i32))
def wrapping_add(a, b):
    """a + b in two's-complement int32 (gemmlowp's raw `+`)."""
    return np.int32(np.int64(a) + np.int64(b))


@kernel(_i32(_i32, _i32))
def saturating_rounding_multiply_by_pot(x, exponent):
    """x * 2^exponent: rounding_divide_by_pot for exponent <= 0, a saturating left shift above.

    gemmlowp SaturatingRoundingMultiplyByPOT. For exponent e > 0 the result
    saturates when |x| > 2^(31-e) - 1 (x > threshold -> INT32_MAX,
    x < -threshold -> INT32_MIN), which is exactly where x * 2^e leaves int32
    (x = -2^(31-e) gives -2^31 either way). Exponent in [-31, 31].
    """
    if exponent <= 0:
        return rounding_divide_by_pot(x, np.int32(-exponent))
    threshold = (np.int64(1) << (31 - exponent)) - 1
    if x > threshold:
        return INT32_MAX
    if x < -threshold:
        return INT32_MIN
    return np.int32(np.int64(x) << exponent)


@kernel(_i32(_i32, _i32))
def rounding_half_sum(a, b):
    """(a + b) / 2 rounded to nearest, ties away from zero, computed in int64 (gemmlowp RoundingHalfSum)."""
    s = np.int64(a) + np.int64(b)
    sign = np.int64(1) if s >= 0 else np.int64(-1)
    t = s + sign
    # C's truncating division by 2.
    q = t >> 1 if t >= 0 else -((-t) >> 1)
    return np.int32(q)


# Q0.31 constants from gemmlowp: exp(-1/8), 1/3, and exp(-2^k) for k = -2..4.
EXP_MINUS_ONE_EIGHTH_Q0 = 1895147668
ONE_THIRD_Q0 = 715827883
EXP_BARREL_MULTIPLIERS_Q0 = (1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242)
# Q2.29 constants of the Newton-Raphson reciprocal: 48/17 and -32/17.
FORTY_EIGHT_OVER_SEVENTEEN_Q2 = 1515870810
MINUS_THIRTY_TWO_OVER_SEVENTEEN_Q2 = -1010580540


@kernel(_i32(_i32))
def exp_on_interval_between_negative_one_quarter_and_0_excl(a):
    """exp(a) for a Q0.31 value a in [-1/4, 0), as a Q0.31 value.

    Fourth-order Taylor expansion around -1/8 (x = a + 1/8, raw 2^28):
      exp(a) = e^(-1/8) * (1 + x + x^2/2 + x^3/6 + x^4/24)
    evaluated as e^(-1/8) + e^(-1/8) * (x + ((x^4/4 + x^3) / 3 + x^2) / 2).
    """
    x = wrapping_add(a, np.int32(1 << 28))
    x2 = saturating_rounding_doubling_high_mul(x, x)
    x3 = saturating_rounding_doubling_high_mul(x2, x)
    x4 = saturating_rounding_doubling_high_mul(x2, x2)
    x4_over_4 = saturating_rounding_multiply_by_pot(x4, np.int32(-2))
    poly = saturating_rounding_multiply_by_pot(
        wrapping_add(
            saturating_rounding_doubling_high_mul(wrapping_add(x4_over_4, x3), np.int32(ONE_THIRD_Q0)), x2
        ),
        np.int32(-1),
    )
    c = np.int32(EXP_MINUS_ONE_EIGHTH_Q0)
    return wrapping_add(c, saturating_rounding_doubling_high_mul(c, wrapping_add(x, poly)))


@kernel(_i32(_i32))
def exp_on_negative_values(a):
    """exp(a) for a Q5.26 value a <= 0, as a Q0.31 value (gemmlowp exp_on_negative_values<5>).

    Split -a into a multiple of 1/4 and a rest: a_mod = (a mod 1/4) - 1/4 lies
    in [-1/4, 0), and exp(a) = exp(a_mod) * prod exp(-2^k) over the set bits
    k of (a_mod - a), a multiple of 1/4 below 32 (bits 24 .. 30 of the raw
    value, k = -2 .. 4). a == 0 gives the largest Q0.31 value, 1 - 2^-31.
    """
    one_quarter = np.int32(1 << 24)  # 1/4 in Q5.26
    a_mod_quarter_minus_one_quarter = wrapping_add(np.int32(a & (one_quarter - 1)), -one_quarter)
    # Q5.26 -> Q0.31 is a left shift by 5; a_mod is in [-2^24, 0), so it cannot saturate.
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_rounding_multiply_by_pot(a_mod_quarter_minus_one_quarter, np.int32(5))
    )
    remainder = wrapping_add(a_mod_quarter_minus_one_quarter, np.int32(-a))
    for i in range(7):
        bit = np.int32(1) << np.int32(24 + i)  # 2^(k) in Q5.26, k = i - 2
        if remainder & bit:
            result = saturating_rounding_doubling_high_mul(result, np.int32(EXP_BARREL_MULTIPLIERS_Q0[i]))
    if a == 0:
        result = INT32_MAX
    return result


@kernel(_i32(_i32))
def one_over_one_plus_x_for_x_in_0_1(a):
    """1 / (1 + a) for a Q0.31 value a in [0, 1), as a Q0.31 value.

    Newton-Raphson on the half denominator d = (1 + a) / 2 in [1/2, 1), in
    Q2.29: start at 48/17 - 32/17 * d (the minimax linear start) and iterate
    x <- x + x * (1 - d * x) three times, so x ~= 1/d. Then 1/(1+a) = x/2:
    reinterpret the Q2.29 raw value as Q1.30 and convert to Q0.31 (a
    saturating left shift by 1).
    """
    half_denominator = rounding_half_sum(a, INT32_MAX)  # (a + 1) / 2 in Q0.31
    x = wrapping_add(
        np.int32(FORTY_EIGHT_OVER_SEVENTEEN_Q2),
        saturating_rounding_doubling_high_mul(half_denominator, np.int32(MINUS_THIRTY_TWO_OVER_SEVENTEEN_Q2)),
    )
    one_q2 = np.int32(1 << 29)
    for _ in range(3):
        half_denominator_times_x = saturating_rounding_doubling_high_mul(half_denominator, x)  # Q2
        one_minus = wrapping_add(one_q2, np.int32(-half_denominator_times_x))  # Q2
        # Q2 * Q2 = Q4; back to Q2 is a saturating left shift by 2.
        x = wrapping_add(
            x, saturating_rounding_multiply_by_pot(saturating_rounding_doubling_high_mul(x, one_minus), np.int32(2))
        )
    return saturating_rounding_multiply_by_pot(x, np.int32(1))


@kernel(_i32(types.uint32))
def count_leading_zeros(x):
    """Leading zero bits of a uint32 (32 for 0). ARM: CLZ."""
    n = np.int32(0)
    v = np.uint32(x)
    if v == 0:
        return np.int32(32)
    while (v & np.uint32(0x80000000)) == 0:
        v = np.uint32(v << np.uint32(1))
        n += 1
    return n
