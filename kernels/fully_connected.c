/*
 * int8 fully connected, the C twin of fully_connected.py (whose docstring
 * derives the arithmetic). Each input row is widened once into `scratch` as
 * int16 (x - input_zp); each output is a dot product with a weight row
 * (requantized_row_dots.h), or, for asymmetric weights (filter_zp != 0, decided
 * once per call) or one rounding (single_rounding), with the row's weights
 * centred as they are read.
 */
#include "requantized_row_dots.h"
#include "microflat_kernels.h"
#include "numerics.h"
#include "weight_encoding.h"

int64_t mf_fully_connected_s8_scratch_bytes(int32_t input_features)
{
    return 2 * (int64_t)input_features;
}

/* One output's requantization: TFLite's two roundings, or LiteRT's reference one (single_rounding). */
static inline int8_t fc_output(int32_t acc, const int32_t *output_mult, const int8_t *output_shift,
                               int32_t per_channel, int32_t single_rounding, int32_t o, int32_t output_zp,
                               int32_t act_min, int32_t act_max)
{
    if (single_rounding) {
        const int32_t q = per_channel ? o : 0;
        return (int8_t)requantize_single_rounding(acc, output_mult[q], output_shift[q], output_zp, act_min, act_max);
    }
    return requant_output(acc, channel_requant(output_mult, output_shift, per_channel, o), output_zp, act_min,
                          act_max);
}

/*
 * The outputs of one widened row (x - input_zp, in natural order), the portable way, for asymmetric weights
 * and for single rounding (which the paths of requantized_row_dots.h do not take): output o is
 * requantize(bias[o] + sum_k column[k] * (w[o, k] - filter_zp)). Both factors lie in [-255, 255] and
 * every partial sum within the loader's bound 255 * sum_k |w[o, k] - filter_zp| + |bias[o]| < 2^31
 * (numerics.accumulator_overflow), so the int32 sums are exact. Four rows at a time, as row_dots.h.
 */
static void centred_row_outputs(const int16_t *column, int32_t length, const int8_t *rows, int32_t filter_zp,
                                int32_t output_features, const int32_t *bias, const int32_t *output_mult,
                                const int8_t *output_shift, int32_t per_channel, int32_t single_rounding,
                                int32_t output_zp, int32_t act_min, int32_t act_max, int8_t *out)
{
    const int16_t zp = (int16_t)filter_zp;
    int32_t o = 0;
    for (; o + 4 <= output_features; o += 4) {
        const int8_t *r0 = rows + o * length, *r1 = r0 + length, *r2 = r1 + length, *r3 = r2 + length;
        int32_t s0 = bias != 0 ? bias[o] : 0, s1 = bias != 0 ? bias[o + 1] : 0;
        int32_t s2 = bias != 0 ? bias[o + 2] : 0, s3 = bias != 0 ? bias[o + 3] : 0;
        for (int32_t k = 0; k < length; ++k) { /* int16 x int16 products: one widening multiply-add a pair */
            const int16_t x = column[k];
            s0 += x * (int16_t)(r0[k] - zp);
            s1 += x * (int16_t)(r1[k] - zp);
            s2 += x * (int16_t)(r2[k] - zp);
            s3 += x * (int16_t)(r3[k] - zp);
        }
        const int32_t sums[4] = {s0, s1, s2, s3};
        for (int32_t j = 0; j < 4; ++j) {
            out[o + j] = fc_output(sums[j], output_mult, output_shift, per_channel, single_rounding, o + j, output_zp,
                                   act_min, act_max);
        }
    }
    for (; o < output_features; ++o) {
        const int8_t *r = rows + o * length;
        int32_t acc = bias != 0 ? bias[o] : 0;
        for (int32_t k = 0; k < length; ++k) {
            acc += column[k] * (int16_t)(r[k] - zp);
        }
        out[o] = fc_output(acc, output_mult, output_shift, per_channel, single_rounding, o, output_zp, act_min,
                           act_max);
    }
}

void mf_fully_connected_s8(int16_t *scratch,
                        int32_t batches, int32_t input_features, int32_t output_features,
                        int32_t input_zp, int32_t filter_zp, int32_t output_zp,
                        const int32_t *output_mult, const int8_t *output_shift, int32_t per_channel,
                        int32_t single_rounding, int32_t act_min, int32_t act_max,
                        const int8_t *input, const int8_t *filter, const int32_t *bias, int8_t *output)
{
    if (filter_zp != 0 || single_rounding) {
        for (int32_t b = 0; b < batches; ++b) {
            const int8_t *in = input + b * input_features;
            for (int32_t k = 0; k < input_features; ++k) {
                scratch[k] = (int16_t)(in[k] - input_zp); /* in [-255, 255]; no MF_COLUMN_DONE: natural order */
            }
            centred_row_outputs(scratch, input_features, filter, filter_zp, output_features, bias, output_mult,
                                output_shift, per_channel, single_rounding, output_zp, act_min, act_max,
                                output + b * output_features);
        }
        return;
    }
    for (int32_t b = 0; b < batches; ++b) {
        const int8_t *in = input + b * input_features;
        for (int32_t k = 0; k < input_features; ++k) {
            scratch[k] = (int16_t)(in[k] - input_zp); /* in [-255, 255] */
        }
        MF_COLUMN_DONE(scratch, input_features, input_zp);
        requantized_row_dots(scratch, input_features, filter, 0, output_features, bias, output_mult, output_shift,
                             per_channel, input_zp, output_zp, act_min, act_max, output + b * output_features);
    }
}

int64_t mf_fully_connected_encoded_s8_scratch_bytes(int32_t input_features)
{
    return 4 * (int64_t)input_features;
}

/* mf_fully_connected_s8 on an encoded filter, read in place; scratch: the widened row, then one decoded row. */
void mf_fully_connected_encoded_s8(int16_t *scratch,
                                int32_t batches, int32_t input_features, int32_t output_features,
                                int32_t value_bits, int32_t codebook_size, int32_t codebook_per_channel,
                                int32_t position_bits, int32_t entries,
                                int32_t input_zp, int32_t output_zp,
                                const int32_t *output_mult, const int8_t *output_shift, int32_t per_channel,
                                int32_t single_rounding, int32_t act_min, int32_t act_max,
                                const int8_t *input, const int8_t *codebook, const uint8_t *values,
                                const uint8_t *positions, const int32_t *bias, int8_t *output)
{
    for (int32_t b = 0; b < batches; ++b) {
        const int8_t *in = input + b * input_features;
        for (int32_t k = 0; k < input_features; ++k) {
            scratch[k] = (int16_t)(in[k] - input_zp); /* in [-255, 255] */
        }
        int32_t entry = 0;
        int32_t position = -1;
        for (int32_t o = 0; o < output_features; ++o) {
            const int32_t cb = codebook_per_channel ? o * codebook_size : 0;
            int32_t acc = encoded_row_dot(scratch, scratch + input_features, o, input_features, value_bits, codebook, cb, position_bits,
                                          entries, values, positions, &entry, &position);
            if (bias != 0) {
                acc += bias[o];
            }
            output[b * output_features + o] = fc_output(acc, output_mult, output_shift, per_channel, single_rounding,
                                                        o, output_zp, act_min, act_max);
        }
    }
}

/* One 16x8 output's requantization: TFLite's source's (TFLite Micro's), or LiteRT's reference one. */
static inline int16_t fc_output_s16(int64_t acc, int32_t mult, int32_t shift, int32_t single_rounding,
                                    int32_t act_min, int32_t act_max)
{
    return (int16_t)(single_rounding ? requantize_int64_single_rounding(acc, mult, shift, act_min, act_max)
                                     : requantize_int64(acc, mult, shift, act_min, act_max));
}

/*
 * 16x8 (fully_connected.py derives it): acc = bias[o] + sum_k x[k] w[o, k] in int64, requantize_int64. Each
 * product |x w| <= 2^15 * 127 fits int32; the sums stay within the loader's bound 2^47 - 1. Two outputs at a
 * time (kernel_paths.h: MF_ROW_DOTS_S16_X2, the row read once for both), an odd last one alone.
 */
void mf_fully_connected_s16(int32_t batches, int32_t input_features, int32_t output_features,
                         const int32_t *output_mult, const int8_t *output_shift, int32_t per_channel,
                         int32_t single_rounding, int32_t act_min, int32_t act_max,
                         const int16_t *input, const int8_t *filter, const int64_t *bias, int16_t *output)
{
    for (int32_t b = 0; b < batches; ++b) {
        const int16_t *in = input + (int64_t)b * input_features;
        int16_t *out = output + (int64_t)b * output_features;
        int32_t o = 0;
        for (; o + 2 <= output_features; o += 2) {
            const int8_t *row = filter + (int64_t)o * input_features;
            int64_t acc0 = bias != 0 ? bias[o] : 0;
            int64_t acc1 = bias != 0 ? bias[o + 1] : 0;
            MF_ROW_DOTS_S16_X2(&acc0, &acc1, in, row, row + input_features, input_features);
            const int32_t q0 = per_channel ? o : 0, q1 = per_channel ? o + 1 : 0;
            out[o] = fc_output_s16(acc0, output_mult[q0], output_shift[q0], single_rounding, act_min, act_max);
            out[o + 1] = fc_output_s16(acc1, output_mult[q1], output_shift[q1], single_rounding, act_min, act_max);
        }
        if (o < output_features) {
            int64_t acc = bias != 0 ? bias[o] : 0;
            MF_ROW_DOT_S16(&acc, in, filter + (int64_t)o * input_features, input_features);
            const int32_t q = per_channel ? o : 0;
            out[o] = fc_output_s16(acc, output_mult[q], output_shift[q], single_rounding, act_min, act_max);
        }
    }
}
