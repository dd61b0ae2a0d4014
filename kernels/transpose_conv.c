/*
 * int8 transposed 2-D convolution (TFLite's TRANSPOSE_CONV, groups 1,
 * dilation 1), the C twin of transpose_conv.py, whose docstring derives the
 * arithmetic and the accumulator bound.
 *
 * `scratch` holds one batch's int32 accumulators, output_h * output_w *
 * output_ch of them. For each batch they start at the bias (or 0); each input
 * pixel then adds, for every filter tap that lands inside the output, the dot
 * product of its input_ch values (x - input_zp) with the contiguous OHWI
 * filter row of each output channel; finally the plane is requantized two
 * output pixels at a time by the shared output stage (requantize.c).
 * The caller guarantees 255 * S[c] + |bias[c]| < 2^31 (S[c]: the largest
 * sum |w[c]| that meets one output), so no partial sum overflows.
 */
#include "microflat_kernels.h"
#include "numerics.h"

/* In 64 bits: the loader asks before it knows that the plan's arena holds the plane. */
int64_t mf_transpose_conv2d_s8_scratch_bytes(int32_t output_h, int32_t output_w, int32_t output_ch)
{
    return 4 * (int64_t)output_h * output_w * output_ch;
}

static int32_t max_i32(int32_t a, int32_t b)
{
    return a > b ? a : b;
}

static int32_t min_i32(int32_t a, int32_t b)
{
    return a < b ? a : b;
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
    const int32_t filter_ch_stride = filter_h * filter_w * input_ch;
    for (int32_t b = 0; b < batches; ++b) {
        for (int32_t p = 0; p < pixels; ++p) {
            int32_t *acc = scratch + p * output_ch;
            for (int32_t c = 0; c < output_ch; ++c) {
                acc[c] = bias != 0 ? bias[c] : 0;
            }
        }
        for (int32_t iy = 0; iy < input_h; ++iy) {
            const int32_t oy0 = iy * stride_h - pad_top;
            const int32_t ky_lo = max_i32(0, -oy0), ky_hi = min_i32(filter_h, output_h - oy0);
            for (int32_t ix = 0; ix < input_w; ++ix) {
                const int32_t ox0 = ix * stride_w - pad_left;
                const int32_t kx_lo = max_i32(0, -ox0), kx_hi = min_i32(filter_w, output_w - ox0);
                const int8_t *in = input + ((b * input_h + iy) * input_w + ix) * input_ch;
                for (int32_t ky = ky_lo; ky < ky_hi; ++ky) {
                    for (int32_t kx = kx_lo; kx < kx_hi; ++kx) {
                        int32_t *acc = scratch + ((oy0 + ky) * output_w + ox0 + kx) * output_ch;
                        const int8_t *f = filter + (ky * filter_w + kx) * input_ch;
                        for (int32_t c = 0; c < output_ch; ++c) {
                            int32_t sum = 0;
                            for (int32_t i = 0; i < input_ch; ++i) {
                                sum += ((int32_t)in[i] - input_zp) * f[i]; /* |x - zp| <= 255, |w| <= 127 */
                            }
                            acc[c] += sum; /* within 255 * S[c] + |bias[c]| < 2^31 */
                            f += filter_ch_stride;
                        }
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
