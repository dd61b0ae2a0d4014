/*
 * The inner loop mf_conv2d_s8 (after im2col) and mf_fully_connected_s8 share, in
 * portable C99: the reference every optimized path (kernels/arm/) must match
 * bit for bit, and the path every other target builds.
 *
 *     sums[c - first] = bias[c] + sum_t column[t] * rows[c * length + t]   for c in [first, end)
 *
 * (requantized_row_dots.h then requantizes blocks of these sums.)
 *
 * A column is `length` int16 values x - input_zp (in [-255, 255]; 0 for a
 * padding tap), written by the caller, then passed once to
 * row_dots_column_done, which lets an optimized path change the column's
 * layout; here it leaves it as it is.
 *
 * Every partial sum is bounded by 255 * sum|w| + |b| < 2^31 (the loader's
 * check), so the order of the additions does not change the exact int32
 * result: the accumulators start at the bias, and rows and columns are taken
 * in whatever blocks load each operand least often.
 */
#ifndef MICROFLAT_ROW_DOTS_H
#define MICROFLAT_ROW_DOTS_H

#include <stdint.h>

static inline void row_dots_column_done(int16_t *column, int32_t length, int32_t input_zp)
{
    (void)column;
    (void)length;
    (void)input_zp;
}

/* The products of one column with rows 0..3 over [from, to), added to the four sums (a[0..3]). */
static inline void row_dots_4x1_range(const int16_t *column, const int8_t *r0, int32_t length, int32_t from,
                                      int32_t to, int32_t a[4])
{
    const int8_t *r1 = r0 + length, *r2 = r1 + length, *r3 = r2 + length;
    int32_t s0 = a[0], s1 = a[1], s2 = a[2], s3 = a[3];
    for (int32_t t = from; t < to; ++t) {
        const int32_t x = column[t];
        s0 += x * r0[t];
        s1 += x * r1[t];
        s2 += x * r2[t];
        s3 += x * r3[t];
    }
    a[0] = s0;
    a[1] = s1;
    a[2] = s2;
    a[3] = s3;
}

/*
 * sums[c - first] = bias[c] + the dot product of the column with row c, for c in [first, end). Four rows
 * at a time, so each column value is loaded once for four multiply-accumulates: a MAC costs one weight
 * load and one MLA.
 */
static inline void row_sums(const int16_t *column, int32_t length, const int8_t *rows, int32_t first, int32_t end,
                            const int32_t *bias, int32_t input_zp, int32_t *sums)
{
    (void)input_zp; /* the column already holds x - input_zp */
    int32_t c = first;
    for (; c + 4 <= end; c += 4) {
        int32_t *a = sums + (c - first);
        for (int32_t j = 0; j < 4; ++j) {
            a[j] = bias != 0 ? bias[c + j] : 0;
        }
        row_dots_4x1_range(column, rows + c * length, length, 0, length, a);
    }
    for (; c < end; ++c) {
        const int8_t *r = rows + c * length;
        int32_t acc = bias != 0 ? bias[c] : 0;
        for (int32_t t = 0; t < length; ++t) {
            acc += (int32_t)column[t] * r[t];
        }
        sums[c - first] = acc;
    }
}

/* The products of columns 0 and 1 with rows 0 and 1 over [from, to), added to the four sums. */
static inline void row_dots_2x2_range(const int16_t *column0, const int16_t *column1, const int8_t *r0,
                                      const int8_t *r1, int32_t from, int32_t to, int32_t *a00, int32_t *a01,
                                      int32_t *a10, int32_t *a11)
{
    int32_t s00 = *a00, s01 = *a01, s10 = *a10, s11 = *a11;
    for (int32_t t = from; t < to; ++t) {
        const int32_t x0 = column0[t];
        const int32_t x1 = column1[t];
        const int32_t w0 = r0[t];
        const int32_t w1 = r1[t];
        s00 += x0 * w0;
        s01 += x1 * w0;
        s10 += x0 * w1;
        s11 += x1 * w1;
    }
    *a00 = s00;
    *a01 = s01;
    *a10 = s10;
    *a11 = s11;
}

/*
 * A path's inner loop for one pair of rows and both columns: adds the products of values [0, 4 * blocks)
 * to the four sums (kernels/arm/row_dots_dsp.h: dsp_block_2x2).
 */
typedef void row_pair_blocks(int32_t *a00, int32_t *a01, int32_t *a10, int32_t *a11, const int8_t *row0,
                             int32_t length, const int16_t *column0, const int16_t *column1, int32_t blocks);

/*
 * row_sums for two columns (two output pixels) at once, into sums0 and sums1, for the channel pairs of
 * [first, end); returns the channel left unpaired (end when none), which each path's row_sums_x2 takes
 * itself, in its column layout. Two rows by two columns at a time: four loads feed four MLAs, and the
 * four accumulators, two row and two column pointers stay in registers on a Cortex-M (an ARMv7-M has 13
 * to spare). `blocks`, when a path gives one, takes the length's whole blocks of four values, and the C
 * loop the rest (a constant function pointer into a static inline function: compilers inline it).
 */
static inline int32_t row_sums_x2_pairs(const int16_t *column0, const int16_t *column1, int32_t length,
                                        const int8_t *rows, int32_t first, int32_t end, const int32_t *bias,
                                        int32_t *sums0, int32_t *sums1, row_pair_blocks *blocks)
{
    const int32_t blocked = blocks != 0 ? length & ~3 : 0;
    int32_t c = first;
    for (; c + 2 <= end; c += 2) {
        const int8_t *r0 = rows + c * length;
        int32_t a00 = bias != 0 ? bias[c] : 0;
        int32_t a10 = bias != 0 ? bias[c + 1] : 0;
        int32_t a01 = a00;
        int32_t a11 = a10;
        if (blocked > 0) {
            blocks(&a00, &a01, &a10, &a11, r0, length, column0, column1, blocked >> 2);
        }
        row_dots_2x2_range(column0, column1, r0, r0 + length, blocked, length, &a00, &a01, &a10, &a11);
        sums0[c - first] = a00;
        sums1[c - first] = a01;
        sums0[c + 1 - first] = a10;
        sums1[c + 1 - first] = a11;
    }
    return c;
}

static inline void row_sums_x2(const int16_t *column0, const int16_t *column1, int32_t length, const int8_t *rows,
                               int32_t first, int32_t end, const int32_t *bias, int32_t input_zp, int32_t *sums0,
                               int32_t *sums1)
{
    (void)input_zp; /* the columns already hold x - input_zp */
    const int32_t c = row_sums_x2_pairs(column0, column1, length, rows, first, end, bias, sums0, sums1, 0);
    if (c < end) {
        const int8_t *r = rows + c * length;
        int32_t a0 = bias != 0 ? bias[c] : 0;
        int32_t a1 = a0;
        for (int32_t t = 0; t < length; ++t) {
            const int32_t w = r[t];
            a0 += column0[t] * w;
            a1 += column1[t] * w;
        }
        sums0[c - first] = a0;
        sums1[c - first] = a1;
    }
}

#endif /* MICROFLAT_ROW_DOTS_H */
