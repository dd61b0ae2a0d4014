/*
 * The inner loop conv2d_s8 (after im2col) and fully_connected_s8 share:
 *
 *     out[c] = requantize(bias[c] + sum_t column[t] * rows[c * length + t])   for c in [first, end)
 *
 * Four rows are taken at a time, so each int16 column value is loaded once
 * for four multiply-accumulates: on a Cortex-M a MAC then costs one weight
 * load and one MLA. The accumulators start at the bias; every partial sum is
 * bounded by 255 * sum|w| + |b| < 2^31 (the loader's check), so the order of
 * the additions does not change the exact int32 result, and the result is
 * the Numba kernels' bit for bit.
 */
#ifndef MICROFLAT_ROW_DOTS_H
#define MICROFLAT_ROW_DOTS_H

#include <stdint.h>

#include "numerics.h"

static inline void requantized_row_dots(const int16_t *column, int32_t length, const int8_t *rows, int32_t first,
                                        int32_t end, const int32_t *bias, const int32_t *output_mult,
                                        const int8_t *output_shift, int32_t per_channel, int32_t output_zp,
                                        int32_t act_min, int32_t act_max, int8_t *out)
{
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
        for (int32_t t = 0; t < length; ++t) {
            const int32_t x = column[t];
            a0 += x * r0[t];
            a1 += x * r1[t];
            a2 += x * r2[t];
            a3 += x * r3[t];
        }
        const int32_t q = per_channel ? c : 0;
        const int32_t s = per_channel ? 1 : 0;
        out[c] = (int8_t)requantize(a0, output_mult[q], output_shift[q], output_zp, act_min, act_max);
        out[c + 1] = (int8_t)requantize(a1, output_mult[q + s], output_shift[q + s], output_zp, act_min, act_max);
        out[c + 2] = (int8_t)requantize(a2, output_mult[q + 2 * s], output_shift[q + 2 * s], output_zp, act_min, act_max);
        out[c + 3] = (int8_t)requantize(a3, output_mult[q + 3 * s], output_shift[q + 3 * s], output_zp, act_min, act_max);
    }
    for (; c < end; ++c) {
        const int8_t *r = rows + c * length;
        int32_t acc = bias != 0 ? bias[c] : 0;
        for (int32_t t = 0; t < length; ++t) {
            acc += (int32_t)column[t] * r[t];
        }
        const int32_t q = per_channel ? c : 0;
        out[c] = (int8_t)requantize(acc, output_mult[q], output_shift[q], output_zp, act_min, act_max);
    }
}

#endif /* MICROFLAT_ROW_DOTS_H */
