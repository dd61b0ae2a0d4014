/*
 * int8 elementwise add, sub, mul, maximum, minimum and squared difference
 * (add, sub and mul also on int16, at the end) with NHWC broadcasting: the C twins of elementwise.py, whose docstring
 * derives the arithmetic (TFLite's int8 Add, Sub, Mul, Maximum, Minimum and
 * SquaredDifference). Each input is read through four element strides (0 on
 * a broadcast axis). Input element i is read before output element i is
 * written, so the output may alias an input.
 */
#include "elements.h"
#include "microflat_kernels.h"
#include "numerics.h"

/* add's loops, written once for int8 and int16 (elements.h): centre, shift left by left_shift, scale each input
 * to the common scale, sum, requantize. int8: |a|, |b| <= 255 and left_shift <= 20, the shifted values below
 * 2^28; int16: |a|, |b| <= 65535 and left_shift <= 15, at most 2^31 - 2^15, and with input multipliers <= 1/2
 * each scaled value is at most 65535 * 2^14, so the sum fits (elementwise.py). */
static MF_ALWAYS_INLINE void add_broadcast(const int32_t *output_shape, const int32_t *input1_strides,
                                           const int32_t *input2_strides, int32_t left_shift,
                                           int32_t input1_zp, int32_t input1_mult, int32_t input1_shift,
                                           int32_t input2_zp, int32_t input2_mult, int32_t input2_shift,
                                           int32_t output_zp, int32_t output_mult, int32_t output_shift,
                                           int32_t act_min, int32_t act_max,
                                           const void *input1, const void *input2, void *output, int wide)
{
    int32_t i = 0;
    for (int32_t n = 0; n < output_shape[0]; ++n) {
        for (int32_t h = 0; h < output_shape[1]; ++h) {
            for (int32_t w = 0; w < output_shape[2]; ++w) {
                const int32_t base1 = n * input1_strides[0] + h * input1_strides[1] + w * input1_strides[2];
                const int32_t base2 = n * input2_strides[0] + h * input2_strides[1] + w * input2_strides[2];
                for (int32_t c = 0; c < output_shape[3]; ++c) {
                    const int32_t a = load_element(input1, base1 + c * input1_strides[3], wide) - input1_zp;
                    const int32_t b = load_element(input2, base2 + c * input2_strides[3], wide) - input2_zp;
                    const int32_t a_scaled = multiply_by_quantized_multiplier(a * (1 << left_shift), input1_mult,
                                                                              input1_shift);
                    const int32_t b_scaled = multiply_by_quantized_multiplier(b * (1 << left_shift), input2_mult,
                                                                              input2_shift);
                    store_element(output, i++, requantize(a_scaled + b_scaled, output_mult, output_shift, output_zp,
                                                          act_min, act_max), wide);
                }
            }
        }
    }
}

/* mul's loops, written once for int8 and int16: (a - a_zp) (b - b_zp) requantized; |a b| <= 255^2 for int8, and
 * 32768^2 = 2^30 for int16, whose input zero points are 0. */
static MF_ALWAYS_INLINE void mul_broadcast(const int32_t *output_shape, const int32_t *input1_strides,
                                           const int32_t *input2_strides, int32_t input1_zp, int32_t input2_zp,
                                           int32_t output_zp, int32_t output_mult, int32_t output_shift,
                                           int32_t act_min, int32_t act_max,
                                           const void *input1, const void *input2, void *output, int wide)
{
    int32_t i = 0;
    for (int32_t n = 0; n < output_shape[0]; ++n) {
        for (int32_t h = 0; h < output_shape[1]; ++h) {
            for (int32_t w = 0; w < output_shape[2]; ++w) {
                const int32_t base1 = n * input1_strides[0] + h * input1_strides[1] + w * input1_strides[2];
                const int32_t base2 = n * input2_strides[0] + h * input2_strides[1] + w * input2_strides[2];
                for (int32_t c = 0; c < output_shape[3]; ++c) {
                    const int32_t a = load_element(input1, base1 + c * input1_strides[3], wide) - input1_zp;
                    const int32_t b = load_element(input2, base2 + c * input2_strides[3], wide) - input2_zp;
                    store_element(output, i++, requantize(a * b, output_mult, output_shift, output_zp, act_min,
                                                          act_max), wide);
                }
            }
        }
    }
}

void mf_add_s8(const int32_t *output_shape, const int32_t *input1_strides, const int32_t *input2_strides,
            int32_t left_shift,
            int32_t input1_zp, int32_t input1_mult, int32_t input1_shift,
            int32_t input2_zp, int32_t input2_mult, int32_t input2_shift,
            int32_t output_zp, int32_t output_mult, int32_t output_shift,
            int32_t act_min, int32_t act_max,
            const int8_t *input1, const int8_t *input2, int8_t *output)
{
    add_broadcast(output_shape, input1_strides, input2_strides, left_shift, input1_zp, input1_mult, input1_shift,
                  input2_zp, input2_mult, input2_shift, output_zp, output_mult, output_shift, act_min, act_max, input1,
                  input2, output, 0);
}

void mf_mul_s8(const int32_t *output_shape, const int32_t *input1_strides, const int32_t *input2_strides,
            int32_t input1_zp, int32_t input2_zp,
            int32_t output_zp, int32_t output_mult, int32_t output_shift,
            int32_t act_min, int32_t act_max,
            const int8_t *input1, const int8_t *input2, int8_t *output)
{
    mul_broadcast(output_shape, input1_strides, input2_strides, input1_zp, input2_zp, output_zp, output_mult,
                  output_shift, act_min, act_max, input1, input2, output, 0);
}

/* TFLite's int8 Sub: mf_add_s8 with the second input's multiplier negated (input2_mult in [0, 2^31)). */
void mf_sub_s8(const int32_t *output_shape, const int32_t *input1_strides, const int32_t *input2_strides,
            int32_t left_shift,
            int32_t input1_zp, int32_t input1_mult, int32_t input1_shift,
            int32_t input2_zp, int32_t input2_mult, int32_t input2_shift,
            int32_t output_zp, int32_t output_mult, int32_t output_shift,
            int32_t act_min, int32_t act_max,
            const int8_t *input1, const int8_t *input2, int8_t *output)
{
    mf_add_s8(output_shape, input1_strides, input2_strides, left_shift,
           input1_zp, input1_mult, input1_shift,
           input2_zp, -input2_mult, input2_shift,
           output_zp, output_mult, output_shift,
           act_min, act_max, input1, input2, output);
}

/* mf_maximum_s8 (take_max) and mf_minimum_s8: the larger (smaller) raw int8 value, as TFLite compares. */
static void extremum_s8(const int32_t *output_shape, const int32_t *input1_strides, const int32_t *input2_strides,
                        const int8_t *input1, const int8_t *input2, int8_t *output, int32_t take_max)
{
    int32_t i = 0;
    for (int32_t n = 0; n < output_shape[0]; ++n) {
        for (int32_t h = 0; h < output_shape[1]; ++h) {
            for (int32_t w = 0; w < output_shape[2]; ++w) {
                const int32_t base1 = n * input1_strides[0] + h * input1_strides[1] + w * input1_strides[2];
                const int32_t base2 = n * input2_strides[0] + h * input2_strides[1] + w * input2_strides[2];
                for (int32_t c = 0; c < output_shape[3]; ++c) {
                    const int8_t a = input1[base1 + c * input1_strides[3]];
                    const int8_t b = input2[base2 + c * input2_strides[3]];
                    if (take_max) {
                        output[i++] = a > b ? a : b;
                    } else {
                        output[i++] = a < b ? a : b;
                    }
                }
            }
        }
    }
}

void mf_maximum_s8(const int32_t *output_shape, const int32_t *input1_strides, const int32_t *input2_strides,
                const int8_t *input1, const int8_t *input2, int8_t *output)
{
    extremum_s8(output_shape, input1_strides, input2_strides, input1, input2, output, 1);
}

void mf_minimum_s8(const int32_t *output_shape, const int32_t *input1_strides, const int32_t *input2_strides,
                const int8_t *input1, const int8_t *input2, int8_t *output)
{
    extremum_s8(output_shape, input1_strides, input2_strides, input1, input2, output, 0);
}

void mf_squared_difference_s8(const int32_t *output_shape, const int32_t *input1_strides, const int32_t *input2_strides,
                           int32_t left_shift,
                           int32_t input1_zp, int32_t input1_mult, int32_t input1_shift,
                           int32_t input2_zp, int32_t input2_mult, int32_t input2_shift,
                           int32_t output_zp, int32_t output_mult, int32_t output_shift,
                           const int8_t *input1, const int8_t *input2, int8_t *output)
{
    int32_t i = 0;
    for (int32_t n = 0; n < output_shape[0]; ++n) {
        for (int32_t h = 0; h < output_shape[1]; ++h) {
            for (int32_t w = 0; w < output_shape[2]; ++w) {
                const int32_t base1 = n * input1_strides[0] + h * input1_strides[1] + w * input1_strides[2];
                const int32_t base2 = n * input2_strides[0] + h * input2_strides[1] + w * input2_strides[2];
                for (int32_t c = 0; c < output_shape[3]; ++c) {
                    const int32_t a = (int32_t)input1[base1 + c * input1_strides[3]] - input1_zp;
                    const int32_t b = (int32_t)input2[base2 + c * input2_strides[3]] - input2_zp;
                    /* |a|, |b| <= 255 and left_shift <= 7; input multipliers <= 1/2: |diff| <= 255 * 2^7 + 1 */
                    const int32_t a_scaled = multiply_by_quantized_multiplier(a * (1 << left_shift), input1_mult,
                                                                              input1_shift);
                    const int32_t b_scaled = multiply_by_quantized_multiplier(b * (1 << left_shift), input2_mult,
                                                                              input2_shift);
                    const int32_t diff = a_scaled - b_scaled;
                    /* diff^2 < 32641^2 < 2^30: no overflow */
                    output[i++] = (int8_t)requantize(diff * diff, output_mult, output_shift, output_zp, -128, 127);
                }
            }
        }
    }
}

/*
 * The same-shape fast paths (elementwise.py: add_s8_same_shape, extremum_s8_same_shape,
 * squared_difference_s8_same_shape): both inputs have the output's shape, so one flat loop over the elements,
 * with the arithmetic of the broadcasting kernels above. Every shift is <= 0 (the caller guarantees it).
 *
 * Each rounding multiply_by_quantized_multiplier(x, m, -e), e >= 0, |x| < 2^30, m in [0, 2^31), is written so
 * that a compiler vectorizes the loop with 32-bit lanes and one unsigned 32 x 32 -> 64-bit multiply (SSE2's
 * PMULUDQ; a Cortex-M's UMLAL):
 *
 *   With s = floor((x m + 2^30) / 2^31) the first rounding (numerics.h) and the second
 *   floor((s + 2^(e-1) - [s < 0]) / 2^e) for e >= 1 (s itself for e = 0), both together are, as numerics.h
 *   derives for requant_fused (there with [x m < 0] for [s < 0]: they differ only where x m lies in
 *   [-2^30, 0), where both quotients are 0),
 *
 *       floor((2 x m + 2^31 + [e >= 1] (2^(31+e) - [x m < 0] 2^32)) / 2^(32+e))      (numerator doubled)
 *
 *   With x2 = 2x (|x2| < 2^31) read as the unsigned (uint32_t)x2 = x2 + 2^32 [x2 < 0]:
 *
 *       u  = (uint32_t)x2 * m + round,   round = 2^31 + [e >= 1] 2^(31+e)      (< 2^64: no wrap)
 *       hi = (high word of u) - [x2 < 0] (m + [e >= 1])   (mod 2^32)
 *
 *   is the high word of the numerator, floor(numerator / 2^32), which lies in int32 (|numerator| < 2^62), and
 *   the result is hi >> e. (The conversion of hi to int32_t is modular on every compiler microflat supports,
 *   as wrapping_add in numerics.h relies on.)
 *
 * A negative input multiplier (SUB's input2_mult, in (-2^31, 0]) is taken as |m| with the input negated: the
 * same product, and [x m < 0] is then [-x < 0]. The sign goes into the factor that doubles and shifts the
 * centred input, so the loop pays nothing for it.
 */
typedef struct {
    uint32_t round_hi; /* the high word of round, [e >= 1] 2^(e-1); its low word is 2^31 */
    uint32_t mult;     /* |m| */
    uint32_t borrow;   /* |m| + [e >= 1]: subtracted from the high word where x2 < 0 */
    int32_t e;         /* -shift, in [0, 31] */
} same_shape_scale;

static same_shape_scale same_shape_prepare(int32_t mult, int32_t shift)
{
    same_shape_scale q;
    q.e = -shift;
    q.mult = mult < 0 ? (uint32_t)0 - (uint32_t)mult : (uint32_t)mult; /* mult > -2^31: |m| < 2^31 */
    q.round_hi = q.e >= 1 ? (uint32_t)1 << (q.e - 1) : 0u;
    q.borrow = q.mult + (q.e >= 1 ? 1u : 0u);
    return q;
}

/* The factor of a centred input: 2^(left_shift + 1), negated where its multiplier is negative. */
static int32_t same_shape_factor(int32_t left_shift, int32_t mult)
{
    return mult < 0 ? -(1 << (left_shift + 1)) : 1 << (left_shift + 1);
}

/* multiply_by_quantized_multiplier(x, |m|, -e) of x2 = 2x (the derivation above). */
static inline int32_t same_shape_scale_apply(int32_t x2, same_shape_scale q)
{
    const uint64_t u = (uint64_t)(uint32_t)x2 * q.mult + (((uint64_t)q.round_hi << 32) | 0x80000000u);
    const uint32_t hi = (uint32_t)(u >> 32) - (x2 < 0 ? q.borrow : 0u);
    return (int32_t)hi >> q.e;
}

void mf_add_s8_same_shape(int64_t count, int32_t left_shift,
                       int32_t input1_zp, int32_t input1_mult, int32_t input1_shift,
                       int32_t input2_zp, int32_t input2_mult, int32_t input2_shift,
                       int32_t output_zp, int32_t output_mult, int32_t output_shift,
                       int32_t act_min, int32_t act_max,
                       const int8_t *input1, const int8_t *input2, int8_t *output)
{
    const same_shape_scale q1 = same_shape_prepare(input1_mult, input1_shift);
    const same_shape_scale q2 = same_shape_prepare(input2_mult, input2_shift);
    const same_shape_scale qo = same_shape_prepare(output_mult, output_shift);
    const int32_t f1 = same_shape_factor(left_shift, input1_mult), f2 = same_shape_factor(left_shift, input2_mult);
    const int32_t lo = act_min - output_zp, hi = act_max - output_zp;
    for (int64_t i = 0; i < count; ++i) {
        /* |a - zp| <= 255, left_shift <= 20: |2 (a - zp) 2^left_shift| < 2^29; the scaled inputs are below 2^27 */
        const int32_t a = ((int32_t)input1[i] - input1_zp) * f1;
        const int32_t b = ((int32_t)input2[i] - input2_zp) * f2;
        const int32_t sum = same_shape_scale_apply(a, q1) + same_shape_scale_apply(b, q2);
        int32_t v = same_shape_scale_apply(sum * 2, qo); /* |2 sum| < 2^29; output_mult >= 0 */
        v = v < lo ? lo : v;
        v = v > hi ? hi : v;
        output[i] = (int8_t)(v + output_zp); /* in [act_min, act_max] */
    }
}

void mf_extremum_s8_same_shape(int64_t count, int32_t take_max, const int8_t *input1, const int8_t *input2,
                            int8_t *output)
{
    if (take_max) {
        for (int64_t i = 0; i < count; ++i) {
            output[i] = input1[i] > input2[i] ? input1[i] : input2[i];
        }
    } else {
        for (int64_t i = 0; i < count; ++i) {
            output[i] = input1[i] < input2[i] ? input1[i] : input2[i];
        }
    }
}

void mf_squared_difference_s8_same_shape(int64_t count, int32_t left_shift,
                                      int32_t input1_zp, int32_t input1_mult, int32_t input1_shift,
                                      int32_t input2_zp, int32_t input2_mult, int32_t input2_shift,
                                      int32_t output_zp, int32_t output_mult, int32_t output_shift,
                                      const int8_t *input1, const int8_t *input2, int8_t *output)
{
    const same_shape_scale q1 = same_shape_prepare(input1_mult, input1_shift);
    const same_shape_scale q2 = same_shape_prepare(input2_mult, input2_shift);
    const same_shape_scale qo = same_shape_prepare(output_mult, output_shift);
    const int32_t f1 = same_shape_factor(left_shift, input1_mult), f2 = same_shape_factor(left_shift, input2_mult);
    const int32_t lo = -128 - output_zp, hi = 127 - output_zp;
    for (int64_t i = 0; i < count; ++i) {
        const int32_t a = ((int32_t)input1[i] - input1_zp) * f1; /* left_shift <= 7 */
        const int32_t b = ((int32_t)input2[i] - input2_zp) * f2;
        const int32_t diff = same_shape_scale_apply(a, q1) - same_shape_scale_apply(b, q2);
        int32_t v = same_shape_scale_apply(diff * diff * 2, qo); /* diff^2 < 2^30 (elementwise.py) */
        v = v < lo ? lo : v;
        v = v > hi ? hi : v;
        output[i] = (int8_t)(v + output_zp);
    }
}

/*
 * 16-bit activations (TFLite's 16x8 mode; elementwise.py derives the ranges): mf_add_s16 and mf_sub_s16
 * are mf_add_s8's arithmetic on int16 data with left_shift <= 15 and input multipliers <= 1/2, mf_mul_s16
 * mf_mul_s8's with input zero points 0. requantize's clamp (numerics.h) compares with act - output_zp,
 * which for int16 bounds and zero points lies within +-65535: no overflow.
 */
void mf_add_s16(const int32_t *output_shape, const int32_t *input1_strides, const int32_t *input2_strides,
                int32_t left_shift,
                int32_t input1_zp, int32_t input1_mult, int32_t input1_shift,
                int32_t input2_zp, int32_t input2_mult, int32_t input2_shift,
                int32_t output_zp, int32_t output_mult, int32_t output_shift,
                int32_t act_min, int32_t act_max,
                const int16_t *input1, const int16_t *input2, int16_t *output)
{
    add_broadcast(output_shape, input1_strides, input2_strides, left_shift, input1_zp, input1_mult, input1_shift,
                  input2_zp, input2_mult, input2_shift, output_zp, output_mult, output_shift, act_min, act_max, input1,
                  input2, output, 1);
}

/* TFLite's Sub on int16: mf_add_s16 with the second input's multiplier negated (input2_mult in [0, 2^31)). */
void mf_sub_s16(const int32_t *output_shape, const int32_t *input1_strides, const int32_t *input2_strides,
                int32_t left_shift,
                int32_t input1_zp, int32_t input1_mult, int32_t input1_shift,
                int32_t input2_zp, int32_t input2_mult, int32_t input2_shift,
                int32_t output_zp, int32_t output_mult, int32_t output_shift,
                int32_t act_min, int32_t act_max,
                const int16_t *input1, const int16_t *input2, int16_t *output)
{
    mf_add_s16(output_shape, input1_strides, input2_strides, left_shift,
               input1_zp, input1_mult, input1_shift,
               input2_zp, -input2_mult, input2_shift,
               output_zp, output_mult, output_shift,
               act_min, act_max, input1, input2, output);
}

void mf_mul_s16(const int32_t *output_shape, const int32_t *input1_strides, const int32_t *input2_strides,
                int32_t input1_zp, int32_t input2_zp,
                int32_t output_zp, int32_t output_mult, int32_t output_shift,
                int32_t act_min, int32_t act_max,
                const int16_t *input1, const int16_t *input2, int16_t *output)
{
    mul_broadcast(output_shape, input1_strides, input2_strides, input1_zp, input2_zp, output_zp, output_mult,
                  output_shift, act_min, act_max, input1, input2, output, 1);
}
