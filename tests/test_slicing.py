"""int8 and int16 STRIDED_SLICE and int8 GATHER: Numba equals numpy's own slicing / np.take, C equals Numba byte for byte.

Shapes of 1 to 5 dimensions of sizes 1..6; begin and end drawn from [-9, 9] and the int32 extremes (so
negative and out-of-range indices, clamped as TFLite clamps them, are common), strides in [-7, 7] \\ {0},
begin / end / shrink_axis masks, and begin lists shorter than the rank. The reference is numpy's basic
indexing x[b:e:s, i, ...], written here from the TFLite parameters without microflat. The kernel is also
run directly on the unmerged per-dimension loop nest (Python's slice.indices), and SPLIT, SPLIT_V,
UNPACK and PACK (torch.stack, a concatenation along a new axis) are checked through the documented
mappings. Gather: every axis, indices of rank 0..2 holding repeats and both boundary indices.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from microflat.testing.layer_cases import int8_array, int16_array
from microflat import kernels as k
from microflat.kernels import native

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
indices_values = st.one_of(st.integers(-9, 9), st.sampled_from([INT32_MIN, INT32_MAX, -(2**31) + 1]))
strides_values = st.one_of(st.integers(-7, -1), st.integers(1, 7), st.sampled_from([INT32_MIN, INT32_MAX]))


def reference_index(shape, begin, end, strides, begin_mask, end_mask, shrink_axis_mask):
    """numpy's index for TFLite's STRIDED_SLICE: a masked bound is None, a shrunk axis an integer."""
    index = []
    for d in range(len(begin)):
        if shrink_axis_mask >> d & 1:
            index.append(0 if begin_mask >> d & 1 else begin[d])
        else:
            index.append(slice(None if begin_mask >> d & 1 else begin[d],
                               None if end_mask >> d & 1 else end[d], strides[d]))
    return tuple(index) + (slice(None),) * (len(shape) - len(begin))


@st.composite
def slice_cases(draw):
    ndim = draw(st.integers(1, 5))
    shape = tuple(draw(st.integers(1, 6)) for _ in range(ndim))
    n = ndim if draw(st.integers(0, 3)) else draw(st.integers(0, ndim))
    begin, end, strides = [], [], []
    begin_mask = draw(st.integers(0, 2**n - 1))
    end_mask = draw(st.integers(0, 2**n - 1))
    shrink = draw(st.integers(0, 2**n - 1)) if draw(st.booleans()) else 0
    for d in range(n):
        if shrink >> d & 1:  # a valid element index and a positive stride
            begin.append(draw(st.integers(-shape[d], shape[d] - 1)))
            end.append(draw(indices_values))  # ignored by TFLite on a shrunk axis
            strides.append(draw(st.integers(1, 3)))
        else:
            begin.append(draw(indices_values))
            end.append(draw(indices_values))
            strides.append(draw(strides_values))
    x = int8_array(draw, shape)
    return x, begin, end, strides, dict(begin_mask=begin_mask, end_mask=end_mask, shrink_axis_mask=shrink)


@pytest.mark.parametrize("width", ["int8", "int16"])
@given(case=slice_cases(), data=st.data())
def test_strided_slice_numba_equals_numpy_and_c_equals_numba(width, case, data):
    """int16 (TFLite's 16x8 mode) through the same loops: the case's shape filled with int16 values."""
    x, begin, end, strides, masks = case
    if width == "int16":
        x = int16_array(data.draw, x.shape)
    want = x[reference_index(x.shape, begin, end, strides, **masks)]
    got = k.strided_slice(x, begin, end, strides, **masks, backend="numba")
    assert got.dtype == x.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    got_c = k.strided_slice(x, begin, end, strides, **masks, backend="c")
    assert got_c.shape == want.shape and got_c.tobytes() == got.tobytes()


@given(case=slice_cases())
def test_params_describe_the_output(case):
    x, begin, end, strides, masks = case
    p = k.strided_slice_params(x.shape, begin, end, strides, **masks)
    for a in (p.input_shape, p.begin, p.strides, p.output_shape):
        assert a.dtype == np.int32 and a.shape == (5,)
    want = x[reference_index(x.shape, begin, end, strides, **masks)]
    assert p.output_tensor_shape == want.shape
    assert int(np.prod(p.output_shape, dtype=np.int64)) == want.size
    assert (p.input_shape >= 1).all() and (p.output_shape >= 0).all()
    if want.size:
        assert int(np.prod(p.input_shape, dtype=np.int64)) == x.size
        last = p.begin + (p.output_shape - 1) * p.strides  # every position read lies inside its dimension
        assert (p.begin >= 0).all() and (p.begin < p.input_shape).all()
        assert (last >= 0).all() and (last < p.input_shape).all()


def _unmerged(shape, begin, end, strides):
    """The per-dimension loop nest from Python's own slice.indices, padded to five (no shrink, no masks)."""
    rows = []
    for d, size in enumerate(shape):
        start, stop, step = slice(begin[d], end[d], strides[d]).indices(size)
        rows.append((size, start, step, len(range(start, stop, step))))
    rows = [(1, 0, 1, 1)] * (5 - len(rows)) + rows
    return [np.array([r[j] for r in rows], np.int32) for j in range(4)]


@st.composite
def unmerged_cases(draw):
    ndim = draw(st.integers(1, 5))
    shape = tuple(draw(st.integers(1, 6)) for _ in range(ndim))
    small = st.integers(-9, 9)
    begin = [draw(small) for _ in shape]
    end = [draw(small) for _ in shape]
    strides = [draw(st.one_of(st.integers(-7, -1), st.integers(1, 7))) for _ in shape]
    return int8_array(draw, shape), begin, end, strides


@given(case=unmerged_cases())
def test_kernel_on_the_unmerged_loop_nest(case):
    x, begin, end, strides = case
    want = x[tuple(slice(b, e, s) for b, e, s in zip(begin, end, strides))]
    input_shape, b, s, output_shape = _unmerged(x.shape, begin, end, strides)
    if want.size == 0:  # the contract wants begin inside the dimension only where something is read
        return
    out = np.full(want.size, 99, np.int8)
    k.strided_slice_s8(input_shape, b, s, output_shape, x.reshape(-1), out)
    np.testing.assert_array_equal(out, want.reshape(-1))
    out_c = np.full(want.size, 99, np.int8)
    native.call("mf_strided_slice_s8", input_shape, b, s, output_shape, x.reshape(-1), out_c)
    assert out_c.tobytes() == out.tobytes()


def test_params_merge_whole_dimensions_into_one_run():
    # SPLIT of [1, 4, 3, 5] along axis 1 into two: one contiguous run of 2 * 3 * 5 from element 30.
    p = k.strided_slice_params((1, 4, 3, 5), [0, 2, 0, 0], [1, 4, 3, 5], [1, 1, 1, 1])
    assert p.input_shape.tolist() == [1, 1, 1, 1, 60] and p.begin.tolist() == [0, 0, 0, 0, 30]
    assert p.strides.tolist() == [1, 1, 1, 1, 1] and p.output_shape.tolist() == [1, 1, 1, 1, 30]
    assert p.output_tensor_shape == (1, 2, 3, 5)
    # A channel slice of NHWC: rows of 2 channels, the rest merged; a reversed axis stays a loop of its own.
    p = k.strided_slice_params((2, 3, 4), [0, 0, 1], [2, 3, 3], [1, 1, 1])
    assert p.input_shape.tolist() == [1, 1, 1, 6, 4] and p.output_shape.tolist() == [1, 1, 1, 6, 2]
    p = k.strided_slice_params((2, 3, 4), [0, -1], [2, -4], [1, -1])
    assert p.strides.tolist() == [1, 1, 1, -1, 1] and p.output_shape.tolist() == [1, 1, 2, 3, 4]
    # Nothing to read: an empty walk.
    p = k.strided_slice_params((2, 3), [1], [1], [1])
    assert p.output_tensor_shape == (0, 3) and p.output_shape.tolist() == [1, 1, 1, 1, 0]


@pytest.mark.parametrize("backend", ["numba", "c"])
def test_clamping_matches_tflite_examples(backend):
    x = np.arange(-5, 5, dtype=np.int8)  # size 10
    cases = [  # (begin, end, stride, begin_mask, end_mask, expected slice)
        (-100, 100, 1, 0, 0, x),
        (100, -100, -1, 0, 0, x[::-1]),
        (10, 20, 1, 0, 0, x[10:20]),
        (-11, -20, -1, 0, 0, x[:0]),
        (3, 0, 1, 1, 0, x[:0]),  # begin_mask: from 0, to 0
        (3, 0, -2, 1, 0, x[9:0:-2]),  # begin_mask with a negative stride: from the last element
        (3, 0, -2, 0, 1, x[3::-2]),  # end_mask with a negative stride: through element 0
        (0, 10, INT32_MAX, 0, 0, x[:1]),
        (INT32_MAX, INT32_MIN, INT32_MIN, 0, 0, x[::-(2**31)]),
    ]
    for b, e, s, bm, em, want in cases:
        got = k.strided_slice(x, [b], [e], [s], begin_mask=bm, end_mask=em, backend=backend)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("backend", ["numba", "c"])
def test_shrink_axis_takes_one_element(backend):
    x = np.arange(-60, 60, dtype=np.int8).reshape(2, 3, 4, 5)
    got = k.strided_slice(x, [-1, 0, 2], [0, 3, 0], [1, 1, 2], shrink_axis_mask=0b101, backend=backend)
    np.testing.assert_array_equal(got, x[-1, 0:3, 2])
    got = k.strided_slice(x, [5, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], begin_mask=0b1, end_mask=0b1100,
                          shrink_axis_mask=0b11, backend=backend)
    np.testing.assert_array_equal(got, x[0, 1])  # begin_mask on a shrunk axis: element 0
    got = k.strided_slice(x, [1, 2, 3, 4], [2, 3, 4, 5], [1, 1, 1, 1], shrink_axis_mask=0b1111, backend=backend)
    assert got.shape == () and int(got) == int(x[1, 2, 3, 4])


def _whole(shape):
    return [0] * len(shape), list(shape), [1] * len(shape)


def _split(x, axis, sizes, backend):
    """SPLIT / SPLIT_V through the helper's documented mapping: one strided slice per output."""
    outs, start = [], 0
    for size in sizes:
        begin, end, strides = _whole(x.shape)
        begin[axis], end[axis] = start, start + size
        p = k.strided_slice_params(x.shape, begin, end, strides)
        out = np.empty(p.output_tensor_shape, np.int8)
        if backend == "numba":
            k.strided_slice_s8(p.input_shape, p.begin, p.strides, p.output_shape, x.reshape(-1), out.reshape(-1))
        else:
            native.call("mf_strided_slice_s8", p.input_shape, p.begin, p.strides, p.output_shape,
                        x.reshape(-1), out.reshape(-1))
        outs.append(out)
        start += size
    return outs


@st.composite
def axis_cases(draw):
    ndim = draw(st.integers(1, 5))
    shape = tuple(draw(st.integers(1, 6)) for _ in range(ndim))
    return int8_array(draw, shape), draw(st.integers(0, ndim - 1))


@given(case=axis_cases(), data=st.data())
def test_split_and_split_v_are_slices_along_the_axis(case, data):
    x, axis = case
    n = x.shape[axis]
    num = data.draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0]))
    sizes_v = data.draw(st.lists(st.integers(0, n), min_size=1, max_size=4).filter(lambda s: sum(s) <= n))
    sizes_v = sizes_v + [n - sum(sizes_v)]
    for backend in ("numba", "c"):
        for got, want in zip(_split(x, axis, [n // num] * num, backend), np.split(x, num, axis=axis), strict=True):
            assert got.shape == want.shape and got.tobytes() == np.ascontiguousarray(want).tobytes()
        cuts = np.cumsum(sizes_v)[:-1]
        for got, want in zip(_split(x, axis, sizes_v, backend), np.split(x, cuts, axis=axis), strict=True):
            assert got.shape == want.shape and got.tobytes() == np.ascontiguousarray(want).tobytes()


@given(case=axis_cases())
def test_unpack_is_a_shrunk_slice_per_output(case):
    x, axis = case
    for i in range(x.shape[axis]):
        begin, end, strides = _whole(x.shape)
        begin[axis], end[axis] = i, i + 1
        want = np.array(np.take(x, i, axis=axis), order="C")  # keeps a 0-D result 0-D
        for backend in ("numba", "c"):
            got = k.strided_slice(x, begin, end, strides, shrink_axis_mask=1 << axis, backend=backend)
            assert got.shape == want.shape and got.tobytes() == want.tobytes()


@given(case=axis_cases(), count=st.integers(1, 3), data=st.data())
def test_pack_is_a_concatenation_along_a_new_axis(case, count, data):
    """PACK (torch.stack) needs no kernel: each input viewed with a 1 inserted at the axis, concatenated there."""
    x, _ = case
    axis = data.draw(st.integers(0, x.ndim))
    xs = [x] + [int8_array(data.draw, x.shape) for _ in range(count - 1)]
    views = [t.reshape(x.shape[:axis] + (1,) + x.shape[axis:]) for t in xs]
    zeros = [0] * count
    for backend in ("numba", "c"):
        got = k.concatenation(views, axis=axis, input_zps=zeros, output_zp=0, mults=zeros, shifts=zeros,
                              requants=zeros, backend=backend)
        np.testing.assert_array_equal(got, np.stack(xs, axis=axis))


@pytest.mark.parametrize("shape, begin, end, strides, masks, message", [
    ((4,), [0], [4], [0], {}, r"strides\[0\] must be non-zero"),
    ((4, 3), [0, 0], [4, 3], [1, 0], {}, r"strides\[1\] must be non-zero"),
    ((4,), [0, 0], [4], [1], {}, "begin, end and strides must have the same length"),
    ((4,), [0], [4], [1, 1], {}, "begin, end and strides must have the same length"),
    ((4,), [0, 0], [4, 4], [1, 1], {}, "begin has 2 entries, more than the input's 1 dimensions"),
    ((4,), [0.5], [4], [1], {}, r"begin\[0\] must be an integer"),
    ((4,), [0], [2**31], [1], {}, r"end\[0\] must be in"),
    ((4,), 0, [4], [1], {}, "begin must be a sequence of integers"),
    ((4,), [0], [4], [1], dict(begin_mask=2), r"begin_mask must be in \[0, 1\]"),
    ((4,), [0], [4], [1], dict(end_mask=-1), r"end_mask must be in \[0, 1\]"),
    ((4,), [0], [4], [1], dict(shrink_axis_mask=True), "shrink_axis_mask must be an integer"),
    ((4,), [4], [5], [1], dict(shrink_axis_mask=1), r"begin\[0\] = 4 lies outside dimension 0 \(size 4\)"),
    ((4,), [-5], [5], [1], dict(shrink_axis_mask=1), r"begin\[0\] = -5 lies outside dimension 0"),
    ((4,), [1], [0], [-1], dict(shrink_axis_mask=1), r"strides\[0\] must be positive on a shrunk axis"),
    ((1, 1, 1, 1, 1, 2), [0], [1], [1], {}, "the input has 6 dimensions; a strided slice takes at most 5"),
])
def test_strided_slice_refuses_bad_arguments(shape, begin, end, strides, masks, message):
    x = np.zeros(shape, np.int8)
    with pytest.raises(ValueError, match="strided_slice: " + message):
        k.strided_slice(x, begin, end, strides, **masks)
    with pytest.raises(ValueError, match="strided_slice_params: " + message):
        k.strided_slice_params(shape, begin, end, strides, **masks)


@pytest.mark.parametrize("mask", ["ellipsis_mask", "new_axis_mask"])
def test_params_refuse_ellipsis_and_new_axis(mask):
    with pytest.raises(ValueError, match=f"strided_slice_params: {mask} is not supported"):
        k.strided_slice_params((4,), [0], [4], [1], **{mask: 1})


@pytest.mark.parametrize("value, message", [
    (np.zeros(4, np.int32), "input must have dtype int8"),
    ([1, 2, 3, 4], "input must be a numpy array"),
])
def test_strided_slice_refuses_a_bad_input(value, message):
    with pytest.raises(ValueError, match="strided_slice: " + message):
        k.strided_slice(value, [0], [4], [1])


def test_strided_slice_accepts_numpy_parameters_and_empty_dimensions():
    x = np.arange(24, dtype=np.int8).reshape(2, 3, 4)
    got = k.strided_slice(x, np.array([1, 0, -1], np.int32), np.array([2, 3, 0], np.int64), np.array([1, 2, -1]))
    np.testing.assert_array_equal(got, x[1:2, 0:3:2, -1:0:-1])
    for backend in ("numba", "c"):
        e = np.zeros((2, 0, 3), np.int8)
        assert k.strided_slice(e, [0, 0, 0], [2, 5, 3], [1, 1, 1], backend=backend).shape == (2, 0, 3)
        assert k.strided_slice(x, [0, 3], [2, 0], [1, 1], backend=backend).shape == (2, 0, 4)


# ---- GATHER ----


@st.composite
def gather_cases(draw):
    ndim = draw(st.integers(1, 5))
    shape = tuple(draw(st.integers(1, 6)) for _ in range(ndim))
    axis = draw(st.integers(-ndim, ndim - 1))
    n = shape[axis]
    ishape = tuple(draw(st.integers(0, 5)) for _ in range(draw(st.integers(0, 2))))
    idx = np.array(draw(st.lists(st.integers(0, n - 1), min_size=int(np.prod(ishape)),
                                 max_size=int(np.prod(ishape)))), np.int32).reshape(ishape)
    flat = idx.reshape(-1)
    if flat.size >= 2:  # both boundary indices, and a repeat where there is room
        flat[draw(st.integers(0, flat.size - 1))] = 0
        flat[draw(st.integers(0, flat.size - 1))] = n - 1
    if flat.size >= 3:
        flat[draw(st.integers(0, flat.size - 1))] = flat[draw(st.integers(0, flat.size - 1))]
    return int8_array(draw, shape), idx, axis


@given(case=gather_cases())
def test_gather_numba_equals_np_take_and_c_equals_numba(case):
    params, idx, axis = case
    want = np.take(params, idx, axis=axis)
    got = k.gather(params, idx, axis=axis, backend="numba")
    assert got.dtype == np.int8 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    got_c = k.gather(params, idx, axis=axis, backend="c")
    assert got_c.shape == want.shape and got_c.tobytes() == got.tobytes()


def test_gather_is_an_embedding_lookup():
    weight = np.arange(-128, 128, dtype=np.int32).astype(np.int8).reshape(32, 8)  # 32 tokens, dimension 8
    ids = np.array([[0, 31, 5], [5, 5, 0]], np.int32)  # a batch of 2 sequences of 3 tokens
    for backend in ("numba", "c"):
        got = k.gather(weight, ids, backend=backend)
        assert got.shape == (2, 3, 8)
        np.testing.assert_array_equal(got, weight[ids])


@pytest.mark.parametrize("backend", ["numba", "c"])
def test_gather_kernel_direct_call(backend):
    params = np.arange(-12, 12, dtype=np.int8)  # [outer 2, axis 4, inner 3]
    indices = np.array([3, 0, 3], np.int32)
    out = np.full(2 * 3 * 3, 99, np.int8)
    if backend == "numba":
        k.gather_s8(2, 3, 4, 3, indices, params, out)
    else:
        native.call("mf_gather_s8", 2, 3, 4, 3, indices, params, out)
    np.testing.assert_array_equal(out, np.take(params.reshape(2, 4, 3), indices, axis=1).reshape(-1))


@pytest.mark.parametrize("indices, message", [
    (np.array([0, 4], np.int32), r"indices must lie in \[0, 3\] \(axis 0 of params has size 4\), got 4"),
    (np.array([-1, 2], np.int32), r"indices must lie in \[0, 3\] .*, got -1"),
    (np.array([2**31 - 1], np.int32), r"indices must lie in \[0, 3\]"),
    (np.array([0, 1], np.int64), "indices must have dtype int32"),
    ([0, 1], "indices must be a numpy array"),
])
def test_gather_refuses_bad_indices(indices, message):
    with pytest.raises(ValueError, match="gather: " + message):
        k.gather(np.zeros((4, 2), np.int8), indices)


@pytest.mark.parametrize("params, axis, message", [
    (np.zeros((4, 2), np.int16), 0, "params must have dtype int8"),
    (np.array(3, np.int8), 0, "params must have at least one dimension"),
    (np.zeros((4, 2), np.int8), 2, r"axis must be in \[-2, 1\]"),
    (np.zeros((4, 2), np.int8), -3, r"axis must be in \[-2, 1\]"),
])
def test_gather_refuses_bad_params_or_axis(params, axis, message):
    with pytest.raises(ValueError, match="gather: " + message):
        k.gather(params, np.array([0], np.int32), axis=axis)


def test_gather_empty_indices_and_bad_backend():
    p = np.arange(6, dtype=np.int8).reshape(3, 2)
    for backend in ("numba", "c"):
        assert k.gather(p, np.zeros((0,), np.int32), axis=1, backend=backend).shape == (3, 0)
    with pytest.raises(ValueError, match="gather: backend"):
        k.gather(p, np.array([0], np.int32), backend="cuda")
    with pytest.raises(ValueError, match="strided_slice: backend"):
        k.strided_slice(p, [0], [1], [1], backend="cuda")
