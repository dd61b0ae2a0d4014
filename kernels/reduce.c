/*
 * int8 MEAN, SUM and REDUCE_MAX over any set of axes: the C twins of reduce.py, whose docstring derives
 * the arithmetic (TFLite's integer reference QuantizedMeanOrSum) and the int32 bound 255 * N < 2^31.
 *
 * input_shape holds five sizes and reduce_mask five 0/1 flags (1: reduced), as reduce_params builds them.
 * The input is walked once in memory order; each value goes to the output of its kept coordinates.
 * mf_reduce_mean_s8 and mf_reduce_sum_s8 add into `scratch`, one int32 per output element, then requantize;
 * they differ only in the (mult, shift) their caller passes. mf_reduce_max_s8 keeps the maxima in the output.
 */
#include "microflat_kernels.h"
#include "numerics.h"

/* In 64 bits, as the other *_scratch_bytes: the loader asks before it knows the arena holds it. */
int64_t mf_reduce_s8_scratch_bytes(int32_t output_elements)
{
    return 4 * (int64_t)output_elements;
}

/* The output stride of each dimension (0 where reduced); returns the output element count, and N. */
static int32_t output_strides(const int32_t *input_shape, const int32_t *reduce_mask, int32_t *out_stride,
                              int32_t *count)
{
    int32_t stride = 1;
    *count = 1;
    for (int32_t d = 4; d >= 0; --d) {
        if (reduce_mask[d] != 0) {
            out_stride[d] = 0;
            *count *= input_shape[d];
        } else {
            out_stride[d] = stride;
            stride *= input_shape[d];
        }
    }
    return stride;
}

static void reduce_sum_requantize(int32_t *scratch, const int32_t *input_shape, const int32_t *reduce_mask,
                                  int32_t input_zp, int32_t output_zp, int32_t mult, int32_t shift,
                                  const int8_t *input, int8_t *output)
{
    int32_t s[5];
    int32_t count = 1;
    const int32_t outputs = output_strides(input_shape, reduce_mask, s, &count);
    const int32_t n4 = input_shape[4];
    for (int32_t o = 0; o < outputs; ++o) {
        scratch[o] = 0;
    }
    int32_t i = 0;
    for (int32_t a = 0; a < input_shape[0]; ++a) {
        for (int32_t b = 0; b < input_shape[1]; ++b) {
            for (int32_t c = 0; c < input_shape[2]; ++c) {
                for (int32_t d = 0; d < input_shape[3]; ++d) {
                    const int32_t base = a * s[0] + b * s[1] + c * s[2] + d * s[3];
                    const int8_t *px = input + i;
                    if (s[4] == 0) { /* reduced innermost run: one sum, |.| <= 128 * n4 */
                        int32_t t = 0;
                        for (int32_t e = 0; e < n4; ++e) {
                            t += px[e];
                        }
                        scratch[base] += t;
                    } else { /* kept innermost run: contiguous accumulators */
                        int32_t *dst = scratch + base;
                        for (int32_t e = 0; e < n4; ++e) {
                            dst[e] += px[e];
                        }
                    }
                    i += n4;
                }
            }
        }
    }
    const int64_t zp_total = (int64_t)input_zp * count; /* |.| <= 128 * N */
    for (int32_t o = 0; o < outputs; ++o) {
        const int32_t centred = (int32_t)((int64_t)scratch[o] - zp_total); /* |.| <= 255 * N <= 2^31 - 1 */
        output[o] = (int8_t)requantize(centred, mult, shift, output_zp, -128, 127);
    }
}

void mf_reduce_mean_s8(int32_t *scratch, const int32_t *input_shape, const int32_t *reduce_mask,
                    int32_t input_zp, int32_t output_zp, int32_t mult, int32_t shift,
                    const int8_t *input, int8_t *output)
{
    reduce_sum_requantize(scratch, input_shape, reduce_mask, input_zp, output_zp, mult, shift, input, output);
}

void mf_reduce_sum_s8(int32_t *scratch, const int32_t *input_shape, const int32_t *reduce_mask,
                   int32_t input_zp, int32_t output_zp, int32_t mult, int32_t shift,
                   const int8_t *input, int8_t *output)
{
    reduce_sum_requantize(scratch, input_shape, reduce_mask, input_zp, output_zp, mult, shift, input, output);
}

void mf_reduce_max_s8(const int32_t *input_shape, const int32_t *reduce_mask, const int8_t *input, int8_t *output)
{
    int32_t s[5];
    int32_t count = 1;
    const int32_t outputs = output_strides(input_shape, reduce_mask, s, &count);
    const int32_t n4 = input_shape[4];
    for (int32_t o = 0; o < outputs; ++o) {
        output[o] = -128;
    }
    int32_t i = 0;
    for (int32_t a = 0; a < input_shape[0]; ++a) {
        for (int32_t b = 0; b < input_shape[1]; ++b) {
            for (int32_t c = 0; c < input_shape[2]; ++c) {
                for (int32_t d = 0; d < input_shape[3]; ++d) {
                    const int32_t base = a * s[0] + b * s[1] + c * s[2] + d * s[3];
                    const int8_t *px = input + i;
                    if (s[4] == 0) {
                        int8_t m = output[base];
                        for (int32_t e = 0; e < n4; ++e) {
                            m = px[e] > m ? px[e] : m;
                        }
                        output[base] = m;
                    } else {
                        int8_t *dst = output + base;
                        for (int32_t e = 0; e < n4; ++e) {
                            dst[e] = px[e] > dst[e] ? px[e] : dst[e];
                        }
                    }
                    i += n4;
                }
            }
        }
    }
}
