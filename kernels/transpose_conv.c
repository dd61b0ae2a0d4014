/*
 * int8 transposed 2-D convolution (TFLite's TRANSPOSE_CONV, groups 1,
 * dilation 1), the C twin of transpose_conv.py, whose docstring derives the
 * arithmetic and the accumulator bound.
 *
 * Gathered, not scattered: each output pixel's int32 accumulators (in
 * `scratch`, which holds one batch's output plane, output_h * output_w *
 * output_ch of them) start at the bias (or 0) and add, for each filter tap
 * that reaches the pixel from inside the input (ky = oy + pad_top - iy *
 * stride_h for an input row iy in [0, input_h), likewise kx), the dot
 * products of that input pixel's input_ch values (x - input_zp) with the
 * contiguous OHWI filter rows w[c, ky, kx, :]: an int16 column of the pixel
 * (written once per tap, in chunks on the stack) against four filter rows at
 * a time (tap_dots). Then the plane is requantized two output pixels at a
 * time by the shared output stage (requantize.c). The caller guarantees
 * 255 * S[c] + |bias[c]| < 2^31 (S[c]: the largest sum |w[c]| that meets one
 * output), so no partial sum overflows: the sums are TFLite's scatter's, in
 * another order.
 */
#include "microflat_kernels.h"
#include "numerics.h"

/* In 64 bits: the loader asks before it knows that the plan's arena holds the plane. */
int64_t mf_transpose_conv2d_s8_scratch_bytes(int32_t output_h, int32_t output_w, int32_t output_ch)
{
    return 4 * (int64_t)output_h * output_w * output_ch;
}

/* Input channels converted at a time, on the stack: the column of one tap. */
#define TAP_CHUNK 64

/*
 * acc[c] += sum_i (in[i] - input_zp) * f[c * channel_stride + i] for c < output_ch, i < input_ch: one tap of
 * one output pixel. The column of x - input_zp (in [-255, 255]) is written once per chunk and read by four
 * filter rows at a time, so each column value is loaded once for four multiply-accumulates (on a Cortex-M the
 * loop keeps its four accumulators, the column pointer and the rows' in registers).
 */
static void tap_dots(int32_t *acc, const int8_t *in, const int8_t *f, int32_t channel_stride, int32_t input_ch,
                     int32_t output_ch, int32_t input_zp)
{
    int16_t column[TAP_CHUNK];
    for (int32_t i0 = 0; i0 < input_ch; i0 += TAP_CHUNK) {
        const int32_t n = input_ch - i0 < TAP_CHUNK ? input_ch - i0 : TAP_CHUNK;
        for (int32_t i = 0; i < n; ++i) {
            column[i] = (int16_t)((int32_t)in[i0 + i] - input_zp);
        }
        int32_t c = 0;
        for (; c + 4 <= output_ch; c += 4) {
            const int8_t *r0 = f + c * channel_stride + i0;
            const int8_t *r1 = r0 + channel_stride, *r2 = r1 + channel_stride, *r3 = r2 + channel_stride;
            int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            for (int32_t i = 0; i < n; ++i) {
                const int32_t x = column[i];
                s0 += x * r0[i]; /* |x| <= 255, |w| <= 127 */
                s1 += x * r1[i];
                s2 += x * r2[i];
                s3 += x * r3[i];
            }
            acc[c] += s0; /* within 255 * S[c] + |bias[c]| < 2^31 */
            acc[c + 1] += s1;
            acc[c + 2] += s2;
            acc[c + 3] += s3;
        }
        for (; c < output_ch; ++c) {
            const int8_t *r0 = f + c * channel_stride + i0;
            int32_t s0 = 0;
            for (int32_t i = 0; i < n; ++i) {
                s0 += column[i] * r0[i];
            }
            acc[c] += s0;
        }
    }
}

void mf_transpose_conv2d_s8(int32_t *scratch,
                         int32_t batches, int32_t input_h, int32_t input_w, int32_t input_ch,
                         int32_t filter_h, int32_t filter_w,
                         int32_t output_h, int32_t output_w, int32_t output_ch,
                         int32_t stride_h, int32_t stride_w, int32_t pad_top, int32_t pad_left,
                         int32_t input_zp, int32_t output_zp,
                         const int32_t *output_mult, const int8_t *output_shift, int32_t per_channel,
                         int32_t act_min, int32_t act_max,
                         const int8_t *input, const int8_t *filter, const int32_t *bias, int8_t *output)
{
    const int32_t pixels = output_h * output_w;
    const int32_t channel_stride = filter_h * filter_w * input_ch; /* from w[c, ky, kx, :] to w[c + 1, ky, kx, :] */
    for (int32_t b = 0; b < batches; ++b) {
        const int8_t *image = input + b * input_h * input_w * input_ch;
        for (int32_t oy = 0; oy < output_h; ++oy) {
            for (int32_t ox = 0; ox < output_w; ++ox) {
                int32_t *acc = scratch + (oy * output_w + ox) * output_ch;
                for (int32_t c = 0; c < output_ch; ++c) {
                    acc[c] = bias != 0 ? bias[c] : 0;
                }
                /* The taps of the row (column) residue of oy + pad_top, from ky with the largest iy down; the
                 * rows past the input come first and are skipped, iy < 0 ends the taps. */
                for (int32_t ky = (oy + pad_top) % stride_h; ky < filter_h; ky += stride_h) {
                    const int32_t ty = oy + pad_top - ky; /* iy * stride_h */
                    if (ty < 0) {
                        break;
                    }
                    if (ty / stride_h >= input_h) {
                        continue;
                    }
                    for (int32_t kx = (ox + pad_left) % stride_w; kx < filter_w; kx += stride_w) {
                        const int32_t tx = ox + pad_left - kx;
                        if (tx < 0) {
                            break;
                        }
                        if (tx / stride_w >= input_w) {
                            continue;
                        }
                        tap_dots(acc, image + ((ty / stride_h) * input_w + tx / stride_w) * input_ch,
                                 filter + (ky * filter_w + kx) * input_ch, channel_stride, input_ch, output_ch,
                                 input_zp);
                    }
                }
            }
        }
        int8_t *out = output + b * pixels * output_ch;
        for (int32_t p = 0; p < pixels; p += 2) {
            const int32_t rows = pixels - p >= 2 ? 2 : 1;
            mf_requantize_rows(scratch + p * output_ch, output_ch, rows, 0, output_ch, output_mult, output_shift,
                            per_channel, output_zp, act_min, act_max, out + p * output_ch, output_ch);
        }
    }
}
