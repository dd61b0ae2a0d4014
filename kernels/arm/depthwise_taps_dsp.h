/*
 * depthwise_taps.h for a Cortex-M with the DSP extension. One load brings
 * four channels' inputs, one more their weights; SXTB16 sign-extends bytes
 * 0 and 2 (ROR 8: 1 and 3) into 16-bit halves, SSUB16 subtracts the zero
 * point from both halves at once (x - zp in [-255, 255] fits a half), and
 * SMLABB / SMLATT multiply-accumulate the bottom or the top halves, one
 * channel each. The products and sums are the portable loop's, in the same
 * int32 accumulators, so the results are bit-exact with it.
 */
#ifndef MICROFLAT_DEPTHWISE_TAPS_DSP_H
#define MICROFLAT_DEPTHWISE_TAPS_DSP_H

#include <arm_acle.h>
#include <stdint.h>

#include "row_dots_dsp.h" /* dsp_word, dsp_sxtb16_ror8 */

static inline void depthwise_taps_x4_dsp(int32_t acc[4], const int8_t *x, const int8_t *w, int32_t rows,
                                         int32_t cols, int32_t x_row_step, int32_t x_col_step, int32_t w_row_step,
                                         int32_t w_col_step, int32_t input_zp)
{
    /* input_zp in both halves: [zp, zp] */
    const int32_t zp2 = (int32_t)(((uint32_t)input_zp & 0xFFFFu) | ((uint32_t)input_zp << 16));
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (int32_t r = 0; r < rows; ++r) {
        const int8_t *xp = x + r * x_row_step;
        const int8_t *wp = w + r * w_row_step;
        for (int32_t k = 0; k < cols; ++k) {
            const int32_t xv = dsp_word(xp);
            const int32_t wv = dsp_word(wp);
            const int32_t xe = __ssub16(__sxtb16(xv), zp2);       /* [x0 - zp, x2 - zp] */
            const int32_t xo = __ssub16(dsp_sxtb16_ror8(xv), zp2); /* [x1 - zp, x3 - zp] */
            const int32_t we = __sxtb16(wv);
            const int32_t wo = dsp_sxtb16_ror8(wv);
            a0 = __smlabb(xe, we, a0);
            a2 = __smlatt(xe, we, a2);
            a1 = __smlabb(xo, wo, a1);
            a3 = __smlatt(xo, wo, a3);
            xp += x_col_step;
            wp += w_col_step;
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

#endif /* MICROFLAT_DEPTHWISE_TAPS_DSP_H */
