/*
 * int8 concatenation, one input per call: the C twin of concatenation.py,
 * whose docstring derives the arithmetic.
 */
#include "microflat_kernels.h"
#include "numerics.h"

void mf_concatenation_s8(int32_t outer, int32_t copy_size, int32_t output_row, int32_t output_start,
                      int32_t requant, int32_t input_zp, int32_t output_zp, int32_t mult, int32_t shift,
                      const int8_t *input, int8_t *output)
{
    for (int32_t o = 0; o < outer; ++o) {
        const int8_t *src = input + o * copy_size;
        int8_t *dst = output + o * output_row + output_start;
        for (int32_t k = 0; k < copy_size; ++k) {
            dst[k] = requant ? (int8_t)requantize((int32_t)src[k] - input_zp, mult, shift, output_zp, -128, 127)
                             : src[k];
        }
    }
}
