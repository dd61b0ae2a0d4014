/*
 * depthwise_taps.h for a Cortex-M with the DSP extension. Each tap's
 * weights are sign-extended once per block, when the taps are laid out:
 * SXTB16(w) = [w0, w2] and SXTB16(w ROR 8) = [w1, w3] (halves low first),
 * then the tap's input offset; three words a tap. Per output pixel and tap,
 * one load brings the four input channels and SXTB16 widens them the same
 * way; SSUB16 subtracts the zero point from both halves at once (x - zp in
 * [-255, 255] fits a half; the folded loop has no zero point to take), and
 * SMLABB / SMLATT multiply-accumulate the bottom or the top halves, one
 * channel each. The products and sums are the portable loop's, in the same
 * int32 accumulators, so the results are bit-exact with it.
 *
 * The loops are in assembly: compiled from C inside mf_depthwise_conv2d_s8,
 * GCC spilled their pointers and took 17 instructions a tap where these
 * take 11 (folded) or 13.
 */
#ifndef MICROFLAT_DEPTHWISE_TAPS_DSP_H
#define MICROFLAT_DEPTHWISE_TAPS_DSP_H

#include <arm_acle.h>
#include <stdint.h>

#include "row_dots_dsp.h" /* dsp_word, dsp_sxtb16_ror8 */

#define DEPTHWISE_WORDS_PER_TAP_DSP 3 /* [w0, w2], [w1, w3], the input offset */

static inline void depthwise_weights_x4_dsp(int32_t *weights, const int8_t *w, int32_t filter_h, int32_t filter_w,
                                            int32_t output_ch, int32_t x_row_step, int32_t x_col_step)
{
    for (int32_t ky = 0; ky < filter_h; ++ky) {
        for (int32_t kx = 0; kx < filter_w; ++kx) {
            int32_t *tap = weights + (ky * filter_w + kx) * DEPTHWISE_WORDS_PER_TAP_DSP;
            const int32_t v = dsp_word(w + (ky * filter_w + kx) * output_ch);
            tap[0] = __sxtb16(v);
            tap[1] = dsp_sxtb16_ror8(v);
            tap[2] = ky * x_row_step + kx * x_col_step;
        }
    }
}

/* The corner's address from the input's and an index that may lie outside it: in an integer, never a C pointer. */
static inline uint32_t dsp_corner(const int8_t *input, int32_t base)
{
    return (uint32_t)(uintptr_t)input + (uint32_t)base;
}

/*
 * The run's loop, in two parts around the optional zero-point subtraction. Per tap: the offset, the two
 * weight words (LDRD, post-indexed past the tap's three), the input word, its two SXTB16 halves, then
 * four multiply-accumulates and the count.
 */
#define DSP_TAPS_LOAD                              \
    "1:\n\t"                                       \
    "ldr     %[off], [%[w], #8]\n\t"               \
    "ldrd    %[we], %[wo], [%[w]], #12\n\t"        \
    "ldr     %[xv], [%[x], %[off]]\n\t"            \
    "sxtb16  %[xo], %[xv], ror #8\n\t"             \
    "sxtb16  %[xv], %[xv]\n\t"
#define DSP_TAPS_ACCUMULATE                        \
    "smlabb  %[a0], %[xv], %[we], %[a0]\n\t"       \
    "smlatt  %[a2], %[xv], %[we], %[a2]\n\t"       \
    "smlabb  %[a1], %[xo], %[wo], %[a1]\n\t"       \
    "smlatt  %[a3], %[xo], %[wo], %[a3]\n\t"       \
    "subs    %[n], %[n], #1\n\t"                   \
    "bne     1b"
#define DSP_TAPS_OUTPUTS                                                                                      \
    [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(weights), [n] "+r"(taps),           \
        [we] "=&r"(we), [wo] "=&r"(wo), [off] "=&r"(off), [xv] "=&r"(xv), [xo] "=&r"(xo)

/* A run of `taps` taps (at least one); subtract: take input_zp from the inputs (folded: not). */
static inline void dsp_taps_run(int32_t acc[4], const int8_t *input, int32_t base, const int32_t *weights,
                                int32_t taps, int32_t input_zp, int32_t subtract)
{
    const uint32_t corner = dsp_corner(input, base);
    /* input_zp in both halves: [zp, zp] */
    const int32_t zp2 = (int32_t)(((uint32_t)input_zp & 0xFFFFu) | ((uint32_t)input_zp << 16));
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t we, wo, off, xv, xo;
    if (subtract) {
        __asm__(DSP_TAPS_LOAD "ssub16  %[xo], %[xo], %[zp]\n\t"
                              "ssub16  %[xv], %[xv], %[zp]\n\t" DSP_TAPS_ACCUMULATE
                : DSP_TAPS_OUTPUTS
                : [x] "r"(corner), [zp] "r"(zp2)
                : "cc", "memory");
    } else {
        __asm__(DSP_TAPS_LOAD DSP_TAPS_ACCUMULATE : DSP_TAPS_OUTPUTS : [x] "r"(corner) : "cc", "memory");
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

static inline void depthwise_taps_x4_dsp(int32_t acc[4], const int8_t *input, int32_t base, const int32_t *weights,
                                         int32_t taps, int32_t input_zp)
{
    if (taps > 0) {
        dsp_taps_run(acc, input, base, weights, taps, input_zp, 1);
    }
}

static inline void depthwise_taps_x4_folded_dsp(int32_t acc[4], const int8_t *input, int32_t base,
                                                const int32_t *weights, int32_t taps)
{
    if (taps > 0) {
        dsp_taps_run(acc, input, base, weights, taps, 0, 0);
    }
}

#endif /* MICROFLAT_DEPTHWISE_TAPS_DSP_H */
