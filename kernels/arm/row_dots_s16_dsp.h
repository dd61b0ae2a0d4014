/*
 * row_dots_s16.h for a Cortex-M with the DSP extension (__ARM_FEATURE_DSP: M4,
 * M7, M33, M55): SMLALD multiplies two pairs of signed 16-bit halves and adds
 * both products to a 64-bit accumulator (RdHi:RdLo), so one instruction makes
 * two of the 16x8 layers' MACs, as CMSIS-NN's arm_convolve_s16 and
 * arm_fully_connected_s16 do with SMLAD.
 *
 * The int16 activations are read where they lie (no scratch to reorder them
 * into, unlike row_dots_dsp.h's column): two words [x0, x1] and [x2, x3]
 * (halves listed low first). Four int8 weights come in one (unaligned) load
 * and are sign-extended in pairs, SXTB16(w) = [w0, w2] and
 * SXTB16(w ROR 8) = [w1, w3], so the activations are paired to meet them:
 *
 *     PKHBT(x01, x23, LSL 16) = [x0, x2]      PKHTB(x23, x01, ASR 16) = [x1, x3]
 *     acc = SMLALD([x0, x2], [w0, w2], SMLALD([x1, x3], [w1, w3], acc))
 *
 * adds the block's four products. Two weight rows share the packed
 * activations (row_dots_s16_x2_dsp): per four values of x, two loads and two
 * packs serve both rows, each row then one load, two SXTB16 and two SMLALD:
 * 16 instructions for 8 MACs with the loop's SUBS and BNE. The last
 * length % 4 values are taken one at a time in C.
 *
 * Exactness: SXTB16 sign-extends each int8 weight into a 16-bit half without
 * change, and PKHBT/PKHTB move the int16 activations' halves unchanged, so
 * every SMLALD product is x[t] * w[t] for one t, exact in 32 bits
 * (|x w| <= 2^15 * 2^7 = 2^22). SMLALD adds the two sign-extended products to
 * the 64-bit accumulator exactly, wrapping only modulo 2^64; the partial sums
 * lie within |bias| + 2^15 * sum|w| <= 2^47 - 1 (the loaders' 16x8 accumulator
 * rule), so none wraps, and each path's int64 sums are the portable loop's
 * (row_dots_s16.h), whatever the order of the additions. SMLALD sets no flag
 * and never saturates.
 *
 * The loops are in assembly: the two-row one needs 12 registers (two
 * accumulators of two words, two pointers and an offset, the count, four
 * temporaries), and the 64-bit accumulators are kept as separate low and high
 * words so that the compiler need not find consecutive register pairs.
 * Activation and weight loads may be unaligned (LDR, never LDRD, on them):
 * ARMv7-M and ARMv8-M load unaligned words.
 */
#ifndef MICROFLAT_ROW_DOTS_S16_DSP_H
#define MICROFLAT_ROW_DOTS_S16_DSP_H

#include <stdint.h>

#include "../row_dots_s16.h"

/* An int64 accumulator as the low and high words SMLALD takes (RdLo, RdHi), and back. */
static inline uint32_t dsp_low_word(int64_t v)
{
    return (uint32_t)((uint64_t)v & 0xFFFFFFFFu);
}

static inline uint32_t dsp_high_word(int64_t v)
{
    return (uint32_t)((uint64_t)v >> 32);
}

static inline int64_t dsp_words_s64(uint32_t low, uint32_t high)
{
    return (int64_t)(((uint64_t)high << 32) | low); /* two's complement, as GCC and Clang convert */
}

/* row_dot_s16: one row; per four values two activation loads, two packs, one weight load, two SXTB16, two SMLALD. */
static inline void row_dot_s16_dsp(int64_t *acc, const int16_t *x, const int8_t *w, int32_t length)
{
    int32_t blocks = length >> 2;
    int64_t a = *acc;
    if (blocks > 0) {
        uint32_t lo = dsp_low_word(a), hi = dsp_high_word(a);
        int32_t xa, xb, xe, wv;
        __asm__("1:\n\t"
                "ldr     %[xa], [%[x]], #4\n\t"
                "ldr     %[xb], [%[x]], #4\n\t"
                "pkhbt   %[xe], %[xa], %[xb], lsl #16\n\t"
                "pkhtb   %[xb], %[xb], %[xa], asr #16\n\t"
                "ldr     %[wv], [%[w]], #4\n\t"
                "sxtb16  %[xa], %[wv]\n\t"
                "sxtb16  %[wv], %[wv], ror #8\n\t"
                "smlald  %[lo], %[hi], %[xe], %[xa]\n\t"
                "smlald  %[lo], %[hi], %[xb], %[wv]\n\t"
                "subs    %[n], %[n], #1\n\t"
                "bne     1b"
                : [lo] "+r"(lo), [hi] "+r"(hi), [x] "+r"(x), [w] "+r"(w), [n] "+r"(blocks), [xa] "=&r"(xa),
                  [xb] "=&r"(xb), [xe] "=&r"(xe), [wv] "=&r"(wv)
                :
                : "cc", "memory");
        a = dsp_words_s64(lo, hi);
    }
    for (int32_t t = 0; t < (length & 3); ++t) { /* x and w have moved past the blocks */
        a += (int32_t)x[t] * w[t];
    }
    *acc = a;
}

/* row_dots_s16_x2: two rows against the same activations, packed once for both. */
static inline void row_dots_s16_x2_dsp(int64_t *acc0, int64_t *acc1, const int16_t *x, const int8_t *w0,
                                       const int8_t *w1, int32_t length)
{
    int32_t blocks = length >> 2;
    int64_t a0 = *acc0, a1 = *acc1;
    if (blocks > 0) {
        uint32_t lo0 = dsp_low_word(a0), hi0 = dsp_high_word(a0), lo1 = dsp_low_word(a1), hi1 = dsp_high_word(a1);
        /* row 1's word, from row 0's pointer once it has moved on */
        const int32_t row1_after = (int32_t)((uintptr_t)w1 - (uintptr_t)w0) - 4;
        const int8_t *w = w0;
        int32_t xa, xb, xe, wv;
        __asm__("1:\n\t"
                "ldr     %[xa], [%[x]], #4\n\t"
                "ldr     %[xb], [%[x]], #4\n\t"
                "pkhbt   %[xe], %[xa], %[xb], lsl #16\n\t"
                "pkhtb   %[xb], %[xb], %[xa], asr #16\n\t"
                "ldr     %[wv], [%[w]], #4\n\t"
                "sxtb16  %[xa], %[wv]\n\t"
                "sxtb16  %[wv], %[wv], ror #8\n\t"
                "smlald  %[lo0], %[hi0], %[xe], %[xa]\n\t"
                "smlald  %[lo0], %[hi0], %[xb], %[wv]\n\t"
                "ldr     %[wv], [%[w], %[r1]]\n\t"
                "sxtb16  %[xa], %[wv]\n\t"
                "sxtb16  %[wv], %[wv], ror #8\n\t"
                "smlald  %[lo1], %[hi1], %[xe], %[xa]\n\t"
                "smlald  %[lo1], %[hi1], %[xb], %[wv]\n\t"
                "subs    %[n], %[n], #1\n\t"
                "bne     1b"
                : [lo0] "+r"(lo0), [hi0] "+r"(hi0), [lo1] "+r"(lo1), [hi1] "+r"(hi1), [x] "+r"(x), [w] "+r"(w),
                  [n] "+r"(blocks), [xa] "=&r"(xa), [xb] "=&r"(xb), [xe] "=&r"(xe), [wv] "=&r"(wv)
                : [r1] "r"(row1_after)
                : "cc", "memory");
        a0 = dsp_words_s64(lo0, hi0);
        a1 = dsp_words_s64(lo1, hi1);
    }
    const int32_t blocked = length & ~3; /* x has moved past the blocks; the rows are indexed */
    for (int32_t t = 0; t < (length & 3); ++t) {
        const int32_t v = x[t];
        a0 += v * w0[blocked + t];
        a1 += v * w1[blocked + t];
    }
    *acc0 = a0;
    *acc1 = a1;
}

#endif /* MICROFLAT_ROW_DOTS_S16_DSP_H */
