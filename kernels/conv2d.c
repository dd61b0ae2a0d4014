/*
 * int8 2-D convolution, the C twin of conv2d.py (whose docstring derives the
 * arithmetic). Output pixels are taken two at a time: for each group, the two
 * receptive fields are gathered into `scratch` as int16 columns (x - input_zp,
 * 0 for padding taps), and each output channel is a dot product of both with
 * a contiguous OHWI filter row (requantized_row_dots.h), so each filter row
 * is read once per pair of pixels. An odd last pixel takes one column alone.
 */
#include "requantized_row_dots.h"
#include "microflat_kernels.h"
#include "numerics.h"
#include "weight_encoding.h"

/* A column's length rounded up to whole 32-bit words, so the second column starts word-aligned. */
static int32_t column_stride(int32_t k)
{
    return k + (k & 1);
}

/* In 64 bits: the loader asks before it knows that the plan's arena holds the columns. */
int64_t mf_conv2d_s8_scratch_bytes(int32_t input_ch, int32_t filter_h, int32_t filter_w, int32_t groups)
{
    const int64_t k = (int64_t)filter_h * filter_w * (input_ch / groups);
    return 2 * 2 * (k + (k & 1)); /* two columns of column_stride(k) int16 values */
}

/* The receptive field of group g at input corner (iy0, ix0) as int16 (x - input_zp), 0 for padding taps. */
static void im2col_s16(int16_t *scratch, const int8_t *input, int32_t b, int32_t iy0, int32_t ix0, int32_t g,
                       int32_t input_h, int32_t input_w, int32_t input_ch, int32_t cin_g, int32_t filter_h,
                       int32_t filter_w, int32_t dilation_h, int32_t dilation_w, int32_t input_zp)
{
    int16_t *col = scratch;
    for (int32_t ky = 0; ky < filter_h; ++ky) {
        const int32_t iy = iy0 + ky * dilation_h;
        for (int32_t kx = 0; kx < filter_w; ++kx) {
            const int32_t ix = ix0 + kx * dilation_w;
            if (iy >= 0 && iy < input_h && ix >= 0 && ix < input_w) {
                const int8_t *in = input + ((b * input_h + iy) * input_w + ix) * input_ch + g * cin_g;
                for (int32_t i = 0; i < cin_g; ++i) {
                    col[i] = (int16_t)(in[i] - input_zp); /* in [-255, 255] */
                }
            } else {
                for (int32_t i = 0; i < cin_g; ++i) {
                    col[i] = 0;
                }
            }
            col += cin_g;
        }
    }
}

void mf_conv2d_s8(int16_t *scratch,
               int32_t batches, int32_t input_h, int32_t input_w, int32_t input_ch,
               int32_t filter_h, int32_t filter_w,
               int32_t output_h, int32_t output_w, int32_t output_ch,
               int32_t groups, int32_t stride_h, int32_t stride_w,
               int32_t dilation_h, int32_t dilation_w, int32_t pad_top, int32_t pad_left,
               int32_t input_zp, int32_t output_zp,
               const int32_t *output_mult, const int8_t *output_shift, int32_t per_channel,
               int32_t act_min, int32_t act_max,
               const int8_t *input, const int8_t *filter, const int32_t *bias, int8_t *output)
{
    const int32_t cin_g = input_ch / groups;
    const int32_t cout_g = output_ch / groups;
    const int32_t k = filter_h * filter_w * cin_g;
    const int32_t pixels = output_h * output_w;
    int16_t *column0 = scratch;
    int16_t *column1 = scratch + column_stride(k);
    for (int32_t b = 0; b < batches; ++b) {
        int32_t oy = 0, ox = 0; /* pixel p's position */
        for (int32_t p = 0; p < pixels; p += 2) {
            const int32_t iy0 = oy * stride_h - pad_top, ix0 = ox * stride_w - pad_left;
            int8_t *out0 = output + (b * pixels + p) * output_ch;
            if (++ox == output_w) {
                ox = 0;
                ++oy;
            }
            if (p + 1 == pixels) {
                for (int32_t g = 0; g < groups; ++g) {
                    im2col_s16(column0, input, b, iy0, ix0, g, input_h, input_w, input_ch, cin_g, filter_h,
                               filter_w, dilation_h, dilation_w, input_zp);
                    MF_COLUMN_DONE(column0, k, input_zp);
                    requantized_row_dots(column0, k, filter, g * cout_g, (g + 1) * cout_g, bias, output_mult,
                                         output_shift, per_channel, input_zp, output_zp, act_min, act_max, out0);
                }
                break;
            }
            const int32_t iy1 = oy * stride_h - pad_top, ix1 = ox * stride_w - pad_left;
            if (++ox == output_w) {
                ox = 0;
                ++oy;
            }
            for (int32_t g = 0; g < groups; ++g) {
                im2col_s16(column0, input, b, iy0, ix0, g, input_h, input_w, input_ch, cin_g, filter_h, filter_w,
                           dilation_h, dilation_w, input_zp);
                im2col_s16(column1, input, b, iy1, ix1, g, input_h, input_w, input_ch, cin_g, filter_h, filter_w,
                           dilation_h, dilation_w, input_zp);
                MF_COLUMN_DONE(column0, k, input_zp);
                MF_COLUMN_DONE(column1, k, input_zp);
                requantized_row_dots_x2(column0, column1, k, filter, g * cout_g, (g + 1) * cout_g, bias, output_mult,
                                        output_shift, per_channel, input_zp, output_zp, act_min, act_max, out0,
                                        output_ch);
            }
        }
    }
}

int64_t mf_conv2d_encoded_s8_scratch_bytes(int32_t input_ch, int32_t filter_h, int32_t filter_w, int32_t groups)
{
    return 2 * 2 * (int64_t)filter_h * filter_w * (input_ch / groups);
}

/* mf_conv2d_s8 on an encoded filter, read in place; scratch: the im2col column, then one decoded filter row. */
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
                       const int32_t *bias, int8_t *output)
{
    const int32_t cin_g = input_ch / groups;
    const int32_t cout_g = output_ch / groups;
    const int32_t k = filter_h * filter_w * cin_g;
    for (int32_t b = 0; b < batches; ++b) {
        for (int32_t oy = 0; oy < output_h; ++oy) {
            const int32_t iy0 = oy * stride_h - pad_top;
            for (int32_t ox = 0; ox < output_w; ++ox) {
                const int32_t ix0 = ox * stride_w - pad_left;
                int8_t *out = output + ((b * output_h + oy) * output_w + ox) * output_ch;
                int32_t entry = 0;
                int32_t position = -1;
                for (int32_t g = 0; g < groups; ++g) {
                    im2col_s16(scratch, input, b, iy0, ix0, g, input_h, input_w, input_ch, cin_g, filter_h, filter_w,
                               dilation_h, dilation_w, input_zp);
                    for (int32_t c = g * cout_g; c < (g + 1) * cout_g; ++c) {
                        const int32_t cb = codebook_per_channel ? c * codebook_size : 0;
                        int32_t acc = encoded_row_dot(scratch, scratch + k, c, k, value_bits, codebook, cb, position_bits, entries,
                                                      values, positions, &entry, &position);
                        if (bias != 0) {
                            acc += bias[c];
                        }
                        out[c] = requant_output(acc, channel_requant(output_mult, output_shift, per_channel, c),
                                                output_zp, act_min, act_max);
                    }
                }
            }
        }
    }
}

/*
 * 16x8 (conv2d.py derives it): direct loops; a tap outside the image is skipped (its product with the zero
 * point 0 is 0); acc = bias[c] + sum x w in int64 (each product fits int32), requantize_int64.
 */
void mf_conv2d_s16(int32_t batches, int32_t input_h, int32_t input_w, int32_t input_ch,
                int32_t filter_h, int32_t filter_w,
                int32_t output_h, int32_t output_w, int32_t output_ch,
                int32_t groups, int32_t stride_h, int32_t stride_w,
                int32_t dilation_h, int32_t dilation_w, int32_t pad_top, int32_t pad_left,
                const int32_t *output_mult, const int8_t *output_shift, int32_t per_channel,
                int32_t act_min, int32_t act_max,
                const int16_t *input, const int8_t *filter, const int64_t *bias, int16_t *output)
{
    const int32_t cin_g = input_ch / groups, cout_g = output_ch / groups;
    for (int32_t b = 0; b < batches; ++b) {
        for (int32_t oy = 0; oy < output_h; ++oy) {
            const int32_t iy0 = oy * stride_h - pad_top;
            for (int32_t ox = 0; ox < output_w; ++ox) {
                const int32_t ix0 = ox * stride_w - pad_left;
                int16_t *out = output + (((int64_t)b * output_h + oy) * output_w + ox) * output_ch;
                for (int32_t c = 0; c < output_ch; ++c) {
                    const int32_t g = c / cout_g;
                    int64_t acc = bias != 0 ? bias[c] : 0;
                    for (int32_t ky = 0; ky < filter_h; ++ky) {
                        const int32_t iy = iy0 + ky * dilation_h;
                        if (iy < 0 || iy >= input_h) {
                            continue;
                        }
                        for (int32_t kx = 0; kx < filter_w; ++kx) {
                            const int32_t ix = ix0 + kx * dilation_w;
                            if (ix < 0 || ix >= input_w) {
                                continue;
                            }
                            const int16_t *x = input + (((int64_t)b * input_h + iy) * input_w + ix) * input_ch +
                                               (int64_t)g * cin_g;
                            const int8_t *w = filter + (((int64_t)c * filter_h + ky) * filter_w + kx) * cin_g;
                            for (int32_t i = 0; i < cin_g; ++i) {
                                acc += (int32_t)x[i] * w[i];
                            }
                        }
                    }
                    const int32_t q = per_channel ? c : 0;
                    out[c] = (int16_t)requantize_int64(acc, output_mult[q], output_shift[q], act_min, act_max);
                }
            }
        }
    }
}
