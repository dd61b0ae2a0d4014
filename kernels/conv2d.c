/*
 * int8 2-D convolution, the C twin of conv2d.py (whose docstring derives the
 * arithmetic). Output pixels are taken two at a time: for each group, the two
 * receptive fields are gathered into `scratch` as int16 columns (x - input_zp,
 * 0 for padding taps), and each output channel is a dot product of both with
 * a contiguous OHWI filter row (requantized_row_dots.h), so each filter row
 * is read once per pair of pixels. An odd last pixel takes one column alone.
 * The 16x8 kernel (mf_conv2d_s16, at the end) reads its int16 input in place.
 */
#include <stddef.h>

#include "requantized_row_dots.h"
#include "microflat_kernels.h"
#include "numerics.h"
#include "valid_taps.h"
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

/* One output pixel's window for the 16x8 kernel, and what its outputs need. */
typedef struct {
    const int16_t *image; /* the batch's input */
    const int8_t *filter;
    const int64_t *bias;
    const int32_t *output_mult;
    const int8_t *output_shift;
    int32_t per_channel, act_min, act_max;
    int32_t input_w, input_ch, cin_g, cout_g, filter_h, filter_w, dilation_h, dilation_w;
    int32_t row_runs;                           /* a window row's valid taps are one contiguous run */
    int32_t iy0, ix0, ky_lo, ky_hi, kx_lo, kx_hi; /* the corner; the taps inside: [ky_lo, ky_hi) x [kx_lo, kx_hi) */
} window_s16;

/*
 * Group g's outputs of one pixel, out[c] for c in [g * cout_g, (g + 1) * cout_g): each the window's dot product
 * with filter row c over the taps inside the input, two rows at a time (kernel_paths.h: MF_ROW_DOTS_S16_X2; an
 * odd last row MF_ROW_DOT_S16), a run at a time. A run is one tap's cin_g channels, or, with one group and
 * undilated columns, a window row's valid taps: (kx_hi - kx_lo) * input_ch values that lie one after another in
 * the input and in the OHWI filter alike. Indices in ptrdiff_t: the width of the target's addresses. Out of line,
 * so that the runs' loops keep their own registers.
 */
MF_NOINLINE static void window_outputs_s16(const window_s16 *k, int32_t g, int16_t *out)
{
    const int32_t end = (g + 1) * k->cout_g;
    const int32_t run_taps = k->row_runs ? k->kx_hi - k->kx_lo : 1;
    const int32_t run = run_taps * k->cin_g;
    const ptrdiff_t filter_row = (ptrdiff_t)k->filter_h * k->filter_w * k->cin_g; /* one output channel's weights */
    const ptrdiff_t tap_step = (ptrdiff_t)k->dilation_w * k->input_ch;            /* the input, tap to tap in a row */
    /* the window's first valid tap, group g's first channel (formed only when a tap lies inside) */
    const int32_t inside = k->ky_lo < k->ky_hi && k->kx_lo < k->kx_hi;
    const int32_t ky_end = inside ? k->ky_hi : k->ky_lo;
    const int16_t *x0 = !inside ? k->image
                                : k->image +
                                      ((ptrdiff_t)(k->iy0 + k->ky_lo * k->dilation_h) * k->input_w + k->ix0 +
                                       k->kx_lo * k->dilation_w) * k->input_ch +
                                      (ptrdiff_t)g * k->cin_g;
    const ptrdiff_t row_step = (ptrdiff_t)k->dilation_h * k->input_w * k->input_ch; /* the input, window row to row */
    const ptrdiff_t first_tap = (ptrdiff_t)k->ky_lo * k->filter_w + k->kx_lo;
    for (int32_t c = g * k->cout_g; c < end; c += 2) {
        const int32_t pair = c + 1 < end;
        int64_t acc0 = k->bias != 0 ? k->bias[c] : 0;
        int64_t acc1 = k->bias != 0 && pair ? k->bias[c + 1] : 0;
        const int8_t *w_row = k->filter + (ptrdiff_t)c * filter_row + first_tap * k->cin_g;
        const int16_t *x_row = x0;
        for (int32_t ky = k->ky_lo; ky < ky_end; ++ky) {
            for (int32_t kx = 0; kx < k->kx_hi - k->kx_lo; kx += run_taps) {
                const int16_t *x = x_row + kx * tap_step;
                const int8_t *w = w_row + kx * k->cin_g;
                if (pair) {
                    MF_ROW_DOTS_S16_X2(&acc0, &acc1, x, w, w + filter_row, run);
                } else {
                    MF_ROW_DOT_S16(&acc0, x, w, run);
                }
            }
            if (ky + 1 < ky_end) { /* the next window row's first valid tap (none past the last is formed) */
                x_row += row_step;
                w_row += (ptrdiff_t)k->filter_w * k->cin_g;
            }
        }
        const int32_t q0 = k->per_channel ? c : 0;
        out[c] = (int16_t)requantize_int64(acc0, k->output_mult[q0], k->output_shift[q0], k->act_min, k->act_max);
        if (pair) {
            const int32_t q1 = k->per_channel ? c + 1 : 0;
            out[c + 1] =
                (int16_t)requantize_int64(acc1, k->output_mult[q1], k->output_shift[q1], k->act_min, k->act_max);
        }
    }
}

/*
 * 16x8 (conv2d.py derives it): direct loops over the input, no scratch; a tap outside the image is skipped
 * (its product with the zero point 0 is 0); acc = bias[c] + sum x w in int64 (each product fits int32; the
 * sums stay within the loader's bound 2^47 - 1), requantize_int64. Output channels two at a time within a
 * group, so that each run of the input is read once for both filter rows; an odd last channel alone.
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
    window_s16 k;
    k.filter = filter;
    k.bias = bias;
    k.output_mult = output_mult;
    k.output_shift = output_shift;
    k.per_channel = per_channel;
    k.act_min = act_min;
    k.act_max = act_max;
    k.input_w = input_w;
    k.input_ch = input_ch;
    k.cin_g = input_ch / groups;
    k.cout_g = output_ch / groups;
    k.filter_h = filter_h;
    k.filter_w = filter_w;
    k.dilation_h = dilation_h;
    k.dilation_w = dilation_w;
    k.row_runs = groups == 1 && dilation_w == 1;
    for (int32_t b = 0; b < batches; ++b) {
        k.image = input + (ptrdiff_t)b * input_h * input_w * input_ch;
        for (int32_t oy = 0; oy < output_h; ++oy) {
            k.iy0 = oy * stride_h - pad_top;
            valid_taps(k.iy0, dilation_h, filter_h, input_h, &k.ky_lo, &k.ky_hi);
            for (int32_t ox = 0; ox < output_w; ++ox) {
                k.ix0 = ox * stride_w - pad_left;
                valid_taps(k.ix0, dilation_w, filter_w, input_w, &k.kx_lo, &k.kx_hi);
                int16_t *out = output + (((ptrdiff_t)b * output_h + oy) * output_w + ox) * output_ch;
                for (int32_t g = 0; g < groups; ++g) {
                    window_outputs_s16(&k, g, out);
                }
            }
        }
    }
}
