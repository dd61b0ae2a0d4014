/*
 * The output stage of the matrix kernels (mf_conv2d_s8, mf_fully_connected_s8,
 * mf_depthwise_conv2d_s8): they accumulate a block of channels for one or two
 * output pixels, then requantize the block here,
 *
 *     out[r * out_row + c] = requant_output(sums[r * sums_row + c - first], channel c's multiplier)
 *
 * for c in [first, end) and r in [0, rows), rows 1 or 2.
 *
 * Kept apart from the accumulating loops so that each loop holds its own
 * constants in registers (inlined into them, GCC spilled these), and each
 * channel's multiplier is prepared once for both pixels. The loops below are
 * written for what GCC makes of them on a Cortex-M: pointers stepped by one
 * or by zero (one multiplier for the layer), no call inside, the two rows
 * and the clamp fixed per instance. A multiplier that requant_prepare does
 * not fuse ends the fast run; that channel takes requant_output, then the
 * run resumes. Without an activation the clamp is to the int8 range, one
 * SSAT on the DSP path (kernel_paths.h: fused_output).
 */
#include "kernel_paths.h"
#include "microflat_kernels.h"
#include "numerics.h"

/* Channels j, j + 1, ... of both rows while their multipliers fuse; returns the first channel that does not (or n). */
static inline int32_t fused_run(const int32_t *s0, const int32_t *s1, int32_t rows, int32_t j, int32_t n,
                                const int32_t *mult, const int8_t *shift, int32_t step, int32_t zp, int32_t lo,
                                int32_t hi, int32_t int8_range, int8_t *o0, int8_t *o1)
{
    for (; j < n; ++j) {
        const mf_requant q = requant_prepare(mult[j * step], shift[j * step]);
        if (!q.fused) {
            break;
        }
        o0[j] = fused_output(s0[j], q, zp, lo, hi, int8_range);
        if (rows == 2) {
            o1[j] = fused_output(s1[j], q, zp, lo, hi, int8_range);
        }
    }
    return j;
}

/* fused_run with rows and the clamp as constants: one instance each, each a function of its own (MF_NOINLINE). */
MF_NOINLINE static int32_t fused_run_two_int8(const int32_t *s0, const int32_t *s1, int32_t j, int32_t n,
                                              const int32_t *mult, const int8_t *shift, int32_t step, int32_t zp,
                                              int8_t *o0, int8_t *o1)
{
    return fused_run(s0, s1, 2, j, n, mult, shift, step, zp, -128, 127, 1, o0, o1);
}

MF_NOINLINE static int32_t fused_run_one_int8(const int32_t *s0, int32_t j, int32_t n, const int32_t *mult,
                                              const int8_t *shift, int32_t step, int32_t zp, int8_t *o0)
{
    return fused_run(s0, s0, 1, j, n, mult, shift, step, zp, -128, 127, 1, o0, o0);
}

MF_NOINLINE static int32_t fused_run_clamped(const int32_t *s0, const int32_t *s1, int32_t rows, int32_t j,
                                             int32_t n, const int32_t *mult, const int8_t *shift, int32_t step,
                                             int32_t zp, int32_t lo, int32_t hi, int8_t *o0, int8_t *o1)
{
    return fused_run(s0, s1, rows, j, n, mult, shift, step, zp, lo, hi, 0, o0, o1);
}

void mf_requantize_rows(const int32_t *sums, int32_t sums_row, int32_t rows, int32_t first, int32_t end,
                     const int32_t *output_mult, const int8_t *output_shift, int32_t per_channel, int32_t output_zp,
                     int32_t act_min, int32_t act_max, int8_t *out, int32_t out_row)
{
    const int32_t step = per_channel ? 1 : 0;
    const int32_t *mult = output_mult + step * first;
    const int8_t *shift = output_shift + step * first;
    const int32_t n = end - first;
    const int32_t *s1 = sums + sums_row;
    int8_t *o0 = out + first;
    int8_t *o1 = o0 + out_row;
    const int32_t int8_range = act_min == -128 && act_max == 127;
    int32_t j = 0;
    while (j < n) {
        if (int8_range && rows == 2) {
            j = fused_run_two_int8(sums, s1, j, n, mult, shift, step, output_zp, o0, o1);
        } else if (int8_range && rows == 1) {
            j = fused_run_one_int8(sums, j, n, mult, shift, step, output_zp, o0);
        } else {
            j = fused_run_clamped(sums, s1, rows, j, n, mult, shift, step, output_zp, act_min, act_max, o0, o1);
        }
        if (j < n) { /* channel j's multiplier does not fuse */
            const mf_requant q = requant_prepare(mult[j * step], shift[j * step]);
            for (int32_t r = 0; r < rows; ++r) {
                out[r * out_row + first + j] = requant_output(sums[r * sums_row + j], q, output_zp, act_min, act_max);
            }
            ++j;
        }
    }
}
