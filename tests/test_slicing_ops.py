"""STRIDED_SLICE and GATHER in .mfb files: both loaders, both backends, and the files they refuse.

STRIDED_SLICE files are built from drawn TFLite slices (rank 1..5, begin / end in positive, negative and
clamped forms, strides of both signs up to the int32 extremes, begin / end / shrink masks, begin lists
shorter than the rank), every one non-empty (a tensor's dimensions are >= 1). The file's options are the
slice resolved per dimension with Python's slice.indices; the expected output is numpy's basic indexing of
the TFLite parameters (test_slicing.reference_index), never microflat. GATHER files take an int32 model
input (token ids) and int8 params, a constant or a second model input, of rank 1..3 along any axis; the
expected output is np.take. An index outside the axis (negative, the axis size, the int32 extremes) raises
InputError on both backends and leaves the output as it was.

Damaged options: each variant of a valid file is refused by the Python loader (FormatError naming the field)
and by the C loader (CRuntimeError, MF_ERROR_OPERATOR) at the same byte offset; and every byte of the two
valid files, flipped three ways, gives a file both loaders refuse or both run to the same bytes.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from microflat.testing.layer_cases import int8_array
from test_slicing import reference_index
from microflat.compiler.serialize import serialize
from microflat.compiler.writer import ModelWriter
from microflat.runtime import FormatError, InputError, Interpreter, load_bytes
from microflat.runtime.c_runtime import CRuntime, CRuntimeError

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
BACKENDS = ("numba", "c")
QUANT = st.tuples(st.sampled_from([0.02, 0.5, 1.0]), st.integers(-128, 127))


# --- STRIDED_SLICE ---------------------------------------------------------------------------------------------

@st.composite
def _sliced_dimension(draw, size, d):
    """(begin, end, stride, begin_mask bit, end_mask bit) of a TFLite slice of one dimension taking >= 1 element."""
    s = draw(st.sampled_from([1, 1, 2, 3, 7, -1, -1, -2, -3, -7, INT32_MAX, INT32_MIN]))
    start = draw(st.integers(0, size - 1))
    most = (size - 1 - start) // s + 1 if s > 0 else start // -s + 1
    count = draw(st.integers(1, most))
    last = start + (count - 1) * s
    bm = em = 0
    if start == (0 if s > 0 else size - 1) and draw(st.booleans()):
        begin, bm = draw(st.integers(-9, 9)), 1 << d  # ignored: the dimension's first element in the stride's direction
    else:
        begin = start - size if draw(st.booleans()) else start
    # Every stop in (last, last + s] (s > 0) or [last + s, last) (s < 0), clamped to [0, size] / [-1, size - 1],
    # gives this count.
    if s > 0:
        stop = draw(st.integers(last + 1, min(last + s, size)))
        if stop == size and draw(st.booleans()):
            end, em = (draw(st.integers(-9, 9)), 1 << d) if draw(st.booleans()) else (INT32_MAX, 0)
        else:
            end = stop - size if stop < size and draw(st.booleans()) else stop
    else:
        stop = draw(st.integers(max(last + s, -1), last - 1))
        if stop == -1:  # -1 as an index is the last element: only a mask or a clamped bound says "before 0"
            end, em = (draw(st.integers(-9, 9)), 1 << d) if draw(st.booleans()) else (
                draw(st.sampled_from([INT32_MIN, -size - 1])), 0)
        else:
            end = stop - size if draw(st.booleans()) else stop
    return begin, end, s, bm, em


@st.composite
def slice_cases(draw):
    """(x, begin, end, strides, masks): a non-empty TFLite STRIDED_SLICE keeping at least one dimension."""
    rank = draw(st.integers(1, 5))
    shape = tuple(draw(st.integers(1, 6)) for _ in range(rank))
    n = rank if draw(st.integers(0, 3)) else draw(st.integers(1, rank))  # dimensions past n are taken whole
    keep = draw(st.integers(0, n - 1)) if n == rank else -1  # a dimension never shrunk: the output has rank >= 1
    begin, end, strides = [], [], []
    masks = dict(begin_mask=0, end_mask=0, shrink_axis_mask=0)
    for d in range(n):
        if d != keep and draw(st.integers(0, 3)) == 0:  # shrunk: a valid element index, a positive stride
            begin.append(draw(st.integers(-shape[d], shape[d] - 1)))
            end.append(draw(st.sampled_from([0, 3, INT32_MAX, INT32_MIN])))  # ignored on a shrunk axis
            strides.append(draw(st.integers(1, 3)))
            masks["shrink_axis_mask"] |= 1 << d
            continue
        b, e, s, bm, em = draw(_sliced_dimension(shape[d], d))
        begin.append(b)
        end.append(e)
        strides.append(s)
        masks["begin_mask"] |= bm
        masks["end_mask"] |= em
    return int8_array(draw, shape), begin, end, strides, masks


def _resolved(shape, index):
    """The file's begin, strides and shrink_axis_mask: numpy's index resolved per dimension by slice.indices."""
    begin, strides, shrink = [], [], 0
    for d, (size, i) in enumerate(zip(shape, index)):
        if isinstance(i, slice):
            start, _, step = i.indices(size)
            begin.append(start)
            strides.append(step)
        else:
            begin.append(i + size if i < 0 else i)
            strides.append(1)
            shrink |= 1 << d
    return begin, strides, shrink


def _slice_file(shape, index, out_shape, quant, out_quant=None) -> bytes:
    begin, strides, shrink = _resolved(shape, index)
    w = ModelWriter()
    scale, zp = quant
    x = w.add_tensor("x", "int8", shape, scale=scale, zero_point=zp)
    o_scale, o_zp = out_quant or quant
    y = w.add_tensor("y", "int8", out_shape, scale=o_scale, zero_point=o_zp)
    w.add_operator("STRIDED_SLICE", [x], [y], "StridedSliceOptions",
                   dict(begin=begin, strides=strides, shrink_axis_mask=shrink))
    w.set_io([x], [y])
    return w.to_bytes()


@given(case=slice_cases(), quant=QUANT)
def test_strided_slice_files_equal_numpy_indexing_on_both_backends(case, quant):
    x, begin, end, strides, masks = case
    index = reference_index(x.shape, begin, end, strides, **masks)
    want = x[index]
    assert want.size >= 1 and want.ndim >= 1  # the strategy draws only slices a file can hold
    data = _slice_file(x.shape, index, want.shape, quant)
    outs = [Interpreter(data, backend=b).invoke(x)[0] for b in BACKENDS]
    for got in outs:
        assert got.dtype == np.int8 and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    assert outs[0].tobytes() == outs[1].tobytes()


# --- GATHER ----------------------------------------------------------------------------------------------------

def _gather_file(params, ids_shape, axis, quant, params_input=False) -> bytes:
    """GATHER of int8 params (a constant, or a model input after the ids) by an int32 model input of ids_shape."""
    w = ModelWriter()
    scale, zp = quant
    ids = w.add_tensor("ids", "int32", ids_shape)
    if params_input:
        table = w.add_tensor("table", "int8", params.shape, scale=scale, zero_point=zp)
    else:
        table = w.add_constant("table", params, scale=scale, zero_point=zp)
    out_shape = params.shape[:axis] + tuple(ids_shape) + params.shape[axis + 1:]
    y = w.add_tensor("y", "int8", out_shape, scale=scale, zero_point=zp)
    w.add_operator("GATHER", [table, ids], [y], "GatherOptions", dict(axis=axis))
    w.set_io([ids, table] if params_input else [ids], [y])
    return w.to_bytes()


@st.composite
def gather_cases(draw):
    """(params, indices, axis, params as a model input): indices of rank 1..2 holding both boundary indices."""
    params = int8_array(draw, tuple(draw(st.integers(1, 6)) for _ in range(draw(st.integers(1, 3)))))
    axis = draw(st.integers(0, params.ndim - 1))
    size = params.shape[axis]
    ids_shape = tuple(draw(st.integers(1, 5)) for _ in range(draw(st.integers(1, 2))))
    ids = np.array(draw(st.lists(st.integers(0, size - 1), min_size=int(np.prod(ids_shape)),
                                 max_size=int(np.prod(ids_shape)))), np.int32).reshape(ids_shape)
    flat = ids.reshape(-1)
    if flat.size >= 2:
        flat[draw(st.integers(0, flat.size - 1))] = size - 1
        flat[draw(st.integers(0, flat.size - 1))] = 0
    return params, ids, axis, draw(st.booleans())


def _gather_inputs(ids, params, params_input):
    return (ids, params) if params_input else (ids,)


@given(case=gather_cases(), quant=QUANT)
def test_gather_files_equal_np_take_on_both_backends(case, quant):
    params, ids, axis, params_input = case
    data = _gather_file(params, ids.shape, axis, quant, params_input)
    want = np.take(params, ids, axis=axis)
    outs = [Interpreter(data, backend=b).invoke(*_gather_inputs(ids, params, params_input))[0] for b in BACKENDS]
    for got in outs:
        assert got.dtype == np.int8 and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    assert outs[0].tobytes() == outs[1].tobytes()


@given(case=gather_cases(), bad=st.sampled_from(["negative", "size", "min", "max"]), data=st.data())
def test_an_index_outside_the_axis_raises_input_error_and_writes_nothing(case, bad, data):
    params, ids, axis, params_input = case
    size = params.shape[axis]
    file = _gather_file(params, ids.shape, axis, (0.5, 0), params_input)
    wrong = ids.copy()
    value = {"negative": data.draw(st.integers(-9, -1)), "size": size, "min": INT32_MIN, "max": INT32_MAX}[bad]
    wrong.reshape(-1)[data.draw(st.integers(0, ids.size - 1))] = value
    for backend in BACKENDS:
        it = Interpreter(file, backend=backend)
        (before,) = it.invoke(*_gather_inputs(ids, params, params_input))
        out = it.view(it.model.tensors[it.model.outputs[0]])
        for run in (it.invoke, it.trace):
            with pytest.raises(InputError, match="GATHER|MF_ERROR_INPUT"):
                run(*_gather_inputs(wrong, params, params_input))
            assert out.tobytes() == before.tobytes(), f"{backend}: the refused GATHER wrote its output"


def test_gather_message_names_the_index_the_bound_and_the_axis():
    params = np.arange(64 * 3, dtype=np.int64).astype(np.int8).reshape(64, 3)
    it = Interpreter(_gather_file(params, (1, 4), 0, (0.5, 0)))
    with pytest.raises(InputError, match=r"GATHER: index 70 lies outside \[0, 63\] \(axis 0 of params\)"):
        it.invoke(np.array([[1, 70, 2, 3]], np.int32))


def test_an_int32_model_input_takes_int32_batches_and_refuses_other_dtypes():
    """An embedding (GATHER on an int32 ids input) followed by a STRIDED_SLICE (its second half of features,
    every other token reversed); a batch of N id rows runs as N samples of the batch-1 model."""
    rng = np.random.default_rng(7)
    table = rng.integers(-128, 128, (50, 8), dtype=np.int8)
    w = ModelWriter()
    ids = w.add_tensor("ids", "int32", (1, 6))
    emb = w.add_tensor("emb", "int8", (1, 6, 8), scale=0.1, zero_point=-5)
    w.add_operator("GATHER", [w.add_constant("table", table, scale=0.1, zero_point=-5), ids], [emb],
                   "GatherOptions", dict(axis=0))
    y = w.add_tensor("y", "int8", (1, 3, 4), scale=0.1, zero_point=-5)
    w.add_operator("STRIDED_SLICE", [emb], [y], "StridedSliceOptions",
                   dict(begin=[0, 5, 4], strides=[1, -2, 1], shrink_axis_mask=0))
    w.set_io([ids], [y])
    data = w.to_bytes()
    m = load_bytes(data)
    assert m.tensors[m.inputs[0]].dtype == "int32" and m.tensor_offsets[m.inputs[0]] % 4 == 0
    batch = rng.integers(0, 50, (3, 6)).astype(np.int32)
    want = table[batch][:, ::-2, 4:]
    for backend in BACKENDS:
        it = Interpreter(data, backend=backend)
        np.testing.assert_array_equal(it.invoke(batch)[0], want)
        np.testing.assert_array_equal(it.invoke(batch[1:2])[0], want[1:2])
        np.testing.assert_array_equal(it.trace(batch)["y"], want)
        np.testing.assert_array_equal(it.invoke(batch.astype(np.int64))[0], want)  # ids as PyTorch makes them
        with pytest.raises(InputError, match="outside int32"):
            it.invoke(np.full((1, 6), 2**31, np.int64))
        with pytest.raises(InputError, match="int32"):
            it.invoke(batch.astype(np.float32))


# --- damaged files: both loaders refuse, at the same byte offset -------------------------------------------------

def _slice_writer():
    """x [2, 5, 6] -> x[1, 4::-2, 0::2]: begin [1, 4, 0], strides [1, -2, 2], dimension 0 shrunk -> [2, 3]."""
    w = ModelWriter()
    x = w.add_tensor("x", "int8", (2, 5, 6), scale=0.1, zero_point=3)
    y = w.add_tensor("y", "int8", (2, 3), scale=0.1, zero_point=3)
    w.add_operator("STRIDED_SLICE", [x], [y], "StridedSliceOptions",
                   dict(begin=[1, 4, 0], strides=[1, -2, 2], shrink_axis_mask=1))
    w.set_io([x], [y])
    return w


def _gather_writer():
    """ids int32 [1, 4] (a model input) into a constant int8 table [16, 8] along axis 0 -> [1, 4, 8]."""
    w = ModelWriter()
    ids = w.add_tensor("ids", "int32", (1, 4))
    table = w.add_constant("table", np.arange(-64, 64, dtype=np.int8).reshape(16, 8), scale=0.5, zero_point=0)
    y = w.add_tensor("y", "int8", (1, 4, 8), scale=0.5, zero_point=0)
    w.add_operator("GATHER", [table, ids], [y], "GatherOptions", dict(axis=0))
    w.set_io([ids], [y])
    return w


def _damaged(writer, mutate) -> bytes:
    """The writer's valid file with mutate(options, tensors by name, buffers) applied to its tables, serialized
    with its plan but neither re-planned nor verified."""
    w = writer()
    planned = load_bytes(w.to_bytes())
    model = w._model({"arena_bytes": planned.arena_bytes, "tensor_offsets": planned.tensor_offsets,
                      "scratch_offsets": planned.scratch_offsets}, bytes(32))
    mutate(model["operators"][0]["options"][1], {t["name"]: t for t in model["tensors"]}, w.buffers)
    return serialize(model, w.buffers)


def _set(**fields):
    def mutate(options, tensors, buffers):
        options.update(fields)
    return mutate


def _tensor(name, **fields):
    def mutate(options, tensors, buffers):
        tensors[name].update(fields)
    return mutate


def _int32_table(options, tensors, buffers):  # the table's 512 bytes as [16, 8] int8 become [16, 2] int32
    tensors["table"].update(dtype=1, shape=[16, 2])


def _drop_begin(options, tensors, buffers):
    del options["begin"]


DAMAGED = {
    "begin past its dimension": (_slice_writer, _set(begin=[1, 4, 6]), "options.begin"),
    "negative begin": (_slice_writer, _set(begin=[1, -1, 0]), "options.begin"),
    "shrunk begin past its dimension": (_slice_writer, _set(begin=[2, 4, 0]), "options.begin"),
    "stride 0": (_slice_writer, _set(strides=[1, 0, 2]), "options.strides"),
    "last position past the end": (_slice_writer, _set(strides=[1, -2, 3]), "outputs[0]"),
    "last position below 0": (_slice_writer, _set(strides=[1, -5, 2]), "outputs[0]"),
    "last position past int32": (_slice_writer, _set(strides=[1, -2, INT32_MAX]), "outputs[0]"),
    "output dimension too long": (_slice_writer, _tensor("y", shape=[2, 4]), "outputs[0]"),
    "output keeps the shrunk dimension": (_slice_writer, _tensor("y", shape=[1, 2, 3]), "outputs[0]"),
    "shrink mask over the rank": (_slice_writer, _set(shrink_axis_mask=8), "options.shrink_axis_mask"),
    "negative shrink mask": (_slice_writer, _set(shrink_axis_mask=-1), "options.shrink_axis_mask"),
    "begin shorter than the rank": (_slice_writer, _set(begin=[1, 4]), "options.begin"),
    "begin missing": (_slice_writer, _drop_begin, "options.begin"),
    "strides longer than the rank": (_slice_writer, _set(strides=[1, -2, 2, 1]), "options.strides"),
    "input of rank 6": (_slice_writer, _tensor("x", shape=[1, 1, 2, 5, 6, 1]), "inputs[0]"),
    "input not int8": (_slice_writer, _tensor("x", dtype=1), "inputs[0]"),
    "slice output quantization": (_slice_writer, _tensor("y", zero_point=4), "outputs[0]"),
    "gather axis past the rank": (_gather_writer, _set(axis=2), "options.axis"),
    "negative gather axis": (_gather_writer, _set(axis=-1), "options.axis"),
    "indices not int32": (_gather_writer, _tensor("ids", dtype=0), "inputs[1]"),
    "params not int8": (_gather_writer, _int32_table, "inputs[0]"),
    "gather output shape": (_gather_writer, _tensor("y", shape=[1, 8, 4]), "outputs[0]"),
    "gather output rank": (_gather_writer, _tensor("y", shape=[4, 8]), "outputs[0]"),
    "gather output of rank 7": (_gather_writer, _tensor("ids", shape=[1, 1, 1, 1, 1, 4]), "outputs[0]"),
    "gather output not int8": (_gather_writer, _tensor("y", dtype=1), "outputs[0]"),
    "gather output quantization": (_gather_writer, _tensor("y", scale=0.25), "outputs[0]"),
}


def test_the_valid_files_the_variants_damage_load_in_both_loaders():
    for writer in (_slice_writer, _gather_writer):
        data = _damaged(writer, lambda options, tensors, buffers: None)
        load_bytes(data)
        CRuntime(data)


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_both_loaders_refuse_damaged_options_at_the_same_field(name):
    writer, mutate, field = DAMAGED[name]
    data = _damaged(writer, mutate)
    with pytest.raises(FormatError) as py:
        load_bytes(data)
    assert py.value.field == f"operators[0].{field}", str(py.value)
    with pytest.raises(CRuntimeError) as c:
        CRuntime(data)
    assert c.value.status == "MF_ERROR_OPERATOR", str(c.value)
    assert c.value.offset == py.value.offset, f"Python: {py.value}; C: {c.value}"


def _loaders_agree(data: bytes) -> bool:
    """Both loaders refuse the file, or both load it and both backends give the same bytes (or both refuse the
    same inputs at invoke). True when it loaded."""
    try:
        model = load_bytes(data)
    except FormatError as exc:
        with pytest.raises(CRuntimeError):
            CRuntime(data)
            pytest.fail(f"the C loader accepts a file the Python loader refuses: {exc}")
        return False
    rng = np.random.default_rng(0)
    inputs = [rng.integers(-1, 18, t.shape).astype(np.int32) if t.dtype == "int32" else
              rng.integers(-128, 128, t.shape).astype(t.dtype) for t in (model.tensors[i] for i in model.inputs)]
    results = []
    for backend in BACKENDS:
        try:
            results.append([y.tobytes() for y in Interpreter(model, backend=backend).invoke(*inputs)])
        except InputError:
            results.append("InputError")
    assert results[0] == results[1]
    return True


@pytest.mark.parametrize("writer", [_slice_writer, _gather_writer], ids=["strided_slice", "gather"])
def test_every_byte_flip_of_a_file_is_refused_by_both_loaders_or_runs_the_same(writer):
    valid = writer().to_bytes()
    loaded = 0
    for i in range(len(valid)):
        for flip in (0x01, 0x80, 0xFF):
            data = bytearray(valid)
            data[i] ^= flip
            loaded += _loaders_agree(bytes(data))
    assert 0 < loaded < 3 * len(valid)
