/*
 * int8 fully connected, the C twin of fully_connected.py (whose docstring
 * derives the arithmetic). Each input row is widened once into `scratch` as
 * int16 (x - input_zp); each output is a dot product with a weight row
 * (requantized_row_dots.h).
 */
#include "requantized_row_dots.h"
#include "microflat_kernels.h"
#include "numerics.h"
#include "weight_encoding.h"

int64_t mf_fully_connected_s8_scratch_bytes(int32_t input_features)
{
    return 2 * (int64_t)input_features;
}

void mf_fully_connected_s8(int16_t *scratch,
                        int32_t batches, int32_t input_features, int32_t output_features,
                        int32_t input_zp, int32_t output_zp,
                        const int32_t *output_mult, const int8_t *output_shift, int32_t per_channel,
                        int32_t act_min, int32_t act_max,
                        const int8_t *input, const int8_t *filter, const int32_t *bias, int8_t *output)
{
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
                                int32_t act_min, int32_t act_max,
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
            output[b * output_features + o] = requant_output(
                acc, channel_requant(output_mult, output_shift, per_channel, o), output_zp, act_min, act_max);
        }
    }
}
