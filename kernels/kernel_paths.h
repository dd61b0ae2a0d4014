/*
 * Which implementation of the kernels' inner loops a build runs: the wrapper
 * the kernels call through (MF_*), chosen here once from the target's
 * features and never by an #if inside a kernel body.
 *
 *   MICROFLAT_PORTABLE defined   portable C99 (row_dots.h), the reference
 *   __ARM_FEATURE_DSP            Cortex-M4/M7/M33/M55: SMLAD (arm/row_dots_dsp.h; 16x8: SMLALD), in an
 *                                optimizing build (-O1 and up: at -O0 GCC keeps a frame
 *                                pointer, and the inner loop's assembly needs its register)
 *   __ARM_FEATURE_DOTPROD        AArch64 with SDOT (arm/row_dots_dotprod.h)
 *   anything else                portable C99
 *
 * Every path computes the same int32 sums (each header derives why), which
 * the kernels requantize in one shared pass (requantized_row_dots.h,
 * requantize.c), so all are bit-exact with one another and
 * with the Numba kernels; tests/test_firmware.py and tests/test_kernel_paths.py
 * hold them to it on emulated boards.
 *
 * The interface (same arguments on every path):
 *   MF_COLUMN_DONE(column, length, input_zp)  after a column of int16
 *       x - input_zp is written, once; a path may change its layout in place
 *   MF_ROW_SUMS(column, length, rows, first, end, bias, input_zp, sums)
 *       sums[c - first] = bias[c] + column . row c, for c in [first, end)
 *   MF_ROW_SUMS_X2(column0, column1, length, rows, first, end, bias,
 *       input_zp, sums0, sums1)  the same for two columns
 *   MF_DEPTHWISE_WEIGHTS_X4(weights, w, filter_h, filter_w, output_ch,
 *       x_row_step, x_col_step)  a block's taps, MF_DEPTHWISE_WORDS_PER_TAP
 *       words each, laid out once for all its pixels
 *   MF_DEPTHWISE_TAPS_X4(acc, input, base, weights, taps, input_zp) and
 *   MF_DEPTHWISE_TAPS_X4_FOLDED(acc, input, base, weights, taps)
 *       a run of taps, see depthwise_taps.h
 *   MF_SATURATE_INT8(v)   v clamped to [-128, 127] (the DSP path: SSAT)
 *
 * The 8x8_16 LSTM's gate rows (an int8 vector read in place, no scratch,
 * int8 rows, int32 sums: row_dots_s8.h; the DSP path SMLAD on SXTB16-widened
 * words of both, arm/row_dots_dsp.h; the dotprod path has no SDOT form of it
 * and builds the portable C). Every path computes the same int32 sums
 * (row_dots_s8.h derives why), which mf_lstm_8x8_16 requantizes itself:
 *   MF_ROW_DOTS_S8_X4(acc, x, rows, row_step, length)
 *       acc[j] += x . (rows + j * row_step), over `length` values, j = 0..3
 *
 * The 16x8 layers' inner loops (int16 activations, int8 weights, int64 sums:
 * row_dots_s16.h and depthwise_taps_s16.h; the DSP path SMLALD,
 * arm/row_dots_s16_dsp.h and arm/depthwise_taps_s16_dsp.h; other targets the
 * portable C). Every path computes the same int64 sums, which the kernels
 * rescale with requantize_int64:
 *   MF_ROW_DOT_S16(acc, x, w, length)   *acc += x . w, over `length` values
 *   MF_ROW_DOTS_S16_X2(acc0, acc1, x, w0, w1, length)  the same for two rows
 *   MF_DEPTHWISE_S16_WEIGHTS_X2(weights, w, filter_h, filter_w, output_ch,
 *       x_row_step, x_col_step)  a channel pair's taps,
 *       MF_DEPTHWISE_S16_WORDS_PER_TAP words each, laid out once
 *   MF_DEPTHWISE_S16_TAPS_X2(acc, input, base, weights, taps)
 *       a run of taps, see depthwise_taps_s16.h
 */
#ifndef MICROFLAT_KERNEL_PATHS_H
#define MICROFLAT_KERNEL_PATHS_H

#include <stdint.h>

#include "depthwise_taps.h"
#include "depthwise_taps_s16.h"
#include "numerics.h"
#include "row_dots.h"
#include "row_dots_s16.h"
#include "row_dots_s8.h"

/*
 * A function GCC and Clang must keep out of line: an inner loop inlined into a kernel's large body
 * shares its registers, and GCC spills the loop's pointers and constants. (`unused`: a header's such
 * function may go unused by one of the sources that include it.)
 */
#if defined(__GNUC__)
#define MF_NOINLINE __attribute__((noinline, unused))
#else
#define MF_NOINLINE
#endif

/* v clamped to [-128, 127], in C. */
static inline int32_t saturate_int8(int32_t v)
{
    return v < -128 ? -128 : v > 127 ? 127 : v;
}

#if !defined(MICROFLAT_PORTABLE) && defined(__ARM_FEATURE_DSP) && !defined(__aarch64__) && defined(__OPTIMIZE__)
#include "arm/depthwise_taps_dsp.h"
#include "arm/depthwise_taps_s16_dsp.h"
#include "arm/row_dots_dsp.h"
#include "arm/row_dots_s16_dsp.h"
#define MF_KERNEL_PATH "dsp"
#define MF_COLUMN_DONE row_dots_dsp_column_done
#define MF_ROW_SUMS row_sums_dsp
#define MF_ROW_SUMS_X2 row_sums_x2_dsp
#define MF_DEPTHWISE_WORDS_PER_TAP DEPTHWISE_WORDS_PER_TAP_DSP
#define MF_DEPTHWISE_WEIGHTS_X4 depthwise_weights_x4_dsp
#define MF_DEPTHWISE_TAPS_X4 depthwise_taps_x4_dsp
#define MF_DEPTHWISE_TAPS_X4_FOLDED depthwise_taps_x4_folded_dsp
#define MF_SATURATE_INT8 dsp_saturate_int8
#define MF_ROW_DOTS_S8_X4 row_dots_s8_x4_dsp
#define MF_ROW_DOT_S16 row_dot_s16_dsp
#define MF_ROW_DOTS_S16_X2 row_dots_s16_x2_dsp
#define MF_DEPTHWISE_S16_WORDS_PER_TAP DEPTHWISE_S16_WORDS_PER_TAP_DSP
#define MF_DEPTHWISE_S16_WEIGHTS_X2 depthwise_s16_weights_x2_dsp
#define MF_DEPTHWISE_S16_TAPS_X2 depthwise_s16_taps_x2_dsp
#elif !defined(MICROFLAT_PORTABLE) && defined(__ARM_FEATURE_DOTPROD) && defined(__aarch64__)
#include "arm/row_dots_dotprod.h"
#define MF_KERNEL_PATH "dotprod"
#define MF_SATURATE_INT8 saturate_int8
#define MF_ROW_DOTS_S8_X4 row_dots_s8_x4 /* no SDOT form: the portable C */
#define MF_COLUMN_DONE row_dots_dotprod_column_done
#define MF_ROW_SUMS row_sums_dotprod
#define MF_ROW_SUMS_X2 row_sums_x2_dotprod
#define MF_DEPTHWISE_WORDS_PER_TAP DEPTHWISE_WORDS_PER_TAP
#define MF_DEPTHWISE_WEIGHTS_X4 depthwise_weights_x4
#define MF_DEPTHWISE_TAPS_X4 depthwise_taps_x4
#define MF_DEPTHWISE_TAPS_X4_FOLDED depthwise_taps_x4_folded
#define MF_ROW_DOT_S16 row_dot_s16
#define MF_ROW_DOTS_S16_X2 row_dots_s16_x2
#define MF_DEPTHWISE_S16_WORDS_PER_TAP DEPTHWISE_S16_WORDS_PER_TAP
#define MF_DEPTHWISE_S16_WEIGHTS_X2 depthwise_s16_weights_x2
#define MF_DEPTHWISE_S16_TAPS_X2 depthwise_s16_taps_x2
#else
#define MF_KERNEL_PATH "portable"
#define MF_SATURATE_INT8 saturate_int8
#define MF_ROW_DOTS_S8_X4 row_dots_s8_x4
#define MF_COLUMN_DONE row_dots_column_done
#define MF_ROW_SUMS row_sums
#define MF_ROW_SUMS_X2 row_sums_x2
#define MF_DEPTHWISE_WORDS_PER_TAP DEPTHWISE_WORDS_PER_TAP
#define MF_DEPTHWISE_WEIGHTS_X4 depthwise_weights_x4
#define MF_DEPTHWISE_TAPS_X4 depthwise_taps_x4
#define MF_DEPTHWISE_TAPS_X4_FOLDED depthwise_taps_x4_folded
#define MF_ROW_DOT_S16 row_dot_s16
#define MF_ROW_DOTS_S16_X2 row_dots_s16_x2
#define MF_DEPTHWISE_S16_WORDS_PER_TAP DEPTHWISE_S16_WORDS_PER_TAP
#define MF_DEPTHWISE_S16_WEIGHTS_X2 depthwise_s16_weights_x2
#define MF_DEPTHWISE_S16_TAPS_X2 depthwise_s16_taps_x2
#endif

/*
 * requant_output for a fused multiplier (q.fused), as the kernels' output stages run it: requant_fused's
 * result plus an int8 zero point cannot overflow (numerics.h), so the zero point goes first and the
 * clamp is to [lo, hi] themselves, or, when int8_range is set (lo = -128, hi = 127), MF_SATURATE_INT8.
 */
static inline int8_t fused_output(int32_t acc, mf_requant q, int32_t output_zp, int32_t lo, int32_t hi,
                                  int32_t int8_range)
{
    const int32_t v = requant_fused(acc, q) + output_zp;
    if (int8_range) {
        return (int8_t)MF_SATURATE_INT8(v);
    }
    return (int8_t)(v < lo ? lo : v > hi ? hi : v);
}

#endif /* MICROFLAT_KERNEL_PATHS_H */
