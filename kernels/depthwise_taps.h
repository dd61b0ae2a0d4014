/*
 * The inner loop of mf_depthwise_conv2d_s8 with a depth multiplier of 1, in
 * portable C99 (the reference for kernels/arm/depthwise_taps_dsp.h): four
 * adjacent channels of one output pixel, accumulated over a run of a
 * window's taps.
 *
 * A block of four channels first has its taps laid out once
 * (depthwise_weights_x4: DEPTHWISE_WORDS_PER_TAP words a tap, in the order
 * t = ky * filter_w + kx): the four channels' weights and the tap's input
 * offset from the window's corner, ky * x_row_step + kx * x_col_step. Every
 * output pixel of the block then runs through that one small buffer:
 *
 *     acc[j] += sum over taps t of the run of (input[base + offset_t + j] - input_zp) * w_t[j],   j in 0..3
 *
 * where `base` is the index of channel c at the window's corner (which may
 * lie outside the input; every tap of the run lies inside). A window wholly
 * inside the input is one run of every tap; a border window, one run per
 * valid row. depthwise_taps_x4_folded leaves out input_zp, for a caller that
 * started the accumulators at bias - input_zp * sum_t w_t instead
 * (depthwise_conv2d.c derives why that stays within int32).
 *
 * Partial sums are bounded by 255 * sum|w| + |b| < 2^31 (the loader's
 * check), so any order of the additions gives the same int32 sums.
 */
#ifndef MICROFLAT_DEPTHWISE_TAPS_H
#define MICROFLAT_DEPTHWISE_TAPS_H

#include <stdint.h>
#include <string.h>

#define DEPTHWISE_WORDS_PER_TAP 2 /* the four int8 weights as the filter holds them, the input offset */

static inline void depthwise_weights_x4(int32_t *weights, const int8_t *w, int32_t filter_h, int32_t filter_w,
                                        int32_t output_ch, int32_t x_row_step, int32_t x_col_step)
{
    for (int32_t ky = 0; ky < filter_h; ++ky) {
        for (int32_t kx = 0; kx < filter_w; ++kx) {
            int32_t *tap = weights + (ky * filter_w + kx) * DEPTHWISE_WORDS_PER_TAP;
            memcpy(tap, w + (ky * filter_w + kx) * output_ch, 4);
            tap[1] = ky * x_row_step + kx * x_col_step;
        }
    }
}

static inline void depthwise_taps_x4(int32_t acc[4], const int8_t *input, int32_t base, const int32_t *weights,
                                     int32_t taps, int32_t input_zp)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (int32_t t = 0; t < taps; ++t, weights += DEPTHWISE_WORDS_PER_TAP) {
        const int8_t *w = (const int8_t *)weights; /* a character type may alias */
        const int8_t *x = input + (base + weights[1]);
        a0 += ((int32_t)x[0] - input_zp) * (int32_t)w[0];
        a1 += ((int32_t)x[1] - input_zp) * (int32_t)w[1];
        a2 += ((int32_t)x[2] - input_zp) * (int32_t)w[2];
        a3 += ((int32_t)x[3] - input_zp) * (int32_t)w[3];
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

static inline void depthwise_taps_x4_folded(int32_t acc[4], const int8_t *input, int32_t base,
                                            const int32_t *weights, int32_t taps)
{
    depthwise_taps_x4(acc, input, base, weights, taps, 0);
}

#endif /* MICROFLAT_DEPTHWISE_TAPS_H */
