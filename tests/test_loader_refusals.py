"""What both loaders refuse before they commit memory or time, and where they say the fault lies.

1. plan.arena_bytes must be exactly where the plan's last buffer ends (docs/FORMAT.md, "Memory plan"): any
   other value is refused by both loaders at that field, and mf_arena_bytes (the C runtime's "how much arena?")
   verifies the file before it answers, so the cffi wrapper never allocates what a damaged file claims.
2. A vector's count is checked before any of its elements is read: a file of more operators than the limit is
   refused at that vector's length word without one operator table decoded.
3. A refusal points where docs/FORMAT.md's rule says ("Where an error points"): checked with sentinel values
   whose bytes are found in the file without either reader, and the two loaders agree.
"""

import struct
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model_builders import conv_pool_fc_softmax, rewritten
from microflat.kernels import native
from microflat.runtime import FormatError, load_bytes
from microflat.runtime import c_runtime, flatbuffer_reader
from microflat.runtime.c_runtime import STATUS, CRuntime, CRuntimeError
from microflat.runtime.format import MAX_ARENA_BYTES, MAX_TABLE_VECTOR
from microflat.runtime.memory_plan import arena_end

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


# --- 1. the arena is exactly what the plan uses --------------------------------------------------------------

END = MODEL.arena_bytes  # where the writer's plan ends


def c_arena_bytes(data: bytes):
    """mf_arena_bytes called directly: (status name, offset, arena bytes)."""
    ffi, lib = native.load()
    file = c_runtime.aligned_bytes(len(data))
    file[:] = np.frombuffer(data, np.uint8)
    need, error = ffi.new("uint32_t *"), ffi.new("mf_error *")
    status = lib.mf_arena_bytes(ffi.from_buffer("uint8_t[]", file), len(data), need, error)
    return STATUS[int(status)], int(error.offset) if status else None, int(need[0]) if not status else None


def with_arena(arena: int) -> bytes:
    def mutate(model, buffers):
        model["plan"]["arena_bytes"] = arena
    return rewritten(mutate)


def test_the_writers_arena_is_where_its_last_buffer_ends():
    assert END == arena_end(_placed_buffers(MODEL)) and END % 16 == 0
    load_bytes(with_arena(END))
    assert CRuntime(VALID).required_bytes == END  # larger than the verifier's workspace here


def _placed_buffers(m):
    from microflat.runtime.memory_plan import Buffer, align
    bufs = [Buffer([t], align(m.tensors[t].nbytes), 0, 0, off) for t, off in enumerate(m.tensor_offsets) if off >= 0]
    bufs += [Buffer([k], align(i.scratch_bytes), 0, 0, m.scratch_offsets[k]) for k, i in enumerate(m.op_info)
             if i.scratch_bytes]
    return bufs


@settings(max_examples=60)
@given(extra=st.one_of(st.integers(1, MAX_ARENA_BYTES - END), st.sampled_from([16, MAX_ARENA_BYTES - END])))
def test_an_arena_larger_than_the_plan_uses_is_refused_by_both_loaders_at_its_field(extra):
    data = with_arena(END + extra)
    py, c = both_refuse(data)
    assert py.field == "plan.arena_bytes" and c.status == "MF_ERROR_PLAN", (str(py), str(c))
    assert c.call == "mf_arena_bytes"  # refused before any arena is sized, let alone allocated
    assert struct.unpack_from("<I", data, py.offset)[0] == END + extra  # the field's own bytes


@settings(max_examples=60)
@given(arena=st.integers(0, END - 1))
def test_an_arena_smaller_than_the_plan_uses_is_refused_by_both_loaders(arena):
    py, c = both_refuse(with_arena(arena))
    assert py.field.startswith("plan.") and c.status == "MF_ERROR_PLAN" and c.call == "mf_arena_bytes"


def test_the_arena_field_is_named_with_its_offset():
    data = with_arena(SENTINEL)  # a multiple of 16, inside MAX_ARENA_BYTES, far above the plan's end
    py, c = both_refuse(data)
    assert py.field == "plan.arena_bytes" and py.offset == data.find(struct.pack("<I", SENTINEL))
    assert f"plan's buffers end at {END}" in py.reason


@pytest.mark.parametrize("arena", [0xFFFFFFFF, 0x80000000, 0x7FFFFFF0, 2 * END])
def test_mf_arena_bytes_refuses_what_the_loader_refuses_instead_of_answering_the_files_number(arena):
    data = with_arena(arena)
    status, offset, need = c_arena_bytes(data)
    with pytest.raises(FormatError) as py:
        load_bytes(data)
    assert (status, offset, need) == ("MF_ERROR_PLAN", py.value.offset, None)


def test_mf_arena_bytes_answers_the_verified_plans_arena():
    assert c_arena_bytes(VALID) == ("MF_OK", None, END)


def test_the_c_wrapper_allocates_nothing_a_refused_file_claims(monkeypatch):
    sizes = []
    real = c_runtime.aligned_bytes

    def recording(n):
        sizes.append(n)
        return real(n)
    monkeypatch.setattr(c_runtime, "aligned_bytes", recording)
    for arena in (0xFFFFFFF0, MAX_ARENA_BYTES, END + 16):
        data = with_arena(arena)
        sizes.clear()
        with pytest.raises(CRuntimeError, match="arena_bytes"):
            CRuntime(data)
        assert sizes == [len(data)], sizes  # the file's aligned copy, nothing else
    sizes.clear()
    CRuntime(VALID)
    assert sizes == [len(VALID), END]


def test_a_4_gib_arena_claim_is_a_format_error_under_a_4_gib_address_space_limit(tmp_path):
    """The issue's case: before, the wrapper allocated the file's 0xFFFFFFFF bytes first (a raw MemoryError)."""
    path = tmp_path / "claims_4_gib.mfb"
    path.write_bytes(with_arena(0xFFFFFFFF))
    script = f"""
import resource
from microflat.kernels import native
from microflat.runtime.c_runtime import CRuntime, CRuntimeError
native.load()
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
try:
    CRuntime(open({str(path)!r}, "rb").read())
except CRuntimeError as e:
    print("refused:", e)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "refused: C runtime MF_ERROR_PLAN" in result.stdout, result.stdout + result.stderr


# --- 2. counts before elements -------------------------------------------------------------------------------

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
    """Patching a vector's count: both loaders check it against the bytes left before reading an element.

    The writer shares equal vectors (Model.inputs may be the first operator's inputs, too): the refusal names
    whichever field reads the vector first, at the same length word."""
    plan = which.endswith("offsets")
    table = MODEL.root.plan if plan else MODEL.root
    at = table.at[which]
    data = bytearray(VALID)
    data[at:at + 4] = struct.pack("<I", n)
    py, c = both_refuse(bytes(data))
    assert py.field.endswith(f".{which}") and py.offset == at, str(py)


# --- 3. where an error points ----------------------------------------------------------------------------------

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
