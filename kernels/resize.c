/*
 * int8 RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR of an NHWC tensor: the C twins of resize.py,
 * whose docstring derives the arithmetic (TFLite's int8 reference, integer-only here).
 */
#include "microflat_kernels.h"

/* GetNearestNeighbor's float32 index: the product t * m (t = 2i + half_pixel_centers, < 2^41) rounded to
 * 24 significant bits, ties to even, as float32 rounds it; then floor, or round half up (value >= 0). */
static int32_t nearest_index(int32_t i, int32_t in_size, int32_t scale, int32_t shift, int32_t align_corners,
                             int32_t half_pixel_centers)
{
    int64_t n = ((int64_t)2 * i + half_pixel_centers) * scale;
    int32_t d = 0;
    while ((n >> d) >= ((int64_t)1 << 24)) {
        ++d;
    }
    if (d > 0) {
        int64_t q = n >> d;
        const int64_t r = n - (q << d);
        const int64_t half = (int64_t)1 << (d - 1);
        if (r > half || (r == half && (q & 1) != 0)) {
            ++q;
        }
        n = q << d;
    }
    const int64_t idx = align_corners ? (n + ((int64_t)1 << shift)) >> (shift + 1) : n >> (shift + 1);
    return idx > in_size - 1 ? in_size - 1 : (int32_t)idx; /* <= in_size - 1 < 2^16 */
}

void mf_resize_nearest_s8(int32_t batches, int32_t input_h, int32_t input_w, int32_t channels,
                       int32_t output_h, int32_t output_w, int32_t align_corners, int32_t half_pixel_centers,
                       int32_t scale_h, int32_t shift_h, int32_t scale_w, int32_t shift_w,
                       const int8_t *input, int8_t *output)
{
    int32_t o = 0;
    for (int32_t b = 0; b < batches; ++b) {
        for (int32_t y = 0; y < output_h; ++y) {
            const int32_t iy = nearest_index(y, input_h, scale_h, shift_h, align_corners, half_pixel_centers);
            const int32_t row = (b * input_h + iy) * input_w;
            for (int32_t x = 0; x < output_w; ++x) {
                const int32_t ix = nearest_index(x, input_w, scale_w, shift_w, align_corners, half_pixel_centers);
                const int8_t *src = input + (row + ix) * channels;
                for (int32_t c = 0; c < channels; ++c) {
                    output[o + c] = src[c];
                }
                o += channels;
            }
        }
    }
}

/* ComputeInterpolationValuesInteger: lo (clamped to in_size - 1 where TFLite reads past the input), hi and
 * the weight f of row hi, from TFLite's unclamped lo. s >= -2^9 and s + 1023 > 0, so shifts are C's division
 * wherever the max with 0 leaves it any effect. */
static void bilinear_axis(int32_t i, int32_t in_size, int32_t scale_10, int32_t half_pixel_centers,
                          int32_t *lo, int32_t *hi, int64_t *f)
{
    int64_t s = (int64_t)i * scale_10; /* < 2^26 + 2^15 */
    if (half_pixel_centers) {
        s += scale_10 / 2 - 512;
    }
    const int64_t l = s > 0 ? s >> 10 : 0;
    const int64_t h = (s + 1023) >> 10;
    *f = s - l * 1024;
    *hi = h > in_size - 1 ? in_size - 1 : (int32_t)h;
    *lo = l > in_size - 1 ? in_size - 1 : (int32_t)l;
}

void mf_resize_bilinear_s8(int32_t batches, int32_t input_h, int32_t input_w, int32_t channels,
                        int32_t output_h, int32_t output_w, int32_t half_pixel_centers,
                        int32_t scale_h, int32_t scale_w, const int8_t *input, int8_t *output)
{
    int32_t o = 0;
    for (int32_t b = 0; b < batches; ++b) {
        for (int32_t y = 0; y < output_h; ++y) {
            int32_t y0, y1;
            int64_t fy;
            bilinear_axis(y, input_h, scale_h, half_pixel_centers, &y0, &y1, &fy);
            const int32_t wy0 = (int32_t)(1024 - fy); /* (0, 1536] */
            const int32_t wy1 = (int32_t)fy;          /* [-512, 1024) */
            const int32_t row0 = (b * input_h + y0) * input_w;
            const int32_t row1 = (b * input_h + y1) * input_w;
            for (int32_t x = 0; x < output_w; ++x) {
                int32_t x0, x1;
                int64_t fx;
                bilinear_axis(x, input_w, scale_w, half_pixel_centers, &x0, &x1, &fx);
                /* |w00| + |w10| + |w01| + |w11| <= (|2^10 - f_y| + |f_y|) (|2^10 - f_x| + |f_x|) <= 2^22 */
                const int32_t w00 = wy0 * (int32_t)(1024 - fx);
                const int32_t w10 = wy1 * (int32_t)(1024 - fx);
                const int32_t w01 = wy0 * (int32_t)fx;
                const int32_t w11 = wy1 * (int32_t)fx;
                const int8_t *p00 = input + (row0 + x0) * channels;
                const int8_t *p10 = input + (row1 + x0) * channels;
                const int8_t *p01 = input + (row0 + x1) * channels;
                const int8_t *p11 = input + (row1 + x1) * channels;
                int8_t *out = output + o;
                for (int32_t c = 0; c < channels; ++c) {
                    /* |acc| <= 128 * 2^22 = 2^29, and so is every partial sum: int32 */
                    const int32_t acc = p00[c] * w00 + p10[c] * w10 + p01[c] * w01 + p11[c] * w11;
                    /* acc > 0: (acc + 2^19) >> 20; else -((2^19 - acc) >> 20) = (acc + 2^19 - 1) >> 20 (floors) */
                    out[c] = (int8_t)((acc + 524288 - (acc <= 0)) >> 20); /* in [-128, 127]: a convex combination */
                }
                o += channels;
            }
        }
    }
}
