/*
 * The inner loop conv2d_s8 (after im2col) and fully_connected_s8 share, in
 * portable C99: the reference every optimized path (kernels/arm/) must match
 * bit for bit, and the path every other target builds.
 *
 *     out[c] = requantize(bias[c] + sum_t column[t] * rows[c * length + t])   for c in [first, end)
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

#include "numerics.h"

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

/* Channels c..c + 3 of one pixel, from their sums. */
static inline void requant_outputs_4(const int32_t a[4], int32_t c, const int32_t *output_mult,
                                     const int8_t *output_shift, int32_t per_channel, int32_t output_zp,
                                     int32_t act_min, int32_t act_max, int8_t *out)
{
    for (int32_t j = 0; j < 4; ++j) {
        out[c + j] = requant_output(a[j], channel_requant(output_mult, output_shift, per_channel, c + j), output_zp,
                                    act_min, act_max);
    }
}

/*
 * One column against rows [first, end). Four rows at a time, so each column
 * value is loaded once for four multiply-accumulates: a MAC costs one weight
 * load and one MLA.
 */
static inline void requantized_row_dots(const int16_t *column, int32_t length, const int8_t *rows, int32_t first,
                                        int32_t end, const int32_t *bias, const int32_t *output_mult,
                                        const int8_t *output_shift, int32_t per_channel, int32_t input_zp, int32_t output_zp,
                                        int32_t act_min, int32_t act_max, int8_t *out)
{
    (void)input_zp; /* the column already holds x - input_zp */
    int32_t c = first;
    for (; c + 4 <= end; c += 4) {
        const int8_t *r0 = rows + c * length;
        int32_t a[4];
        for (int32_t j = 0; j < 4; ++j) {
            a[j] = bias != 0 ? bias[c + j] : 0;
        }
        row_dots_4x1_range(column, r0, length, 0, length, a);
        requant_outputs_4(a, c, output_mult, output_shift, per_channel, output_zp, act_min, act_max, out);
    }
    for (; c < end; ++c) {
        const int8_t *r = rows + c * length;
        int32_t acc = bias != 0 ? bias[c] : 0;
        for (int32_t t = 0; t < length; ++t) {
            acc += (int32_t)column[t] * r[t];
        }
        out[c] = requant_output(acc, channel_requant(output_mult, output_shift, per_channel, c), output_zp, act_min, act_max);
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

/* Channels c and c + 1 of both pixels, from their sums. */
static inline void requant_outputs_2x2(int32_t a00, int32_t a01, int32_t a10, int32_t a11, int32_t c,
                                       const int32_t *output_mult, const int8_t *output_shift, int32_t per_channel,
                                       int32_t output_zp, int32_t act_min, int32_t act_max, int8_t *out0,
                                       int8_t *out1)
{
    const mf_requant q0 = channel_requant(output_mult, output_shift, per_channel, c);
    const mf_requant q1 = channel_requant(output_mult, output_shift, per_channel, c + 1);
    out0[c] = requant_output(a00, q0, output_zp, act_min, act_max);
    out1[c] = requant_output(a01, q0, output_zp, act_min, act_max);
    out0[c + 1] = requant_output(a10, q1, output_zp, act_min, act_max);
    out1[c + 1] = requant_output(a11, q1, output_zp, act_min, act_max);
}

/*
 * Two columns (two output pixels) against rows [first, end), into out0 and
 * out1. Two rows by two columns at a time: four loads feed four MLAs, and the
 * four accumulators, two row and two column pointers stay in registers on a
 * Cortex-M (an ARMv7-M has 13 to spare).
 */
static inline void requantized_row_dots_x2(const int16_t *column0, const int16_t *column1, int32_t length,
                                           const int8_t *rows, int32_t first, int32_t end, const int32_t *bias,
                                           const int32_t *output_mult, const int8_t *output_shift,
                                           int32_t per_channel, int32_t input_zp, int32_t output_zp, int32_t act_min, int32_t act_max,
                                           int8_t *out0, int8_t *out1)
{
    (void)input_zp; /* the column already holds x - input_zp */
    int32_t c = first;
    for (; c + 2 <= end; c += 2) {
        const int8_t *r0 = rows + c * length;
        const int8_t *r1 = r0 + length;
        int32_t a00 = bias != 0 ? bias[c] : 0;
        int32_t a10 = bias != 0 ? bias[c + 1] : 0;
        int32_t a01 = a00;
        int32_t a11 = a10;
        row_dots_2x2_range(column0, column1, r0, r1, 0, length, &a00, &a01, &a10, &a11);
        requant_outputs_2x2(a00, a01, a10, a11, c, output_mult, output_shift, per_channel, output_zp, act_min,
                            act_max, out0, out1);
    }
    if (c < end) {
        const int8_t *r = rows + c * length;
        int32_t a0 = bias != 0 ? bias[c] : 0;
        int32_t a1 = a0;
        for (int32_t t = 0; t < length; ++t) {
            const int32_t w = r[t];
            a0 += column0[t] * w;
            a1 += column1[t] * w;
        }
        const mf_requant q = channel_requant(output_mult, output_shift, per_channel, c);
        out0[c] = requant_output(a0, q, output_zp, act_min, act_max);
        out1[c] = requant_output(a1, q, output_zp, act_min, act_max);
    }
}

#endif /* MICROFLAT_ROW_DOTS_H */
