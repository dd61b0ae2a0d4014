"""TFLite Micro's int8 LOGISTIC, TANH, RELU, RELU6, LEAKY_RELU, HARD_SWISH and ELU, and TFLite's GELU, as
256-entry tables, for .tflite files (tflite_import.py).

microflat runs an int8 activation as a table of its 256 outputs (kernels/lut.py). Its own tables are the
correctly rounded function; a .tflite's LOGISTIC or TANH must instead give TFLite Micro's bytes, which come from
gemmlowp's fixed-point functions (reference_integer_ops::Logistic and Tanh). So the table is built by running
that integer arithmetic on each of the 256 inputs, here, once, at compile time; any table reproduces any int8
function exactly. (TFLite's own reference kernels build a float32 table instead and may differ from these by
one: TFLite Micro is the reference microflat follows, tflite_import.py's docstring.)

TFLite Micro's Prepare (CalculateArithmeticOpData, kInputIntegerBits = 4): the input's real scale times 2^27 (its
Q4.27 step) is split by frexp into q in [1/2, 1) and a left shift, the multiplier round(q 2^31); the input radius
floor((2^4 - 1) 2^27 / 2^shift). Eval, per value x: d = x - zp_in; d <= -radius gives -128, d >= radius 127;
otherwise the Q4.27 value MultiplyByQuantizedMultiplier(d, multiplier, shift) goes through gemmlowp's logistic
(Q0.31 out; then RoundingDivideByPOT by 23, minus 128: scale 1/256, zero point -128) or tanh (Q0.31; divided by
2^24: scale 1/128, zero point 0), clamped to int8. The fixed-point pieces are kernels/numerics.py's, gemmlowp's
functions one for one; exp_on_negative_values is needed here for Q4.27 input too (logistic), which numerics.py
holds for Q5.26 only (softmax's and tanh's), so it is written below for any integer bits.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math

import numpy as np

from microflat.kernels import numerics as N

INT32_MAX = 2**31 - 1
INPUT_INTEGER_BITS = 4


def _wrap(v: int) -> int:
    return ((v + 2**31) & (2**32 - 1)) - 2**31


def _srdhm(a: int, b: int) -> int:
    return int(N.saturating_rounding_doubling_high_mul(np.int32(a), np.int32(b)))


def exp_on_negative_values(a: int, integer_bits: int) -> int:
    """gemmlowp's exp_on_negative_values<integer_bits>: exp(a) for a Q(ib).(31 - ib) value a <= 0, Q0.31."""
    fractional = 31 - integer_bits
    one_quarter = 1 << (fractional - 2)
    a_mod = _wrap((a & (one_quarter - 1)) - one_quarter)
    result = int(N.exp_on_interval_between_negative_one_quarter_and_0_excl(
        N.saturating_rounding_multiply_by_pot(np.int32(a_mod), np.int32(integer_bits))))
    remainder = _wrap(a_mod - a)
    for exponent, multiplier in zip(range(-2, 5), N.EXP_BARREL_MULTIPLIERS_Q0):
        if integer_bits > exponent and remainder & (1 << (fractional + exponent)):
            result = _srdhm(result, multiplier)
    if integer_bits > 5 and a < -(1 << (36 - integer_bits)):  # below -32: 0 (gemmlowp's clamp)
        result = 0
    return INT32_MAX if a == 0 else result


def _one_minus_x_over_one_plus_x(a: int) -> int:
    """gemmlowp's one_minus_x_over_one_plus_x_for_x_in_0_1: (1 - a) / (1 + a) for Q0.31 a in [0, 1), Q0.31;
    numerics.one_over_one_plus_x_for_x_in_0_1's Newton-Raphson, then x - 1 where that takes x / 2."""
    half_denominator = int(N.rounding_half_sum(np.int32(a), np.int32(INT32_MAX)))
    x = _wrap(N.FORTY_EIGHT_OVER_SEVENTEEN_Q2 + _srdhm(half_denominator, N.MINUS_THIRTY_TWO_OVER_SEVENTEEN_Q2))
    one_q2 = 1 << 29
    for _ in range(3):
        one_minus = _wrap(one_q2 - _srdhm(half_denominator, x))
        x = _wrap(x + int(N.saturating_rounding_multiply_by_pot(np.int32(_srdhm(x, one_minus)), np.int32(2))))
    return int(N.saturating_rounding_multiply_by_pot(np.int32(_wrap(x - one_q2)), np.int32(2)))


def logistic_q0(a: int) -> int:
    """gemmlowp's logistic of a Q4.27 value, Q0.31."""
    if a == 0:
        return 1 << 30  # one half
    positive = int(N.one_over_one_plus_x_for_x_in_0_1(np.int32(exp_on_negative_values(-abs(a), INPUT_INTEGER_BITS))))
    return positive if a > 0 else _wrap(INT32_MAX - positive)


def tanh_q0(a: int) -> int:
    """gemmlowp's tanh of a Q4.27 value, Q0.31: exp_on_negative_values of -|a| read as Q5.26 (ExactMulByPot<1>:
    the same raw value, one more integer bit, so 2 |a|)."""
    if a == 0:
        return 0
    t = _one_minus_x_over_one_plus_x(int(N.exp_on_negative_values(np.int32(-abs(a)))))
    return -t if a < 0 else t


def input_params(input_scale: float) -> tuple[int, int, int]:
    """(multiplier, left shift, radius) of TFLite Micro's Prepare for an int8 LOGISTIC or TANH input."""
    q, shift = math.frexp(float(np.float32(input_scale)) * float(1 << (31 - INPUT_INTEGER_BITS)))
    multiplier = int(N.round_half_away_from_zero(np.float64(q * 2**31)))
    radius = math.floor((2**INPUT_INTEGER_BITS - 1) * 2.0 ** (31 - INPUT_INTEGER_BITS) / 2.0**shift)
    return multiplier, shift, radius


def round_f32(v) -> int:
    """TfLiteRound / roundf of a float32 value (ties away from zero: numerics.round_half_away_from_zero)."""
    return int(N.round_half_away_from_zero(np.float64(v)))


def relu_table(op: str, input_scale: float, input_zp: int, output_scale: float, output_zp: int,
               litert: bool = False) -> np.ndarray:
    """TFLite Micro's int8 RELU and RELU6 on the 256 inputs. RELU (CalculateReluOpData, ReluQuantized): zp_out +
    MultiplyByQuantizedMultiplier(x - zp_in, M = s_in / s_out in double), clamped to [max(-128, zp_out +
    roundf(0 / s_out)), 127]. RELU6 (Relu6Prepare, Relu6Quantized): no rescaling, x clamped to [zp_in,
    zp_in + roundf(6 / s_in)] (float32 division), the bytes then read at the output's quantization. LiteRT's
    RELU6 (litert; QuantizedReluX) rescales as RELU does, clamped to [zp_out, zp_out + roundf(6 / s_out)]."""
    x = np.arange(-128, 128)
    if op == "RELU6" and not litert:
        six = input_zp + round_f32(np.float32(6.0) / np.float32(input_scale))
        return np.clip(x, input_zp, min(six, 127)).astype(np.int8)
    mult, shift = N.quantize_multiplier(float(np.float32(input_scale)) / float(np.float32(output_scale)))
    lo = max(-128, output_zp)
    hi = min(127, output_zp + round_f32(np.float32(6.0) / np.float32(output_scale))) if op == "RELU6" else 127
    out = [output_zp + int(N.multiply_by_quantized_multiplier(np.int32(v - input_zp), np.int32(mult), np.int32(shift)))
           for v in x]
    return np.clip(out, lo, hi).astype(np.int8)


def leaky_relu_table(alpha: float, input_scale: float, input_zp: int, output_scale: float,
                     output_zp: int) -> np.ndarray:
    """TFLite Micro's int8 LEAKY_RELU (leaky_relu_common.cc's Prepare, reference_ops::QuantizeLeakyRelu) on the
    256 inputs: d = x - zp_in; zp_out + MultiplyByQuantizedMultiplier(d, M) with M = s_in / s_out for d >= 0 and
    M = s_in alpha / s_out below, each product and quotient in float32 (as its Prepare computes them) before
    QuantizeMultiplier; clamped to int8."""
    s_in, s_out, a = np.float32(input_scale), np.float32(output_scale), np.float32(alpha)
    identity = N.quantize_multiplier(float(s_in / s_out))
    negative = N.quantize_multiplier(float(s_in * a / s_out))
    out = []
    for x in range(-128, 128):
        d = x - input_zp
        mult, shift = identity if d >= 0 else negative
        out.append(output_zp + int(N.multiply_by_quantized_multiplier(np.int32(d), np.int32(mult), np.int32(shift))))
    return np.clip(out, -128, 127).astype(np.int8)


def table(op: str, input_scale: float, input_zp: int) -> np.ndarray:
    """The 256 int8 outputs, for inputs -128 .. 127, of TFLite Micro's int8 LOGISTIC or TANH."""
    multiplier, shift, radius = input_params(input_scale)
    fn, divisor_bits, zp = (logistic_q0, 23, -128) if op == "LOGISTIC" else (tanh_q0, 24, 0)
    out = np.empty(256, np.int8)
    for i, x in enumerate(range(-128, 128)):
        d = x - input_zp
        if d <= -radius:
            out[i] = -128
        elif d >= radius:
            out[i] = 127
        else:
            a = int(N.multiply_by_quantized_multiplier(np.int32(d), np.int32(multiplier), np.int32(shift)))
            v = int(N.rounding_divide_by_pot(np.int32(fn(a)), np.int32(divisor_bits))) + zp
            out[i] = min(max(v, -128), 127)
    return out


# --- HARD_SWISH: reference_ops::HardSwish<int8> (TFLite's and TFLite Micro's), int16 fixed point -------------

INT16_MIN, INT16_MAX = -(2**15), 2**15 - 1


def _srdhm16(a: int, b: int) -> int:
    """gemmlowp's SaturatingRoundingDoublingHighMul for int16: (a b + nudge) / 2^15 truncated toward zero, nudge
    2^14 for a b >= 0 and 1 - 2^14 below (so ties round away from zero); -2^15 * -2^15 saturates."""
    if a == b == INT16_MIN:
        return INT16_MAX
    ab = a * b
    n = ab + (1 << 14 if ab >= 0 else 1 - (1 << 14))
    return abs(n) >> 15 if n >= 0 else -(abs(n) >> 15)


def _sdhm16(a: int, b: int) -> int:
    """TFLite's SaturatingDoublingHighMul (int16): a b / 2^15 truncated toward zero, without rounding."""
    if a == b == INT16_MIN:
        return INT16_MAX
    ab = a * b
    return ab >> 15 if ab >= 0 else -((-ab) >> 15)


def _saturating_left_shift16(v: int, amount: int) -> int:
    return min(max(v << amount, INT16_MIN), INT16_MAX)


def _down_scale_to_int16(multiplier: int) -> int:
    """DownScaleInt32ToInt16Multiplier: the Q31 multiplier's top 16 bits, rounded; 32767 where that overflows."""
    if multiplier >= INT32_MAX - (1 << 15):
        return INT16_MAX
    return (multiplier + (1 << 15)) >> 16


def hard_swish_params(input_scale: float, output_scale: float) -> tuple[int, int, int, int]:
    """HardSwishPrepare, in float32 as it computes: the hires input scale s_in / 128 (x d seen with 7 more bits);
    the output multiplier (s_in / 128) / s_out and the relu-ish one (s_in / 128) / (3 / 32768) (real 3 at 32768),
    each QuantizeMultiplier'd and cut to 16 bits. Returns (output_mult16, output_exponent, reluish_mult16,
    reluish_exponent). TFLite refuses an output exponent > 0 (s_out < s_in / 128); so does this."""
    hires = np.float32(np.float32(1.0 / 128.0) * np.float32(input_scale))
    out_mult, out_exp = N.quantize_multiplier(float(np.float32(hires / np.float32(output_scale))))
    if out_exp > 0:
        raise ValueError(f"its output scale {output_scale} is below the input scale / 128 "
                         f"({float(hires)}), which TFLite refuses")
    relu_mult, relu_exp = N.quantize_multiplier(float(np.float32(hires / np.float32(3.0 / 32768.0))))
    return _down_scale_to_int16(int(out_mult)), int(out_exp), _down_scale_to_int16(int(relu_mult)), int(relu_exp)


def hard_swish_table(input_scale: float, input_zp: int, output_scale: float, output_zp: int) -> np.ndarray:
    """TFLite's int8 HARD_SWISH, x relu6(x + 3) / 6, on the 256 inputs (reference_ops::HardSwish):
      h = (x - zp_in) 2^7                                   the input at the hires scale s_in / 128
      p = SRDHM16(h, output_mult16)                         x on the output scale, before its right shift
      r = h rescaled by the relu-ish multiplier (left shifts saturating in two steps, the last after SRDHM16,
          so saturation decides the result only there; right shifts RoundingDivideByPOT): x at 3 = 2^15,
          saturated to [-1, 1) there, then (r + 2^15) >> 1 maps [-3, 3] to [0, 1) in Q0.15
      y = RoundingDivideByPOT(SDHM16(r, p), -output_exponent) + zp_out, clamped to int8. The product rounds
          toward zero (SaturatingDoublingHighMul), which TFLite chose to cancel the bias of the roundings above."""
    out_mult, out_exp, relu_mult, relu_exp = hard_swish_params(input_scale, output_scale)
    table_ = np.empty(256, np.int8)
    for i, x in enumerate(range(-128, 128)):
        hires = (x - input_zp) * (1 << 7)
        preshift = _srdhm16(hires, out_mult)
        r = hires
        if relu_exp > 0:
            r = _saturating_left_shift16(r, relu_exp - 1)
        r = _srdhm16(r, relu_mult)
        if relu_exp > 0:
            r = _saturating_left_shift16(r, 1)
        elif relu_exp < 0:
            r = int(N.rounding_divide_by_pot(np.int32(r), np.int32(-relu_exp)))
        r = (r + (1 << 15)) >> 1
        y = int(N.rounding_divide_by_pot(np.int32(_sdhm16(r, preshift)), np.int32(-out_exp))) + output_zp
        table_[i] = min(max(y, -128), 127)
    return table_


# --- ELU and GELU: TFLite's float lookup tables ------------------------------------------------------------

_LIBM = ctypes.CDLL(ctypes.util.find_library("m"))
for _name in ("expf", "erfcf", "tanhf"):
    getattr(_LIBM, _name).restype, getattr(_LIBM, _name).argtypes = ctypes.c_float, [ctypes.c_float]


def _libm(name: str, v) -> np.float32:
    """The C library's float32 function, as TFLite's C++ calls it (std::exp(float) is expf): numpy's own
    float32 transcendental functions may differ from it in the last place, which can move a rounding."""
    return np.float32(getattr(_LIBM, name)(float(v)))


def elu(v: np.float32) -> np.float32:
    """TFLite Micro's ELU transform: v < 0 ? std::exp(v) - 1.0f : v, in float32."""
    return np.float32(_libm("expf", v) - np.float32(1.0)) if v < 0 else v


def gelu(v: np.float32) -> np.float32:
    """TFLite's GELU transform: 0.5f x erfc(x (float)-M_SQRT1_2), in float32."""
    return np.float32(np.float32(0.5) * v * _libm("erfcf", np.float32(v * np.float32(-math.sqrt(0.5)))))


def gelu_approximate(v: np.float32) -> np.float32:
    """TFLite's approximate GELU: 0.5f x (1 + tanh(sqrt(2 / pi) (x + 0.044715f x^3))), in float32."""
    inner = np.float32(np.float32(math.sqrt(2.0 / math.pi)) * (v + np.float32(0.044715) * v * v * v))
    return np.float32(np.float32(0.5) * v * (np.float32(1.0) + _libm("tanhf", inner)))


def logistic(v: np.float32) -> np.float32:
    """LiteRT's int8 LOGISTIC transform: 1.0f / (1.0f + std::exp(-value)), in float32 (TFLite Micro's is
    gemmlowp fixed point: table())."""
    return np.float32(np.float32(1.0) / (np.float32(1.0) + _libm("expf", -v)))


def tanh(v: np.float32) -> np.float32:
    """LiteRT's int8 TANH transform: std::tanh(value), in float32 (TFLite Micro's: table())."""
    return _libm("tanhf", v)


def float_lookup_table(transform, input_scale: float, input_zp: int, output_scale: float,
                       output_zp: int) -> np.ndarray:
    """PopulateLookupTable / LUTPopulate<int8_t> on the 256 inputs, every step float32 as TFLite computes it:
    v = s_in (x - zp_in); y = (int)(roundf(transform(v) (1 / s_out)) + zp_out), clamped to int8."""
    s_in, inverse = np.float32(input_scale), np.float32(np.float32(1.0) / np.float32(output_scale))
    out = np.empty(256, np.int8)
    with np.errstate(over="ignore"):
        for i, x in enumerate(range(-128, 128)):
            v = transform(np.float32(s_in * np.float32(x - input_zp)))
            rescaled = np.float32(round_f32(np.float32(v * inverse)))
            quantized = np.float32(rescaled + np.float32(output_zp))
            out[i] = -128 if not quantized > -128 else 127 if quantized > 127 else int(quantized)
    return out
