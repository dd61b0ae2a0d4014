/* int8 table lookup (logistic, tanh, hardswish): the C twin of lut.py. */
#include "microflat_kernels.h"

void mf_lut_s8(int32_t size, const int8_t *table, const int8_t *input, int8_t *output)
{
    for (int32_t i = 0; i < size; ++i) {
        output[i] = table[(int32_t)input[i] + 128];
    }
}
