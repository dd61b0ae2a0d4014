/*
 * The flatbuffer under a .mfb: a verifier that trusts no byte, and field
 * accessors for a verified buffer. The twin of runtime/flatbuffer_reader.py.
 *
 * Positions are byte offsets from the start of the buffer, in uint32_t; 0
 * means "absent" (offset 0 holds the root offset, so no table, vector or
 * string can start there). Scalars are read byte by byte, little-endian, so
 * no read depends on the host's alignment or byte order.
 */
#ifndef MFB_READER_H
#define MFB_READER_H

#include <stdint.h>

#include "mfb_schema.h"
#include "microflat.h"

#define MFB_MAX_DEPTH 32
#define MFB_MAX_STRING_BYTES 4096  /* format.MAX_STRING_BYTES */
#define MFB_MAX_TABLE_VECTOR 4096  /* format.MAX_TENSORS and MAX_OPERATORS: the only vectors of tables */

/* Record a failure and return its status. */
mf_status mf_fail(mf_error *error, mf_status status, uint32_t offset, int32_t index, const char *message);

/* Verify the root table of buf[0, end) and everything it reaches, field by field against the schema. */
mf_status mf_verify(const uint8_t *buf, uint32_t end, mf_error *error);

static inline uint32_t mfb_u16_at(const uint8_t *b, uint32_t p)
{
    return (uint32_t)b[p] | ((uint32_t)b[p + 1] << 8);
}

static inline uint32_t mfb_u32_at(const uint8_t *b, uint32_t p)
{
    return (uint32_t)b[p] | ((uint32_t)b[p + 1] << 8) | ((uint32_t)b[p + 2] << 16) | ((uint32_t)b[p + 3] << 24);
}

/* Two's complement: the value of the 32 bits as a signed integer, without implementation-defined casts. */
static inline int32_t mfb_i32_at(const uint8_t *b, uint32_t p)
{
    const uint32_t u = mfb_u32_at(b, p);
    return u <= 0x7FFFFFFFu ? (int32_t)u : -(int32_t)(~u) - 1;
}

static inline int32_t mfb_i8_at(const uint8_t *b, uint32_t p)
{
    return b[p] <= 127 ? (int32_t)b[p] : (int32_t)b[p] - 256;
}

/* --- accessors: valid only on a buffer mf_verify accepted ------------------------------------ */

/* Where field `slot` of the table at `table` lies, or 0 when absent. */
static inline uint32_t mfb_field(const uint8_t *b, uint32_t table, uint32_t slot)
{
    const uint32_t vtable = (uint32_t)((int64_t)table - (int64_t)mfb_i32_at(b, table));
    const uint32_t at = 4 + 2 * slot;
    if (at + 2 > mfb_u16_at(b, vtable)) {
        return 0;
    }
    const uint32_t rel = mfb_u16_at(b, vtable + at);
    return rel ? table + rel : 0;
}

/* Where an error about field `slot` points (docs/FORMAT.md, "Where an error points"): the field's own bytes, or
 * its table when the field is absent. */
static inline uint32_t mfb_at(const uint8_t *b, uint32_t table, uint32_t slot)
{
    const uint32_t at = mfb_field(b, table, slot);
    return at ? at : table;
}

static inline int32_t mfb_int(const uint8_t *b, uint32_t table, uint32_t slot, int32_t dflt)
{
    const uint32_t at = mfb_field(b, table, slot);
    return at ? mfb_i32_at(b, at) : dflt;
}

static inline uint32_t mfb_uint(const uint8_t *b, uint32_t table, uint32_t slot, uint32_t dflt)
{
    const uint32_t at = mfb_field(b, table, slot);
    return at ? mfb_u32_at(b, at) : dflt;
}

static inline int32_t mfb_byte(const uint8_t *b, uint32_t table, uint32_t slot, int32_t dflt)
{
    const uint32_t at = mfb_field(b, table, slot);
    return at ? mfb_i8_at(b, at) : dflt;
}

static inline uint32_t mfb_ubyte(const uint8_t *b, uint32_t table, uint32_t slot, uint32_t dflt)
{
    const uint32_t at = mfb_field(b, table, slot);
    return at ? (uint32_t)b[at] : dflt;
}

/* The target of an offset field (a table, vector or string), or 0 when absent. */
static inline uint32_t mfb_ref(const uint8_t *b, uint32_t table, uint32_t slot)
{
    const uint32_t at = mfb_field(b, table, slot);
    return at ? at + mfb_u32_at(b, at) : 0;
}

/* Where an error about reference field `slot` points: the object it refers to (a table's first byte, a vector's or
 * string's length word), or the table holding the field when it is absent. */
static inline uint32_t mfb_ref_at(const uint8_t *b, uint32_t table, uint32_t slot)
{
    const uint32_t target = mfb_ref(b, table, slot);
    return target ? target : table;
}

/* A vector's length (0 when absent), its element i (4 bytes each) and the table element i points to. */
static inline uint32_t mfb_len(const uint8_t *b, uint32_t vec)
{
    return vec ? mfb_u32_at(b, vec) : 0;
}

static inline int32_t mfb_vec_int(const uint8_t *b, uint32_t vec, uint32_t i)
{
    return mfb_i32_at(b, vec + 4 + 4 * i);
}

static inline uint32_t mfb_vec_uint(const uint8_t *b, uint32_t vec, uint32_t i)
{
    return mfb_u32_at(b, vec + 4 + 4 * i);
}

static inline uint32_t mfb_vec_table(const uint8_t *b, uint32_t vec, uint32_t i)
{
    const uint32_t at = vec + 4 + 4 * i;
    return at + mfb_u32_at(b, at);
}

#endif /* MFB_READER_H */
