/* int8 transpose over a rank-5 loop nest: the C twin of transpose.py, whose docstring states the contract. */
#include "microflat_kernels.h"

void mf_transpose_s8(const int32_t *output_shape, const int32_t *input_strides, const int8_t *input, int8_t *output)
{
    const int32_t n4 = output_shape[4];
    const int32_t s4 = input_strides[4];
    int8_t *dst = output;
    for (int32_t a = 0; a < output_shape[0]; ++a) {
        for (int32_t b = 0; b < output_shape[1]; ++b) {
            for (int32_t c = 0; c < output_shape[2]; ++c) {
                for (int32_t d = 0; d < output_shape[3]; ++d) {
                    const int8_t *src =
                        input + a * input_strides[0] + b * input_strides[1] + c * input_strides[2] + d * input_strides[3];
                    if (s4 == 1) {
                        for (int32_t e = 0; e < n4; ++e) {
                            dst[e] = src[e];
                        }
                    } else {
                        for (int32_t e = 0; e < n4; ++e) {
                            dst[e] = src[e * s4];
                        }
                    }
                    dst += n4;
                }
            }
        }
    }
}
