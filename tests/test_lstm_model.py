"""UNIDIRECTIONAL_SEQUENCE_LSTM in a .mfb file, its state kept in variables: both runtimes equal the LSTM kernel
(kernels.lstm, itself bit-exact with LiteRT's reference kernels: tests/test_lstm.py), a sequence fed one step per
invoke equals the whole sequence in one invoke, and both loaders refuse what the kernel cannot take.

The model is what a streaming recurrent layer compiles to: h and c are variables (docs/FORMAT.md, "Variables");
the LSTM reads them and writes their new values, which two ASSIGN_VARIABLE ops store for the next invoke.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model_builders import LSTM_S_H as S_H, LSTM_Z_H as Z_H, damaged, lstm_model
from model_builders import lstm_params as _params
from microflat.compiler.writer import ModelWriter
from microflat.kernels import lstm
from microflat.runtime import FormatError, Interpreter, load_bytes
from microflat.runtime.c_runtime import CRuntime, CRuntimeError

@settings(max_examples=60)
@given(seed=st.integers(0, 2**31), inputs=st.integers(1, 8), cells=st.integers(1, 8), steps=st.integers(1, 6),
       p=st.integers(-15, -9))
def test_the_lstm_op_equals_the_kernel_and_streams(seed, inputs, cells, steps, p):
    params = _params(seed, inputs, cells, p)
    x = np.random.default_rng(seed + 1).integers(-128, 128, (steps, inputs)).astype(np.int8)
    want, _, _ = lstm(x, params)
    whole = lstm_model(params, steps, inputs)
    frame = lstm_model(params, 1, inputs)
    for backend in ("numba", "c"):
        got = Interpreter(whole, backend=backend).invoke(x[None])[0]
        np.testing.assert_array_equal(got[0], want, err_msg=backend)
        it = Interpreter(frame, backend=backend)
        stream = np.concatenate([it.invoke(x[t][None, None])[0][0] for t in range(steps)])
        np.testing.assert_array_equal(stream, want, err_msg=f"{backend}, step by step")
        it.reset_state()
        np.testing.assert_array_equal(it.invoke(x[0][None, None])[0][0], want[:1], err_msg=f"{backend} reset")


def _damaged(mutate):
    return damaged(lstm_model(_params(0, 3, 4), 2, 3, writer=True), mutate)


def _options(**changes):
    def mutate(model, buffers):
        model["operators"][0]["options"][1].update(changes)
    return mutate


def _bias(value):
    def mutate(model, buffers):
        bx = next(t for t in model["tensors"] if t["name"] == "bx")
        data = np.frombuffer(buffers[bx["buffer"]], np.int32).copy()
        data[5] = value
        buffers[bx["buffer"]] = data.tobytes()
    return mutate


@pytest.mark.parametrize("mutate, reason", [
    (_options(cell_exponent=-8), "must be in"),
    (_options(hidden_shift=1), "must be in"),
    (_options(cell_clip=40000), "must be in"),
    (_options(gate_mult=np.ones(4, np.int32), gate_shift=np.zeros(4, np.int8)), "needs"),
    (_bias(2**31 - 1), "accumulator"),
], ids=["cell-exponent", "hidden-shift", "clip", "gate-count", "accumulator"])
def test_both_loaders_refuse_a_damaged_lstm_at_the_same_byte(mutate, reason):
    data = _damaged(mutate)
    with pytest.raises(FormatError, match=reason) as py:
        load_bytes(data)
    with pytest.raises(CRuntimeError) as c:
        CRuntime(data)
    assert py.value.offset == c.value.offset, f"Python: {py.value}; C: {c.value}"


def test_constant_initial_states_start_every_invoke_afresh():
    """A layer whose states in are constants (the zero state: h at its zero point, c at 0) starts from them at
    every invoke, as a classifier over whole sequences needs."""
    params = _params(3, 4, 5)
    w = lstm_model(params, 3, 4, writer=True)
    lstm_op = w.operators[0]
    h0 = w.add_constant("h0", np.full((1, 5), Z_H, np.int8), scale=S_H, zero_point=Z_H)
    c0 = w.add_constant("c0", np.zeros((1, 5), np.int16), scale=2.0**params.cell_exponent, zero_point=0)
    lstm_op["inputs"][5:7] = [h0, c0]
    w.operators[1:] = []  # no ASSIGN_VARIABLE: h_new and c_new are plain activations, unread
    for t in w.tensors:
        t.pop("variable", None)
    x = np.random.default_rng(4).integers(-128, 128, (3, 4)).astype(np.int8)
    want, _, _ = lstm(x, params)
    data = w.to_bytes()
    for backend in ("numba", "c"):
        it = Interpreter(data, backend=backend)
        for _ in range(2):
            np.testing.assert_array_equal(it.invoke(x[None])[0][0], want, err_msg=backend)
