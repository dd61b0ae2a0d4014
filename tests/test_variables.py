"""Persistent state (docs/FORMAT.md, "Variables"): a variable tensor keeps its value across invokes, is written
only by ASSIGN_VARIABLE after its last reader, is placed apart from every other buffer, and is reset to real 0.

The model under test is a streaming layer over a ring buffer, the form a streaming keyword spotter's first layer
takes: the variable holds the last T frames (T x C int8, zero point z); each invoke drops the oldest frame,
appends the new one (STRIDED_SLICE, CONCATENATION), stores the window back (ASSIGN_VARIABLE) and runs a fully
connected layer over it. Fed frame by frame it must equal the same fully connected layer run on each whole
window (the frames so far, padded in front with the zero point: real 0, the reset value), on both runtimes.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microflat.compiler.serialize import serialize
from model_builders import RING_C as C, RING_ZP as ZP, ring_buffer_model, window_outputs
from microflat.compiler.writer import ModelWriter
from microflat.runtime import FormatError, Interpreter, load_bytes
from microflat.runtime.c_runtime import CRuntime, CRuntimeError

@settings(max_examples=100)
@given(seed=st.integers(0, 2**31), frames=st.integers(1, 12))
def test_frame_by_frame_equals_whole_windows_on_both_runtimes(seed, frames):
    data = ring_buffer_model(seed % 7)
    x = np.random.default_rng(seed).integers(-128, 128, (frames, 1, 1, C)).astype(np.int8)
    want = window_outputs(x, seed % 7)
    for backend in ("numba", "c"):
        it = Interpreter(data, backend=backend)
        got = np.concatenate([it.invoke(f)[0] for f in x])
        np.testing.assert_array_equal(got, want, err_msg=backend)
        # a batch is a stream of consecutive frames; reset_state starts it over
        it.reset_state()
        np.testing.assert_array_equal(it.invoke(x.reshape(frames, 1, C))[0], want, err_msg=backend)
        it.reset_state()
        np.testing.assert_array_equal(it.invoke(x[0])[0], want[:1], err_msg=backend)


def test_a_variable_is_planned_apart_from_every_other_buffer():
    model = load_bytes(ring_buffer_model())
    ring = next(t for t in model.tensors if t.name == "ring")
    assert model.variables == [ring.index]
    lo, hi = model.tensor_offsets[ring.index], model.tensor_offsets[ring.index] + ring.nbytes
    for t in model.tensors:
        if t.index != ring.index and not t.is_const and model.tensor_offsets[t.index] >= 0:
            start = model.tensor_offsets[t.index]
            assert start + t.nbytes <= lo or start >= hi, f"tensor {t.name} overlaps the variable"
    assert model.arena_bytes >= ring.nbytes  # counted in the arena


# --- refusals: both loaders, at the same byte ------------------------------------------------------------------

def _damaged(mutate):
    w = ring_buffer_model(writer=True)
    planned = load_bytes(w.to_bytes())
    plan = {"arena_bytes": planned.arena_bytes, "tensor_offsets": planned.tensor_offsets,
            "scratch_offsets": planned.scratch_offsets}
    model = w._model(plan, bytes(32))
    mutate(model)
    return serialize(model, w.buffers)


def _op(model, name):
    from microflat.runtime.format import OPCODE
    return next(op for op in model["operators"] if op["opcode"] == OPCODE[name])


def _read_after_assign(model):
    ops = model["operators"]
    ops.append(dict(ops[0]))  # STRIDED_SLICE of the ring again, after ASSIGN_VARIABLE, into a new tensor
    model["tensors"].append(dict(model["tensors"][2], name="late"))
    ops[-1]["outputs"] = [len(model["tensors"]) - 1]
    model["plan"]["tensor_offsets"] = list(model["plan"]["tensor_offsets"]) + [0]
    model["plan"]["scratch_offsets"] = list(model["plan"]["scratch_offsets"]) + [-1]


def _written_by_another_op(model):
    _op(model, "RESHAPE")["outputs"] = [1]


def _assigned_twice(model):
    model["operators"].append(dict(_op(model, "ASSIGN_VARIABLE")))
    model["plan"]["scratch_offsets"] = list(model["plan"]["scratch_offsets"]) + [-1]


def _not_a_variable(model):
    model["tensors"][1]["variable"] = False


def _a_model_output(model):
    model["outputs"] = [1]


def _other_quantization(model):
    model["tensors"][1]["zero_point"] = ZP + 1


@pytest.mark.parametrize("mutate, reason", [
    (_read_after_assign, "read after"),
    (_written_by_another_op, "other than ASSIGN_VARIABLE"),
    (_assigned_twice, "assigned twice"),
    (_not_a_variable, "read before any operator writes it"),
    (_a_model_output, "is a variable"),
    (_other_quantization, "share scale and zero point"),
])
def test_both_loaders_refuse_a_misused_variable_at_the_same_byte(mutate, reason):
    data = _damaged(mutate)
    with pytest.raises(FormatError, match=reason) as py:
        load_bytes(data)
    with pytest.raises(CRuntimeError) as c:
        CRuntime(data)
    assert py.value.offset == c.value.offset, f"Python: {py.value}; C: {c.value}"


def test_a_constant_cannot_be_a_variable():
    def mutate(model):
        model["tensors"][6]["variable"] = True  # fc.w
    data = _damaged(mutate)
    with pytest.raises(FormatError, match="a variable is an activation") as py:
        load_bytes(data)
    with pytest.raises(CRuntimeError) as c:
        CRuntime(data)
    assert py.value.offset == c.value.offset
