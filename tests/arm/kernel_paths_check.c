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
 * Prints "kernel path NAME", then "cases N mismatches M" (and each mismatch);
 * exits 0 when M = 0. Built by tests/test_kernel_paths.py for a Cortex-M4
 * (semihosting) and for AArch64 Linux (qemu-aarch64).
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

/* uniform in [lo, hi] */
static int32_t between(int32_t lo, int32_t hi)
{
    return lo + (int32_t)(next() % (uint32_t)(hi - lo + 1));
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
    }
    say_number("cases ", 3 * CASES);
    say_number("mismatches ", mismatches);
    return mismatches == 0 ? 0 : 1;
}
