/*
 * int8 batched matrix multiply of two activations (TFLite's BATCH_MATMUL): the C twin of batch_matmul.py, whose
 * docstring derives the arithmetic and states the contract. For each output element,
 *
 *     acc = sum_k (lhs(i, k) - lhs_zp) * (rhs(k, j) - rhs_zp),   |acc| <= 65025 * depth < 2^31 (depth <= 33025)
 *     out = requantize(acc, output_mult, output_shift, output_zp, act_min, act_max)
 *
 * lhs (i, k) lies at i * lhs_row + k * lhs_step of its matrix, rhs (k, j) at j * rhs_col + k * rhs_step (adj_x /
 * adj_y swap the roles); each matrix starts at b0 * s[0] + b1 * s[1] + b2 * s[2] (stride 0 on a broadcast batch
 * dimension). The output is written densely, in order. No scratch; never allocates.
 */
#include "microflat_kernels.h"
#include "numerics.h"

void mf_batch_matmul_s8(const int32_t *batch_shape, const int32_t *lhs_batch_strides, const int32_t *rhs_batch_strides,
                     int32_t rows, int32_t cols, int32_t depth,
                     int32_t adj_x, int32_t adj_y,
                     int32_t lhs_zp, int32_t rhs_zp, int32_t output_zp,
                     int32_t output_mult, int32_t output_shift,
                     int32_t act_min, int32_t act_max,
                     const int8_t *lhs, const int8_t *rhs, int8_t *output)
{
    const int32_t lhs_row = adj_x ? 1 : depth;
    const int32_t lhs_step = adj_x ? rows : 1;
    const int32_t rhs_col = adj_y ? depth : 1;
    const int32_t rhs_step = adj_y ? 1 : cols;
    const int32_t contiguous = lhs_step == 1 && rhs_step == 1;
    const mf_requant r = requant_prepare(output_mult, output_shift);
    int8_t *out = output;
    for (int32_t b0 = 0; b0 < batch_shape[0]; ++b0) {
        for (int32_t b1 = 0; b1 < batch_shape[1]; ++b1) {
            for (int32_t b2 = 0; b2 < batch_shape[2]; ++b2) {
                /* element offsets: below 2^31 by the contract (each term is at most the last element's index) */
                const int8_t *lhs_matrix =
                    lhs + b0 * lhs_batch_strides[0] + b1 * lhs_batch_strides[1] + b2 * lhs_batch_strides[2];
                const int8_t *rhs_matrix =
                    rhs + b0 * rhs_batch_strides[0] + b1 * rhs_batch_strides[1] + b2 * rhs_batch_strides[2];
                for (int32_t i = 0; i < rows; ++i) {
                    const int8_t *a = lhs_matrix + i * lhs_row;
                    for (int32_t j = 0; j < cols; ++j) {
                        const int8_t *b = rhs_matrix + j * rhs_col;
                        int32_t acc = 0; /* every partial sum is at most 65025 * depth < 2^31 in magnitude */
                        if (contiguous) {
                            for (int32_t k = 0; k < depth; ++k) {
                                acc += ((int32_t)a[k] - lhs_zp) * ((int32_t)b[k] - rhs_zp);
                            }
                        } else {
                            for (int32_t k = 0; k < depth; ++k) {
                                acc += ((int32_t)a[k * lhs_step] - lhs_zp) * ((int32_t)b[k * rhs_step] - rhs_zp);
                            }
                        }
                        *out++ = requant_output(acc, r, output_zp, act_min, act_max);
                    }
                }
            }
        }
    }
}
