/* int8 constant padding of an NHWC tensor: the C twin of pad.py. */
#include "microflat_kernels.h"

void mf_pad_s8(const int32_t *input_shape, const int32_t *pad_before, const int32_t *output_shape,
            int32_t pad_value, const int8_t *input, int8_t *output)
{
    int32_t i = 0;
    for (int32_t n = 0; n < output_shape[0]; ++n) {
        const int32_t xn = n - pad_before[0];
        for (int32_t h = 0; h < output_shape[1]; ++h) {
            const int32_t xh = h - pad_before[1];
            for (int32_t w = 0; w < output_shape[2]; ++w) {
                const int32_t xw = w - pad_before[2];
                const int inside = xn >= 0 && xn < input_shape[0] && xh >= 0 && xh < input_shape[1] &&
                                   xw >= 0 && xw < input_shape[2];
                for (int32_t c = 0; c < output_shape[3]; ++c) {
                    const int32_t xc = c - pad_before[3];
                    if (inside && xc >= 0 && xc < input_shape[3]) {
                        output[i] = input[((xn * input_shape[1] + xh) * input_shape[2] + xw) * input_shape[3] + xc];
                    } else {
                        output[i] = (int8_t)pad_value;
                    }
                    ++i;
                }
            }
        }
    }
}
