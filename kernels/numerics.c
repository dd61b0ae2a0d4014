/*
 * The out-of-line part of numerics.h: TFLite's double rounding step by step,
 * for the multipliers requant_apply does not fuse (see numerics.h).
 */
#include "numerics.h"

int32_t mf_multiply_by_quantized_multiplier_reference(int32_t x, int32_t mult, int32_t shift)
{
    const int32_t left_shift = shift > 0 ? shift : 0;
    const int32_t right_shift = shift > 0 ? 0 : -shift;
    int64_t shifted = (int64_t)x * ((int64_t)1 << left_shift); /* |.| < 2^61 */
    if (shifted > INT32_MAX) {
        shifted = INT32_MAX;
    } else if (shifted < INT32_MIN) {
        shifted = INT32_MIN;
    }
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul((int32_t)shifted, mult), right_shift);
}
