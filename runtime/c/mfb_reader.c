/*
 * Verify a flatbuffer against the schema, trusting no byte: the twin of
 * runtime/flatbuffer_reader.py, with the same checks in the same words.
 *
 * Every read is preceded by the check the C++ FlatBuffers Verifier would
 * make: the table's vtable lies inside the buffer and is 2-aligned; each
 * present field lies inside its table and is aligned for its size; every
 * offset points inside the buffer; vector and string lengths fit; strings
 * are NUL-terminated UTF-8; enums and union types are in range.
 *
 * Work is bounded without a memo table (the Python reader memoizes shared
 * tables; this one has no heap): the schema is not recursive (depth 3),
 * the only vectors of tables hold at most MFB_MAX_TABLE_VECTOR entries, and
 * strings at most MFB_MAX_STRING_BYTES, so a hostile file whose entries all
 * point at one table costs at most 4096 table checks of bounded size.
 * Offsets are computed in int64_t / uint64_t, so no sum can wrap.
 */
#define MFB_SCHEMA_DESCRIPTORS
#include "mfb_reader.h"

mf_status mf_fail(mf_error *error, mf_status status, uint32_t offset, int32_t index, const char *message)
{
    if (error != 0) {
        error->status = status;
        error->offset = offset;
        error->index = index;
        error->message = message;
    }
    return status;
}

typedef struct {
    const uint8_t *b;
    uint32_t end;
    mf_error *error;
} reader;

static mf_status fail(const reader *r, int64_t at, const char *message)
{
    return mf_fail(r->error, MF_ERROR_FLATBUFFER, at < 0 ? 0u : (uint32_t)at, -1, message);
}

/* size bytes at pos lie in the buffer, and pos is a multiple of align. */
static int in_range(const reader *r, int64_t pos, int64_t size, int64_t align)
{
    return pos >= 0 && pos + size <= (int64_t)r->end && (align <= 1 || pos % align == 0);
}

/* Follow the uoffset stored at `at`. */
static mf_status offset_target(const reader *r, uint32_t at, uint32_t *target)
{
    if (!in_range(r, at, 4, 4)) {
        return fail(r, at, "an offset lies outside the flatbuffer or is misaligned");
    }
    const uint64_t t = (uint64_t)at + mfb_u32_at(r->b, at);
    if (t >= r->end) {
        return fail(r, at, "an offset points past the end of the flatbuffer");
    }
    *target = (uint32_t)t;
    return MF_OK;
}

/* The length of the vector at `target` whose elements have elem_size bytes. */
static mf_status vector_header(const reader *r, uint32_t target, uint32_t elem_size, uint32_t *n)
{
    if (!in_range(r, target, 4, 4)) {
        return fail(r, target, "a vector's length lies outside the flatbuffer or is misaligned");
    }
    *n = mfb_u32_at(r->b, target);
    if ((uint64_t)*n * elem_size > (uint64_t)r->end - target - 4) {
        return fail(r, target, "a vector runs past the end of the flatbuffer");
    }
    if (elem_size == 8 && (target + 4) % 8 != 0) {
        return fail(r, target, "8-byte vector elements are misaligned");
    }
    return MF_OK;
}

/* Strict UTF-8 (the Unicode standard's table 3-7, as Python's decoder): no overlong forms, no
 * surrogates, nothing above U+10FFFF. */
static int is_utf8(const uint8_t *s, uint32_t n)
{
    uint32_t i = 0;
    while (i < n) {
        const uint32_t c = s[i];
        uint32_t more;
        uint32_t lo = 0x80, hi = 0xBF; /* the allowed range of the second byte */
        if (c < 0x80) {
            ++i;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            more = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            more = 2;
            lo = c == 0xE0 ? 0xA0 : 0x80;
            hi = c == 0xED ? 0x9F : 0xBF;
        } else if (c >= 0xF0 && c <= 0xF4) {
            more = 3;
            lo = c == 0xF0 ? 0x90 : 0x80;
            hi = c == 0xF4 ? 0x8F : 0xBF;
        } else {
            return 0;
        }
        if (n - i <= more) {
            return 0;
        }
        if (s[i + 1] < lo || s[i + 1] > hi) {
            return 0;
        }
        for (uint32_t k = 2; k <= more; ++k) {
            if (s[i + k] < 0x80 || s[i + k] > 0xBF) {
                return 0;
            }
        }
        i += more + 1;
    }
    return 1;
}

static mf_status string(const reader *r, uint32_t target)
{
    uint32_t n = 0;
    mf_status s = vector_header(r, target, 1, &n);
    if (s != MF_OK) {
        return s;
    }
    if (n > MFB_MAX_STRING_BYTES) {
        return fail(r, target, "a string is longer than 4096 bytes");
    }
    if (!in_range(r, (int64_t)target + 4, (int64_t)n + 1, 1)) {
        return fail(r, target, "a string's terminator lies outside the flatbuffer");
    }
    if (r->b[target + 4 + n] != 0) {
        return fail(r, target, "a string is not NUL-terminated");
    }
    if (!is_utf8(r->b + target + 4, n)) {
        return fail(r, target, "a string is not UTF-8");
    }
    return MF_OK;
}

typedef struct {
    uint32_t pos;       /* the table */
    uint32_t vt_bytes;  /* its vtable's size */
    uint32_t obj_bytes; /* its own size */
    uint32_t vtable;
} table_frame;

/* Where the field in `slot` lies (0: absent), checked to lie inside its table and be aligned. */
static mf_status slot_at(const reader *r, const table_frame *t, uint32_t slot, uint32_t size, uint32_t *at)
{
    const uint32_t vt_off = 4 + 2 * slot;
    *at = 0;
    if (vt_off + 2 > t->vt_bytes) {
        return MF_OK;
    }
    const uint32_t rel = mfb_u16_at(r->b, t->vtable + vt_off);
    if (rel == 0) {
        return MF_OK;
    }
    if (rel < 4 || rel + size > t->obj_bytes) {
        return fail(r, t->pos, "a field lies outside its table");
    }
    *at = t->pos + rel;
    if (*at % size != 0) {
        return fail(r, *at, "a field is misaligned");
    }
    return MF_OK;
}

static uint32_t scalar_at(const uint8_t *b, uint32_t at, uint32_t size)
{
    return size == 1 ? b[at] : (size == 2 ? mfb_u16_at(b, at) : mfb_u32_at(b, at));
}

static mf_status table(const reader *r, uint32_t pos, uint32_t id, uint32_t depth);

static mf_status field(const reader *r, const table_frame *t, const mfb_field_desc *f, uint32_t depth)
{
    uint32_t at = 0, target = 0, n = 0;
    mf_status s;
    switch (f->kind) {
    case MFB_KIND_SCALAR:
    case MFB_KIND_ENUM:
        s = slot_at(r, t, f->slot, f->size, &at);
        if (s == MF_OK && at && f->kind == MFB_KIND_ENUM && scalar_at(r->b, at, f->size) > (uint32_t)f->enum_max) {
            s = fail(r, at, "an enum value is out of range");
        }
        return s;
    case MFB_KIND_UNION: {
        uint32_t type_at, value_at;
        const mfb_union_desc *u = &mfb_unions[f->sub];
        if ((s = slot_at(r, t, (uint32_t)f->slot - 1, 1, &type_at)) != MF_OK ||
            (s = slot_at(r, t, f->slot, 4, &value_at)) != MF_OK) {
            return s;
        }
        const uint32_t code = type_at ? r->b[type_at] : 0;
        if (code > u->count) {
            return fail(r, type_at, "a union type is out of range");
        }
        if (code == 0) {
            return value_at ? fail(r, value_at, "a union value is present but its type is NONE") : MF_OK;
        }
        if (value_at == 0) {
            return fail(r, t->pos, "a union type is set but its value is absent");
        }
        if ((s = offset_target(r, value_at, &target)) != MF_OK) {
            return s;
        }
        return table(r, target, u->members[code - 1], depth + 1);
    }
    default:
        break;
    }
    if ((s = slot_at(r, t, f->slot, 4, &at)) != MF_OK || at == 0) {
        return s;
    }
    if ((s = offset_target(r, at, &target)) != MF_OK) {
        return s;
    }
    switch (f->kind) {
    case MFB_KIND_TABLE:
        return table(r, target, f->sub, depth + 1);
    case MFB_KIND_STRING:
        return string(r, target);
    case MFB_KIND_VECTOR_SCALAR:
        return vector_header(r, target, f->size, &n);
    case MFB_KIND_VECTOR_ENUM:
        if ((s = vector_header(r, target, f->size, &n)) != MF_OK) {
            return s;
        }
        for (uint32_t i = 0; i < n; ++i) {
            if (scalar_at(r->b, target + 4 + i * f->size, f->size) > (uint32_t)f->enum_max) {
                return fail(r, target + 4 + i * f->size, "an enum value is out of range");
            }
        }
        return MF_OK;
    default: /* MFB_KIND_VECTOR_TABLE, MFB_KIND_VECTOR_STRING */
        if ((s = vector_header(r, target, 4, &n)) != MF_OK) {
            return s;
        }
        if (n > MFB_MAX_TABLE_VECTOR) {
            return fail(r, target, "a vector holds more than 4096 tables");
        }
        for (uint32_t i = 0; i < n; ++i) {
            uint32_t item;
            if ((s = offset_target(r, target + 4 + 4 * i, &item)) != MF_OK) {
                return s;
            }
            s = f->kind == MFB_KIND_VECTOR_TABLE ? table(r, item, f->sub, depth + 1) : string(r, item);
            if (s != MF_OK) {
                return s;
            }
        }
        return MF_OK;
    }
}

static mf_status table(const reader *r, uint32_t pos, uint32_t id, uint32_t depth)
{
    table_frame t;
    if (depth > MFB_MAX_DEPTH) {
        return fail(r, pos, "tables nested too deep");
    }
    if (!in_range(r, pos, 4, 4)) {
        return fail(r, pos, "a table lies outside the flatbuffer or is misaligned");
    }
    const int64_t vtable = (int64_t)pos - (int64_t)mfb_i32_at(r->b, pos);
    if (!in_range(r, vtable, 4, 2)) {
        return fail(r, pos, "a vtable lies outside the flatbuffer or is misaligned");
    }
    t.pos = pos;
    t.vtable = (uint32_t)vtable;
    t.vt_bytes = mfb_u16_at(r->b, t.vtable);
    t.obj_bytes = mfb_u16_at(r->b, t.vtable + 2);
    if (t.vt_bytes < 4 || t.vt_bytes % 2 != 0) {
        return fail(r, t.vtable, "a vtable's size is not an even number >= 4");
    }
    if (!in_range(r, vtable, t.vt_bytes, 1)) {
        return fail(r, t.vtable, "a vtable runs past the end of the flatbuffer");
    }
    if (t.obj_bytes < 4) {
        return fail(r, pos, "a table's size is below 4");
    }
    if (!in_range(r, pos, t.obj_bytes, 1)) {
        return fail(r, pos, "a table runs past the end of the flatbuffer");
    }
    const mfb_table_desc *d = &mfb_tables[id];
    for (uint32_t i = 0; i < d->count; ++i) {
        const mf_status s = field(r, &t, &d->fields[i], depth);
        if (s != MF_OK) {
            return s;
        }
    }
    return MF_OK;
}

mf_status mf_verify(const uint8_t *buf, uint32_t end, mf_error *error)
{
    reader r;
    uint32_t root = 0;
    r.b = buf;
    r.end = end;
    r.error = error;
    const mf_status s = offset_target(&r, 0, &root);
    return s != MF_OK ? s : table(&r, root, MFB_ROOT_TABLE, 0);
}
