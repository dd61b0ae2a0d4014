/*
 * gemmlowp's 16-bit fixed-point logistic and tanh (fixedpoint/fixedpoint.h on FixedPoint<int16_t, IB>), as
 * TFLite's integer LSTM evaluates them (PortableApplySigmoid / PortableApplyTanh): the C twins of the
 * *_fixed16 functions in lstm.py, same names, same argument order, same results on every input.
 * docs/RECURRENT.md section 3.2 states the arithmetic; lstm.py derives each step.
 *
 * A value with IB integer bits is a raw int16 q standing for q / 2^(15 - IB). The functions take and
 * return int32_t holding int16 values, as their Numba twins do. Raw `+` and `-` wrap to int16
 * (wrap_int16: gemmlowp adds in int and stores into an int16_t); a product of two raws is
 * saturating_rounding_doubling_high_mul_fixed16, whose integer bits add.
 *
 * Static inline and local to lstm.c: not part of the cffi interface.
 */
#ifndef MICROFLAT_FIXED_POINT16_H
#define MICROFLAT_FIXED_POINT16_H

#include <stdint.h>

#include "numerics.h"

#define MF_INT16_MIN (-32768)
#define MF_INT16_MAX 32767

/* gemmlowp's int32 constants as int16 raws: rounding_divide_by_pot(constant, 16). */
#define MF_FIXED16_EXP_MINUS_ONE_EIGHTH 28918           /* 1895147668: exp(-1/8), Q0.15 */
#define MF_FIXED16_ONE_THIRD 10923                      /* 715827883: 1/3, Q0.15 */
#define MF_FIXED16_FORTY_EIGHT_OVER_SEVENTEEN 23130     /* 1515870810: 48/17, Q2.13 */
#define MF_FIXED16_MINUS_THIRTY_TWO_OVER_SEVENTEEN (-15420) /* -1010580540: -32/17, Q2.13 */
#define MF_FIXED16_ONE_HALF 16384                       /* 1 << 30: 1/2, Q0.15 */

/* v modulo 2^16 as a signed int16 value (two's complement, as GCC, Clang and arm-none-eabi-gcc convert). */
static inline int32_t wrap_int16(int32_t v)
{
    return (int16_t)(uint16_t)(uint32_t)v;
}

/* v clamped to [-32768, 32767]. */
static inline int32_t saturate_int16(int32_t v)
{
    return v < MF_INT16_MIN ? MF_INT16_MIN : (v > MF_INT16_MAX ? MF_INT16_MAX : v);
}

/*
 * round(a * b / 2^15), ties toward +inf; a == b == -32768 saturates to 32767. |a * b| <= 2^30 fits int32;
 * C99's `/` truncates toward zero, which with the sign-dependent nudge is floor((a*b + 2^14) / 2^15), and
 * the quotient lies in [-32767, 32767] once the one overflow case is excluded.
 */
static inline int32_t saturating_rounding_doubling_high_mul_fixed16(int32_t a, int32_t b)
{
    if (a == MF_INT16_MIN && b == MF_INT16_MIN) {
        return MF_INT16_MAX;
    }
    const int32_t ab = a * b;
    const int32_t nudge = ab >= 0 ? (1 << 14) : 1 - (1 << 14);
    return (ab + nudge) / (1 << 15); /* |ab + nudge| <= 2^30 + 2^14 */
}

/*
 * x * 2^exponent on int16 raws: rounding_divide_by_pot for exponent <= 0 (ties away from zero); for
 * exponent in [1, 14] the int16 left shift saturates where x * 2^exponent leaves int16:
 * x > 2^(15 - exponent) - 1 gives 32767, x < -(2^(15 - exponent) - 1) gives -32768.
 */
static inline int32_t saturating_rounding_multiply_by_pot_fixed16(int32_t x, int32_t exponent)
{
    if (exponent <= 0) {
        return rounding_divide_by_pot(x, -exponent);
    }
    const int32_t threshold = (1 << (15 - exponent)) - 1;
    if (x > threshold) {
        return MF_INT16_MAX;
    }
    if (x < -threshold) {
        return MF_INT16_MIN;
    }
    return x * (1 << exponent); /* |x| <= threshold: in int16 */
}

/* (a + b) / 2, ties away from zero: trunc((a + b + sign) / 2), in [-32768, 32767] for int16 a, b. */
static inline int32_t rounding_half_sum_fixed16(int32_t a, int32_t b)
{
    const int32_t sum = a + b;
    return (sum + (sum >= 0 ? 1 : -1)) / 2;
}

/* exp(a) for a Q0.15 a in [-1/4, 0): gemmlowp's Taylor expansion around -1/8, x = a + 1/8. */
static inline int32_t exp_on_interval_between_negative_one_quarter_and_0_excl_fixed16(int32_t a)
{
    const int32_t x = wrap_int16(a + (1 << 12));
    const int32_t x2 = saturating_rounding_doubling_high_mul_fixed16(x, x);
    const int32_t x3 = saturating_rounding_doubling_high_mul_fixed16(x2, x);
    const int32_t x4 = saturating_rounding_doubling_high_mul_fixed16(x2, x2);
    const int32_t x4_over_4 = saturating_rounding_multiply_by_pot_fixed16(x4, -2);
    const int32_t poly = saturating_rounding_multiply_by_pot_fixed16(
        wrap_int16(saturating_rounding_doubling_high_mul_fixed16(wrap_int16(x4_over_4 + x3), MF_FIXED16_ONE_THIRD)
                   + x2),
        -1);
    return saturate_int16(MF_FIXED16_EXP_MINUS_ONE_EIGHTH + saturating_rounding_doubling_high_mul_fixed16(
                                                                MF_FIXED16_EXP_MINUS_ONE_EIGHTH,
                                                                wrap_int16(x + poly)));
}

/*
 * exp(a) as Q0.15 for a <= 0 with integer_bits in [0, 7] (15 - integer_bits fractional bits): the
 * quarter-interval Taylor step on (a mod 1/4) - 1/4, then one multiplier exp(-2^e) for each set bit e of
 * the remainder (e = -2 .. min(4, integer_bits - 1)), 0 below -32 (integer_bits > 5), 1 at a = 0.
 */
static inline int32_t exp_on_negative_values_fixed16(int32_t a, int32_t integer_bits)
{
    /* exp(-2^e) for e = -2 .. 4, gemmlowp's int32 constants rounded to int16 raws */
    static const int16_t barrel[7] = {25520, 19875, 12055, 4435, 600, 11, 0};
    const int32_t fractional_bits = 15 - integer_bits;
    const int32_t one_quarter = 1 << (fractional_bits - 2);
    const int32_t a_mod_quarter_minus_one_quarter = wrap_int16((a & (one_quarter - 1)) - one_quarter);
    int32_t result = exp_on_interval_between_negative_one_quarter_and_0_excl_fixed16(
        saturating_rounding_multiply_by_pot_fixed16(a_mod_quarter_minus_one_quarter, integer_bits));
    const int32_t remainder = wrap_int16(a_mod_quarter_minus_one_quarter - a);
    for (int32_t e = -2; e <= 4; ++e) {
        if (integer_bits > e && (remainder & (1 << (fractional_bits + e))) != 0) { /* bit below 15 */
            result = saturating_rounding_doubling_high_mul_fixed16(result, barrel[e + 2]);
        }
    }
    if (integer_bits > 5 && a < rounding_divide_by_pot(-(1 << (36 - integer_bits)), 16)) { /* -32.0 */
        result = 0;
    }
    if (a == 0) {
        result = MF_INT16_MAX;
    }
    return result;
}

/*
 * Newton-Raphson for 1 / (1 + a), a Q0.15 a in [0, 1): three steps from 48/17 - 32/17 d on the half
 * denominator d = (1 + a) / 2; returns x ~ 1 / d as Q2.13.
 */
static inline int32_t newton_raphson_half_denominator_reciprocal_fixed16(int32_t a)
{
    const int32_t half_denominator = rounding_half_sum_fixed16(a, MF_INT16_MAX);
    int32_t x = wrap_int16(MF_FIXED16_FORTY_EIGHT_OVER_SEVENTEEN + saturating_rounding_doubling_high_mul_fixed16(
                                                                       half_denominator,
                                                                       MF_FIXED16_MINUS_THIRTY_TWO_OVER_SEVENTEEN));
    for (int32_t i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = saturating_rounding_doubling_high_mul_fixed16(half_denominator, x);
        const int32_t one_minus = wrap_int16((1 << 13) - half_denominator_times_x);
        x = wrap_int16(x + saturating_rounding_multiply_by_pot_fixed16(
                               saturating_rounding_doubling_high_mul_fixed16(x, one_minus), 2));
    }
    return x;
}

/* logistic(a) as Q0.15 (in [0, 32767]) of a raw a with integer_bits in [0, 6]. */
static inline int32_t logistic_fixed16(int32_t a, int32_t integer_bits)
{
    if (a == 0) {
        return MF_FIXED16_ONE_HALF;
    }
    const int32_t abs_a = a > 0 ? a : wrap_int16(-a); /* -(-32768) wraps to -32768, as gemmlowp's Neg */
    const int32_t positive = saturating_rounding_multiply_by_pot_fixed16(
        newton_raphson_half_denominator_reciprocal_fixed16(exp_on_negative_values_fixed16(wrap_int16(-abs_a),
                                                                                          integer_bits)),
        1);
    return a > 0 ? positive : wrap_int16(MF_INT16_MAX - positive);
}

/* tanh(a) as Q0.15 (in [-32767, 32767]) of a raw a with integer_bits in [0, 6]: (1 - e) / (1 + e), e = exp(-2|a|). */
static inline int32_t tanh_fixed16(int32_t a, int32_t integer_bits)
{
    if (a == 0) {
        return 0;
    }
    const int32_t negative = a < 0 ? a : wrap_int16(-a);
    /* one more integer bit reads the raw as twice the value: exp(2 * negative) */
    const int32_t t = saturating_rounding_multiply_by_pot_fixed16(
        wrap_int16(newton_raphson_half_denominator_reciprocal_fixed16(
                       exp_on_negative_values_fixed16(negative, integer_bits + 1)) -
                   (1 << 13)),
        2);
    return a < 0 ? wrap_int16(-t) : t;
}

#endif /* MICROFLAT_FIXED_POINT16_H */
