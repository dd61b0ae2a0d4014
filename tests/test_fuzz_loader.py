"""Fuzzing the loaders: no damaged file gets past them or breaks them, and the two agree.

Every mutant either raises FormatError or loads, in the Python loader and
in the C loader (runtime/c through cffi) alike: the C loader must accept
exactly the files the Python one accepts. A mutant that loads is then run
on both backends (an accepted file must be safe to execute), and their
outputs must be the same bytes.
The valid files mutated: one with dense weights, one whose weights are
stored in every encoding (a sparse per-channel palette, packed int4 and a
palette), so damaged streams, codebooks and encoding fields are covered, and
the op-coverage models (op_models.py), so every opcode's checks are.
Whenever both refuse a file, they refuse it at the same byte (docs/FORMAT.md,
"Where an error points"), the C status is the layer the Python field names
and the C index the tensor or operator it names.
Any other exception, a crash or a hang fails the test. The CI profile runs
1,000 cases per property plus every single-byte flip of a valid file;
HYPOTHESIS_PROFILE=long runs 20,000 per property, and HYPOTHESIS_PROFILE=fuzz
(`make fuzz`) 340,000 per property: over a million files.
"""

import re
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from model_builders import conv_pool_fc_softmax, rewritten, stream_models
from op_models import OP_MODELS
from zoo_files import compile_op_model
from microflat.runtime import FormatError, InputError, Interpreter, load_bytes
from microflat.runtime.c_runtime import CRuntime, CRuntimeError
from microflat.runtime.export_c import example_inputs

VALID, _ = conv_pool_fc_softmax()
VALID_ENCODED, _ = conv_pool_fc_softmax(encoded=True)
# every operator the two above lack (tests/op_models.py)
VALID_OPS = [compile_op_model(name) for name in sorted(OP_MODELS)]
# variables, LSTM and SVDF (tests/model_builders.py), and a 16-bit model (int16 conv, FC, pool, REQUANTIZE)
VALID_STREAMS = [data for _, data in sorted(stream_models().items())] + [
    compile_op_model("ops/tables", activations="int16")]
INPUT = np.random.default_rng(0).normal(size=(1, 8, 8, 3)).astype(np.float32)
INTERESTING_WORDS = [0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFF, 16, len(VALID), len(VALID) + 4]


def c_status_for(field: str) -> set:
    """The mf_status values a Python refusal of ``field`` may come with: one per layer (docs/FORMAT.md)."""
    head, _, rest = re.match(r"(\w+)(\[\d+\])?\.?(.*)", field).groups()
    if head == "tensors" and _:
        return {"MF_ERROR_ENCODING"} if rest.startswith("encoding") else \
            {"MF_ERROR_TENSOR", "MF_ERROR_ENCODING"} if rest == "buffer" else {"MF_ERROR_TENSOR"}
    if head == "operators" and _:  # the operator's own check, or the graph's order (its inputs and outputs)
        return {"MF_ERROR_OPERATOR", "MF_ERROR_MODEL", "MF_ERROR_OPERATOR_NOT_BUILT"}
    return {"header": {"MF_ERROR_HEADER"}, "Model": {"MF_ERROR_FLATBUFFER"},
            "plan": {"MF_ERROR_PLAN"}}.get(head, {"MF_ERROR_MODEL"})


def assert_same_refusal(py: FormatError, c: CRuntimeError):
    """Both loaders refused a file: at the same byte, in the same layer, naming the same tensor or operator."""
    assert py.offset == c.offset, f"Python: {py}; C: {c}"
    assert c.status in c_status_for(py.field), f"Python: {py}; C: {c}"
    named = re.match(r"(tensors|operators)\[(\d+)\]", py.field)
    if named:
        assert c.index == int(named.group(2)), f"Python: {py}; C: {c}"
    # mf_arena_bytes answers only for a verified file: what it lets through, only mf_model_load's last check
    # (two buffers alive together overlap, which needs the arena as workspace) may refuse
    if c.call == "mf_model_load":
        assert py.field == "plan" and "overlap" in py.reason, f"mf_arena_bytes answered for a file refused: {py}"


def c_workspace_bytes(model) -> int:
    """The C verifier's workspace in the arena (microflat.h: 26 bytes and a bit a tensor, 40 an operator,
    16-aligned)."""
    n = len(model.tensors)
    return -(-(26 * n + -(-n // 8) + 40 * len(model.operators)) // 16) * 16


def _load_and_run(data: bytes) -> bool:
    """True if the file was accepted (and then ran, the same on both backends); False if both loaders refused it
    (at the same byte: assert_same_refusal)."""
    try:
        model = load_bytes(data)
    except FormatError as exc:
        with pytest.raises(CRuntimeError) as refused:
            CRuntime(data)
            pytest.fail(f"the C loader accepts a file the Python loader refuses: {exc}")
        assert_same_refusal(exc, refused.value)
        return False
    # the arena the C runtime asks for is the verified plan's (or the verifier's workspace), never more
    assert CRuntime(data).required_bytes == max(model.arena_bytes, c_workspace_bytes(model))
    t = model.tensors[model.inputs[0]]  # a damaged input shape or dtype can still make a valid model
    xs = [INPUT] if (t.shape, t.dtype) == (INPUT.shape, "float32") else example_inputs(model, None)
    ran = []
    for backend in ("numba", "c"):  # the C one raises CRuntimeError if the C loader refuses the file
        try:
            ran.append(Interpreter(model, backend=backend).invoke(*xs)[0].tobytes())
        except InputError:  # a value the model refuses at invoke (a GATHER index): on both backends
            ran.append("refused at invoke")
    assert ran[0] == ran[1]
    return True


@st.composite
def mutants(draw):
    data = bytearray(draw(st.sampled_from([VALID, VALID_ENCODED, *VALID_OPS, *VALID_STREAMS])))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "byte", "word", "truncate", "extend"]) if data else st.just("extend"))
        if kind == "flip":
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte":
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        elif kind == "word" and len(data) >= 4:
            i = draw(st.integers(0, (len(data) - 4) // 4)) * 4  # aligned: where offsets and lengths live
            data[i:i + 4] = draw(st.sampled_from(INTERESTING_WORDS)).to_bytes(4, "little")
        elif kind == "truncate":
            data = data[:draw(st.integers(0, len(data)))]
        elif kind == "extend":
            data += draw(st.binary(min_size=1, max_size=64))
    return bytes(data)


@given(data=mutants())
def test_mutated_files_raise_format_error_or_run(data):
    _load_and_run(data)


@given(data=st.binary(max_size=512))
def test_random_bytes_raise_format_error(data):
    _load_and_run(data)


@given(prefix=st.binary(min_size=8, max_size=8), data=st.binary(max_size=400))
def test_random_bytes_with_a_valid_header_raise_format_error(prefix, data):
    """Random flatbuffer bytes behind a header that passes the first layer of checks."""
    import struct

    body = prefix + data
    n = 32 + len(body)
    seg = (n + 15) // 16 * 16
    head = struct.pack("<I4sHHIIIII", 32 + (len(body) % max(len(body), 1)) // 4 * 4, b"MFB0", 1, 0, n, seg, 0, seg, 0)
    _load_and_run(head + body + bytes(seg - n))


# every single-byte flip of the files whose operators carry options tables (the table-activation model's new
# operators take none; random mutants cover it)
FLIPPED = {"dense": VALID, "encoded": VALID_ENCODED,
           **{name: data for name, data in zip(sorted(OP_MODELS), VALID_OPS) if name != "ops/tables"},
           **{name: data for name, data in stream_models().items() if name != "streams/ring"}}


@pytest.mark.parametrize("valid", list(FLIPPED.values()), ids=list(FLIPPED))
def test_every_single_byte_flip_of_a_valid_file(valid):
    accepted = rejected = 0
    for i in range(len(valid)):
        for mask in (0x01, 0x80, 0xFF):
            data = bytearray(valid)
            data[i] ^= mask
            if _load_and_run(bytes(data)):
                accepted += 1
            else:
                rejected += 1
    print(f"\nsingle-byte flips of a {len(valid)}-byte file: {rejected} rejected, {accepted} accepted and ran")
    assert rejected > 0 and accepted + rejected == 3 * len(valid)


def test_a_scratch_of_two_to_the_32_bytes_is_refused_by_both_loaders():
    """An FC over 2^30 features whose sparse weight stores one entry: the encoded kernel's scratch is
    4 * 2^30 = 2^32 bytes, which no arena holds. Rounded in 32 bits it would be 0 and fit anywhere."""
    from microflat.compiler.serialize import serialize
    from microflat.compiler.writer import ModelWriter
    from microflat.kernels import weight_encoding as WE

    k = 2**30
    w = ModelWriter()
    x = w.add_tensor("x", "int8", (1, k), scale=0.1, zero_point=0)
    enc = WE.Encoding(shape=(1, k), value_bits=2, values=np.array([1], np.uint8), entries=1, axis=0,
                      position_bits=1, positions=np.array([0], np.uint8))
    WE.validate(enc)
    f = w.add_encoded("w", enc, scale=0.01, zero_point=0)
    y = w.add_tensor("y", "int8", (1, 1), scale=0.1, zero_point=0)
    w.add_operator("FULLY_CONNECTED", [x, f, -1], [y], "FullyConnectedOptions",
                   dict(output_mult=[1 << 30], output_shift=[0]))
    w.set_io([x], [y])
    plan = {"arena_bytes": k + 64, "tensor_offsets": [0, -1, k], "scratch_offsets": [k + 16]}
    data = serialize(w._model(plan, bytes(32)), w.buffers)
    with pytest.raises(FormatError, match="scratch"):
        load_bytes(data)
    with pytest.raises(CRuntimeError, match="scratch does not fit"):
        CRuntime(data)


@pytest.mark.parametrize("encoded", [False, True])
def test_every_scratch_must_hold_what_its_kernel_writes_in_both_loaders(encoded):
    """Each operator's scratch moved past every tensor, to the end of the arena: with exactly the bytes its
    kernel writes (rounded up to the 16-byte alignment) both loaders accept the file and run it alike; with
    16 bytes fewer both refuse it. A loader that undercounts a kernel's scratch would let it write past
    the arena."""
    valid = VALID_ENCODED if encoded else VALID
    model = load_bytes(valid)
    end = -(-model.arena_bytes // 16) * 16
    scratched = [k for k, info in enumerate(model.op_info) if info.scratch_bytes > 0]
    assert scratched  # the conv and the FC
    for k in scratched:
        need = -(-model.op_info[k].scratch_bytes // 16) * 16
        for size, accepted in ((need, True), (need - 16, False)):
            def at_the_end(m, buffers, k=k, size=size):
                m["plan"]["scratch_offsets"][k] = end
                m["plan"]["arena_bytes"] = end + size
            data = rewritten(at_the_end, encoded=encoded)
            assert _load_and_run(data) == accepted, (k, size)
