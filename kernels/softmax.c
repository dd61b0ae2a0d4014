/*
 * Softmax over the last axis: the C twin of softmax.py (TFLite's int8
 * reference Softmax, and its int16 SoftmaxInt16), whose docstring derives
 * the arithmetic.
 */
#include "microflat_kernels.h"
#include "numerics.h"
#include "softmax_s16_tables.h"

void mf_softmax_s8(int32_t outer, int32_t depth,
                int32_t input_beta_mult, int32_t input_left_shift, int32_t diff_min,
                const int8_t *input, int8_t *output)
{
    for (int32_t row = 0; row < outer; ++row) {
        const int8_t *in = input + row * depth;
        int8_t *out = output + row * depth;
        int32_t max_in_row = -128;
        for (int32_t c = 0; c < depth; ++c) {
            max_in_row = in[c] > max_in_row ? in[c] : max_in_row;
        }
        int32_t sum_of_exps = 0; /* Q12.19; depth < 4096 keeps it below 2^31 */
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t d = (int32_t)in[c] - max_in_row;
            if (d >= diff_min) {
                /* |d| * 2^left_shift <= 31 * 2^26 by the choice of diff_min */
                const int32_t r = saturating_rounding_doubling_high_mul(
                    (int32_t)((int64_t)d * ((int64_t)1 << input_left_shift)), input_beta_mult);
                sum_of_exps = wrapping_add(sum_of_exps, rounding_divide_by_pot(exp_on_negative_values(r), 12));
            }
        }
        const int32_t headroom_plus_one = count_leading_zeros((uint32_t)sum_of_exps);
        const int32_t num_bits_over_unit = 12 - headroom_plus_one;
        const int32_t shifted_sum_minus_one =
            (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - ((uint32_t)1 << 31));
        const int32_t shifted_scale = one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one);
        const int32_t exponent = num_bits_over_unit + 31 - 8;
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t d = (int32_t)in[c] - max_in_row;
            if (d >= diff_min) {
                const int32_t r = saturating_rounding_doubling_high_mul(
                    (int32_t)((int64_t)d * ((int64_t)1 << input_left_shift)), input_beta_mult);
                const int32_t p = saturating_rounding_doubling_high_mul(shifted_scale, exp_on_negative_values(r));
                const int32_t unsat = exponent <= 31 ? rounding_divide_by_pot(p, exponent) : 0;
                const int32_t y = unsat - 128;
                out[c] = (int8_t)(y < -128 ? -128 : (y > 127 ? 127 : y));
            } else {
                out[c] = -128;
            }
        }
    }
}

/*
 * TFLite's int16 lookup (generic_int16_table_lookup): the top 9 bits of v index, the low 7 interpolate. On the two
 * softmax tables (constants: consecutive entries differ by at most 634) every intermediate lies inside int16.
 */
static inline int32_t lut_lookup_s16(int32_t value, const int16_t *lut)
{
    const int32_t index = 256 + (value >> 7); /* [0, 511] for an int16 value */
    const int32_t base = lut[index];
    const int32_t slope = (int32_t)lut[index + 1] - base;
    return base + ((slope * (value & 127) + 64) >> 7);
}

/*
 * int16 softmax over the last axis: TFLite's SoftmaxInt16, the twin of softmax_s16 in softmax.py (whose docstring
 * derives each bound): depth <= 65535 keeps the sum of the exps (each <= 32762) below 2^31, and
 * input_left_shift <= 15 keeps 65535 * 2^shift inside int32.
 */
void mf_softmax_s16(int32_t outer, int32_t depth, int32_t input_multiplier, int32_t input_left_shift,
                    const int16_t *input, int16_t *output)
{
    const mf_requant scaling = requant_prepare(input_multiplier, input_left_shift);
    for (int32_t row = 0; row < outer; ++row) {
        const int16_t *in = input + row * depth;
        int16_t *out = output + row * depth;
        int32_t max_in_row = -32768;
        for (int32_t c = 0; c < depth; ++c) {
            max_in_row = in[c] > max_in_row ? in[c] : max_in_row;
        }
        int32_t sum_of_exps = 0; /* Q16.15, < 2^31 */
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t d = (int32_t)in[c] - max_in_row; /* [-65535, 0] */
            int32_t t = requant_apply(d, scaling); /* <= 0 */
            t = t < -32768 - 32767 ? -32768 : t + 32767;
            const int32_t e = lut_lookup_s16(t, mf_softmax_s16_exp_lut); /* [2, 32762] */
            out[c] = (int16_t)e; /* each x is read before its e is written: in place is safe */
            sum_of_exps += e;
        }
        const int32_t headroom_plus_one = count_leading_zeros((uint32_t)sum_of_exps); /* [1, 17] */
        const int32_t shifted_sum =
            (int32_t)((((int64_t)sum_of_exps << (headroom_plus_one - 1)) + (1 << 13)) >> 14); /* [2^16, 2^17] */
        const int32_t u = shifted_sum - 98304 > 32767 ? 32767 : shifted_sum - 98304; /* >= 65536 - 98304 */
        const int32_t reciprocal = lut_lookup_s16(u, mf_softmax_s16_one_over_one_plus_x_lut); /* Q0.15 */
        const int32_t right_shift = 31 - headroom_plus_one; /* [14, 30] */
        const int64_t round = (int64_t)1 << (right_shift - 1);
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t y = (int32_t)(((int64_t)out[c] * reciprocal + round) >> right_shift); /* [0, 32767] */
            out[c] = (int16_t)(y < 0 ? 0 : (y > 32767 ? 32767 : y));
        }
    }
}
