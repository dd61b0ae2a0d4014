/*
 * microflat int8 kernels: the C twins of the Numba kernels in this folder.
 *
 * Each function has the name and the argument order of its Numba twin
 * (the .py file of the same stem) and gives the same bytes on every input.
 * The argument order is fixed for every kernel:
 *   scratch (only kernels that need one), dimensions, op parameters,
 *   quantization parameters, inputs, filter, bias, output.
 * The *_encoded_s8 kernels read a compressed filter in place (weight_encoding.h):
 * its parameters (value_bits, codebook_size, codebook_per_channel,
 * position_bits, entries) come after the op parameters, and the filter
 * is three streams: codebook (NULL: signed fields), values, positions.
 *
 * Conventions (TFLite's and CMSIS-NN's, so external data maps one to one):
 *   activations  int8, asymmetric, zero point in [-128, 127], NHWC;
 *   weights      int8, symmetric per output channel, values in [-127, 127];
 *                conv OHWI, depthwise [1, KH, KW, C * multiplier], FC [OUT, IN];
 *                mf_fully_connected_s8 alone also takes asymmetric weights:
 *                filter_zp in [-128, 127] (CMSIS-NN's filter_offset is its
 *                negation), values in [-128, 127], 0 for symmetric ones;
 *   bias         int32 at scale input_scale * filter_scale[c]; NULL for none;
 *   requant      output_mult (Q31, [0, 2^31), int32) and output_shift ([-31, 30], int8 as the .mfb stores it,
 *                positive = left), per_channel = 1: one pair per output
 *                channel, 0: one pair for the whole tensor;
 *                the fully connected kernels also take single_rounding = 1: one rounding
 *                of the Q31 multiplier, ties away from zero (what LiteRT's reference
 *                FULLY_CONNECTED computes), 0: TFLite's default;
 *   output       clamped to [act_min, act_max] (fused ReLU / ReLU6).
 *
 * Contract (checked by the callers, trusted here): dimensions positive and
 * consistent, every index below 2^31, and for every output channel
 * 255 * sum|w - filter_zp| + |bias| < 2^31 so the int32 accumulator cannot
 * overflow (filter_zp: 0 but for an asymmetric fully connected weight).
 * The kernels never allocate; `scratch` holds *_scratch_bytes bytes.
 *
 * mf_requantize_rows (requantize.c) is C only: the output stage the matrix
 * kernels share, requant_output over a block of their int32 sums, exposed
 * here so the host tests hold it to the int64 reference.
 */
#ifndef MICROFLAT_KERNELS_H
#define MICROFLAT_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* cffi-begin: the declarations below are also read by kernels/_build_native.py */
void mf_requantize_rows(const int32_t *sums, int32_t sums_row, int32_t rows, int32_t first, int32_t end,
                     const int32_t *output_mult, const int8_t *output_shift, int32_t per_channel, int32_t output_zp,
                     int32_t act_min, int32_t act_max, int8_t *out, int32_t out_row);
int64_t mf_conv2d_s8_scratch_bytes(int32_t input_ch, int32_t filter_h, int32_t filter_w, int32_t groups);
void mf_conv2d_s8(int16_t *scratch,
               int32_t batches, int32_t input_h, int32_t input_w, int32_t input_ch,
               int32_t filter_h, int32_t filter_w,
               int32_t output_h, int32_t output_w, int32_t output_ch,
               int32_t groups, int32_t stride_h, int32_t stride_w,
               int32_t dilation_h, int32_t dilation_w, int32_t pad_top, int32_t pad_left,
               int32_t input_zp, int32_t output_zp,
               const int32_t *output_mult, const int8_t *output_shift, int32_t per_channel,
               int32_t act_min, int32_t act_max,
               const int8_t *input, const int8_t *filter, const int32_t *bias, int8_t *output);

int64_t mf_conv2d_encoded_s8_scratch_bytes(int32_t input_ch, int32_t filter_h, int32_t filter_w, int32_t groups);
void mf_conv2d_encoded_s8(int16_t *scratch,
                       int32_t batches, int32_t input_h, int32_t input_w, int32_t input_ch,
                       int32_t filter_h, int32_t filter_w,
                       int32_t output_h, int32_t output_w, int32_t output_ch,
                       int32_t groups, int32_t stride_h, int32_t stride_w,
                       int32_t dilation_h, int32_t dilation_w, int32_t pad_top, int32_t pad_left,
                       int32_t value_bits, int32_t codebook_size, int32_t codebook_per_channel,
                       int32_t position_bits, int32_t entries,
                       int32_t input_zp, int32_t output_zp,
                       const int32_t *output_mult, const int8_t *output_shift, int32_t per_channel,
                       int32_t act_min, int32_t act_max,
                       const int8_t *input, const int8_t *codebook, const uint8_t *values, const uint8_t *positions,
                       const int32_t *bias, int8_t *output);

int64_t mf_depthwise_conv2d_s8_scratch_bytes(int32_t input_ch, int32_t filter_h, int32_t filter_w,
                                          int32_t depth_multiplier);
void mf_depthwise_conv2d_s8(int16_t *scratch,
                         int32_t batches, int32_t input_h, int32_t input_w, int32_t input_ch,
                         int32_t filter_h, int32_t filter_w,
                         int32_t output_h, int32_t output_w, int32_t depth_multiplier,
                         int32_t stride_h, int32_t stride_w,
                         int32_t dilation_h, int32_t dilation_w, int32_t pad_top, int32_t pad_left,
                         int32_t input_zp, int32_t output_zp,
                         const int32_t *output_mult, const int8_t *output_shift, int32_t per_channel,
                         int32_t act_min, int32_t act_max,
                         const int8_t *input, const int8_t *filter, const int32_t *bias, int8_t *output);

void mf_depthwise_conv2d_encoded_s8(int16_t *scratch,
                                 int32_t batches, int32_t input_h, int32_t input_w, int32_t input_ch,
                                 int32_t filter_h, int32_t filter_w,
                                 int32_t output_h, int32_t output_w, int32_t depth_multiplier,
                                 int32_t stride_h, int32_t stride_w,
                                 int32_t dilation_h, int32_t dilation_w, int32_t pad_top, int32_t pad_left,
                                 int32_t value_bits, int32_t codebook_size, int32_t codebook_per_channel,
                                 int32_t position_bits, int32_t entries,
                                 int32_t input_zp, int32_t output_zp,
                                 const int32_t *output_mult, const int8_t *output_shift, int32_t per_channel,
                                 int32_t act_min, int32_t act_max,
                                 const int8_t *input, const int8_t *codebook, const uint8_t *values,
                                 const uint8_t *positions, const int32_t *bias, int8_t *output);

/* mf_transpose_conv2d_s8: the contract's sum|w| is over the taps that meet one output (transpose_conv.py). */
int64_t mf_transpose_conv2d_s8_scratch_bytes(int32_t output_h, int32_t output_w, int32_t output_ch);
void mf_transpose_conv2d_s8(int32_t *scratch,
                         int32_t batches, int32_t input_h, int32_t input_w, int32_t input_ch,
                         int32_t filter_h, int32_t filter_w,
                         int32_t output_h, int32_t output_w, int32_t output_ch,
                         int32_t stride_h, int32_t stride_w, int32_t pad_top, int32_t pad_left,
                         int32_t input_zp, int32_t output_zp,
                         const int32_t *output_mult, const int8_t *output_shift, int32_t per_channel,
                         int32_t act_min, int32_t act_max,
                         const int8_t *input, const int8_t *filter, const int32_t *bias, int8_t *output);

int64_t mf_fully_connected_s8_scratch_bytes(int32_t input_features);
void mf_fully_connected_s8(int16_t *scratch,
                        int32_t batches, int32_t input_features, int32_t output_features,
                        int32_t input_zp, int32_t filter_zp, int32_t output_zp,
                        const int32_t *output_mult, const int8_t *output_shift, int32_t per_channel,
                        int32_t single_rounding, int32_t act_min, int32_t act_max,
                        const int8_t *input, const int8_t *filter, const int32_t *bias, int8_t *output);

int64_t mf_fully_connected_encoded_s8_scratch_bytes(int32_t input_features);
void mf_fully_connected_encoded_s8(int16_t *scratch,
                                int32_t batches, int32_t input_features, int32_t output_features,
                                int32_t value_bits, int32_t codebook_size, int32_t codebook_per_channel,
                                int32_t position_bits, int32_t entries,
                                int32_t input_zp, int32_t output_zp,
                                const int32_t *output_mult, const int8_t *output_shift, int32_t per_channel,
                                int32_t single_rounding, int32_t act_min, int32_t act_max,
                                const int8_t *input, const int8_t *codebook, const uint8_t *values,
                                const uint8_t *positions, const int32_t *bias, int8_t *output);

/* 16x8 layers (TFLite's 16x8 mode): int16 activations with zero point 0, symmetric int8 weights, int64 bias;
 * the contract's accumulator bound is 2^15 * sum|w| + |bias| <= 2^47 - 1 and the shifts lie in [-31, 7]. */
void mf_conv2d_s16(int32_t batches, int32_t input_h, int32_t input_w, int32_t input_ch,
                int32_t filter_h, int32_t filter_w,
                int32_t output_h, int32_t output_w, int32_t output_ch,
                int32_t groups, int32_t stride_h, int32_t stride_w,
                int32_t dilation_h, int32_t dilation_w, int32_t pad_top, int32_t pad_left,
                const int32_t *output_mult, const int8_t *output_shift, int32_t per_channel,
                int32_t act_min, int32_t act_max,
                const int16_t *input, const int8_t *filter, const int64_t *bias, int16_t *output);
void mf_depthwise_conv2d_s16(int32_t batches, int32_t input_h, int32_t input_w, int32_t input_ch,
                          int32_t filter_h, int32_t filter_w,
                          int32_t output_h, int32_t output_w, int32_t depth_multiplier,
                          int32_t stride_h, int32_t stride_w,
                          int32_t dilation_h, int32_t dilation_w, int32_t pad_top, int32_t pad_left,
                          const int32_t *output_mult, const int8_t *output_shift, int32_t per_channel,
                          int32_t act_min, int32_t act_max,
                          const int16_t *input, const int8_t *filter, const int64_t *bias, int16_t *output);
void mf_fully_connected_s16(int32_t batches, int32_t input_features, int32_t output_features,
                         const int32_t *output_mult, const int8_t *output_shift, int32_t per_channel,
                         int32_t single_rounding, int32_t act_min, int32_t act_max,
                         const int16_t *input, const int8_t *filter, const int64_t *bias, int16_t *output);

void mf_add_s8(const int32_t *output_shape, const int32_t *input1_strides, const int32_t *input2_strides,
            int32_t left_shift,
            int32_t input1_zp, int32_t input1_mult, int32_t input1_shift,
            int32_t input2_zp, int32_t input2_mult, int32_t input2_shift,
            int32_t output_zp, int32_t output_mult, int32_t output_shift,
            int32_t act_min, int32_t act_max,
            const int8_t *input1, const int8_t *input2, int8_t *output);
void mf_mul_s8(const int32_t *output_shape, const int32_t *input1_strides, const int32_t *input2_strides,
            int32_t input1_zp, int32_t input2_zp,
            int32_t output_zp, int32_t output_mult, int32_t output_shift,
            int32_t act_min, int32_t act_max,
            const int8_t *input1, const int8_t *input2, int8_t *output);
void mf_sub_s8(const int32_t *output_shape, const int32_t *input1_strides, const int32_t *input2_strides,
            int32_t left_shift,
            int32_t input1_zp, int32_t input1_mult, int32_t input1_shift,
            int32_t input2_zp, int32_t input2_mult, int32_t input2_shift,
            int32_t output_zp, int32_t output_mult, int32_t output_shift,
            int32_t act_min, int32_t act_max,
            const int8_t *input1, const int8_t *input2, int8_t *output);
void mf_maximum_s8(const int32_t *output_shape, const int32_t *input1_strides, const int32_t *input2_strides,
                const int8_t *input1, const int8_t *input2, int8_t *output);
void mf_minimum_s8(const int32_t *output_shape, const int32_t *input1_strides, const int32_t *input2_strides,
                const int8_t *input1, const int8_t *input2, int8_t *output);
void mf_squared_difference_s8(const int32_t *output_shape, const int32_t *input1_strides, const int32_t *input2_strides,
                           int32_t left_shift,
                           int32_t input1_zp, int32_t input1_mult, int32_t input1_shift,
                           int32_t input2_zp, int32_t input2_mult, int32_t input2_shift,
                           int32_t output_zp, int32_t output_mult, int32_t output_shift,
                           const int8_t *input1, const int8_t *input2, int8_t *output);
/* The same-shape fast paths: both inputs of the output's shape, every shift <= 0; SUB is
 * mf_add_s8_same_shape with input2_mult negated, MAXIMUM / MINIMUM mf_extremum_s8_same_shape with take_max 1 / 0. */
void mf_add_s8_same_shape(int64_t count, int32_t left_shift,
                       int32_t input1_zp, int32_t input1_mult, int32_t input1_shift,
                       int32_t input2_zp, int32_t input2_mult, int32_t input2_shift,
                       int32_t output_zp, int32_t output_mult, int32_t output_shift,
                       int32_t act_min, int32_t act_max,
                       const int8_t *input1, const int8_t *input2, int8_t *output);
void mf_extremum_s8_same_shape(int64_t count, int32_t take_max, const int8_t *input1, const int8_t *input2,
                            int8_t *output);
void mf_squared_difference_s8_same_shape(int64_t count, int32_t left_shift,
                                      int32_t input1_zp, int32_t input1_mult, int32_t input1_shift,
                                      int32_t input2_zp, int32_t input2_mult, int32_t input2_shift,
                                      int32_t output_zp, int32_t output_mult, int32_t output_shift,
                                      const int8_t *input1, const int8_t *input2, int8_t *output);

void mf_average_pool2d_s8(int32_t batches, int32_t input_h, int32_t input_w, int32_t channels,
                       int32_t filter_h, int32_t filter_w, int32_t output_h, int32_t output_w,
                       int32_t stride_h, int32_t stride_w, int32_t pad_top, int32_t pad_left,
                       int32_t act_min, int32_t act_max,
                       const int8_t *input, int8_t *output);
void mf_max_pool2d_s8(int32_t batches, int32_t input_h, int32_t input_w, int32_t channels,
                   int32_t filter_h, int32_t filter_w, int32_t output_h, int32_t output_w,
                   int32_t stride_h, int32_t stride_w, int32_t pad_top, int32_t pad_left,
                   int32_t act_min, int32_t act_max,
                   const int8_t *input, int8_t *output);
void mf_mean_hw_s8(int32_t batches, int32_t input_h, int32_t input_w, int32_t channels,
                int32_t input_zp, int32_t output_zp, int32_t mult, int32_t shift,
                const int8_t *input, int8_t *output);

void mf_softmax_s8(int32_t outer, int32_t depth,
                int32_t input_beta_mult, int32_t input_left_shift, int32_t diff_min,
                const int8_t *input, int8_t *output);

void mf_concatenation_s8(int32_t outer, int32_t copy_size, int32_t output_row, int32_t output_start,
                      int32_t requant, int32_t input_zp, int32_t output_zp, int32_t mult, int32_t shift,
                      const int8_t *input, int8_t *output);
void mf_concatenation_s16(int32_t outer, int32_t copy_size, int32_t output_row, int32_t output_start,
                          int32_t requant, int32_t input_zp, int32_t output_zp, int32_t mult, int32_t shift,
                          const int16_t *input, int16_t *output);
void mf_pad_s8(const int32_t *input_shape, const int32_t *pad_before, const int32_t *output_shape,
            int32_t pad_value, const int8_t *input, int8_t *output);
void mf_lut_s8(int32_t size, const int8_t *table, const int8_t *input, int8_t *output);
void mf_transpose_s8(const int32_t *output_shape, const int32_t *input_strides, const int8_t *input, int8_t *output);
void mf_strided_slice_s8(const int32_t *input_shape, const int32_t *begin, const int32_t *strides,
                      const int32_t *output_shape, const int8_t *input, int8_t *output);
void mf_strided_slice_s16(const int32_t *input_shape, const int32_t *begin, const int32_t *strides,
                          const int32_t *output_shape, const int16_t *input, int16_t *output);
void mf_gather_s8(int32_t outer, int32_t indices_count, int32_t axis_size, int32_t inner,
               const int32_t *indices, const int8_t *params, int8_t *output);
void mf_resize_nearest_s8(int32_t batches, int32_t input_h, int32_t input_w, int32_t channels,
                       int32_t output_h, int32_t output_w, int32_t align_corners, int32_t half_pixel_centers,
                       int32_t scale_h, int32_t shift_h, int32_t scale_w, int32_t shift_w,
                       const int8_t *input, int8_t *output);
void mf_resize_bilinear_s8(int32_t batches, int32_t input_h, int32_t input_w, int32_t channels,
                        int32_t output_h, int32_t output_w, int32_t half_pixel_centers,
                        int32_t scale_h, int32_t scale_w, const int8_t *input, int8_t *output);
void mf_batch_matmul_s8(const int32_t *batch_shape, const int32_t *lhs_batch_strides, const int32_t *rhs_batch_strides,
                     int32_t rows, int32_t cols, int32_t depth,
                     int32_t adj_x, int32_t adj_y,
                     int32_t lhs_zp, int32_t rhs_zp, int32_t output_zp,
                     int32_t output_mult, int32_t output_shift,
                     int32_t act_min, int32_t act_max,
                     const int8_t *lhs, const int8_t *rhs, int8_t *output);

int64_t mf_reduce_s8_scratch_bytes(int32_t output_elements);
void mf_reduce_mean_s8(int32_t *scratch, const int32_t *input_shape, const int32_t *reduce_mask,
                    int32_t input_zp, int32_t output_zp, int32_t mult, int32_t shift,
                    const int8_t *input, int8_t *output);
void mf_reduce_sum_s8(int32_t *scratch, const int32_t *input_shape, const int32_t *reduce_mask,
                   int32_t input_zp, int32_t output_zp, int32_t mult, int32_t shift,
                   const int8_t *input, int8_t *output);
void mf_reduce_max_s8(const int32_t *input_shape, const int32_t *reduce_mask, const int8_t *input, int8_t *output);

void mf_quantize_s8(int32_t size, float scale, int32_t zero_point, const float *input, int8_t *output);
void mf_dequantize_s8(int32_t size, float scale, int32_t zero_point, const int8_t *input, float *output);

/* 16-bit activations (TFLite's 16x8 mode): int16 data, zero points and act_min / act_max in [-32768, 32767].
 * mf_add_s16 / mf_sub_s16: left_shift <= 15, input multipliers <= 1/2; mf_mul_s16: input zero points 0;
 * mf_average_pool2d_s16: filter_h * filter_w <= 65535 (elementwise.py, pooling.py derive the bounds). */
void mf_add_s16(const int32_t *output_shape, const int32_t *input1_strides, const int32_t *input2_strides,
                int32_t left_shift,
                int32_t input1_zp, int32_t input1_mult, int32_t input1_shift,
                int32_t input2_zp, int32_t input2_mult, int32_t input2_shift,
                int32_t output_zp, int32_t output_mult, int32_t output_shift,
                int32_t act_min, int32_t act_max,
                const int16_t *input1, const int16_t *input2, int16_t *output);
void mf_sub_s16(const int32_t *output_shape, const int32_t *input1_strides, const int32_t *input2_strides,
                int32_t left_shift,
                int32_t input1_zp, int32_t input1_mult, int32_t input1_shift,
                int32_t input2_zp, int32_t input2_mult, int32_t input2_shift,
                int32_t output_zp, int32_t output_mult, int32_t output_shift,
                int32_t act_min, int32_t act_max,
                const int16_t *input1, const int16_t *input2, int16_t *output);
void mf_mul_s16(const int32_t *output_shape, const int32_t *input1_strides, const int32_t *input2_strides,
                int32_t input1_zp, int32_t input2_zp,
                int32_t output_zp, int32_t output_mult, int32_t output_shift,
                int32_t act_min, int32_t act_max,
                const int16_t *input1, const int16_t *input2, int16_t *output);
void mf_average_pool2d_s16(int32_t batches, int32_t input_h, int32_t input_w, int32_t channels,
                           int32_t filter_h, int32_t filter_w, int32_t output_h, int32_t output_w,
                           int32_t stride_h, int32_t stride_w, int32_t pad_top, int32_t pad_left,
                           int32_t act_min, int32_t act_max,
                           const int16_t *input, int16_t *output);
void mf_max_pool2d_s16(int32_t batches, int32_t input_h, int32_t input_w, int32_t channels,
                       int32_t filter_h, int32_t filter_w, int32_t output_h, int32_t output_w,
                       int32_t stride_h, int32_t stride_w, int32_t pad_top, int32_t pad_left,
                       int32_t act_min, int32_t act_max,
                       const int16_t *input, int16_t *output);
void mf_quantize_s16(int32_t size, float scale, int32_t zero_point, const float *input, int16_t *output);
void mf_dequantize_s16(int32_t size, float scale, int32_t zero_point, const int16_t *input, float *output);
void mf_requantize_s8_s16(int32_t size, int32_t input_zp, int32_t output_zp, int32_t mult, int32_t shift,
                          const int8_t *input, int16_t *output);
void mf_requantize_s16_s8(int32_t size, int32_t input_zp, int32_t output_zp, int32_t mult, int32_t shift,
                          const int16_t *input, int8_t *output);
void mf_requantize_s16_s16(int32_t size, int32_t input_zp, int32_t output_zp, int32_t mult, int32_t shift,
                           const int16_t *input, int16_t *output);
/* TFLite's int16 LOGISTIC, TANH and SOFTMAX (docs/RECURRENT.md sections 1 and 2): input zero point 0, output Q0.15
 * (scale 1/32768, zero point 0). mf_logistic_s16 / mf_tanh_s16: input_multiplier in [0, 32767], input_left_shift
 * in [0, 31] ([0, 14] when input_multiplier is 0: a power-of-two scale; activations_s16.py derives the bounds).
 * mf_softmax_s16: depth <= 65535, input_multiplier in [0, 2^31), input_left_shift in [-31, 15] (softmax.py). */
void mf_logistic_s16(int32_t size, int32_t input_multiplier, int32_t input_left_shift, const int16_t *input,
                     int16_t *output);
void mf_tanh_s16(int32_t size, int32_t input_multiplier, int32_t input_left_shift, const int16_t *input,
                 int16_t *output);
void mf_softmax_s16(int32_t outer, int32_t depth, int32_t input_multiplier, int32_t input_left_shift,
                    const int16_t *input, int16_t *output);

/* SVDF, one time step (svdf.py): int8 input [B, I] (I <= 65793), int16 state [B, M * F] (F = units * rank,
 * zero point 0) updated in place, int8 weights_feature [F, I], int16 weights_time [F, M], int32 bias [units]
 * or NULL, int8 output [B, units]; state_* and output_* requantize into the state and the output. */
int64_t mf_svdf_s8_scratch_bytes(int32_t input_size);
void mf_svdf_s8(int16_t *scratch,
                int32_t batches, int32_t input_size, int32_t units, int32_t memory_size,
                int32_t rank,
                int32_t input_zp, int32_t output_zp,
                int32_t state_mult, int32_t state_shift, int32_t output_mult, int32_t output_shift,
                const int8_t *input, int16_t *state,
                const int8_t *weights_feature, const int16_t *weights_time, const int32_t *bias,
                int8_t *output);
/* lstm.c: TFLite's integer LSTM (8x8_16), one time-major sequence; lstm.py states the layout and the bound. */
void mf_lstm_8x8_16(int32_t steps, int32_t input_size, int32_t cell_size,
                    const int32_t *gate_mult, const int8_t *gate_shift,
                    int32_t hidden_mult, int32_t hidden_shift, int32_t hidden_zp,
                    int32_t cell_exponent, int32_t cell_clip,
                    const int8_t *input, const int8_t *input_weights, const int8_t *recurrent_weights,
                    const int32_t *input_bias, const int32_t *recurrent_bias,
                    int8_t *hidden_state, int16_t *cell_state, int8_t *output);
/* lstm_16x8.c: TFLite Micro's integer LSTM (16x8: int16 input and states, int64 biases), one time-major
 * sequence; lstm_16x8.py states the layout and the bounds (cell_exponent in [-29, 2], the three product shifts
 * <= 0, gate shifts in [-31, 7], |bias| + 2^15 sum|w| <= 2^47 - 1). */
void mf_lstm_16x8(int32_t steps, int32_t input_size, int32_t cell_size,
                  const int32_t *gate_mult, const int8_t *gate_shift,
                  int32_t forget_mult, int32_t forget_shift, int32_t input_mult, int32_t input_shift,
                  int32_t hidden_mult, int32_t hidden_shift,
                  int32_t cell_exponent, int32_t cell_clip,
                  const int16_t *input, const int8_t *input_weights, const int8_t *recurrent_weights,
                  const int64_t *bias,
                  int16_t *hidden_state, int16_t *cell_state, int16_t *output);
/* cffi-end */

#ifdef __cplusplus
}
#endif

#endif /* MICROFLAT_KERNELS_H */
