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
static inline int32_t requantize(int32_t acc, int32_t mult, int32_t shift, int32_t output_zp,
                                 int32_t act_min, int32_t act_max);
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
 * saturating_rounding_doubling_high_mul, then rounding_divide_by_pot.
 */
static inline int32_t multiply_by_quantized_multiplier(int32_t x, int32_t mult, int32_t shift)
{
    const int32_t left_shift = shift > 0 ? shift : 0;
    const int32_t right_shift = shift > 0 ? 0 : -shift;
    int64_t shifted = (int64_t)x * ((int64_t)1 << left_shift); /* |.| < 2^61 */
    if (shifted > INT32_MAX) {
        shifted = INT32_MAX;
    } else if (shifted < INT32_MIN) {
        shifted = INT32_MIN;
    }
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul((int32_t)shifted, mult),
                                  right_shift);
}

/*
 * The output stage of every int8 kernel:
 * clamp(multiply_by_quantized_multiplier(acc) + output_zp, act_min, act_max).
 * The zero point is added in int64 so a saturated product cannot overflow.
 */
static inline int32_t requantize(int32_t acc, int32_t mult, int32_t shift, int32_t output_zp,
                                 int32_t act_min, int32_t act_max)
{
    int64_t v = (int64_t)multiply_by_quantized_multiplier(acc, mult, shift) + output_zp;
    if (v < act_min) {
        v = act_min;
    } else if (v > act_max) {
        v = act_max;
    }
    return (int32_t)v; /* in [act_min, act_max] */
}

#endif /* MICROFLAT_NUMERICS_H */
