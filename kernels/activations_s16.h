/*
 * int16 logistic and tanh of one element: TFLite's 16x8 reference (reference_integer_ops::Logistic / Tanh with an
 * input multiplier and shift), the C twins of logistic_s16_element and tanh_s16_element in activations_s16.py,
 * whose docstring derives every bound below; docs/RECURRENT.md section 1 is the specification.
 *
 * Contract (checked by the callers, trusted here): input_multiplier in [0, 32767]; input_left_shift in [0, 31],
 * or in [0, 14] when input_multiplier is 0 (a power-of-two input scale: the multiplier is then 3 << shift and the
 * shift 0). The output is Q0.15 (scale 1/32768): logistic in [0, 32767], tanh in [-32767, 32767].
 *
 * Static inline so that a kernel (mf_logistic_s16, mf_tanh_s16, the LSTM's gates) inlines them; the table
 * they read is defined once, in activations_s16.c.
 */
#ifndef MICROFLAT_ACTIVATIONS_S16_H
#define MICROFLAT_ACTIVATIONS_S16_H

#include <stdint.h>

/* TFLite's sigmoid_table_uint16: about 65536 sigmoid(i / 24), i = 0..255, non-decreasing, T[255] = 65535. */
extern const uint16_t mf_sigmoid_table_u16[256];

/*
 * The input in units of 1/12288 (= 1/(3 * 2^12)): v = (x * M + 2^(k-1)) >> k. With M in [1, 32767] and k <= 31,
 * |x * M| <= 2^30 - 2^15 and 2^(k-1) <= 2^30, so the sum stays below 2^31; with M = 0, k <= 14 makes
 * 3 << k <= 49152 and |x * (3 << k)| <= 1.5 * 2^30. `>>` of a negative int32 is arithmetic (numerics.h asserts).
 */
static inline int32_t mf_s16_input_in_units(int16_t x, int32_t input_multiplier, int32_t input_left_shift)
{
    int32_t mult = input_multiplier, shift = input_left_shift;
    if (mult == 0) {
        mult = 3 << shift;
        shift = 0;
    }
    const int32_t rounding = shift > 0 ? (int32_t)(1u << (shift - 1)) : 0;
    return ((int32_t)x * mult + rounding) >> shift;
}

/* sigmoid(x) in Q0.15: table step 1/24 = 512 units, 9 fraction bits, saturating at |v| >> 9 >= 255. */
static inline int16_t mf_logistic_s16_element(int16_t x, int32_t input_multiplier, int32_t input_left_shift)
{
    const int32_t v = mf_s16_input_in_units(x, input_multiplier, input_left_shift);
    const uint32_t a = (uint32_t)(v >= 0 ? v : -v); /* |v| < 2^31: -v cannot overflow */
    const uint32_t h = a >> 9;
    uint32_t r;
    if (h >= 255u) {
        r = (uint32_t)32767 << 10;
    } else {
        const uint32_t lo = mf_sigmoid_table_u16[h], hi = mf_sigmoid_table_u16[h + 1];
        r = (lo << 9) + (a & 511u) * (hi - lo); /* hi >= lo; r < 2^25 */
    }
    r = v >= 0 ? r + (1u << 9) : ((uint32_t)1 << 25) - r + (1u << 9) - 1u; /* 1 - sigmoid(|x|) for x < 0 */
    return (int16_t)(r >> 10); /* in [0, 32767] */
}

/* tanh(x) = 2 sigmoid(2x) - 1 in Q0.15: 8 fraction bits (the doubling), saturating at |v| >> 8 >= 255. */
static inline int16_t mf_tanh_s16_element(int16_t x, int32_t input_multiplier, int32_t input_left_shift)
{
    const int32_t v = mf_s16_input_in_units(x, input_multiplier, input_left_shift);
    const uint32_t a = (uint32_t)(v >= 0 ? v : -v); /* |v| < 2^31: -v cannot overflow */
    const uint32_t h = a >> 8;
    int32_t r;
    if (h >= 255u) {
        r = 65535 << 8;
    } else {
        const int32_t lo = mf_sigmoid_table_u16[h], hi = mf_sigmoid_table_u16[h + 1];
        r = (lo << 8) + (int32_t)(a & 255u) * (hi - lo); /* < 2^24 */
    }
    r = v >= 0 ? r - (1 << 23) + (1 << 7) : -r + (1 << 23) + (1 << 7) - 1;
    return (int16_t)(r >> 8); /* in [-32767, 32767] */
}

#endif /* MICROFLAT_ACTIVATIONS_S16_H */
