/*
 * microflat integer numerics: the C twin of numerics.py.
 *
 * Same names, same argument order, same results on every input as the Numba
 * functions in numerics.py, whose docstrings derive each formula; the short
 * form is repeated here. Jacob et al. 2018 as gemmlowp and TFLite implement
 * it, with TFLite's default rounding (double rounding).
 *
 * Sign convention for `shift`: the exponent of 2, as TFLite. A real
 * multiplier M is encoded as mult * 2^(shift - 31), mult in [0, 2^31),
 * shift in [-31, 30]. shift > 0 shifts left, shift < 0 shifts right.
 *
 * C99, integer only, no libc. Every intermediate that needs 64 bits is
 * computed in int64_t, and every narrowing cast is justified by a range.
 */
#ifndef MICROFLAT_NUMERICS_H
#define MICROFLAT_NUMERICS_H

#include <stdint.h>

#define MF_SHIFT_MIN (-31)
#define MF_SHIFT_MAX 30

/*
 * `>>` of a negative signed integer is implementation-defined in C99.
 * gemmlowp, TFLite and CMSIS-NN all rely on it being arithmetic (flooring),
 * as it is on GCC, Clang and arm-none-eabi-gcc. Refuse to compile otherwise.
 */
typedef char mf_requires_arithmetic_right_shift[((-8 >> 1) == -4) ? 1 : -1];

/* cffi-begin: the declarations below are also read by kernels/_build_native.py */
static inline int32_t saturating_rounding_doubling_high_mul(int32_t a, int32_t b);
static inline int32_t rounding_divide_by_pot(int32_t x, int32_t exponent);
static inline int32_t multiply_by_quantized_multiplier(int32_t x, int32_t mult, int32_t shift);
int32_t mf_multiply_by_quantized_multiplier_reference(int32_t x, int32_t mult, int32_t shift);
static inline int32_t requantize(int32_t acc, int32_t mult, int32_t shift, int32_t output_zp,
                                 int32_t act_min, int32_t act_max);
static inline int32_t multiply_by_quantized_multiplier_single_rounding(int64_t x, int32_t mult, int32_t shift);
static inline int32_t requantize_single_rounding(int32_t acc, int32_t mult, int32_t shift, int32_t output_zp,
                                                 int32_t act_min, int32_t act_max);
static inline int32_t multiply_by_quantized_multiplier_int64(int64_t x, int32_t mult, int32_t shift);
static inline int32_t requantize_int64(int64_t acc, int32_t mult, int32_t shift, int32_t act_min, int32_t act_max);
static inline int32_t requantize_int64_single_rounding(int64_t acc, int32_t mult, int32_t shift, int32_t act_min,
                                                       int32_t act_max);
static inline int32_t wrapping_add(int32_t a, int32_t b);
static inline int32_t saturating_rounding_multiply_by_pot(int32_t x, int32_t exponent);
static inline int32_t rounding_half_sum(int32_t a, int32_t b);
static inline int32_t exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a);
static inline int32_t exp_on_negative_values(int32_t a);
static inline int32_t one_over_one_plus_x_for_x_in_0_1(int32_t a);
static inline int32_t count_leading_zeros(uint32_t x);
/* cffi-end */

/*
 * round(a * b / 2^31), ties toward +inf; saturates the single overflow case
 * a == b == INT32_MIN to INT32_MAX. |a * b| <= 2^62 is exact in int64; C99's
 * `/` truncates toward zero, which with gemmlowp's sign-dependent nudge gives
 * floor((a*b + 2^30) / 2^31). ARM: SQRDMULH.
 */
static inline int32_t saturating_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    if (a == b && a == INT32_MIN) {
        return INT32_MAX;
    }
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31)); /* in int32 once overflow is excluded */
}

/*
 * x / 2^exponent rounded to nearest, ties away from zero; exponent in [0, 31].
 * remainder = x mod 2^exponent; threshold = mask/2 (+1 for negative x); the
 * flooring shift plus (remainder > threshold).
 */
static inline int32_t rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1); /* <= 2^31 - 1 */
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/*
 * x * mult * 2^(shift - 31), TFLite's double rounding: saturate x * 2^left to
 * int32 (TFLite leaves that overflow undefined), then
 * saturating_rounding_doubling_high_mul, then rounding_divide_by_pot. In
 * numerics.c, out of line: kernels call it only for the rare multipliers
 * requant_apply does not fuse, and inlined it would cost their loops
 * registers.
 */
int32_t mf_multiply_by_quantized_multiplier_reference(int32_t x, int32_t mult, int32_t shift);

/*
 * The same product, split so that a kernel prepares each output channel's
 * multiplier once (requant_prepare) and then pays one 64-bit multiply-add
 * and a shift per output (requant_apply).
 *
 * Let ab = x * mult and e = -shift >= 1. The first rounding is
 * s = floor((ab + 2^30) / 2^31) (see saturating_rounding_doubling_high_mul;
 * |ab| < 2^62 once a == b == INT32_MIN is excluded); the second is
 * floor((s + 2^(e-1) - [s < 0]) / 2^e). Since s + c = floor((ab + 2^30 +
 * c 2^31) / 2^31) for an integer c, and floor(floor(n / p) / q) =
 * floor(n / (p q)), the two roundings together are
 *
 *     floor((ab + 2^30 + 2^(30+e) - [s < 0] 2^31) / 2^(31+e)).
 *
 * [s < 0] may be replaced by [(x ^ mult) < 0], which is [ab < 0] except
 * when ab = 0: the two differ only for ab in [-2^30, 0], where s = 0 and the
 * quotient is floor((ab + 2^30 - 2^31) / 2^(31+e) + 1/2) = 0 either way. So
 * with round = 2^30 + 2^(30+e) (below 2^62: no overflow), the result is the
 * high word of ab + round - [(x ^ mult) < 0] 2^31, shifted right by e - 1.
 *
 * e = 0, a left shift, and mult = INT32_MIN (where a == b == INT32_MIN
 * saturates) take mf_multiply_by_quantized_multiplier_reference; the loader
 * allows multipliers in [0, 2^31) and requantizing layers almost always have
 * e >= 1 (a real multiplier below 1/2). tests/test_numerics.py compares every
 * tie of both roundings with the int64 reference.
 */
typedef struct {
    int64_t round; /* 2^30 + 2^(30+e) */
    int32_t mult;
    int32_t shift; /* as given, for the reference path */
    int32_t right; /* e - 1, in [0, 30] */
    int32_t fused; /* e >= 1 and mult != INT32_MIN */
} mf_requant;

static inline mf_requant requant_prepare(int32_t mult, int32_t shift)
{
    mf_requant r;
    r.mult = mult;
    r.shift = shift;
    r.fused = shift <= -1 && mult != INT32_MIN;
    r.right = r.fused ? -shift - 1 : 0;
    /* 2^30 + 2^(31 + right) from 32-bit halves: high word 2^right / 2, low word 2^30 plus 2^31 when right = 0 */
    const uint32_t high = (1u << r.right) >> 1;
    const uint32_t low = r.right == 0 ? 0xC0000000u : 0x40000000u;
    r.round = (int64_t)(((uint64_t)high << 32) | low); /* < 2^61 */
    return r;
}

/*
 * requant_apply for a fused multiplier (r.fused). Its result needs no clamp
 * before an int8 zero point is added: |ab| < 2^62 (|mult| < 2^31) and
 * round < 2^61 + 2^30, so the high word, and the result, are below
 * 2^30 + 2^29 + 1 in magnitude. On a Cortex-M: EOR, AND, SUBS, SBC, SMLAL
 * and ASR.
 */
static inline int32_t requant_fused(int32_t x, mf_requant r)
{
    const int64_t negative = (x ^ r.mult) < 0 ? ((int64_t)1 << 31) : 0;
    const int64_t n = (int64_t)x * (int64_t)r.mult + (r.round - negative);
    return (int32_t)(n >> 32) >> r.right; /* the high word: floor(n / 2^32), in int32 */
}

static inline int32_t requant_apply(int32_t x, mf_requant r)
{
    if (!r.fused) {
        return mf_multiply_by_quantized_multiplier_reference(x, r.mult, r.shift);
    }
    return requant_fused(x, r);
}

static inline int32_t multiply_by_quantized_multiplier(int32_t x, int32_t mult, int32_t shift)
{
    return requant_apply(x, requant_prepare(mult, shift));
}

/*
 * Clamp to [act_min, act_max] after adding the zero point. The zero point
 * and the bounds are int8 values (every caller's), so the clamp is done
 * first, against act - output_zp, which cannot overflow:
 * clamp(v + z, lo, hi) = clamp(v, lo - z, hi - z) + z.
 */
static inline int32_t requant_clamp(int32_t v, int32_t output_zp, int32_t act_min, int32_t act_max)
{
    if (v < act_min - output_zp) {
        return act_min;
    }
    if (v > act_max - output_zp) {
        return act_max;
    }
    return v + output_zp; /* in [act_min, act_max] */
}

/* Output channel c's requantization, of a layer with one (per_channel = 0) or one-per-channel multipliers. */
static inline mf_requant channel_requant(const int32_t *output_mult, const int8_t *output_shift, int32_t per_channel,
                                         int32_t c)
{
    const int32_t q = per_channel ? c : 0;
    return requant_prepare(output_mult[q], output_shift[q]);
}

/* requantize with a prepared multiplier: the int8 output of an accumulator. */
static inline int8_t requant_output(int32_t acc, mf_requant r, int32_t output_zp, int32_t act_min, int32_t act_max)
{
    return (int8_t)requant_clamp(requant_apply(acc, r), output_zp, act_min, act_max); /* in [-128, 127] */
}

/* The output stage of every int8 kernel: clamp(multiply_by_quantized_multiplier(acc) + output_zp, act_min, act_max). */
static inline int32_t requantize(int32_t acc, int32_t mult, int32_t shift, int32_t output_zp,
                                 int32_t act_min, int32_t act_max)
{
    return requant_clamp(multiply_by_quantized_multiplier(acc, mult, shift), output_zp, act_min, act_max);
}

/*
 * x * mult * 2^(shift - 31) rounded once, ties away from zero: LiteRT's reference FULLY_CONNECTED, int8 and 16x8
 * (numerics.py derives it): sign(x) floor((|x| mult + 2^(total - 1)) / 2^total), total = 31 - shift, exact in
 * int64 for |x| <= 2^31 directly, and for |x| < 2^47 with shift <= 7 (a 16x8 layer's) with |x| split at bit 24.
 * Saturated to int32, as numerics.py.
 */
static inline int32_t multiply_by_quantized_multiplier_single_rounding(int64_t x, int32_t mult, int32_t shift)
{
    const int32_t total = 31 - shift;
    const int64_t m = x < 0 ? -x : x, half = (int64_t)1 << (total - 1);
    const int64_t q = m <= ((int64_t)1 << 31)
                          ? (m * mult + half) >> total
                          : ((m >> 24) * mult + (((m & 0xFFFFFF) * mult + half) >> 24)) >> (total - 24);
    const int64_t result = x < 0 ? -q : q;
    if (result > INT32_MAX) {
        return INT32_MAX;
    }
    if (result < INT32_MIN) {
        return INT32_MIN;
    }
    return (int32_t)result;
}

/* requantize with one rounding: clamp(multiply_by_quantized_multiplier_single_rounding(acc) + output_zp, ...). */
static inline int32_t requantize_single_rounding(int32_t acc, int32_t mult, int32_t shift, int32_t output_zp,
                                                 int32_t act_min, int32_t act_max)
{
    return requant_clamp(multiply_by_quantized_multiplier_single_rounding(acc, mult, shift), output_zp, act_min,
                         act_max);
}

/*
 * The 16x8 layers' rescaling of an int64 accumulator (numerics.py derives it): the Q31 multiplier reduced to
 * Q15 (rounded half up, saturated at 0x7FFF), then one rounding half up of x * reduced / 2^(15 - shift).
 * shift in [-31, 7] and |x| < 2^47 (the loaders' rules) keep every step in int64; a quotient beyond int32
 * wraps in the cast, as TFLite's static_cast does.
 */
static inline int32_t multiply_by_quantized_multiplier_int64(int64_t x, int32_t mult, int32_t shift)
{
    const int64_t reduced = mult < 0x7FFF0000 ? ((int64_t)mult + (1 << 15)) >> 16 : 0x7FFF;
    const int32_t total = 15 - shift; /* in [8, 46] */
    return (int32_t)((x * reduced + ((int64_t)1 << (total - 1))) >> total);
}

/* The output stage of every 16x8 kernel: clamp to [act_min, act_max] (inside int16; no zero point). */
static inline int32_t requantize_int64(int64_t acc, int32_t mult, int32_t shift, int32_t act_min, int32_t act_max)
{
    const int32_t v = multiply_by_quantized_multiplier_int64(acc, mult, shift);
    return v < act_min ? act_min : (v > act_max ? act_max : v);
}

/* requantize_int64 with one rounding of the Q31 multiplier (LiteRT's reference 16x8 FULLY_CONNECTED). */
static inline int32_t requantize_int64_single_rounding(int64_t acc, int32_t mult, int32_t shift, int32_t act_min,
                                                       int32_t act_max)
{
    const int32_t v = multiply_by_quantized_multiplier_single_rounding(acc, mult, shift);
    return v < act_min ? act_min : (v > act_max ? act_max : v);
}

/*
 * gemmlowp fixed-point math used by softmax; numerics.py derives each step.
 * A Qm raw int32 holds r * 2^(31 - m). Sums of raw values wrap as int32
 * (two's complement, as GCC, Clang and arm-none-eabi-gcc convert).
 */
static inline int32_t wrapping_add(int32_t a, int32_t b)
{
    return (int32_t)(uint32_t)((uint32_t)a + (uint32_t)b);
}

/* x * 2^exponent: rounding right shift for exponent <= 0, saturating left shift above. */
static inline int32_t saturating_rounding_multiply_by_pot(int32_t x, int32_t exponent)
{
    if (exponent <= 0) {
        return rounding_divide_by_pot(x, -exponent);
    }
    const int64_t threshold = ((int64_t)1 << (31 - exponent)) - 1;
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((int64_t)x * ((int64_t)1 << exponent)); /* fits: |x| <= threshold */
}

/* (a + b) / 2, ties away from zero. */
static inline int32_t rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t sum = (int64_t)a + (int64_t)b;
    const int64_t sign = sum >= 0 ? 1 : -1;
    return (int32_t)((sum + sign) / 2); /* |.| <= 2^31 - 1 */
}

#define MF_EXP_MINUS_ONE_EIGHTH_Q0 1895147668
#define MF_ONE_THIRD_Q0 715827883
#define MF_FORTY_EIGHT_OVER_SEVENTEEN_Q2 1515870810
#define MF_MINUS_THIRTY_TWO_OVER_SEVENTEEN_Q2 (-1010580540)

/* exp(a), a in Q0.31 within [-1/4, 0): Taylor series around -1/8. */
static inline int32_t exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a)
{
    const int32_t x = wrapping_add(a, (int32_t)1 << 28);
    const int32_t x2 = saturating_rounding_doubling_high_mul(x, x);
    const int32_t x3 = saturating_rounding_doubling_high_mul(x2, x);
    const int32_t x4 = saturating_rounding_doubling_high_mul(x2, x2);
    const int32_t x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2);
    const int32_t poly = saturating_rounding_multiply_by_pot(
        wrapping_add(saturating_rounding_doubling_high_mul(wrapping_add(x4_over_4, x3), MF_ONE_THIRD_Q0), x2),
        -1);
    return wrapping_add(MF_EXP_MINUS_ONE_EIGHTH_Q0,
                        saturating_rounding_doubling_high_mul(MF_EXP_MINUS_ONE_EIGHTH_Q0, wrapping_add(x, poly)));
}

/* exp(a), a in Q5.26 and <= 0, as Q0.31: a quarter-interval Taylor step and a barrel of exp(-2^k). */
static inline int32_t exp_on_negative_values(int32_t a)
{
    static const int32_t barrel[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int32_t one_quarter = (int32_t)1 << 24;
    const int32_t a_mod_quarter_minus_one_quarter = wrapping_add(a & (one_quarter - 1), -one_quarter);
    int32_t result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_rounding_multiply_by_pot(a_mod_quarter_minus_one_quarter, 5));
    const int32_t remainder = wrapping_add(a_mod_quarter_minus_one_quarter, (int32_t)(0u - (uint32_t)a));
    for (int32_t i = 0; i < 7; ++i) {
        if (remainder & ((int32_t)1 << (24 + i))) {
            result = saturating_rounding_doubling_high_mul(result, barrel[i]);
        }
    }
    if (a == 0) {
        result = INT32_MAX;
    }
    return result;
}

/* 1 / (1 + a), a in Q0.31 within [0, 1): three Newton-Raphson steps in Q2.29. */
static inline int32_t one_over_one_plus_x_for_x_in_0_1(int32_t a)
{
    const int32_t half_denominator = rounding_half_sum(a, INT32_MAX);
    int32_t x = wrapping_add(MF_FORTY_EIGHT_OVER_SEVENTEEN_Q2,
                             saturating_rounding_doubling_high_mul(half_denominator,
                                                                   MF_MINUS_THIRTY_TWO_OVER_SEVENTEEN_Q2));
    for (int32_t i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = saturating_rounding_doubling_high_mul(half_denominator, x);
        const int32_t one_minus = wrapping_add((int32_t)1 << 29, (int32_t)(0u - (uint32_t)half_denominator_times_x));
        x = wrapping_add(x, saturating_rounding_multiply_by_pot(saturating_rounding_doubling_high_mul(x, one_minus), 2));
    }
    return saturating_rounding_multiply_by_pot(x, 1);
}

/* Leading zero bits of x (32 for 0). ARM: CLZ. */
static inline int32_t count_leading_zeros(uint32_t x)
{
    int32_t n = 0;
    if (x == 0u) {
        return 32;
    }
    while ((x & 0x80000000u) == 0u) {
        x <<= 1;
        ++n;
    }
    return n;
}

#endif /* MICROFLAT_NUMERICS_H */
