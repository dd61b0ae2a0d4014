/*
 * row_dots.h for AArch64 with the dot-product extension
 * (__ARM_FEATURE_DOTPROD: Cortex-A55/A76 and later, the Raspberry Pi 5;
 * build with -march=armv8.2-a+dotprod). SDOT multiplies four int8 pairs and
 * adds the four products to each int32 lane: one instruction makes sixteen
 * MACs.
 *
 * SDOT needs int8 on both sides, and x - input_zp spans [-255, 255]. So
 * row_dots_dotprod_column_done narrows the column back to the input's own
 * bytes x (a padding tap, stored as 0, becomes input_zp), and the zero point
 * is taken out with the identity
 *
 *     sum_t (x_t - zp) w_t = sum_t x_t w_t - sum_t zp w_t,
 *
 * a second SDOT of the weights against zp in every lane. Each sum is bounded
 * by 128 * sum|w| < 2^31 and their difference by 255 * sum|w| (the loader's
 * bound), so each is exact in int32 and the result is the portable path's
 * exactly. The last length % 16 values are taken one at a time.
 */
#ifndef MICROFLAT_ROW_DOTS_DOTPROD_H
#define MICROFLAT_ROW_DOTS_DOTPROD_H

#include <arm_neon.h>
#include <stdint.h>

#include "../row_dots.h"

/* In place: int16 x - zp at column[t] becomes int8 x at byte t (a write never reaches a value not yet read). */
static inline void row_dots_dotprod_column_done(int16_t *column, int32_t length, int32_t input_zp)
{
    int8_t *bytes = (int8_t *)column;
    const int16x8_t zp = vdupq_n_s16((int16_t)input_zp);
    int32_t t = 0;
    for (; t + 8 <= length; t += 8) {
        vst1_s8(bytes + t, vmovn_s16(vaddq_s16(vld1q_s16(column + t), zp)));
    }
    for (; t < length; ++t) {
        bytes[t] = (int8_t)(column[t] + input_zp); /* x itself, in [-128, 127] */
    }
}

/* sum_t (x_t - zp) * row[t] over a narrowed column: the SDOT sums, then the tail. */
static inline int32_t dotprod_row(const int8_t *x, const int8_t *row, int32_t length, int32_t input_zp)
{
    const int8x16_t zp = vdupq_n_s8((int8_t)input_zp);
    int32x4_t products = vdupq_n_s32(0);
    int32x4_t offsets = vdupq_n_s32(0);
    int32_t t = 0;
    for (; t + 16 <= length; t += 16) {
        const int8x16_t w = vld1q_s8(row + t);
        products = vdotq_s32(products, vld1q_s8(x + t), w);
        offsets = vdotq_s32(offsets, zp, w);
    }
    int32_t acc = vaddvq_s32(products) - vaddvq_s32(offsets);
    for (; t < length; ++t) {
        acc += ((int32_t)x[t] - input_zp) * row[t];
    }
    return acc;
}

/* row_sums: one column, four rows at a time; each 16-byte block of the column is loaded once for four SDOTs. */
static inline void row_sums_dotprod(const int16_t *column, int32_t length, const int8_t *rows, int32_t first,
                                    int32_t end, const int32_t *bias, int32_t input_zp, int32_t *sums)
{
    const int8_t *x = (const int8_t *)column;
    const int8x16_t zp = vdupq_n_s8((int8_t)input_zp);
    const int32_t blocked = length & ~15;
    int32_t c = first;
    for (; c + 4 <= end; c += 4) {
        const int8_t *r0 = rows + c * length;
        const int8_t *r1 = r0 + length;
        const int8_t *r2 = r1 + length;
        const int8_t *r3 = r2 + length;
        int32x4_t p0 = vdupq_n_s32(0), p1 = p0, p2 = p0, p3 = p0;
        int32x4_t o0 = p0, o1 = p0, o2 = p0, o3 = p0;
        for (int32_t t = 0; t < blocked; t += 16) {
            const int8x16_t xv = vld1q_s8(x + t);
            const int8x16_t w0 = vld1q_s8(r0 + t), w1 = vld1q_s8(r1 + t);
            const int8x16_t w2 = vld1q_s8(r2 + t), w3 = vld1q_s8(r3 + t);
            p0 = vdotq_s32(p0, xv, w0);
            o0 = vdotq_s32(o0, zp, w0);
            p1 = vdotq_s32(p1, xv, w1);
            o1 = vdotq_s32(o1, zp, w1);
            p2 = vdotq_s32(p2, xv, w2);
            o2 = vdotq_s32(o2, zp, w2);
            p3 = vdotq_s32(p3, xv, w3);
            o3 = vdotq_s32(o3, zp, w3);
        }
        int32_t a[4] = {vaddvq_s32(p0) - vaddvq_s32(o0), vaddvq_s32(p1) - vaddvq_s32(o1),
                        vaddvq_s32(p2) - vaddvq_s32(o2), vaddvq_s32(p3) - vaddvq_s32(o3)};
        for (int32_t j = 0; j < 4; ++j) {
            const int8_t *r = rows + (c + j) * length;
            for (int32_t t = blocked; t < length; ++t) {
                a[j] += ((int32_t)x[t] - input_zp) * r[t];
            }
            sums[c - first + j] = a[j] + (bias != 0 ? bias[c + j] : 0);
        }
    }
    for (; c < end; ++c) {
        sums[c - first] = dotprod_row(x, rows + c * length, length, input_zp) + (bias != 0 ? bias[c] : 0);
    }
}

/* row_sums_x2: one column after the other (an A-class core's caches make the second pass over the rows cheap). */
static inline void row_sums_x2_dotprod(const int16_t *column0, const int16_t *column1, int32_t length,
                                       const int8_t *rows, int32_t first, int32_t end, const int32_t *bias,
                                       int32_t input_zp, int32_t *sums0, int32_t *sums1)
{
    row_sums_dotprod(column0, length, rows, first, end, bias, input_zp, sums0);
    row_sums_dotprod(column1, length, rows, first, end, bias, input_zp, sums1);
}

#endif /* MICROFLAT_ROW_DOTS_DOTPROD_H */
