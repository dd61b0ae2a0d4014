/*
 * The inner loop of the 16x8 mf_depthwise_conv2d_s16 with a depth multiplier
 * of 1, in portable C99 (the reference for kernels/arm/depthwise_taps_s16_dsp.h):
 * two adjacent channels of one output pixel, accumulated in int64 over a run
 * of a window's taps.
 *
 * A pair of channels first has its taps laid out once
 * (depthwise_s16_weights_x2: DEPTHWISE_S16_WORDS_PER_TAP words a tap, in the
 * order t = ky * filter_w + kx, each path its own layout): the two channels'
 * weights and the tap's input offset from the window's corner,
 * ky * x_row_step + kx * x_col_step. Every output pixel of the pair then runs
 * through that one small buffer:
 *
 *     acc[j] += sum over taps t of the run of input[base + offset_t + j] * w_t[j],   j in 0..1
 *
 * where `base` is the index of channel c at the window's corner (which may lie
 * outside the input; every tap of the run lies inside). A window wholly inside
 * the input is one run of every tap; a border window, one run per valid row.
 * The 16x8 input zero point is 0, so there is nothing to subtract or fold.
 *
 * Each product |x w| <= 2^22 is exact in int32, and the partial sums lie
 * within the loaders' bound |bias| + 2^15 * sum|w| <= 2^47 - 1, so any order
 * of the additions gives the same int64 sums.
 */
#ifndef MICROFLAT_DEPTHWISE_TAPS_S16_H
#define MICROFLAT_DEPTHWISE_TAPS_S16_H

#include <stdint.h>

#define DEPTHWISE_S16_WORDS_PER_TAP 3 /* the two channels' weights, the input offset (in elements) */

static inline void depthwise_s16_weights_x2(int32_t *weights, const int8_t *w, int32_t filter_h, int32_t filter_w,
                                            int32_t output_ch, int32_t x_row_step, int32_t x_col_step)
{
    for (int32_t ky = 0; ky < filter_h; ++ky) {
        for (int32_t kx = 0; kx < filter_w; ++kx) {
            int32_t *tap = weights + (ky * filter_w + kx) * DEPTHWISE_S16_WORDS_PER_TAP;
            const int8_t *wt = w + (ky * filter_w + kx) * output_ch;
            tap[0] = wt[0];
            tap[1] = wt[1];
            tap[2] = ky * x_row_step + kx * x_col_step;
        }
    }
}

static inline void depthwise_s16_taps_x2(int64_t acc[2], const int16_t *input, int32_t base, const int32_t *weights,
                                         int32_t taps)
{
    int64_t a0 = acc[0], a1 = acc[1];
    for (int32_t t = 0; t < taps; ++t, weights += DEPTHWISE_S16_WORDS_PER_TAP) {
        const int16_t *x = input + (base + weights[2]);
        a0 += (int32_t)x[0] * weights[0];
        a1 += (int32_t)x[1] * weights[1];
    }
    acc[0] = a0;
    acc[1] = a1;
}

#endif /* MICROFLAT_DEPTHWISE_TAPS_S16_H */
