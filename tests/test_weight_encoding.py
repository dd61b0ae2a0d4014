"""Compressed weights: the stream layout, the round trip, and encoded kernels bit-exact with the dense reference.

The layout is pinned by a reference decoder written here from the format's
text (docs/FORMAT.md, "Weight encodings") in plain Python integers: bit i of a
stream is bit i % 8 of byte i // 8; a field is read low bit first; fields are
sign-extended or index a palette; sparse positions are cumulative deltas + 1
in row order (the output-channel axis first). It never calls the decoder
under test.

Kernel cases are the dense bit-exactness cases (layer_cases.py), with the
filter thinned by a drawn density and drawn onto a drawn palette, then
encoded with a drawn encoding; the int64 reference runs on the thinned dense
filter, and the C twin must equal Numba.
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from microflat.testing import int_reference as R
from microflat.testing.layer_cases import conv2d_cases, depthwise_cases, fully_connected_cases
from test_kernels_exact import conv2d_reference, depthwise_reference, fully_connected_reference
from microflat.kernels import conv2d, depthwise_conv2d, fully_connected, native
from microflat.kernels.weight_encoding import Encoding, EncodingError, encode, validate


# --- the reference decoder, from the format's text ---------------------------------

def ref_fields(stream, count, bits):
    bitstring = "".join(format(int(b), "08b")[::-1] for b in bytes(stream))  # bit i = bit i % 8 of byte i // 8
    return [int(bitstring[j * bits:(j + 1) * bits][::-1], 2) for j in range(count)]


def ref_decode(e: Encoding):
    shape = e.shape
    n = int(np.prod(shape))
    channels = shape[e.axis] if e.axis >= 0 else 1
    fields = ref_fields(e.values, e.entries, e.value_bits)
    book = [int(v) for v in e.codebook]
    per = len(book) // channels if e.codebook_per_channel else len(book)
    if e.position_bits:
        deltas = ref_fields(e.positions, e.entries, e.position_bits)
        positions, p = [], -1
        for d in deltas:
            p += 1 + d
            positions.append(p)
        row_len = n // channels
        chan = [q // row_len for q in positions]
    else:
        positions = list(range(n))
        inner = int(np.prod(shape[e.axis + 1:])) if e.axis >= 0 else 1
        chan = [(j // inner) % channels for j in range(n)]
    values = []
    for f, c in zip(fields, chan):
        if book:
            values.append(book[(c * per if e.codebook_per_channel else 0) + f])
        else:
            values.append(f - (1 << e.value_bits) if f >= 1 << (e.value_bits - 1) else f)
    flat = [0] * n
    for q, v in zip(positions, values):
        flat[q] = v
    if not e.position_bits:
        return np.array(flat, np.int64).reshape(shape)
    moved = (shape[e.axis],) + tuple(d for i, d in enumerate(shape) if i != e.axis)
    return np.moveaxis(np.array(flat, np.int64).reshape(moved), 0, e.axis)


def test_packed_int4_is_cmsis_nn_layout():
    """Two weights a byte, the first in the low nibble, continuous across an odd row length."""
    w = np.array([[1, -2, 3], [-8, 7, 0]], np.int8)
    e = encode(w, 0, value_bits=4)
    assert bytes(e.values) == bytes([(1 & 15) | ((-2 & 15) << 4), (3 & 15) | ((-8 & 15) << 4), 7])


# --- strategies --------------------------------------------------------------------------

@st.composite
def thinned(draw, w):
    """w with a drawn fraction of zeros and, half the time, its values drawn onto a small palette."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    keep = rng.random(w.shape) < draw(st.sampled_from([0.0, 0.05, 0.3, 0.7, 1.0]))
    out = np.where(keep, w, 0).astype(np.int8)
    if draw(st.booleans()):
        palette = np.array(draw(st.lists(st.integers(-127, 127), min_size=1, max_size=20)), np.int8)
        out = np.where(out != 0, palette[rng.integers(0, palette.size, w.shape)], 0).astype(np.int8)
    return out


@st.composite
def encodings_of(draw, w, axis):
    palette = draw(st.sampled_from([None, "tensor", "channel"]))
    position_bits = draw(st.sampled_from([0, 0, 1, 2, 3, 4, 5, 8]))
    e = encode(w, axis, palette=palette, position_bits=position_bits)
    assume(e.value_bits < 8 or position_bits > 0)  # an 8-bit dense layout is refused: it saves nothing
    return e


@st.composite
def weights_and_axis(draw):
    rank = draw(st.sampled_from([2, 4]))
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=rank, max_size=rank)))
    w = np.array(draw(st.lists(st.integers(-127, 127), min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))),
                 np.int8).reshape(shape)
    return draw(thinned(w)), draw(st.sampled_from([0, rank - 1]))


@given(data=st.data(), wa=weights_and_axis())
def test_every_encoding_decodes_to_its_weights_by_the_format_text(data, wa):
    w, axis = wa
    e = data.draw(encodings_of(w, axis))
    validate(e)
    np.testing.assert_array_equal(ref_decode(e), w)
    assert e.stored_bytes == e.values.size + e.positions.size + e.codebook.size


@given(wa=weights_and_axis(), p=st.integers(1, 8))
def test_sparse_stores_the_nonzeros_and_only_the_fillers_runs_of_zeros_need(wa, p):
    """A run of g zeros between stored weights costs g div 2^p fillers, and each filler stores 0."""
    w, axis = wa
    e = encode(w, axis, position_bits=p)
    rows = np.moveaxis(w, axis, 0).reshape(-1)
    nz = [i for i, v in enumerate(rows.tolist()) if v]
    prev, fillers = -1, 0
    for i in nz:
        fillers += (i - prev - 1) // (1 << p)
        prev = i
    assert e.entries == len(nz) + fillers


# --- kernels: encoded == dense reference, C == Numba ---------------------------------------

def _check_encoded(op, reference, case, data, axis):
    case.w = data.draw(thinned(case.w))
    sums = np.abs(np.moveaxis(case.w.astype(np.int64), axis, 0).reshape(case.w.shape[axis], -1)).sum(axis=1)
    bias = np.zeros_like(sums) if case.bias is None else np.abs(case.bias.astype(np.int64))
    assume(int((255 * sums + bias).max()) < 2**31)  # a palette may enlarge weights past the drawn bias's bound
    e = data.draw(encodings_of(case.w, axis))
    expected = reference(case)
    got = op(case.x, e, case.bias, backend="numba", **case.kwargs)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(op(case.x, e, case.bias, backend="c", **case.kwargs), got)


@given(case=conv2d_cases(), data=st.data())
def test_conv2d_encoded_equals_dense_reference(case, data):
    _check_encoded(conv2d, conv2d_reference, case, data, 0)


@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_an_encoded_conv_of_wide_rows_gives_its_exact_accumulators(data):
    """8 to 40 input channels, so a row can hold fewer than a quarter of its taps nonzero (the Numba kernel then
    visits only those) or more; 1x1 and 3x3 filters, padding, strides.
    M = 1 (mult 2^30, shift 1) and small values, so the output is the accumulator itself (clamped): an
    accumulator off by one shows, as it would not behind a small multiplier."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    k, cin, cout = data.draw(st.sampled_from([1, 3])), data.draw(st.integers(8, 40)), data.draw(st.integers(1, 5))
    h, w, pad, stride = (data.draw(st.integers(1, 5)), data.draw(st.integers(1, 5)), data.draw(st.integers(0, 1)),
                         data.draw(st.integers(1, 2)))
    assume(h + 2 * pad >= k and w + 2 * pad >= k)
    out_h, out_w = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    density = data.draw(st.sampled_from([0.0, 0.03, 0.1, 0.2, 0.5, 1.0]))
    wts = np.where(rng.random((cout, k, k, cin)) < density, rng.integers(-2, 3, (cout, k, k, cin)), 0).astype(np.int8)
    x = rng.integers(-3, 4, (1, h, w, cin)).astype(np.int8)
    zp = data.draw(st.integers(-2, 2))
    acc = R.conv2d_accumulators(x.astype(np.int64) - zp, wts.astype(np.int64), (stride, stride), (1, 1), pad, pad,
                                out_h, out_w, 1)
    want = np.clip(acc, -128, 127)
    e = data.draw(encodings_of(wts, 0))
    kw = dict(input_zp=zp, output_zp=0, output_mult=1 << 30, output_shift=1, stride=stride, padding=(pad, pad))
    for backend in ("numba", "c"):
        np.testing.assert_array_equal(conv2d(x, e, backend=backend, **kw), want)


@given(case=depthwise_cases(), data=st.data())
def test_depthwise_conv2d_encoded_equals_dense_reference(case, data):
    _check_encoded(depthwise_conv2d, depthwise_reference, case, data, 3)


@given(case=fully_connected_cases(), data=st.data())
def test_fully_connected_encoded_equals_dense_reference(case, data):
    _check_encoded(fully_connected, fully_connected_reference, case, data, 0)


@given(stream=st.binary(min_size=2, max_size=64), data=st.data())
def test_read_bits_numba_equals_c_equals_the_format_text(stream, data):
    from microflat.kernels import native
    from microflat.kernels.weight_encoding import read_bits

    bits = data.draw(st.integers(1, 8))
    count = len(stream) * 8 // bits
    j = data.draw(st.integers(0, count - 1))
    arr = np.frombuffer(stream, np.uint8)
    expected = ref_fields(stream, count, bits)[j]
    assert read_bits(arr, j * bits, bits) == expected
    assert native.call("read_bits", arr, j * bits, bits) == expected


# --- validation: every field a kernel trusts -------------------------------------------------

def _sparse_palette():
    w = np.zeros((3, 10), np.int8)
    w[0, 2], w[1, 9], w[2, 0] = 5, -5, 7
    return encode(w, 0, palette="channel", position_bits=2)


@pytest.mark.parametrize("change, field", [
    (dict(value_bits=0), "value_bits"),
    (dict(value_bits=9), "value_bits"),
    (dict(position_bits=9), "position_bits"),
    (dict(axis=2), "axis"),
    (dict(axis=-1), "axis"),
    (dict(codebook=np.zeros(7, np.int8)), "codebook"),
    (dict(codebook=np.full(6, -128, np.int8)), "codebook"),
    (dict(codebook=np.zeros(0, np.int8)), "codebook_per_channel"),
    (dict(values=np.zeros(9, np.uint8)), "buffer"),
    (dict(positions=np.zeros(9, np.uint8)), "positions_buffer"),
    (dict(entries=40), "buffer"),
])
def test_validate_names_the_broken_field(change, field):
    e = _sparse_palette()
    for k, v in change.items():
        setattr(e, k, v)
    with pytest.raises(EncodingError) as err:
        validate(e)
    assert err.value.field == field


def test_validate_refuses_a_palette_index_past_the_palette():
    e = encode(np.array([[1, 2, 3, 1]], np.int8), 0, palette="tensor")  # 3 entries, 2-bit indices
    e.values = np.array([0b11_00_01_00], np.uint8)  # index 3
    with pytest.raises(EncodingError, match="indexes entry 3"):
        validate(e)


def test_validate_refuses_positions_past_the_end():
    e = encode(np.array([[0, 0, 0, 9]], np.int8), 0, position_bits=2)  # one entry, delta 3
    e.positions = np.array([0b11], np.uint8)
    validate(e)
    e = encode(np.array([[0, 0, 9]], np.int8), 0, position_bits=2)  # delta 2 of 3 elements
    e.positions = np.array([0b11], np.uint8)  # delta 3: element 3 of 3
    with pytest.raises(EncodingError, match="run to element 3 of 3"):
        validate(e)


def test_validate_refuses_an_eight_bit_dense_layout_which_saves_nothing():
    w = np.arange(-100, 100, dtype=np.int8).reshape(4, 50)
    with pytest.raises(EncodingError, match="save nothing"):
        validate(encode(w, 0))


def test_a_kernel_wrapper_refuses_an_invalid_encoding_with_a_value_error():
    e = _sparse_palette()
    e.axis = 1
    with pytest.raises(ValueError, match="fully_connected: filter encoding"):
        fully_connected(np.zeros((1, 10), np.int8), e, None, input_zp=0, output_zp=0, output_mult=[1 << 30],
                        output_shift=[0])


# --- the C verifier's twins: weight_encoding_validate and weight_channel_bound -------------

C_FIELDS = [None, "value_bits", "position_bits", "entries", "axis", "codebook", "codebook_per_channel", "buffer",
            "positions_buffer"]


def c_validate(e: Encoding):
    """The field weight_encoding_validate (C) names, or None."""
    code = native.call("mf_weight_encoding_validate", np.array(e.shape, np.int32), len(e.shape), e.value_bits,
                       np.ascontiguousarray(e.codebook, np.int8), e.codebook.size, int(e.codebook_per_channel), e.axis,
                       e.position_bits, e.entries, np.ascontiguousarray(e.values, np.uint8), e.values.size,
                       np.ascontiguousarray(e.positions, np.uint8), e.positions.size)
    return C_FIELDS[code]


def _stream_mutant(draw, stream):
    kind = draw(st.sampled_from(["keep", "trim", "extend", "byte"]))
    s = np.array(stream, np.uint8)
    if kind == "trim" and s.size:
        return s[:draw(st.integers(0, s.size - 1))]
    if kind == "extend":
        return np.concatenate([s, np.array(draw(st.lists(st.integers(0, 255), min_size=1, max_size=3)), np.uint8)])
    if kind == "byte" and s.size:
        s[draw(st.integers(0, s.size - 1))] = draw(st.integers(0, 255))
    return s


@st.composite
def damaged_encodings(draw):
    w, axis = draw(weights_and_axis())
    e = draw(encodings_of(w, axis))
    for _ in range(draw(st.integers(0, 3))):
        field = draw(st.sampled_from(["value_bits", "position_bits", "axis", "entries", "codebook",
                                      "codebook_per_channel", "values", "positions"]))
        if field in ("value_bits", "position_bits"):
            setattr(e, field, draw(st.integers(0, 10)))
        elif field == "axis":
            e.axis = draw(st.integers(-2, len(e.shape)))
        elif field == "entries":
            e.entries = max(0, e.entries + draw(st.integers(-3, 3)))
        elif field == "codebook":
            book = _stream_mutant(draw, e.codebook.view(np.uint8)).view(np.int8)
            if book.size and draw(st.booleans()):
                book = book.copy()
                book[draw(st.integers(0, book.size - 1))] = -128
            e.codebook = book
        elif field == "codebook_per_channel":
            e.codebook_per_channel = not e.codebook_per_channel
        else:
            setattr(e, field, _stream_mutant(draw, getattr(e, field)))
    return e


@given(e=damaged_encodings())
def test_c_validate_names_the_field_python_validate_names(e):
    try:
        validate(e)
        expected = None
    except EncodingError as err:
        expected = err.field
    assert c_validate(e) == expected


def _reference_bound_ok(w: np.ndarray, channel_axis: int, bias) -> bool:
    """No weight is -128, and 255 * sum|w| + |b| < 2^31 for every output channel, in Python integers."""
    if (w == -128).any():
        return False
    sums = np.abs(np.moveaxis(w.astype(np.int64), channel_axis, 0)).reshape(w.shape[channel_axis], -1).sum(axis=1)
    b = [0] * len(sums) if bias is None else [abs(int(v)) for v in bias]
    return all(255 * int(s) + bv <= 2**31 - 1 for s, bv in zip(sums, b))


@st.composite
def bound_cases(draw):
    w, axis = draw(weights_and_axis())
    if draw(st.booleans()):
        w = w.copy()
        w.reshape(-1)[draw(st.integers(0, w.size - 1))] = -128  # only the dense and signed encodings hold it
    channels = w.shape[axis]
    bias = None
    if draw(st.booleans()):
        bias = np.array(draw(st.lists(st.sampled_from([0, 1, -5, 2**31 - 1, -(2**31), 2**31 - 1000, -(2**31 - 255 * 60)]),
                                      min_size=channels, max_size=channels)), np.int32)
    return w, axis, bias


@given(case=bound_cases(), data=st.data())
def test_c_channel_bound_accepts_exactly_the_weights_the_reference_accepts(case, data):
    w, axis, bias = case
    shape = np.array(w.shape, np.int32)
    b = np.zeros(0, np.int32) if bias is None else bias
    expected = _reference_bound_ok(w, axis, bias)
    plain = native.call("mf_weight_channel_bound", shape, len(w.shape), axis, 8, np.zeros(0, np.int8), 0, 0, 0, w.size,
                        np.ascontiguousarray(w).view(np.uint8).reshape(-1), np.zeros(0, np.uint8), b, 0)
    assert (plain == 0) == expected
    palette = data.draw(st.sampled_from([None, "tensor", "channel"]) if (w != -128).all() else st.just(None))
    e = encode(w, axis, palette=palette, position_bits=data.draw(st.sampled_from([0, 1, 3, 8])))
    assume(e.value_bits < 8 or e.position_bits > 0)
    size = e.codebook.size // (w.shape[axis] if e.codebook_per_channel else 1)
    encoded = native.call("mf_weight_channel_bound", shape, len(w.shape), axis, e.value_bits, e.codebook, size,
                          int(e.codebook_per_channel), e.position_bits, e.entries, e.values, e.positions, b, 0)
    assert (encoded == 0) == expected
