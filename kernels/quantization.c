/*
 * float32 <-> int8 or int16 at the model's boundary, and the integer
 * requantization of an int8 or int16 tensor: the C twin of quantization.py,
 * whose docstring explains why the results are bit-identical. Single
 * precision only; no libm.
 */
#include "microflat_kernels.h"
#include "numerics.h"

void mf_quantize_s8(int32_t size, float scale, int32_t zero_point, const float *input, int8_t *output)
{
    for (int32_t i = 0; i < size; ++i) {
        const float v = input[i] / scale;
        int32_t r;
        if (v != v) {
            r = 0;
        } else if (v >= 256.0f) {
            r = 256;
        } else if (v <= -256.0f) {
            r = -256;
        } else {
            const int32_t t = (int32_t)v; /* truncation; |v| < 256 */
            const float frac = v - (float)t; /* exact */
            r = frac >= 0.5f ? t + 1 : (frac <= -0.5f ? t - 1 : t);
        }
        r += zero_point;
        output[i] = (int8_t)(r < -128 ? -128 : (r > 127 ? 127 : r));
    }
}

void mf_dequantize_s8(int32_t size, float scale, int32_t zero_point, const int8_t *input, float *output)
{
    for (int32_t i = 0; i < size; ++i) {
        output[i] = scale * (float)((int32_t)input[i] - zero_point);
    }
}

/* quantize_s8 with int16's range: any |v| >= 65536 saturates whatever the zero point. */
void mf_quantize_s16(int32_t size, float scale, int32_t zero_point, const float *input, int16_t *output)
{
    for (int32_t i = 0; i < size; ++i) {
        const float v = input[i] / scale;
        int32_t r;
        if (v != v) {
            r = 0;
        } else if (v >= 65536.0f) {
            r = 65536;
        } else if (v <= -65536.0f) {
            r = -65536;
        } else {
            const int32_t t = (int32_t)v; /* truncation; |v| < 2^16 */
            const float frac = v - (float)t; /* exact */
            r = frac >= 0.5f ? t + 1 : (frac <= -0.5f ? t - 1 : t);
        }
        r += zero_point;
        output[i] = (int16_t)(r < -32768 ? -32768 : (r > 32767 ? 32767 : r));
    }
}

void mf_dequantize_s16(int32_t size, float scale, int32_t zero_point, const int16_t *input, float *output)
{
    for (int32_t i = 0; i < size; ++i) {
        output[i] = scale * (float)((int32_t)input[i] - zero_point); /* |q - zp| <= 65535: exact in float */
    }
}

/*
 * TFLite's Requantize: clamp(multiply_by_quantized_multiplier(x - input_zp, mult, shift) + output_zp) to the
 * output type's range. |x - input_zp| <= 65535; requantize's clamp compares with bounds minus the zero point,
 * within +-65535.
 */
void mf_requantize_s8_s16(int32_t size, int32_t input_zp, int32_t output_zp, int32_t mult, int32_t shift,
                          const int8_t *input, int16_t *output)
{
    for (int32_t i = 0; i < size; ++i) {
        output[i] = (int16_t)requantize((int32_t)input[i] - input_zp, mult, shift, output_zp, -32768, 32767);
    }
}

void mf_requantize_s16_s8(int32_t size, int32_t input_zp, int32_t output_zp, int32_t mult, int32_t shift,
                          const int16_t *input, int8_t *output)
{
    for (int32_t i = 0; i < size; ++i) {
        output[i] = (int8_t)requantize((int32_t)input[i] - input_zp, mult, shift, output_zp, -128, 127);
    }
}

void mf_requantize_s16_s16(int32_t size, int32_t input_zp, int32_t output_zp, int32_t mult, int32_t shift,
                           const int16_t *input, int16_t *output)
{
    for (int32_t i = 0; i < size; ++i) {
        output[i] = (int16_t)requantize((int32_t)input[i] - input_zp, mult, shift, output_zp, -32768, 32767);
    }
}
