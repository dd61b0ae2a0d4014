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
 * The 8x8_16 LSTM's gate rows likewise: MF_ROW_DOTS_S8_X4 (an int8 vector read
 * in place against four int8 rows, int32 sums) against row_dots_s8.h, with
 * int8 edges, unaligned vectors and rows, and accumulators that start
 * anywhere within the LSTM's bound; and the whole LSTM kernels,
 * mf_lstm_8x8_16 and mf_lstm_16x8 as this core's path builds them, against
 * references written here (the per-cell arithmetic on the shared numerics
 * helpers, each gate's dot products as direct loops) on random small
 * shapes, weights, biases, multipliers and shifts within the kernels'
 * contracts (kernels/lstm.py, kernels/lstm_16x8.py).
 *
 * Prints "kernel path NAME", then "cases N mismatches M" (and each mismatch);
 * exits 0 when M = 0. Built by tests/test_kernel_paths.py for a Cortex-M4,
 * M7 and M55 (semihosting) and for AArch64 Linux (qemu-aarch64).
 */
#include <stdint.h>
#include <string.h>

#include "activations_s16.h"
#include "fixed_point16.h"
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
#define LSTM_CASES 1000   /* whole LSTMs of each form */
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

/* --- the 8x8_16 LSTM's gate rows: an int8 vector against four int8 rows, int32 sums ---------------------- */

/* The LSTM's accumulator rule (kernels/lstm.py): every row's (|bias| + 128 sum|w|) 2^max(shift, 0) <= this. */
#define LSTM_ACCUMULATOR_LIMIT (INT32_MAX - 32768)
#define MAX_ROW_STEP (MAX_LENGTH + 7)

static int8_t x8[MAX_LENGTH + 4];
static int8_t rows8[3 * MAX_ROW_STEP + MAX_LENGTH + 4];

/* An int8 value in [lo, 127]: an edge (lo or 127) one time in four, else any. */
static int8_t draw_s8(int32_t lo)
{
    if (between(0, 3) == 0) {
        return (int8_t)(between(0, 1) ? 127 : lo);
    }
    return (int8_t)between(lo, 127);
}

/* A magnitude in [0, room]: small, room itself (the bound's edge), or any. */
static int32_t draw_room(int32_t room)
{
    switch (between(0, 2)) {
    case 0:
        return between(0, room < 100000 ? room : 100000);
    case 1:
        return room;
    default:
        return between(0, room);
    }
}

/*
 * One random MF_ROW_DOTS_S8_X4 case against row_dots_s8_x4: lengths 1..80, x and rows at any byte offset, rows
 * length..length + 7 bytes apart, int8 edges (-128 too: the primitive's bound holds for |w| <= 128), each
 * accumulator starting anywhere that leaves its row's products room: |acc| + 128 sum|w| <= the LSTM's limit.
 */
static int row_dots_s8_case(void)
{
    const int32_t length = between(1, MAX_LENGTH);
    const int32_t row_step = between(length, length + 7);
    int8_t *x = x8 + between(0, 3), *rows = rows8 + between(0, 3); /* at any byte offset */
    for (int32_t t = 0; t < length; ++t) {
        x[t] = draw_s8(-128);
    }
    for (int32_t i = 0; i < 3 * row_step + length; ++i) {
        rows[i] = draw_s8(-128);
    }
    int32_t want[4], got[4];
    for (int32_t j = 0; j < 4; ++j) {
        int32_t weight_sum = 0;
        for (int32_t t = 0; t < length; ++t) {
            const int32_t w = rows[j * row_step + t];
            weight_sum += w < 0 ? -w : w;
        }
        const int32_t magnitude = draw_room(LSTM_ACCUMULATOR_LIMIT - 128 * weight_sum);
        want[j] = got[j] = between(0, 1) ? magnitude : -magnitude;
    }
    row_dots_s8_x4(want, x, rows, row_step, length);
    MF_ROW_DOTS_S8_X4(got, x, rows, row_step, length);
    return memcmp(got, want, sizeof got) == 0;
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
    mf_fully_connected_s16(l.batches, l.input_ch, l.output_ch, layer_mult, layer_shift, l.per_channel, 0,
                           l.act_min, l.act_max, input, layer_filter, bias, layer_got);
    return memcmp(layer_got, layer_want, (size_t)(l.batches * l.output_ch) * sizeof(int16_t)) == 0;
}

/* --- whole LSTMs against references written here ------------------------------------------------------- */

#define LSTM_MAX_STEPS 4
#define LSTM_MAX_INPUT 20
#define LSTM_MAX_CELLS 12
#define LSTM_MAX_ROWS (4 * LSTM_MAX_CELLS)

static int8_t lstm_wx[LSTM_MAX_ROWS * LSTM_MAX_INPUT + 4], lstm_wh[LSTM_MAX_ROWS * LSTM_MAX_CELLS + 4];
static int32_t lstm_bx[LSTM_MAX_ROWS], lstm_bh[LSTM_MAX_ROWS];
static int64_t lstm_bias64[LSTM_MAX_ROWS];
static int32_t lstm_mult[8];
static int8_t lstm_shift[8];
static int8_t lstm_x8[LSTM_MAX_STEPS * LSTM_MAX_INPUT];
static int16_t lstm_x16[LSTM_MAX_STEPS * LSTM_MAX_INPUT + 1];
static int8_t lstm_h8[2][LSTM_MAX_CELLS], lstm_out8[2][LSTM_MAX_STEPS * LSTM_MAX_CELLS];
static int16_t lstm_h16[2][LSTM_MAX_CELLS], lstm_out16[2][LSTM_MAX_STEPS * LSTM_MAX_CELLS];
static int16_t lstm_c[2][LSTM_MAX_CELLS];

/* Everything an LSTM case passes besides the arrays (the 8x8_16 form has no forget and input products). */
typedef struct {
    int32_t steps, input_size, cells;
    int32_t forget_mult, forget_shift, input_mult, input_shift, hidden_mult, hidden_shift, hidden_zp;
    int32_t cell_exponent, cell_clip;
} lstm_shape;

static void draw_lstm_shape(lstm_shape *l)
{
    l->steps = between(1, LSTM_MAX_STEPS);
    l->input_size = between(1, LSTM_MAX_INPUT);
    l->cells = between(1, LSTM_MAX_CELLS);
    l->cell_clip = between(0, 1) ? 0 : between(1, 32767);
}

/* A Q31 multiplier: any in [0, 2^31 - 1] one time in four, else a normalized one, [2^30, 2^31 - 1]. */
static int32_t draw_multiplier(void)
{
    return between(0, 3) == 0 ? between(0, INT32_MAX) : between(1 << 30, INT32_MAX);
}

/* A weight of a gate matrix (symmetric: no -128), its edges one time in four. */
static int8_t draw_lstm_weight(void)
{
    return draw_s8(-127);
}

/*
 * One side (input or recurrent: `k` values a row) of an 8x8_16 LSTM: weights [4, C, k], effective biases
 * [4, C] and the side's four (mult, shift), within the accumulator rule (|bias| + 128 sum|w|) 2^max(shift, 0)
 * <= 2^31 - 1 - 2^15: a bias small or up to its row's room; the shift mostly where the gates' Q3.12 values are
 * neither all saturated nor all 0, else anywhere in [-31, the largest the rule allows] (at most 30).
 */
static void draw_lstm_8x8_16_side(int8_t *w, int32_t *b, int32_t *mult, int8_t *shift, int32_t cells, int32_t k)
{
    for (int32_t g = 0; g < 4; ++g) {
        const int32_t large_biases = between(0, 7) == 0;
        int32_t bound = 0; /* the gate's largest |bias| + 128 sum|w| */
        for (int32_t r = 0; r < cells; ++r) {
            int32_t weight_sum = 0;
            for (int32_t i = 0; i < k; ++i) {
                const int8_t v = draw_lstm_weight();
                w[(g * cells + r) * k + i] = v;
                weight_sum += v < 0 ? -v : v;
            }
            const int32_t room = LSTM_ACCUMULATOR_LIMIT - 128 * weight_sum;
            const int32_t magnitude = large_biases ? draw_room(room) : between(0, 100000);
            b[g * cells + r] = between(0, 1) ? magnitude : -magnitude;
            bound = magnitude + 128 * weight_sum > bound ? magnitude + 128 * weight_sum : bound;
        }
        int32_t most = 0; /* the largest left shift the rule allows */
        while (most < 30 && ((int64_t)bound << (most + 1)) <= LSTM_ACCUMULATOR_LIMIT) {
            ++most;
        }
        shift[g] = (int8_t)(between(0, 3) == 0 ? between(-31, most) : between(-6, most < 2 ? most : 2));
        mult[g] = draw_multiplier();
    }
}

/* TFLite's 8x8_16 LSTM (kernels/lstm.py's docstring), step by step and cell by cell, gate by gate. */
static void lstm_8x8_16_reference(const lstm_shape *l, const int8_t *input, const int8_t *wx, const int8_t *wh,
                                  int8_t *hidden_state, int16_t *cell_state, int8_t *output)
{
    const int32_t cells = l->cells, n = l->input_size;
    for (int32_t t = 0; t < l->steps; ++t) {
        const int8_t *x = input + t * n;
        int8_t *out = output + t * cells;
        for (int32_t r = 0; r < cells; ++r) {
            int32_t pre[4];
            for (int32_t g = 0; g < 4; ++g) {
                const int32_t row = g * cells + r;
                int32_t from_input = lstm_bx[row], from_state = lstm_bh[row];
                for (int32_t k = 0; k < n; ++k) {
                    from_input += x[k] * wx[row * n + k];
                }
                for (int32_t k = 0; k < cells; ++k) {
                    from_state += hidden_state[k] * wh[row * cells + k];
                }
                const int32_t a = saturate_int16(multiply_by_quantized_multiplier(from_input, lstm_mult[g],
                                                                                  lstm_shift[g]));
                pre[g] = saturate_int16(
                    multiply_by_quantized_multiplier(from_state, lstm_mult[4 + g], lstm_shift[4 + g]) + a);
            }
            const int32_t i = logistic_fixed16(pre[0], 3), f = logistic_fixed16(pre[1], 3);
            const int32_t g = tanh_fixed16(pre[2], 3), o = logistic_fixed16(pre[3], 3);
            int32_t c = saturate_int16(rounding_divide_by_pot(f * cell_state[r], 15) +
                                       rounding_divide_by_pot(i * g, 30 + l->cell_exponent));
            if (l->cell_clip > 0) {
                c = c > l->cell_clip ? l->cell_clip : (c < -l->cell_clip ? -l->cell_clip : c);
            }
            cell_state[r] = (int16_t)c;
            const int32_t h = multiply_by_quantized_multiplier(o * tanh_fixed16(c, 15 + l->cell_exponent),
                                                               l->hidden_mult, l->hidden_shift) + l->hidden_zp;
            out[r] = (int8_t)(h < -128 ? -128 : (h > 127 ? 127 : h));
        }
        memcpy(hidden_state, out, (size_t)cells);
    }
}

/* One random 8x8_16 LSTM: mf_lstm_8x8_16 as this core's path builds it against lstm_8x8_16_reference. */
static int lstm_8x8_16_case(void)
{
    lstm_shape l;
    draw_lstm_shape(&l);
    int8_t *wx = lstm_wx + between(0, 3), *wh = lstm_wh + between(0, 3); /* at any byte offset */
    draw_lstm_8x8_16_side(wx, lstm_bx, lstm_mult, lstm_shift, l.cells, l.input_size);
    draw_lstm_8x8_16_side(wh, lstm_bh, lstm_mult + 4, lstm_shift + 4, l.cells, l.cells);
    l.hidden_mult = draw_multiplier();
    l.hidden_shift = between(0, 3) == 0 ? between(-31, 0) : between(-24, -20); /* 2^-30 / s_h, s_h near 2^-8 */
    l.hidden_zp = between(-128, 127);
    l.cell_exponent = between(-15, -9);
    for (int32_t i = 0; i < l.steps * l.input_size; ++i) {
        lstm_x8[i] = draw_s8(-128);
    }
    for (int32_t r = 0; r < l.cells; ++r) {
        lstm_h8[0][r] = lstm_h8[1][r] = draw_s8(-128);
        lstm_c[0][r] = lstm_c[1][r] = (int16_t)between(-32768, 32767);
    }
    lstm_8x8_16_reference(&l, lstm_x8, wx, wh, lstm_h8[0], lstm_c[0], lstm_out8[0]);
    mf_lstm_8x8_16(l.steps, l.input_size, l.cells, lstm_mult, lstm_shift, l.hidden_mult, l.hidden_shift,
                   l.hidden_zp, l.cell_exponent, l.cell_clip, lstm_x8, wx, wh, lstm_bx, lstm_bh, lstm_h8[1],
                   lstm_c[1], lstm_out8[1]);
    const size_t cells = (size_t)l.cells;
    return memcmp(lstm_out8[0], lstm_out8[1], (size_t)l.steps * cells) == 0 &&
           memcmp(lstm_h8[0], lstm_h8[1], cells) == 0 && memcmp(lstm_c[0], lstm_c[1], cells * sizeof(int16_t)) == 0;
}

/*
 * One side of a 16x8 LSTM: weights [4, C, k], biases [4, C] (b: the input side; the recurrent one has none)
 * small or up to the rule |bias| + 2^15 sum|w| <= 2^47 - 1, and the side's four (mult, shift), the shift in
 * [-31, 7], mostly where the Q3.12 gates take all their values.
 */
static void draw_lstm_16x8_side(int8_t *w, int64_t *b, int32_t *mult, int8_t *shift, int32_t cells, int32_t k)
{
    for (int32_t g = 0; g < 4; ++g) {
        const int32_t large_biases = between(0, 7) == 0;
        for (int32_t r = 0; r < cells; ++r) {
            int64_t weight_sum = 0;
            for (int32_t i = 0; i < k; ++i) {
                const int8_t v = draw_lstm_weight();
                w[(g * cells + r) * k + i] = v;
                weight_sum += v < 0 ? -v : v;
            }
            if (b != 0) {
                const int64_t room = (((int64_t)1 << 47) - 1) - ((int64_t)1 << 15) * weight_sum;
                int64_t magnitude = between(0, 1000000);
                if (large_biases) {
                    const int64_t any = ((int64_t)(next() & 0xFFFFu) << 32) | (int64_t)next(); /* [0, 2^48) */
                    magnitude = between(0, 1) ? room : any % (room + 1);
                }
                b[g * cells + r] = between(0, 1) ? magnitude : -magnitude;
            }
        }
        shift[g] = (int8_t)(between(0, 3) == 0 ? between(-31, 7) : between(-12, 0));
        mult[g] = draw_multiplier();
    }
}

/* TFLite Micro's 16x8 LSTM (kernels/lstm_16x8.py's docstring), step by step and cell by cell, gate by gate. */
static void lstm_16x8_reference(const lstm_shape *l, const int16_t *input, const int8_t *wx, const int8_t *wh,
                                int16_t *hidden_state, int16_t *cell_state, int16_t *output)
{
    const int32_t cells = l->cells, n = l->input_size;
    int32_t tanh_mult = 0, tanh_shift = 12 + l->cell_exponent; /* (15 + p) - 3: the LUT's power-of-two path */
    if (tanh_shift < 0) {
        tanh_mult = 3;
        tanh_shift = -tanh_shift;
    }
    for (int32_t t = 0; t < l->steps; ++t) {
        const int16_t *x = input + t * n;
        int16_t *out = output + t * cells;
        for (int32_t r = 0; r < cells; ++r) {
            int32_t pre[4];
            for (int32_t g = 0; g < 4; ++g) {
                const int32_t row = g * cells + r;
                int64_t from_input = lstm_bias64[row], from_state = 0;
                for (int32_t k = 0; k < n; ++k) {
                    from_input += x[k] * wx[row * n + k];
                }
                for (int32_t k = 0; k < cells; ++k) {
                    from_state += hidden_state[k] * wh[row * cells + k];
                }
                pre[g] = saturate_int16(requantize_int64(from_input, lstm_mult[g], lstm_shift[g], -32768, 32767) +
                                        requantize_int64(from_state, lstm_mult[4 + g], lstm_shift[4 + g], -32768,
                                                         32767));
            }
            const int32_t i = mf_logistic_s16_element((int16_t)pre[0], 0, 0);
            const int32_t f = mf_logistic_s16_element((int16_t)pre[1], 0, 0);
            const int32_t g = mf_tanh_s16_element((int16_t)pre[2], 0, 0);
            const int32_t o = mf_logistic_s16_element((int16_t)pre[3], 0, 0);
            int32_t c = saturate_int16(
                saturate_int16(multiply_by_quantized_multiplier(f * cell_state[r], l->forget_mult, l->forget_shift)) +
                saturate_int16(multiply_by_quantized_multiplier(i * g, l->input_mult, l->input_shift)));
            if (l->cell_clip > 0) {
                c = c > l->cell_clip ? l->cell_clip : (c < -l->cell_clip ? -l->cell_clip : c);
            }
            cell_state[r] = (int16_t)c;
            const int32_t product = mf_tanh_s16_element((int16_t)c, tanh_mult, tanh_shift) * o;
            out[r] = (int16_t)saturate_int16(multiply_by_quantized_multiplier(product, l->hidden_mult,
                                                                              l->hidden_shift));
        }
        memcpy(hidden_state, out, (size_t)cells * sizeof(int16_t));
    }
}

/* One random 16x8 LSTM: mf_lstm_16x8 as this core's path builds it against lstm_16x8_reference. */
static int lstm_16x8_case(void)
{
    lstm_shape l;
    draw_lstm_shape(&l);
    int8_t *wx = lstm_wx + between(0, 3), *wh = lstm_wh + between(0, 3); /* at any byte offset */
    int16_t *input = lstm_x16 + between(0, 1);                             /* word-aligned or not */
    draw_lstm_16x8_side(wx, lstm_bias64, lstm_mult, lstm_shift, l.cells, l.input_size);
    draw_lstm_16x8_side(wh, 0, lstm_mult + 4, lstm_shift + 4, l.cells, l.cells);
    l.cell_exponent = between(-29, 2);
    if (between(0, 1)) { /* lstm_16x8.cell_product_multipliers: what the loaders derive from the cell scale */
        l.forget_mult = 1 << 30;
        l.forget_shift = -14;
        l.input_mult = 1 << 30;
        l.input_shift = -29 - l.cell_exponent;
    } else { /* anywhere in the kernel's domain: shifts <= 0 */
        l.forget_mult = draw_multiplier();
        l.forget_shift = between(-31, 0);
        l.input_mult = draw_multiplier();
        l.input_shift = between(-31, 0);
    }
    l.hidden_mult = draw_multiplier();
    l.hidden_shift = between(0, 3) == 0 ? between(-31, 0) : between(-18, -12); /* 2^-30 / s_h, s_h near 2^-15 */
    for (int32_t i = 0; i < l.steps * l.input_size; ++i) {
        input[i] = draw_s16();
    }
    for (int32_t r = 0; r < l.cells; ++r) {
        lstm_h16[0][r] = lstm_h16[1][r] = draw_s16();
        lstm_c[0][r] = lstm_c[1][r] = (int16_t)between(-32768, 32767);
    }
    lstm_16x8_reference(&l, input, wx, wh, lstm_h16[0], lstm_c[0], lstm_out16[0]);
    mf_lstm_16x8(l.steps, l.input_size, l.cells, lstm_mult, lstm_shift, l.forget_mult, l.forget_shift, l.input_mult,
                 l.input_shift, l.hidden_mult, l.hidden_shift, l.cell_exponent, l.cell_clip, input, wx, wh,
                 lstm_bias64, lstm_h16[1], lstm_c[1], lstm_out16[1]);
    const size_t cells = (size_t)l.cells;
    return memcmp(lstm_out16[0], lstm_out16[1], (size_t)l.steps * cells * sizeof(int16_t)) == 0 &&
           memcmp(lstm_h16[0], lstm_h16[1], cells * sizeof(int16_t)) == 0 &&
           memcmp(lstm_c[0], lstm_c[1], cells * sizeof(int16_t)) == 0;
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
        if (!row_dots_s8_case()) {
            say_number("int8 row dots mismatch in case ", k);
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
    for (uint32_t k = 0; k < LSTM_CASES; ++k) {
        if (!lstm_8x8_16_case()) {
            say_number("8x8_16 LSTM mismatch in case ", k);
            ++mismatches;
        }
        if (!lstm_16x8_case()) {
            say_number("16x8 LSTM mismatch in case ", k);
            ++mismatches;
        }
    }
    say_number("cases ", 6 * CASES + KERNEL_CASES + 2 * LSTM_CASES);
    say_number("mismatches ", mismatches);
    return mismatches == 0 ? 0 : 1;
}
