/*
 * int8 depthwise convolution, the C twin of depthwise_conv2d.py (whose
 * docstring derives the arithmetic). Direct loops; output channel
 * c = i * depth_multiplier + m reads input channel i. No scratch.
 */
#include "kernel_paths.h"
#include "microflat_kernels.h"
#include "numerics.h"
#include "weight_encoding.h"

int64_t depthwise_conv2d_s8_scratch_bytes(int32_t input_ch, int32_t filter_h, int32_t filter_w,
                                          int32_t depth_multiplier)
{
    (void)input_ch;
    (void)filter_h;
    (void)filter_w;
    (void)depth_multiplier;
    return 0;
}

/*
 * The taps [*lo, *hi) of a window starting at i0 (dilation d, k taps) that fall inside [0, size). Called
 * for every output pixel of every channel block: a window wholly inside (most of them) is answered by
 * two comparisons, a border window by stepping its ends inward.
 */
static inline void valid_taps(int32_t i0, int32_t d, int32_t k, int32_t size, int32_t *lo, int32_t *hi)
{
    if (i0 >= 0 && i0 + (k - 1) * d < size) {
        *lo = 0;
        *hi = k;
        return;
    }
    int32_t a = 0, b = k;
    while (a < k && i0 + a * d < 0) {
        ++a;
    }
    while (b > a && i0 + (b - 1) * d >= size) {
        --b;
    }
    *lo = a;
    *hi = b;
}

#define CHANNEL_BLOCK 4

/*
 * Loop order for a microcontroller. With a depth multiplier of 1 (MobileNet's and DS-CNN's depthwise
 * layers) the channels are taken four at a time, outermost: each block's four requantizations are
 * prepared once, then every output pixel accumulates the block over its window's valid taps in four
 * registers, from contiguous NHWC input and HWC filter bytes (kernel_paths.h: MF_DEPTHWISE_TAPS_X4), so
 * a MAC costs a load of each operand, a subtraction and a multiply-add, or less on a path that loads four
 * channels at once. Other channels (a multiplier above 1, or the last input_ch % 4) go pixel by pixel.
 * The accumulators start at the bias: every partial sum is bounded by 255 * sum|w| + |b| < 2^31 (the
 * loader's check), so the order of the additions does not change the exact int32 result.
 */
void depthwise_conv2d_s8(int16_t *scratch,
                         int32_t batches, int32_t input_h, int32_t input_w, int32_t input_ch,
                         int32_t filter_h, int32_t filter_w,
                         int32_t output_h, int32_t output_w, int32_t depth_multiplier,
                         int32_t stride_h, int32_t stride_w,
                         int32_t dilation_h, int32_t dilation_w, int32_t pad_top, int32_t pad_left,
                         int32_t input_zp, int32_t output_zp,
                         const int32_t *output_mult, const int8_t *output_shift, int32_t per_channel,
                         int32_t act_min, int32_t act_max,
                         const int8_t *input, const int8_t *filter, const int32_t *bias, int8_t *output)
{
    (void)scratch;
    const int32_t output_ch = input_ch * depth_multiplier;
    const int32_t blocked = depth_multiplier == 1 ? input_ch / CHANNEL_BLOCK * CHANNEL_BLOCK : 0;
    const int32_t x_row_step = dilation_h * input_w * input_ch, x_col_step = dilation_w * input_ch;
    const int32_t w_row_step = filter_w * output_ch;
    for (int32_t b = 0; b < batches; ++b) {
        for (int32_t c = 0; c < blocked; c += CHANNEL_BLOCK) {
            mf_requant q[CHANNEL_BLOCK];
            int32_t start[CHANNEL_BLOCK];
            for (int32_t j = 0; j < CHANNEL_BLOCK; ++j) {
                q[j] = channel_requant(output_mult, output_shift, per_channel, c + j);
                start[j] = bias != 0 ? bias[c + j] : 0;
            }
            int8_t *out = output + b * output_h * output_w * output_ch + c;
            for (int32_t oy = 0; oy < output_h; ++oy) {
                const int32_t iy0 = oy * stride_h - pad_top;
                int32_t ky_lo, ky_hi;
                valid_taps(iy0, dilation_h, filter_h, input_h, &ky_lo, &ky_hi);
                for (int32_t ox = 0; ox < output_w; ++ox, out += output_ch) {
                    const int32_t ix0 = ox * stride_w - pad_left;
                    int32_t kx_lo, kx_hi;
                    valid_taps(ix0, dilation_w, filter_w, input_w, &kx_lo, &kx_hi);
                    int32_t acc[CHANNEL_BLOCK] = {start[0], start[1], start[2], start[3]};
                    if (ky_lo < ky_hi && kx_lo < kx_hi) {
                        /* the first valid tap lies inside the input (the window's corner may not) */
                        const int32_t first_tap =
                            ((b * input_h + iy0 + ky_lo * dilation_h) * input_w + ix0 + kx_lo * dilation_w) * input_ch;
                        MF_DEPTHWISE_TAPS_X4(acc, input + first_tap + c,
                                             filter + (ky_lo * filter_w + kx_lo) * output_ch + c, ky_hi - ky_lo,
                                             kx_hi - kx_lo, x_row_step, x_col_step, w_row_step, output_ch, input_zp);
                    }
                    for (int32_t j = 0; j < CHANNEL_BLOCK; ++j) {
                        out[j] = requant_output(acc[j], q[j], output_zp, act_min, act_max);
                    }
                }
            }
        }
        if (blocked == output_ch) {
            continue;
        }
        for (int32_t oy = 0; oy < output_h; ++oy) {
            const int32_t iy0 = oy * stride_h - pad_top;
            int32_t ky_lo, ky_hi;
            valid_taps(iy0, dilation_h, filter_h, input_h, &ky_lo, &ky_hi);
            for (int32_t ox = 0; ox < output_w; ++ox) {
                const int32_t ix0 = ox * stride_w - pad_left;
                int32_t kx_lo, kx_hi;
                valid_taps(ix0, dilation_w, filter_w, input_w, &kx_lo, &kx_hi);
                int8_t *out = output + ((b * output_h + oy) * output_w + ox) * output_ch;
                /* the window's corner may lie outside the input: an index, not a pointer, until a tap is valid */
                const int32_t corner = ((b * input_h + iy0) * input_w + ix0) * input_ch;
                for (int32_t c = blocked; c < output_ch; ++c) {
                    const int32_t i = c / depth_multiplier;
                    int32_t acc = bias != 0 ? bias[c] : 0;
                    for (int32_t ky = ky_lo; ky < ky_hi; ++ky) {
                        for (int32_t kx = kx_lo; kx < kx_hi; ++kx) {
                            const int32_t xv =
                                (int32_t)input[corner + (ky * dilation_h * input_w + kx * dilation_w) * input_ch + i] -
                                input_zp;
                            acc += xv * (int32_t)filter[(ky * filter_w + kx) * output_ch + c];
                        }
                    }
                    out[c] = requant_output(acc, channel_requant(output_mult, output_shift, per_channel, c), output_zp,
                                            act_min, act_max);
                }
            }
        }
    }
}

void depthwise_conv2d_encoded_s8(int16_t *scratch,
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
                                 const uint8_t *positions, const int32_t *bias, int8_t *output)
{
    (void)scratch;
    const int32_t output_ch = input_ch * depth_multiplier;
    const int32_t taps = filter_h * filter_w;
    for (int32_t b = 0; b < batches; ++b) {
        for (int32_t oy = 0; oy < output_h; ++oy) {
            const int32_t iy0 = oy * stride_h - pad_top;
            for (int32_t ox = 0; ox < output_w; ++ox) {
                const int32_t ix0 = ox * stride_w - pad_left;
                int8_t *out = output + ((b * output_h + oy) * output_w + ox) * output_ch;
                int32_t entry = 0;
                int32_t position = -1;
                for (int32_t i = 0; i < input_ch; ++i) {
                    for (int32_t m = 0; m < depth_multiplier; ++m) {
                        const int32_t c = i * depth_multiplier + m;
                        const int32_t cb = codebook_per_channel ? c * codebook_size : 0;
                        int32_t acc = 0;
                        if (position_bits == 0) {
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
                                    const int32_t f = read_bits(values, ((ky * filter_w + kx) * output_ch + c) * value_bits,
                                                                value_bits);
                                    const int32_t xv = (int32_t)input[((b * input_h + iy) * input_w + ix) * input_ch + i] - input_zp;
                                    acc += xv * weight_value(f, value_bits, codebook, cb);
                                }
                            }
                        } else {
                            const int32_t end = (c + 1) * taps;
                            while (entry < entries) {
                                const int32_t next = position + 1 + read_bits(positions, entry * position_bits, position_bits);
                                if (next >= end) {
                                    break;
                                }
                                position = next;
                                const int32_t t = position - c * taps;
                                const int32_t ky = t / filter_w;
                                const int32_t iy = iy0 + ky * dilation_h;
                                const int32_t ix = ix0 + (t - ky * filter_w) * dilation_w;
                                if (iy >= 0 && iy < input_h && ix >= 0 && ix < input_w) {
                                    const int32_t f = read_bits(values, entry * value_bits, value_bits);
                                    const int32_t xv = (int32_t)input[((b * input_h + iy) * input_w + ix) * input_ch + i] - input_zp;
                                    acc += xv * weight_value(f, value_bits, codebook, cb);
                                }
                                ++entry;
                            }
                        }
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
