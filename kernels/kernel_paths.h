/*
 * Which implementation of the kernels' inner loops a build runs: the wrapper
 * the kernels call through (MF_*), chosen here once from the target's
 * features and never by an #if inside a kernel body.
 *
 *   MICROFLAT_PORTABLE defined   portable C99 (row_dots.h), the reference
 *   __ARM_FEATURE_DSP            Cortex-M4/M7/M33/M55: SMLAD (arm/row_dots_dsp.h), in an
 *                                optimizing build (-O1 and up: at -O0 GCC keeps a frame
 *                                pointer, and the inner loop's assembly needs its register)
 *   __ARM_FEATURE_DOTPROD        AArch64 with SDOT (arm/row_dots_dotprod.h)
 *   anything else                portable C99
 *
 * Every path computes the same int32 sums (each header derives why) and
 * shares requantize (numerics.h), so all are bit-exact with one another and
 * with the Numba kernels; tests/test_firmware.py and tests/test_kernel_paths.py
 * hold them to it on emulated boards.
 *
 * The interface (same arguments on every path):
 *   MF_COLUMN_DONE(column, length, input_zp)  after a column of int16
 *       x - input_zp is written, once; a path may change its layout in place
 *   MF_ROW_DOTS(column, length, rows, first, end, bias, output_mult,
 *       output_shift, per_channel, input_zp, output_zp, act_min, act_max, out)
 *   MF_ROW_DOTS_X2(column0, column1, ...same..., out0, out1)
 *   MF_DEPTHWISE_TAPS_X4  see depthwise_taps.h
 */
#ifndef MICROFLAT_KERNEL_PATHS_H
#define MICROFLAT_KERNEL_PATHS_H

#include "depthwise_taps.h"
#include "row_dots.h"

#if !defined(MICROFLAT_PORTABLE) && defined(__ARM_FEATURE_DSP) && !defined(__aarch64__) && defined(__OPTIMIZE__)
#include "arm/depthwise_taps_dsp.h"
#include "arm/row_dots_dsp.h"
#define MF_KERNEL_PATH "dsp"
#define MF_COLUMN_DONE row_dots_dsp_column_done
#define MF_ROW_DOTS requantized_row_dots_dsp
#define MF_ROW_DOTS_X2 requantized_row_dots_x2_dsp
#define MF_DEPTHWISE_TAPS_X4 depthwise_taps_x4_dsp
#elif !defined(MICROFLAT_PORTABLE) && defined(__ARM_FEATURE_DOTPROD) && defined(__aarch64__)
#include "arm/row_dots_dotprod.h"
#define MF_KERNEL_PATH "dotprod"
#define MF_COLUMN_DONE row_dots_dotprod_column_done
#define MF_ROW_DOTS requantized_row_dots_dotprod
#define MF_ROW_DOTS_X2 requantized_row_dots_x2_dotprod
#define MF_DEPTHWISE_TAPS_X4 depthwise_taps_x4
#else
#define MF_KERNEL_PATH "portable"
#define MF_COLUMN_DONE row_dots_column_done
#define MF_ROW_DOTS requantized_row_dots
#define MF_ROW_DOTS_X2 requantized_row_dots_x2
#define MF_DEPTHWISE_TAPS_X4 depthwise_taps_x4
#endif

#endif /* MICROFLAT_KERNEL_PATHS_H */
