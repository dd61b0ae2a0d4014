/*
 * row_dots.h for a Cortex-M with the DSP extension (__ARM_FEATURE_DSP: M4,
 * M7, M33, M55), through ACLE's SIMD intrinsics: SMLAD multiplies two pairs
 * of signed 16-bit halves and adds both products to an accumulator, so one
 * instruction makes two MACs.
 *
 * Weights stay int8 in flash; four are read with one (unaligned) load and
 * sign-extended in pairs: SXTB16(w) = [w0, w2] and SXTB16(w ROR 8) =
 * [w1, w3] (halves listed low first). To meet them without repacking, the
 * column is reordered once, by row_dots_dsp_column_done, so that each block
 * of four int16 values t..t+3 is stored as t, t+2, t+1, t+3: its two words are
 * then [x0, x2] and [x1, x3], and
 *
 *     SMLAD([x0, x2], [w0, w2], SMLAD([x1, x3], [w1, w3], acc))
 *
 * adds the four products of the block. The last length % 4 values keep their
 * places and are taken one at a time. The column values x - zp are in
 * [-255, 255] and the weights in [-128, 127], so every half is a signed
 * 16-bit value, every product fits in 16 + 8 bits, and the sums are the
 * portable path's exactly (row_dots.h: partial sums are bounded below 2^31,
 * so SMLAD never overflows and its Q flag is never set).
 *
 * The column reordering costs four instructions per four values, once per
 * output pixel; every output channel then reuses the column.
 *
 * The 8x8_16 LSTM's gates (row_dots_s8.h, row_dots_s8_x4_dsp below) have no
 * scratch for a column: their int8 vector x is read in place, four values a
 * word, and widened as the weights are, SXTB16(x) = [x0, x2] and
 * SXTB16(x ROR 8) = [x1, x3] (CMSIS-NN's read_and_pad in
 * arm_nn_vec_mat_mult_t_s8), so that
 *
 *     SMLAD([x0, x2], [w0, w2], SMLAD([x1, x3], [w1, w3], acc))
 *
 * again adds the block's four products.
 */
#ifndef MICROFLAT_ROW_DOTS_DSP_H
#define MICROFLAT_ROW_DOTS_DSP_H

#include <arm_acle.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../row_dots.h"
#include "../row_dots_s8.h"

/* Four bytes or two int16 values as one word; memcpy compiles to one LDR (ARMv7-M loads unaligned words). */
static inline int32_t dsp_word(const void *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* SXTB16(w ROR 8): bytes 1 and 3 sign-extended into the two halves. ACLE has no rotate here; one instruction. */
static inline int32_t dsp_sxtb16_ror8(int32_t w)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(w));
    return r;
}

/* v clamped to [-128, 127]: one SSAT (ACLE's __ssat trips -Wsign-conversion inside GCC's own header). */
static inline int32_t dsp_saturate_int8(int32_t v)
{
    int32_t r;
    __asm__("ssat %0, #8, %1" : "=r"(r) : "r"(v));
    return r;
}

static inline void row_dots_dsp_column_done(int16_t *column, int32_t length, int32_t input_zp)
{
    (void)input_zp;
    for (int32_t t = 0; t + 4 <= length; t += 4) {
        const int16_t x1 = column[t + 1];
        column[t + 1] = column[t + 2];
        column[t + 2] = x1;
    }
}

/*
 * The 2 x 2 block's inner loop, written in assembly because it needs 13 of
 * the 14 free registers and GCC's allocation of the same loop in C spills
 * two of them and loses the post-indexed and paired loads (30 instructions
 * where these take 20). Per four values of k: one weight word per row,
 * widened by two SXTB16; each column's two words by one LDRD (the columns
 * are word-aligned: kernels/conv2d.c and the arena's 16-byte alignment); row
 * 0 against both columns, then row 1, so only four temporaries are live: 16
 * MACs in 8 SMLADs, 6 loads, 4 SXTB16 and the loop's SUBS and BNE.
 */
static inline void dsp_block_2x2(int32_t *a00, int32_t *a01, int32_t *a10, int32_t *a11, const int8_t *row0,
                                 int32_t length, const int16_t *column0, const int16_t *column1, int32_t blocks)
{
    int32_t s00 = *a00, s01 = *a01, s10 = *a10, s11 = *a11;
    const int32_t row1_after = length - 4; /* row 1's word, from row 0's pointer once it has moved on */
    int32_t wv, we, xe, xo;
    __asm__("1:\n\t"
            "ldr     %[wv], [%[w]], #4\n\t"
            "sxtb16  %[we], %[wv]\n\t"
            "sxtb16  %[wv], %[wv], ror #8\n\t"
            "ldrd    %[xe], %[xo], [%[x0]]\n\t"
            "smlad   %[s00], %[xe], %[we], %[s00]\n\t"
            "smlad   %[s00], %[xo], %[wv], %[s00]\n\t"
            "ldrd    %[xe], %[xo], [%[x1]]\n\t"
            "smlad   %[s01], %[xe], %[we], %[s01]\n\t"
            "smlad   %[s01], %[xo], %[wv], %[s01]\n\t"
            "ldr     %[wv], [%[w], %[r1]]\n\t"
            "sxtb16  %[we], %[wv]\n\t"
            "sxtb16  %[wv], %[wv], ror #8\n\t"
            "ldrd    %[xe], %[xo], [%[x0]], #8\n\t"
            "smlad   %[s10], %[xe], %[we], %[s10]\n\t"
            "smlad   %[s10], %[xo], %[wv], %[s10]\n\t"
            "ldrd    %[xe], %[xo], [%[x1]], #8\n\t"
            "smlad   %[s11], %[xe], %[we], %[s11]\n\t"
            "smlad   %[s11], %[xo], %[wv], %[s11]\n\t"
            "subs    %[n], %[n], #1\n\t"
            "bne     1b"
            : [s00] "+r"(s00), [s01] "+r"(s01), [s10] "+r"(s10), [s11] "+r"(s11), [w] "+r"(row0),
              [x0] "+r"(column0), [x1] "+r"(column1), [n] "+r"(blocks), [wv] "=&r"(wv), [we] "=&r"(we),
              [xe] "=&r"(xe), [xo] "=&r"(xo)
            : [r1] "r"(row1_after)
            : "cc", "memory");
    *a00 = s00;
    *a01 = s01;
    *a10 = s10;
    *a11 = s11;
}

/* row_sums: one column, four rows at a time; per block of four column values, two column loads and one load per row. */
static inline void row_sums_dsp(const int16_t *column, int32_t length, const int8_t *rows, int32_t first, int32_t end,
                                const int32_t *bias, int32_t input_zp, int32_t *sums)
{
    (void)input_zp; /* the column already holds x - input_zp */
    const int32_t blocked = length & ~3;
    int32_t c = first;
    for (; c + 4 <= end; c += 4) {
        const int8_t *r0 = rows + c * length;
        const int8_t *r1 = r0 + length;
        const int8_t *r2 = r1 + length;
        const int8_t *r3 = r2 + length;
        int32_t a0 = bias != 0 ? bias[c] : 0;
        int32_t a1 = bias != 0 ? bias[c + 1] : 0;
        int32_t a2 = bias != 0 ? bias[c + 2] : 0;
        int32_t a3 = bias != 0 ? bias[c + 3] : 0;
        int32_t t = 0;
        for (; t < blocked; t += 4) {
            const int32_t xe = dsp_word(column + t);     /* [x0, x2] */
            const int32_t xo = dsp_word(column + t + 2); /* [x1, x3] */
            int32_t w = dsp_word(r0 + t);
            a0 = __smlad(xe, __sxtb16(w), __smlad(xo, dsp_sxtb16_ror8(w), a0));
            w = dsp_word(r1 + t);
            a1 = __smlad(xe, __sxtb16(w), __smlad(xo, dsp_sxtb16_ror8(w), a1));
            w = dsp_word(r2 + t);
            a2 = __smlad(xe, __sxtb16(w), __smlad(xo, dsp_sxtb16_ror8(w), a2));
            w = dsp_word(r3 + t);
            a3 = __smlad(xe, __sxtb16(w), __smlad(xo, dsp_sxtb16_ror8(w), a3));
        }
        for (; t < length; ++t) {
            const int32_t x = column[t];
            a0 += x * r0[t];
            a1 += x * r1[t];
            a2 += x * r2[t];
            a3 += x * r3[t];
        }
        int32_t *s = sums + (c - first);
        s[0] = a0;
        s[1] = a1;
        s[2] = a2;
        s[3] = a3;
    }
    for (; c < end; ++c) {
        const int8_t *r = rows + c * length;
        int32_t acc = bias != 0 ? bias[c] : 0;
        int32_t t = 0;
        for (; t < blocked; t += 4) {
            const int32_t w = dsp_word(r + t);
            acc = __smlad(dsp_word(column + t), __sxtb16(w), __smlad(dsp_word(column + t + 2), dsp_sxtb16_ror8(w), acc));
        }
        for (; t < length; ++t) {
            acc += (int32_t)column[t] * r[t];
        }
        sums[c - first] = acc;
    }
}

/*
 * row_sums_x2: the portable channel-pair driver (row_dots.h: row_sums_x2_pairs) around dsp_block_2x2,
 * two columns by two rows (CMSIS-NN's arrangement): per block of four values, two weight loads and four
 * SXTB16 serve both columns, and four column loads serve both rows, for eight SMLADs.
 */
static inline void row_sums_x2_dsp(const int16_t *column0, const int16_t *column1, int32_t length, const int8_t *rows,
                                   int32_t first, int32_t end, const int32_t *bias, int32_t input_zp, int32_t *sums0,
                                   int32_t *sums1)
{
    const int32_t c = row_sums_x2_pairs(column0, column1, length, rows, first, end, bias, sums0, sums1, dsp_block_2x2);
    if (c < end) { /* the reordered columns: one row, each column by row_sums_dsp */
        row_sums_dsp(column0, length, rows, c, end, bias, input_zp, sums0 + (c - first));
        row_sums_dsp(column1, length, rows, c, end, bias, input_zp, sums1 + (c - first));
    }
}

/*
 * row_dots_s8_x4: an int8 vector x (read in place) against four int8 rows row_step bytes apart, added to
 * acc[0..3] (row_dots_s8.h).
 *
 * Per four values of x: one (unaligned) LDR of x widened by two SXTB16 into [x0, x2] and [x1, x3], shared
 * by the four rows; each row then one (unaligned) LDR, two SXTB16 and two SMLAD. 16 MACs in 25 instructions
 * with the loop's SUBS and BNE (the portable loop, as GCC builds it for a Cortex-M4: 44, an LDRSB and an
 * SMLABB per MAC, an LDRSB of x and the loop's CMP and BNE per value).
 *
 * Exactness: SXTB16 sign-extends each int8 into a 16-bit half without change, so each SMLAD product is
 * x[t] * w[t] for one t, |x w| <= 2^14, exact in SMLAD's 16 x 16-bit multiply; SMLAD adds the two products
 * and the accumulator modulo 2^32, and every partial sum of a row lies within the caller's bound
 * |bias| + 128 sum|w| <= 2^31 - 1 - 2^15 (row_dots_s8.h), so none wraps, the Q flag is never set, and the
 * sums are the portable loop's exactly, whatever the order of the additions.
 *
 * In assembly, as dsp_block_2x2, for its registers: four accumulators, x, two row pointers (rows 0 and 1
 * read from the first, [p] and [p, step], rows 2 and 3 from the second, 2 row_step further on), the step,
 * the count and four temporaries: 13 of the 14 free registers. GCC's allocation of the same loop in C (ACLE's
 * __sxtb16 and __smlad, four row pointers) spills an accumulator, the step and the loop's end: 30 instructions
 * where these take 25 (arm-none-eabi-gcc 12.2, -O3). The last length % 4 values are taken one at a time in C.
 */
static inline void row_dots_s8_x4_dsp(int32_t acc[4], const int8_t *x, const int8_t *rows, ptrdiff_t row_step,
                                      int32_t length)
{
    int32_t blocks = length >> 2;
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    if (blocks > 0) {
        const int8_t *w01 = rows;                /* rows 0 and 1: [w01], [w01, step] */
        const int8_t *w23 = rows + 2 * row_step; /* rows 2 and 3: [w23], [w23, step] */
        int32_t xe, xo, we, wv;
        __asm__("1:\n\t"
                "ldr     %[xo], [%[x]], #4\n\t"
                "sxtb16  %[xe], %[xo]\n\t"
                "sxtb16  %[xo], %[xo], ror #8\n\t"
                "ldr     %[wv], [%[w01], %[step]]\n\t"
                "sxtb16  %[we], %[wv]\n\t"
                "sxtb16  %[wv], %[wv], ror #8\n\t"
                "smlad   %[a1], %[xe], %[we], %[a1]\n\t"
                "smlad   %[a1], %[xo], %[wv], %[a1]\n\t"
                "ldr     %[wv], [%[w01]], #4\n\t"
                "sxtb16  %[we], %[wv]\n\t"
                "sxtb16  %[wv], %[wv], ror #8\n\t"
                "smlad   %[a0], %[xe], %[we], %[a0]\n\t"
                "smlad   %[a0], %[xo], %[wv], %[a0]\n\t"
                "ldr     %[wv], [%[w23], %[step]]\n\t"
                "sxtb16  %[we], %[wv]\n\t"
                "sxtb16  %[wv], %[wv], ror #8\n\t"
                "smlad   %[a3], %[xe], %[we], %[a3]\n\t"
                "smlad   %[a3], %[xo], %[wv], %[a3]\n\t"
                "ldr     %[wv], [%[w23]], #4\n\t"
                "sxtb16  %[we], %[wv]\n\t"
                "sxtb16  %[wv], %[wv], ror #8\n\t"
                "smlad   %[a2], %[xe], %[we], %[a2]\n\t"
                "smlad   %[a2], %[xo], %[wv], %[a2]\n\t"
                "subs    %[n], %[n], #1\n\t"
                "bne     1b"
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(x), [w01] "+r"(w01),
                  [w23] "+r"(w23), [n] "+r"(blocks), [xe] "=&r"(xe), [xo] "=&r"(xo), [we] "=&r"(we),
                  [wv] "=&r"(wv)
                : [step] "r"(row_step)
                : "cc", "memory");
    }
    const int8_t *r0 = rows + (length & ~3); /* x has moved past the blocks; the rows are indexed */
    const int8_t *r1 = r0 + row_step, *r2 = r1 + row_step, *r3 = r2 + row_step;
    for (int32_t t = 0; t < (length & 3); ++t) {
        const int32_t v = x[t];
        a0 += v * r0[t];
        a1 += v * r1[t];
        a2 += v * r2[t];
        a3 += v * r3[t];
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

#endif /* MICROFLAT_ROW_DOTS_DSP_H */
