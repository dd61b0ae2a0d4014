/*
 * int8 softmax over the last axis: the C twin of softmax.py (TFLite's int8
 * reference Softmax), whose docstring derives the arithmetic.
 */
#include "microflat_kernels.h"
#include "numerics.h"

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
