/*
 * The inner loop of depthwise_conv2d_s8 with a depth multiplier of 1, in
 * portable C99 (the reference for kernels/arm/depthwise_taps_dsp.h): four
 * adjacent channels of one output pixel, accumulated over a window's valid
 * taps.
 *
 *     acc[j] += sum over the rows x cols valid taps of (x[c + j] - input_zp) * w[c + j],  j in 0..3
 *
 * `x` and `w` point at channel c of the first valid tap; a tap one column
 * right is x_col_step (w_col_step) bytes on, one row down x_row_step
 * (w_row_step). Partial sums are bounded by 255 * sum|w| + |b| < 2^31 (the
 * loader's check), so any order of the additions gives the same int32 sums.
 */
#ifndef MICROFLAT_DEPTHWISE_TAPS_H
#define MICROFLAT_DEPTHWISE_TAPS_H

#include <stdint.h>

static inline void depthwise_taps_x4(int32_t acc[4], const int8_t *x, const int8_t *w, int32_t rows, int32_t cols,
                                     int32_t x_row_step, int32_t x_col_step, int32_t w_row_step, int32_t w_col_step,
                                     int32_t input_zp)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (int32_t r = 0; r < rows; ++r) {
        const int8_t *xp = x + r * x_row_step;
        const int8_t *wp = w + r * w_row_step;
        for (int32_t k = 0; k < cols; ++k) {
            a0 += ((int32_t)xp[0] - input_zp) * (int32_t)wp[0];
            a1 += ((int32_t)xp[1] - input_zp) * (int32_t)wp[1];
            a2 += ((int32_t)xp[2] - input_zp) * (int32_t)wp[2];
            a3 += ((int32_t)xp[3] - input_zp) * (int32_t)wp[3];
            xp += x_col_step;
            wp += w_col_step;
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

#endif /* MICROFLAT_DEPTHWISE_TAPS_H */
