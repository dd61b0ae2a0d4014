/*
 * int8 average pool, max pool and mean over H, W, and average and max pool
 * on int16: the C twins of pooling.py, whose docstring derives the arithmetic.
 */
#include "elements.h"
#include "microflat_kernels.h"
#include "numerics.h"

static int32_t max_i32(int32_t a, int32_t b) { return a > b ? a : b; }
static int32_t min_i32(int32_t a, int32_t b) { return a < b ? a : b; }

/* acc / count rounded to nearest, ties away from zero; count > 0. */
static int32_t rounded_div_away_from_zero(int32_t acc, int32_t count)
{
    const int64_t t = acc > 0 ? (int64_t)acc + count / 2 : (int64_t)acc - count / 2;
    return (int32_t)(t / count); /* C99 division truncates toward zero; |t / count| <= |acc| */
}

/* The average pool's loops, written once for int8 and int16 (elements.h): the int32 window sum of one channel at
 * a time (|sum| <= 128 * taps for int8, 32768 * 65535 for int16's at most 65535 taps), divided rounding half away
 * from zero and clamped. */
static MF_ALWAYS_INLINE void average_pool2d(int32_t batches, int32_t input_h, int32_t input_w, int32_t channels,
                                            int32_t filter_h, int32_t filter_w, int32_t output_h, int32_t output_w,
                                            int32_t stride_h, int32_t stride_w, int32_t pad_top, int32_t pad_left,
                                            int32_t act_min, int32_t act_max, const void *input, void *output,
                                            int wide)
{
    for (int32_t b = 0; b < batches; ++b) {
        for (int32_t oy = 0; oy < output_h; ++oy) {
            const int32_t y0 = oy * stride_h - pad_top;
            const int32_t ky0 = max_i32(0, -y0), ky1 = min_i32(filter_h, input_h - y0);
            for (int32_t ox = 0; ox < output_w; ++ox) {
                const int32_t x0 = ox * stride_w - pad_left;
                const int32_t kx0 = max_i32(0, -x0), kx1 = min_i32(filter_w, input_w - x0);
                const int32_t count = max_i32(ky1 - ky0, 0) * max_i32(kx1 - kx0, 0);
                const int32_t out_base = ((b * output_h + oy) * output_w + ox) * channels;
                for (int32_t c = 0; c < channels; ++c) {
                    int32_t acc = 0;
                    for (int32_t ky = ky0; ky < ky1; ++ky) {
                        const int32_t row = ((b * input_h + y0 + ky) * input_w + x0) * channels + c;
                        for (int32_t kx = kx0; kx < kx1; ++kx) {
                            acc += load_element(input, row + kx * channels, wide);
                        }
                    }
                    const int32_t v = count > 0 ? rounded_div_away_from_zero(acc, count) : 0;
                    store_element(output, out_base + c, min_i32(max_i32(v, act_min), act_max), wide);
                }
            }
        }
    }
}

/* The max pool's loops, written once for int8 and int16; the running max starts at the clamp's floor, act_min,
 * which gives the clamped max of the window. */
static MF_ALWAYS_INLINE void max_pool2d(int32_t batches, int32_t input_h, int32_t input_w, int32_t channels,
                                        int32_t filter_h, int32_t filter_w, int32_t output_h, int32_t output_w,
                                        int32_t stride_h, int32_t stride_w, int32_t pad_top, int32_t pad_left,
                                        int32_t act_min, int32_t act_max, const void *input, void *output, int wide)
{
    for (int32_t b = 0; b < batches; ++b) {
        for (int32_t oy = 0; oy < output_h; ++oy) {
            const int32_t y0 = oy * stride_h - pad_top;
            const int32_t ky0 = max_i32(0, -y0), ky1 = min_i32(filter_h, input_h - y0);
            for (int32_t ox = 0; ox < output_w; ++ox) {
                const int32_t x0 = ox * stride_w - pad_left;
                const int32_t kx0 = max_i32(0, -x0), kx1 = min_i32(filter_w, input_w - x0);
                const int32_t out_base = ((b * output_h + oy) * output_w + ox) * channels;
                for (int32_t c = 0; c < channels; ++c) {
                    int32_t v = act_min;
                    for (int32_t ky = ky0; ky < ky1; ++ky) {
                        const int32_t row = ((b * input_h + y0 + ky) * input_w + x0) * channels + c;
                        for (int32_t kx = kx0; kx < kx1; ++kx) {
                            v = max_i32(v, load_element(input, row + kx * channels, wide));
                        }
                    }
                    store_element(output, out_base + c, min_i32(v, act_max), wide);
                }
            }
        }
    }
}

void mf_average_pool2d_s8(int32_t batches, int32_t input_h, int32_t input_w, int32_t channels,
                       int32_t filter_h, int32_t filter_w, int32_t output_h, int32_t output_w,
                       int32_t stride_h, int32_t stride_w, int32_t pad_top, int32_t pad_left,
                       int32_t act_min, int32_t act_max,
                       const int8_t *input, int8_t *output)
{
    average_pool2d(batches, input_h, input_w, channels, filter_h, filter_w, output_h, output_w, stride_h, stride_w,
                   pad_top, pad_left, act_min, act_max, input, output, 0);
}

void mf_max_pool2d_s8(int32_t batches, int32_t input_h, int32_t input_w, int32_t channels,
                   int32_t filter_h, int32_t filter_w, int32_t output_h, int32_t output_w,
                   int32_t stride_h, int32_t stride_w, int32_t pad_top, int32_t pad_left,
                   int32_t act_min, int32_t act_max,
                   const int8_t *input, int8_t *output)
{
    max_pool2d(batches, input_h, input_w, channels, filter_h, filter_w, output_h, output_w, stride_h, stride_w,
               pad_top, pad_left, act_min, act_max, input, output, 0);
}

void mf_mean_hw_s8(int32_t batches, int32_t input_h, int32_t input_w, int32_t channels,
                int32_t input_zp, int32_t output_zp, int32_t mult, int32_t shift,
                const int8_t *input, int8_t *output)
{
    const int32_t count = input_h * input_w;
    for (int32_t b = 0; b < batches; ++b) {
        for (int32_t c = 0; c < channels; ++c) {
            int32_t acc = 0; /* |acc| <= 255 * count < 2^31 */
            const int32_t base = b * count * channels + c;
            for (int32_t i = 0; i < count; ++i) {
                acc += (int32_t)input[base + i * channels] - input_zp;
            }
            const int32_t v = multiply_by_quantized_multiplier(acc, mult, shift);
            const int64_t y = (int64_t)rounded_div_away_from_zero(v, count) + output_zp;
            output[b * channels + c] = (int8_t)(y < -128 ? -128 : (y > 127 ? 127 : y));
        }
    }
}

/*
 * 16-bit activations (TFLite's 16x8 mode, reference_integer_ops::AveragePool / MaxPool on int16_t): the int8
 * kernels' arithmetic on int16 data. The caller keeps filter_h * filter_w <= 65535, so the int32 window sum
 * is at most 32768 * 65535 = 2^31 - 2^15 in magnitude.
 */
void mf_average_pool2d_s16(int32_t batches, int32_t input_h, int32_t input_w, int32_t channels,
                           int32_t filter_h, int32_t filter_w, int32_t output_h, int32_t output_w,
                           int32_t stride_h, int32_t stride_w, int32_t pad_top, int32_t pad_left,
                           int32_t act_min, int32_t act_max,
                           const int16_t *input, int16_t *output)
{
    average_pool2d(batches, input_h, input_w, channels, filter_h, filter_w, output_h, output_w, stride_h, stride_w,
                   pad_top, pad_left, act_min, act_max, input, output, 1);
}

void mf_max_pool2d_s16(int32_t batches, int32_t input_h, int32_t input_w, int32_t channels,
                       int32_t filter_h, int32_t filter_w, int32_t output_h, int32_t output_w,
                       int32_t stride_h, int32_t stride_w, int32_t pad_top, int32_t pad_left,
                       int32_t act_min, int32_t act_max,
                       const int16_t *input, int16_t *output)
{
    max_pool2d(batches, input_h, input_w, channels, filter_h, filter_w, output_h, output_w, stride_h, stride_w,
               pad_top, pad_left, act_min, act_max, input, output, 1);
}
