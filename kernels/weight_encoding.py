"""Compressed int8 weights: the stream layouts, the readers the kernels share, and numpy encode/decode.

A weight tensor is stored either dense (one int8 per element, the plain
layout) or encoded. An encoding has two independent parts.

Values. Each stored value is a ``value_bits``-bit field (1..8) of a
little-endian bit stream: field j occupies bits [j * b, (j + 1) * b), and
bit i of the stream is bit (i mod 8) of byte i div 8. A field is

  * a signed two's-complement integer when there is no codebook. With b = 4
    this is exactly CMSIS-NN's packed int4: two weights per byte, the first in
    the low nibble, packed continuously across rows (an odd row length puts
    the next row's first weight in the high nibble);
  * an unsigned index into a codebook (a palette) of at most 256 int8 values,
    one palette for the tensor, or one per output channel.

Layout. Dense layout (``position_bits`` = 0): field j is element j of the
tensor in C order. Sparse layout (``position_bits`` = p in 1..8): only some
elements are stored, each preceded in a second stream (same bit order, p
bits a field) by the count of elements skipped since the previous stored one.
Elements are numbered with the output-channel axis moved first (the "row
order": C order for conv OHWI and FC [OUT, IN], channel-major for depthwise
[1, KH, KW, C]), so each output channel's entries are contiguous:

    position[-1] = -1,   position[j] = position[j - 1] + 1 + delta[j]

A run of more than 2^p - 1 zeros is bridged by filler entries that store a
zero weight (Deep Compression's relative indexing, Han et al. 2016, §3); a
filler needs no special case in a kernel, since it adds x * 0.

Reading a field: it starts at bit j * b, i.e. at bit s = (j * b) mod 8 of byte
(j * b) div 8, and has b <= 8 bits, so it spans at most two bytes (s + b <= 15).
read_bits loads the first byte shifted right by s, ORs in the second byte
shifted left by 8 - s only when s + b > 8 (so it never reads past the last
byte of a valid stream), and masks b bits. Signed fields are sign-extended
with (v xor 2^(b-1)) - 2^(b-1).

Bit positions are int32 in the C twins: the verifier bounds entries * bits
below 2^31.

Every decoded weight is an int8 the dense kernels could have read, and the
integer sums are exact (the verifier's accumulator bound is computed on the
decoded weights), so an encoded kernel gives the dense kernel's bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

from .kernel_args import bind

MAX_VALUE_BITS = 8
MAX_POSITION_BITS = 8
MAX_CODEBOOK = 256
MAX_STREAM_BITS = 2**31 - 1


@njit(inline="always", cache=True, nogil=True)
def read_bits(stream, bit, bits):
    """The unsigned ``bits``-bit field (1..8) starting at bit ``bit`` of a little-endian bit stream: the 8 or 16
    bits from its byte on (the next byte read only when the field reaches it), shifted down by its offset in the
    byte, masked. All in int64, as Numba's integer arithmetic is: int32 operands mixed with int64 ones cost a
    conversion each, which made this six times slower."""
    byte = bit >> 3
    s = bit & 7
    v = np.int64(stream[byte]) | (np.int64(stream[byte + 1]) << 8) if s + bits > 8 else np.int64(stream[byte])
    return (v >> s) & ((np.int64(1) << bits) - 1)


@njit(inline="always", cache=True, nogil=True)
def weight_value(field, bits, codebook, codebook_base):
    """A stored field as its int8 weight: codebook[codebook_base + field], or the field sign-extended from ``bits``."""
    if codebook.shape[0] > 0:
        return np.int32(codebook[codebook_base + field])
    sign = np.int32(1) << (bits - 1)
    return (field ^ sign) - sign


@njit(inline="always", cache=True, nogil=True)
def decode_row(row, values, first_bit, length, value_bits, codebook, codebook_base):
    """Fields first_bit, first_bit + b, ... (``length`` of them) of the value stream as int16 weights in row[:length].

    A sequential bit reader: ``buf`` holds the ``have`` bits not yet used (low bits first); a byte is
    loaded only when fewer than b remain, so the reader never touches a byte past the last field's.
    """
    byte = first_bit >> 3
    buf = np.int32(values[byte]) >> (first_bit & 7)
    have = 8 - (first_bit & 7)
    mask = (np.int32(1) << value_bits) - 1
    sign = np.int32(1) << (value_bits - 1)
    palette = codebook.shape[0] > 0
    for t in range(length):
        if have < value_bits:
            byte += 1
            buf |= np.int32(values[byte]) << have
            have += 8
        field = buf & mask
        buf >>= value_bits
        have -= value_bits
        if palette:
            row[t] = codebook[codebook_base + field]
        else:
            row[t] = (field ^ sign) - sign


@njit(inline="always", cache=True, nogil=True)
def decode_encoded_row(row_buffer, row, length, value_bits, codebook, codebook_base, position_bits, entries, values,
                       positions, entry, position):
    """Row ``row`` (``length`` weights) of an encoded weight in row order, as int16 in row_buffer[:length].

    Dense layout: decode_row. Sparse layout: zeros, then the walk from (entry, position), the state after the
    previous row, each entry's value stored at its place, stopping before the first entry past this row; rows
    must be visited in order. Returns (entry, position).
    """
    if position_bits == 0:
        decode_row(row_buffer, values, row * length * value_bits, length, value_bits, codebook, codebook_base)
    else:
        row_buffer[:length] = 0
        start = row * length
        end = start + length
        while entry < entries:
            nxt = position + 1 + read_bits(positions, entry * position_bits, position_bits)
            if nxt >= end:
                break
            position = nxt
            row_buffer[position - start] = weight_value(read_bits(values, entry * value_bits, value_bits),
                                                        value_bits, codebook, codebook_base)
            entry += 1
    return entry, position


@njit(inline="always", cache=True, nogil=True)
def encoded_row_dot(column, row_buffer, row, length, value_bits, codebook, codebook_base, position_bits, entries,
                    values, positions, entry, position):
    """sum_t column[t] * w[row, t] over row ``row`` (``length`` weights) of an encoded weight in row order: the
    row decoded into ``row_buffer`` (int16, ``length``; decode_encoded_row, so rows must be visited in order),
    then one dot product, which compilers vectorize as they do the dense kernel's. Returns (acc, entry,
    position); the C twin walks a sparse row without decoding it, and updates *entry and *position instead.
    """
    entry, position = decode_encoded_row(row_buffer, row, length, value_bits, codebook, codebook_base, position_bits,
                                         entries, values, positions, entry, position)
    acc = np.int32(0)
    for t in range(length):
        acc += np.int32(column[t]) * np.int32(row_buffer[t])
    return acc, entry, position


# --- the host side: numpy encode and decode (compiler, verifier, tests) --------------


@dataclass
class Encoding:
    """An encoded int8 weight tensor, as stored in a .mfb (field names are the schema's)."""

    shape: tuple                            # the weight tensor's shape
    value_bits: int
    values: np.ndarray                      # uint8 value stream
    entries: int                            # stored fields (the element count in the dense layout)
    codebook: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))  # int8; empty: signed fields
    codebook_per_channel: bool = False
    axis: int = -1                          # the output-channel axis (rows of the sparse layout, palettes)
    position_bits: int = 0                  # 0: dense layout
    positions: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))  # uint8 delta stream

    @property
    def kind(self) -> str:
        value = f"palette{self.value_bits}" + ("/ch" if self.codebook_per_channel else "") if self.codebook.size \
            else f"int{self.value_bits}"
        return f"sparse({value}, p{self.position_bits})" if self.position_bits else value

    @property
    def stored_bytes(self) -> int:
        """Bytes the tensor's data takes in the file (streams and codebook, before alignment)."""
        return int(self.values.size + self.positions.size + self.codebook.size)


def weighted_arguments(dense_kernel, encoded_kernel, filter, **arguments):
    """(kernel, arguments by name) of a conv, depthwise or FC call: the dense kernel on a flat int8 ``filter``,
    or its *_encoded_s8 twin on an Encoding's streams (codebook, values, positions in the filter's place) and
    their parameters. ``arguments`` are the dense kernel's other arguments by name; an encoded filter is
    symmetric, so a ``filter_zp`` there must be 0. The public wrappers run the call by name (run_kernel)."""
    if not isinstance(filter, Encoding):
        return dense_kernel, dict(filter=filter, **arguments)
    if arguments.pop("filter_zp", 0):
        raise ValueError(f"{encoded_kernel.__name__}: encoded weights have no zero point")
    e = filter
    return encoded_kernel, dict(
        value_bits=e.value_bits,
        codebook_size=e.codebook.size // (e.shape[e.axis] if e.codebook_per_channel else 1),
        codebook_per_channel=int(e.codebook_per_channel), position_bits=e.position_bits, entries=e.entries,
        codebook=np.ascontiguousarray(e.codebook, np.int8).reshape(-1),
        values=np.ascontiguousarray(e.values, np.uint8), positions=np.ascontiguousarray(e.positions, np.uint8),
        **arguments)


def weighted_call(dense_kernel, encoded_kernel, filter, **arguments):
    """(kernel, positional arguments) of weighted_arguments' call (kernel_args.bind), as the interpreter's
    steps take them."""
    kernel, named = weighted_arguments(dense_kernel, encoded_kernel, filter, **arguments)
    return kernel, bind(kernel, **named)


def stream_bytes(entries: int, bits: int) -> int:
    return (entries * bits + 7) // 8


def pack_bits(fields: np.ndarray, bits: int) -> np.ndarray:
    """Unsigned fields (each < 2^bits) as a little-endian bit stream of ``bits`` bits a field."""
    f = np.asarray(fields, np.int64).reshape(-1)
    planes = ((f[:, None] >> np.arange(bits)) & 1).astype(np.uint8).reshape(-1)
    return np.packbits(planes, bitorder="little")


def unpack_bits(stream: np.ndarray, count: int, bits: int) -> np.ndarray:
    """The first ``count`` ``bits``-bit fields of a stream, as int64."""
    planes = np.unpackbits(np.asarray(stream, np.uint8), bitorder="little")[:count * bits]
    return (planes.reshape(count, bits).astype(np.int64) << np.arange(bits)).sum(axis=1)


def row_order(w: np.ndarray, axis: int) -> np.ndarray:
    """The weights in row order: the output-channel axis first, each channel's weights contiguous."""
    return np.moveaxis(w, axis, 0).reshape(-1)


def channels_of(shape, axis: int, count: int, sparse_positions=None) -> np.ndarray:
    """The output channel of each stored field: by C-order index (dense layout) or by row-order position (sparse)."""
    channels = shape[axis]
    if sparse_positions is not None:
        return np.asarray(sparse_positions, np.int64) // (int(np.prod(shape)) // channels)
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64))
    return (np.arange(count, dtype=np.int64) // inner) % channels


def sparse_positions(enc: Encoding) -> np.ndarray:
    """Row-order positions of the stored fields of a sparse encoding."""
    deltas = unpack_bits(enc.positions, enc.entries, enc.position_bits)
    return np.cumsum(deltas + 1) - 1


def decode_fields(enc: Encoding) -> tuple[np.ndarray, np.ndarray | None]:
    """(int8 weight of each stored field as int64, its row-order position or None for the dense layout)."""
    shape = enc.shape
    fields = unpack_bits(enc.values, enc.entries, enc.value_bits)
    pos = sparse_positions(enc) if enc.position_bits else None
    if enc.codebook.size:
        cb = enc.codebook.astype(np.int64)
        if enc.codebook_per_channel:
            size = cb.size // shape[enc.axis]
            fields = cb[channels_of(shape, enc.axis, enc.entries, pos) * size + fields]
        else:
            fields = cb[fields]
    else:
        sign = 1 << (enc.value_bits - 1)
        fields = (fields ^ sign) - sign
    return fields, pos


def channel_abs_sums(enc: Encoding, channel_axis: int) -> tuple[np.ndarray, int]:
    """(sum |w| per channel of ``channel_axis``, the smallest weight) from the stored fields alone: work and
    memory in proportion to the streams, never to the dense tensor (whose shape a damaged file may inflate).
    A sparse layout's rows must lie along ``channel_axis``."""
    values, pos = decode_fields(enc)
    channels = enc.shape[channel_axis]
    chan = channels_of(enc.shape, channel_axis, enc.entries, pos)
    sums = np.bincount(chan, weights=np.abs(values), minlength=channels).astype(np.int64)
    return sums, int(values.min(initial=0))


def decode(enc: Encoding) -> np.ndarray:
    """The dense int8 tensor of a valid encoding (for the verifier's bounds and for tests; kernels never do this)."""
    shape = enc.shape
    values, pos = decode_fields(enc)
    if pos is None:
        return values.astype(np.int8).reshape(shape)
    rows = np.zeros(int(np.prod(shape)), np.int8)
    rows[pos] = values
    moved = (shape[enc.axis],) + tuple(d for i, d in enumerate(shape) if i != enc.axis)
    return np.moveaxis(rows.reshape(moved), 0, enc.axis).copy()


def sparse_walk(nonzero: np.ndarray, position_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(positions, deltas) of the stored entries: the nonzero row-order positions plus the fillers that bridge
    runs of zeros longer than 2^p - 1. A gap of g zeros takes g div 2^p fillers, each 2^p elements on."""
    span = 1 << position_bits
    nonzero = np.asarray(nonzero, np.int64)
    prev = np.concatenate([[-1], nonzero[:-1]])
    gaps = nonzero - prev - 1
    fillers = gaps // span
    n_fill = int(fillers.sum())
    # filler i of the gap before nonzero k sits at prev[k] + (i + 1) * span
    owner = np.repeat(np.arange(nonzero.size), fillers)
    rank = np.arange(n_fill) - np.repeat(np.cumsum(fillers) - fillers, fillers)
    filler_pos = prev[owner] + (rank + 1) * span
    positions = np.sort(np.concatenate([nonzero, filler_pos]))
    deltas = np.diff(np.concatenate([[-1], positions])) - 1
    return positions, deltas


class EncodingError(ValueError):
    """An invalid encoding: ``field`` (a WeightEncoding field name, or "buffer" for the value stream) and why."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


def validate(enc: Encoding) -> None:
    """Check every field, stream length, palette index and sparse position of an encoding; raise EncodingError.

    After it passes, every read a kernel makes stays inside the streams and the codebook."""
    def require(cond, name, reason):
        if not cond:
            raise EncodingError(name, reason)

    shape, vb, pb, entries, axis = enc.shape, enc.value_bits, enc.position_bits, enc.entries, enc.axis
    n = int(np.prod(shape, dtype=np.int64))
    require(1 <= vb <= MAX_VALUE_BITS, "value_bits", f"{vb} is outside [1, {MAX_VALUE_BITS}]")
    require(0 <= pb <= MAX_POSITION_BITS, "position_bits", f"{pb} is outside [0, {MAX_POSITION_BITS}]")
    require(vb < 8 or pb > 0, "value_bits", "8-bit fields in the dense layout save nothing: store the tensor dense")
    require(0 <= entries and entries * max(vb, pb) <= MAX_STREAM_BITS, "entries",
            f"{entries} entries exceed the 2^31-bit stream limit")
    require(-1 <= axis < len(shape), "axis", f"axis {axis} is outside [-1, {len(shape)})")
    per_channel = bool(enc.codebook_per_channel)
    if per_channel or pb:
        require(axis >= 0, "axis", "a sparse layout or per-channel palettes need the output-channel axis")
    book = enc.codebook
    size = 0
    if book.size:
        groups = shape[axis] if per_channel else 1
        size = book.size // groups
        require(book.size == size * groups and 1 <= size <= MAX_CODEBOOK, "codebook",
                f"{book.size} entries are not {groups} palette(s) of 1..{MAX_CODEBOOK}")
        require(int(book.min()) >= -127, "codebook", "holds -128; symmetric int8 lies in [-127, 127]")
    else:
        require(not per_channel, "codebook_per_channel", "set without a codebook")
    require(enc.values.size == stream_bytes(entries, vb), "buffer",
            f"the value stream has {enc.values.size} bytes; {entries} values of {vb} bits need {stream_bytes(entries, vb)}")
    if pb == 0:
        require(entries == n, "entries", f"the dense layout stores every element: {n}, not {entries}")
    else:
        require(enc.positions.size == stream_bytes(entries, pb), "positions_buffer",
                f"the position stream has {enc.positions.size} bytes; {entries} deltas of {pb} bits need "
                f"{stream_bytes(entries, pb)}")
    if size and entries and size < (1 << vb):
        top = int(unpack_bits(enc.values, entries, vb).max())
        require(top < size, "codebook", f"a value indexes entry {top} of a {size}-entry palette")
    if pb and entries:
        last = int(sparse_positions(enc)[-1])
        require(last < n, "entries", f"the positions run to element {last} of {n}")


def signed_bits(values: np.ndarray) -> int:
    """The fewest two's-complement bits (1..8) that hold every value."""
    lo, hi = int(values.min(initial=0)), int(values.max(initial=0))
    for b in range(1, MAX_VALUE_BITS + 1):
        if -(1 << (b - 1)) <= lo and hi < (1 << (b - 1)):
            return b
    raise ValueError(f"values [{lo}, {hi}] do not fit int8")


def index_bits(size: int) -> int:
    return max(1, int(size - 1).bit_length())


def encode(w: np.ndarray, axis: int, *, value_bits: int | None = None, palette: str | None = None,
           position_bits: int = 0) -> Encoding:
    """Encode int8 weights.

    palette: None (signed fields of ``value_bits``, default the fewest that fit),
    "tensor" (one sorted codebook) or "channel" (one per channel of ``axis``).
    position_bits: 0 for the dense layout, 1..8 for the sparse one (zeros skipped).
    """
    w = np.asarray(w)
    if w.dtype != np.int8:
        raise ValueError(f"weights must be int8, got {w.dtype}")
    shape = w.shape
    channels = shape[axis]
    fillers = 0
    if position_bits:
        rows = row_order(w, axis).astype(np.int64)
        positions, deltas = sparse_walk(np.flatnonzero(rows), position_bits)
        fillers = positions.size - np.count_nonzero(rows)
        stored = rows[positions]
        chan = positions // (rows.size // channels)
    else:
        stored = w.reshape(-1).astype(np.int64)
        deltas = None
        chan = channels_of(shape, axis, stored.size)
    codebook = np.zeros(0, np.int8)
    if palette is None:
        bits = value_bits or signed_bits(stored)
        fields = stored & ((1 << bits) - 1)
    elif palette == "tensor":
        book = np.unique(np.concatenate([stored, [0] if fillers else []]).astype(np.int64))
        bits = value_bits or index_bits(book.size)
        fields = np.searchsorted(book, stored)
        codebook = book.astype(np.int8)
    elif palette == "channel":
        books = [np.unique(np.concatenate([stored[chan == c], [0] if fillers else []]).astype(np.int64))
                 for c in range(channels)]
        books = [b if b.size else np.zeros(1, np.int64) for b in books]
        size = max(b.size for b in books)
        bits = value_bits or index_bits(size)
        table = np.zeros((channels, size), np.int64)
        for c, b in enumerate(books):
            table[c, :b.size] = b
            table[c, b.size:] = b[-1]
        fields = np.zeros(stored.size, np.int64)
        for c, b in enumerate(books):
            fields[chan == c] = np.searchsorted(b, stored[chan == c])
        codebook = table.reshape(-1).astype(np.int8)
    else:
        raise ValueError(f"palette must be None, 'tensor' or 'channel', got {palette!r}")
    if fields.size and int(fields.max()) >= (1 << bits):
        raise ValueError(f"{bits}-bit fields cannot hold these weights")
    return Encoding(shape=tuple(shape), value_bits=bits, values=pack_bits(fields, bits), entries=int(stored.size), codebook=codebook,
                    codebook_per_channel=palette == "channel", axis=axis, position_bits=position_bits,
                    positions=pack_bits(deltas, position_bits) if position_bits else np.zeros(0, np.uint8))
