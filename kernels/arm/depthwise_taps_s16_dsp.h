/*
 * depthwise_taps_s16.h for a Cortex-M with the DSP extension. SMLALD adds two
 * 16 x 16-bit products to a 64-bit accumulator; in a depthwise layer the two
 * products of one channel come from two taps, so the taps go in pairs (t, t + 1),
 * as CMSIS-NN's arm_depthwise_conv_fast_s16 pairs them for SMLAD.
 *
 * Each tap's record is laid out once per pair of channels (four words):
 * [w_t c0, w_t+1 c0] and [w_t c1, w_t+1 c1] (int8 weights sign-extended into
 * the 16-bit halves, low first), then the byte offsets of taps t and t + 1 from
 * the window's corner (t + 1 in the order ky * filter_w + kx; the last tap
 * pairs with itself, with weights 0). Per pair of taps and output pixel, one
 * word of each tap brings both channels' activations, [x_t c0, x_t c1] and
 * [x_t+1 c0, x_t+1 c1] (the depth multiplier is 1: channel c + 1 lies beside
 * channel c), and
 *
 *     PKHBT(xt, xu, LSL 16) = [x_t c0, x_t+1 c0]     PKHTB(xu, xt, ASR 16) = [x_t c1, x_t+1 c1]
 *
 * meet the two weight words in one SMLALD per channel: 10 instructions for 4
 * MACs (two offset and two weight words by two LDRD, two activation loads,
 * two packs, two SMLALD, SUBS and BNE). A run of odd length takes its last
 * tap alone, in C, from the low halves.
 *
 * Exactness: every half is one int16 activation or one int8 weight, unchanged,
 * so each SMLALD product is x * w for one tap and channel, exact in 32 bits
 * (|x w| <= 2^22), and SMLALD adds the pair to the 64-bit accumulator exactly,
 * modulo 2^64 only; the partial sums lie within the loaders' bound
 * |bias| + 2^15 * sum|w| <= 2^47 - 1, so none wraps and the sums are the
 * portable loop's in any order of the additions.
 */
#ifndef MICROFLAT_DEPTHWISE_TAPS_S16_DSP_H
#define MICROFLAT_DEPTHWISE_TAPS_S16_DSP_H

#include <stdint.h>

#include "row_dots_s16_dsp.h" /* dsp_low_word, dsp_high_word, dsp_words_s64 */

#define DEPTHWISE_S16_WORDS_PER_TAP_DSP 4 /* [w_t, w_t+1] of each channel, the byte offsets of t and t + 1 */

/* Two int16 values as one word's halves, lo first. */
static inline int32_t dsp_halves(int32_t lo, int32_t hi)
{
    return (int32_t)((uint32_t)(uint16_t)lo | ((uint32_t)(uint16_t)hi << 16));
}

static inline void depthwise_s16_weights_x2_dsp(int32_t *weights, const int8_t *w, int32_t filter_h, int32_t filter_w,
                                                int32_t output_ch, int32_t x_row_step, int32_t x_col_step)
{
    const int32_t taps = filter_h * filter_w;
    for (int32_t t = 0; t < taps; ++t) {
        const int32_t u = t + 1 < taps ? t + 1 : t; /* the tap t pairs with */
        const int32_t ty = t / filter_w, uy = u / filter_w;
        const int8_t *wt = w + t * output_ch, *wu = w + u * output_ch;
        const int32_t wu0 = u != t ? wu[0] : 0, wu1 = u != t ? wu[1] : 0;
        int32_t *tap = weights + t * DEPTHWISE_S16_WORDS_PER_TAP_DSP;
        tap[0] = dsp_halves(wt[0], wu0);
        tap[1] = dsp_halves(wt[1], wu1);
        tap[2] = 2 * (ty * x_row_step + (t - ty * filter_w) * x_col_step);
        tap[3] = 2 * (uy * x_row_step + (u - uy * filter_w) * x_col_step);
    }
}

static inline void depthwise_s16_taps_x2_dsp(int64_t acc[2], const int16_t *input, int32_t base,
                                             const int32_t *weights, int32_t taps)
{
    int32_t pairs = taps >> 1;
    int64_t a0 = acc[0], a1 = acc[1];
    if (pairs > 0) {
        /* the corner's address: base may lie outside the input, so an integer, never a C pointer */
        const uint32_t corner = (uint32_t)(uintptr_t)input + 2u * (uint32_t)base;
        uint32_t lo0 = dsp_low_word(a0), hi0 = dsp_high_word(a0), lo1 = dsp_low_word(a1), hi1 = dsp_high_word(a1);
        int32_t o0, o1, xt, xu, xe;
        __asm__("1:\n\t"
                "ldrd    %[o0], %[o1], [%[w], #8]\n\t"
                "ldr     %[xt], [%[x], %[o0]]\n\t"
                "ldr     %[xu], [%[x], %[o1]]\n\t"
                "ldrd    %[o0], %[o1], [%[w]], #32\n\t"
                "pkhbt   %[xe], %[xt], %[xu], lsl #16\n\t"
                "pkhtb   %[xu], %[xu], %[xt], asr #16\n\t"
                "smlald  %[lo0], %[hi0], %[xe], %[o0]\n\t"
                "smlald  %[lo1], %[hi1], %[xu], %[o1]\n\t"
                "subs    %[n], %[n], #1\n\t"
                "bne     1b"
                : [lo0] "+r"(lo0), [hi0] "+r"(hi0), [lo1] "+r"(lo1), [hi1] "+r"(hi1), [w] "+r"(weights),
                  [n] "+r"(pairs), [o0] "=&r"(o0), [o1] "=&r"(o1), [xt] "=&r"(xt), [xu] "=&r"(xu), [xe] "=&r"(xe)
                : [x] "r"(corner)
                : "cc", "memory");
        a0 = dsp_words_s64(lo0, hi0);
        a1 = dsp_words_s64(lo1, hi1);
    }
    if (taps & 1) { /* weights has moved past the pairs: the last tap, alone, from its record's low halves */
        const int16_t *x = input + (base + (weights[2] >> 1));
        a0 += (int32_t)x[0] * (int16_t)weights[0];
        a1 += (int32_t)x[1] * (int16_t)weights[1];
    }
    acc[0] = a0;
    acc[1] = a1;
}

#endif /* MICROFLAT_DEPTHWISE_TAPS_S16_DSP_H */
