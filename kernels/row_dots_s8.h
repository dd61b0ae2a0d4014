/*
 * The inner loop of the 8x8_16 LSTM's gates (mf_lstm_8x8_16, kernels/lstm.c), in portable C99: the reference
 * every optimized path (kernels/arm/row_dots_dsp.h: row_dots_s8_x4_dsp) must match bit for bit, and the path
 * every other target builds.
 *
 *     acc[j] += sum_{t < length} x[t] * rows[j * row_step + t]      for j = 0..3
 *
 * in int32: an int8 vector x against four int8 rows that lie row_step bytes apart (the four gates' rows of
 * one cell: a gate matrix [4, C, K] puts gate j's row of cell r at (j C + r) K, so row_step = C K). x is read
 * where it lies, unlike row_dots.h's column: the LSTM kernel has no scratch to widen it into; neither x nor
 * the rows need any alignment.
 *
 * Exactness: each product |x w| <= 128 * 128 = 2^14 is exact in int32. The caller bounds every partial sum:
 * starting from a bias, any subset of a row's products adds at most 128 |w| per term, so each partial sum
 * lies within |bias| + 128 sum|w| <= 2^31 - 1 - 2^15 (the LSTM's accumulator rule, kernels/lstm.py), inside
 * int32. So no path's additions overflow and the order of the additions does not change the sums: the four
 * rows share each x value here, and a path may take the products in whatever blocks suit it.
 */
#ifndef MICROFLAT_ROW_DOTS_S8_H
#define MICROFLAT_ROW_DOTS_S8_H

#include <stddef.h>
#include <stdint.h>

/* Four rows at once, so each x value is loaded once for four multiply-accumulates. */
static inline void row_dots_s8_x4(int32_t acc[4], const int8_t *x, const int8_t *rows, ptrdiff_t row_step,
                                  int32_t length)
{
    const int8_t *r0 = rows, *r1 = r0 + row_step, *r2 = r1 + row_step, *r3 = r2 + row_step;
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (int32_t t = 0; t < length; ++t) {
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

#endif /* MICROFLAT_ROW_DOTS_S8_H */
