/*
 * Load a .mfb model and verify every byte before anything runs: the twin of
 * runtime/loader.py, with its checks in its order:
 *   1. the header: length, identifier, major version, sizes and alignment
 *      of the flatbuffer and the constant segment, exact file length;
 *   2. the flatbuffer's structure (mfb_reader.c);
 *   3. meaning: buffers inside the segment and 16-aligned; tensor dtypes,
 *      shapes (with overflow checks) against buffer bytes; quantization;
 *      weight encodings (weight_encoding.c); inputs and outputs; metadata;
 *      the graph's order; each operator's own rules (mfb_ops.c);
 *   4. the memory plan: every activation and scratch inside the arena,
 *      arena_bytes exactly where the last of them ends, and no two buffers
 *      alive at the same time overlap, except the in-place reuses and
 *      overlap pairs memory_plan.py allows.
 * A refusal points where docs/FORMAT.md says ("Where an error points"), at
 * the same byte as the Python loader's.
 *
 * No heap: while loading, the caller's arena is the verifier's workspace:
 * each operator's scratch bytes and overlap distance and step as its check
 * reported them (so the plan check does not run the operator checks
 * again), one span (offset, size, lifetime, overlap partner) per tensor and
 * per operator, and three
 * int16 arrays of one entry a tensor (tensors number at most 4096): first
 * and last use of each activation (memory_plan.lifetimes, -1 for none) and
 * its alias group (memory_plan.alias_groups, a union-find), then one bit a
 * tensor (the tensors the graph writes). Only the last check, the
 * overlaps, needs it: mf_arena_bytes makes every other check without one
 * (that bit set on its stack, 512 bytes, and each operator's scratch from
 * its check run again) before it answers.
 * Every pass is linear or quadratic in the counts, never in the bytes a
 * shape claims.
 */
#include <string.h>

#include "mfb_internal.h"
#include "weight_encoding.h"

static mf_status fail(mf_error *e, mf_status s, uint32_t at, int32_t index, const char *message)
{
    return mf_fail(e, s, at, index, message);
}

/* n rounded up to a multiple of 16, in 64 bits: a damaged file's scratch size may pass 2^32. */
static uint64_t align16(uint64_t n)
{
    return (n + MF_ALIGNMENT - 1) / MF_ALIGNMENT * MF_ALIGNMENT;
}

static uint32_t dtype_bytes(uint32_t dtype)
{
    switch (dtype) {
    case MFB_DTYPE_INT8: return 1u;
    case MFB_DTYPE_INT16: return 2u;
    case MFB_DTYPE_INT64: return 8u;
    default: return 4u; /* INT32, FLOAT32 */
    }
}

/* --- tensors ----------------------------------------------------------------------------------- */

int32_t mf_dim(const mf_model *m, const mf_tensor *t, int32_t d)
{
    return mfb_vec_int(m->file, t->shape, (uint32_t)d);
}

/* A positive, finite float32: sign 0, exponent not all ones, not zero. No float arithmetic. */
static int positive_finite(uint32_t bits)
{
    return (bits >> 31) == 0 && ((bits >> 23) & 0xFFu) != 0xFFu && bits != 0;
}

void mf_tensor_read(const mf_model *m, uint32_t i, mf_tensor *t)
{
    const uint8_t *b = m->file;
    const uint32_t table = mfb_vec_table(b, m->tensors, i);
    const uint32_t scale = mfb_uint(b, table, MFB_TENSOR_SCALE, 0);
    const uint32_t channel_scales = mfb_ref(b, table, MFB_TENSOR_CHANNEL_SCALES);
    t->index = (int32_t)i;
    t->table = table;
    t->shape = mfb_ref(b, table, MFB_TENSOR_SHAPE);
    t->rank = (int32_t)mfb_len(b, t->shape);
    t->dtype = (uint32_t)mfb_byte(b, table, MFB_TENSOR_DTYPE, MFB_TENSOR_DTYPE_DEFAULT);
    t->buffer = mfb_uint(b, table, MFB_TENSOR_BUFFER, 0);
    t->encoding = mfb_ref(b, table, MFB_TENSOR_ENCODING);
    t->quantized = (scale & 0x7FFFFFFFu) != 0 || channel_scales != 0; /* -0.0 == 0 */
    t->zero_point = mfb_int(b, table, MFB_TENSOR_ZERO_POINT, 0);
    t->scale_bits = channel_scales ? (mfb_len(b, channel_scales) ? mfb_vec_uint(b, channel_scales, 0) : 0) : scale;
    t->size = 1;
    for (int32_t d = 0; d < t->rank && d < MF_MAX_RANK; ++d) {
        const int32_t n = mf_dim(m, t, d);
        t->size *= n > 0 ? n : 0;
        if (t->size > (int64_t)MF_MAX_BYTES) {
            t->size = (int64_t)MF_MAX_BYTES + 1; /* clamped: only compared with the limit */
        }
    }
    const uint64_t bytes = (uint64_t)t->size * dtype_bytes(t->dtype);
    t->nbytes = bytes > MF_MAX_BYTES ? MF_MAX_BYTES + 1 : (uint32_t)bytes;
}

uint32_t mf_buffer_bytes(const mf_model *m, uint32_t buffer)
{
    return mfb_vec_uint(m->file, m->buffer_sizes, buffer);
}

const uint8_t *mf_const_data(const mf_model *m, uint32_t buffer)
{
    return m->file + m->segment + mfb_vec_uint(m->file, m->buffer_offsets, buffer);
}

static int buffer_exists(const mf_model *m, uint32_t buffer)
{
    return buffer > 0 && buffer < mfb_len(m->file, m->buffer_offsets);
}

/* loader._check_encoding: a WeightEncoding's fields and streams (mf_weight_encoding_validate). */
static mf_status encoding_check(const mf_model *m, const mf_tensor *t, mf_error *e)
{
    static const char *const reasons[] = {
        "", "encoding.value_bits is out of range or 8 in the dense layout", "encoding.position_bits is above 8",
        "encoding.entries do not fit the shape, the stream limit or the positions",
        "encoding.axis does not fit the shape, or is missing for a sparse layout or per-channel palettes",
        "encoding.codebook is malformed, holds -128 or is indexed past its end",
        "encoding.codebook_per_channel is set without a codebook", "the value stream's length does not match",
        "the position stream's length does not match",
    };
    const uint8_t *b = m->file;
    const uint32_t enc = t->encoding;
    const int32_t idx = t->index;
    if (t->dtype != MFB_DTYPE_INT8 || t->buffer == 0) {
        return fail(e, MF_ERROR_ENCODING, enc, idx, "only constant int8 weights can be encoded");
    }
    const uint32_t pb = mfb_ubyte(b, enc, MFB_WEIGHT_ENCODING_POSITION_BITS, MFB_WEIGHT_ENCODING_POSITION_BITS_DEFAULT);
    const uint32_t pbuf = mfb_uint(b, enc, MFB_WEIGHT_ENCODING_POSITIONS_BUFFER, 0);
    const uint32_t pbuf_at = mfb_at(b, enc, MFB_WEIGHT_ENCODING_POSITIONS_BUFFER);
    if ((pb || pbuf) && !buffer_exists(m, pbuf)) {
        return fail(e, MF_ERROR_ENCODING, pbuf_at, idx, "encoding.positions_buffer does not exist");
    }
    if (!buffer_exists(m, t->buffer)) {
        return fail(e, MF_ERROR_TENSOR, mfb_at(b, t->table, MFB_TENSOR_BUFFER), idx, "the tensor's buffer does not exist");
    }
    if (pb == 0 && pbuf) {
        return fail(e, MF_ERROR_ENCODING, pbuf_at, idx, "the dense layout has no positions");
    }
    int32_t shape[MF_MAX_RANK];
    for (int32_t d = 0; d < t->rank; ++d) {
        shape[d] = mf_dim(m, t, d);
    }
    const uint32_t codebook = mfb_ref(b, enc, MFB_WEIGHT_ENCODING_CODEBOOK);
    const int32_t r = mf_weight_encoding_validate(
        shape, t->rank, (int32_t)mfb_ubyte(b, enc, MFB_WEIGHT_ENCODING_VALUE_BITS, MFB_WEIGHT_ENCODING_VALUE_BITS_DEFAULT),
        codebook ? (const int8_t *)(b + codebook + 4) : 0, mfb_len(b, codebook),
        mfb_ubyte(b, enc, MFB_WEIGHT_ENCODING_CODEBOOK_PER_CHANNEL, 0) != 0,
        mfb_int(b, enc, MFB_WEIGHT_ENCODING_AXIS, MFB_WEIGHT_ENCODING_AXIS_DEFAULT), (int32_t)pb,
        mfb_uint(b, enc, MFB_WEIGHT_ENCODING_ENTRIES, 0), mf_const_data(m, t->buffer), mf_buffer_bytes(m, t->buffer),
        pbuf ? mf_const_data(m, pbuf) : 0, pbuf ? mf_buffer_bytes(m, pbuf) : 0);
    /* each refusal points at the field weight_encoding.validate names */
    const uint32_t where[] = {
        enc, mfb_at(b, enc, MFB_WEIGHT_ENCODING_VALUE_BITS), mfb_at(b, enc, MFB_WEIGHT_ENCODING_POSITION_BITS),
        mfb_at(b, enc, MFB_WEIGHT_ENCODING_ENTRIES), mfb_at(b, enc, MFB_WEIGHT_ENCODING_AXIS),
        mfb_ref_at(b, enc, MFB_WEIGHT_ENCODING_CODEBOOK), mfb_at(b, enc, MFB_WEIGHT_ENCODING_CODEBOOK_PER_CHANNEL),
        mfb_at(b, t->table, MFB_TENSOR_BUFFER), pbuf_at,
    };
    return r == WE_VALID ? MF_OK : fail(e, MF_ERROR_ENCODING, where[r], idx, reasons[r]);
}

/* loader._check_tensor. */
static mf_status tensor_check(const mf_model *m, uint32_t i, mf_error *e)
{
    const uint8_t *b = m->file;
    mf_tensor t;
    mf_tensor_read(m, i, &t);
    const int32_t idx = (int32_t)i;
    if (t.rank < 1 || t.rank > MF_MAX_RANK) {
        return fail(e, MF_ERROR_TENSOR, t.shape ? t.shape : t.table, idx, "a tensor's rank is outside [1, 6]");
    }
    for (int32_t d = 0; d < t.rank; ++d) {
        if (mf_dim(m, &t, d) < 1) {
            return fail(e, MF_ERROR_TENSOR, t.shape, idx, "a tensor's dimensions must be >= 1");
        }
    }
    if (t.nbytes > MF_MAX_BYTES) {
        return fail(e, MF_ERROR_TENSOR, t.shape, idx, "a tensor needs more than 2^31 - 1 bytes");
    }
    if (t.quantized) {
        const uint32_t cs = mfb_ref(b, t.table, MFB_TENSOR_CHANNEL_SCALES);
        const uint32_t scale = mfb_uint(b, t.table, MFB_TENSOR_SCALE, 0);
        const uint32_t count = cs ? mfb_len(b, cs) : 1u;
        if (count == 0 || (cs && (scale & 0x7FFFFFFFu) != 0)) {
            return fail(e, MF_ERROR_TENSOR, cs, idx, "give either one scale or per-channel scales");
        }
        for (uint32_t c = 0; c < count; ++c) {
            if (!positive_finite(cs ? mfb_vec_uint(b, cs, c) : scale)) {
                return fail(e, MF_ERROR_TENSOR, cs ? cs : mfb_at(b, t.table, MFB_TENSOR_SCALE), idx,
                            "scales must be finite and > 0");
            }
        }
        if (t.dtype == MFB_DTYPE_INT8 && (t.zero_point < -128 || t.zero_point > 127)) {
            return fail(e, MF_ERROR_TENSOR, mfb_at(b, t.table, MFB_TENSOR_ZERO_POINT), idx,
                        "an int8 zero point is outside [-128, 127]");
        }
        if (t.dtype == MFB_DTYPE_INT16 && (t.zero_point < -32768 || t.zero_point > 32767)) {
            return fail(e, MF_ERROR_TENSOR, mfb_at(b, t.table, MFB_TENSOR_ZERO_POINT), idx,
                        "an int16 zero point is outside [-32768, 32767]");
        }
        const int32_t ax = mfb_int(b, t.table, MFB_TENSOR_QUANTIZED_AXIS, MFB_TENSOR_QUANTIZED_AXIS_DEFAULT);
        const int ok = (ax == -1 && !cs) ||
                       (ax >= 0 && ax < t.rank && (int64_t)count == (int64_t)mf_dim(m, &t, ax));
        if (!ok) {
            return fail(e, MF_ERROR_TENSOR, mfb_at(b, t.table, MFB_TENSOR_QUANTIZED_AXIS), idx,
                        "quantized_axis does not fit the scales and the shape");
        }
    }
    if (t.encoding) {
        const mf_status s = encoding_check(m, &t, e);
        if (s != MF_OK) {
            return s;
        }
    } else if (t.buffer) {
        if (!buffer_exists(m, t.buffer)) {
            return fail(e, MF_ERROR_TENSOR, mfb_at(b, t.table, MFB_TENSOR_BUFFER), idx, "the tensor's buffer does not exist");
        }
        if (mf_buffer_bytes(m, t.buffer) != t.nbytes) {
            return fail(e, MF_ERROR_TENSOR, mfb_at(b, t.table, MFB_TENSOR_BUFFER), idx,
                        "the tensor's buffer does not hold shape x dtype bytes");
        }
    }
    if (t.buffer && mfb_ubyte(b, t.table, MFB_TENSOR_VARIABLE, 0) != 0) {
        return fail(e, MF_ERROR_TENSOR, mfb_at(b, t.table, MFB_TENSOR_VARIABLE), idx,
                    "a variable is an activation (buffer 0)");
    }
    return MF_OK;
}

/* --- the header and the model's tables ------------------------------------------------------ */

/* loader.check_header. */
static mf_status header_check(const uint8_t *f, uint32_t n, mf_error *e)
{
    if (n < 32) {
        return fail(e, MF_ERROR_HEADER, 0, -1, "the file is shorter than the 32-byte header");
    }
    if (memcmp(f + 4, MFB_FILE_IDENTIFIER, 4) != 0) {
        return fail(e, MF_ERROR_HEADER, 4, -1, "not a .mfb file (the identifier is not MFB0)");
    }
    if (mfb_u16_at(f, 8) != MFB_FORMAT_MAJOR) {
        return fail(e, MF_ERROR_HEADER, 8, -1, "the format's major version is not readable by this runtime");
    }
    const uint32_t fb = mfb_u32_at(f, 12), seg = mfb_u32_at(f, 16), seg_bytes = mfb_u32_at(f, 20);
    if (mfb_u32_at(f, 24) != n) {
        return fail(e, MF_ERROR_HEADER, 24, -1, "the header's file size differs from the file's (truncated or extended)");
    }
    if (mfb_u32_at(f, 28) != 0) {
        return fail(e, MF_ERROR_HEADER, 28, -1, "the reserved header word must be 0");
    }
    if (fb < 32 || fb > seg) {
        return fail(e, MF_ERROR_HEADER, 12, -1, "the flatbuffer's size must lie in [32, segment offset]");
    }
    if (seg % MF_ALIGNMENT != 0 || seg - fb >= MF_ALIGNMENT) {
        return fail(e, MF_ERROR_HEADER, 16, -1, "the segment offset must be the first multiple of 16 after the flatbuffer");
    }
    if ((uint64_t)seg + seg_bytes != n) {
        return fail(e, MF_ERROR_HEADER, 20, -1, "the constant segment must end the file");
    }
    const uint32_t root = mfb_u32_at(f, 0);
    if (root < 32 || root >= fb) {
        return fail(e, MF_ERROR_HEADER, 0, -1, "the root offset must point past the header, inside the flatbuffer");
    }
    return MF_OK;
}

/* The header and the flatbuffer's structure; then the model's vectors are at hand. */
static mf_status structure(mf_model *m, const uint8_t *file, uint32_t file_bytes, mf_error *e)
{
    mf_status s = header_check(file, file_bytes, e);
    if (s != MF_OK) {
        return s;
    }
    const uint32_t fb = mfb_u32_at(file, 12);
    if ((s = mf_verify(file, fb, e)) != MF_OK) {
        return s;
    }
    const uint32_t root = mfb_u32_at(file, 0);
    memset(m, 0, sizeof *m);
    m->file = file;
    m->file_bytes = file_bytes;
    m->segment = mfb_u32_at(file, 16);
    m->tensors = mfb_ref(file, root, MFB_MODEL_TENSORS);
    m->operators = mfb_ref(file, root, MFB_MODEL_OPERATORS);
    m->inputs = mfb_ref(file, root, MFB_MODEL_INPUTS);
    m->outputs = mfb_ref(file, root, MFB_MODEL_OUTPUTS);
    m->buffer_offsets = mfb_ref(file, root, MFB_MODEL_BUFFER_OFFSETS);
    m->buffer_sizes = mfb_ref(file, root, MFB_MODEL_BUFFER_SIZES);
    m->n_tensors = mfb_len(file, m->tensors);
    m->n_operators = mfb_len(file, m->operators);
    const uint32_t plan = mfb_ref(file, root, MFB_MODEL_PLAN);
    m->arena_bytes = plan ? mfb_uint(file, plan, MFB_MEMORY_PLAN_ARENA_BYTES, 0) : 0;
    m->tensor_offsets = plan ? mfb_ref(file, plan, MFB_MEMORY_PLAN_TENSOR_OFFSETS) : 0;
    m->scratch_offsets = plan ? mfb_ref(file, plan, MFB_MEMORY_PLAN_SCRATCH_OFFSETS) : 0;
    if (m->n_tensors == 0) {
        return fail(e, MF_ERROR_MODEL, m->tensors ? m->tensors : root, -1, "the model has no tensors");
    }
    return MF_OK;
}

/* loader._check_buffers. */
static mf_status buffers_check(const mf_model *m, mf_error *e)
{
    const uint8_t *b = m->file;
    const uint32_t root = mfb_u32_at(b, 0);
    const uint32_t offs = m->buffer_offsets, sizes = m->buffer_sizes;
    const uint32_t n = mfb_len(b, offs);
    if (!offs || !sizes || n != mfb_len(b, sizes) || n == 0 || mfb_vec_uint(b, sizes, 0) != 0) {
        return fail(e, MF_ERROR_MODEL, sizes ? sizes : root, -1,
                    "buffer_offsets and buffer_sizes need one entry per buffer, buffer 0 empty");
    }
    const uint32_t seg = mfb_u32_at(b, 20);
    for (uint32_t i = 0; i < n; ++i) {
        const uint32_t o = mfb_vec_uint(b, offs, i);
        if (o % MF_ALIGNMENT != 0) {
            return fail(e, MF_ERROR_MODEL, offs + 4 + 4 * i, -1, "a buffer is not 16-byte aligned");
        }
        if ((uint64_t)o + mfb_vec_uint(b, sizes, i) > seg) {
            return fail(e, MF_ERROR_MODEL, sizes + 4 + 4 * i, -1, "a buffer lies outside the constant segment");
        }
    }
    return MF_OK;
}

static int is_activation(const mf_model *m, int64_t t)
{
    if (t < 0 || t >= (int64_t)m->n_tensors) {
        return 0;
    }
    return mfb_uint(m->file, mfb_vec_table(m->file, m->tensors, (uint32_t)t), MFB_TENSOR_BUFFER, 0) == 0;
}

/* Tensor t (an index in range) is a variable: state kept across invokes. */
static int is_variable(const mf_model *m, int64_t t)
{
    return mfb_ubyte(m->file, mfb_vec_table(m->file, m->tensors, (uint32_t)t), MFB_TENSOR_VARIABLE, 0) != 0;
}

/* A set of tensor indices: one bit a tensor, set_bytes(n) bytes (at most MF_MAX_TENSORS / 8 = 512). */
typedef uint8_t tensor_set;

static uint32_t set_bytes(uint32_t n_tensors)
{
    return (n_tensors + 7) / 8;
}

static int in_set(const tensor_set *s, uint32_t t)
{
    return (s[t / 8] >> (t % 8)) & 1;
}

static void add_to_set(tensor_set *s, uint32_t t)
{
    s[t / 8] = (uint8_t)(s[t / 8] | (1u << (t % 8)));
}

/* loader._check_io: at least one, each an activation tensor, none twice; the first entry that is invalid or
 * repeats an earlier one is refused (one comes by entry n_tensors, so the loop is bounded by the tensors). */
static mf_status io_check(const mf_model *m, uint32_t slot, tensor_set *seen, mf_error *e)
{
    const uint8_t *b = m->file;
    const uint32_t root = mfb_u32_at(b, 0);
    const uint32_t vec = mfb_ref(b, root, slot);
    const uint32_t n = mfb_len(b, vec);
    if (n == 0) {
        return fail(e, MF_ERROR_MODEL, vec ? vec : root, -1, "the model needs at least one input and one output");
    }
    memset(seen, 0, set_bytes(m->n_tensors));
    for (uint32_t j = 0; j < n; ++j) {
        const int32_t v = mfb_vec_int(b, vec, j);
        if (!is_activation(m, v)) {
            return fail(e, MF_ERROR_MODEL, vec + 4 + 4 * j, v, "a model input or output is not an activation tensor");
        }
        if (is_variable(m, v)) {
            return fail(e, MF_ERROR_MODEL, vec + 4 + 4 * j, v, "a model input or output is a variable");
        }
        if (in_set(seen, (uint32_t)v)) {
            return fail(e, MF_ERROR_MODEL, vec + 4 + 4 * j, v, "a tensor is listed twice");
        }
        add_to_set(seen, (uint32_t)v);
    }
    return MF_OK;
}

/* loader._check_metadata. */
static mf_status metadata_check(const mf_model *m, mf_error *e)
{
    const uint8_t *b = m->file;
    const uint32_t root = mfb_u32_at(b, 0);
    const uint32_t md = mfb_ref(b, root, MFB_MODEL_METADATA);
    if (!md) {
        return fail(e, MF_ERROR_MODEL, root, -1, "the metadata is missing");
    }
    const uint32_t sha = mfb_ref(b, md, MFB_METADATA_SOURCE_SHA256);
    if (sha && mfb_len(b, sha) != 0 && mfb_len(b, sha) != 32) {
        return fail(e, MF_ERROR_MODEL, sha, -1, "metadata.source_sha256 must hold 32 bytes");
    }
    if (mfb_ubyte(b, md, MFB_METADATA_ROUNDING_MODE, 0) != MFB_ROUNDING_MODE_DOUBLE_ROUNDING) {
        return fail(e, MF_ERROR_MODEL, mfb_at(b, md, MFB_METADATA_ROUNDING_MODE), -1, "unsupported rounding mode");
    }
    return MF_OK;
}

/* --- the graph: order, lifetimes, in-place aliases ------------------------------------------- */

/* One arena buffer of the plan: a tensor (merged with its in-place aliases) or an operator's scratch. */
typedef struct {
    int32_t offset;
    int32_t size;  /* 0: no buffer */
    int16_t first; /* alive from operator first to operator last */
    int16_t last;
    int32_t below;   /* the span an overlap pair lets start partly below this one (memory_plan.py); -1: none */
    int32_t pair_op; /* that pair's operator */
} mf_span;

typedef struct {
    mf_span *spans; /* one per tensor, then one per operator */
    uint64_t *scratch; /* per operator: the scratch bytes its check reported */
    int64_t *overlap_bytes; /* per operator: its check's overlap distance, 0: none */
    int32_t *overlap_step;  /* ... and step */
    int16_t *first; /* memory_plan.lifetimes: the op that writes it (0 for a model input); -1: none */
    int16_t *last;  /* the last op that reads it (the last op for a model output) */
    int16_t *root;  /* alias_groups' union-find */
} workspace;

static uint32_t op_table(const mf_model *m, uint32_t k)
{
    return mfb_vec_table(m->file, m->operators, k);
}

static int listed(const mf_model *m, uint32_t vec, int32_t t)
{
    for (uint32_t j = 0; j < mfb_len(m->file, vec); ++j) {
        if (mfb_vec_int(m->file, vec, j) == t) {
            return 1;
        }
    }
    return 0;
}

/* Whether variable t is written before output j of operator k (by an earlier operator, or by an earlier output of
 * k itself): a scan, so the check needs no memory of its own; models with variables are streaming models of few
 * operators. */
static int assigned(const mf_model *m, uint32_t t, uint32_t k, uint32_t j)
{
    for (uint32_t i = 0; i <= k; ++i) {
        const uint32_t outs = mfb_ref(m->file, op_table(m, i), MFB_OPERATOR_OUTPUTS);
        const uint32_t n = i < k ? mfb_len(m->file, outs) : j;
        for (uint32_t o = 0; o < n && o < mfb_len(m->file, outs); ++o) {
            if (mfb_vec_int(m->file, outs, o) == (int32_t)t) {
                return 1;
            }
        }
    }
    return 0;
}

/* loader._check_graph_order: every activation an operator reads was written before (by an earlier op, or is a
 * model input); none is written twice; every model output is written. `written` ends as the set of the tensors
 * the plan must place (memory_plan.lifetimes gives them a lifetime). With a workspace it also records
 * memory_plan.lifetimes and resets the alias union-find. */
static mf_status graph_check(const mf_model *m, const workspace *w, tensor_set *written, mf_error *e)
{
    const uint8_t *b = m->file;
    memset(written, 0, set_bytes(m->n_tensors));
    for (uint32_t t = 0; w && t < m->n_tensors; ++t) {
        w->first[t] = w->last[t] = MF_NONE;
        w->root[t] = (int16_t)t;
    }
    for (uint32_t j = 0; j < mfb_len(b, m->inputs); ++j) {
        const int32_t t = mfb_vec_int(b, m->inputs, j);
        add_to_set(written, (uint32_t)t);
        if (w) {
            w->first[t] = w->last[t] = 0;
        }
    }
    const int16_t end = (int16_t)(m->n_operators ? m->n_operators - 1 : 0);
    for (uint32_t t = 0; t < m->n_tensors; ++t) { /* a variable: readable from the start, alive to the end */
        if (is_activation(m, t) && is_variable(m, t)) {
            add_to_set(written, t);
            if (w) {
                w->first[t] = 0;
                w->last[t] = end;
            }
        }
    }
    for (uint32_t k = 0; k < m->n_operators; ++k) {
        const uint32_t op = op_table(m, k);
        const uint32_t ins = mfb_ref(b, op, MFB_OPERATOR_INPUTS), outs = mfb_ref(b, op, MFB_OPERATOR_OUTPUTS);
        for (uint32_t j = 0; j < mfb_len(b, ins); ++j) {
            const int32_t t = mfb_vec_int(b, ins, j);
            if (t == -1) {
                continue;
            }
            if (t < 0 || (uint32_t)t >= m->n_tensors) {
                return fail(e, MF_ERROR_MODEL, ins + 4 + 4 * j, (int32_t)k, "an operator's input index is out of range");
            }
            if (is_activation(m, t)) {
                if (!in_set(written, (uint32_t)t)) {
                    return fail(e, MF_ERROR_MODEL, ins + 4 + 4 * j, (int32_t)k,
                                "an operator reads a tensor before any operator writes it");
                }
                if (is_variable(m, t)) {
                    if (assigned(m, (uint32_t)t, k, 0)) {
                        return fail(e, MF_ERROR_MODEL, ins + 4 + 4 * j, (int32_t)k,
                                    "an operator reads a variable after ASSIGN_VARIABLE writes it");
                    }
                } else if (w) {
                    w->last[t] = (int16_t)k;
                }
            }
        }
        for (uint32_t j = 0; j < mfb_len(b, outs); ++j) {
            const int32_t t = mfb_vec_int(b, outs, j);
            if (!is_activation(m, t)) {
                return fail(e, MF_ERROR_MODEL, outs + 4 + 4 * j, (int32_t)k, "an operator's output is not an activation tensor");
            }
            if (is_variable(m, t)) {
                if (mfb_ubyte(b, op, MFB_OPERATOR_OPCODE, 0) != MFB_OP_CODE_ASSIGN_VARIABLE) {
                    return fail(e, MF_ERROR_MODEL, outs + 4 + 4 * j, (int32_t)k,
                                "a variable is written by an operator other than ASSIGN_VARIABLE");
                }
                if (assigned(m, (uint32_t)t, k, j)) {
                    return fail(e, MF_ERROR_MODEL, outs + 4 + 4 * j, (int32_t)k, "a variable is assigned twice");
                }
                continue;
            }
            if (in_set(written, (uint32_t)t)) {
                return fail(e, MF_ERROR_MODEL, outs + 4 + 4 * j, (int32_t)k,
                            "a tensor is written twice (or is a model input)");
            }
            add_to_set(written, (uint32_t)t);
            if (w) {
                w->first[t] = w->last[t] = (int16_t)k;
            }
        }
    }
    for (uint32_t j = 0; j < mfb_len(b, m->outputs); ++j) {
        const int32_t t = mfb_vec_int(b, m->outputs, j);
        if (!in_set(written, (uint32_t)t)) {
            return fail(e, MF_ERROR_MODEL, m->outputs + 4 + 4 * j, t, "a model output is never written");
        }
        if (w) {
            w->last[t] = end;
        }
    }
    return MF_OK;
}

/* loader.held_inputs / held_outputs: a model input or output, or a variable; the plan never lets another
 * buffer take its place (no in-place alias, no overlap pair). */
static int held(const mf_model *m, int32_t t)
{
    return listed(m, m->inputs, t) || listed(m, m->outputs, t) || is_variable(m, t);
}

static int16_t find(const workspace *w, int16_t t)
{
    while (w->root[t] != t) {
        w->root[t] = w->root[w->root[t]];
        t = w->root[t];
    }
    return t;
}

/* memory_plan.alias_groups for operator k: its output joins the group of the first input it may
 * overwrite, when that input dies here, has the same byte size, is read once by this op and neither
 * tensor is a model input or output. */
static void alias(const mf_model *m, const workspace *w, uint32_t k, uint32_t in_place)
{
    const uint8_t *b = m->file;
    const uint32_t op = op_table(m, k);
    const uint32_t ins = mfb_ref(b, op, MFB_OPERATOR_INPUTS), outs = mfb_ref(b, op, MFB_OPERATOR_OUTPUTS);
    const uint32_t n_in = mfb_len(b, ins);
    for (uint32_t pos = 0; pos < n_in && pos < 32; ++pos) {
        if (!(in_place >> pos & 1u)) {
            continue;
        }
        const int32_t src = mfb_vec_int(b, ins, pos), dst = mfb_vec_int(b, outs, 0);
        if (src < 0 || held(m, src) || held(m, dst) || w->last[src] != (int16_t)k) {
            continue;
        }
        mf_tensor ts, td;
        mf_tensor_read(m, (uint32_t)src, &ts);
        mf_tensor_read(m, (uint32_t)dst, &td);
        if (ts.nbytes != td.nbytes) {
            continue;
        }
        int twice = 0;
        for (uint32_t j = 0; j < n_in; ++j) {
            twice |= j != pos && mfb_vec_int(b, ins, j) == src;
        }
        if (twice) {
            continue;
        }
        w->root[find(w, (int16_t)dst)] = find(w, (int16_t)src);
        return;
    }
}

/* --- the memory plan ------------------------------------------------------------------------- */

/* The span of tensor t after merging: the first with its alias group and offset. */
static uint32_t span_of(const mf_span *spans, const workspace *w, uint32_t t)
{
    for (uint32_t u = 0; u < t; ++u) {
        if (spans[u].size && w->root[u] == w->root[t] && spans[u].offset == spans[t].offset) {
            return u;
        }
    }
    return t;
}

/* memory_plan.overlap_pairs and buffer_pairs: operator k's output may start partly below its input 0 when
 * that input dies at k, is read once by k, neither is a model input or output, and (after merging) the
 * input's span ends at k and the output's begins there. */
static void overlap_pairs(const mf_model *m, const workspace *w, mf_span *spans)
{
    const uint8_t *b = m->file;
    for (uint32_t k = 0; k < m->n_operators; ++k) {
        if (w->overlap_bytes[k] <= 0) {
            continue;
        }
        const uint32_t op = op_table(m, k);
        const uint32_t ins = mfb_ref(b, op, MFB_OPERATOR_INPUTS), outs = mfb_ref(b, op, MFB_OPERATOR_OUTPUTS);
        const int32_t src = mfb_vec_int(b, ins, 0), dst = mfb_vec_int(b, outs, 0);
        if (src < 0 || !is_activation(m, (uint32_t)src) || w->first[src] == MF_NONE || w->last[src] != (int16_t)k ||
            held(m, src) || held(m, dst)) {
            continue;
        }
        int twice = 0;
        for (uint32_t j = 1; j < mfb_len(b, ins); ++j) {
            twice |= mfb_vec_int(b, ins, j) == src;
        }
        const uint32_t a = span_of(spans, w, (uint32_t)src), o = span_of(spans, w, (uint32_t)dst);
        if (!twice && spans[a].last == (int16_t)k && spans[o].first == (int16_t)k) {
            spans[a].below = (int32_t)o;
            spans[a].pair_op = (int32_t)k;
        }
    }
}

/* OverlapPair.allows: span `out` may overlap span `in` when it starts at least the pair's distance below
 * it, at a multiple of the pair's step. */
static int paired(const workspace *w, const mf_span *spans, uint32_t in, uint32_t out)
{
    if (spans[in].below != (int32_t)out) {
        return 0;
    }
    const int64_t delta = (int64_t)spans[in].offset - spans[out].offset;
    const int32_t k = spans[in].pair_op;
    return delta >= w->overlap_bytes[k] && delta % w->overlap_step[k] == 0;
}

static int clash(const mf_span *a, const mf_span *b)
{
    return a->size && b->size && a->first <= b->last && b->first <= a->last && a->offset < b->offset + b->size &&
           b->offset < a->offset + a->size;
}

/* loader._check_plan, first part: the plan's fields and every buffer's place, and arena_bytes exactly the end of
 * its last buffer. Needs no workspace: mf_arena_bytes runs it too. `written`: the tensors the plan must place
 * (graph_check). Operator k's scratch is the workspace's record of its check, or without one its check again.
 * With a workspace, it records each buffer's span. */
static mf_status plan_bounds(const mf_model *m, const workspace *w, const tensor_set *written, mf_error *e)
{
    const uint8_t *b = m->file;
    const uint32_t root = mfb_u32_at(b, 0);
    const uint32_t plan = mfb_ref(b, root, MFB_MODEL_PLAN);
    if (!plan) {
        return fail(e, MF_ERROR_PLAN, root, -1, "the memory plan is missing");
    }
    const uint32_t arena = m->arena_bytes;
    const uint32_t arena_at = mfb_at(b, plan, MFB_MEMORY_PLAN_ARENA_BYTES);
    if (arena > MF_MAX_BYTES) {
        return fail(e, MF_ERROR_PLAN, arena_at, -1, "plan.arena_bytes exceeds 2^31 - 1");
    }
    if (!m->tensor_offsets || mfb_len(b, m->tensor_offsets) != m->n_tensors) {
        return fail(e, MF_ERROR_PLAN, m->tensor_offsets ? m->tensor_offsets : plan, -1,
                    "plan.tensor_offsets needs one value per tensor");
    }
    if (!m->scratch_offsets || mfb_len(b, m->scratch_offsets) != m->n_operators) {
        return fail(e, MF_ERROR_PLAN, m->scratch_offsets ? m->scratch_offsets : plan, -1,
                    "plan.scratch_offsets needs one value per operator");
    }
    uint64_t end = 0; /* where the last buffer ends */
    for (uint32_t t = 0; t < m->n_tensors; ++t) {
        const int32_t off = mfb_vec_int(b, m->tensor_offsets, t);
        const uint32_t at = m->tensor_offsets + 4 + 4 * t;
        if (w) {
            w->spans[t].size = 0;
        }
        if (!is_activation(m, t) || !in_set(written, t)) {
            if (off != -1) {
                return fail(e, MF_ERROR_PLAN, at, (int32_t)t, "constant and unused tensors must have offset -1");
            }
            continue;
        }
        mf_tensor tt;
        mf_tensor_read(m, t, &tt);
        const uint64_t top = (uint64_t)(int64_t)off + align16(tt.nbytes);
        if (off < 0 || off % (int32_t)MF_ALIGNMENT != 0 || top > arena) {
            return fail(e, MF_ERROR_PLAN, at, (int32_t)t, "a tensor's offset is not a 16-aligned place in the arena");
        }
        end = top > end ? top : end;
        if (w) {
            w->spans[t].offset = off;
            w->spans[t].size = (int32_t)align16(tt.nbytes);
            w->spans[t].first = w->first[t];
            w->spans[t].last = w->last[t];
        }
    }
    for (uint32_t k = 0; k < m->n_operators; ++k) {
        const int32_t off = mfb_vec_int(b, m->scratch_offsets, k);
        const uint32_t at = m->scratch_offsets + 4 + 4 * k;
        uint64_t scratch;
        if (w) {
            scratch = w->scratch[k]; /* the operator's check recorded it */
            w->spans[m->n_tensors + k].size = 0;
        } else {
            mf_op_info info;
            if (mf_check_operator(m, k, &info, 0) != MF_OK) {
                return fail(e, MF_ERROR_OPERATOR, op_table(m, k), (int32_t)k, "an operator's check changed its answer");
            }
            scratch = info.scratch_bytes;
        }
        if (scratch == 0) {
            if (off != -1) {
                return fail(e, MF_ERROR_PLAN, at, (int32_t)k, "this operator needs no scratch; its offset must be -1");
            }
            continue;
        }
        const uint64_t top = (uint64_t)(int64_t)off + align16(scratch);
        if (off < 0 || off % (int32_t)MF_ALIGNMENT != 0 || top > arena) {
            return fail(e, MF_ERROR_PLAN, at, (int32_t)k, "an operator's scratch does not fit the arena");
        }
        end = top > end ? top : end;
        if (w) {
            mf_span *sp = &w->spans[m->n_tensors + k];
            sp->offset = off;
            sp->size = (int32_t)align16(scratch); /* inside the arena: below 2^31 */
            sp->first = sp->last = (int16_t)k;
        }
    }
    if (end != arena) {
        return fail(e, MF_ERROR_PLAN, arena_at, -1,
                    "plan.arena_bytes is not where the plan's last buffer ends (its offset + bytes rounded up to 16)");
    }
    return MF_OK;
}

/* loader._check_plan, second part: the spans (alive tensors merged as the loader merges them: the tensors of one
 * alias group placed at one offset are one buffer, alive over the union of their lifetimes), then no two spans
 * alive at the same time overlap, except as an overlap pair allows. Needs the workspace plan_bounds filled. */
static mf_status plan_overlaps(const mf_model *m, const workspace *w, mf_error *e)
{
    const uint8_t *b = m->file;
    const uint32_t plan = mfb_ref(b, mfb_u32_at(b, 0), MFB_MODEL_PLAN);
    mf_span *spans = w->spans;
    for (uint32_t t = 0; t < m->n_tensors; ++t) {
        w->root[t] = find(w, (int16_t)t);
    }
    for (uint32_t t = 0; t < m->n_tensors; ++t) {
        for (uint32_t u = 0; u < t && spans[t].size; ++u) {
            if (spans[u].size && w->root[u] == w->root[t] && spans[u].offset == spans[t].offset) {
                spans[u].size = spans[u].size > spans[t].size ? spans[u].size : spans[t].size;
                spans[u].first = spans[u].first < spans[t].first ? spans[u].first : spans[t].first;
                spans[u].last = spans[u].last > spans[t].last ? spans[u].last : spans[t].last;
                spans[t].size = 0; /* merged into u */
            }
        }
    }
    const uint32_t n = m->n_tensors + m->n_operators;
    for (uint32_t i = 0; i < n; ++i) {
        spans[i].below = -1;
    }
    overlap_pairs(m, w, spans);
    for (uint32_t i = 0; i < n; ++i) {
        for (uint32_t j = i + 1; j < n && spans[i].size; ++j) {
            if (clash(&spans[i], &spans[j]) && !paired(w, spans, i, j) && !paired(w, spans, j, i)) {
                return fail(e, MF_ERROR_PLAN, plan, (int32_t)i, "two buffers alive at the same time overlap in the arena");
            }
        }
    }
    return MF_OK;
}

/* Every check of the loader, in its order (layers 3 and 4 of the file's comment; the header and the structure
 * come first). Without a workspace (mf_arena_bytes) every check but the last, plan_overlaps, which needs one: so
 * the arena mf_arena_bytes reports is the verified plan's. `written`: a tensor set, io_check's scratch, then
 * graph_check's answer. */
static mf_status verify(const mf_model *m, const workspace *w, tensor_set *written, mf_error *e)
{
    mf_status s;
    if ((s = buffers_check(m, e)) != MF_OK) {
        return s;
    }
    for (uint32_t i = 0; i < m->n_tensors; ++i) {
        if ((s = tensor_check(m, i, e)) != MF_OK) {
            return s;
        }
    }
    if ((s = io_check(m, MFB_MODEL_INPUTS, written, e)) != MF_OK ||
        (s = io_check(m, MFB_MODEL_OUTPUTS, written, e)) != MF_OK ||
        (s = metadata_check(m, e)) != MF_OK || (s = graph_check(m, w, written, e)) != MF_OK) {
        return s;
    }
    for (uint32_t k = 0; k < m->n_operators; ++k) {
        mf_op_info info;
        if ((s = mf_check_operator(m, k, &info, e)) != MF_OK) {
            return s;
        }
        if (w) {
            w->scratch[k] = info.scratch_bytes;
            w->overlap_bytes[k] = info.overlap_bytes;
            w->overlap_step[k] = info.overlap_step;
            alias(m, w, k, info.in_place);
        }
    }
    if ((s = plan_bounds(m, w, written, e)) != MF_OK) {
        return s;
    }
    return w ? plan_overlaps(m, w, e) : MF_OK;
}

/* --- the API ------------------------------------------------------------------------------------ */

static uint32_t workspace_bytes(const mf_model *m)
{
    return (uint32_t)align16((uint64_t)(m->n_tensors + m->n_operators) * sizeof(mf_span) +
                             m->n_operators * (sizeof(uint64_t) + sizeof(int64_t) + sizeof(int32_t)) +
                             3u * sizeof(int16_t) * m->n_tensors + set_bytes(m->n_tensors));
}

mf_status mf_arena_bytes(const uint8_t *file, uint32_t file_bytes, uint32_t *arena_bytes, mf_error *error)
{
    mf_model m;
    mf_status s;
    tensor_set written[MF_MAX_TENSORS / 8]; /* no arena yet: on the stack */
    if (file == 0 || arena_bytes == 0) {
        return fail(error, MF_ERROR_ARGUMENT, 0, -1, "a NULL argument");
    }
    if ((s = structure(&m, file, file_bytes, error)) != MF_OK || (s = verify(&m, 0, written, error)) != MF_OK) {
        return s;
    }
    const uint32_t ws = workspace_bytes(&m);
    *arena_bytes = m.arena_bytes > ws ? m.arena_bytes : ws;
    return MF_OK;
}

mf_status mf_model_load(mf_model *model, const uint8_t *file, uint32_t file_bytes, uint8_t *arena,
                        uint32_t arena_bytes, mf_error *error)
{
    mf_status s;
    if (model == 0 || file == 0 || arena == 0) {
        return fail(error, MF_ERROR_ARGUMENT, 0, -1, "a NULL argument");
    }
    model->loaded = 0;
    if ((uintptr_t)file % MF_ALIGNMENT != 0 || (uintptr_t)arena % MF_ALIGNMENT != 0) {
        return fail(error, MF_ERROR_ARGUMENT, 0, -1, "the file and the arena must be 16-byte aligned");
    }
    if ((s = structure(model, file, file_bytes, error)) != MF_OK) {
        return s;
    }
    mf_model *m = model;
    if (arena_bytes < workspace_bytes(m)) {
        return fail(error, MF_ERROR_ARENA_TOO_SMALL, 0, -1, "the arena is smaller than mf_arena_bytes");
    }
    m->arena = arena;
    workspace w;
    w.scratch = (uint64_t *)(void *)arena; /* the 16-aligned arena: 8-byte entries first, then 4, then 2 */
    w.overlap_bytes = (int64_t *)(void *)(w.scratch + m->n_operators);
    w.spans = (mf_span *)(void *)(w.overlap_bytes + m->n_operators);
    w.overlap_step = (int32_t *)(void *)(w.spans + m->n_tensors + m->n_operators);
    w.first = (int16_t *)(void *)(w.overlap_step + m->n_operators);
    w.last = w.first + m->n_tensors;
    w.root = w.last + m->n_tensors;
    tensor_set *written = (tensor_set *)(void *)(w.root + m->n_tensors);
    if ((s = verify(m, &w, written, error)) != MF_OK) {
        return s;
    }
    if (arena_bytes < m->arena_bytes) {
        return fail(error, MF_ERROR_ARENA_TOO_SMALL, 0, -1, "the arena is smaller than mf_arena_bytes");
    }
    memset(arena, 0, workspace_bytes(m)); /* the verifier's traces; the plan's buffers are written before read */
    m->loaded = 1;
    return mf_reset_state(m); /* but the variables', which are read before written */
}

mf_status mf_reset_state(const mf_model *model)
{
    if (model == 0 || !model->loaded) {
        return MF_ERROR_NOT_LOADED;
    }
    for (uint32_t t = 0; t < model->n_tensors; ++t) {
        if (!is_activation(model, t) || !is_variable(model, t)) {
            continue;
        }
        mf_tensor v;
        mf_tensor_read(model, t, &v);
        uint8_t *p = (uint8_t *)mf_tensor_data(model, t);
        const int32_t zp = v.quantized ? v.zero_point : 0; /* real 0; a float32 variable: 0.0f, all zero bytes */
        for (int64_t i = 0; i < v.size; ++i) {
            switch (v.dtype) {
            case MFB_DTYPE_INT8: ((int8_t *)p)[i] = (int8_t)zp; break;
            case MFB_DTYPE_INT16: ((int16_t *)(void *)p)[i] = (int16_t)zp; break;
            case MFB_DTYPE_INT32: ((int32_t *)(void *)p)[i] = zp; break;
            case MFB_DTYPE_INT64: ((int64_t *)(void *)p)[i] = zp; break;
            default: ((uint32_t *)(void *)p)[i] = 0u; break;
            }
        }
    }
    return MF_OK;
}

mf_status mf_invoke_operator(const mf_model *model, uint32_t op)
{
    if (model == 0 || !model->loaded) {
        return MF_ERROR_NOT_LOADED;
    }
    if (op >= model->n_operators) {
        return MF_ERROR_ARGUMENT;
    }
    return mf_run_operator(model, op);
}

mf_status mf_invoke(const mf_model *model)
{
    if (model == 0 || !model->loaded) {
        return MF_ERROR_NOT_LOADED;
    }
    for (uint32_t k = 0; k < model->n_operators; ++k) {
        const mf_status s = mf_run_operator(model, k);
        if (s != MF_OK) {
            return s; /* an operator refused an input's value: the later ones would read what it did not write */
        }
    }
    return MF_OK;
}

uint32_t mf_input_count(const mf_model *model)
{
    return model->loaded ? mfb_len(model->file, model->inputs) : 0;
}

uint32_t mf_output_count(const mf_model *model)
{
    return model->loaded ? mfb_len(model->file, model->outputs) : 0;
}

int32_t mf_input_tensor(const mf_model *model, uint32_t i)
{
    return i < mf_input_count(model) ? mfb_vec_int(model->file, model->inputs, i) : -1;
}

int32_t mf_output_tensor(const mf_model *model, uint32_t i)
{
    return i < mf_output_count(model) ? mfb_vec_int(model->file, model->outputs, i) : -1;
}

void *mf_tensor_data(const mf_model *model, uint32_t tensor)
{
    if (!model->loaded || tensor >= model->n_tensors) {
        return 0;
    }
    mf_tensor t;
    mf_tensor_read(model, tensor, &t);
    if (t.buffer) {
        return (void *)(uintptr_t)mf_const_data(model, t.buffer); /* read-only: a constant in the file */
    }
    const int32_t off = mfb_vec_int(model->file, model->tensor_offsets, tensor);
    return off < 0 ? 0 : model->arena + off;
}

uint32_t mf_tensor_bytes(const mf_model *model, uint32_t tensor)
{
    if (!model->loaded || tensor >= model->n_tensors) {
        return 0;
    }
    mf_tensor t;
    mf_tensor_read(model, tensor, &t);
    return t.nbytes;
}

void *mf_input(const mf_model *model, uint32_t i)
{
    const int32_t t = mf_input_tensor(model, i);
    return t < 0 ? 0 : mf_tensor_data(model, (uint32_t)t);
}

void *mf_output(const mf_model *model, uint32_t i)
{
    const int32_t t = mf_output_tensor(model, i);
    return t < 0 ? 0 : mf_tensor_data(model, (uint32_t)t);
}

uint32_t mf_input_bytes(const mf_model *model, uint32_t i)
{
    const int32_t t = mf_input_tensor(model, i);
    return t < 0 ? 0 : mf_tensor_bytes(model, (uint32_t)t);
}

uint32_t mf_output_bytes(const mf_model *model, uint32_t i)
{
    const int32_t t = mf_output_tensor(model, i);
    return t < 0 ? 0 : mf_tensor_bytes(model, (uint32_t)t);
}
