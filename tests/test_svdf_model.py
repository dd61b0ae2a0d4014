"""SVDF in a .mfb file with its state in a variable: both runtimes equal the SVDF kernel (kernels.svdf, itself
bit-exact with LiteRT's and TFLite Micro's reference kernels: tests/test_svdf.py) invoke after invoke, the state
carried by ASSIGN_VARIABLE, and both loaders refuse what the kernel cannot take."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microflat.compiler.serialize import serialize
from model_builders import SVDF_Z_X as Z_X, SVDF_Z_Y as Z_Y, svdf_layer as _layer, svdf_model
from microflat.compiler.writer import ModelWriter
from microflat.kernels import svdf
from microflat.runtime import FormatError, Interpreter, load_bytes
from microflat.runtime.c_runtime import CRuntime, CRuntimeError

@settings(max_examples=60)
@given(seed=st.integers(0, 2**31), batches=st.integers(1, 2), inputs=st.integers(1, 10), units=st.integers(1, 4),
       rank=st.integers(1, 2), memory=st.integers(1, 6), with_bias=st.booleans(), steps=st.integers(1, 5))
def test_the_svdf_op_equals_the_kernel_invoke_after_invoke(seed, batches, inputs, units, rank, memory, with_bias,
                                                           steps):
    wf, wt, bias, q = _layer(seed, batches, inputs, units, rank, memory, with_bias)
    xs = np.random.default_rng(seed + 1).integers(-128, 128, (steps, batches, inputs)).astype(np.int8)
    state = np.zeros((batches, memory * units * rank), np.int16)
    want = []
    for x in xs:
        y, state = svdf(x, state, wf, wt, bias, rank=rank, input_zp=Z_X, output_zp=Z_Y, **q)
        want.append(y)
    data = svdf_model(seed, batches, inputs, units, rank, memory, with_bias)
    for backend in ("numba", "c"):
        it = Interpreter(data, backend=backend)
        for t, x in enumerate(xs):
            np.testing.assert_array_equal(it.invoke(x)[0], want[t], err_msg=f"{backend}, invoke {t}")


def _damaged(mutate):
    w = svdf_model(writer=True)
    planned = load_bytes(w.to_bytes())
    plan = {"arena_bytes": planned.arena_bytes, "tensor_offsets": planned.tensor_offsets,
            "scratch_offsets": planned.scratch_offsets}
    model = w._model(plan, bytes(32))
    mutate(model)
    return serialize(model, w.buffers)


def _options(**changes):
    def mutate(model):
        model["operators"][0]["options"][1].update(changes)
    return mutate


def _state_zp(model):
    model["tensors"][1]["zero_point"] = 2


@pytest.mark.parametrize("mutate, reason", [
    (_options(rank=4), "does not divide"),
    (_options(state_shift=31), "must be in"),
    (_state_zp, "zero point 0"),
], ids=["rank", "shift", "state-zp"])
def test_both_loaders_refuse_a_damaged_svdf_at_the_same_byte(mutate, reason):
    data = _damaged(mutate)
    with pytest.raises(FormatError, match=reason) as py:
        load_bytes(data)
    with pytest.raises(CRuntimeError) as c:
        CRuntime(data)
    assert py.value.offset == c.value.offset, f"Python: {py.value}; C: {c.value}"
