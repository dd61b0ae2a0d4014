/*
 * int8 elementwise add, sub, mul, maximum, minimum and squared difference
 * with NHWC broadcasting: the C twins of elementwise.py, whose docstring
 * derives the arithmetic (TFLite's int8 Add, Sub, Mul, Maximum, Minimum and
 * SquaredDifference). Each input is read through four element strides (0 on
 * a broadcast axis). Input element i is read before output element i is
 * written, so the output may alias an input.
 */
#include "microflat_kernels.h"
#include "numerics.h"

void mf_add_s8(const int32_t *output_shape, const int32_t *input1_strides, const int32_t *input2_strides,
            int32_t left_shift,
            int32_t input1_zp, int32_t input1_mult, int32_t input1_shift,
            int32_t input2_zp, int32_t input2_mult, int32_t input2_shift,
            int32_t output_zp, int32_t output_mult, int32_t output_shift,
            int32_t act_min, int32_t act_max,
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
                    /* |a|, |b| <= 255 and left_shift <= 20: the shifted values are below 2^28. */
                    const int32_t a_scaled = multiply_by_quantized_multiplier(a * (1 << left_shift), input1_mult,
                                                                              input1_shift);
                    const int32_t b_scaled = multiply_by_quantized_multiplier(b * (1 << left_shift), input2_mult,
                                                                              input2_shift);
                    output[i++] = (int8_t)requantize(a_scaled + b_scaled, output_mult, output_shift, output_zp,
                                                     act_min, act_max);
                }
            }
        }
    }
}

void mf_mul_s8(const int32_t *output_shape, const int32_t *input1_strides, const int32_t *input2_strides,
            int32_t input1_zp, int32_t input2_zp,
            int32_t output_zp, int32_t output_mult, int32_t output_shift,
            int32_t act_min, int32_t act_max,
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
                    output[i++] = (int8_t)requantize(a * b, output_mult, output_shift, output_zp, act_min, act_max);
                }
            }
        }
    }
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
