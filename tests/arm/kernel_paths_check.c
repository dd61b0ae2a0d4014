/*
 * The optimized inner loops this target selects (kernels/kernel_paths.h:
 * MF_COLUMN_DONE, MF_ROW_SUMS, MF_ROW_SUMS_X2, MF_DEPTHWISE_TAPS_X4) against
 * the portable C (row_dots.h, depthwise_taps.h) on random shapes: lengths
 * that are and are not multiples of the vector widths, odd channel counts,
 * unaligned weights and inputs; their int32 sums must be equal. And the
 * shared requantization pass (requantize.c: mf_requantize_rows), as this core's
 * compiler builds it, against requant_output one value at a time: both
 * requantization modes, random zero points and clamps. The portable C is
 * itself held to int64 references by the host tests, so agreement here is
 * the optimized paths' bit-exactness on this core.
 *
 * The 16x8 layers likewise: MF_ROW_DOT_S16, MF_ROW_DOTS_S16_X2 and
 * MF_DEPTHWISE_S16_TAPS_X2 against row_dots_s16.h and depthwise_taps_s16.h
 * (int16 activations with their edges, int8 weights, int64 accumulators that
 * start anywhere within the 16x8 bound, so that the sums cross the 32-bit
 * word boundary and zero), and the whole kernels mf_conv2d_s16,
 * mf_depthwise_conv2d_s16 and mf_fully_connected_s16, as this core's path
 * builds them, against direct int64 loops written here (random geometry:
 * padding, strides, dilations, groups, depth multipliers, odd channels).
 *
 * Prints "kernel path NAME", then "cases N mismatches M" (and each mismatch);
 * exits 0 when M = 0. Built by tests/test_kernel_paths.py for a Cortex-M4,
 * M7 and M55 (semihosting) and for AArch64 Linux (qemu-aarch64).
 */
#include <stdint.h>
#include <string.h>

#include "kernel_paths.h"
#include "microflat_kernels.h"
#include "numerics.h"

#if defined(__linux__)
#include <stdio.h>
static void say(const char *line)
{
    puts(line);
}
#else
#include "semihosting.h"
static void say(const char *line)
{
    semihosting_puts(line);
}
#endif

#define CASES 4000
#define KERNEL_CASES 1000 /* whole 16x8 layers, one of the three each */
#define MAX_LENGTH 80
#define MAX_ROWS 11

static uint32_t state = 0x9e3779b9u;

/* xorshift32 */
static uint32_t next(void)
{
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
}

/* uniform in [lo, hi], a range of at most 2^31 values (their count in uint32: hi - lo + 1 may exceed INT32_MAX) */
static int32_t between(int32_t lo, int32_t hi)
{
    const uint32_t count = (uint32_t)hi - (uint32_t)lo + 1u;
    return (int32_t)((uint32_t)lo + next() % count);
}

static void say_number(const char *label, uint32_t v)
{
    char line[48];
    char digits[12];
    int n = 0, i = 0;
    do {
        digits[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0u);
    while (label[i] != '\0' && i < 32) {
        line[i] = label[i];
        ++i;
    }
    while (n > 0) {
        line[i++] = digits[--n];
    }
    line[i] = '\0';
    say(line);
}

static int8_t rows[MAX_ROWS * MAX_LENGTH + 4];
static int32_t bias[MAX_ROWS];
static int32_t mult[MAX_ROWS];
static int8_t shift[MAX_ROWS];
static int16_t reference[2][MAX_LENGTH + 2] __attribute__((aligned(16)));
static int16_t columns[2 * (MAX_LENGTH + 2)] __attribute__((aligned(16)));
static int32_t got[2][MAX_ROWS], want[2][MAX_ROWS];
static int8_t got_out[2][MAX_ROWS], want_out[2][MAX_ROWS];
static int8_t image[7 * 7 * 16], filter[5 * 5 * 16];

/* One random row-sums case with one or two columns; 1 when the paths agree. */
static int row_sums_case(void)
{
    const int32_t length = between(1, MAX_LENGTH);
    const int32_t n_rows = between(1, MAX_ROWS);
    const int32_t first = between(0, n_rows - 1);
    const int32_t input_zp = between(-128, 127);
    const int32_t with_bias = between(0, 3) != 0;
    const int32_t offset = between(0, 3); /* the rows' misalignment */
    const int32_t stride = length + (length & 1);
    for (int32_t i = 0; i < n_rows * length; ++i) {
        rows[offset + i] = (int8_t)between(-128, 127);
    }
    for (int32_t c = 0; c < n_rows; ++c) {
        bias[c] = between(-100000, 100000);
    }
    for (int32_t j = 0; j < 2; ++j) {
        for (int32_t t = 0; t < length; ++t) {
            reference[j][t] = (int16_t)(between(-128, 127) - input_zp);
        }
        memcpy(columns + j * stride, reference[j], (size_t)length * sizeof(int16_t));
        MF_COLUMN_DONE(columns + j * stride, length, input_zp);
    }
    const int32_t *b = with_bias ? bias : 0;
    memset(got, 0, sizeof got);
    memset(want, 0, sizeof want);
    if (between(0, 1)) {
        row_sums_x2(reference[0], reference[1], length, rows + offset, first, n_rows, b, input_zp, want[0], want[1]);
        MF_ROW_SUMS_X2(columns, columns + stride, length, rows + offset, first, n_rows, b, input_zp, got[0], got[1]);
    } else {
        row_sums(reference[0], length, rows + offset, first, n_rows, b, input_zp, want[0]);
        MF_ROW_SUMS(columns, length, rows + offset, first, n_rows, b, input_zp, got[0]);
    }
    return memcmp(got, want, sizeof got) == 0;
}

/*
 * One random mf_requantize_rows case (the pass every path shares, compiled for this core: GCC may use SSAT)
 * against requant_output one accumulator at a time, fused and unfused multipliers alike.
 */
static int requantize_case(void)
{
    const int32_t n_rows = between(1, 2), end = between(1, MAX_ROWS), first = between(0, end - 1);
    const int32_t per_channel = between(0, 1), output_zp = between(-128, 127);
    int32_t act_min = between(0, 3) == 0 ? between(-128, 127) : -128;
    int32_t act_max = between(0, 3) == 0 ? between(-128, 127) : 127;
    if (act_min > act_max) {
        const int32_t t = act_min;
        act_min = act_max;
        act_max = t;
    }
    for (int32_t c = 0; c < MAX_ROWS; ++c) {
        mult[c] = between(0, 3) == 0 ? between(0, INT32_MAX) : between(1 << 30, INT32_MAX);
        shift[c] = (int8_t)between(-31, 2); /* 0 to 2: the unfused requantization */
        got[0][c] = got[1][c] = (int32_t)next();
        if (between(0, 1)) {
            got[0][c] >>= between(0, 31);
            got[1][c] >>= between(0, 31);
        }
    }
    memset(got_out, 0, sizeof got_out);
    memset(want_out, 0, sizeof want_out);
    mf_requantize_rows(got[0], MAX_ROWS, n_rows, first, end, mult, shift, per_channel, output_zp, act_min, act_max,
                    got_out[0], MAX_ROWS);
    for (int32_t r = 0; r < n_rows; ++r) {
        for (int32_t c = first; c < end; ++c) {
            want_out[r][c] = requant_output(got[r][c - first], channel_requant(mult, shift, per_channel, c),
                                            output_zp, act_min, act_max);
        }
    }
    return memcmp(got_out, want_out, sizeof got_out) == 0;
}

static int32_t taps_reference[DEPTHWISE_WORDS_PER_TAP * 25], taps_path[MF_DEPTHWISE_WORDS_PER_TAP * 25];

/*
 * One random depthwise-taps case: a block of four of 4..16 channels, a filter of up to 5 x 5 taps laid out
 * by each path, then either a whole window inside an image of up to 7 x 7 pixels (the folded run) or one
 * row's run of a border window whose corner may lie outside the image (the run with the zero point).
 */
static int depthwise_case(void)
{
    const int32_t channels = between(4, 16), c = between(0, channels - 4);
    const int32_t filter_h = between(1, 5), filter_w = between(1, 5);
    const int32_t height = between(filter_h, 7), width = between(filter_w, 7);
    const int32_t input_zp = between(-128, 127);
    for (int32_t i = 0; i < height * width * channels; ++i) {
        image[i] = (int8_t)between(-128, 127);
    }
    for (int32_t i = 0; i < filter_h * filter_w * channels; ++i) {
        filter[i] = (int8_t)between(-127, 127);
    }
    depthwise_weights_x4(taps_reference, filter + c, filter_h, filter_w, channels, width * channels, channels);
    MF_DEPTHWISE_WEIGHTS_X4(taps_path, filter + c, filter_h, filter_w, channels, width * channels, channels);
    int32_t want_acc[4], got_acc[4];
    for (int32_t j = 0; j < 4; ++j) {
        want_acc[j] = got_acc[j] = between(-100000, 100000);
    }
    if (between(0, 1)) {
        const int32_t iy0 = between(0, height - filter_h), ix0 = between(0, width - filter_w);
        const int32_t base = (iy0 * width + ix0) * channels + c;
        depthwise_taps_x4_folded(want_acc, image, base, taps_reference, filter_h * filter_w);
        MF_DEPTHWISE_TAPS_X4_FOLDED(got_acc, image, base, taps_path, filter_h * filter_w);
    } else {
        const int32_t ky = between(0, filter_h - 1), kx_lo = between(0, filter_w - 1);
        const int32_t kx_hi = between(kx_lo + 1, filter_w);
        const int32_t iy0 = between(-ky, height - 1 - ky), ix0 = between(-kx_lo, width - kx_hi);
        const int32_t base = (iy0 * width + ix0) * channels + c; /* may be negative */
        const int32_t tap = ky * filter_w + kx_lo;
        depthwise_taps_x4(want_acc, image, base, taps_reference + tap * DEPTHWISE_WORDS_PER_TAP, kx_hi - kx_lo,
                          input_zp);
        MF_DEPTHWISE_TAPS_X4(got_acc, image, base, taps_path + tap * MF_DEPTHWISE_WORDS_PER_TAP, kx_hi - kx_lo,
                             input_zp);
    }
    return memcmp(got_acc, want_acc, sizeof got_acc) == 0;
}

/* --- 16x8: int16 activations, int8 weights, int64 sums ---------------------------------------------------- */

/* An int16 activation: the edges, small values, or any. */
static int16_t draw_s16(void)
{
    switch (between(0, 5)) {
    case 0:
        return (int16_t)(between(0, 1) ? 32767 : -32768);
    case 1:
        return (int16_t)between(-300, 300);
    default:
        return (int16_t)between(-32768, 32767);
    }
}

/* A starting accumulator: near 0 (the sums then cross zero and the 32-bit boundary), or anywhere below 2^46. */
static int64_t draw_s64(void)
{
    if (between(0, 2) == 0) {
        return (int64_t)between(-100000, 100000);
    }
    const int64_t high = (int64_t)(int32_t)next() >> 17; /* |.| <= 2^14 */
    return high * ((int64_t)1 << 32) + (int64_t)next();
}

static int16_t x16[MAX_LENGTH + 4] __attribute__((aligned(16)));
static int8_t rows16[2 * MAX_LENGTH + 8];

/* One random row-dots case, one or two rows: lengths 1..80, unaligned activations and rows; 1 when they agree. */
static int row_dots_s16_case(void)
{
    const int32_t length = between(1, MAX_LENGTH);
    const int32_t x_offset = between(0, 1), w_offset = between(0, 3);
    const int32_t distance = between(length, length + 4); /* row 1 after row 0 */
    for (int32_t t = 0; t < length; ++t) {
        x16[x_offset + t] = draw_s16();
    }
    for (int32_t i = 0; i < distance + length; ++i) {
        rows16[w_offset + i] = (int8_t)between(-128, 127);
    }
    const int16_t *x = x16 + x_offset;
    const int8_t *w0 = rows16 + w_offset, *w1 = w0 + distance;
    int64_t want0 = draw_s64(), want1 = draw_s64();
    int64_t got0 = want0, got1 = want1;
    if (between(0, 1)) {
        row_dots_s16_x2(&want0, &want1, x, w0, w1, length);
        MF_ROW_DOTS_S16_X2(&got0, &got1, x, w0, w1, length);
    } else {
        row_dot_s16(&want0, x, w0, length);
        MF_ROW_DOT_S16(&got0, x, w0, length);
    }
    return got0 == want0 && got1 == want1;
}

static int16_t image16[7 * 7 * 16 + 2];
static int32_t taps16_reference[DEPTHWISE_S16_WORDS_PER_TAP * 25], taps16_path[MF_DEPTHWISE_S16_WORDS_PER_TAP * 25];

/*
 * One random 16x8 depthwise-taps case: a pair of 2..16 channels, a filter of up to 5 x 5 taps laid out by each
 * path, then a whole window inside an image of up to 7 x 7 pixels (one run of every tap) or one row's run of a
 * border window whose corner may lie outside the image.
 */
static int depthwise_s16_case(void)
{
    const int32_t channels = between(2, 16), c = between(0, channels - 2);
    const int32_t filter_h = between(1, 5), filter_w = between(1, 5);
    const int32_t height = between(filter_h, 7), width = between(filter_w, 7);
    const int16_t *image = image16 + between(0, 1); /* word-aligned or not */
    for (int32_t i = 0; i < height * width * channels; ++i) {
        image16[(image - image16) + i] = draw_s16();
    }
    for (int32_t i = 0; i < filter_h * filter_w * channels; ++i) {
        filter[i] = (int8_t)between(-127, 127);
    }
    depthwise_s16_weights_x2(taps16_reference, filter + c, filter_h, filter_w, channels, width * channels, channels);
    MF_DEPTHWISE_S16_WEIGHTS_X2(taps16_path, filter + c, filter_h, filter_w, channels, width * channels, channels);
    int64_t want_acc[2], got_acc[2];
    for (int32_t j = 0; j < 2; ++j) {
        want_acc[j] = got_acc[j] = draw_s64();
    }
    if (between(0, 1)) {
        const int32_t iy0 = between(0, height - filter_h), ix0 = between(0, width - filter_w);
        const int32_t base = (iy0 * width + ix0) * channels + c;
        depthwise_s16_taps_x2(want_acc, image, base, taps16_reference, filter_h * filter_w);
        MF_DEPTHWISE_S16_TAPS_X2(got_acc, image, base, taps16_path, filter_h * filter_w);
    } else {
        const int32_t ky = between(0, filter_h - 1), kx_lo = between(0, filter_w - 1);
        const int32_t kx_hi = between(kx_lo + 1, filter_w);
        const int32_t iy0 = between(-ky, height - 1 - ky), ix0 = between(-kx_lo, width - kx_hi);
        const int32_t base = (iy0 * width + ix0) * channels + c; /* may be negative */
        const int32_t tap = ky * filter_w + kx_lo;
        depthwise_s16_taps_x2(want_acc, image, base, taps16_reference + tap * DEPTHWISE_S16_WORDS_PER_TAP,
                              kx_hi - kx_lo);
        MF_DEPTHWISE_S16_TAPS_X2(got_acc, image, base, taps16_path + tap * MF_DEPTHWISE_S16_WORDS_PER_TAP,
                                 kx_hi - kx_lo);
    }
    return memcmp(got_acc, want_acc, sizeof got_acc) == 0;
}

/* --- whole 16x8 layers against direct int64 loops ------------------------------------------------------- */

#define LAYER_MAX_INPUT (2 * 6 * 6 * 8)
#define LAYER_MAX_FILTER (16 * 4 * 4 * 8)
#define LAYER_MAX_OUTPUT (2 * 8 * 8 * 16)
#define LAYER_MAX_CHANNELS 16

static int16_t layer_input[LAYER_MAX_INPUT + 1];
static int8_t layer_filter[LAYER_MAX_FILTER];
static int64_t layer_bias[LAYER_MAX_CHANNELS];
static int32_t layer_mult[LAYER_MAX_CHANNELS];
static int8_t layer_shift[LAYER_MAX_CHANNELS];
static int16_t layer_got[LAYER_MAX_OUTPUT], layer_want[LAYER_MAX_OUTPUT];

typedef struct {
    int32_t batches, input_h, input_w, input_ch, filter_h, filter_w, output_h, output_w, output_ch;
    int32_t groups, multiplier, stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
    int32_t per_channel, act_min, act_max, with_bias;
} layer_s16;

/* The requantization and clamp the 16x8 kernels share (numerics.h), of channel c's int64 sum. */
static int16_t layer_output(const layer_s16 *l, int64_t acc, int32_t c)
{
    const int32_t q = l->per_channel ? c : 0;
    return (int16_t)requantize_int64(acc, layer_mult[q], layer_shift[q], l->act_min, l->act_max);
}

/* Random weights (whose absolute sums bound the bias), multipliers and clamp for `channels` output channels. */
static void draw_layer_parameters(layer_s16 *l, int32_t channels, int32_t weights_per_channel)
{
    for (int32_t i = 0; i < channels * weights_per_channel; ++i) {
        layer_filter[i] = (int8_t)(between(0, 7) == 0 ? (between(0, 1) ? 127 : -127) : between(-127, 127));
    }
    for (int32_t c = 0; c < channels; ++c) {
        layer_bias[c] = between(0, 3) == 0 ? draw_s64() : (int64_t)between(-1000000, 1000000);
        layer_mult[c] = between(0, 3) == 0 ? between(0, INT32_MAX) : between(1 << 30, INT32_MAX);
        layer_shift[c] = (int8_t)between(-31, 7);
    }
    l->per_channel = between(0, 1);
    l->with_bias = between(0, 3) != 0;
    l->act_min = between(0, 2) == 0 ? between(-32768, 0) : -32768;
    l->act_max = between(0, 2) == 0 ? between(0, 32767) : 32767;
}

/* Spatial geometry: a window of up to 4 x 4 taps over an image of up to 6 x 6, any padding, stride, dilation. */
static void draw_layer_geometry(layer_s16 *l)
{
    l->batches = between(1, 2);
    l->input_h = between(1, 6);
    l->input_w = between(1, 6);
    l->filter_h = between(1, 4);
    l->filter_w = between(1, 4);
    l->stride_h = between(1, 3);
    l->stride_w = between(1, 3);
    l->dilation_h = between(1, 2);
    l->dilation_w = between(1, 2);
    l->pad_top = between(0, (l->filter_h - 1) * l->dilation_h);
    l->pad_left = between(0, (l->filter_w - 1) * l->dilation_w);
    l->output_h = between(1, 8);
    l->output_w = between(1, 8);
}

static void draw_layer_input(const layer_s16 *l, const int16_t *input)
{
    for (int32_t i = 0; i < l->batches * l->input_h * l->input_w * l->input_ch; ++i) {
        layer_input[(input - layer_input) + i] = draw_s16();
    }
}

/* The tap (iy, ix) of the layer's input, or -1 outside the image. */
static int32_t layer_pixel(const layer_s16 *l, int32_t b, int32_t iy, int32_t ix)
{
    if (iy < 0 || iy >= l->input_h || ix < 0 || ix >= l->input_w) {
        return -1;
    }
    return (b * l->input_h + iy) * l->input_w + ix;
}

static int conv2d_s16_case(void)
{
    layer_s16 l;
    draw_layer_geometry(&l);
    l.groups = between(1, 3);
    l.input_ch = l.groups * between(1, 8 / l.groups);
    l.output_ch = l.groups * between(1, 16 / l.groups);
    const int32_t cin_g = l.input_ch / l.groups, cout_g = l.output_ch / l.groups;
    const int16_t *input = layer_input + between(0, 1);
    draw_layer_input(&l, input);
    draw_layer_parameters(&l, l.output_ch, l.filter_h * l.filter_w * cin_g);
    const int64_t *bias = l.with_bias ? layer_bias : 0;
    for (int32_t b = 0; b < l.batches; ++b) {
        for (int32_t oy = 0; oy < l.output_h; ++oy) {
            for (int32_t ox = 0; ox < l.output_w; ++ox) {
                for (int32_t c = 0; c < l.output_ch; ++c) {
                    const int32_t g = c / cout_g;
                    int64_t acc = bias != 0 ? bias[c] : 0;
                    for (int32_t ky = 0; ky < l.filter_h; ++ky) {
                        for (int32_t kx = 0; kx < l.filter_w; ++kx) {
                            const int32_t p = layer_pixel(&l, b, oy * l.stride_h - l.pad_top + ky * l.dilation_h,
                                                          ox * l.stride_w - l.pad_left + kx * l.dilation_w);
                            for (int32_t i = 0; i < cin_g && p >= 0; ++i) {
                                acc += (int64_t)input[p * l.input_ch + g * cin_g + i] *
                                       layer_filter[((c * l.filter_h + ky) * l.filter_w + kx) * cin_g + i];
                            }
                        }
                    }
                    layer_want[((b * l.output_h + oy) * l.output_w + ox) * l.output_ch + c] = layer_output(&l, acc, c);
                }
            }
        }
    }
    mf_conv2d_s16(l.batches, l.input_h, l.input_w, l.input_ch, l.filter_h, l.filter_w, l.output_h, l.output_w,
                  l.output_ch, l.groups, l.stride_h, l.stride_w, l.dilation_h, l.dilation_w, l.pad_top, l.pad_left,
                  layer_mult, layer_shift, l.per_channel, l.act_min, l.act_max, input, layer_filter, bias, layer_got);
    const size_t n = (size_t)(l.batches * l.output_h * l.output_w * l.output_ch);
    return memcmp(layer_got, layer_want, n * sizeof(int16_t)) == 0;
}

static int depthwise_conv2d_s16_case(void)
{
    layer_s16 l;
    draw_layer_geometry(&l);
    l.multiplier = between(0, 2) == 0 ? between(2, 3) : 1;
    l.input_ch = between(1, 16 / l.multiplier < 8 ? 16 / l.multiplier : 8);
    l.output_ch = l.input_ch * l.multiplier;
    const int16_t *input = layer_input + between(0, 1);
    draw_layer_input(&l, input);
    draw_layer_parameters(&l, l.output_ch, l.filter_h * l.filter_w);
    /* draw_layer_parameters drew channel-major; the depthwise filter is [1, filter_h, filter_w, output_ch] */
    const int64_t *bias = l.with_bias ? layer_bias : 0;
    for (int32_t b = 0; b < l.batches; ++b) {
        for (int32_t oy = 0; oy < l.output_h; ++oy) {
            for (int32_t ox = 0; ox < l.output_w; ++ox) {
                for (int32_t c = 0; c < l.output_ch; ++c) {
                    int64_t acc = bias != 0 ? bias[c] : 0;
                    for (int32_t ky = 0; ky < l.filter_h; ++ky) {
                        for (int32_t kx = 0; kx < l.filter_w; ++kx) {
                            const int32_t p = layer_pixel(&l, b, oy * l.stride_h - l.pad_top + ky * l.dilation_h,
                                                          ox * l.stride_w - l.pad_left + kx * l.dilation_w);
                            if (p >= 0) {
                                acc += (int64_t)input[p * l.input_ch + c / l.multiplier] *
                                       layer_filter[(ky * l.filter_w + kx) * l.output_ch + c];
                            }
                        }
                    }
                    layer_want[((b * l.output_h + oy) * l.output_w + ox) * l.output_ch + c] = layer_output(&l, acc, c);
                }
            }
        }
    }
    mf_depthwise_conv2d_s16(l.batches, l.input_h, l.input_w, l.input_ch, l.filter_h, l.filter_w, l.output_h,
                            l.output_w, l.multiplier, l.stride_h, l.stride_w, l.dilation_h, l.dilation_w, l.pad_top,
                            l.pad_left, layer_mult, layer_shift, l.per_channel, l.act_min, l.act_max, input,
                            layer_filter, bias, layer_got);
    const size_t n = (size_t)(l.batches * l.output_h * l.output_w * l.output_ch);
    return memcmp(layer_got, layer_want, n * sizeof(int16_t)) == 0;
}

static int fully_connected_s16_case(void)
{
    layer_s16 l;
    l.batches = between(1, 3);
    l.input_ch = between(1, 90); /* the input features */
    l.output_ch = between(1, 9);
    const int16_t *input = layer_input + between(0, 1);
    for (int32_t i = 0; i < l.batches * l.input_ch; ++i) {
        layer_input[(input - layer_input) + i] = draw_s16();
    }
    draw_layer_parameters(&l, l.output_ch, l.input_ch);
    const int64_t *bias = l.with_bias ? layer_bias : 0;
    for (int32_t b = 0; b < l.batches; ++b) {
        for (int32_t o = 0; o < l.output_ch; ++o) {
            int64_t acc = bias != 0 ? bias[o] : 0;
            for (int32_t k = 0; k < l.input_ch; ++k) {
                acc += (int64_t)input[b * l.input_ch + k] * layer_filter[o * l.input_ch + k];
            }
            layer_want[b * l.output_ch + o] = layer_output(&l, acc, o);
        }
    }
    mf_fully_connected_s16(l.batches, l.input_ch, l.output_ch, layer_mult, layer_shift, l.per_channel, l.act_min,
                           l.act_max, input, layer_filter, bias, layer_got);
    return memcmp(layer_got, layer_want, (size_t)(l.batches * l.output_ch) * sizeof(int16_t)) == 0;
}

int main(void)
{
    uint32_t mismatches = 0;
    say("kernel path " MF_KERNEL_PATH);
    for (uint32_t k = 0; k < CASES; ++k) {
        if (!row_sums_case()) {
            say_number("row sums mismatch in case ", k);
            ++mismatches;
        }
        if (!requantize_case()) {
            say_number("requantization mismatch in case ", k);
            ++mismatches;
        }
        if (!depthwise_case()) {
            say_number("depthwise mismatch in case ", k);
            ++mismatches;
        }
        if (!row_dots_s16_case()) {
            say_number("16x8 row dots mismatch in case ", k);
            ++mismatches;
        }
        if (!depthwise_s16_case()) {
            say_number("16x8 depthwise mismatch in case ", k);
            ++mismatches;
        }
    }
    for (uint32_t k = 0; k < KERNEL_CASES; ++k) {
        static int (*const layers[3])(void) = {conv2d_s16_case, depthwise_conv2d_s16_case, fully_connected_s16_case};
        static const char *const names[3] = {"16x8 conv mismatch in case ", "16x8 dw layer mismatch in case ",
                                             "16x8 fc layer mismatch in case "};
        const uint32_t which = k % 3u;
        if (!layers[which]()) {
            say_number(names[which], k);
            ++mismatches;
        }
    }
    say_number("cases ", 5 * CASES + KERNEL_CASES);
    say_number("mismatches ", mismatches);
    return mismatches == 0 ? 0 : 1;
}
