/*
 * int8 depthwise convolution, the C twin of depthwise_conv2d.py (whose
 * docstring derives the arithmetic). Direct loops; output channel
 * c = i * depth_multiplier + m reads input channel i. No scratch.
 */
#include "kernel_paths.h"
#include "microflat_kernels.h"
#include "numerics.h"
#include "valid_taps.h"
#include "weight_encoding.h"

int64_t mf_depthwise_conv2d_s8_scratch_bytes(int32_t input_ch, int32_t filter_h, int32_t filter_w,
                                          int32_t depth_multiplier)
{
    (void)input_ch;
    (void)filter_h;
    (void)filter_w;
    (void)depth_multiplier;
    return 0;
}

/* The output columns whose windows' columns all lie inside the input: [*lo, *hi), empty when none. */
static void inside_columns(int32_t output_w, int32_t stride_w, int32_t pad_left, int32_t dilation_w,
                           int32_t filter_w, int32_t input_w, int32_t *lo, int32_t *hi)
{
    int32_t inside_lo = 0, inside_hi = 0;
    for (int32_t ox = 0; ox < output_w; ++ox) {
        int32_t a, b;
        valid_taps(ox * stride_w - pad_left, dilation_w, filter_w, input_w, &a, &b);
        if (a == 0 && b == filter_w) {
            inside_lo = inside_hi == 0 ? ox : inside_lo;
            inside_hi = ox + 1;
        }
    }
    *lo = inside_lo;
    *hi = inside_hi;
}

#define CHANNEL_BLOCK 4
#define BLOCK_MAX_TAPS 25 /* up to 5 x 5: the block's laid-out taps live on the stack */

enum {
    UNFUSED,   /* a multiplier of the block does not fuse (requant_prepare): requant_output */
    FUSED,     /* fused_output, clamped to [act_min, act_max] */
    FUSED_INT8 /* fused_output without an activation: the saturation */
};

/* One block of four channels, prepared once for all its output pixels. */
typedef struct {
    const int8_t *input;
    const int32_t *weights; /* MF_DEPTHWISE_WEIGHTS_X4's layout */
    int32_t taps, filter_w, input_zp, output_zp, act_min, act_max;
    int32_t output_stage; /* FUSED_INT8, FUSED or UNFUSED: the block's multipliers and the clamp */
    int32_t start[CHANNEL_BLOCK];  /* the bias */
    int32_t folded[CHANNEL_BLOCK]; /* the bias - input_zp * sum_t w_t */
    mf_requant q[CHANNEL_BLOCK];
} depthwise_block;

/* The block's four outputs of one pixel: requantize.c's output stage, each multiplier prepared once a block. */
static inline void block_outputs(const depthwise_block *k, const int32_t acc[CHANNEL_BLOCK], int8_t *out)
{
    if (k->output_stage == FUSED_INT8) { /* the range as constants: one SSAT, no test per output */
        for (int32_t j = 0; j < CHANNEL_BLOCK; ++j) {
            out[j] = fused_output(acc[j], k->q[j], k->output_zp, -128, 127, 1);
        }
    } else if (k->output_stage == FUSED) {
        for (int32_t j = 0; j < CHANNEL_BLOCK; ++j) {
            out[j] = fused_output(acc[j], k->q[j], k->output_zp, k->act_min, k->act_max, 0);
        }
    } else {
        for (int32_t j = 0; j < CHANNEL_BLOCK; ++j) {
            out[j] = requant_output(acc[j], k->q[j], k->output_zp, k->act_min, k->act_max);
        }
    }
}

/*
 * `count` output pixels of one row whose windows lie wholly inside the input: the corner index `base`
 * steps by base_step, the output by out_step. Out of line, like the functions below, so that its loop
 * keeps its own registers.
 */
MF_NOINLINE static void block_inside_run(const depthwise_block *k, int32_t base, int32_t base_step, int32_t count,
                                         int8_t *out, int32_t out_step)
{
    for (int32_t p = 0; p < count; ++p, base += base_step, out += out_step) {
        int32_t acc[CHANNEL_BLOCK] = {k->folded[0], k->folded[1], k->folded[2], k->folded[3]};
        MF_DEPTHWISE_TAPS_X4_FOLDED(acc, k->input, base, k->weights, k->taps);
        block_outputs(k, acc, out);
    }
}

/* One output pixel whose valid taps are rows [ky_lo, ky_hi) by columns [kx_lo, kx_hi) of its window. */
MF_NOINLINE static void block_border_pixel(const depthwise_block *k, int32_t base, int32_t ky_lo, int32_t ky_hi,
                                           int32_t kx_lo, int32_t kx_hi, int8_t *out)
{
    int32_t acc[CHANNEL_BLOCK] = {k->start[0], k->start[1], k->start[2], k->start[3]};
    for (int32_t ky = ky_lo; ky < ky_hi && kx_lo < kx_hi; ++ky) {
        MF_DEPTHWISE_TAPS_X4(acc, k->input, base, k->weights + (ky * k->filter_w + kx_lo) * MF_DEPTHWISE_WORDS_PER_TAP,
                             kx_hi - kx_lo, k->input_zp);
    }
    block_outputs(k, acc, out);
}

/*
 * Loop order for a microcontroller. With a depth multiplier of 1 (MobileNet's and DS-CNN's depthwise
 * layers) and up to BLOCK_MAX_TAPS taps, the channels are taken four at a time, outermost: each block's
 * taps are laid out once (kernel_paths.h: MF_DEPTHWISE_WEIGHTS_X4) and its four requantizations
 * prepared once; then every output pixel accumulates the block over its window's valid taps in four
 * registers (MF_DEPTHWISE_TAPS_X4) and requantizes them. Other channels (a multiplier above 1, larger
 * filters, or the last input_ch % 4) go pixel by pixel.
 *
 * A window wholly inside the input (most of them: the columns [inside_lo, inside_hi) of a row whose
 * window rows are all inside) takes every tap, so its zero point is folded into the accumulators'
 * start: sum_t (x_t - zp) w_t + b = sum_t x_t w_t + (b - zp sum_t w_t), and the taps skip the
 * subtraction (MF_DEPTHWISE_TAPS_X4_FOLDED). Every partial sum is then b + sum over the taps taken of
 * (x_t - zp) w_t + sum over the rest of (-zp) w_t, each term at most 255 |w_t| (|zp| <= 128), so it
 * stays within the loader's bound 255 * sum|w| + |b| < 2^31 and the result is exact in int32. A border
 * window starts at the bias and takes each valid row of taps with the zero point.
 */
void mf_depthwise_conv2d_s8(int16_t *scratch,
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
    const int32_t taps = filter_h * filter_w;
    const int32_t blocked =
        depth_multiplier == 1 && taps <= BLOCK_MAX_TAPS ? input_ch / CHANNEL_BLOCK * CHANNEL_BLOCK : 0;
    int32_t weights[MF_DEPTHWISE_WORDS_PER_TAP * BLOCK_MAX_TAPS];
    depthwise_block k;
    k.input = input;
    k.weights = weights;
    k.taps = taps;
    k.filter_w = filter_w;
    k.input_zp = input_zp;
    k.output_zp = output_zp;
    k.act_min = act_min;
    k.act_max = act_max;
    int32_t inside_lo, inside_hi;
    inside_columns(output_w, stride_w, pad_left, dilation_w, filter_w, input_w, &inside_lo, &inside_hi);
    for (int32_t b = 0; b < batches; ++b) {
        for (int32_t c = 0; c < blocked; c += CHANNEL_BLOCK) {
            int32_t fused = 1;
            for (int32_t j = 0; j < CHANNEL_BLOCK; ++j) {
                k.q[j] = channel_requant(output_mult, output_shift, per_channel, c + j);
                fused &= k.q[j].fused;
                k.start[j] = bias != 0 ? bias[c + j] : 0;
                int32_t weight_sum = 0; /* |.| <= 25 * 128 */
                for (int32_t t = 0; t < taps; ++t) {
                    weight_sum += filter[t * output_ch + c + j];
                }
                k.folded[j] = k.start[j] - input_zp * weight_sum;
            }
            k.output_stage = !fused ? UNFUSED : act_min == -128 && act_max == 127 ? FUSED_INT8 : FUSED;
            MF_DEPTHWISE_WEIGHTS_X4(weights, filter + c, filter_h, filter_w, output_ch, dilation_h * input_w * input_ch,
                                    dilation_w * input_ch);
            for (int32_t oy = 0; oy < output_h; ++oy) {
                const int32_t iy0 = oy * stride_h - pad_top;
                int32_t ky_lo, ky_hi;
                valid_taps(iy0, dilation_h, filter_h, input_h, &ky_lo, &ky_hi);
                const int32_t rows_inside = ky_lo == 0 && ky_hi == filter_h;
                int8_t *out = output + ((b * output_h + oy) * output_w) * output_ch + c;
                /* channel c at the corner of column ox's window: an index that may lie outside the input */
                const int32_t row_base = ((b * input_h + iy0) * input_w - pad_left) * input_ch + c;
                for (int32_t ox = 0; ox < output_w; ++ox) {
                    if (rows_inside && ox == inside_lo && inside_hi > inside_lo) {
                        block_inside_run(&k, row_base + ox * stride_w * input_ch, stride_w * input_ch,
                                         inside_hi - inside_lo, out + ox * output_ch, output_ch);
                        ox = inside_hi - 1;
                        continue;
                    }
                    int32_t kx_lo, kx_hi;
                    valid_taps(ox * stride_w - pad_left, dilation_w, filter_w, input_w, &kx_lo, &kx_hi);
                    block_border_pixel(&k, row_base + ox * stride_w * input_ch, ky_lo, ky_hi, kx_lo, kx_hi,
                                       out + ox * output_ch);
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

void mf_depthwise_conv2d_encoded_s8(int16_t *scratch,
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

/* One pair of channels of the 16x8 kernel, laid out once for all its output pixels. */
typedef struct {
    const int16_t *input;
    const int32_t *weights; /* MF_DEPTHWISE_S16_WEIGHTS_X2's layout */
    int32_t taps, filter_w, act_min, act_max;
    int64_t bias[2];
    int32_t mult[2], shift[2];
} depthwise_pair_s16;

/* The pair's two outputs of one pixel. */
static inline void pair_outputs_s16(const depthwise_pair_s16 *k, const int64_t acc[2], int16_t *out)
{
    out[0] = (int16_t)requantize_int64(acc[0], k->mult[0], k->shift[0], k->act_min, k->act_max);
    out[1] = (int16_t)requantize_int64(acc[1], k->mult[1], k->shift[1], k->act_min, k->act_max);
}

/*
 * `count` output pixels of one row whose windows lie wholly inside the input: one run of every tap each. Channel c
 * at the first window's corner is input[base]; the corner steps by base_step, the output by out_step. Out of line,
 * like the function below, so that its loop keeps its own registers.
 */
MF_NOINLINE static void pair_inside_run_s16(const depthwise_pair_s16 *k, int32_t base, int32_t base_step,
                                            int32_t count, int16_t *out, int32_t out_step)
{
    for (int32_t p = 0; p < count; ++p, base += base_step, out += out_step) {
        int64_t acc[2] = {k->bias[0], k->bias[1]};
        MF_DEPTHWISE_S16_TAPS_X2(acc, k->input, base, k->weights, k->taps);
        pair_outputs_s16(k, acc, out);
    }
}

/* One output pixel whose valid taps are rows [ky_lo, ky_hi) by columns [kx_lo, kx_hi) of its window: a run a row. */
MF_NOINLINE static void pair_border_pixel_s16(const depthwise_pair_s16 *k, int32_t base, int32_t ky_lo, int32_t ky_hi,
                                              int32_t kx_lo, int32_t kx_hi, int16_t *out)
{
    int64_t acc[2] = {k->bias[0], k->bias[1]};
    for (int32_t ky = ky_lo; ky < ky_hi && kx_lo < kx_hi; ++ky) {
        MF_DEPTHWISE_S16_TAPS_X2(acc, k->input, base,
                                 k->weights + (ky * k->filter_w + kx_lo) * MF_DEPTHWISE_S16_WORDS_PER_TAP,
                                 kx_hi - kx_lo);
    }
    pair_outputs_s16(k, acc, out);
}

/*
 * 16x8 (depthwise_conv2d.py derives it): a tap outside the image is skipped (its product with the zero point 0
 * is 0); output channel c reads input channel c / depth_multiplier; acc = bias[c] + sum x w in int64 (each
 * product fits int32; the sums stay within the loader's bound 2^47 - 1), requantize_int64.
 *
 * With a depth multiplier of 1 and up to BLOCK_MAX_TAPS taps, the channels go in pairs, outermost, as the int8
 * kernel's blocks of four: each pair's taps are laid out once (kernel_paths.h: MF_DEPTHWISE_S16_WEIGHTS_X2), then
 * every output pixel accumulates the pair over its window's valid taps (MF_DEPTHWISE_S16_TAPS_X2): the windows
 * wholly inside the input a row's run at a time, each in one run of every tap; a border window one run per valid
 * row. Other channels (a multiplier above 1, larger filters, an odd last channel) go pixel by pixel in direct
 * loops. Element indices are int32 as in the int8 kernel (a tensor's element count is an int32).
 */
void mf_depthwise_conv2d_s16(int32_t batches, int32_t input_h, int32_t input_w, int32_t input_ch,
                          int32_t filter_h, int32_t filter_w,
                          int32_t output_h, int32_t output_w, int32_t depth_multiplier,
                          int32_t stride_h, int32_t stride_w,
                          int32_t dilation_h, int32_t dilation_w, int32_t pad_top, int32_t pad_left,
                          const int32_t *output_mult, const int8_t *output_shift, int32_t per_channel,
                          int32_t act_min, int32_t act_max,
                          const int16_t *input, const int8_t *filter, const int64_t *bias, int16_t *output)
{
    const int32_t output_ch = input_ch * depth_multiplier;
    const int32_t taps = filter_h * filter_w;
    const int32_t paired = depth_multiplier == 1 && taps <= BLOCK_MAX_TAPS ? input_ch & ~1 : 0;
    int32_t weights[MF_DEPTHWISE_S16_WORDS_PER_TAP * BLOCK_MAX_TAPS];
    depthwise_pair_s16 k;
    k.input = input;
    k.weights = weights;
    k.taps = taps;
    k.filter_w = filter_w;
    k.act_min = act_min;
    k.act_max = act_max;
    int32_t inside_lo, inside_hi;
    inside_columns(output_w, stride_w, pad_left, dilation_w, filter_w, input_w, &inside_lo, &inside_hi);
    for (int32_t b = 0; b < batches; ++b) {
        for (int32_t c = 0; c < paired; c += 2) {
            for (int32_t j = 0; j < 2; ++j) {
                const int32_t q = per_channel ? c + j : 0;
                k.bias[j] = bias != 0 ? bias[c + j] : 0;
                k.mult[j] = output_mult[q];
                k.shift[j] = output_shift[q];
            }
            MF_DEPTHWISE_S16_WEIGHTS_X2(weights, filter + c, filter_h, filter_w, output_ch,
                                        dilation_h * input_w * input_ch, dilation_w * input_ch);
            for (int32_t oy = 0; oy < output_h; ++oy) {
                const int32_t iy0 = oy * stride_h - pad_top;
                int32_t ky_lo, ky_hi;
                valid_taps(iy0, dilation_h, filter_h, input_h, &ky_lo, &ky_hi);
                const int32_t rows_inside = ky_lo == 0 && ky_hi == filter_h;
                int16_t *out = output + ((b * output_h + oy) * output_w) * output_ch + c;
                /* channel c at the corner of column 0's window: an index that may lie outside the input */
                const int32_t row_base = ((b * input_h + iy0) * input_w - pad_left) * input_ch + c;
                for (int32_t ox = 0; ox < output_w; ++ox) {
                    if (rows_inside && ox == inside_lo && inside_hi > inside_lo) {
                        pair_inside_run_s16(&k, row_base + ox * stride_w * input_ch, stride_w * input_ch,
                                            inside_hi - inside_lo, out + ox * output_ch, output_ch);
                        ox = inside_hi - 1;
                        continue;
                    }
                    int32_t kx_lo, kx_hi;
                    valid_taps(ox * stride_w - pad_left, dilation_w, filter_w, input_w, &kx_lo, &kx_hi);
                    pair_border_pixel_s16(&k, row_base + ox * stride_w * input_ch, ky_lo, ky_hi, kx_lo, kx_hi,
                                          out + ox * output_ch);
                }
            }
        }
        if (paired == output_ch) {
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
                int16_t *out = output + ((b * output_h + oy) * output_w + ox) * output_ch;
                for (int32_t c = paired; c < output_ch; ++c) {
                    const int32_t i = c / depth_multiplier;
                    int64_t acc = bias != 0 ? bias[c] : 0;
                    for (int32_t ky = ky_lo; ky < ky_hi; ++ky) {
                        const int32_t iy = iy0 + ky * dilation_h;
                        for (int32_t kx = kx_lo; kx < kx_hi; ++kx) {
                            const int32_t ix = ix0 + kx * dilation_w;
                            acc += (int32_t)input[((b * input_h + iy) * input_w + ix) * input_ch + i] *
                                   filter[(ky * filter_w + kx) * output_ch + c];
                        }
                    }
                    const int32_t q = per_channel ? c : 0;
                    out[c] = (int16_t)requantize_int64(acc, output_mult[q], output_shift[q], act_min, act_max);
                }
            }
        }
    }
}
