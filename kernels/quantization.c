/*
 * float32 <-> int8 at the model's boundary: the C twin of quantization.py,
 * whose docstring explains why the results are bit-identical. Single
 * precision only; no libm.
 */
#include "microflat_kernels.h"

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
