/*
 * The int8 outputs of mf_conv2d_s8 and mf_fully_connected_s8 from their columns:
 * the selected path's row sums (kernel_paths.h), a block of channels at a
 * time, each block requantized at once by mf_requantize_rows (requantize.c).
 *
 * Apart, each loop keeps its own constants in registers: the sums loop its
 * pointers and accumulators, the requantization its multiplier, rounding,
 * shift, zero point and bounds, each channel's prepared once for every pixel
 * of the block. The block's sums live on the stack, ROW_DOTS_BLOCK channels
 * per column.
 */
#ifndef MICROFLAT_REQUANTIZED_ROW_DOTS_H
#define MICROFLAT_REQUANTIZED_ROW_DOTS_H

#include <stdint.h>

#include "kernel_paths.h"
#include "microflat_kernels.h"

#define ROW_DOTS_BLOCK 32

/* The selected path's sums for one block, each a function of its own (MF_NOINLINE): inlined into the
 * kernel, GCC spilled their accumulators. */
MF_NOINLINE static void block_sums(const int16_t *column, int32_t length, const int8_t *rows, int32_t first,
                                   int32_t end, const int32_t *bias, int32_t input_zp, int32_t *sums)
{
    MF_ROW_SUMS(column, length, rows, first, end, bias, input_zp, sums);
}

MF_NOINLINE static void block_sums_x2(const int16_t *column0, const int16_t *column1, int32_t length,
                                      const int8_t *rows, int32_t first, int32_t end, const int32_t *bias,
                                      int32_t input_zp, int32_t *sums0, int32_t *sums1)
{
    MF_ROW_SUMS_X2(column0, column1, length, rows, first, end, bias, input_zp, sums0, sums1);
}

/* out[c] = requantize(bias[c] + column . row c) for c in [first, end). */
static inline void requantized_row_dots(const int16_t *column, int32_t length, const int8_t *rows, int32_t first,
                                        int32_t end, const int32_t *bias, const int32_t *output_mult,
                                        const int8_t *output_shift, int32_t per_channel, int32_t input_zp,
                                        int32_t output_zp, int32_t act_min, int32_t act_max, int8_t *out)
{
    int32_t sums[ROW_DOTS_BLOCK];
    for (int32_t c = first; c < end; c += ROW_DOTS_BLOCK) {
        const int32_t block_end = end - c > ROW_DOTS_BLOCK ? c + ROW_DOTS_BLOCK : end;
        block_sums(column, length, rows, c, block_end, bias, input_zp, sums);
        mf_requantize_rows(sums, ROW_DOTS_BLOCK, 1, c, block_end, output_mult, output_shift, per_channel, output_zp,
                        act_min, act_max, out, 0);
    }
}

/* The same for two columns, into out and out + out_row. */
static inline void requantized_row_dots_x2(const int16_t *column0, const int16_t *column1, int32_t length,
                                           const int8_t *rows, int32_t first, int32_t end, const int32_t *bias,
                                           const int32_t *output_mult, const int8_t *output_shift,
                                           int32_t per_channel, int32_t input_zp, int32_t output_zp, int32_t act_min,
                                           int32_t act_max, int8_t *out, int32_t out_row)
{
    int32_t sums[2 * ROW_DOTS_BLOCK];
    for (int32_t c = first; c < end; c += ROW_DOTS_BLOCK) {
        const int32_t block_end = end - c > ROW_DOTS_BLOCK ? c + ROW_DOTS_BLOCK : end;
        block_sums_x2(column0, column1, length, rows, c, block_end, bias, input_zp, sums, sums + ROW_DOTS_BLOCK);
        mf_requantize_rows(sums, ROW_DOTS_BLOCK, 2, c, block_end, output_mult, output_shift, per_channel, output_zp,
                        act_min, act_max, out, out_row);
    }
}

#endif /* MICROFLAT_REQUANTIZED_ROW_DOTS_H */
