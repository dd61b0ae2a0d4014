"""What both loaders refuse before they commit memory or time, and where they say the fault lies.

1. A vector's count is checked before any of its elements is read: a file of more operators than the limit is
   refused at that vector's length word without one operator table decoded.
2. A refusal points where docs/FORMAT.md's rule says ("Where an error points"): checked with sentinel values
   whose bytes are found in the file without either reader, and the two loaders agree.
"""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model_builders import conv_pool_fc_softmax, rewritten
from microflat.runtime import FormatError, load_bytes
from microflat.runtime import flatbuffer_reader
from microflat.runtime.c_runtime import CRuntime, CRuntimeError
from microflat.runtime.format import MAX_TABLE_VECTOR

VALID, _ = conv_pool_fc_softmax()
MODEL = load_bytes(VALID)
SENTINEL = 0x7EADBEE0  # its four bytes occur nowhere in these files but where a test writes them
assert struct.pack("<I", SENTINEL) not in VALID


def both_refuse(data: bytes):
    """(Python's FormatError, C's CRuntimeError) of a file both loaders refuse, at the same byte."""
    with pytest.raises(FormatError) as py:
        load_bytes(data)
    with pytest.raises(CRuntimeError) as c:
        CRuntime(data)
    assert py.value.offset == c.value.offset, f"Python: {py.value}; C: {c.value}"
    return py.value, c.value


# --- 1. counts before elements -------------------------------------------------------------------------------

def _many_operators(n: int) -> bytes:
    """The valid model with its operators repeated to n, each its own table (the graph is wrong, the counts matter)."""
    def mutate(model, buffers):
        ops = model["operators"]
        model["operators"] = [dict(ops[k % len(ops)]) for k in range(n)]
        model["plan"]["scratch_offsets"] = [-1] * n
    return rewritten(mutate)


@pytest.mark.parametrize("n", [MAX_TABLE_VECTOR + 1, 20_000])
def test_more_operators_than_the_limit_are_refused_before_one_is_read(n, monkeypatch):
    data = _many_operators(n)
    decoded = []
    table = flatbuffer_reader._Reader.table

    def counting(self, path, pos, name, depth):
        decoded.append(name)
        return table(self, path, pos, name, depth)
    monkeypatch.setattr(flatbuffer_reader._Reader, "table", counting)
    py, c = both_refuse(data)
    assert py.field == "Model.operators" and c.status == "MF_ERROR_FLATBUFFER", (str(py), str(c))
    assert struct.unpack_from("<I", data, py.offset)[0] == n  # the vector's length word
    assert "Operator" not in decoded and f"{n} Operator entries" in py.reason


@settings(max_examples=40)
@given(which=st.sampled_from(["tensor_offsets", "scratch_offsets", "inputs", "outputs"]), n=st.integers(2**16, 2**32 - 1))
def test_a_scalar_vectors_count_past_the_buffer_is_refused_at_its_length_word(which, n):
    """Patching a vector's count: both loaders check it against the bytes left before reading an element."""
    plan = which.endswith("offsets")
    table = MODEL.root.plan if plan else MODEL.root
    at = table.at[which]
    data = bytearray(VALID)
    data[at:at + 4] = struct.pack("<I", n)
    py, c = both_refuse(bytes(data))
    assert py.field == f"Model.{'plan.' if plan else ''}{which}" and py.offset == at, str(py)


# --- 2. where an error points ----------------------------------------------------------------------------------

def _find(data, value) -> int:
    """Where value's four bytes first occur: found in the file's bytes, without either reader."""
    at = data.find(struct.pack("<I", value))
    assert at > 0
    return at


def _set(path, value):
    """A mutate function writing value at a path of the model dict (keys and indices; a union is (member, dict))."""
    def mutate(model, buffers):
        node = model
        for key in path[:-1]:
            node = node[key]
            node = node[1] if isinstance(node, tuple) else node
        node[path[-1]] = value
    return mutate


# (what to write where, the field the loaders name, where it lies relative to the sentinel's bytes)
POINTS = [
    (("operators", 2, "inputs", 0), SENTINEL, "operators[2].inputs[0]", 0),  # a vector's element
    (("plan", "tensor_offsets", 2), SENTINEL + 1, "plan.tensor_offsets[2]", 0),  # an element (a constant's offset)
    (("tensors", 1, "zero_point"), SENTINEL, "tensors[1].zero_point", 0),  # a scalar
    (("operators", 1, "options", "stride_h"), SENTINEL, "operators[1].options.stride_h", 0),  # an option
    (("tensors", 4, "shape"), [SENTINEL, 1, 1, 1, 1, 1, 1], "tensors[4].shape", -4),  # a vector: its length word
    (("operators", 1, "options", "output_mult"), [SENTINEL] * 3, "operators[1].options.output_mult", -4),
]


@pytest.mark.parametrize("path, value, field, shift", POINTS, ids=[p[2] for p in POINTS])
def test_a_refusal_points_where_the_format_says_in_both_loaders(path, value, field, shift):
    data = rewritten(_set(path, value))
    py, c = both_refuse(data)
    assert py.field == field, str(py)
    assert py.offset == _find(data, value if isinstance(value, int) else SENTINEL) + shift, (str(py), str(c))


def test_a_string_is_refused_at_its_length_word():
    data = rewritten(_set(("tensors", 0, "name"), b"\xffSENTINEL"))  # not UTF-8
    py, c = both_refuse(data)
    assert py.field == "Model.tensors[0].name" and py.offset == data.find(b"\xffSENTINEL") - 4, str(py)


def test_a_short_file_is_refused_at_byte_0_and_the_header_at_its_field():
    py, c = both_refuse(VALID[:20])
    assert (py.field, py.offset, c.status) == ("header", 0, "MF_ERROR_HEADER")
    py, c = both_refuse(VALID[:4] + b"TFL3" + VALID[8:])
    assert (py.field, py.offset) == ("header.identifier", 4)


def test_an_absent_field_points_at_its_table():
    """Options removed from the conv: the operator table, whose position the reader reports as the operator's."""
    def drop(model, buffers):
        del model["operators"][1]["options"]
    data = rewritten(drop)
    py, c = both_refuse(data)
    assert py.field == "operators[1].options" and c.index == 1
    root = flatbuffer_reader.read_root(bytearray(data), struct.unpack_from("<I", data, 12)[0])
    assert py.offset == root.operators[1].pos
