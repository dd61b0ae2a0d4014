"""TFLite's integer UNIDIRECTIONAL_SEQUENCE_LSTM, 8x8_16 form, bit for bit: int8 input, output and hidden
state, int16 cell state and gates, int8 weights. docs/RECURRENT.md sections 0 and 3 specify the arithmetic
(LiteRT 2.3.0's reference kernels, lstm_eval.cc's LstmStepInteger8x8_16); this module implements its
no-peephole, no-projection, no-layer-norm, non-CIFG form, which is what torch.nn.LSTM lowers to. C twin:
lstm.c, with the fixed-point functions in fixed_point16.h.

Real-valued formula, per time step t (x_t the input, h and c the states, gate order i, f, c, o):

    i = sigmoid(W_xi x_t + W_hi h + b_i)     f = sigmoid(W_xf x_t + W_hf h + b_f)
    g = tanh(W_xc x_t + W_hc h + b_c)        o = sigmoid(W_xo x_t + W_ho h + b_o)
    c = clip(f c + i g)                      h = o tanh(c)        y_t = h

Quantization (the tensors TFLite reads): x int8 (s_x, z_x); weights int8, symmetric, one scale per gate
matrix; biases int32 at s_x s_w(input-to-G); h int8 (s_h, z_h), and the output sequence has h's
quantization; c int16 with zero point 0 and scale 2^p, p in [-15, -9]; each gate's pre-activation int16 at
2^-12 (Q3.12); each gate's activation int16 at 2^-15 (Q0.15); the hidden product o tanh(c) int8 at
(s_hid, z_hid), LSTM intermediate 4, which without projection is stored as h and so should carry h's
quantization (a file that gives it another is run as TFLite runs it).

Integer arithmetic (RECURRENT.md section 3.4, in this order within a cell):
  gate G (i, f, c, o), with MBQM = numerics.multiply_by_quantized_multiplier and sat16 the int16 clamp:
      g = sat16(MBQM(bx_G[r] + sum_k x[k] W_x,G[r, k], mult_x,G, shift_x,G))
      g = sat16(MBQM(bh_G[r] + sum_k h[k] W_h,G[r, k], mult_h,G, shift_h,G) + g)
    on the raw int8 x and h; the zero points are folded into the effective biases
      bx_G[r] = bias_G[r] - z_x sum_k W_x,G[r, k],    bh_G[r] = -z_h sum_k W_h,G[r, k]
    (lstm_8x8_16_params); then i, f, o = logistic_fixed16(g, 3), c's gate = tanh_fixed16(g, 3) (Q0.15).
  cell: c = sat16(rounding_divide_by_pot(f c, 15) + rounding_divide_by_pot(i g, 30 + p)), then
    clamp(c, -cell_clip, cell_clip) when cell_clip > 0.
  hidden: h = sat8(MBQM(o tanh_fixed16(c, 15 + p), mult_hid, shift_hid) + z_hid). LiteRT 2.3.0 adds z_hid
    (older TF sources subtract it; RECURRENT.md measured the add).
  Each step's h is the output row y_t and the next step's recurrent input.

Accumulator bound (checked by lstm and lstm_8x8_16_params): |x|, |h| <= 128, so every partial sum of a
gate's matmul is at most B = |bias| + 128 sum_k |w| in magnitude. The rule is B 2^max(shift, 0) <= 2^31 -
1 - 2^15 (GATE_ACCUMULATOR_LIMIT) for every row of the 8 matmuls: then TFLite's int32 accumulator, its
int32 left shift inside MBQM (which microflat saturates and TFLite wraps) and its int32 sum of the requantized
value with the int16 gate (|MBQM| <= B 2^max(shift, 0), and |g| <= 2^15) never overflow, so both compute the
same value, and the C twin's int32 arithmetic is exact. Real layers are orders of magnitude below it.

Ranges that make the cell and hidden arithmetic exact in int32 (tests/test_lstm.py checks the activation
ranges on every int16 input): logistic_fixed16 returns [0, 32767], tanh_fixed16 [-32767, 32767]; so
|f c| <= 32767 * 32768 and |i g| < 2^30 fit int32 and both quotients fit int16 (30 + p >= 15), and
|o tanh(c)| <= 32767^2 < 2^30, so MBQM with the hidden shift at most 0 (refused otherwise) has no left
shift and its result plus z_hid stays in int32.

Layout (batch 1, time-major; every array flat and C-ordered): input [T, I]; input_weights [4, C, I] and
recurrent_weights [4, C, C] in gate order i, f, c, o (PyTorch's weight_ih_l0 and weight_hh_l0 reshaped: its
gate order is the same); input_bias and recurrent_bias [4, C] (effective, folded); gate_mult / gate_shift
[8]: input-to-i, f, c, o, then recurrent-to-i, f, c, o; hidden_state [C] int8 and cell_state [C] int16,
read and updated in place; output [T, C]. No projection, so the hidden size O equals the cell count C.

Order of evaluation: TFLite evaluates each gate for all cells, then the cell update, then the hidden
product. Without peephole and layer norm every cell's arithmetic reads only its own gates, the old h and
x_t, so the kernels evaluate cell by cell (i, f, g, cell update, o, hidden; the C kernel takes a cell's
four gate sums at once, lstm.c), writing each new h value into
the output row and copying the row to hidden_state when the step ends: the same values, and no scratch
(hence no *_scratch_bytes function, as fully_connected_s16).

Deviations: none in the arithmetic. Refused (ValueError) where TFLite would run: a cell scale whose
15 + p is outside 0..6 (TFLite's ApplyTanh leaves its output buffer unwritten there), a hidden scale below
about 2^-30 (a positive hidden shift), int8 weights holding -128 (microflat's symmetric weights lie in
[-127, 127]) and layers over the accumulator bound above.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import types

from . import _checks
from ._dispatch import check_backend, run_kernel
from ._jit import kernel
from .numerics import (INT32_MAX, SHIFT_MAX, SHIFT_MIN, multiply_by_quantized_multiplier, quantize_multiplier,
                       rounding_divide_by_pot)

_i32 = types.int32
_i64 = types.int64

INT16_MIN, INT16_MAX = -(2**15), 2**15 - 1

GATES = ("i", "f", "c", "o")  # TFLite's and PyTorch's gate order
GATE_INTEGER_BITS = 3  # gate pre-activations are Q3.12 (scale 2^-12, TFLite's intermediates 0-3 without layer norm)
GATE_SCALE = 2.0**-12
# p, the cell state's scale exponent: tanh of the cell reads it with 15 + p integer bits, and ApplyTanh has 0..6
CELL_EXPONENT_MIN, CELL_EXPONENT_MAX = -15, -9
MAX_INPUT_MAGNITUDE = 128  # |x|, |h| of a raw int8 value
GATE_ACCUMULATOR_LIMIT = INT32_MAX - 2**15
HIDDEN_SHIFT_MAX = 0


# ---------------------------------------------------------------------------
# gemmlowp's 16-bit fixed point (fixedpoint.h on FixedPoint<int16_t, IB>)
#
# A value with IB integer bits is a raw int16 q standing for q / 2^(15 - IB). The functions take and
# return int32 holding int16 values. Raw `+` and `-` wrap to int16 (gemmlowp adds in int and stores the
# sum into an int16_t: wrap_int16); a product of two raws is saturating_rounding_doubling_high_mul_fixed16
# (integer bits add); gemmlowp's int32 constants become int16 raws by rounding_divide_by_pot(k, 16).
# ---------------------------------------------------------------------------

EXP_MINUS_ONE_EIGHTH_FIXED16 = 28918  # 1895147668: exp(-1/8), Q0.15
ONE_THIRD_FIXED16 = 10923  # 715827883: 1/3, Q0.15
FORTY_EIGHT_OVER_SEVENTEEN_FIXED16 = 23130  # 1515870810: 48/17, Q2.13
MINUS_THIRTY_TWO_OVER_SEVENTEEN_FIXED16 = -15420  # -1010580540: -32/17, Q2.13
ONE_HALF_FIXED16 = 16384  # 1 << 30: 1/2, Q0.15
# exp(-2^e) for e = -2 .. 4 as Q0.15 raws (gemmlowp's 1672461947, 1302514674, 790015084, 290630308, 39332535,
# 720401, 242 divided by 2^16, rounded): the barrel of exp_on_negative_values_fixed16
EXP_BARREL_FIXED16 = np.array([25520, 19875, 12055, 4435, 600, 11, 0], dtype=np.int32)


@kernel(_i32(_i64))
def wrap_int16(v):
    """v modulo 2^16 as a signed int16 value: what storing an int into an int16_t does (two's complement)."""
    return np.int32(((v + 32768) & 0xFFFF) - 32768)


@kernel(_i32(_i64))
def saturate_int16(v):
    """v clamped to [-32768, 32767]."""
    if v < INT16_MIN:
        return np.int32(INT16_MIN)
    if v > INT16_MAX:
        return np.int32(INT16_MAX)
    return np.int32(v)


@kernel(_i32(_i32, _i32))
def saturating_rounding_doubling_high_mul_fixed16(a, b):
    """round(a * b / 2^15), ties toward +inf, of two int16 raws: gemmlowp's int16
    SaturatingRoundingDoublingHighMul.

    Numerics: as numerics.saturating_rounding_doubling_high_mul one size down. |a * b| <= 2^30; the nudge
    2^14 (product >= 0) or 1 - 2^14 (product < 0) and C's truncating division by 2^15 together are
    floor((a*b + 2^14) / 2^15). The only result outside int16 is a == b == -32768 (2^30 / 2^15 = 2^15),
    which saturates to 32767. ARM: SQRDMULH on 16-bit lanes.
    """
    if a == INT16_MIN and b == INT16_MIN:
        return np.int32(INT16_MAX)
    ab = np.int64(a) * np.int64(b)
    nudge = np.int64(1 << 14) if ab >= 0 else np.int64(1 - (1 << 14))
    t = ab + nudge
    q = t >> 15 if t >= 0 else -((-t) >> 15)  # C's truncating division; `>>` alone would floor
    return np.int32(q)


@kernel(_i32(_i32, _i32))
def saturating_rounding_multiply_by_pot_fixed16(x, exponent):
    """x * 2^exponent on an int16 raw: gemmlowp's SaturatingRoundingMultiplyByPOT (and Rescale) on int16.

    exponent <= 0: numerics.rounding_divide_by_pot (ties away from zero; exponent 0 returns x). exponent in
    [1, 14]: the left shift saturates exactly where x * 2^exponent leaves int16: with threshold =
    2^(15 - exponent) - 1, x > threshold gives 32767 and x < -threshold gives -32768 (x = -2^(15 - exponent)
    gives -32768 either way).
    """
    if exponent <= 0:
        return rounding_divide_by_pot(x, np.int32(-exponent))
    threshold = (1 << (15 - exponent)) - 1
    if x > threshold:
        return np.int32(INT16_MAX)
    if x < -threshold:
        return np.int32(INT16_MIN)
    return np.int32(x << exponent)  # |x| <= threshold: in int16


@kernel(_i32(_i32, _i32))
def rounding_half_sum_fixed16(a, b):
    """(a + b) / 2, ties away from zero: trunc((a + b + sign(a + b)) / 2), gemmlowp's int16 RoundingHalfSum.
    In [-32768, 32767] for int16 a, b."""
    s = np.int64(a) + np.int64(b)
    t = s + 1 if s >= 0 else s - 1
    return np.int32(t >> 1 if t >= 0 else -((-t) >> 1))


@kernel(_i32(_i32))
def exp_on_interval_between_negative_one_quarter_and_0_excl_fixed16(a):
    """exp(a) for a Q0.15 a in [-1/4, 0): gemmlowp's Taylor expansion around -1/8. With x = a + 1/8,
    exp(a) = exp(-1/8) (1 + x + x^2/2 + x^3/6 + x^4/24), the last three terms as ((x^4/4 + x^3) / 3 + x^2) / 2;
    every product rounds (saturating_rounding_doubling_high_mul_fixed16), every raw sum wraps, and the final
    sum saturates (gemmlowp's AddSaturatingIf16Bit)."""
    x = wrap_int16(a + (1 << 12))
    x2 = saturating_rounding_doubling_high_mul_fixed16(x, x)
    x3 = saturating_rounding_doubling_high_mul_fixed16(x2, x)
    x4 = saturating_rounding_doubling_high_mul_fixed16(x2, x2)
    x4_over_4 = saturating_rounding_multiply_by_pot_fixed16(x4, np.int32(-2))
    third = saturating_rounding_doubling_high_mul_fixed16(wrap_int16(x4_over_4 + x3), np.int32(ONE_THIRD_FIXED16))
    poly = saturating_rounding_multiply_by_pot_fixed16(wrap_int16(third + x2), np.int32(-1))
    return saturate_int16(EXP_MINUS_ONE_EIGHTH_FIXED16 + saturating_rounding_doubling_high_mul_fixed16(
        np.int32(EXP_MINUS_ONE_EIGHTH_FIXED16), wrap_int16(x + poly)))


@kernel(_i32(_i32, _i32))
def exp_on_negative_values_fixed16(a, integer_bits):
    """exp(a) as Q0.15 for a raw a <= 0 with integer_bits in [0, 7] (F = 15 - integer_bits fractional bits):
    gemmlowp's exp_on_negative_values on int16.

    Numerics: with q = 1/4 (raw 2^(F - 2)), m = (a mod q) - q in [-1/4, 0) (the raw's low bits, minus q,
    wrapped) is rescaled to Q0.15 (a saturating shift left by integer_bits) for the Taylor step; the
    remainder m - a = -(a - m) >= 0 is a sum of powers of two 2^e, e >= -2, and each set bit F + e
    multiplies the result by exp(-2^e) (EXP_BARREL_FIXED16), for e < integer_bits and e <= 4 (exp(-16)
    rounds to 0 in Q0.15). Below -32 (integer_bits > 5: raw rounding_divide_by_pot(-2^(36 - integer_bits),
    16)) the result is 0; at a = 0 it is 32767 (gemmlowp's One() of Q0.15).
    """
    fractional_bits = 15 - integer_bits
    one_quarter = np.int32(1 << (fractional_bits - 2))
    a_mod_quarter_minus_one_quarter = wrap_int16((a & (one_quarter - 1)) - one_quarter)
    result = exp_on_interval_between_negative_one_quarter_and_0_excl_fixed16(
        saturating_rounding_multiply_by_pot_fixed16(a_mod_quarter_minus_one_quarter, integer_bits))
    remainder = wrap_int16(a_mod_quarter_minus_one_quarter - a)
    for e in range(-2, 5):
        if integer_bits > e and (remainder & (1 << (fractional_bits + e))) != 0:  # a bit below 15
            result = saturating_rounding_doubling_high_mul_fixed16(result, EXP_BARREL_FIXED16[e + 2])
    if integer_bits > 5 and a < rounding_divide_by_pot(np.int32(-(1 << (36 - integer_bits))), np.int32(16)):
        result = np.int32(0)
    if a == 0:
        result = np.int32(INT16_MAX)
    return result


@kernel(_i32(_i32))
def newton_raphson_half_denominator_reciprocal_fixed16(a):
    """1 / d as Q2.13 for d = (1 + a) / 2, a Q0.15 a in [0, 1): gemmlowp's Newton-Raphson division, shared
    by one_over_one_plus_x_for_x_in_0_1 and one_minus_x_over_one_plus_x_for_x_in_0_1 (which differ only in
    their last Rescale). d = rounding_half_sum(a, One()); x0 = 48/17 - 32/17 d; three times
    x = x + 4 x (1 - d x) (Rescale<2> of a Q4 product: a saturating shift left by 2); 1 is raw 2^13."""
    half_denominator = rounding_half_sum_fixed16(a, np.int32(INT16_MAX))
    x = wrap_int16(FORTY_EIGHT_OVER_SEVENTEEN_FIXED16 + saturating_rounding_doubling_high_mul_fixed16(
        half_denominator, np.int32(MINUS_THIRTY_TWO_OVER_SEVENTEEN_FIXED16)))
    for _ in range(3):
        half_denominator_times_x = saturating_rounding_doubling_high_mul_fixed16(half_denominator, x)
        one_minus = wrap_int16((1 << 13) - half_denominator_times_x)
        x = wrap_int16(x + saturating_rounding_multiply_by_pot_fixed16(
            saturating_rounding_doubling_high_mul_fixed16(x, one_minus), np.int32(2)))
    return x


@kernel(_i32(_i32, _i32))
def logistic_fixed16(a, integer_bits):
    """logistic(a) as Q0.15 of a raw a with integer_bits in [0, 6]: gemmlowp's logistic on int16, TFLite's
    PortableApplySigmoid at integer_bits 3. Result in [0, 32767].

    a = 0 gives 1/2 (16384). Otherwise, with |a| = a for a > 0 and the wrapped -a else (-(-32768) wraps to
    -32768 as gemmlowp's Neg does), p = 1 / (1 + exp(-|a|)) = Rescale<0> of the Q1 reading of the Q2.13
    reciprocal (a saturating shift left by 1); the result is p for a > 0 and 32767 - p (wrapped) for a < 0.
    """
    if a == 0:
        return np.int32(ONE_HALF_FIXED16)
    abs_a = a if a > 0 else wrap_int16(-np.int64(a))
    positive = saturating_rounding_multiply_by_pot_fixed16(newton_raphson_half_denominator_reciprocal_fixed16(
        exp_on_negative_values_fixed16(wrap_int16(-np.int64(abs_a)), integer_bits)), np.int32(1))
    return positive if a > 0 else wrap_int16(INT16_MAX - positive)


@kernel(_i32(_i32, _i32))
def tanh_fixed16(a, integer_bits):
    """tanh(a) as Q0.15 of a raw a with integer_bits in [0, 6]: gemmlowp's tanh on int16, TFLite's
    PortableApplyTanh<integer_bits>. Result in [-32767, 32767].

    a = 0 gives 0. Otherwise n = a for a < 0 and the wrapped -a else; e = exp(2n), read as exp of the same raw
    with one more integer bit (gemmlowp's ExactMulByPot<1>); t = (1 - e) / (1 + e) = Rescale<0>(x - 1) of
    the Q2.13 reciprocal x (a saturating shift left by 2); the result is -t (wrapped) for a < 0, else t.
    """
    if a == 0:
        return np.int32(0)
    negative = a if a < 0 else wrap_int16(-np.int64(a))
    t = saturating_rounding_multiply_by_pot_fixed16(wrap_int16(newton_raphson_half_denominator_reciprocal_fixed16(
        exp_on_negative_values_fixed16(negative, integer_bits + 1)) - (1 << 13)), np.int32(2))
    return wrap_int16(-np.int64(t)) if a < 0 else t


# ---------------------------------------------------------------------------
# The kernel
# ---------------------------------------------------------------------------


@kernel(
    _i32(
        _i64, _i64, _i64, _i64,  # gate, cell, input_size, cell_size
        types.int32[::1], types.int8[::1],  # gate_mult, gate_shift
        types.int8[::1], _i64,  # input, input_base
        types.int8[::1], types.int8[::1], types.int32[::1], types.int32[::1],  # weights, effective biases
        types.int8[::1],  # hidden_state
    )
)
def lstm_gate_preactivation(gate, cell, input_size, cell_size, gate_mult, gate_shift, input, input_base,
                            input_weights, recurrent_weights, input_bias, recurrent_bias, hidden_state):
    """Gate `gate`'s (0..3: i, f, c, o) Q3.12 pre-activation of one cell: TFLite's two
    MatrixBatchVectorMultiplyAccumulate calls into a zeroed int16 gate (RECURRENT.md 3.4 steps 1-2):
    sat16(MBQM(bh + h . W_h, mult_h, shift_h) + sat16(MBQM(bx + x . W_x, mult_x, shift_x))). The sums are
    int64 here and lie in int32 by the module's accumulator bound; so does the sum of the requantized value
    and the gate."""
    row = gate * cell_size + cell
    acc = np.int64(input_bias[row])
    base = row * input_size
    for k in range(input_size):
        acc += np.int64(input[input_base + k]) * np.int64(input_weights[base + k])
    from_input = saturate_int16(multiply_by_quantized_multiplier(np.int32(acc), gate_mult[gate],
                                                                 np.int32(gate_shift[gate])))
    acc = np.int64(recurrent_bias[row])
    base = row * cell_size
    for k in range(cell_size):
        acc += np.int64(hidden_state[k]) * np.int64(recurrent_weights[base + k])
    from_state = multiply_by_quantized_multiplier(np.int32(acc), gate_mult[4 + gate], np.int32(gate_shift[4 + gate]))
    return saturate_int16(np.int64(from_state) + from_input)


@kernel(
    types.void(
        _i64, _i64, _i64,  # steps, input_size, cell_size
        types.int32[::1], types.int8[::1],  # gate_mult, gate_shift: 8 each
        _i32, _i32, _i32,  # hidden_mult, hidden_shift, hidden_zp
        _i32, _i32,  # cell_exponent, cell_clip
        types.int8[::1],  # input [T, I]
        types.int8[::1], types.int8[::1],  # input_weights [4, C, I], recurrent_weights [4, C, C]
        types.int32[::1], types.int32[::1],  # input_bias, recurrent_bias [4, C] (effective)
        types.int8[::1], types.int16[::1],  # hidden_state [C], cell_state [C]: read and updated
        types.int8[::1],  # output [T, C]
    )
)
def lstm_8x8_16(
    steps, input_size, cell_size,
    gate_mult, gate_shift,
    hidden_mult, hidden_shift, hidden_zp,
    cell_exponent, cell_clip,
    input, input_weights, recurrent_weights, input_bias, recurrent_bias,
    hidden_state, cell_state, output,
):
    """The jitted kernel (the module docstring derives it and states the layout). Trusts its caller:
    cell_exponent in [-15, -9], cell_clip in [0, 32767] (0: no clip), hidden_shift <= 0, the accumulator
    bound. Runs `steps` time steps on one sequence, updating hidden_state and cell_state in place."""
    cell_integer_bits = np.int32(15 + cell_exponent)
    cell_gate_exponent = np.int32(30 + cell_exponent)
    for t in range(steps):
        input_base = t * input_size
        out_base = t * cell_size
        for r in range(cell_size):
            input_gate = logistic_fixed16(lstm_gate_preactivation(
                0, r, input_size, cell_size, gate_mult, gate_shift, input, input_base, input_weights,
                recurrent_weights, input_bias, recurrent_bias, hidden_state), np.int32(GATE_INTEGER_BITS))
            forget_gate = logistic_fixed16(lstm_gate_preactivation(
                1, r, input_size, cell_size, gate_mult, gate_shift, input, input_base, input_weights,
                recurrent_weights, input_bias, recurrent_bias, hidden_state), np.int32(GATE_INTEGER_BITS))
            cell_gate = tanh_fixed16(lstm_gate_preactivation(
                2, r, input_size, cell_size, gate_mult, gate_shift, input, input_base, input_weights,
                recurrent_weights, input_bias, recurrent_bias, hidden_state), np.int32(GATE_INTEGER_BITS))
            # f in [0, 32767], c in int16: |f c| <= 32767 * 32768 < 2^30, and the quotient by 2^15 fits int16;
            # i in [0, 32767], g in [-32767, 32767]: |i g| < 2^30, by 2^(30 + p) >= 2^15 also in int16
            kept = rounding_divide_by_pot(np.int32(np.int64(forget_gate) * np.int64(cell_state[r])), np.int32(15))
            added = rounding_divide_by_pot(np.int32(np.int64(input_gate) * np.int64(cell_gate)), cell_gate_exponent)
            c = saturate_int16(np.int64(kept) + np.int64(added))
            if cell_clip > 0:
                if c > cell_clip:
                    c = cell_clip
                elif c < -cell_clip:
                    c = -cell_clip
            cell_state[r] = np.int16(c)
            output_gate = logistic_fixed16(lstm_gate_preactivation(
                3, r, input_size, cell_size, gate_mult, gate_shift, input, input_base, input_weights,
                recurrent_weights, input_bias, recurrent_bias, hidden_state), np.int32(GATE_INTEGER_BITS))
            # o in [0, 32767], tanh in [-32767, 32767]: |o tanh(c)| < 2^30; hidden_shift <= 0: no left shift
            product = np.int32(np.int64(output_gate) * np.int64(tanh_fixed16(np.int32(c), cell_integer_bits)))
            h = np.int64(multiply_by_quantized_multiplier(product, hidden_mult, hidden_shift)) + hidden_zp
            if h < -128:
                h = -128
            elif h > 127:
                h = 127
            output[out_base + r] = np.int8(h)
        for r in range(cell_size):  # the new h, the next step's recurrent input
            hidden_state[r] = output[out_base + r]


# ---------------------------------------------------------------------------
# Prepare: float scales -> integer parameters (TFLite's PopulateQuantizedLstmParams8x8_16)
# ---------------------------------------------------------------------------


class LstmParams(NamedTuple):
    """Everything lstm_8x8_16 takes besides the sequence and the states: lstm_8x8_16_params computes it.

    input_weights int8 [4, C, I], recurrent_weights int8 [4, C, C] (gate order i, f, c, o); input_bias and
    recurrent_bias int32 [4, C], the effective biases with the zero points folded in; gate_mult int32 [8]
    and gate_shift int8 [8]: input-to-i, f, c, o, then recurrent-to-i, f, c, o; hidden_mult, hidden_shift,
    hidden_zp: the hidden product's requantization (LSTM intermediate 4); cell_exponent p (cell scale 2^p);
    cell_clip (quantized, 0: none); state_zp: h's zero point (TFLite resets h to it)."""

    input_weights: np.ndarray
    recurrent_weights: np.ndarray
    input_bias: np.ndarray
    recurrent_bias: np.ndarray
    gate_mult: np.ndarray
    gate_shift: np.ndarray
    hidden_mult: int
    hidden_shift: int
    hidden_zp: int
    cell_exponent: int
    cell_clip: int
    state_zp: int


def _float32_scale(fn: str, name: str, value) -> np.float32:
    """A scale as a .tflite stores it: float32, finite and > 0."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{fn}: {name} must be a number, got {value!r}")
    with np.errstate(over="ignore"):
        s = np.float32(value)
    if not (math.isfinite(float(s)) and s > 0):
        raise ValueError(f"{fn}: {name} must be finite and > 0 as a float32, got {value!r}")
    return s


def _gate_scales(fn: str, name: str, value) -> list[np.float32]:
    """One scale per gate (i, f, c, o), or one for all four."""
    values = list(np.atleast_1d(np.asarray(value, dtype=object)).reshape(-1))
    if len(values) == 1:
        values = values * 4
    if len(values) != 4:
        raise ValueError(f"{fn}: {name} must hold 1 or 4 scales (gate order i, f, c, o), got {len(values)}")
    return [_float32_scale(fn, f"{name}[{g}]", v) for g, v in enumerate(values)]


def checked_log2(x: np.float32) -> tuple[int, bool]:
    """TFLite's CheckedLog2 on a float32: (round(log2 x), whether x is a power of two within 1e-3 in the
    exponent), all in float32 as TFLite computes it: log(x) * (1 / log(2)), rounded half away from zero."""
    with np.errstate(all="ignore"):
        log2 = np.float32(np.log(np.float32(x))) * (np.float32(1.0) / np.float32(np.log(np.float32(2.0))))
    rounded = np.float32(math.copysign(math.floor(abs(float(log2)) + 0.5), float(log2)))
    return int(rounded), bool(abs(np.float32(log2 - rounded)) < np.float32(1e-3))


def _multiplier(fn: str, name: str, real) -> tuple[int, int]:
    try:
        return quantize_multiplier(float(real))
    except ValueError as exc:
        raise ValueError(f"{fn}: the effective scale of {name}, {float(real)!r}, cannot be encoded ({exc})") from exc


def lstm_8x8_16_params(
    input_weights: np.ndarray,
    recurrent_weights: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    input_scale: float,
    input_zp: int,
    input_weight_scales,
    recurrent_weight_scales,
    state_scale: float,
    state_zp: int,
    cell_scale: float,
    hidden_scale: float | None = None,
    hidden_zp: int | None = None,
    cell_clip: float = 0.0,
) -> LstmParams:
    """The integer parameters of an 8x8_16 LSTM from its float scales, exactly as TFLite's Prepare computes
    them (RECURRENT.md 3.3), with the zero points folded into the biases.

    Args:
      input_weights: int8 [4, C, I], recurrent_weights: int8 [4, C, C], symmetric, gate order i, f, c, o.
      bias: int32 [4, C] at input_scale * input_weight_scales[G] (PyTorch: b_ih + b_hh), or None (zeros).
      input_scale, input_zp: the input x's quantization.
      input_weight_scales, recurrent_weight_scales: one per-tensor scale per gate (4), or one for all.
      state_scale, state_zp: the hidden state h's quantization (and the output sequence's).
      cell_scale: the int16 cell state's scale, a power of two 2^p with p in [-15, -9] (TFLite's CheckedLog2:
        within 1e-3 in the exponent).
      hidden_scale, hidden_zp: LSTM intermediate 4 (the product o tanh(c)); default: the state's.
      cell_clip: the real cell clip (0: none), quantized as TFLite does.

    Every scale is first rounded to float32, as a .tflite stores it. The effective scales are float32
    products (s_w s_x / 2^-12, s_w s_h / 2^-12) and 2^-30 / s_hid computed in double and stored as float32,
    then numerics.quantize_multiplier. The quantized clip is trunc(min(cell_clip / cell_scale, 32767)) in
    float32. bx_G = bias_G - input_zp * rowsum(W_x,G), bh_G = -state_zp * rowsum(W_h,G).

    Raises:
      ValueError naming the argument, as lstm does, and for a layer over the accumulator bound.
    """
    fn = "lstm_8x8_16_params"
    wx, wh = gate_weights(fn, input_weights, recurrent_weights, prefix="")
    cells = wx.shape[1]
    b = np.zeros((4, cells), np.int32) if bias is None else _checks.array(fn, "bias", bias, np.int32, 2)
    if b.shape != (4, cells):
        raise ValueError(f"{fn}: bias must be [4, C] = {(4, cells)}, got shape {b.shape}")
    x_zp = _checks.integer(fn, "input_zp", input_zp, _checks.INT8_MIN, _checks.INT8_MAX)
    h_zp = _checks.integer(fn, "state_zp", state_zp, _checks.INT8_MIN, _checks.INT8_MAX)
    hid_zp = h_zp if hidden_zp is None else _checks.integer(fn, "hidden_zp", hidden_zp, _checks.INT8_MIN,
                                                           _checks.INT8_MAX)
    s_x = _float32_scale(fn, "input_scale", input_scale)
    s_h = _float32_scale(fn, "state_scale", state_scale)
    s_c = _float32_scale(fn, "cell_scale", cell_scale)
    s_hid = s_h if hidden_scale is None else _float32_scale(fn, "hidden_scale", hidden_scale)
    sw_x = _gate_scales(fn, "input_weight_scales", input_weight_scales)
    sw_h = _gate_scales(fn, "recurrent_weight_scales", recurrent_weight_scales)

    p, is_pot = checked_log2(s_c)
    if not is_pot:
        raise ValueError(f"{fn}: cell_scale must be a power of two, got {float(s_c)!r}")
    if not CELL_EXPONENT_MIN <= p <= CELL_EXPONENT_MAX:
        raise ValueError(f"{fn}: cell_scale must be 2^p with p in [{CELL_EXPONENT_MIN}, {CELL_EXPONENT_MAX}] "
                         f"(tanh of the cell reads it with 15 + p integer bits, 0..6), got 2^{p}")
    if isinstance(cell_clip, (bool, np.bool_)) or not isinstance(cell_clip, (int, float, np.integer, np.floating)):
        raise ValueError(f"{fn}: cell_clip must be a number, got {cell_clip!r}")
    clip = np.float32(cell_clip)
    if not (math.isfinite(float(clip)) and clip >= 0):
        raise ValueError(f"{fn}: cell_clip must be finite and >= 0 (0: no clip), got {cell_clip!r}")
    quantized_clip = int(min(max(clip / s_c, np.float32(INT16_MIN)), np.float32(INT16_MAX))) if clip > 0 else 0

    gate_scale = np.float32(GATE_SCALE)
    pairs = [_multiplier(fn, f"input-to-{g}", np.float32(sw_x[k] * s_x) / gate_scale) for k, g in enumerate(GATES)]
    pairs += [_multiplier(fn, f"recurrent-to-{g}", np.float32(sw_h[k] * s_h) / gate_scale) for k, g in enumerate(GATES)]
    hidden_mult, hidden_shift = _multiplier(fn, "the hidden product", np.float32(2.0**-15 / float(s_hid) * 2.0**-15))
    if hidden_shift > HIDDEN_SHIFT_MAX:
        raise ValueError(f"{fn}: hidden_scale {float(s_hid)!r} is too small: the hidden product's multiplier "
                         f"2^-30 / hidden_scale needs shift {hidden_shift}, above {HIDDEN_SHIFT_MAX}")

    # int64 row sums, exact; _check_params below refuses any effective bias outside int32
    bx = b.astype(np.int64) - x_zp * wx.astype(np.int64).sum(axis=2)
    bh = -h_zp * wh.astype(np.int64).sum(axis=2)
    for name, v in (("input-to-gate effective bias", bx), ("recurrent effective bias", bh)):
        if np.abs(v).max() > INT32_MAX:
            raise ValueError(f"{fn}: the {name} leaves int32 ({int(np.abs(v).max())})")
    params = LstmParams(
        input_weights=wx, recurrent_weights=wh, input_bias=bx.astype(np.int32), recurrent_bias=bh.astype(np.int32),
        gate_mult=np.array([m for m, _ in pairs], np.int32), gate_shift=np.array([s for _, s in pairs], np.int8),
        hidden_mult=hidden_mult, hidden_shift=hidden_shift, hidden_zp=hid_zp, cell_exponent=p,
        cell_clip=quantized_clip, state_zp=h_zp)
    _check_params(fn, params)
    return params


def gate_accumulator_overflow(input_weights, recurrent_weights, input_bias, recurrent_bias, gate_shift):
    """The accumulator rule (module docstring) of the 8 gate matmuls: None when every row's
    (|bias| + 128 sum|w|) 2^max(shift, 0) <= GATE_ACCUMULATOR_LIMIT, else (side, gate, cell, bound) of the worst
    ("input" or "recurrent"). Weights [4, C, K], biases [4, C], gate_shift [8]; the public wrapper and both
    loaders apply it (the C loader its twin in mfb_ops.c)."""
    shift = np.asarray(gate_shift, np.int64)
    for side, w, b, offset in (("input", input_weights, input_bias, 0), ("recurrent", recurrent_weights,
                                                                        recurrent_bias, 4)):
        bound = np.abs(np.asarray(b, np.int64)) + MAX_INPUT_MAGNITUDE * np.abs(np.asarray(w, np.int64)).sum(axis=2)
        bound = bound * (np.int64(1) << np.maximum(shift[offset:offset + 4], 0))[:, None]
        if bound.max() > GATE_ACCUMULATOR_LIMIT:
            g, r = np.unravel_index(int(np.argmax(bound)), bound.shape)
            return side, int(g), int(r), int(bound[g, r])
    return None


def gate_weights(fn: str, input_weights, recurrent_weights, prefix: str = "params.") -> tuple[np.ndarray, np.ndarray]:
    """An LSTM's gate matrices (either integer form), checked: int8 input-to-gate [4, C, I] and recurrent-to-gate
    [4, C, C] weights, C, I >= 1, no -128 (symmetric); as contiguous arrays. prefix: how the caller's arguments
    name them ("params." for a params tuple's fields, "" for a params function's own arguments)."""
    wx = _checks.array(fn, f"{prefix}input_weights", input_weights, np.int8, 3)
    if wx.shape[0] != 4 or min(wx.shape) < 1:
        raise ValueError(f"{fn}: {prefix}input_weights must be [4, C, I] with C, I >= 1, got shape {wx.shape}")
    cells = wx.shape[1]
    wh = _checks.array(fn, f"{prefix}recurrent_weights", recurrent_weights, np.int8, 3)
    if wh.shape != (4, cells, cells):
        raise ValueError(f"{fn}: {prefix}recurrent_weights must be [4, C, C] = {(4, cells, cells)}, got shape "
                         f"{wh.shape}")
    _checks.weights(fn, f"{prefix}input_weights", wx)
    _checks.weights(fn, f"{prefix}recurrent_weights", wh)
    return wx, wh


def gate_multipliers(fn: str, gate_mult, gate_shift, shift_max: int) -> tuple[np.ndarray, np.ndarray]:
    """An LSTM's 8 gate multipliers (input-to-G, then recurrent-to-G), checked: int32 in [0, 2^31 - 1], int8 shifts
    in [SHIFT_MIN, shift_max]; as contiguous arrays."""
    mult = _checks.array(fn, "params.gate_mult", gate_mult, np.int32, 1)
    shift = _checks.array(fn, "params.gate_shift", gate_shift, np.int8, 1)
    if mult.shape != (8,) or shift.shape != (8,):
        raise ValueError(f"{fn}: params.gate_mult and params.gate_shift must hold 8 values, got {mult.shape}, "
                         f"{shift.shape}")
    if mult.min() < 0:
        raise ValueError(f"{fn}: params.gate_mult must be in [0, 2^31 - 1], got {int(mult.min())}")
    if shift.min() < SHIFT_MIN or shift.max() > shift_max:
        raise ValueError(f"{fn}: params.gate_shift must be in [{SHIFT_MIN}, {shift_max}], "
                         f"got [{int(shift.min())}, {int(shift.max())}]")
    return mult, shift


def _check_params(fn: str, params) -> LstmParams:
    """Every field of an LstmParams within what lstm_8x8_16 takes (module docstring), as contiguous arrays."""
    if not isinstance(params, LstmParams):
        raise ValueError(f"{fn}: params must be an LstmParams (lstm_8x8_16_params), got {type(params).__name__}")
    wx, wh = gate_weights(fn, params.input_weights, params.recurrent_weights)
    cells = wx.shape[1]
    bx = _checks.array(fn, "params.input_bias", params.input_bias, np.int32, 2)
    bh = _checks.array(fn, "params.recurrent_bias", params.recurrent_bias, np.int32, 2)
    for name, v in (("params.input_bias", bx), ("params.recurrent_bias", bh)):
        if v.shape != (4, cells):
            raise ValueError(f"{fn}: {name} must be [4, C] = {(4, cells)}, got shape {v.shape}")
    mult, shift = gate_multipliers(fn, params.gate_mult, params.gate_shift, SHIFT_MAX)
    _checks.integer(fn, "params.hidden_mult", params.hidden_mult, 0, INT32_MAX)
    _checks.integer(fn, "params.hidden_shift", params.hidden_shift, SHIFT_MIN, HIDDEN_SHIFT_MAX)
    _checks.integer(fn, "params.hidden_zp", params.hidden_zp, _checks.INT8_MIN, _checks.INT8_MAX)
    _checks.integer(fn, "params.cell_exponent", params.cell_exponent, CELL_EXPONENT_MIN, CELL_EXPONENT_MAX)
    _checks.integer(fn, "params.cell_clip", params.cell_clip, 0, INT16_MAX)
    _checks.integer(fn, "params.state_zp", params.state_zp, _checks.INT8_MIN, _checks.INT8_MAX)
    worst = gate_accumulator_overflow(wx, wh, bx, bh, shift)
    if worst is not None:
        side, g, r, bound = worst
        raise ValueError(f"{fn}: the {side}-to-{GATES[g]} accumulator of cell {r} could reach {bound} "
                         f"((|bias| + 128 * sum|w|) * 2^max(shift, 0)), above 2^31 - 1 - 2^15")
    return params._replace(input_weights=wx, recurrent_weights=wh, input_bias=bx, recurrent_bias=bh,
                           gate_mult=mult, gate_shift=shift)


def lstm(
    input: np.ndarray,
    params: LstmParams,
    hidden_state: np.ndarray | None = None,
    cell_state: np.ndarray | None = None,
    *,
    backend: str = "numba",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TFLite's integer UNIDIRECTIONAL_SEQUENCE_LSTM (8x8_16, no peephole, projection, layer norm or CIFG) on
    one sequence, bit-exact with LiteRT's reference kernels.

    Args:
      input: int8 [T, I], time-major, batch 1.
      params: LstmParams from lstm_8x8_16_params.
      hidden_state: int8 [C], the h to start from; None: params.state_zp everywhere (real 0, TFLite's reset).
      cell_state: int16 [C], the c to start from; None: zeros. Neither argument is modified.
      backend: "numba" or "c".

    Returns:
      (output int8 [T, C], the final hidden_state int8 [C], the final cell_state int16 [C]). Passing the
      final states to the next call continues the sequence, as a second Invoke of a TFLite interpreter does.

    Raises:
      ValueError naming the argument, for any shape, dtype or range violation (module docstring).
    """
    fn = "lstm"
    check_backend(fn, backend)
    p = _check_params(fn, params)
    x = _checks.array(fn, "input", input, np.int8, 2)
    cells, input_size = p.input_weights.shape[1], p.input_weights.shape[2]
    if x.shape[0] < 1 or x.shape[1] != input_size:
        raise ValueError(f"{fn}: input must be [T, I] with T >= 1 and I = {input_size}, got shape {x.shape}")
    if hidden_state is None:
        h = np.full(cells, p.state_zp, np.int8)
    else:
        h = _checks.array(fn, "hidden_state", hidden_state, np.int8, 1).copy()
    if cell_state is None:
        c = np.zeros(cells, np.int16)
    else:
        c = _checks.array(fn, "cell_state", cell_state, np.int16, 1).copy()
    for name, v in (("hidden_state", h), ("cell_state", c)):
        if v.shape != (cells,):
            raise ValueError(f"{fn}: {name} must hold C = {cells} values, got shape {v.shape}")
    out = np.empty((x.shape[0], cells), np.int8)
    run_kernel(backend, lstm_8x8_16, steps=x.shape[0], input_size=input_size, cell_size=cells,
               gate_mult=p.gate_mult, gate_shift=p.gate_shift, hidden_mult=p.hidden_mult,
               hidden_shift=p.hidden_shift, hidden_zp=p.hidden_zp, cell_exponent=p.cell_exponent,
               cell_clip=p.cell_clip, input=x.reshape(-1), input_weights=p.input_weights.reshape(-1),
               recurrent_weights=p.recurrent_weights.reshape(-1), input_bias=p.input_bias.reshape(-1),
               recurrent_bias=p.recurrent_bias.reshape(-1), hidden_state=h, cell_state=c, output=out.reshape(-1))
    return out, h, c
