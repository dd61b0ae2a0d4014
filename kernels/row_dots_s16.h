/*
 * The inner loop of the 16x8 layers mf_conv2d_s16 and mf_fully_connected_s16, in
 * portable C99: the reference every optimized path (kernels/arm/row_dots_s16_dsp.h)
 * must match bit for bit, and the path every other target builds.
 *
 *     *acc += sum_{t < length} x[t] * w[t]      x: int16 activations, w: int8 weights
 *
 * in int64, for one weight row (row_dot_s16) or two rows against the same x
 * (row_dots_s16_x2, so each x value is loaded once for two products). x and w
 * are read where they lie: the fully connected layer's input row and weight
 * row, a convolution window's run of contiguous taps and the filter's
 * matching run; no scratch, no alignment beyond their types'.
 *
 * Each product |x w| <= 2^15 * 2^7 = 2^22 is exact in int32, and every partial
 * sum lies within |bias| + 2^15 * sum|w| <= 2^47 - 1 (the loaders' 16x8
 * accumulator rule), so the int64 sums are exact and the order of the additions
 * does not change them: callers split a window into runs, and paths take the
 * products in whatever blocks suit them.
 */
#ifndef MICROFLAT_ROW_DOTS_S16_H
#define MICROFLAT_ROW_DOTS_S16_H

#include <stdint.h>

static inline void row_dot_s16(int64_t *acc, const int16_t *x, const int8_t *w, int32_t length)
{
    int64_t a = *acc;
    for (int32_t t = 0; t < length; ++t) {
        a += (int32_t)x[t] * w[t];
    }
    *acc = a;
}

static inline void row_dots_s16_x2(int64_t *acc0, int64_t *acc1, const int16_t *x, const int8_t *w0,
                                   const int8_t *w1, int32_t length)
{
    int64_t a0 = *acc0, a1 = *acc1;
    for (int32_t t = 0; t < length; ++t) {
        const int32_t v = x[t];
        a0 += v * w0[t];
        a1 += v * w1[t];
    }
    *acc0 = a0;
    *acc1 = a1;
}

#endif /* MICROFLAT_ROW_DOTS_S16_H */
