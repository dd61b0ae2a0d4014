/*
 * Per-operator rules and execution: the twin of runtime/ops.py.
 *
 * For every opcode, check_* verifies everything a kernel trusts (tensor
 * counts, dtypes, shapes, options, quantization, weight ranges and the int32
 * accumulator bound) and reports the op's scratch bytes and in-place
 * inputs; run_* reads the same fields from the verified file and calls the
 * kernel with the arguments ops.py's prepare_* builds, in the same order,
 * so the C runtime and the Numba runtime give the same bytes.
 *
 * OPERATORS below lists every operator's check and run; an operator the build leaves out (MFB_OP_BUILT_<NAME> 0:
 * MF_OPS_SELECTED, microflat.h) is refused at load instead, and since its check and run are then reached only
 * from branches the compiler folds away, neither is compiled in, nor, with --gc-sections, the kernels only they
 * call. A run_* that serves several opcodes takes each one's kernel as an argument, so that it names none.
 *
 * Arithmetic on sizes from the file is done in int64_t: a check's
 * operands are file values below 2^31, so no product of two can overflow.
 */
#include <string.h>

#include "kernel_paths.h"
#include "mfb_internal.h"
#include "microflat_kernels.h"
#include "numerics.h"
#include "weight_encoding.h"

#define MAX_SPATIAL 65536
#define MEAN_MAX_ELEMENTS (2147483647 / 255) /* pooling.MEAN_MAX_ELEMENTS: 255 * H * W fits int32 */
#define SOFTMAX_MAX_DEPTH 4095               /* softmax.SOFTMAX_MAX_DEPTH */
#define SOFTMAX_OUTPUT_SCALE_BITS 0x3B800000u /* 1 / 256 as float32 */
#define SOFTMAX_S16_MAX_DEPTH 65535          /* softmax.SOFTMAX_S16_MAX_DEPTH: the int32 sum of the exps */
#define SOFTMAX_S16_LEFT_SHIFT_MAX 15        /* softmax.SOFTMAX_S16_LEFT_SHIFT_MAX: 65535 * 2^15 < 2^31 */
#define Q015_SCALE_BITS 0x38000000u          /* 1 / 32768 as float32: the int16 LOGISTIC, TANH, SOFTMAX output */
#define S16_INPUT_MULTIPLIER_MAX 32767       /* activations_s16.INPUT_MULTIPLIER_MAX */
#define S16_INPUT_LEFT_SHIFT_MAX 31          /* activations_s16.INPUT_LEFT_SHIFT_MAX */
#define S16_POT_INPUT_LEFT_SHIFT_MAX 14      /* activations_s16.POT_INPUT_LEFT_SHIFT_MAX: 2^15 (3 << 14) < 2^31 */
#define FOUR 4

typedef struct {
    const mf_model *m;
    const uint8_t *b;
    uint32_t k;
    uint32_t op;      /* the Operator table */
    uint32_t opcode;
    uint32_t ins, outs; /* vectors (0: absent, i.e. empty) */
    uint32_t n_in, n_out;
    uint32_t options; /* the options table, 0: none */
    uint32_t options_type;
    mf_error *error;
} op_ctx;

static void ctx_init(op_ctx *c, const mf_model *m, uint32_t k, mf_error *error)
{
    c->m = m;
    c->b = m->file;
    c->k = k;
    c->op = mfb_vec_table(m->file, m->operators, k);
    c->opcode = mfb_ubyte(c->b, c->op, MFB_OPERATOR_OPCODE, 0);
    c->ins = mfb_ref(c->b, c->op, MFB_OPERATOR_INPUTS);
    c->outs = mfb_ref(c->b, c->op, MFB_OPERATOR_OUTPUTS);
    c->n_in = mfb_len(c->b, c->ins);
    c->n_out = mfb_len(c->b, c->outs);
    c->options_type = mfb_ubyte(c->b, c->op, MFB_OPERATOR_OPTIONS - 1, 0);
    c->options = mfb_ref(c->b, c->op, MFB_OPERATOR_OPTIONS);
    c->error = error;
}

static mf_status fail(const op_ctx *c, uint32_t at, const char *message)
{
    return mf_fail(c->error, MF_ERROR_OPERATOR, at ? at : c->op, (int32_t)c->k, message);
}

/* Where a refusal points (docs/FORMAT.md, "Where an error points"; ops.OpCheck.at): inputs[i] and outputs[i] at
 * their element; an option's scalar at its bytes and an option's vector at its length word, or the options table
 * when the field is absent; the options table itself, or the operator when it has none. */
#define IN(i) (c->ins + 4 + 4 * (i))
#define OUT(i) (c->outs + 4 + 4 * (i))
#define OPT(slot) mfb_at(c->b, c->options, (slot))
#define OPT_VEC(slot) mfb_ref_at(c->b, c->options, (slot))
#define OPTIONS_AT (c->options ? c->options : c->op)

#define REQUIRE(cond, at, message)                                                                                    \
    do {                                                                                                              \
        if (!(cond)) {                                                                                                \
            return fail(c, (at), (message));                                                                          \
        }                                                                                                             \
    } while (0)

#define CHECK(call)                                                                                                   \
    do {                                                                                                              \
        const mf_status s_ = (call);                                                                                  \
        if (s_ != MF_OK) {                                                                                            \
            return s_;                                                                                                \
        }                                                                                                             \
    } while (0)

static int64_t dim(const op_ctx *c, const mf_tensor *t, int32_t d)
{
    return mf_dim(c->m, t, d);
}

/* OpCheck.counts: n_in one of [lo, hi], n_out exactly `outputs`. */
static mf_status counts(const op_ctx *c, uint32_t lo, uint32_t hi, uint32_t outputs)
{
    REQUIRE(c->n_in >= lo && c->n_in <= hi, c->ins, "wrong number of inputs");
    REQUIRE(c->n_out == outputs, c->outs, "wrong number of outputs");
    return MF_OK;
}

#define ANY (-1)
enum { ACTIVATION = 0, CONSTANT = 1 };

/* OpCheck.tensor: inputs[i] or outputs[i], of dtype and rank (ANY: any), constant or not (ANY), stored dense
 * unless `encoded`. An optional input may be -1: then *present is 0. */
static mf_status tensor(const op_ctx *c, int output, uint32_t i, int32_t dtype, int32_t rank, int32_t constant,
                        int optional, int encoded, mf_tensor *t, int *present)
{
    const uint32_t vec = output ? c->outs : c->ins;
    const uint32_t at = vec + 4 + 4 * i;
    const int32_t idx = mfb_vec_int(c->b, vec, i);
    if (present) {
        *present = 0;
    }
    if (idx == -1 && optional) {
        return MF_OK;
    }
    REQUIRE(idx >= 0 && (uint32_t)idx < c->m->n_tensors, at, "a tensor index is out of range");
    mf_tensor_read(c->m, (uint32_t)idx, t);
    REQUIRE(dtype == ANY || t->dtype == (uint32_t)dtype, at, "a tensor has the wrong dtype");
    REQUIRE(rank == ANY || t->rank == rank, at, "a tensor has the wrong rank");
    REQUIRE(constant == ANY || (t->buffer != 0) == (constant == CONSTANT), at,
            constant == CONSTANT ? "a tensor must be constant" : "a tensor must be an activation");
    REQUIRE(encoded || t->encoding == 0, at, "a tensor must be stored dense (no WeightEncoding)");
    if (present) {
        *present = 1;
    }
    return MF_OK;
}

static mf_status options(const op_ctx *c, uint32_t type)
{
    REQUIRE(c->options_type == type && c->options != 0, OPTIONS_AT, "the options table is missing or of the wrong type");
    return MF_OK;
}

static mf_status no_options(const op_ctx *c)
{
    REQUIRE(c->options_type == 0, OPTIONS_AT, "this operator takes no options");
    return MF_OK;
}

/* OpCheck.int_option: an int field (or its default) in [lo, hi]. */
static mf_status int_option(const op_ctx *c, uint32_t slot, int32_t dflt, int64_t lo, int64_t hi, int32_t *value)
{
    const int32_t v = mfb_int(c->b, c->options, slot, dflt);
    REQUIRE(v >= lo && v <= hi, OPT(slot), "an option is out of range");
    if (value) {
        *value = v;
    }
    return MF_OK;
}

/* OpCheck.act_range: act_min <= act_max, both inside [lo, hi] (the output type's range). */
static mf_status act_range_in(const op_ctx *c, uint32_t min_slot, uint32_t max_slot, int32_t lo_limit,
                              int32_t hi_limit)
{
    int32_t lo = 0, hi = 0;
    CHECK(int_option(c, min_slot, -128, lo_limit, hi_limit, &lo));
    CHECK(int_option(c, max_slot, 127, lo_limit, hi_limit, &hi));
    REQUIRE(lo <= hi, OPT(min_slot), "act_min > act_max");
    return MF_OK;
}

static mf_status act_range(const op_ctx *c, uint32_t min_slot, uint32_t max_slot)
{
    return act_range_in(c, min_slot, max_slot, -128, 127);
}

/* OpCheck.requant: vectors of 1 or `channels` multipliers in [0, 2^31) and shifts in [-31, shift_max]. */
static mf_status requant_upto(const op_ctx *c, uint32_t mult_slot, uint32_t shift_slot, int64_t channels,
                              int32_t shift_max)
{
    const uint32_t mult = mfb_ref(c->b, c->options, mult_slot), shift = mfb_ref(c->b, c->options, shift_slot);
    const uint32_t n = mfb_len(c->b, mult);
    REQUIRE(mult && (n == 1 || n == channels), OPT_VEC(mult_slot), "output_mult needs 1 or one value per channel");
    REQUIRE(shift && (mfb_len(c->b, shift) == 1 || mfb_len(c->b, shift) == channels), OPT_VEC(shift_slot),
            "output_shift needs 1 or one value per channel");
    REQUIRE(mfb_len(c->b, shift) == n, shift, "output_mult and output_shift differ in length");
    for (uint32_t i = 0; i < n; ++i) { /* every multiplier, then every shift: OpCheck.requant's order */
        REQUIRE(mfb_vec_int(c->b, mult, i) >= 0, mult, "a multiplier is negative");
    }
    for (uint32_t i = 0; i < n; ++i) {
        const int32_t s = mfb_i8_at(c->b, shift + 4 + i);
        REQUIRE(s >= MF_SHIFT_MIN && s <= shift_max, shift, "a shift is outside its range ([-31, 30]; 16x8: [-31, 7])");
    }
    return MF_OK;
}

static mf_status requant(const op_ctx *c, uint32_t mult_slot, uint32_t shift_slot, int64_t channels)
{
    return requant_upto(c, mult_slot, shift_slot, channels, MF_SHIFT_MAX);
}

static mf_status scalar_requant(const op_ctx *c, uint32_t mult_slot, uint32_t shift_slot)
{
    CHECK(int_option(c, mult_slot, 0, 0, INT32_MAX, 0));
    return int_option(c, shift_slot, 0, MF_SHIFT_MIN, MF_SHIFT_MAX, 0);
}

/* OpCheck.zero_point: the tensor at `at` (its element of inputs or outputs) is quantized. */
static mf_status zero_point(const op_ctx *c, const mf_tensor *t, uint32_t at)
{
    REQUIRE(t->quantized, at, "a tensor has no quantization");
    return MF_OK;
}

/* OpCheck.same_quantization: a and y share scale and zero point; a refusal points at `at`. */
static mf_status same_quantization(const op_ctx *c, const mf_tensor *a, const mf_tensor *y, uint32_t at)
{
    const int same = a->quantized == y->quantized &&
                     (!a->quantized || (a->scale_bits == y->scale_bits && a->zero_point == y->zero_point));
    REQUIRE(same, at, "two tensors must share scale and zero point");
    return MF_OK;
}

/* OpCheck.geometry along one axis: stride (and dilation) in [1, 2^16], padding below the dilated
 * filter's extent, and the last window starts inside the input. */
static mf_status geometry(const op_ctx *c, uint32_t stride_slot, int32_t dilation_slot, uint32_t pad_slot,
                          int64_t in_size, int64_t k, int64_t out_size)
{
    int32_t s = 1, d = 1, p = 0;
    CHECK(int_option(c, stride_slot, 1, 1, MAX_SPATIAL, &s));
    if (dilation_slot >= 0) {
        CHECK(int_option(c, (uint32_t)dilation_slot, 1, 1, MAX_SPATIAL, &d));
    }
    const int64_t eff = (k - 1) * d + 1;
    CHECK(int_option(c, pad_slot, 0, 0, eff - 1, &p));
    REQUIRE((out_size - 1) * s - p < in_size, OPT(stride_slot),
            "the output size puts the last window outside the input");
    return MF_OK;
}

/* The filter's encoding parameters as the kernels take them (weight_encoding.weighted_call). */
typedef struct {
    int32_t value_bits, codebook_size, per_channel, position_bits, entries, axis;
    const int8_t *codebook;
    const uint8_t *values, *positions;
} encoded_filter;

static void encoded_of(const mf_model *m, const mf_tensor *w, encoded_filter *f)
{
    const uint8_t *b = m->file;
    const uint32_t e = w->encoding;
    const uint32_t book = mfb_ref(b, e, MFB_WEIGHT_ENCODING_CODEBOOK);
    const uint32_t pbuf = mfb_uint(b, e, MFB_WEIGHT_ENCODING_POSITIONS_BUFFER, 0);
    f->value_bits = (int32_t)mfb_ubyte(b, e, MFB_WEIGHT_ENCODING_VALUE_BITS, MFB_WEIGHT_ENCODING_VALUE_BITS_DEFAULT);
    f->per_channel = mfb_ubyte(b, e, MFB_WEIGHT_ENCODING_CODEBOOK_PER_CHANNEL, 0) != 0;
    f->axis = mfb_int(b, e, MFB_WEIGHT_ENCODING_AXIS, MFB_WEIGHT_ENCODING_AXIS_DEFAULT);
    f->position_bits = (int32_t)mfb_ubyte(b, e, MFB_WEIGHT_ENCODING_POSITION_BITS, 0);
    f->entries = (int32_t)mfb_uint(b, e, MFB_WEIGHT_ENCODING_ENTRIES, 0);
    const uint32_t n = mfb_len(b, book);
    f->codebook = n ? (const int8_t *)(b + book + 4) : 0;
    f->codebook_size = n ? (int32_t)(n / (f->per_channel ? (uint32_t)mf_dim(m, w, f->axis) : 1u)) : 0;
    f->values = mf_const_data(m, w->buffer);
    f->positions = pbuf ? mf_const_data(m, pbuf) : 0;
}

/* OpCheck.weight_zero_point: the zero point of the weight w at inputs[1] (0 when it has no quantization), 0
 * but for a FULLY_CONNECTED weight, whose non-zero one needs a dense weight with one scale (TFLite's
 * per-tensor kernel, the one that applies a filter offset). Refusals point at inputs[1]. */
static mf_status weight_zero_point(const op_ctx *c, const mf_tensor *w, int32_t *zp)
{
    const uint32_t at = c->ins + 4 + 4 * 1;
    const uint32_t cs = mfb_ref(c->b, w->table, MFB_TENSOR_CHANNEL_SCALES);
    *zp = w->quantized ? w->zero_point : 0;
    if (*zp != 0) {
        REQUIRE(c->opcode == MFB_OP_CODE_FULLY_CONNECTED, at, "this op's weights must be symmetric (zero point 0)");
        REQUIRE(w->encoding == 0, at, "an encoded weight must be symmetric (zero point 0)");
        REQUIRE(cs == 0 || mfb_len(c->b, cs) == 1, at, "an asymmetric weight (a zero point) has one scale");
    }
    return MF_OK;
}

/* The 16x8 layers' accumulator rule (OpCheck.weights with wide): per output channel c of a dense symmetric
 * weight, no -128 and 2^15 * sum|w| + |bias[c]| <= 2^47 - 1 (numerics.accumulator_overflow with the 16x8
 * limits). A bias beyond +-2^47 fails before any sum (|INT64_MIN| is never negated); the sums are below
 * 127 * 2^31, so every term is exact in int64. Returns WE_BOUND_*, as mf_weight_channel_bound. */
static int32_t channel_bound_16x8(const mf_model *m, const mf_tensor *w, int32_t channel_axis, const int64_t *bias)
{
    const int64_t limit = ((int64_t)1 << 47) - 1;
    int64_t channels = mf_dim(m, w, channel_axis), inner = 1;
    for (int32_t d = channel_axis + 1; d < w->rank; ++d) {
        inner *= mf_dim(m, w, d);
    }
    const int64_t outer = w->size / (channels * inner);
    const int8_t *weights = (const int8_t *)mf_const_data(m, w->buffer);
    for (int64_t ch = 0; ch < channels; ++ch) {
        if (bias != 0 && (bias[ch] > limit || bias[ch] < -limit)) {
            return WE_BOUND_OVERFLOW;
        }
    }
    for (int64_t ch = 0; ch < channels; ++ch) {
        int64_t sum = 0;
        for (int64_t o = 0; o < outer; ++o) {
            for (int64_t k = 0; k < inner; ++k) {
                const int32_t v = weights[(o * channels + ch) * inner + k];
                if (v == -128) {
                    return WE_BOUND_MINUS_128;
                }
                sum += v < 0 ? -v : v;
            }
        }
        const int64_t b = bias != 0 ? (bias[ch] < 0 ? -bias[ch] : bias[ch]) : 0;
        if (((int64_t)1 << 15) * sum + b > limit) {
            return WE_BOUND_OVERFLOW;
        }
    }
    return WE_BOUND_OK;
}

/* ops._check_16x8: an int64 bias, shifts in [-31, 7], the clamp inside int16, zero points 0, a dense
 * symmetric weight and channel_bound_16x8. */
static mf_status check_16x8(const op_ctx *c, const mf_tensor *x, const mf_tensor *w, const mf_tensor *y,
                            int64_t channels, int32_t channel_axis, uint32_t slot_mult, uint32_t slot_shift,
                            uint32_t slot_min, uint32_t slot_max)
{
    mf_tensor bias;
    int has_bias = 0;
    if (c->n_in > 2) {
        CHECK(tensor(c, 0, 2, MFB_DTYPE_INT64, 1, CONSTANT, 1, 0, &bias, &has_bias));
        REQUIRE(!has_bias || dim(c, &bias, 0) == channels, IN(2), "the bias must have one value per output channel");
    }
    CHECK(requant_upto(c, slot_mult, slot_shift, channels, 7));
    CHECK(act_range_in(c, slot_min, slot_max, -32768, 32767));
    CHECK(zero_point(c, x, IN(0)));
    REQUIRE(x->zero_point == 0, IN(0), "an int16 activation of a 16x8 layer has zero point 0");
    CHECK(zero_point(c, y, OUT(0)));
    REQUIRE(y->zero_point == 0, OUT(0), "an int16 activation of a 16x8 layer has zero point 0");
    REQUIRE(w->encoding == 0, IN(1), "a 16x8 layer's weight must be stored dense");
    REQUIRE(!w->quantized || w->zero_point == 0, IN(1), "this op's weights must be symmetric (zero point 0)");
    const int32_t r = channel_bound_16x8(c->m, w, channel_axis,
                                         has_bias ? (const int64_t *)(const void *)mf_const_data(c->m, bias.buffer) : 0);
    REQUIRE(r != WE_BOUND_MINUS_128, IN(1), "weights hold -128; symmetric int8 lies in [-127, 127]");
    REQUIRE(r == WE_BOUND_OK, IN(1), "the int64 accumulator of an output channel could overflow");
    return MF_OK;
}

/* The tensors of a conv, depthwise conv or fully connected layer (ops.LAYER_DTYPES): an int8 or int16 (16x8)
 * input of `rank`, a constant int8 weight (encoded or not), an output of the input's dtype. */
static mf_status layer_tensors(const op_ctx *c, int32_t rank, mf_tensor *x, mf_tensor *w, mf_tensor *y)
{
    CHECK(tensor(c, 0, 0, ANY, ANY, ANY, 0, 0, x, 0));
    REQUIRE(x->dtype == MFB_DTYPE_INT8 || x->dtype == MFB_DTYPE_INT16, IN(0), "a tensor has the wrong dtype");
    REQUIRE(x->rank == rank, IN(0), "a tensor has the wrong rank");
    CHECK(tensor(c, 0, 1, MFB_DTYPE_INT8, rank, CONSTANT, 0, 1, w, 0));
    return tensor(c, 1, 0, (int32_t)x->dtype, rank, ACTIVATION, 0, 0, y, 0);
}

/* _check_weighted: the optional bias (inputs[2]), requantization, activation range, zero points, and
 * OpCheck.weights: the weight's zero point zp (weight_zero_point), then symmetric weights where zp is 0 and
 * 255 * sum|w - zp| + |b| < 2^31 per output channel (mf_weight_channel_bound, which reads an encoded weight's
 * streams without expanding them). */
static mf_status check_weighted(const op_ctx *c, const mf_tensor *x, const mf_tensor *w, const mf_tensor *y,
                                int64_t channels, int32_t channel_axis, uint32_t opts_slot_mult, uint32_t slot_shift,
                                uint32_t slot_min, uint32_t slot_max)
{
    if (x->dtype == MFB_DTYPE_INT16) {
        return check_16x8(c, x, w, y, channels, channel_axis, opts_slot_mult, slot_shift, slot_min, slot_max);
    }
    mf_tensor bias;
    int has_bias = 0;
    if (c->n_in > 2) {
        CHECK(tensor(c, 0, 2, MFB_DTYPE_INT32, 1, CONSTANT, 1, 0, &bias, &has_bias));
        REQUIRE(!has_bias || dim(c, &bias, 0) == channels, IN(2), "the bias must have one value per output channel");
    }
    CHECK(requant(c, opts_slot_mult, slot_shift, channels));
    CHECK(act_range(c, slot_min, slot_max));
    CHECK(zero_point(c, x, IN(0)));
    CHECK(zero_point(c, y, OUT(0)));
    int32_t zp = 0;
    CHECK(weight_zero_point(c, w, &zp));
    int32_t shape[MF_MAX_RANK];
    for (int32_t d = 0; d < w->rank; ++d) {
        shape[d] = mf_dim(c->m, w, d);
    }
    const int32_t *bias_data = has_bias ? (const int32_t *)(const void *)mf_const_data(c->m, bias.buffer) : 0;
    int32_t r;
    if (w->encoding == 0) {
        r = mf_weight_channel_bound(shape, w->rank, channel_axis, 8, 0, 0, 0, 0, (int32_t)w->size,
                                 mf_const_data(c->m, w->buffer), 0, bias_data, zp);
    } else {
        encoded_filter f;
        encoded_of(c->m, w, &f);
        REQUIRE(!(f.position_bits || f.per_channel) || f.axis == channel_axis, IN(1),
                "the encoding's axis is not this op's output-channel axis");
        r = mf_weight_channel_bound(shape, w->rank, channel_axis, f.value_bits, f.codebook, f.codebook_size, f.per_channel,
                                 f.position_bits, f.entries, f.values, f.positions, bias_data, 0);
    }
    REQUIRE(r != WE_BOUND_MINUS_128, c->ins + 4 + 4 * 1, "weights hold -128; symmetric int8 lies in [-127, 127]");
    REQUIRE(r == WE_BOUND_OK, c->ins + 4 + 4 * 1, "the int32 accumulator of an output channel could overflow");
    return MF_OK;
}

/* --- checks ------------------------------------------------------------------------------------ */

/* ops.row_overlap (memory_plan.row_overlap_bytes): for an op whose kernels finish output rows in order,
 * image by image, the least distance below input 0 at which its output never overwrites input bytes a
 * later output row still reads: the largest (end of output row r) - (start of the first input row r reads),
 * plus, per further image, how much that grows. geometry() has bounded r * stride - pad below the input's
 * height; every term is a product of a dimension (< 2^16) and a row (< 2^31 bytes), so int64_t holds it. */
static void row_overlap(const op_ctx *c, const mf_tensor *x, const mf_tensor *y, uint32_t stride_slot,
                        uint32_t pad_slot, int64_t step, mf_op_info *info)
{
    const int64_t n = dim(c, x, 0), h = dim(c, x, 1), in_row = dim(c, x, 2) * dim(c, x, 3);
    const int64_t oh = dim(c, y, 1), out_row = dim(c, y, 2) * dim(c, y, 3);
    const int64_t stride = mfb_int(c->b, c->options, stride_slot, 1), pad = mfb_int(c->b, c->options, pad_slot, 0);
    int64_t worst = 0;
    for (int64_t r = 0; r < oh; ++r) {
        int64_t first = r * stride - pad;
        first = first < 0 ? 0 : first > h - 1 ? h - 1 : first;
        const int64_t gap = (r + 1) * out_row - first * in_row;
        worst = r == 0 || gap > worst ? gap : worst;
    }
    const int64_t image_gap = oh * out_row - h * in_row;
    info->overlap_bytes = worst + (image_gap > 0 ? (n - 1) * image_gap : 0);
    info->overlap_step = (int32_t)step;
}

static mf_status check_conv_2d(const op_ctx *c, mf_op_info *info)
{
    mf_tensor x, w, y;
    int32_t groups = 1;
    CHECK(counts(c, 2, 3, 1));
    CHECK(layer_tensors(c, 4, &x, &w, &y));
    CHECK(options(c, MFB_OP_OPTIONS_CONV2D_OPTIONS));
    const int64_t cin = dim(c, &x, 3), cout = dim(c, &w, 0), kh = dim(c, &w, 1), kw = dim(c, &w, 2);
    CHECK(int_option(c, MFB_CONV2D_OPTIONS_GROUPS, 1, 1, cin, &groups));
    REQUIRE(cin % groups == 0 && cout % groups == 0 && cin / groups == dim(c, &w, 3), OPT(MFB_CONV2D_OPTIONS_GROUPS),
            "input channels, filter and groups disagree");
    REQUIRE(dim(c, &y, 0) == dim(c, &x, 0) && dim(c, &y, 3) == cout, OUT(0), "the output shape does not match");
    CHECK(geometry(c, MFB_CONV2D_OPTIONS_STRIDE_H, MFB_CONV2D_OPTIONS_DILATION_H, MFB_CONV2D_OPTIONS_PAD_TOP,
                   dim(c, &x, 1), kh, dim(c, &y, 1)));
    CHECK(geometry(c, MFB_CONV2D_OPTIONS_STRIDE_W, MFB_CONV2D_OPTIONS_DILATION_W, MFB_CONV2D_OPTIONS_PAD_LEFT,
                   dim(c, &x, 2), kw, dim(c, &y, 2)));
    CHECK(check_weighted(c, &x, &w, &y, cout, 0, MFB_CONV2D_OPTIONS_OUTPUT_MULT, MFB_CONV2D_OPTIONS_OUTPUT_SHIFT,
                         MFB_CONV2D_OPTIONS_ACT_MIN, MFB_CONV2D_OPTIONS_ACT_MAX));
    if (x.dtype == MFB_DTYPE_INT16) { /* mf_conv2d_s16: direct loops, no scratch, no overlap */
        return MF_OK;
    }
    const int32_t cin32 = (int32_t)cin, kh32 = (int32_t)kh, kw32 = (int32_t)kw; /* shapes are int32 */
    info->scratch_bytes = (uint64_t)(w.encoding ? mf_conv2d_encoded_s8_scratch_bytes(cin32, kh32, kw32, groups)
                                                : mf_conv2d_s8_scratch_bytes(cin32, kh32, kw32, groups));
    if (groups == 1) { /* ops.check_conv_2d: the grouped pair path writes a row before reading the one above */
        row_overlap(c, &x, &y, MFB_CONV2D_OPTIONS_STRIDE_H, MFB_CONV2D_OPTIONS_PAD_TOP, 1, info);
    }
    return MF_OK;
}

/* ops.check_transpose_conv: groups 1, dilation 1, pad below the kernel and out <= in * stride + kernel per axis. */
static mf_status check_transpose_conv(const op_ctx *c, mf_op_info *info)
{
    static const uint32_t stride_slots[2] = {MFB_TRANSPOSE_CONV_OPTIONS_STRIDE_H, MFB_TRANSPOSE_CONV_OPTIONS_STRIDE_W};
    static const uint32_t pad_slots[2] = {MFB_TRANSPOSE_CONV_OPTIONS_PAD_TOP, MFB_TRANSPOSE_CONV_OPTIONS_PAD_LEFT};
    mf_tensor x, w, y;
    CHECK(counts(c, 2, 3, 1));
    CHECK(tensor(c, 0, 0, MFB_DTYPE_INT8, 4, ANY, 0, 0, &x, 0));
    CHECK(tensor(c, 0, 1, MFB_DTYPE_INT8, 4, CONSTANT, 0, 0, &w, 0));
    CHECK(tensor(c, 1, 0, MFB_DTYPE_INT8, 4, ACTIVATION, 0, 0, &y, 0));
    CHECK(options(c, MFB_OP_OPTIONS_TRANSPOSE_CONV_OPTIONS));
    const int64_t cout = dim(c, &w, 0);
    REQUIRE(dim(c, &w, 3) == dim(c, &x, 3), IN(1), "the filter does not take the input's channels");
    REQUIRE(dim(c, &y, 0) == dim(c, &x, 0) && dim(c, &y, 3) == cout, OUT(0), "the output shape does not match");
    for (int32_t a = 0; a < 2; ++a) {
        int32_t s = 1;
        const int64_t k = dim(c, &w, 1 + a);
        CHECK(int_option(c, stride_slots[a], 1, 1, MAX_SPATIAL, &s));
        CHECK(int_option(c, pad_slots[a], 0, 0, k - 1, 0));
        REQUIRE(dim(c, &y, 1 + a) <= dim(c, &x, 1 + a) * s + k, OUT(0), "the output exceeds in * stride + kernel");
    }
    CHECK(check_weighted(c, &x, &w, &y, cout, 0, MFB_TRANSPOSE_CONV_OPTIONS_OUTPUT_MULT,
                         MFB_TRANSPOSE_CONV_OPTIONS_OUTPUT_SHIFT, MFB_TRANSPOSE_CONV_OPTIONS_ACT_MIN,
                         MFB_TRANSPOSE_CONV_OPTIONS_ACT_MAX));
    info->scratch_bytes = (uint64_t)mf_transpose_conv2d_s8_scratch_bytes((int32_t)dim(c, &y, 1), (int32_t)dim(c, &y, 2),
                                                                       (int32_t)cout);
    return MF_OK;
}

/* batch_matmul.batch_matmul_params: operands of rank 2..5 extended to rank 5 (three batch dimensions, then the
 * matrix), batch dimensions broadcasting, depth at most BATCH_MATMUL_MAX_DEPTH; the output's shape. Fills the
 * kernel's dimension arguments. */
#define BATCH_MATMUL_MAX_DEPTH 33025 /* batch_matmul.MAX_DEPTH: 65025 * K < 2^31 */
typedef struct {
    int32_t batch[3], lhs_strides[3], rhs_strides[3], rows, cols, depth, rank, shape[5];
} matmul_dims;

static int batch_matmul_dims(const op_ctx *c, const mf_tensor *a, const mf_tensor *b, int adj_x, int adj_y,
                             matmul_dims *m)
{
    if (a->rank < 2 || a->rank > 5 || b->rank < 2 || b->rank > 5) {
        return 0;
    }
    const int64_t rows = dim(c, a, a->rank - (adj_x ? 1 : 2)), lhs_depth = dim(c, a, a->rank - (adj_x ? 2 : 1));
    const int64_t rhs_depth = dim(c, b, b->rank - (adj_y ? 1 : 2)), cols = dim(c, b, b->rank - (adj_y ? 2 : 1));
    if (lhs_depth != rhs_depth || lhs_depth > BATCH_MATMUL_MAX_DEPTH) {
        return 0;
    }
    int64_t lhs_step = rows * lhs_depth, rhs_step = lhs_depth * cols;
    m->rank = a->rank > b->rank ? a->rank : b->rank;
    for (int32_t d = 2; d >= 0; --d) { /* extended batch dimension d: operand dimension d - (5 - rank) */
        const int32_t da = d - (5 - a->rank), db = d - (5 - b->rank);
        const int64_t l = da >= 0 ? dim(c, a, da) : 1, r = db >= 0 ? dim(c, b, db) : 1;
        if (l != r && l != 1 && r != 1) {
            return 0;
        }
        m->batch[d] = (int32_t)(l > r ? l : r);
        m->lhs_strides[d] = l == 1 ? 0 : (int32_t)lhs_step;
        m->rhs_strides[d] = r == 1 ? 0 : (int32_t)rhs_step;
        lhs_step *= l;
        rhs_step *= r;
    }
    m->rows = (int32_t)rows;
    m->cols = (int32_t)cols;
    m->depth = (int32_t)lhs_depth;
    for (int32_t d = 0; d < m->rank - 2; ++d) {
        m->shape[d] = m->batch[3 - (m->rank - 2) + d];
    }
    m->shape[m->rank - 2] = m->rows;
    m->shape[m->rank - 1] = m->cols;
    return 1;
}

static mf_status check_batch_matmul(const op_ctx *c, mf_op_info *info)
{
    mf_tensor a, b, y;
    matmul_dims m;
    (void)info;
    CHECK(counts(c, 2, 2, 1));
    CHECK(tensor(c, 0, 0, MFB_DTYPE_INT8, ANY, ANY, 0, 0, &a, 0));
    CHECK(tensor(c, 0, 1, MFB_DTYPE_INT8, ANY, ANY, 0, 0, &b, 0));
    CHECK(tensor(c, 1, 0, MFB_DTYPE_INT8, ANY, ACTIVATION, 0, 0, &y, 0));
    CHECK(options(c, MFB_OP_OPTIONS_BATCH_MAT_MUL_OPTIONS));
    const int adj_x = mfb_ubyte(c->b, c->options, MFB_BATCH_MAT_MUL_OPTIONS_ADJ_X, 0) != 0;
    const int adj_y = mfb_ubyte(c->b, c->options, MFB_BATCH_MAT_MUL_OPTIONS_ADJ_Y, 0) != 0;
    REQUIRE(batch_matmul_dims(c, &a, &b, adj_x, adj_y, &m), c->ins,
            "the operands do not multiply (ranks 2..5, equal depth at most 33025, broadcasting batch dimensions)");
    REQUIRE(y.rank == m.rank, OUT(0), "the output shape is not the product's");
    for (int32_t d = 0; d < m.rank; ++d) {
        REQUIRE(dim(c, &y, d) == m.shape[d], OUT(0), "the output shape is not the product's");
    }
    CHECK(scalar_requant(c, MFB_BATCH_MAT_MUL_OPTIONS_OUTPUT_MULT, MFB_BATCH_MAT_MUL_OPTIONS_OUTPUT_SHIFT));
    CHECK(act_range(c, MFB_BATCH_MAT_MUL_OPTIONS_ACT_MIN, MFB_BATCH_MAT_MUL_OPTIONS_ACT_MAX));
    CHECK(zero_point(c, &a, IN(0)));
    CHECK(zero_point(c, &b, IN(1)));
    return zero_point(c, &y, OUT(0));
}

static mf_status check_depthwise_conv_2d(const op_ctx *c, mf_op_info *info)
{
    mf_tensor x, w, y;
    int32_t mult = 1;
    CHECK(counts(c, 2, 3, 1));
    CHECK(layer_tensors(c, 4, &x, &w, &y));
    CHECK(options(c, MFB_OP_OPTIONS_DEPTHWISE_CONV2D_OPTIONS));
    const int64_t cin = dim(c, &x, 3), cout = dim(c, &w, 3);
    CHECK(int_option(c, MFB_DEPTHWISE_CONV2D_OPTIONS_DEPTH_MULTIPLIER, 1, 1, MAX_SPATIAL, &mult));
    REQUIRE(dim(c, &w, 0) == 1 && cout == cin * mult, IN(1), "the filter does not match the channels x multiplier");
    REQUIRE(dim(c, &y, 0) == dim(c, &x, 0) && dim(c, &y, 3) == cout, OUT(0), "the output shape does not match");
    CHECK(geometry(c, MFB_DEPTHWISE_CONV2D_OPTIONS_STRIDE_H, MFB_DEPTHWISE_CONV2D_OPTIONS_DILATION_H,
                   MFB_DEPTHWISE_CONV2D_OPTIONS_PAD_TOP, dim(c, &x, 1), dim(c, &w, 1), dim(c, &y, 1)));
    CHECK(geometry(c, MFB_DEPTHWISE_CONV2D_OPTIONS_STRIDE_W, MFB_DEPTHWISE_CONV2D_OPTIONS_DILATION_W,
                   MFB_DEPTHWISE_CONV2D_OPTIONS_PAD_LEFT, dim(c, &x, 2), dim(c, &w, 2), dim(c, &y, 2)));
    CHECK(check_weighted(c, &x, &w, &y, cout, 3, MFB_DEPTHWISE_CONV2D_OPTIONS_OUTPUT_MULT,
                         MFB_DEPTHWISE_CONV2D_OPTIONS_OUTPUT_SHIFT, MFB_DEPTHWISE_CONV2D_OPTIONS_ACT_MIN,
                         MFB_DEPTHWISE_CONV2D_OPTIONS_ACT_MAX));
    if (x.dtype == MFB_DTYPE_INT16) { /* mf_depthwise_conv2d_s16: no scratch, no overlap */
        return MF_OK;
    }
    info->scratch_bytes = (uint64_t)mf_depthwise_conv2d_s8_scratch_bytes((int32_t)cin, (int32_t)dim(c, &w, 1),
                                                                      (int32_t)dim(c, &w, 2), mult);
    /* mf_depthwise_conv2d_s8 runs blocks of channels over all rows when mult = 1: output on its own channels */
    row_overlap(c, &x, &y, MFB_DEPTHWISE_CONV2D_OPTIONS_STRIDE_H, MFB_DEPTHWISE_CONV2D_OPTIONS_PAD_TOP,
                mult == 1 ? cin : 1, info);
    return MF_OK;
}

/* FullyConnectedOptions.single_rounding: any non-zero byte is true, as the Python reader's bool(). */
static int32_t single_rounding(const op_ctx *c)
{
    return mfb_ubyte(c->b, c->options, MFB_FULLY_CONNECTED_OPTIONS_SINGLE_ROUNDING, 0) != 0;
}

static mf_status check_fully_connected(const op_ctx *c, mf_op_info *info)
{
    mf_tensor x, w, y;
    CHECK(counts(c, 2, 3, 1));
    CHECK(layer_tensors(c, 2, &x, &w, &y));
    CHECK(options(c, MFB_OP_OPTIONS_FULLY_CONNECTED_OPTIONS));
    const int64_t k = dim(c, &x, 1), out = dim(c, &w, 0);
    REQUIRE(dim(c, &w, 1) == k, IN(1), "the filter does not take the input's features");
    REQUIRE(dim(c, &y, 0) == dim(c, &x, 0) && dim(c, &y, 1) == out, OUT(0), "the output shape does not match");
    CHECK(check_weighted(c, &x, &w, &y, out, 0, MFB_FULLY_CONNECTED_OPTIONS_OUTPUT_MULT,
                         MFB_FULLY_CONNECTED_OPTIONS_OUTPUT_SHIFT, MFB_FULLY_CONNECTED_OPTIONS_ACT_MIN,
                         MFB_FULLY_CONNECTED_OPTIONS_ACT_MAX));
    if (x.dtype == MFB_DTYPE_INT16) { /* mf_fully_connected_s16: no scratch */
        return MF_OK;
    }
    info->scratch_bytes = (uint64_t)(w.encoding ? mf_fully_connected_encoded_s8_scratch_bytes((int32_t)k)
                                                : mf_fully_connected_s8_scratch_bytes((int32_t)k));
    return MF_OK;
}

/* _broadcast: a and b broadcast (NumPy rules, rank 4) to exactly y's shape. */
static mf_status broadcast(const op_ctx *c, const mf_tensor *a, const mf_tensor *b, const mf_tensor *y)
{
    for (int32_t d = 0; d < FOUR; ++d) { /* the inputs over every dimension, then the output: ops._broadcast */
        const int64_t da = dim(c, a, d), db = dim(c, b, d);
        REQUIRE(da == db || da == 1 || db == 1, c->ins, "the input shapes do not broadcast");
    }
    for (int32_t d = 0; d < FOUR; ++d) {
        const int64_t da = dim(c, a, d), db = dim(c, b, d);
        REQUIRE(dim(c, y, d) == (da > db ? da : db), OUT(0), "the output shape is not the broadcast shape");
    }
    return MF_OK;
}

static int same_shape(const op_ctx *c, const mf_tensor *a, const mf_tensor *b)
{
    if (a->rank != b->rank) {
        return 0;
    }
    for (int32_t d = 0; d < a->rank; ++d) {
        if (dim(c, a, d) != dim(c, b, d)) {
            return 0;
        }
    }
    return 1;
}

/* ops._input_scaling: left_shift and two input multipliers (slots in AddOptions' order, which
 * SquaredDifferenceOptions shares: left_shift, input1_mult, input1_shift, input2_mult, input2_shift), each real
 * multiplier bounded by max_shift and, at shift 0, max_mult. */
static mf_status input_scaling(const op_ctx *c, const uint32_t slots[5], int32_t left_shift_default,
                               int32_t max_left_shift, int32_t max_shift, int64_t max_mult)
{
    CHECK(int_option(c, slots[0], left_shift_default, 0, max_left_shift, 0));
    for (uint32_t i = 0; i < 2; ++i) {
        int32_t mult = 0, shift = 0;
        CHECK(int_option(c, slots[1 + 2 * i], 0, 0, INT32_MAX, &mult));
        CHECK(int_option(c, slots[2 + 2 * i], 0, MF_SHIFT_MIN, max_shift, &shift));
        REQUIRE(shift < 0 || mult <= max_mult, OPT(slots[1 + 2 * i]),
                "an input multiplier is out of range");
    }
    return MF_OK;
}

/* ops._binary_tensors and _binary_info: two int8 NHWC inputs broadcasting to the output, all quantized; an input
 * of the output's shape may be overwritten. */
static mf_status binary_tensors(const op_ctx *c, mf_op_info *info, mf_tensor *a, mf_tensor *b, mf_tensor *y)
{
    /* ADD, SUB and MUL also take int16 (ops.LAYER_DTYPES); the others int8 only */
    const int wide = c->opcode == MFB_OP_CODE_ADD || c->opcode == MFB_OP_CODE_SUB || c->opcode == MFB_OP_CODE_MUL;
    CHECK(counts(c, 2, 2, 1));
    CHECK(tensor(c, 0, 0, wide ? ANY : MFB_DTYPE_INT8, ANY, ANY, 0, 0, a, 0));
    REQUIRE(a->dtype == MFB_DTYPE_INT8 || a->dtype == MFB_DTYPE_INT16, IN(0), "a tensor has the wrong dtype");
    REQUIRE(a->rank == 4, IN(0), "a tensor has the wrong rank");
    CHECK(tensor(c, 0, 1, (int32_t)a->dtype, 4, ANY, 0, 0, b, 0));
    CHECK(tensor(c, 1, 0, (int32_t)a->dtype, 4, ACTIVATION, 0, 0, y, 0));
    CHECK(broadcast(c, a, b, y));
    CHECK(zero_point(c, a, IN(0)));
    CHECK(zero_point(c, b, IN(1)));
    CHECK(zero_point(c, y, OUT(0)));
    info->in_place = (same_shape(c, a, y) ? 1u : 0u) | (same_shape(c, b, y) ? 2u : 0u);
    return MF_OK;
}

static mf_status check_binary(const op_ctx *c, mf_op_info *info)
{
    static const uint32_t add_slots[5] = {MFB_ADD_OPTIONS_LEFT_SHIFT, MFB_ADD_OPTIONS_INPUT1_MULT,
                                          MFB_ADD_OPTIONS_INPUT1_SHIFT, MFB_ADD_OPTIONS_INPUT2_MULT,
                                          MFB_ADD_OPTIONS_INPUT2_SHIFT};
    static const uint32_t sqd_slots[5] = {
        MFB_SQUARED_DIFFERENCE_OPTIONS_LEFT_SHIFT, MFB_SQUARED_DIFFERENCE_OPTIONS_INPUT1_MULT,
        MFB_SQUARED_DIFFERENCE_OPTIONS_INPUT1_SHIFT, MFB_SQUARED_DIFFERENCE_OPTIONS_INPUT2_MULT,
        MFB_SQUARED_DIFFERENCE_OPTIONS_INPUT2_SHIFT};
    mf_tensor a, b, y;
    CHECK(binary_tensors(c, info, &a, &b, &y));
    switch (c->opcode) {
    case MFB_OP_CODE_ADD:
    case MFB_OP_CODE_SUB: /* input multipliers <= 1 (int16: <= 1/2, left_shift <= 15): no overflow of the sum */
        CHECK(options(c, MFB_OP_OPTIONS_ADD_OPTIONS));
        if (a.dtype == MFB_DTYPE_INT16) {
            CHECK(input_scaling(c, add_slots, MFB_ADD_OPTIONS_LEFT_SHIFT_DEFAULT, 15, 0, 1 << 30));
            CHECK(scalar_requant(c, MFB_ADD_OPTIONS_OUTPUT_MULT, MFB_ADD_OPTIONS_OUTPUT_SHIFT));
            return act_range_in(c, MFB_ADD_OPTIONS_ACT_MIN, MFB_ADD_OPTIONS_ACT_MAX, -32768, 32767);
        }
        CHECK(input_scaling(c, add_slots, MFB_ADD_OPTIONS_LEFT_SHIFT_DEFAULT, 20, 0, INT32_MAX));
        CHECK(scalar_requant(c, MFB_ADD_OPTIONS_OUTPUT_MULT, MFB_ADD_OPTIONS_OUTPUT_SHIFT));
        return act_range(c, MFB_ADD_OPTIONS_ACT_MIN, MFB_ADD_OPTIONS_ACT_MAX);
    case MFB_OP_CODE_MUL:
        CHECK(options(c, MFB_OP_OPTIONS_MUL_OPTIONS));
        CHECK(scalar_requant(c, MFB_MUL_OPTIONS_OUTPUT_MULT, MFB_MUL_OPTIONS_OUTPUT_SHIFT));
        if (a.dtype == MFB_DTYPE_INT16) { /* input zero points 0: the int32 product |a b| <= 2^30 */
            CHECK(act_range_in(c, MFB_MUL_OPTIONS_ACT_MIN, MFB_MUL_OPTIONS_ACT_MAX, -32768, 32767));
            REQUIRE(a.zero_point == 0, IN(0), "an int16 MUL input has zero point 0");
            REQUIRE(b.zero_point == 0, IN(1), "an int16 MUL input has zero point 0");
            return MF_OK;
        }
        return act_range(c, MFB_MUL_OPTIONS_ACT_MIN, MFB_MUL_OPTIONS_ACT_MAX);
    case MFB_OP_CODE_SQUARED_DIFFERENCE: /* input multipliers <= 1/2: the square fits int32 */
        CHECK(options(c, MFB_OP_OPTIONS_SQUARED_DIFFERENCE_OPTIONS));
        CHECK(input_scaling(c, sqd_slots, MFB_SQUARED_DIFFERENCE_OPTIONS_LEFT_SHIFT_DEFAULT, 7, 0, 1 << 30));
        return scalar_requant(c, MFB_SQUARED_DIFFERENCE_OPTIONS_OUTPUT_MULT,
                              MFB_SQUARED_DIFFERENCE_OPTIONS_OUTPUT_SHIFT);
    default: /* MAXIMUM, MINIMUM: raw values compared, one quantization */
        CHECK(no_options(c));
        CHECK(same_quantization(c, &a, &y, IN(0)));
        return same_quantization(c, &b, &y, IN(1));
    }
}

static mf_status check_pool(const op_ctx *c, mf_op_info *info)
{
    mf_tensor x, y;
    int32_t fh = 1, fw = 1;
    CHECK(counts(c, 1, 1, 1));
    CHECK(tensor(c, 0, 0, ANY, ANY, ANY, 0, 0, &x, 0));
    REQUIRE(x.dtype == MFB_DTYPE_INT8 || x.dtype == MFB_DTYPE_INT16, IN(0), "a tensor has the wrong dtype");
    REQUIRE(x.rank == 4, IN(0), "a tensor has the wrong rank");
    CHECK(tensor(c, 1, 0, (int32_t)x.dtype, 4, ACTIVATION, 0, 0, &y, 0));
    CHECK(options(c, MFB_OP_OPTIONS_POOL2D_OPTIONS));
    CHECK(int_option(c, MFB_POOL2D_OPTIONS_FILTER_H, 1, 1, 4096, &fh));
    CHECK(int_option(c, MFB_POOL2D_OPTIONS_FILTER_W, 1, 1, 4096, &fw));
    REQUIRE(dim(c, &y, 0) == dim(c, &x, 0) && dim(c, &y, 3) == dim(c, &x, 3), OUT(0), "the output shape does not match");
    CHECK(geometry(c, MFB_POOL2D_OPTIONS_STRIDE_H, -1, MFB_POOL2D_OPTIONS_PAD_TOP, dim(c, &x, 1), fh, dim(c, &y, 1)));
    CHECK(geometry(c, MFB_POOL2D_OPTIONS_STRIDE_W, -1, MFB_POOL2D_OPTIONS_PAD_LEFT, dim(c, &x, 2), fw, dim(c, &y, 2)));
    if (x.dtype == MFB_DTYPE_INT16) { /* ops._check_pool: an int16 average's window sums in int32; no overlap */
        CHECK(act_range_in(c, MFB_POOL2D_OPTIONS_ACT_MIN, MFB_POOL2D_OPTIONS_ACT_MAX, -32768, 32767));
        CHECK(same_quantization(c, &x, &y, OUT(0)));
        REQUIRE(c->opcode != MFB_OP_CODE_AVERAGE_POOL_2D || (int64_t)fh * fw <= 65535,
                OPT(MFB_POOL2D_OPTIONS_FILTER_H), "an int16 average's window exceeds 65535 taps");
        return MF_OK;
    }
    CHECK(act_range(c, MFB_POOL2D_OPTIONS_ACT_MIN, MFB_POOL2D_OPTIONS_ACT_MAX));
    row_overlap(c, &x, &y, MFB_POOL2D_OPTIONS_STRIDE_H, MFB_POOL2D_OPTIONS_PAD_TOP, 1, info);
    return same_quantization(c, &x, &y, OUT(0));
}

static mf_status check_mean(const op_ctx *c, mf_op_info *info)
{
    mf_tensor x, y;
    (void)info;
    CHECK(counts(c, 1, 1, 1));
    CHECK(tensor(c, 0, 0, MFB_DTYPE_INT8, 4, ANY, 0, 0, &x, 0));
    CHECK(tensor(c, 1, 0, MFB_DTYPE_INT8, ANY, ACTIVATION, 0, 0, &y, 0));
    const int64_t n = dim(c, &x, 0), h = dim(c, &x, 1), w = dim(c, &x, 2), ch = dim(c, &x, 3);
    const int as4 = y.rank == 4 && dim(c, &y, 0) == n && dim(c, &y, 1) == 1 && dim(c, &y, 2) == 1 && dim(c, &y, 3) == ch;
    const int as2 = y.rank == 2 && dim(c, &y, 0) == n && dim(c, &y, 1) == ch;
    REQUIRE(as4 || as2, OUT(0), "the output shape must be [N, 1, 1, C] or [N, C]");
    REQUIRE(h * w <= MEAN_MAX_ELEMENTS, IN(0), "H * W exceeds (2^31 - 1) / 255");
    CHECK(options(c, MFB_OP_OPTIONS_MEAN_OPTIONS));
    CHECK(scalar_requant(c, MFB_MEAN_OPTIONS_MULT, MFB_MEAN_OPTIONS_SHIFT));
    CHECK(zero_point(c, &x, IN(0)));
    return zero_point(c, &y, OUT(0));
}

/* ops._check_q015_output: an int16 LOGISTIC, TANH or SOFTMAX has zero points 0 and its output at scale 1/32768. */
static mf_status check_q015_output(const op_ctx *c, const mf_tensor *x, const mf_tensor *y)
{
    CHECK(zero_point(c, x, IN(0)));
    REQUIRE(x->zero_point == 0, IN(0), "an int16 activation of this op has zero point 0");
    CHECK(zero_point(c, y, OUT(0)));
    REQUIRE(y->zero_point == 0, OUT(0), "an int16 activation of this op has zero point 0");
    REQUIRE(y->scale_bits == Q015_SCALE_BITS, OUT(0), "the int16 output quantization must be scale 1/32768");
    return MF_OK;
}

/* ops.check_softmax: int8 (output 1/256, zero point -128, diff_min within the Q5.26 radius) or int16 (SoftmaxInt16:
 * depth <= 65535, zero points 0, output Q0.15, input_left_shift in [-31, 15], diff_min 0). */
static mf_status check_softmax(const op_ctx *c, mf_op_info *info)
{
    mf_tensor x, y;
    int32_t ls = 0;
    CHECK(counts(c, 1, 1, 1));
    CHECK(tensor(c, 0, 0, ANY, ANY, ANY, 0, 0, &x, 0));
    REQUIRE(x.dtype == MFB_DTYPE_INT8 || x.dtype == MFB_DTYPE_INT16, IN(0), "a tensor has the wrong dtype");
    CHECK(tensor(c, 1, 0, (int32_t)x.dtype, ANY, ACTIVATION, 0, 0, &y, 0));
    REQUIRE(same_shape(c, &x, &y), OUT(0), "the output shape must equal the input's");
    if (x.dtype == MFB_DTYPE_INT16) {
        REQUIRE(dim(c, &x, x.rank - 1) <= SOFTMAX_S16_MAX_DEPTH, IN(0), "the int16 softmax depth exceeds 65535");
        CHECK(check_q015_output(c, &x, &y));
        CHECK(options(c, MFB_OP_OPTIONS_SOFTMAX_OPTIONS));
        CHECK(int_option(c, MFB_SOFTMAX_OPTIONS_INPUT_BETA_MULT, 0, 0, INT32_MAX, 0));
        CHECK(int_option(c, MFB_SOFTMAX_OPTIONS_INPUT_LEFT_SHIFT, 0, MF_SHIFT_MIN, SOFTMAX_S16_LEFT_SHIFT_MAX, 0));
        CHECK(int_option(c, MFB_SOFTMAX_OPTIONS_DIFF_MIN, 0, 0, 0, 0));
        info->in_place = 1u;
        return MF_OK;
    }
    REQUIRE(dim(c, &x, x.rank - 1) <= SOFTMAX_MAX_DEPTH, IN(0), "the softmax depth exceeds 4095");
    REQUIRE(y.quantized && y.zero_point == -128 && y.scale_bits == SOFTMAX_OUTPUT_SCALE_BITS, OUT(0),
            "softmax output quantization must be scale 1/256, zero point -128");
    CHECK(options(c, MFB_OP_OPTIONS_SOFTMAX_OPTIONS));
    CHECK(int_option(c, MFB_SOFTMAX_OPTIONS_INPUT_BETA_MULT, 0, 0, INT32_MAX, 0));
    CHECK(int_option(c, MFB_SOFTMAX_OPTIONS_INPUT_LEFT_SHIFT, 0, 0, 31, &ls));
    /* softmax_input_radius: floor((2^5 - 1) * 2^26 / 2^left_shift) */
    const int64_t radius = ((int64_t)31 << 26) >> ls;
    CHECK(int_option(c, MFB_SOFTMAX_OPTIONS_DIFF_MIN, 0, -radius, 0, 0));
    info->in_place = 1u;
    return MF_OK;
}

static mf_status check_concatenation(const op_ctx *c, mf_op_info *info)
{
    mf_tensor x, y;
    int32_t axis = 0;
    (void)info;
    CHECK(counts(c, 1, 1024, 1));
    /* ops.check_concatenation's order: every input int8 or int16, the output of the first's type, every input of
     * the output's */
    for (uint32_t i = 0; i < c->n_in; ++i) {
        CHECK(tensor(c, 0, i, ANY, ANY, ANY, 0, 0, &x, 0));
        REQUIRE(x.dtype == MFB_DTYPE_INT8 || x.dtype == MFB_DTYPE_INT16, IN(i), "a tensor has the wrong dtype");
    }
    CHECK(tensor(c, 0, 0, ANY, ANY, ANY, 0, 0, &x, 0));
    CHECK(tensor(c, 1, 0, (int32_t)x.dtype, ANY, ACTIVATION, 0, 0, &y, 0));
    for (uint32_t i = 0; i < c->n_in; ++i) {
        CHECK(tensor(c, 0, i, ANY, ANY, ANY, 0, 0, &x, 0));
        REQUIRE(x.dtype == y.dtype, IN(i), "a concatenation's inputs share one type");
    }
    CHECK(options(c, MFB_OP_OPTIONS_CONCATENATION_OPTIONS));
    CHECK(int_option(c, MFB_CONCATENATION_OPTIONS_AXIS, 0, 0, y.rank - 1, &axis));
    int64_t total = 0;
    for (uint32_t i = 0; i < c->n_in; ++i) {
        CHECK(tensor(c, 0, i, ANY, ANY, ANY, 0, 0, &x, 0));
        int same = x.rank == y.rank;
        for (int32_t d = 0; same && d < y.rank; ++d) {
            same = d == axis || dim(c, &x, d) == dim(c, &y, d);
        }
        REQUIRE(same, IN(i), "an input's shape does not match the output's off the axis");
        CHECK(zero_point(c, &x, IN(i)));
        REQUIRE(x.dtype == MFB_DTYPE_INT8 || x.zero_point == 0, IN(i), "an int16 activation has zero point 0");
        total += dim(c, &x, axis);
    }
    REQUIRE(total == dim(c, &y, axis), OUT(0), "the axis sizes do not add up");
    CHECK(zero_point(c, &y, OUT(0)));
    REQUIRE(y.dtype == MFB_DTYPE_INT8 || y.zero_point == 0, OUT(0), "an int16 activation has zero point 0");
    const uint32_t rq = mfb_ref(c->b, c->options, MFB_CONCATENATION_OPTIONS_REQUANT);
    const uint32_t mult = mfb_ref(c->b, c->options, MFB_CONCATENATION_OPTIONS_INPUT_MULT);
    const uint32_t shift = mfb_ref(c->b, c->options, MFB_CONCATENATION_OPTIONS_INPUT_SHIFT);
    REQUIRE(rq && mfb_len(c->b, rq) == c->n_in, OPT_VEC(MFB_CONCATENATION_OPTIONS_REQUANT),
            "options.requant needs one value per input");
    REQUIRE(mult && mfb_len(c->b, mult) == c->n_in, OPT_VEC(MFB_CONCATENATION_OPTIONS_INPUT_MULT),
            "options.input_mult needs one value per input");
    REQUIRE(shift && mfb_len(c->b, shift) == c->n_in, OPT_VEC(MFB_CONCATENATION_OPTIONS_INPUT_SHIFT),
            "options.input_shift needs one value per input");
    for (uint32_t i = 0; i < c->n_in; ++i) { /* each vector whole, in ops.py's order */
        REQUIRE(c->b[rq + 4 + i] <= 1, rq, "options.requant values must be 0 or 1");
    }
    for (uint32_t i = 0; i < c->n_in; ++i) {
        REQUIRE(mfb_vec_int(c->b, mult, i) >= 0, mult, "a multiplier is negative");
    }
    for (uint32_t i = 0; i < c->n_in; ++i) {
        const int32_t s = mfb_i8_at(c->b, shift + 4 + i);
        REQUIRE(s >= MF_SHIFT_MIN && s <= MF_SHIFT_MAX, shift, "a shift is out of range");
    }
    for (uint32_t i = 0; i < c->n_in; ++i) {
        if (!c->b[rq + 4 + i]) {
            CHECK(tensor(c, 0, i, ANY, ANY, ANY, 0, 0, &x, 0));
            CHECK(same_quantization(c, &x, &y, rq + 4 + i));
        }
    }
    return MF_OK;
}

static mf_status check_pad(const op_ctx *c, mf_op_info *info)
{
    mf_tensor x, y;
    (void)info;
    CHECK(counts(c, 1, 1, 1));
    CHECK(tensor(c, 0, 0, MFB_DTYPE_INT8, 4, ANY, 0, 0, &x, 0));
    CHECK(tensor(c, 1, 0, MFB_DTYPE_INT8, 4, ACTIVATION, 0, 0, &y, 0));
    CHECK(options(c, MFB_OP_OPTIONS_PAD_OPTIONS));
    const uint32_t before = mfb_ref(c->b, c->options, MFB_PAD_OPTIONS_PAD_BEFORE);
    const uint32_t after = mfb_ref(c->b, c->options, MFB_PAD_OPTIONS_PAD_AFTER);
    const uint32_t vecs[2] = {before, after};
    for (int v = 0; v < 2; ++v) {
        REQUIRE(vecs[v] && mfb_len(c->b, vecs[v]) == FOUR, vecs[v] ? vecs[v] : c->options,
                "pad_before and pad_after need four values");
        for (uint32_t d = 0; d < FOUR; ++d) {
            const int32_t p = mfb_vec_int(c->b, vecs[v], d);
            REQUIRE(p >= 0 && p <= MAX_SPATIAL, vecs[v], "a padding is outside [0, 65536]");
        }
    }
    for (uint32_t d = 0; d < FOUR; ++d) {
        REQUIRE(dim(c, &y, (int32_t)d) == dim(c, &x, (int32_t)d) + mfb_vec_int(c->b, before, d) + mfb_vec_int(c->b, after, d),
                OUT(0), "the output shape is not the padded input shape");
    }
    return same_quantization(c, &x, &y, OUT(0));
}

static mf_status check_reshape(const op_ctx *c, mf_op_info *info)
{
    mf_tensor x, y;
    CHECK(counts(c, 1, 1, 1));
    CHECK(tensor(c, 0, 0, ANY, ANY, ANY, 0, 0, &x, 0));
    CHECK(tensor(c, 1, 0, (int32_t)x.dtype, ANY, ACTIVATION, 0, 0, &y, 0));
    REQUIRE(x.size == y.size, OUT(0), "the output holds a different number of elements");
    CHECK(no_options(c));
    if (x.dtype == MFB_DTYPE_INT8 || x.dtype == MFB_DTYPE_INT16) {
        CHECK(same_quantization(c, &x, &y, OUT(0)));
    }
    info->in_place = 1u;
    return MF_OK;
}

/* lstm.gate_accumulator_overflow on one side's [4, C, K] weights and [4, C] biases with gate shifts shift[0..4):
 * (|bias| + 128 sum|w|) 2^max(shift, 0) <= 2^31 - 1 - 2^15 for every row. The sums are below 2^31 * 128 and the
 * shift at most 30, so the bound is checked before the shift can leave int64. */
static int lstm_side_fits(const int8_t *w, const int32_t *bias, const int8_t *shift, int64_t cells, int64_t k)
{
    const int64_t limit = (int64_t)INT32_MAX - (1 << 15);
    for (int64_t g = 0; g < 4; ++g) {
        const int32_t left = shift[g] > 0 ? shift[g] : 0;
        for (int64_t r = 0; r < cells; ++r) {
            const int64_t b = bias[g * cells + r];
            int64_t bound = b < 0 ? -b : b;
            for (int64_t j = 0; j < k; ++j) {
                const int32_t v = w[(g * cells + r) * k + j];
                bound += 128 * (v < 0 ? -v : v);
            }
            if (bound > (limit >> left)) {
                return 0;
            }
        }
    }
    return 1;
}

/* lstm_16x8.gate_accumulator_overflow on one side's [4, C, K] weights and [4, C] int64 biases (none: the recurrent
 * side): |bias| + 2^15 sum|w| <= 2^47 - 1 for every row. A bias beyond +-(2^47 - 1) fails before any sum (INT64_MIN
 * is never negated); the sums are below 127 * 2^31, so every term is exact in int64. */
static int lstm_16x8_side_fits(const int8_t *w, const int64_t *bias, int64_t cells, int64_t k)
{
    const int64_t limit = ((int64_t)1 << 47) - 1;
    for (int64_t row = 0; row < 4 * cells; ++row) {
        const int64_t b = bias != 0 ? bias[row] : 0;
        if (b > limit || b < -limit) {
            return 0;
        }
        int64_t sum = 0;
        for (int64_t j = 0; j < k; ++j) {
            const int32_t v = w[row * k + j];
            sum += v < 0 ? -v : v;
        }
        if (((int64_t)1 << 15) * sum + (b < 0 ? -b : b) > limit) {
            return 0;
        }
    }
    return 1;
}

/* ops.check_lstm (kernels/lstm.py derives the bounds): one int8 sequence, constant symmetric int8 weights and
 * int32 biases (gates i, f, c, o), the states in and out, and LstmOptions. An int16 sequence selects the 16x8 form
 * (kernels/lstm_16x8.py; ops.LSTM_FORMS): int16 x, h and outputs (x and h with zero point 0), int64 input-to-gate
 * biases and no recurrent bias (inputs[4] is -1), gate shifts in [-31, 7], c's exponent in [-29, 2] and the int64
 * accumulator rule. Python's order of checks. */
static mf_status check_lstm(const op_ctx *c, mf_op_info *info)
{
    mf_tensor x, wx, wh, bx, bh, h, cell, y, h_out, c_out;
    (void)info;
    CHECK(counts(c, 7, 7, 3));
    CHECK(tensor(c, 0, 0, ANY, 3, ANY, 0, 0, &x, 0));
    REQUIRE(x.dtype == MFB_DTYPE_INT8 || x.dtype == MFB_DTYPE_INT16, IN(0), "a tensor has the wrong dtype");
    const int wide = x.dtype == MFB_DTYPE_INT16;
    const int32_t act = (int32_t)x.dtype;
    CHECK(tensor(c, 0, 1, MFB_DTYPE_INT8, 3, CONSTANT, 0, 0, &wx, 0));
    CHECK(tensor(c, 0, 2, MFB_DTYPE_INT8, 3, CONSTANT, 0, 0, &wh, 0));
    CHECK(tensor(c, 0, 3, wide ? MFB_DTYPE_INT64 : MFB_DTYPE_INT32, 2, CONSTANT, 0, 0, &bx, 0));
    if (wide) {
        REQUIRE(mfb_vec_int(c->b, c->ins, 4) == -1, IN(4), "the 16x8 form has no recurrent bias (inputs[4] must be -1)");
    } else {
        CHECK(tensor(c, 0, 4, MFB_DTYPE_INT32, 2, CONSTANT, 0, 0, &bh, 0));
    }
    CHECK(tensor(c, 0, 5, act, 2, ANY, 0, 0, &h, 0)); /* a constant initial state, or a variable */
    CHECK(tensor(c, 0, 6, MFB_DTYPE_INT16, 2, ANY, 0, 0, &cell, 0));
    CHECK(tensor(c, 1, 0, act, 3, ACTIVATION, 0, 0, &y, 0));
    CHECK(tensor(c, 1, 1, act, 2, ACTIVATION, 0, 0, &h_out, 0));
    CHECK(tensor(c, 1, 2, MFB_DTYPE_INT16, 2, ACTIVATION, 0, 0, &c_out, 0));
    REQUIRE(dim(c, &x, 0) == 1 || dim(c, &x, 1) == 1, IN(0), "the input is not one sequence ([1, T, I] or [T, 1, I])");
    const int64_t cells = dim(c, &wx, 1), k = dim(c, &x, 2);
    REQUIRE(dim(c, &wx, 0) == 4 && dim(c, &wx, 2) == k, IN(1), "the input weights are not [4, C, I]");
    REQUIRE(dim(c, &wh, 0) == 4 && dim(c, &wh, 1) == cells && dim(c, &wh, 2) == cells, IN(2),
            "the recurrent weights are not [4, C, C]");
    REQUIRE(dim(c, &bx, 0) == 4 && dim(c, &bx, 1) == cells, IN(3), "a bias is not [4, C]");
    REQUIRE(wide || (dim(c, &bh, 0) == 4 && dim(c, &bh, 1) == cells), IN(4), "a bias is not [4, C]");
    REQUIRE(dim(c, &h, 0) == 1 && dim(c, &h, 1) == cells, IN(5), "a state is not [1, C]");
    REQUIRE(dim(c, &cell, 0) == 1 && dim(c, &cell, 1) == cells, IN(6), "a state is not [1, C]");
    REQUIRE(dim(c, &h_out, 0) == 1 && dim(c, &h_out, 1) == cells, OUT(1), "a state is not [1, C]");
    REQUIRE(dim(c, &c_out, 0) == 1 && dim(c, &c_out, 1) == cells, OUT(2), "a state is not [1, C]");
    REQUIRE(dim(c, &y, 0) == dim(c, &x, 0) && dim(c, &y, 1) == dim(c, &x, 1) && dim(c, &y, 2) == cells, OUT(0),
            "the output is not the input's leading dimensions by C");
    CHECK(zero_point(c, &x, IN(0)));
    REQUIRE(!wide || x.zero_point == 0, IN(0), "an int16 tensor has zero point 0");
    CHECK(zero_point(c, &h, IN(5)));
    REQUIRE(!wide || h.zero_point == 0, IN(5), "an int16 tensor has zero point 0");
    CHECK(same_quantization(c, &h, &y, OUT(0)));
    CHECK(same_quantization(c, &h, &h_out, OUT(1)));
    REQUIRE(!cell.quantized || cell.zero_point == 0, IN(6), "the cell state has zero point 0");
    REQUIRE(!c_out.quantized || c_out.zero_point == 0, OUT(2), "the cell state has zero point 0");
    CHECK(options(c, MFB_OP_OPTIONS_LSTM_OPTIONS));
    CHECK(requant_upto(c, MFB_LSTM_OPTIONS_GATE_MULT, MFB_LSTM_OPTIONS_GATE_SHIFT, 8, wide ? 7 : MF_SHIFT_MAX));
    REQUIRE(mfb_len(c->b, mfb_ref(c->b, c->options, MFB_LSTM_OPTIONS_GATE_MULT)) == 8,
            OPT_VEC(MFB_LSTM_OPTIONS_GATE_MULT), "gate_mult needs 8 values");
    CHECK(scalar_requant(c, MFB_LSTM_OPTIONS_HIDDEN_MULT, MFB_LSTM_OPTIONS_HIDDEN_SHIFT));
    CHECK(int_option(c, MFB_LSTM_OPTIONS_HIDDEN_SHIFT, 0, MF_SHIFT_MIN, 0, 0));
    CHECK(int_option(c, MFB_LSTM_OPTIONS_CELL_EXPONENT, 0, wide ? -29 : -15, wide ? 2 : -9, 0));
    CHECK(int_option(c, MFB_LSTM_OPTIONS_CELL_CLIP, 0, 0, 32767, 0));
    const int8_t *w1 = (const int8_t *)mf_const_data(c->m, wx.buffer), *w2 = (const int8_t *)mf_const_data(c->m, wh.buffer);
    for (int64_t i = 0; i < wx.size; ++i) {
        REQUIRE(w1[i] != -128, IN(1), "weights hold -128; symmetric int8 lies in [-127, 127]");
    }
    for (int64_t i = 0; i < wh.size; ++i) {
        REQUIRE(w2[i] != -128, IN(2), "weights hold -128; symmetric int8 lies in [-127, 127]");
    }
    if (wide) {
        REQUIRE(lstm_16x8_side_fits(w1, (const int64_t *)(const void *)mf_const_data(c->m, bx.buffer), cells, k),
                IN(1), "an input-to-gate int64 accumulator could overflow");
        REQUIRE(lstm_16x8_side_fits(w2, 0, cells, cells), IN(2), "a recurrent-to-gate int64 accumulator could overflow");
        return MF_OK;
    }
    const uint32_t shifts = mfb_ref(c->b, c->options, MFB_LSTM_OPTIONS_GATE_SHIFT);
    const int8_t *shift = (const int8_t *)(c->b + shifts + 4);
    REQUIRE(lstm_side_fits(w1, (const int32_t *)(const void *)mf_const_data(c->m, bx.buffer), shift, cells, k), IN(1),
            "an input-to-gate accumulator could overflow");
    REQUIRE(lstm_side_fits(w2, (const int32_t *)(const void *)mf_const_data(c->m, bh.buffer), shift + 4, cells, cells),
            IN(2), "a recurrent-to-gate accumulator could overflow");
    return MF_OK;
}

/* ops.check_svdf (kernels/svdf.py): one step; Python's order of checks. */
static mf_status check_svdf(const op_ctx *c, mf_op_info *info)
{
    mf_tensor x, wf, wt, bias, state, y, state_out;
    int has_bias = 0;
    int32_t rank = 1;
    CHECK(counts(c, 5, 5, 2));
    CHECK(tensor(c, 0, 0, MFB_DTYPE_INT8, 2, ANY, 0, 0, &x, 0));
    CHECK(tensor(c, 0, 1, MFB_DTYPE_INT8, 2, CONSTANT, 0, 0, &wf, 0));
    CHECK(tensor(c, 0, 2, MFB_DTYPE_INT16, 2, CONSTANT, 0, 0, &wt, 0));
    CHECK(tensor(c, 0, 3, MFB_DTYPE_INT32, 1, CONSTANT, 1, 0, &bias, &has_bias));
    CHECK(tensor(c, 0, 4, MFB_DTYPE_INT16, 2, ANY, 0, 0, &state, 0)); /* a variable, or a constant initial state */
    CHECK(tensor(c, 1, 0, MFB_DTYPE_INT8, 2, ACTIVATION, 0, 0, &y, 0));
    CHECK(tensor(c, 1, 1, MFB_DTYPE_INT16, 2, ACTIVATION, 0, 0, &state_out, 0));
    const int64_t batches = dim(c, &x, 0), inputs = dim(c, &x, 1), filters = dim(c, &wt, 0), memory = dim(c, &wt, 1);
    REQUIRE(inputs <= INT32_MAX / (128 * 255), IN(0), "the input has too many features for the int32 feature sum");
    REQUIRE(dim(c, &wf, 0) == filters && dim(c, &wf, 1) == inputs, IN(1), "weights_feature is not [F, I]");
    REQUIRE(dim(c, &state, 0) == batches && dim(c, &state, 1) == memory * filters, IN(4), "the state is not [B, M * F]");
    REQUIRE(!state.quantized || state.zero_point == 0, IN(4), "the state has zero point 0");
    REQUIRE(dim(c, &state_out, 0) == batches && dim(c, &state_out, 1) == memory * filters, OUT(1),
            "the state is not [B, M * F]");
    REQUIRE(!state_out.quantized || state_out.zero_point == 0, OUT(1), "the state has zero point 0");
    CHECK(options(c, MFB_OP_OPTIONS_SVDF_OPTIONS));
    CHECK(int_option(c, MFB_SVDF_OPTIONS_RANK, MFB_SVDF_OPTIONS_RANK_DEFAULT, 1, filters, &rank));
    REQUIRE(filters % rank == 0, OPT(MFB_SVDF_OPTIONS_RANK), "the rank does not divide the filters");
    const int64_t units = filters / rank;
    REQUIRE(!has_bias || dim(c, &bias, 0) == units, IN(3), "the bias is not [units]");
    REQUIRE(dim(c, &y, 0) == batches && dim(c, &y, 1) == units, OUT(0), "the output is not [B, units]");
    CHECK(zero_point(c, &x, IN(0)));
    CHECK(zero_point(c, &y, OUT(0)));
    CHECK(scalar_requant(c, MFB_SVDF_OPTIONS_STATE_MULT, MFB_SVDF_OPTIONS_STATE_SHIFT));
    CHECK(scalar_requant(c, MFB_SVDF_OPTIONS_OUTPUT_MULT, MFB_SVDF_OPTIONS_OUTPUT_SHIFT));
    info->scratch_bytes = (uint64_t)mf_svdf_s8_scratch_bytes((int32_t)inputs);
    return MF_OK;
}

/* ops.check_assign_variable: the value is copied into a variable of its dtype, shape and quantization (the graph
 * check, mfb_model.c, decides who reads and writes a variable, and when). */
static mf_status check_assign_variable(const op_ctx *c, mf_op_info *info)
{
    mf_tensor x, y;
    (void)info;
    CHECK(counts(c, 1, 1, 1));
    CHECK(tensor(c, 0, 0, ANY, ANY, ACTIVATION, 0, 0, &x, 0));
    CHECK(tensor(c, 1, 0, (int32_t)x.dtype, ANY, ACTIVATION, 0, 0, &y, 0));
    REQUIRE(mfb_ubyte(c->b, y.table, MFB_TENSOR_VARIABLE, 0) != 0, OUT(0), "the output is not a variable");
    int same = x.rank == y.rank;
    for (int32_t d = 0; same && d < x.rank; ++d) {
        same = dim(c, &x, d) == dim(c, &y, d);
    }
    REQUIRE(same, OUT(0), "the variable's shape is not the value's");
    CHECK(same_quantization(c, &x, &y, OUT(0)));
    return no_options(c);
}

#define TRANSPOSE_MAX_DIMS 5 /* transpose.MAX_DIMS */

/* ops.check_transpose: a permutation of up to five dimensions; never in place. */
static mf_status check_transpose(const op_ctx *c, mf_op_info *info)
{
    mf_tensor x, y;
    (void)info;
    CHECK(counts(c, 1, 1, 1));
    CHECK(tensor(c, 0, 0, MFB_DTYPE_INT8, ANY, ANY, 0, 0, &x, 0));
    CHECK(tensor(c, 1, 0, MFB_DTYPE_INT8, ANY, ACTIVATION, 0, 0, &y, 0));
    CHECK(options(c, MFB_OP_OPTIONS_TRANSPOSE_OPTIONS));
    REQUIRE(x.rank <= TRANSPOSE_MAX_DIMS, IN(0), "a transpose takes at most five dimensions");
    const uint32_t perm = mfb_ref(c->b, c->options, MFB_TRANSPOSE_OPTIONS_PERM);
    REQUIRE(perm != 0 && mfb_len(c->b, perm) == (uint32_t)x.rank, perm ? perm : c->options,
            "perm must be a permutation of the input's dimensions");
    uint32_t seen = 0;
    for (int32_t d = 0; d < x.rank; ++d) {
        const int32_t p = mfb_vec_int(c->b, perm, (uint32_t)d);
        REQUIRE(p >= 0 && p < x.rank && !(seen & (1u << p)), perm,
                "perm must be a permutation of the input's dimensions");
        seen |= 1u << p;
    }
    REQUIRE(y.rank == x.rank, OUT(0), "the output shape is not the permuted input shape");
    for (int32_t d = 0; d < x.rank; ++d) {
        REQUIRE(dim(c, &y, d) == dim(c, &x, mfb_vec_int(c->b, perm, (uint32_t)d)), OUT(0),
                "the output shape is not the permuted input shape");
    }
    return same_quantization(c, &x, &y, OUT(0));
}

#define SLICE_MAX_DIMS 5 /* slicing.MAX_DIMS */

/* ops.check_strided_slice: resolved loops over up to five dimensions; for input dimension d, positions
 * begin[d] + k * strides[d] for k below its count (the output's dimension, or 1 where shrink_axis_mask drops d),
 * the first and the last inside the dimension (in int64_t: a count and a stride are below 2^31); one
 * quantization; never in place. */
static mf_status check_strided_slice(const op_ctx *c, mf_op_info *info)
{
    mf_tensor x, y;
    int32_t shrink = 0, kept = 0;
    (void)info;
    CHECK(counts(c, 1, 1, 1));
    CHECK(tensor(c, 0, 0, ANY, ANY, ANY, 0, 0, &x, 0));
    REQUIRE(x.dtype == MFB_DTYPE_INT8 || x.dtype == MFB_DTYPE_INT16, IN(0), "a tensor has the wrong dtype");
    CHECK(tensor(c, 1, 0, (int32_t)x.dtype, ANY, ACTIVATION, 0, 0, &y, 0));
    CHECK(options(c, MFB_OP_OPTIONS_STRIDED_SLICE_OPTIONS));
    REQUIRE(x.rank <= SLICE_MAX_DIMS, IN(0), "a strided slice takes at most five dimensions");
    const uint32_t begin = mfb_ref(c->b, c->options, MFB_STRIDED_SLICE_OPTIONS_BEGIN);
    const uint32_t strides = mfb_ref(c->b, c->options, MFB_STRIDED_SLICE_OPTIONS_STRIDES);
    const uint32_t begin_at = OPT_VEC(MFB_STRIDED_SLICE_OPTIONS_BEGIN);
    const uint32_t strides_at = OPT_VEC(MFB_STRIDED_SLICE_OPTIONS_STRIDES);
    const uint32_t out_at = OUT(0);
    REQUIRE(begin && mfb_len(c->b, begin) == (uint32_t)x.rank, begin_at,
            "options.begin needs one value per input dimension");
    REQUIRE(strides && mfb_len(c->b, strides) == (uint32_t)x.rank, strides_at,
            "options.strides needs one value per input dimension");
    CHECK(int_option(c, MFB_STRIDED_SLICE_OPTIONS_SHRINK_AXIS_MASK, 0, 0, ((int64_t)1 << x.rank) - 1, &shrink));
    for (int32_t d = 0; d < x.rank; ++d) {
        kept += ((shrink >> d) & 1) == 0;
    }
    REQUIRE(y.rank == kept, out_at, "the output's rank is not the input's less the dimensions shrink_axis_mask drops");
    int32_t j = 0; /* the output dimension of input dimension d */
    for (int32_t d = 0; d < x.rank; ++d) {
        const int64_t size = dim(c, &x, d);
        const int64_t b = mfb_vec_int(c->b, begin, (uint32_t)d), s = mfb_vec_int(c->b, strides, (uint32_t)d);
        REQUIRE(s != 0, strides_at, "options.strides must be non-zero");
        REQUIRE(b >= 0 && b < size, begin_at, "options.begin must lie inside its input dimension");
        const int64_t n = ((shrink >> d) & 1) ? 1 : dim(c, &y, j++);
        const int64_t last = b + (n - 1) * s;
        REQUIRE(last >= 0 && last < size, out_at, "an output dimension puts the slice's last position outside the input");
    }
    return same_quantization(c, &x, &y, out_at);
}

/* ops.check_gather: params int8 of any rank, indices int32 of any rank, the output
 * params.shape[:axis] + indices.shape + params.shape[axis + 1:] at params' quantization; never in place. The
 * indices' values are checked by run_gather at every invoke. */
static mf_status check_gather(const op_ctx *c, mf_op_info *info)
{
    mf_tensor p, i, y;
    int32_t axis = 0;
    (void)info;
    CHECK(counts(c, 2, 2, 1));
    CHECK(tensor(c, 0, 0, MFB_DTYPE_INT8, ANY, ANY, 0, 0, &p, 0));
    CHECK(tensor(c, 0, 1, MFB_DTYPE_INT32, ANY, ANY, 0, 0, &i, 0));
    CHECK(tensor(c, 1, 0, MFB_DTYPE_INT8, ANY, ACTIVATION, 0, 0, &y, 0));
    CHECK(options(c, MFB_OP_OPTIONS_GATHER_OPTIONS));
    CHECK(int_option(c, MFB_GATHER_OPTIONS_AXIS, 0, 0, p.rank - 1, &axis));
    const uint32_t out_at = OUT(0);
    const int32_t rank = p.rank - 1 + i.rank;
    REQUIRE(rank <= MF_MAX_RANK, out_at, "the output would have more than six dimensions");
    REQUIRE(y.rank == rank, out_at, "the output shape is not params' with the indices' shape at the axis");
    for (int32_t d = 0; d < rank; ++d) {
        const int64_t want = d < axis            ? dim(c, &p, d)
                             : d < axis + i.rank ? dim(c, &i, d - axis)
                                                 : dim(c, &p, d - i.rank + 1);
        REQUIRE(dim(c, &y, d) == want, out_at, "the output shape is not params' with the indices' shape at the axis");
    }
    return same_quantization(c, &p, &y, out_at);
}

#define RESIZE_MAX_SIZE 65536 /* resize.MAX_SIZE */
#define REDUCE_MAX_DIMS 5     /* reduce.MAX_DIMS */

/* ops.check_resize: NHWC, batch and channels kept, sizes up to RESIZE_MAX_SIZE, not both options. */
static mf_status check_resize(const op_ctx *c, mf_op_info *info)
{
    mf_tensor x, y;
    (void)info;
    CHECK(counts(c, 1, 1, 1));
    CHECK(tensor(c, 0, 0, MFB_DTYPE_INT8, 4, ANY, 0, 0, &x, 0));
    CHECK(tensor(c, 1, 0, MFB_DTYPE_INT8, 4, ACTIVATION, 0, 0, &y, 0));
    CHECK(options(c, MFB_OP_OPTIONS_RESIZE_OPTIONS));
    REQUIRE(dim(c, &y, 0) == dim(c, &x, 0) && dim(c, &y, 3) == dim(c, &x, 3), OUT(0),
            "the output must keep the input's batch and channels");
    for (int32_t d = 1; d <= 2; ++d) {
        REQUIRE(dim(c, &x, d) <= RESIZE_MAX_SIZE && dim(c, &y, d) <= RESIZE_MAX_SIZE, OUT(0),
                "heights and widths must be at most 65536");
    }
    REQUIRE(!(mfb_ubyte(c->b, c->options, MFB_RESIZE_OPTIONS_ALIGN_CORNERS, 0) &&
              mfb_ubyte(c->b, c->options, MFB_RESIZE_OPTIONS_HALF_PIXEL_CENTERS, 0)),
            OPT(MFB_RESIZE_OPTIONS_ALIGN_CORNERS), "align_corners and half_pixel_centers cannot both be set");
    return same_quantization(c, &x, &y, OUT(0));
}

/* ops.check_reduce: rank <= 5, distinct axes, the output the input with the axes kept as 1s or dropped (a
 * scalar as [1]); SUM and REDUCE_MEAN at most reduce.MAX_ELEMENTS values a sum, REDUCE_MAX one quantization. */
static mf_status check_reduce(const op_ctx *c, mf_op_info *info)
{
    mf_tensor x, y;
    CHECK(counts(c, 1, 1, 1));
    CHECK(tensor(c, 0, 0, MFB_DTYPE_INT8, ANY, ANY, 0, 0, &x, 0));
    CHECK(tensor(c, 1, 0, MFB_DTYPE_INT8, ANY, ACTIVATION, 0, 0, &y, 0));
    CHECK(options(c, MFB_OP_OPTIONS_REDUCE_OPTIONS));
    REQUIRE(x.rank <= REDUCE_MAX_DIMS, IN(0), "a reduction takes at most five dimensions");
    const uint32_t axes = mfb_ref(c->b, c->options, MFB_REDUCE_OPTIONS_AXES);
    const uint32_t n_axes = mfb_len(c->b, axes);
    REQUIRE(axes != 0 && n_axes >= 1, axes ? axes : c->options, "axes must be distinct axes of the input");
    uint32_t reduced = 0;
    for (uint32_t i = 0; i < n_axes; ++i) {
        const int32_t a = mfb_vec_int(c->b, axes, i);
        REQUIRE(a >= 0 && a < x.rank && !(reduced & (1u << a)), axes, "axes must be distinct axes of the input");
        reduced |= 1u << a;
    }
    int64_t n = 1;
    const int32_t dropped_rank = x.rank - (int32_t)n_axes;
    int32_t kept = y.rank == x.rank, dropped = y.rank == (dropped_rank > 0 ? dropped_rank : 1), j = 0;
    for (int32_t d = 0; d < x.rank; ++d) { /* dim(y, .) only below y's rank */
        const int64_t size = dim(c, &x, d);
        const int reduce = (reduced & (1u << d)) != 0;
        n *= reduce ? size : 1;
        kept = kept && dim(c, &y, d) == (reduce ? 1 : size);
        if (!reduce) {
            dropped = dropped && dim(c, &y, j) == size;
            ++j;
        }
    }
    dropped = dropped && (dropped_rank > 0 || dim(c, &y, 0) == 1);
    REQUIRE(kept || dropped, OUT(0), "the output shape is not the reduced input's");
    if (c->opcode == MFB_OP_CODE_REDUCE_MAX) {
        return same_quantization(c, &x, &y, OUT(0));
    }
    REQUIRE(n <= MEAN_MAX_ELEMENTS, IN(0), "a sum would take too many elements for int32");
    CHECK(scalar_requant(c, MFB_REDUCE_OPTIONS_MULT, MFB_REDUCE_OPTIONS_SHIFT));
    CHECK(zero_point(c, &x, IN(0)));
    CHECK(zero_point(c, &y, OUT(0)));
    info->scratch_bytes = (uint64_t)mf_reduce_s8_scratch_bytes((int32_t)y.size);
    return MF_OK;
}

static mf_status check_lut(const op_ctx *c, mf_op_info *info)
{
    mf_tensor x, t, y;
    CHECK(counts(c, 2, 2, 1));
    CHECK(tensor(c, 0, 0, MFB_DTYPE_INT8, ANY, ANY, 0, 0, &x, 0));
    CHECK(tensor(c, 0, 1, MFB_DTYPE_INT8, 1, CONSTANT, 0, 0, &t, 0));
    CHECK(tensor(c, 1, 0, MFB_DTYPE_INT8, ANY, ACTIVATION, 0, 0, &y, 0));
    REQUIRE(dim(c, &t, 0) == 256, IN(1), "the table must have 256 entries");
    REQUIRE(same_shape(c, &x, &y), OUT(0), "the output shape must equal the input's");
    CHECK(no_options(c));
    info->in_place = 1u;
    return MF_OK;
}

/* ops.check_logistic: LOGISTIC and TANH, int8 (a table: check_lut) or int16 (TFLite's 16x8 form: no table, zero
 * points 0, output Q0.15, LogisticOptions within activations_s16.h's contract). */
static mf_status check_logistic(const op_ctx *c, mf_op_info *info)
{
    mf_tensor x, y;
    int32_t m = 0;
    CHECK(counts(c, 1, 2, 1));
    CHECK(tensor(c, 0, 0, ANY, ANY, ANY, 0, 0, &x, 0));
    REQUIRE(x.dtype == MFB_DTYPE_INT8 || x.dtype == MFB_DTYPE_INT16, IN(0), "a tensor has the wrong dtype");
    if (x.dtype == MFB_DTYPE_INT8) {
        return check_lut(c, info);
    }
    CHECK(counts(c, 1, 1, 1));
    CHECK(tensor(c, 1, 0, MFB_DTYPE_INT16, ANY, ACTIVATION, 0, 0, &y, 0));
    REQUIRE(same_shape(c, &x, &y), OUT(0), "the output shape must equal the input's");
    CHECK(check_q015_output(c, &x, &y));
    CHECK(options(c, MFB_OP_OPTIONS_LOGISTIC_OPTIONS));
    CHECK(int_option(c, MFB_LOGISTIC_OPTIONS_INPUT_MULTIPLIER, 0, 0, S16_INPUT_MULTIPLIER_MAX, &m));
    CHECK(int_option(c, MFB_LOGISTIC_OPTIONS_INPUT_LEFT_SHIFT, 0, 0,
                     m == 0 ? S16_POT_INPUT_LEFT_SHIFT_MAX : S16_INPUT_LEFT_SHIFT_MAX, 0));
    info->in_place = 1u;
    return MF_OK;
}

/* QUANTIZE (float32 -> int8) and DEQUANTIZE (int8 -> float32): same shape; the int8 side is quantized
 * (then its scale is positive and finite: tensor_check). */
static mf_status check_boundary(const op_ctx *c, mf_op_info *info)
{
    mf_tensor x, y;
    const int quantize = c->opcode == MFB_OP_CODE_QUANTIZE;
    (void)info;
    CHECK(counts(c, 1, 1, 1));
    CHECK(tensor(c, 0, 0, quantize ? MFB_DTYPE_FLOAT32 : ANY, ANY, ANY, 0, 0, &x, 0));
    REQUIRE(quantize || x.dtype == MFB_DTYPE_INT8 || x.dtype == MFB_DTYPE_INT16, IN(0), "a tensor has the wrong dtype");
    CHECK(tensor(c, 1, 0, quantize ? ANY : MFB_DTYPE_FLOAT32, ANY, ACTIVATION, 0, 0, &y, 0));
    REQUIRE(!quantize || y.dtype == MFB_DTYPE_INT8 || y.dtype == MFB_DTYPE_INT16, OUT(0), "a tensor has the wrong dtype");
    REQUIRE(same_shape(c, &x, &y), OUT(0), "the output shape must equal the input's");
    return zero_point(c, quantize ? &y : &x, quantize ? OUT(0) : IN(0));
}

/* ops.check_requantize: int8 <-> int16 or int16 -> int16, one shape, both sides quantized, one multiplier. */
static mf_status check_requantize(const op_ctx *c, mf_op_info *info)
{
    mf_tensor x, y;
    (void)info;
    CHECK(counts(c, 1, 1, 1));
    CHECK(tensor(c, 0, 0, ANY, ANY, ANY, 0, 0, &x, 0));
    REQUIRE(x.dtype == MFB_DTYPE_INT8 || x.dtype == MFB_DTYPE_INT16, IN(0), "a tensor has the wrong dtype");
    CHECK(tensor(c, 1, 0, ANY, ANY, ACTIVATION, 0, 0, &y, 0));
    REQUIRE(y.dtype == MFB_DTYPE_INT8 || y.dtype == MFB_DTYPE_INT16, OUT(0), "a tensor has the wrong dtype");
    REQUIRE(x.dtype == MFB_DTYPE_INT16 || y.dtype == MFB_DTYPE_INT16, OUT(0), "int8 -> int8 is not a requantize");
    REQUIRE(same_shape(c, &x, &y), OUT(0), "the output shape must equal the input's");
    CHECK(zero_point(c, &x, IN(0)));
    CHECK(zero_point(c, &y, OUT(0)));
    CHECK(options(c, MFB_OP_OPTIONS_REQUANTIZE_OPTIONS));
    return scalar_requant(c, MFB_REQUANTIZE_OPTIONS_MULT, MFB_REQUANTIZE_OPTIONS_SHIFT);
}

/* --- execution: the kernel calls ops.py's prepare_* builds -------------------------------------- */

static mf_tensor io(const op_ctx *c, int output, uint32_t i)
{
    mf_tensor t;
    mf_tensor_read(c->m, (uint32_t)mfb_vec_int(c->b, output ? c->outs : c->ins, i), &t);
    return t;
}

static void *data(const op_ctx *c, const mf_tensor *t)
{
    return mf_tensor_data(c->m, (uint32_t)t->index);
}

static int32_t d32(const op_ctx *c, const mf_tensor *t, int32_t d)
{
    return mf_dim(c->m, t, d);
}

static int32_t opt(const op_ctx *c, uint32_t slot, int32_t dflt)
{
    return mfb_int(c->b, c->options, slot, dflt);
}

/* The requantization vectors of a weighted op, read in place (int32 multipliers, int8 shifts). */
typedef struct {
    const int32_t *mult;
    const int8_t *shift;
    int32_t per_channel;
} requant_vectors;

static requant_vectors vectors(const op_ctx *c, uint32_t mult_slot, uint32_t shift_slot)
{
    requant_vectors v;
    const uint32_t mult = mfb_ref(c->b, c->options, mult_slot), shift = mfb_ref(c->b, c->options, shift_slot);
    v.mult = (const int32_t *)(const void *)(c->b + mult + 4);
    v.shift = (const int8_t *)(c->b + shift + 4);
    v.per_channel = mfb_len(c->b, mult) > 1;
    return v;
}

/* The optional bias at inputs[i] (0 for none): a weighted layer's is input 2, SVDF's input 3. */
static const void *bias_at(const op_ctx *c, uint32_t i)
{
    if (c->n_in <= i || mfb_vec_int(c->b, c->ins, i) == -1) {
        return 0;
    }
    const mf_tensor b = io(c, 0, i);
    return data(c, &b);
}

static const int32_t *bias_of(const op_ctx *c)
{
    return (const int32_t *)bias_at(c, 2);
}

/* A 16x8 layer's int64 bias (0 for none): bias_of's tensor, read as int64 (the loader checked its dtype). */
static const int64_t *bias64_of(const op_ctx *c)
{
    return (const int64_t *)bias_at(c, 2);
}

static int16_t *scratch_of(const op_ctx *c)
{
    const int32_t off = mfb_vec_int(c->b, c->m->scratch_offsets, c->k);
    return off < 0 ? 0 : (int16_t *)(void *)(c->m->arena + off);
}

static mf_status run_conv_2d(const op_ctx *c)
{
    const mf_tensor x = io(c, 0, 0), w = io(c, 0, 1), y = io(c, 1, 0);
    const requant_vectors q = vectors(c, MFB_CONV2D_OPTIONS_OUTPUT_MULT, MFB_CONV2D_OPTIONS_OUTPUT_SHIFT);
    const int32_t groups = opt(c, MFB_CONV2D_OPTIONS_GROUPS, 1), sh = opt(c, MFB_CONV2D_OPTIONS_STRIDE_H, 1),
                  sw = opt(c, MFB_CONV2D_OPTIONS_STRIDE_W, 1), dh = opt(c, MFB_CONV2D_OPTIONS_DILATION_H, 1),
                  dw = opt(c, MFB_CONV2D_OPTIONS_DILATION_W, 1), pt = opt(c, MFB_CONV2D_OPTIONS_PAD_TOP, 0),
                  pl = opt(c, MFB_CONV2D_OPTIONS_PAD_LEFT, 0), lo = opt(c, MFB_CONV2D_OPTIONS_ACT_MIN, -128),
                  hi = opt(c, MFB_CONV2D_OPTIONS_ACT_MAX, 127);
    if (x.dtype == MFB_DTYPE_INT16) {
        mf_conv2d_s16(d32(c, &x, 0), d32(c, &x, 1), d32(c, &x, 2), d32(c, &x, 3), d32(c, &w, 1), d32(c, &w, 2),
                   d32(c, &y, 1), d32(c, &y, 2), d32(c, &y, 3), groups, sh, sw, dh, dw, pt, pl, q.mult, q.shift,
                   q.per_channel, lo, hi, (const int16_t *)data(c, &x), (const int8_t *)data(c, &w), bias64_of(c),
                   (int16_t *)data(c, &y));
        return MF_OK;
    }
    if (w.encoding == 0) {
        mf_conv2d_s8(scratch_of(c), d32(c, &x, 0), d32(c, &x, 1), d32(c, &x, 2), d32(c, &x, 3), d32(c, &w, 1),
                  d32(c, &w, 2), d32(c, &y, 1), d32(c, &y, 2), d32(c, &y, 3), groups, sh, sw, dh, dw, pt, pl,
                  x.zero_point, y.zero_point, q.mult, q.shift, q.per_channel, lo, hi, (const int8_t *)data(c, &x),
                  (const int8_t *)data(c, &w), bias_of(c), (int8_t *)data(c, &y));
        return MF_OK;
    }
    encoded_filter f;
    encoded_of(c->m, &w, &f);
    mf_conv2d_encoded_s8(scratch_of(c), d32(c, &x, 0), d32(c, &x, 1), d32(c, &x, 2), d32(c, &x, 3), d32(c, &w, 1),
                      d32(c, &w, 2), d32(c, &y, 1), d32(c, &y, 2), d32(c, &y, 3), groups, sh, sw, dh, dw, pt, pl,
                      f.value_bits, f.codebook_size, f.per_channel, f.position_bits, f.entries, x.zero_point,
                      y.zero_point, q.mult, q.shift, q.per_channel, lo, hi, (const int8_t *)data(c, &x), f.codebook,
                      f.values, f.positions, bias_of(c), (int8_t *)data(c, &y));
    return MF_OK;
}

static mf_status run_transpose_conv(const op_ctx *c)
{
    const mf_tensor x = io(c, 0, 0), w = io(c, 0, 1), y = io(c, 1, 0);
    const requant_vectors q = vectors(c, MFB_TRANSPOSE_CONV_OPTIONS_OUTPUT_MULT, MFB_TRANSPOSE_CONV_OPTIONS_OUTPUT_SHIFT);
    mf_transpose_conv2d_s8((int32_t *)(void *)scratch_of(c), d32(c, &x, 0), d32(c, &x, 1), d32(c, &x, 2), d32(c, &x, 3),
                        d32(c, &w, 1), d32(c, &w, 2), d32(c, &y, 1), d32(c, &y, 2), d32(c, &y, 3),
                        opt(c, MFB_TRANSPOSE_CONV_OPTIONS_STRIDE_H, 1), opt(c, MFB_TRANSPOSE_CONV_OPTIONS_STRIDE_W, 1),
                        opt(c, MFB_TRANSPOSE_CONV_OPTIONS_PAD_TOP, 0), opt(c, MFB_TRANSPOSE_CONV_OPTIONS_PAD_LEFT, 0),
                        x.zero_point, y.zero_point, q.mult, q.shift, q.per_channel,
                        opt(c, MFB_TRANSPOSE_CONV_OPTIONS_ACT_MIN, -128), opt(c, MFB_TRANSPOSE_CONV_OPTIONS_ACT_MAX, 127),
                        (const int8_t *)data(c, &x), (const int8_t *)data(c, &w), bias_of(c), (int8_t *)data(c, &y));
    return MF_OK;
}

static mf_status run_batch_matmul(const op_ctx *c)
{
    const mf_tensor a = io(c, 0, 0), b = io(c, 0, 1), y = io(c, 1, 0);
    const int adj_x = mfb_ubyte(c->b, c->options, MFB_BATCH_MAT_MUL_OPTIONS_ADJ_X, 0) != 0;
    const int adj_y = mfb_ubyte(c->b, c->options, MFB_BATCH_MAT_MUL_OPTIONS_ADJ_Y, 0) != 0;
    matmul_dims m;
    (void)batch_matmul_dims(c, &a, &b, adj_x, adj_y, &m); /* verified by check_batch_matmul */
    mf_batch_matmul_s8(m.batch, m.lhs_strides, m.rhs_strides, m.rows, m.cols, m.depth, adj_x, adj_y, a.zero_point,
                    b.zero_point, y.zero_point, opt(c, MFB_BATCH_MAT_MUL_OPTIONS_OUTPUT_MULT, 0),
                    opt(c, MFB_BATCH_MAT_MUL_OPTIONS_OUTPUT_SHIFT, 0), opt(c, MFB_BATCH_MAT_MUL_OPTIONS_ACT_MIN, -128),
                    opt(c, MFB_BATCH_MAT_MUL_OPTIONS_ACT_MAX, 127), (const int8_t *)data(c, &a),
                    (const int8_t *)data(c, &b), (int8_t *)data(c, &y));
    return MF_OK;
}

static mf_status run_depthwise_conv_2d(const op_ctx *c)
{
    const mf_tensor x = io(c, 0, 0), w = io(c, 0, 1), y = io(c, 1, 0);
    const requant_vectors q =
        vectors(c, MFB_DEPTHWISE_CONV2D_OPTIONS_OUTPUT_MULT, MFB_DEPTHWISE_CONV2D_OPTIONS_OUTPUT_SHIFT);
    const int32_t m = opt(c, MFB_DEPTHWISE_CONV2D_OPTIONS_DEPTH_MULTIPLIER, 1),
                  sh = opt(c, MFB_DEPTHWISE_CONV2D_OPTIONS_STRIDE_H, 1),
                  sw = opt(c, MFB_DEPTHWISE_CONV2D_OPTIONS_STRIDE_W, 1),
                  dh = opt(c, MFB_DEPTHWISE_CONV2D_OPTIONS_DILATION_H, 1),
                  dw = opt(c, MFB_DEPTHWISE_CONV2D_OPTIONS_DILATION_W, 1),
                  pt = opt(c, MFB_DEPTHWISE_CONV2D_OPTIONS_PAD_TOP, 0),
                  pl = opt(c, MFB_DEPTHWISE_CONV2D_OPTIONS_PAD_LEFT, 0),
                  lo = opt(c, MFB_DEPTHWISE_CONV2D_OPTIONS_ACT_MIN, -128),
                  hi = opt(c, MFB_DEPTHWISE_CONV2D_OPTIONS_ACT_MAX, 127);
    if (x.dtype == MFB_DTYPE_INT16) {
        mf_depthwise_conv2d_s16(d32(c, &x, 0), d32(c, &x, 1), d32(c, &x, 2), d32(c, &x, 3), d32(c, &w, 1),
                             d32(c, &w, 2), d32(c, &y, 1), d32(c, &y, 2), m, sh, sw, dh, dw, pt, pl, q.mult, q.shift,
                             q.per_channel, lo, hi, (const int16_t *)data(c, &x), (const int8_t *)data(c, &w),
                             bias64_of(c), (int16_t *)data(c, &y));
        return MF_OK;
    }
    if (w.encoding == 0) {
        mf_depthwise_conv2d_s8(scratch_of(c), d32(c, &x, 0), d32(c, &x, 1), d32(c, &x, 2), d32(c, &x, 3), d32(c, &w, 1),
                            d32(c, &w, 2), d32(c, &y, 1), d32(c, &y, 2), m, sh, sw, dh, dw, pt, pl, x.zero_point,
                            y.zero_point, q.mult, q.shift, q.per_channel, lo, hi, (const int8_t *)data(c, &x),
                            (const int8_t *)data(c, &w), bias_of(c), (int8_t *)data(c, &y));
        return MF_OK;
    }
    encoded_filter f;
    encoded_of(c->m, &w, &f);
    mf_depthwise_conv2d_encoded_s8(scratch_of(c), d32(c, &x, 0), d32(c, &x, 1), d32(c, &x, 2), d32(c, &x, 3),
                                d32(c, &w, 1), d32(c, &w, 2), d32(c, &y, 1), d32(c, &y, 2), m, sh, sw, dh, dw, pt, pl,
                                f.value_bits, f.codebook_size, f.per_channel, f.position_bits, f.entries, x.zero_point,
                                y.zero_point, q.mult, q.shift, q.per_channel, lo, hi, (const int8_t *)data(c, &x),
                                f.codebook, f.values, f.positions, bias_of(c), (int8_t *)data(c, &y));
    return MF_OK;
}

static mf_status run_fully_connected(const op_ctx *c)
{
    const mf_tensor x = io(c, 0, 0), w = io(c, 0, 1), y = io(c, 1, 0);
    const requant_vectors q =
        vectors(c, MFB_FULLY_CONNECTED_OPTIONS_OUTPUT_MULT, MFB_FULLY_CONNECTED_OPTIONS_OUTPUT_SHIFT);
    const int32_t lo = opt(c, MFB_FULLY_CONNECTED_OPTIONS_ACT_MIN, -128),
                  hi = opt(c, MFB_FULLY_CONNECTED_OPTIONS_ACT_MAX, 127);
    if (x.dtype == MFB_DTYPE_INT16) {
        mf_fully_connected_s16(d32(c, &x, 0), d32(c, &x, 1), d32(c, &w, 0), q.mult, q.shift, q.per_channel,
                            single_rounding(c), lo, hi,
                            (const int16_t *)data(c, &x), (const int8_t *)data(c, &w), bias64_of(c),
                            (int16_t *)data(c, &y));
        return MF_OK;
    }
    if (w.encoding == 0) { /* the weight's zero point: 0 but for an asymmetric weight (weight_zero_point) */
        mf_fully_connected_s8(scratch_of(c), d32(c, &x, 0), d32(c, &x, 1), d32(c, &w, 0), x.zero_point,
                           w.quantized ? w.zero_point : 0, y.zero_point, q.mult, q.shift, q.per_channel,
                           single_rounding(c), lo, hi, (const int8_t *)data(c, &x), (const int8_t *)data(c, &w),
                           bias_of(c), (int8_t *)data(c, &y));
        return MF_OK;
    }
    encoded_filter f;
    encoded_of(c->m, &w, &f);
    mf_fully_connected_encoded_s8(scratch_of(c), d32(c, &x, 0), d32(c, &x, 1), d32(c, &w, 0), f.value_bits,
                               f.codebook_size, f.per_channel, f.position_bits, f.entries, x.zero_point, y.zero_point,
                               q.mult, q.shift, q.per_channel, single_rounding(c), lo, hi, (const int8_t *)data(c, &x),
                               f.codebook, f.values, f.positions, bias_of(c), (int8_t *)data(c, &y));
    return MF_OK;
}

/* elementwise.broadcast_strides: element strides of a C-contiguous 4-D input read as y's shape. */
static void broadcast_strides(const op_ctx *c, const mf_tensor *t, const mf_tensor *y, int32_t strides[FOUR])
{
    int32_t step = 1;
    for (int32_t d = FOUR - 1; d >= 0; --d) {
        const int32_t n = d32(c, t, d);
        strides[d] = (n == d32(c, y, d) && n > 1) ? step : 0;
        step *= n;
    }
}

static void shape4(const op_ctx *c, const mf_tensor *t, int32_t shape[FOUR])
{
    for (int32_t d = 0; d < FOUR; ++d) {
        shape[d] = d32(c, t, d);
    }
}

/* A binary op's tensors and its kernels' shape arguments. Binary ops take their same-shape kernel when neither
 * input broadcasts (flat) and, for the requantizing ones, the output shift is <= 0: what ops._same_shape decides,
 * so both runtimes call the same kernel for one file. */
typedef struct {
    mf_tensor a, b, y;
    const int8_t *in1, *in2;
    int8_t *out;
    int flat;
    int32_t shape[FOUR], sa[FOUR], sb[FOUR];
} binary_operands;

static void binary_operands_of(const op_ctx *c, binary_operands *o)
{
    o->a = io(c, 0, 0);
    o->b = io(c, 0, 1);
    o->y = io(c, 1, 0);
    o->in1 = (const int8_t *)data(c, &o->a);
    o->in2 = (const int8_t *)data(c, &o->b);
    o->out = (int8_t *)data(c, &o->y);
    o->flat = same_shape(c, &o->a, &o->y) && same_shape(c, &o->b, &o->y);
    shape4(c, &o->y, o->shape);
    broadcast_strides(c, &o->a, &o->y, o->sa);
    broadcast_strides(c, &o->b, &o->y, o->sb);
}

/* mf_add_s8 and mf_sub_s8: ADD's and SUB's broadcasting kernels, which take the same arguments. */
typedef void (*add_kernel)(const int32_t *, const int32_t *, const int32_t *, int32_t, int32_t, int32_t, int32_t,
                           int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, const int8_t *,
                           const int8_t *, int8_t *);

/* ADD and SUB: one option table (AddOptions). */
static mf_status run_add_or_sub(const op_ctx *c, add_kernel broadcasting)
{
    binary_operands o;
    binary_operands_of(c, &o);
    const int32_t ls = opt(c, MFB_ADD_OPTIONS_LEFT_SHIFT, MFB_ADD_OPTIONS_LEFT_SHIFT_DEFAULT);
    const int32_t m1 = opt(c, MFB_ADD_OPTIONS_INPUT1_MULT, 0), s1 = opt(c, MFB_ADD_OPTIONS_INPUT1_SHIFT, 0);
    const int32_t m2 = opt(c, MFB_ADD_OPTIONS_INPUT2_MULT, 0), s2 = opt(c, MFB_ADD_OPTIONS_INPUT2_SHIFT, 0);
    const int32_t mo = opt(c, MFB_ADD_OPTIONS_OUTPUT_MULT, 0), so = opt(c, MFB_ADD_OPTIONS_OUTPUT_SHIFT, 0);
    const int32_t lo = opt(c, MFB_ADD_OPTIONS_ACT_MIN, -128), hi = opt(c, MFB_ADD_OPTIONS_ACT_MAX, 127);
    if (o.a.dtype == MFB_DTYPE_INT16) { /* add_s16 / sub_s16: broadcasting only */
        (c->opcode == MFB_OP_CODE_ADD ? mf_add_s16 : mf_sub_s16)(
            o.shape, o.sa, o.sb, ls, o.a.zero_point, m1, s1, o.b.zero_point, m2, s2, o.y.zero_point, mo, so, lo, hi,
            (const int16_t *)o.in1, (const int16_t *)o.in2, (int16_t *)o.out);
        return MF_OK;
    }
    if (o.flat && so <= 0) { /* SUB: add with the second multiplier negated (m2 in [0, 2^31)) */
        mf_add_s8_same_shape(o.y.size, ls, o.a.zero_point, m1, s1, o.b.zero_point,
                             c->opcode == MFB_OP_CODE_ADD ? m2 : -m2, s2, o.y.zero_point, mo, so, lo, hi, o.in1, o.in2,
                             o.out);
        return MF_OK;
    }
    broadcasting(o.shape, o.sa, o.sb, ls, o.a.zero_point, m1, s1, o.b.zero_point, m2, s2, o.y.zero_point, mo, so, lo,
                 hi, o.in1, o.in2, o.out);
    return MF_OK;
}

static mf_status run_add(const op_ctx *c)
{
    return run_add_or_sub(c, mf_add_s8);
}

static mf_status run_sub(const op_ctx *c)
{
    return run_add_or_sub(c, mf_sub_s8);
}

static mf_status run_mul(const op_ctx *c)
{
    binary_operands o;
    binary_operands_of(c, &o);
    if (o.a.dtype == MFB_DTYPE_INT16) {
        mf_mul_s16(o.shape, o.sa, o.sb, o.a.zero_point, o.b.zero_point, o.y.zero_point,
                   opt(c, MFB_MUL_OPTIONS_OUTPUT_MULT, 0), opt(c, MFB_MUL_OPTIONS_OUTPUT_SHIFT, 0),
                   opt(c, MFB_MUL_OPTIONS_ACT_MIN, -128), opt(c, MFB_MUL_OPTIONS_ACT_MAX, 127),
                   (const int16_t *)o.in1, (const int16_t *)o.in2, (int16_t *)o.out);
        return MF_OK;
    }
    mf_mul_s8(o.shape, o.sa, o.sb, o.a.zero_point, o.b.zero_point, o.y.zero_point,
              opt(c, MFB_MUL_OPTIONS_OUTPUT_MULT, 0), opt(c, MFB_MUL_OPTIONS_OUTPUT_SHIFT, 0),
              opt(c, MFB_MUL_OPTIONS_ACT_MIN, -128), opt(c, MFB_MUL_OPTIONS_ACT_MAX, 127), o.in1, o.in2, o.out);
    return MF_OK;
}

static mf_status run_squared_difference(const op_ctx *c)
{
    binary_operands o;
    binary_operands_of(c, &o);
    const int32_t ls =
        opt(c, MFB_SQUARED_DIFFERENCE_OPTIONS_LEFT_SHIFT, MFB_SQUARED_DIFFERENCE_OPTIONS_LEFT_SHIFT_DEFAULT);
    const int32_t m1 = opt(c, MFB_SQUARED_DIFFERENCE_OPTIONS_INPUT1_MULT, 0),
                  s1 = opt(c, MFB_SQUARED_DIFFERENCE_OPTIONS_INPUT1_SHIFT, 0);
    const int32_t m2 = opt(c, MFB_SQUARED_DIFFERENCE_OPTIONS_INPUT2_MULT, 0),
                  s2 = opt(c, MFB_SQUARED_DIFFERENCE_OPTIONS_INPUT2_SHIFT, 0);
    const int32_t mo = opt(c, MFB_SQUARED_DIFFERENCE_OPTIONS_OUTPUT_MULT, 0),
                  so = opt(c, MFB_SQUARED_DIFFERENCE_OPTIONS_OUTPUT_SHIFT, 0);
    if (o.flat && so <= 0) {
        mf_squared_difference_s8_same_shape(o.y.size, ls, o.a.zero_point, m1, s1, o.b.zero_point, m2, s2,
                                            o.y.zero_point, mo, so, o.in1, o.in2, o.out);
        return MF_OK;
    }
    mf_squared_difference_s8(o.shape, o.sa, o.sb, ls, o.a.zero_point, m1, s1, o.b.zero_point, m2, s2, o.y.zero_point,
                             mo, so, o.in1, o.in2, o.out);
    return MF_OK;
}

/* mf_maximum_s8 and mf_minimum_s8: MAXIMUM's and MINIMUM's broadcasting kernels. */
typedef void (*extremum_kernel)(const int32_t *, const int32_t *, const int32_t *, const int8_t *, const int8_t *,
                                int8_t *);

static mf_status run_extremum(const op_ctx *c, extremum_kernel broadcasting)
{
    binary_operands o;
    binary_operands_of(c, &o);
    if (o.flat) {
        mf_extremum_s8_same_shape(o.y.size, c->opcode == MFB_OP_CODE_MAXIMUM, o.in1, o.in2, o.out);
        return MF_OK;
    }
    broadcasting(o.shape, o.sa, o.sb, o.in1, o.in2, o.out);
    return MF_OK;
}

static mf_status run_maximum(const op_ctx *c)
{
    return run_extremum(c, mf_maximum_s8);
}

static mf_status run_minimum(const op_ctx *c)
{
    return run_extremum(c, mf_minimum_s8);
}

/* mf_average_pool2d_s8 and mf_max_pool2d_s8: the two pools' kernels, which take the same arguments. */
typedef void (*pool_kernel)(int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t,
                            int32_t, int32_t, int32_t, int32_t, const int8_t *, int8_t *);

/* mf_average_pool2d_s16 and mf_max_pool2d_s16: the same arguments on int16 data. */
typedef void (*pool_kernel_s16)(int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t,
                                int32_t, int32_t, int32_t, int32_t, int32_t, const int16_t *, int16_t *);

static mf_status run_pool(const op_ctx *c, pool_kernel pool, pool_kernel_s16 pool_s16)
{
    const mf_tensor x = io(c, 0, 0), y = io(c, 1, 0);
    if (x.dtype == MFB_DTYPE_INT16) {
        pool_s16(d32(c, &x, 0), d32(c, &x, 1), d32(c, &x, 2), d32(c, &x, 3), opt(c, MFB_POOL2D_OPTIONS_FILTER_H, 1),
                 opt(c, MFB_POOL2D_OPTIONS_FILTER_W, 1), d32(c, &y, 1), d32(c, &y, 2),
                 opt(c, MFB_POOL2D_OPTIONS_STRIDE_H, 1), opt(c, MFB_POOL2D_OPTIONS_STRIDE_W, 1),
                 opt(c, MFB_POOL2D_OPTIONS_PAD_TOP, 0), opt(c, MFB_POOL2D_OPTIONS_PAD_LEFT, 0),
                 opt(c, MFB_POOL2D_OPTIONS_ACT_MIN, -128), opt(c, MFB_POOL2D_OPTIONS_ACT_MAX, 127),
                 (const int16_t *)data(c, &x), (int16_t *)data(c, &y));
        return MF_OK;
    }
    pool(d32(c, &x, 0), d32(c, &x, 1), d32(c, &x, 2), d32(c, &x, 3), opt(c, MFB_POOL2D_OPTIONS_FILTER_H, 1),
         opt(c, MFB_POOL2D_OPTIONS_FILTER_W, 1), d32(c, &y, 1), d32(c, &y, 2), opt(c, MFB_POOL2D_OPTIONS_STRIDE_H, 1),
         opt(c, MFB_POOL2D_OPTIONS_STRIDE_W, 1), opt(c, MFB_POOL2D_OPTIONS_PAD_TOP, 0),
         opt(c, MFB_POOL2D_OPTIONS_PAD_LEFT, 0), opt(c, MFB_POOL2D_OPTIONS_ACT_MIN, -128),
         opt(c, MFB_POOL2D_OPTIONS_ACT_MAX, 127), (const int8_t *)data(c, &x), (int8_t *)data(c, &y));
    return MF_OK;
}

static mf_status run_average_pool_2d(const op_ctx *c)
{
    return run_pool(c, mf_average_pool2d_s8, mf_average_pool2d_s16);
}

static mf_status run_max_pool_2d(const op_ctx *c)
{
    return run_pool(c, mf_max_pool2d_s8, mf_max_pool2d_s16);
}

static mf_status run_mean(const op_ctx *c)
{
    const mf_tensor x = io(c, 0, 0), y = io(c, 1, 0);
    mf_mean_hw_s8(d32(c, &x, 0), d32(c, &x, 1), d32(c, &x, 2), d32(c, &x, 3), x.zero_point, y.zero_point,
               opt(c, MFB_MEAN_OPTIONS_MULT, 0), opt(c, MFB_MEAN_OPTIONS_SHIFT, 0), (const int8_t *)data(c, &x),
               (int8_t *)data(c, &y));
    return MF_OK;
}

static mf_status run_softmax(const op_ctx *c)
{
    const mf_tensor x = io(c, 0, 0), y = io(c, 1, 0);
    const int32_t depth = d32(c, &x, x.rank - 1);
    if (x.dtype == MFB_DTYPE_INT16) {
        mf_softmax_s16((int32_t)(x.size / depth), depth, opt(c, MFB_SOFTMAX_OPTIONS_INPUT_BETA_MULT, 0),
                       opt(c, MFB_SOFTMAX_OPTIONS_INPUT_LEFT_SHIFT, 0), (const int16_t *)data(c, &x),
                       (int16_t *)data(c, &y));
        return MF_OK;
    }
    mf_softmax_s8((int32_t)(x.size / depth), depth, opt(c, MFB_SOFTMAX_OPTIONS_INPUT_BETA_MULT, 0),
               opt(c, MFB_SOFTMAX_OPTIONS_INPUT_LEFT_SHIFT, 0), opt(c, MFB_SOFTMAX_OPTIONS_DIFF_MIN, 0),
               (const int8_t *)data(c, &x), (int8_t *)data(c, &y));
    return MF_OK;
}

static mf_status run_concatenation(const op_ctx *c)
{
    const mf_tensor y = io(c, 1, 0);
    const int32_t axis = opt(c, MFB_CONCATENATION_OPTIONS_AXIS, 0);
    const uint32_t rq = mfb_ref(c->b, c->options, MFB_CONCATENATION_OPTIONS_REQUANT);
    const uint32_t mult = mfb_ref(c->b, c->options, MFB_CONCATENATION_OPTIONS_INPUT_MULT);
    const uint32_t shift = mfb_ref(c->b, c->options, MFB_CONCATENATION_OPTIONS_INPUT_SHIFT);
    int32_t outer = 1, inner = 1, start = 0;
    for (int32_t d = 0; d < axis; ++d) {
        outer *= d32(c, &y, d);
    }
    for (int32_t d = axis + 1; d < y.rank; ++d) {
        inner *= d32(c, &y, d);
    }
    for (uint32_t i = 0; i < c->n_in; ++i) {
        const mf_tensor x = io(c, 0, i);
        const int32_t copy = d32(c, &x, axis) * inner;
        const int32_t row = d32(c, &y, axis) * inner, requant = (int32_t)c->b[rq + 4 + i];
        const int32_t m = mfb_vec_int(c->b, mult, i), s = mfb_i8_at(c->b, shift + 4 + i);
        if (y.dtype == MFB_DTYPE_INT16) {
            mf_concatenation_s16(outer, copy, row, start, requant, x.zero_point, y.zero_point, m, s,
                                 (const int16_t *)data(c, &x), (int16_t *)data(c, &y));
        } else {
            mf_concatenation_s8(outer, copy, row, start, requant, x.zero_point, y.zero_point, m, s,
                                (const int8_t *)data(c, &x), (int8_t *)data(c, &y));
        }
        start += copy;
    }
    return MF_OK;
}

static mf_status run_pad(const op_ctx *c)
{
    const mf_tensor x = io(c, 0, 0), y = io(c, 1, 0);
    const uint32_t before = mfb_ref(c->b, c->options, MFB_PAD_OPTIONS_PAD_BEFORE);
    int32_t in[FOUR], pad[FOUR], out[FOUR];
    shape4(c, &x, in);
    shape4(c, &y, out);
    for (uint32_t d = 0; d < FOUR; ++d) {
        pad[d] = mfb_vec_int(c->b, before, d);
    }
    mf_pad_s8(in, pad, out, y.zero_point, (const int8_t *)data(c, &x), (int8_t *)data(c, &y));
    return MF_OK;
}

/* The 16x8 form: no recurrent bias (inputs[4] is -1); the f c and i g multipliers follow from c's exponent p,
 * (2^30, -14) and (2^30, -29 - p) (lstm_16x8.cell_product_multipliers). */
static mf_status run_lstm_16x8(const op_ctx *c)
{
    const mf_tensor x = io(c, 0, 0), wx = io(c, 0, 1), wh = io(c, 0, 2), bx = io(c, 0, 3);
    const mf_tensor h = io(c, 0, 5), cell = io(c, 0, 6), y = io(c, 1, 0), h_out = io(c, 1, 1), c_out = io(c, 1, 2);
    const requant_vectors q = vectors(c, MFB_LSTM_OPTIONS_GATE_MULT, MFB_LSTM_OPTIONS_GATE_SHIFT);
    const int32_t p = opt(c, MFB_LSTM_OPTIONS_CELL_EXPONENT, 0); /* in [-29, 2] */
    memcpy(data(c, &h_out), data(c, &h), h.nbytes); /* the kernel updates the states in place */
    memcpy(data(c, &c_out), data(c, &cell), cell.nbytes);
    mf_lstm_16x8(d32(c, &x, 0) * d32(c, &x, 1), d32(c, &x, 2), d32(c, &wx, 1), q.mult, q.shift, 1 << 30, -14,
                 1 << 30, -29 - p, opt(c, MFB_LSTM_OPTIONS_HIDDEN_MULT, 0), opt(c, MFB_LSTM_OPTIONS_HIDDEN_SHIFT, 0), p,
                 opt(c, MFB_LSTM_OPTIONS_CELL_CLIP, 0), (const int16_t *)data(c, &x), (const int8_t *)data(c, &wx),
                 (const int8_t *)data(c, &wh), (const int64_t *)data(c, &bx), (int16_t *)data(c, &h_out),
                 (int16_t *)data(c, &c_out), (int16_t *)data(c, &y));
    return MF_OK;
}

static mf_status run_lstm(const op_ctx *c)
{
    if (io(c, 0, 0).dtype == MFB_DTYPE_INT16) {
        return run_lstm_16x8(c);
    }
    const mf_tensor x = io(c, 0, 0), wx = io(c, 0, 1), wh = io(c, 0, 2), bx = io(c, 0, 3), bh = io(c, 0, 4);
    const mf_tensor h = io(c, 0, 5), cell = io(c, 0, 6), y = io(c, 1, 0), h_out = io(c, 1, 1), c_out = io(c, 1, 2);
    const requant_vectors q = vectors(c, MFB_LSTM_OPTIONS_GATE_MULT, MFB_LSTM_OPTIONS_GATE_SHIFT);
    memcpy(data(c, &h_out), data(c, &h), h.nbytes); /* the kernel updates the states in place */
    memcpy(data(c, &c_out), data(c, &cell), cell.nbytes);
    mf_lstm_8x8_16(d32(c, &x, 0) * d32(c, &x, 1), d32(c, &x, 2), d32(c, &wx, 1), q.mult, q.shift,
                   opt(c, MFB_LSTM_OPTIONS_HIDDEN_MULT, 0), opt(c, MFB_LSTM_OPTIONS_HIDDEN_SHIFT, 0), y.zero_point,
                   opt(c, MFB_LSTM_OPTIONS_CELL_EXPONENT, 0), opt(c, MFB_LSTM_OPTIONS_CELL_CLIP, 0),
                   (const int8_t *)data(c, &x), (const int8_t *)data(c, &wx), (const int8_t *)data(c, &wh),
                   (const int32_t *)data(c, &bx), (const int32_t *)data(c, &bh), (int8_t *)data(c, &h_out),
                   (int16_t *)data(c, &c_out), (int8_t *)data(c, &y));
    return MF_OK;
}

static mf_status run_svdf(const op_ctx *c)
{
    const mf_tensor x = io(c, 0, 0), wf = io(c, 0, 1), wt = io(c, 0, 2), state = io(c, 0, 4), y = io(c, 1, 0),
                    state_out = io(c, 1, 1);
    memcpy(data(c, &state_out), data(c, &state), state.nbytes); /* the kernel updates the state in place */
    mf_svdf_s8(scratch_of(c), d32(c, &x, 0), d32(c, &x, 1), d32(c, &y, 1), d32(c, &wt, 1),
               opt(c, MFB_SVDF_OPTIONS_RANK, MFB_SVDF_OPTIONS_RANK_DEFAULT), x.zero_point, y.zero_point,
               opt(c, MFB_SVDF_OPTIONS_STATE_MULT, 0), opt(c, MFB_SVDF_OPTIONS_STATE_SHIFT, 0),
               opt(c, MFB_SVDF_OPTIONS_OUTPUT_MULT, 0), opt(c, MFB_SVDF_OPTIONS_OUTPUT_SHIFT, 0),
               (const int8_t *)data(c, &x), (int16_t *)data(c, &state_out), (const int8_t *)data(c, &wf),
               (const int16_t *)data(c, &wt), (const int32_t *)bias_at(c, 3), (int8_t *)data(c, &y));
    return MF_OK;
}

static mf_status run_assign_variable(const op_ctx *c)
{
    const mf_tensor x = io(c, 0, 0), y = io(c, 1, 0);
    memcpy(data(c, &y), data(c, &x), x.nbytes); /* the plan keeps a variable apart from every other buffer */
    return MF_OK;
}

static mf_status run_reshape(const op_ctx *c)
{
    const mf_tensor x = io(c, 0, 0), y = io(c, 1, 0);
    void *dst = data(c, &y);
    const void *src = data(c, &x);
    if (dst != src) { /* planned in place: no data moves */
        memcpy(dst, src, x.nbytes);
    }
    return MF_OK;
}

/* mf_transpose_s8's loop nest, unmerged (transpose.transpose_params merges neighbours; the bytes are the same):
 * output dimension d loops over input dimension perm[d] at its element stride, led by 1s up to five loops. */
static mf_status run_transpose(const op_ctx *c)
{
    const mf_tensor x = io(c, 0, 0), y = io(c, 1, 0);
    const uint32_t perm = mfb_ref(c->b, c->options, MFB_TRANSPOSE_OPTIONS_PERM);
    int32_t in_strides[TRANSPOSE_MAX_DIMS], loops[TRANSPOSE_MAX_DIMS], strides[TRANSPOSE_MAX_DIMS];
    int32_t step = 1;
    for (int32_t d = x.rank - 1; d >= 0; --d) {
        in_strides[d] = step;
        step *= d32(c, &x, d);
    }
    const int32_t lead = TRANSPOSE_MAX_DIMS - x.rank;
    for (int32_t d = 0; d < TRANSPOSE_MAX_DIMS; ++d) {
        const int32_t p = d < lead ? -1 : mfb_vec_int(c->b, perm, (uint32_t)(d - lead));
        loops[d] = p < 0 ? 1 : d32(c, &x, p);
        strides[d] = p < 0 ? 0 : in_strides[p];
    }
    mf_transpose_s8(loops, strides, (const int8_t *)data(c, &x), (int8_t *)data(c, &y));
    return MF_OK;
}

/* mf_strided_slice_s8's loop nest, unmerged (slicing.strided_slice_loops merges whole dimensions; the bytes are the
 * same): input dimension d read at begin[d] + k * strides[d] for k below its count (the output's dimension, 1 on
 * a shrunk one), led by 1s up to five loops. */
static mf_status run_strided_slice(const op_ctx *c)
{
    const mf_tensor x = io(c, 0, 0), y = io(c, 1, 0);
    const uint32_t begin = mfb_ref(c->b, c->options, MFB_STRIDED_SLICE_OPTIONS_BEGIN);
    const uint32_t strides = mfb_ref(c->b, c->options, MFB_STRIDED_SLICE_OPTIONS_STRIDES);
    const int32_t shrink = opt(c, MFB_STRIDED_SLICE_OPTIONS_SHRINK_AXIS_MASK, 0);
    int32_t in[SLICE_MAX_DIMS], first[SLICE_MAX_DIMS], step[SLICE_MAX_DIMS], count[SLICE_MAX_DIMS];
    const int32_t lead = SLICE_MAX_DIMS - x.rank;
    int32_t j = 0;
    for (int32_t d = 0; d < SLICE_MAX_DIMS; ++d) {
        const int32_t e = d - lead; /* the input dimension, < 0 for a leading 1 */
        in[d] = e < 0 ? 1 : d32(c, &x, e);
        first[d] = e < 0 ? 0 : mfb_vec_int(c->b, begin, (uint32_t)e);
        step[d] = e < 0 ? 1 : mfb_vec_int(c->b, strides, (uint32_t)e);
        count[d] = e < 0 || ((shrink >> e) & 1) ? 1 : d32(c, &y, j++);
    }
    if (x.dtype == MFB_DTYPE_INT16) {
        mf_strided_slice_s16(in, first, step, count, (const int16_t *)data(c, &x), (int16_t *)data(c, &y));
    } else {
        mf_strided_slice_s8(in, first, step, count, (const int8_t *)data(c, &x), (int8_t *)data(c, &y));
    }
    return MF_OK;
}

/* GATHER: params viewed as [outer, axis size, inner]. mf_gather_s8 trusts its indices, so every one is checked
 * first, at every invoke, as TFLite's GATHER fails the op: MF_ERROR_INPUT, and nothing is written. */
static mf_status run_gather(const op_ctx *c)
{
    const mf_tensor p = io(c, 0, 0), i = io(c, 0, 1), y = io(c, 1, 0);
    const int32_t axis = opt(c, MFB_GATHER_OPTIONS_AXIS, 0), axis_size = d32(c, &p, axis);
    const int32_t count = (int32_t)i.size; /* below 2^31: a verified tensor */
    const int32_t *indices = (const int32_t *)data(c, &i);
    int32_t outer = 1, inner = 1;
    for (int32_t d = 0; d < axis; ++d) {
        outer *= d32(c, &p, d);
    }
    for (int32_t d = axis + 1; d < p.rank; ++d) {
        inner *= d32(c, &p, d);
    }
    for (int32_t k = 0; k < count; ++k) {
        if (indices[k] < 0 || indices[k] >= axis_size) {
            return MF_ERROR_INPUT;
        }
    }
    mf_gather_s8(outer, count, axis_size, inner, indices, (const int8_t *)data(c, &p), (int8_t *)data(c, &y));
    return MF_OK;
}

/* resize._float32_scale without floats: a / b rounded to 24 significant bits, ties to even (IEEE single
 * division, correctly rounded), as q * 2^-k. a, b <= 2^16, so a / b < 2^23 and k >= 7; a << k < 2^56. */
static void scale24(int64_t a, int64_t b, int32_t *q_out, int32_t *k_out)
{
    if (a == 0) {
        *q_out = 0;
        *k_out = 24;
        return;
    }
    int32_t k = 0;
    while ((a << k) < (b << 23)) {
        ++k;
    }
    const int64_t num = a << k;
    int64_t q = num / b;
    const int64_t r2 = 2 * (num % b);
    q += r2 > b || (r2 == b && (q & 1));
    if (q == (1 << 24)) {
        q >>= 1;
        --k;
    }
    *q_out = (int32_t)q;
    *k_out = k;
}

/* resize._scale_10: ResizeBilinearInteger's 10-bit fixed-point scale. */
static int32_t scale10(int64_t in, int64_t out, int32_t align_corners)
{
    if (align_corners && out > 1) {
        return (int32_t)(((1 << 10) * (in - 1) + (out - 1) / 2) / (out - 1));
    }
    return (int32_t)(((1 << 10) * in + out / 2) / out);
}

/* ResizeOptions, as both resizes read them. */
typedef struct {
    mf_tensor x, y;
    int32_t align_corners, half_pixel_centers, n, h, w, ch, oh, ow;
} resize_operands;

static void resize_operands_of(const op_ctx *c, resize_operands *o)
{
    o->x = io(c, 0, 0);
    o->y = io(c, 1, 0);
    o->align_corners = mfb_ubyte(c->b, c->options, MFB_RESIZE_OPTIONS_ALIGN_CORNERS, 0) != 0;
    o->half_pixel_centers = mfb_ubyte(c->b, c->options, MFB_RESIZE_OPTIONS_HALF_PIXEL_CENTERS, 0) != 0;
    o->n = d32(c, &o->x, 0);
    o->h = d32(c, &o->x, 1);
    o->w = d32(c, &o->x, 2);
    o->ch = d32(c, &o->x, 3);
    o->oh = d32(c, &o->y, 1);
    o->ow = d32(c, &o->y, 2);
}

static mf_status run_resize_bilinear(const op_ctx *c)
{
    resize_operands o;
    resize_operands_of(c, &o);
    mf_resize_bilinear_s8(o.n, o.h, o.w, o.ch, o.oh, o.ow, o.half_pixel_centers, scale10(o.h, o.oh, o.align_corners),
                          scale10(o.w, o.ow, o.align_corners), (const int8_t *)data(c, &o.x), (int8_t *)data(c, &o.y));
    return MF_OK;
}

static mf_status run_resize_nearest_neighbor(const op_ctx *c)
{
    resize_operands o;
    resize_operands_of(c, &o);
    const int32_t ac = o.align_corners, h = o.h, w = o.w, oh = o.oh, ow = o.ow;
    int32_t scale_h, shift_h, scale_w, shift_w;
    scale24(ac && oh > 1 ? h - 1 : h, ac && oh > 1 ? oh - 1 : oh, &scale_h, &shift_h);
    scale24(ac && ow > 1 ? w - 1 : w, ac && ow > 1 ? ow - 1 : ow, &scale_w, &shift_w);
    mf_resize_nearest_s8(o.n, h, w, o.ch, oh, ow, ac, o.half_pixel_centers, scale_h, shift_h, scale_w, shift_w,
                         (const int8_t *)data(c, &o.x), (int8_t *)data(c, &o.y));
    return MF_OK;
}

/* reduce_params, unmerged (the sums and maxima are the same in any order): the input's shape led by 1s to
 * five, and a mask of the reduced axes. */
static void reduce_dims(const op_ctx *c, const mf_tensor *x, int32_t shape[REDUCE_MAX_DIMS],
                        int32_t mask[REDUCE_MAX_DIMS])
{
    const uint32_t axes = mfb_ref(c->b, c->options, MFB_REDUCE_OPTIONS_AXES);
    const int32_t lead = REDUCE_MAX_DIMS - x->rank;
    for (int32_t d = 0; d < REDUCE_MAX_DIMS; ++d) {
        shape[d] = d < lead ? 1 : d32(c, x, d - lead);
        mask[d] = 0;
    }
    for (uint32_t i = 0; i < mfb_len(c->b, axes); ++i) {
        mask[lead + mfb_vec_int(c->b, axes, i)] = 1;
    }
}

static mf_status run_reduce_max(const op_ctx *c)
{
    const mf_tensor x = io(c, 0, 0), y = io(c, 1, 0);
    int32_t shape[REDUCE_MAX_DIMS], mask[REDUCE_MAX_DIMS];
    reduce_dims(c, &x, shape, mask);
    mf_reduce_max_s8(shape, mask, (const int8_t *)data(c, &x), (int8_t *)data(c, &y));
    return MF_OK;
}

/* mf_reduce_sum_s8 and mf_reduce_mean_s8: SUM's and REDUCE_MEAN's kernels, which take the same arguments. */
typedef void (*sum_kernel)(int32_t *, const int32_t *, const int32_t *, int32_t, int32_t, int32_t, int32_t,
                           const int8_t *, int8_t *);

static mf_status run_reduce_sum(const op_ctx *c, sum_kernel reduce)
{
    const mf_tensor x = io(c, 0, 0), y = io(c, 1, 0);
    int32_t shape[REDUCE_MAX_DIMS], mask[REDUCE_MAX_DIMS];
    reduce_dims(c, &x, shape, mask);
    reduce((int32_t *)(void *)scratch_of(c), shape, mask, x.zero_point, y.zero_point, opt(c, MFB_REDUCE_OPTIONS_MULT, 0),
           opt(c, MFB_REDUCE_OPTIONS_SHIFT, 0), (const int8_t *)data(c, &x), (int8_t *)data(c, &y));
    return MF_OK;
}

static mf_status run_sum(const op_ctx *c)
{
    return run_reduce_sum(c, mf_reduce_sum_s8);
}

static mf_status run_reduce_mean(const op_ctx *c)
{
    return run_reduce_sum(c, mf_reduce_mean_s8);
}

static mf_status run_lut(const op_ctx *c)
{
    const mf_tensor x = io(c, 0, 0), t = io(c, 0, 1), y = io(c, 1, 0);
    mf_lut_s8((int32_t)x.size, (const int8_t *)data(c, &t), (const int8_t *)data(c, &x), (int8_t *)data(c, &y));
    return MF_OK;
}

typedef void (*activation_kernel_s16)(int32_t size, int32_t input_multiplier, int32_t input_left_shift,
                                      const int16_t *input, int16_t *output);

/* LOGISTIC and TANH: the int8 table, or the op's int16 kernel. */
static mf_status run_activation(const op_ctx *c, activation_kernel_s16 kernel_s16)
{
    const mf_tensor x = io(c, 0, 0), y = io(c, 1, 0);
    if (x.dtype == MFB_DTYPE_INT8) {
        return run_lut(c);
    }
    kernel_s16((int32_t)x.size, opt(c, MFB_LOGISTIC_OPTIONS_INPUT_MULTIPLIER, 0),
               opt(c, MFB_LOGISTIC_OPTIONS_INPUT_LEFT_SHIFT, 0), (const int16_t *)data(c, &x), (int16_t *)data(c, &y));
    return MF_OK;
}

static mf_status run_logistic(const op_ctx *c)
{
    return run_activation(c, mf_logistic_s16);
}

static mf_status run_tanh(const op_ctx *c)
{
    return run_activation(c, mf_tanh_s16);
}

static float scale_of(const mf_tensor *t)
{
    float f;
    memcpy(&f, &t->scale_bits, sizeof f);
    return f;
}

static mf_status run_quantize(const op_ctx *c)
{
    const mf_tensor x = io(c, 0, 0), y = io(c, 1, 0);
    if (y.dtype == MFB_DTYPE_INT16) {
        mf_quantize_s16((int32_t)x.size, scale_of(&y), y.zero_point, (const float *)data(c, &x), (int16_t *)data(c, &y));
        return MF_OK;
    }
    mf_quantize_s8((int32_t)x.size, scale_of(&y), y.zero_point, (const float *)data(c, &x), (int8_t *)data(c, &y));
    return MF_OK;
}

static mf_status run_dequantize(const op_ctx *c)
{
    const mf_tensor x = io(c, 0, 0), y = io(c, 1, 0);
    if (x.dtype == MFB_DTYPE_INT16) {
        mf_dequantize_s16((int32_t)x.size, scale_of(&x), x.zero_point, (const int16_t *)data(c, &x),
                          (float *)data(c, &y));
        return MF_OK;
    }
    mf_dequantize_s8((int32_t)x.size, scale_of(&x), x.zero_point, (const int8_t *)data(c, &x), (float *)data(c, &y));
    return MF_OK;
}

static mf_status run_requantize(const op_ctx *c)
{
    const mf_tensor x = io(c, 0, 0), y = io(c, 1, 0);
    const int32_t n = (int32_t)x.size, zi = x.zero_point, zo = y.zero_point;
    const int32_t mult = opt(c, MFB_REQUANTIZE_OPTIONS_MULT, 0), shift = opt(c, MFB_REQUANTIZE_OPTIONS_SHIFT, 0);
    if (x.dtype == MFB_DTYPE_INT8) {
        mf_requantize_s8_s16(n, zi, zo, mult, shift, (const int8_t *)data(c, &x), (int16_t *)data(c, &y));
    } else if (y.dtype == MFB_DTYPE_INT8) {
        mf_requantize_s16_s8(n, zi, zo, mult, shift, (const int16_t *)data(c, &x), (int8_t *)data(c, &y));
    } else {
        mf_requantize_s16_s16(n, zi, zo, mult, shift, (const int16_t *)data(c, &x), (int16_t *)data(c, &y));
    }
    return MF_OK;
}

/* --- dispatch ---------------------------------------------------------------------------------- */

/* Every operator: X(name of its MFB_OP_CODE_, check, run), what ops.py's OP_DEFS is to the Python runtime. */
#define OPERATORS(X)                                                                                                  \
    X(CONV_2D, check_conv_2d, run_conv_2d)                                                                            \
    X(DEPTHWISE_CONV_2D, check_depthwise_conv_2d, run_depthwise_conv_2d)                                              \
    X(FULLY_CONNECTED, check_fully_connected, run_fully_connected)                                                    \
    X(ADD, check_binary, run_add)                                                                                     \
    X(MUL, check_binary, run_mul)                                                                                     \
    X(AVERAGE_POOL_2D, check_pool, run_average_pool_2d)                                                               \
    X(MAX_POOL_2D, check_pool, run_max_pool_2d)                                                                       \
    X(MEAN, check_mean, run_mean)                                                                                     \
    X(SOFTMAX, check_softmax, run_softmax)                                                                            \
    X(CONCATENATION, check_concatenation, run_concatenation)                                                          \
    X(PAD, check_pad, run_pad)                                                                                        \
    X(RESHAPE, check_reshape, run_reshape)                                                                            \
    X(LOGISTIC, check_logistic, run_logistic)                                                                         \
    X(TANH, check_logistic, run_tanh)                                                                                 \
    X(HARDSWISH, check_lut, run_lut)                                                                                  \
    X(QUANTIZE, check_boundary, run_quantize)                                                                         \
    X(DEQUANTIZE, check_boundary, run_dequantize)                                                                     \
    X(GELU, check_lut, run_lut)                                                                                       \
    X(SILU, check_lut, run_lut)                                                                                       \
    X(HARD_SIGMOID, check_lut, run_lut)                                                                               \
    X(LEAKY_RELU, check_lut, run_lut)                                                                                 \
    X(ELU, check_lut, run_lut)                                                                                        \
    X(MISH, check_lut, run_lut)                                                                                       \
    X(RELU, check_lut, run_lut)                                                                                       \
    X(RELU6, check_lut, run_lut)                                                                                      \
    X(RELU_N1_TO_1, check_lut, run_lut)                                                                               \
    X(CLAMP, check_lut, run_lut)                                                                                      \
    X(SUB, check_binary, run_sub)                                                                                     \
    X(MAXIMUM, check_binary, run_maximum)                                                                             \
    X(MINIMUM, check_binary, run_minimum)                                                                             \
    X(SQUARED_DIFFERENCE, check_binary, run_squared_difference)                                                       \
    X(TRANSPOSE, check_transpose, run_transpose)                                                                      \
    X(BATCH_MATMUL, check_batch_matmul, run_batch_matmul)                                                             \
    X(TRANSPOSE_CONV, check_transpose_conv, run_transpose_conv)                                                       \
    X(RESIZE_NEAREST_NEIGHBOR, check_resize, run_resize_nearest_neighbor)                                             \
    X(RESIZE_BILINEAR, check_resize, run_resize_bilinear)                                                             \
    X(SUM, check_reduce, run_sum)                                                                                     \
    X(REDUCE_MAX, check_reduce, run_reduce_max)                                                                       \
    X(REDUCE_MEAN, check_reduce, run_reduce_mean)                                                                     \
    X(RSQRT, check_lut, run_lut)                                                                                      \
    X(STRIDED_SLICE, check_strided_slice, run_strided_slice)                                                          \
    X(GATHER, check_gather, run_gather)                                                                                \
    X(ASSIGN_VARIABLE, check_assign_variable, run_assign_variable)                                                    \
    X(REQUANTIZE, check_requantize, run_requantize)                                                                  \
    X(UNIDIRECTIONAL_SEQUENCE_LSTM, check_lstm, run_lstm)                                                            \
    X(SVDF, check_svdf, run_svdf)

/* An operator of an opcode this build leaves out: refused at its opcode field. */
static mf_status not_built(const op_ctx *c)
{
    const uint32_t at = mfb_field(c->b, c->op, MFB_OPERATOR_OPCODE);
    return mf_fail(c->error, MF_ERROR_OPERATOR_NOT_BUILT, at ? at : c->op, (int32_t)c->k,
                   "this build leaves the operator out (MF_OPS_SELECTED): define MF_OP_ENABLE_<its opcode>");
}

#define CHECK_CASE(name, check, run)                                                                                  \
    case MFB_OP_CODE_##name:                                                                                          \
        return MFB_OP_BUILT_##name ? check(&c, info) : not_built(&c);

mf_status mf_check_operator(const mf_model *m, uint32_t k, mf_op_info *info, mf_error *error)
{
    op_ctx c;
    ctx_init(&c, m, k, error);
    info->scratch_bytes = 0;
    info->in_place = 0;
    info->overlap_bytes = 0;
    info->overlap_step = 1;
    switch (c.opcode) {
        OPERATORS(CHECK_CASE)
    default:
        return fail(&c, c.op, "unsupported opcode");
    }
}

/* The loader accepted the model, so its opcodes are known and built: the other returns are never taken. */
#define RUN_CASE(name, check, run)                                                                                    \
    case MFB_OP_CODE_##name:                                                                                          \
        return MFB_OP_BUILT_##name ? run(&c) : MF_ERROR_OPERATOR_NOT_BUILT;

mf_status mf_run_operator(const mf_model *m, uint32_t k)
{
    op_ctx c;
    ctx_init(&c, m, k, 0);
    switch (c.opcode) {
        OPERATORS(RUN_CASE)
    default:
        return MF_ERROR_OPERATOR;
    }
}

const char *mf_kernel_path(void)
{
    return MF_KERNEL_PATH;
}
