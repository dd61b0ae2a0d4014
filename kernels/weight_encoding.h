/*
 * Reading compressed int8 weights in place: the C twin of the Numba readers
 * in weight_encoding.py, whose docstring specifies the streams (little-endian
 * bit order, signed fields or palette indices, dense or sparse layout) and
 * derives why a field spans at most two bytes.
 *
 * Bit positions are int32: the verifier bounds entries * bits below 2^31.
 */
#ifndef MICROFLAT_WEIGHT_ENCODING_H
#define MICROFLAT_WEIGHT_ENCODING_H

#include <stdint.h>

/* cffi-begin: the declarations below are also read by kernels/_build_native.py */
static inline int32_t read_bits(const uint8_t *stream, int32_t bit, int32_t bits);
static inline int32_t weight_value(int32_t field, int32_t bits, const int8_t *codebook, int32_t codebook_base);
static inline void decode_row(int16_t *row, const uint8_t *values, int32_t first_bit, int32_t length,
                              int32_t value_bits, const int8_t *codebook, int32_t codebook_base);
static inline int32_t encoded_row_dot(const int16_t *column, int16_t *row_buffer, int32_t row, int32_t length,
                                      int32_t value_bits, const int8_t *codebook, int32_t codebook_base,
                                      int32_t position_bits, int32_t entries, const uint8_t *values,
                                      const uint8_t *positions, int32_t *entry, int32_t *position);

/* The verifier's checks (weight_encoding.c): the twins of weight_encoding.validate and of the bound the
 * loader computes from channel_abs_sums. */
int32_t mf_weight_encoding_validate(const int32_t *shape, int32_t rank, int32_t value_bits, const int8_t *codebook,
                                 uint32_t codebook_bytes, int32_t codebook_per_channel, int32_t axis,
                                 int32_t position_bits, uint32_t entries, const uint8_t *values, uint32_t values_bytes,
                                 const uint8_t *positions, uint32_t positions_bytes);
int32_t mf_weight_channel_bound(const int32_t *shape, int32_t rank, int32_t channel_axis, int32_t value_bits,
                             const int8_t *codebook, int32_t codebook_size, int32_t codebook_per_channel,
                             int32_t position_bits, int32_t entries, const uint8_t *values, const uint8_t *positions,
                             const int32_t *bias, int32_t weight_zp);
/* cffi-end */

/* mf_weight_encoding_validate's result: 0, or the field that is wrong (EncodingError.field). */
#define WE_VALID 0
#define WE_VALUE_BITS 1
#define WE_POSITION_BITS 2
#define WE_ENTRIES 3
#define WE_AXIS 4
#define WE_CODEBOOK 5
#define WE_CODEBOOK_PER_CHANNEL 6
#define WE_BUFFER 7
#define WE_POSITIONS_BUFFER 8

/* mf_weight_channel_bound's result. */
#define WE_BOUND_OK 0
#define WE_BOUND_MINUS_128 1  /* a weight is -128 and weight_zp 0: symmetric int8 lies in [-127, 127] */
#define WE_BOUND_OVERFLOW 2   /* 255 * sum|w - weight_zp| + |bias| of some output channel exceeds 2^31 - 1 */

/* The unsigned `bits`-bit field (1..8) at bit `bit`: s = bit mod 8, s + bits <= 15, so at most two bytes,
 * and the second only when the field reaches into it. */
static inline int32_t read_bits(const uint8_t *stream, int32_t bit, int32_t bits)
{
    const int32_t byte = bit >> 3;
    const int32_t s = bit & 7;
    int32_t v = (int32_t)stream[byte] >> s;
    if (s + bits > 8) {
        v |= (int32_t)stream[byte + 1] << (8 - s);
    }
    return v & ((1 << bits) - 1);
}

/* A field as its int8 weight: the palette entry, or the field sign-extended from `bits` (no codebook: NULL). */
static inline int32_t weight_value(int32_t field, int32_t bits, const int8_t *codebook, int32_t codebook_base)
{
    if (codebook != 0) {
        return codebook[codebook_base + field];
    }
    const int32_t sign = 1 << (bits - 1);
    return (field ^ sign) - sign;
}

/* `length` fields from bit `first_bit` on as int16 weights in row[0 .. length): a sequential bit reader whose
 * `buf` holds the `have` bits not yet used (low bits first); a byte is loaded only when fewer than
 * value_bits remain, so it never reads past the last field's byte. */
static inline void decode_row(int16_t *row, const uint8_t *values, int32_t first_bit, int32_t length,
                              int32_t value_bits, const int8_t *codebook, int32_t codebook_base)
{
    int32_t byte = first_bit >> 3;
    int32_t buf = (int32_t)values[byte] >> (first_bit & 7);
    int32_t have = 8 - (first_bit & 7);
    const int32_t mask = (1 << value_bits) - 1;
    const int32_t sign = 1 << (value_bits - 1);
    for (int32_t t = 0; t < length; ++t) {
        if (have < value_bits) {
            ++byte;
            buf |= (int32_t)values[byte] << have; /* have <= 7: fits 15 bits */
            have += 8;
        }
        const int32_t field = buf & mask;
        buf >>= value_bits;
        have -= value_bits;
        row[t] = (int16_t)(codebook != 0 ? codebook[codebook_base + field] : (field ^ sign) - sign);
    }
}

/* sum_t column[t] * w[row, t] over one row of an encoded weight in row order. Dense layout: the row is
 * decoded into row_buffer, then one dot product. Sparse layout: the walk continues from
 * (*entry, *position), the state after the previous row, and stops before the first entry past this
 * row, so rows are visited in order. */
static inline int32_t encoded_row_dot(const int16_t *column, int16_t *row_buffer, int32_t row, int32_t length,
                                      int32_t value_bits, const int8_t *codebook, int32_t codebook_base,
                                      int32_t position_bits, int32_t entries, const uint8_t *values,
                                      const uint8_t *positions, int32_t *entry, int32_t *position)
{
    int32_t acc = 0;
    if (position_bits == 0) {
        decode_row(row_buffer, values, row * length * value_bits, length, value_bits, codebook, codebook_base);
        for (int32_t t = 0; t < length; ++t) {
            acc += (int32_t)column[t] * (int32_t)row_buffer[t];
        }
    } else {
        const int32_t start = row * length;
        const int32_t end = start + length;
        int32_t j = *entry;
        int32_t pos = *position;
        while (j < entries) {
            const int32_t next = pos + 1 + read_bits(positions, j * position_bits, position_bits);
            if (next >= end) {
                break;
            }
            pos = next;
            acc += (int32_t)column[pos - start] *
                   weight_value(read_bits(values, j * value_bits, value_bits), value_bits, codebook, codebook_base);
            ++j;
        }
        *entry = j;
        *position = pos;
    }
    return acc;
}

#endif /* MICROFLAT_WEIGHT_ENCODING_H */
