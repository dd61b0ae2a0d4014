/*
 * The verifier's checks of a compressed weight: the C twins of
 * weight_encoding.validate and of the accumulator bound the loader computes
 * with weight_encoding.channel_abs_sums. Both read the streams alone, so
 * their work is proportional to the stored bytes, never to a shape a
 * damaged file may inflate.
 *
 * Sizes that can exceed 2^31 (entries * bits, sums of deltas, element
 * counts) are computed in int64_t / uint64_t.
 */
#include "microflat_kernels.h"
#include "weight_encoding.h"


static int64_t elements(const int32_t *shape, int32_t from, int32_t to)
{
    int64_t n = 1;
    for (int32_t d = from; d < to; ++d) {
        n *= shape[d]; /* the caller checked the whole product fits 2^31 */
    }
    return n;
}

static uint64_t stream_bytes(uint64_t entries, int32_t bits)
{
    return (entries * (uint64_t)bits + 7) / 8;
}

int32_t mf_weight_encoding_validate(const int32_t *shape, int32_t rank, int32_t value_bits, const int8_t *codebook,
                                 uint32_t codebook_bytes, int32_t codebook_per_channel, int32_t axis,
                                 int32_t position_bits, uint32_t entries, const uint8_t *values, uint32_t values_bytes,
                                 const uint8_t *positions, uint32_t positions_bytes)
{
    const int64_t n = elements(shape, 0, rank);
    const int32_t vb = value_bits, pb = position_bits;
    if (vb < 1 || vb > 8) {
        return WE_VALUE_BITS;
    }
    if (pb < 0 || pb > 8) {
        return WE_POSITION_BITS;
    }
    if (vb == 8 && pb == 0) {
        return WE_VALUE_BITS; /* 8-bit fields in the dense layout save nothing */
    }
    if ((uint64_t)entries * (uint64_t)(vb > pb ? vb : pb) > (uint64_t)INT32_MAX) {
        return WE_ENTRIES;
    }
    if (axis < -1 || axis >= rank) {
        return WE_AXIS;
    }
    if ((codebook_per_channel || pb) && axis < 0) {
        return WE_AXIS;
    }
    uint32_t size = 0;
    if (codebook_bytes) {
        const uint32_t groups = codebook_per_channel ? (uint32_t)shape[axis] : 1u;
        size = codebook_bytes / groups;
        if (size * groups != codebook_bytes || size < 1 || size > 256) {
            return WE_CODEBOOK;
        }
        for (uint32_t i = 0; i < codebook_bytes; ++i) {
            if (codebook[i] == -128) {
                return WE_CODEBOOK;
            }
        }
    } else if (codebook_per_channel) {
        return WE_CODEBOOK_PER_CHANNEL;
    }
    if (values_bytes != stream_bytes(entries, vb)) {
        return WE_BUFFER;
    }
    if (pb == 0) {
        if ((int64_t)entries != n) {
            return WE_ENTRIES;
        }
    } else if (positions_bytes != stream_bytes(entries, pb)) {
        return WE_POSITIONS_BUFFER;
    }
    /* From here entries * bits < 2^31: bit positions fit int32, as in the kernels. */
    const int32_t count = (int32_t)entries;
    if (size && count && size < (1u << vb)) {
        for (int32_t j = 0; j < count; ++j) {
            if ((uint32_t)read_bits(values, j * vb, vb) >= size) {
                return WE_CODEBOOK;
            }
        }
    }
    if (pb && count) {
        int64_t last = -1;
        for (int32_t j = 0; j < count; ++j) {
            last += 1 + read_bits(positions, j * pb, pb);
        }
        if (last >= n) {
            return WE_ENTRIES;
        }
    }
    return WE_VALID;
}

/* 255 * s + |b| <= 2^31 - 1 for the abs-sum s of one output channel and its bias b (|INT32_MIN| included). */
static int channel_fits(int64_t abs_sum, const int32_t *bias, int64_t c)
{
    const int64_t b = bias != 0 ? (int64_t)bias[c] : 0;
    return 255 * abs_sum + (b < 0 ? -b : b) <= INT32_MAX;
}

/*
 * The loader's check of a conv, depthwise or FC weight (ops.py, OpCheck.weights): for every output channel c
 * along channel_axis, 255 * sum |w - weight_zp| + |bias[c]| < 2^31 (numerics.accumulator_overflow on
 * numerics.weight_abs_sums), so the int32 accumulator of every kernel is exact (|x - zp| <= 255); and, for
 * symmetric weights (weight_zp 0: every encoded weight, and every weight but an asymmetric dense FC one),
 * no weight is -128. An asymmetric weight takes all of [-128, 127].
 *
 * A plain int8 tensor is passed as value_bits 8, no codebook, the dense layout. In the dense layout
 * element i of channel c is i = (o * channels + c) * inner + k (inner: the elements after the axis), so
 * each channel is summed by a strided pass and the whole check is one pass. A sparse layout lies in row
 * order (its axis is channel_axis, which the caller checked), so a single walk meets the channels in order.
 */
int32_t mf_weight_channel_bound(const int32_t *shape, int32_t rank, int32_t channel_axis, int32_t value_bits,
                             const int8_t *codebook, int32_t codebook_size, int32_t codebook_per_channel,
                             int32_t position_bits, int32_t entries, const uint8_t *values, const uint8_t *positions,
                             const int32_t *bias, int32_t weight_zp)
{
    const int64_t channels = shape[channel_axis];
    const int64_t inner = elements(shape, channel_axis + 1, rank);
    const int64_t n = elements(shape, 0, rank);
    const int64_t outer = n / (channels * inner);
    const int raw = value_bits == 8 && position_bits == 0 && codebook == 0;
    const int8_t *weights = (const int8_t *)values;
    for (int64_t c = 0; c < channels; ++c) {
        if (!channel_fits(0, bias, c)) {
            return WE_BOUND_OVERFLOW;
        }
    }
    if (position_bits == 0) {
        for (int64_t c = 0; c < channels; ++c) {
            const int32_t base = codebook_per_channel ? (int32_t)c * codebook_size : 0;
            int64_t sum = 0;
            for (int64_t o = 0; o < outer; ++o) {
                for (int64_t k = 0; k < inner; ++k) {
                    const int64_t i = (o * channels + c) * inner + k;
                    /* raw: one byte an element (i * 8 may pass 2^31); encoded: i * value_bits < 2^31 */
                    const int32_t w = raw ? weights[i]
                                          : weight_value(read_bits(values, (int32_t)i * value_bits, value_bits),
                                                         value_bits, codebook, base);
                    if (w == -128 && weight_zp == 0) {
                        return WE_BOUND_MINUS_128;
                    }
                    sum += w - weight_zp < 0 ? weight_zp - w : w - weight_zp;
                }
            }
            if (!channel_fits(sum, bias, c)) {
                return WE_BOUND_OVERFLOW;
            }
        }
        return WE_BOUND_OK;
    }
    const int64_t row = n / channels;
    int64_t position = -1, channel = 0, sum = 0;
    for (int32_t j = 0; j < entries; ++j) {
        position += 1 + read_bits(positions, j * position_bits, position_bits);
        const int64_t c = position / row;
        if (c != channel) {
            if (!channel_fits(sum, bias, channel)) {
                return WE_BOUND_OVERFLOW;
            }
            channel = c;
            sum = 0;
        }
        const int32_t base = codebook_per_channel ? (int32_t)c * codebook_size : 0;
        const int32_t w = weight_value(read_bits(values, j * value_bits, value_bits), value_bits, codebook, base);
        if (w == -128 && weight_zp == 0) {
            return WE_BOUND_MINUS_128;
        }
        sum += w - weight_zp < 0 ? weight_zp - w : w - weight_zp;
    }
    return channel_fits(sum, bias, channel) ? WE_BOUND_OK : WE_BOUND_OVERFLOW;
}
