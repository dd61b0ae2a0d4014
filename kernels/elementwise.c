/*
 * int8 elementwise add and mul with NHWC broadcasting: the C twins of
 * elementwise.py, whose docstring derives the arithmetic. Each input is read
 * through four element strides (0 on a broadcast axis). Input element i is
 * read before output element i is written, so the output may alias an input.
 */
#include "microflat_kernels.h"
#include "numerics.h"

void add_s8(const int32_t *output_shape, const int32_t *input1_strides, const int32_t *input2_strides,
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

void mul_s8(const int32_t *output_shape, const int32_t *input1_strides, const int32_t *input2_strides,
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
