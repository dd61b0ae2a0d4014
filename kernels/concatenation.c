/*
 * int8 and int16 concatenation, one input per call: the C twins of concatenation.py,
 * whose docstring derives the arithmetic.
 */
#include "elements.h"
#include "microflat_kernels.h"
#include "numerics.h"

/* One input's column range of every output row, written once for both widths ([lo, hi]: the type's range). */
static MF_ALWAYS_INLINE void concatenate(int32_t outer, int32_t copy_size, int32_t output_row, int32_t output_start,
                                         int32_t requant, int32_t input_zp, int32_t output_zp, int32_t mult,
                                         int32_t shift, int32_t lo, int32_t hi, const void *input, void *output,
                                         int wide)
{
    for (int32_t o = 0; o < outer; ++o) {
        const int32_t src = o * copy_size;
        const int32_t dst = o * output_row + output_start;
        for (int32_t k = 0; k < copy_size; ++k) {
            const int32_t x = load_element(input, src + k, wide);
            store_element(output, dst + k, requant ? requantize(x - input_zp, mult, shift, output_zp, lo, hi) : x,
                          wide);
        }
    }
}

void mf_concatenation_s8(int32_t outer, int32_t copy_size, int32_t output_row, int32_t output_start,
                      int32_t requant, int32_t input_zp, int32_t output_zp, int32_t mult, int32_t shift,
                      const int8_t *input, int8_t *output)
{
    concatenate(outer, copy_size, output_row, output_start, requant, input_zp, output_zp, mult, shift, -128, 127,
                input, output, 0);
}

void mf_concatenation_s16(int32_t outer, int32_t copy_size, int32_t output_row, int32_t output_start,
                          int32_t requant, int32_t input_zp, int32_t output_zp, int32_t mult, int32_t shift,
                          const int16_t *input, int16_t *output)
{
    concatenate(outer, copy_size, output_row, output_start, requant, input_zp, output_zp, mult, shift, -32768,
                32767, input, output, 1);
}
