"""Integer SVDF (int8 input, int16 state), one time step per call, bit for bit.

Numba equals an int64 reference written from docs/RECURRENT.md §4 in another formulation (below), and C equals
Numba byte for byte, output and state, over several consecutive steps with the state carried; then the public
wrapper equals LiteRT's reference SVDF (BUILTIN_REF) and TFLite Micro's over several invokes, where those
interpreters are installed.

The reference differs from the kernel on purpose:
  - the state is a [B, F, M] array and each filter's row shifts on its own (the older TFLite formulation),
    where the kernel moves the whole flat buffer by one element, as TFLM does; the two agree only because
    every slot the global move fills across a row boundary is overwritten by the feature value;
  - the matmuls are numpy int64 products (x - z) @ W_f^T and an einsum over [B, F, M] x [F, M], the rank
    reduction a reshape to [B, U, rank] and a sum, the int32 wrap applied once to the exact sum;
  - MultiplyByQuantizedMultiplier is int_reference's closed form (floor and ties-away expressions).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microflat.testing import int_reference as R
from microflat.testing.layer_cases import mults, shifts, with_edges
from microflat.kernels import native, svdf, svdf_params, svdf_s8, svdf_s8_scratch_bytes
from microflat.kernels._dispatch import run_kernel

INT16_MIN, INT16_MAX = -(2**15), 2**15 - 1


# --- the reference ------------------------------------------------------------------------------------------

def _exact_step(x, state, wf, wt, bias, rank, input_zp, state_mult, state_shift):
    """One step's new state [B, F, M] and its exact (unwrapped) accumulators [B, U], in int64."""
    batches = x.shape[0]
    filters, memory = wt.shape
    old = state.astype(np.int64).reshape(batches, filters, memory)
    feature = (x.astype(np.int64) - input_zp) @ wf.astype(np.int64).T  # [B, F], exact
    newest = np.clip(R.multiply_by_quantized_multiplier(feature, state_mult, state_shift), INT16_MIN, INT16_MAX)
    new = np.concatenate([old[:, :, 1:], newest[:, :, None]], axis=2)  # each row: drop the oldest, append
    time = np.einsum("bfm,fm->bf", new, wt.astype(np.int64))  # exact: |.| <= 8 * 2^30
    acc = time.reshape(batches, filters // rank, rank).sum(axis=2)
    if bias is not None:
        acc = acc + bias.astype(np.int64)
    return new, acc


def svdf_reference(x, state, wf, wt, bias, rank, input_zp, output_zp, state_mult, state_shift, output_mult,
                   output_shift):
    """One step of docs/RECURRENT.md §4.2 (int16 state, zero point 0) in int64: (output int8 [B, U], new state
    int16 [B, M F])."""
    new, acc = _exact_step(x, state, wf, wt, bias, rank, input_zp, state_mult, state_shift)
    acc = R.wrap_int32(acc)  # TFLite's int32 sums, modulo 2^32
    y = np.clip(R.multiply_by_quantized_multiplier(acc, output_mult, output_shift) + output_zp, -128, 127)
    return y.astype(np.int8), new.reshape(x.shape[0], -1).astype(np.int16)


def time_sums_exceed_int32(x, state, wf, wt, bias, rank, input_zp, state_mult, state_shift) -> bool:
    """Whether one step's exact accumulator leaves int32 (the case the wrap decides)."""
    _, acc = _exact_step(x, state, wf, wt, bias, rank, input_zp, state_mult, state_shift)
    return bool(np.any((acc < R.INT32_MIN) | (acc > R.INT32_MAX)))


# --- strategies ---------------------------------------------------------------------------------------------

def _int_array(draw, shape, dtype, lo, hi):
    """Uniform values, or only edge values (lo, hi, -1, 0, 1: saturation and int32 wrap), with lo and hi placed
    in both cases."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.integers(0, 3)) == 0:
        arr = rng.choice(np.array([lo, hi, -1, 0, 1]), size=shape).astype(dtype)
    else:
        arr = rng.integers(lo, hi, size=shape, endpoint=True).astype(dtype)
    return with_edges(draw, arr, lo, hi)


@st.composite
def svdf_cases(draw):
    batches = draw(st.integers(1, 2))
    input_size = draw(st.integers(1, 16))
    rank = draw(st.integers(1, 2))
    units = draw(st.integers(1, 16 // rank))
    memory = draw(st.integers(2, 8))
    filters = units * rank
    steps = draw(st.integers(1, 4))
    bias = None if draw(st.integers(0, 3)) == 0 else _int_array(draw, (units,), np.int32, R.INT32_MIN, R.INT32_MAX)
    if bias is not None and draw(st.booleans()):
        bias = (bias // 2**16).astype(np.int32)  # ordinary biases too, not only ones that swamp the sums
    return dict(
        inputs=[_int_array(draw, (batches, input_size), np.int8, -128, 127) for _ in range(steps)],
        state=(np.zeros((batches, memory * filters), np.int16) if draw(st.booleans())
               else _int_array(draw, (batches, memory * filters), np.int16, INT16_MIN, INT16_MAX)),
        wf=_int_array(draw, (filters, input_size), np.int8, -128, 127),
        wt=_int_array(draw, (filters, memory), np.int16, INT16_MIN, INT16_MAX),
        bias=bias,
        kwargs=dict(rank=rank, input_zp=draw(st.integers(-128, 127)), output_zp=draw(st.integers(-128, 127)),
                    state_mult=draw(mults), state_shift=draw(shifts), output_mult=draw(mults),
                    output_shift=draw(st.one_of(shifts, st.integers(-31, -14)))),
    )


# --- Numba == reference, C == Numba -------------------------------------------------------------------------

@given(case=svdf_cases())
def test_svdf_numba_equals_reference_and_c_equals_numba_over_steps(case):
    k = case["kwargs"]
    state_ref = state_numba = state_c = case["state"]
    for x in case["inputs"]:
        y_ref, state_ref = svdf_reference(x, state_ref, case["wf"], case["wt"], case["bias"], **k)
        y_numba, state_numba = svdf(x, state_numba, case["wf"], case["wt"], case["bias"], backend="numba", **k)
        assert y_numba.dtype == np.int8 and state_numba.dtype == np.int16
        np.testing.assert_array_equal(y_numba, y_ref)
        np.testing.assert_array_equal(state_numba, state_ref)
        y_c, state_c = svdf(x, state_c, case["wf"], case["wt"], case["bias"], backend="c", **k)
        assert y_c.tobytes() == y_numba.tobytes() and state_c.tobytes() == state_numba.tobytes()


def _wrapping_case():
    """Full-scale time weights against a state saturated at -32768: 2 * 8 products of 2^30 (2^34) plus a bias
    of -2^31 + 5, far outside int32, and a result that depends on the wrap."""
    batches, input_size, units, rank, memory = 1, 3, 2, 2, 8
    filters = units * rank
    wt = np.full((filters, memory), -32768, np.int16)
    wt[1, ::2] = 32767
    return dict(x=np.full((batches, input_size), 127, np.int8),
                state=np.full((batches, memory * filters), -32768, np.int16),
                wf=np.full((filters, input_size), -128, np.int8), wt=wt,
                bias=np.array([-(2**31) + 5, 2**31 - 1], np.int32),
                kwargs=dict(rank=rank, input_zp=-128, output_zp=3, state_mult=2**31 - 1, state_shift=0,
                            output_mult=2**30, output_shift=-24))


def test_int32_wrap_of_the_time_sums_is_the_same_in_numba_c_and_reference():
    case = _wrapping_case()
    k = case["kwargs"]
    assert time_sums_exceed_int32(case["x"], case["state"], case["wf"], case["wt"], case["bias"], k["rank"],
                                  k["input_zp"], k["state_mult"], k["state_shift"])
    y_ref, s_ref = svdf_reference(case["x"], case["state"], case["wf"], case["wt"], case["bias"], **k)
    for backend in ("numba", "c"):
        y, s = svdf(case["x"], case["state"], case["wf"], case["wt"], case["bias"], backend=backend, **k)
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(s, s_ref)


def test_kernel_updates_the_state_in_place_and_reads_no_scratch_it_did_not_write():
    """The jitted kernel and its C twin on a garbage-filled scratch of exactly svdf_s8_scratch_bytes: the state
    buffer passed in is the one updated, and the wrapper leaves its argument alone."""
    rng = np.random.default_rng(7)
    batches, input_size, units, rank, memory = 2, 5, 3, 2, 4
    filters = units * rank
    x = rng.integers(-128, 128, (batches, input_size)).astype(np.int8)
    state0 = rng.integers(-3000, 3000, (batches, memory * filters)).astype(np.int16)
    wf = rng.integers(-127, 128, (filters, input_size)).astype(np.int8)
    wt = rng.integers(-32767, 32768, (filters, memory)).astype(np.int16)
    bias = rng.integers(-5000, 5000, units).astype(np.int32)
    k = dict(rank=rank, input_zp=-7, output_zp=4, state_mult=1518500250, state_shift=-2, output_mult=1234567890,
             output_shift=-19)
    kept = state0.copy()
    y_ref, s_ref = svdf_reference(x, state0, wf, wt, bias, **k)
    y_wrapped, _ = svdf(x, state0, wf, wt, bias, **k)
    np.testing.assert_array_equal(state0, kept)
    np.testing.assert_array_equal(y_wrapped, y_ref)
    assert svdf_s8_scratch_bytes(input_size) == 2 * input_size == native.call("mf_svdf_s8_scratch_bytes", input_size)
    for backend in ("numba", "c"):
        state = state0.copy()
        y = np.empty((batches, units), np.int8)
        scratch = np.full(svdf_s8_scratch_bytes(input_size) // 2, -12345, np.int16)
        run_kernel(backend, svdf_s8, scratch=scratch, batches=batches, input_size=input_size, units=units,
                   memory_size=memory, rank=rank, input_zp=k["input_zp"], output_zp=k["output_zp"],
                   state_mult=k["state_mult"], state_shift=k["state_shift"], output_mult=k["output_mult"],
                   output_shift=k["output_shift"], input=x.reshape(-1), state=state.reshape(-1),
                   weights_feature=wf.reshape(-1), weights_time=wt.reshape(-1), bias=bias, output=y.reshape(-1))
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(state, s_ref)


# --- svdf_params ---------------------------------------------------------------------------------------------

@given(scales=st.lists(st.floats(1e-6, 1.0), min_size=5, max_size=5))
def test_svdf_params_are_quantize_multiplier_of_the_products_in_either_precision(scales):
    s_in, s_wf, s_state, s_wt, s_out = (np.float32(s) for s in scales)
    products = {
        "float32": (float(np.float32(np.float32(s_in * s_wf) / s_state)),
                    float(np.float32(np.float32(s_state * s_wt) / s_out))),
        "double": (float(s_in) * float(s_wf) / float(s_state), float(s_state) * float(s_wt) / float(s_out)),
    }
    for precision, (eff1, eff2) in products.items():
        p = svdf_params(*scales, precision=precision)
        assert (p["state_mult"], p["state_shift"]) == R.quantize_multiplier_exact(eff1)
        assert (p["output_mult"], p["output_shift"]) == R.quantize_multiplier_exact(eff2)


def test_svdf_params_refuses_a_bias_scale_tflm_refuses():
    svdf_params(0.05, 0.01, 0.002, 3e-5, 0.03, bias_scale=0.002 * 3e-5)
    with pytest.raises(ValueError, match="bias_scale"):
        svdf_params(0.05, 0.01, 0.002, 3e-5, 0.03, bias_scale=1e-3)
    with pytest.raises(ValueError, match="state_scale"):
        svdf_params(0.05, 0.01, 0.0, 3e-5, 0.03)
    with pytest.raises(ValueError, match="precision"):
        svdf_params(0.05, 0.01, 0.002, 3e-5, 0.03, precision="float64")
    with pytest.raises(ValueError, match="effective_scale_1"):
        svdf_params(1e30, 1.0, 1e-9, 3e-5, 0.03)


# --- the wrapper's refusals -----------------------------------------------------------------------------------

def _args(**changes):
    a = dict(input=np.zeros((2, 3), np.int8), state=np.zeros((2, 4 * 4), np.int16),
             weights_feature=np.ones((4, 3), np.int8),
             weights_time=np.ones((4, 4), np.int16), bias=np.zeros(2, np.int32), rank=2, input_zp=0, output_zp=0,
             state_mult=2**30, state_shift=-1, output_mult=2**30, output_shift=-1)
    a.update(changes)
    return a


@pytest.mark.parametrize("changes, message", [
    (dict(input=np.zeros((2, 3), np.int16)), "input must have dtype int8"),
    (dict(state=np.zeros((2, 4 * 4), np.int8)), "state must have dtype int16"),
    (dict(state=np.zeros((2, 15), np.int16)), "state must have shape"),
    (dict(weights_feature=np.ones((4, 2), np.int8)), "weights_feature must have shape"),
    (dict(weights_time=np.ones((4, 4), np.int8)), "weights_time must have dtype int16"),
    (dict(rank=3), "rank 3 must divide"),
    (dict(rank=0), "rank must be in"),
    (dict(bias=np.zeros(4, np.int32)), "bias must have 2 values"),
    (dict(input_zp=128), "input_zp must be in"),
    (dict(output_zp=-129), "output_zp must be in"),
    (dict(state_mult=-1), "state_mult must be in"),
    (dict(state_shift=31), "state_shift must be in"),
    (dict(output_mult=2**31), "output_mult must be in"),
    (dict(output_shift=-32), "output_shift must be in"),
    (dict(input=np.zeros((1, 65794), np.int8), state=np.zeros((1, 16), np.int16),
          weights_feature=np.ones((4, 65794), np.int8)), "more than 65793"),
    (dict(backend="cuda"), "backend must be one of"),
])
def test_svdf_refuses_what_the_kernels_cannot_take(changes, message):
    with pytest.raises(ValueError, match=message):
        svdf(**_args(**changes))


# --- against LiteRT's and TFLite Micro's reference SVDF -------------------------------------------------------

def _tflite_svdf(scales, zps, wf, wt, bias, batches, rank):
    """A one-SVDF .tflite (benchmarks/tflite_builder.py), with the state marked is_variable (the builder has
    no such field; LiteRT's own schema sets it) and RELU fused, as TFLite's int8 SVDF requires.
    Returns (model bytes, state tensor index)."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
    import flatbuffers
    import tflite_builder as T
    from ai_edge_litert import schema_py_generated as S

    s_in, s_wf, s_state, s_wt, s_out = scales
    z_in, z_out = zps
    filters, memory = wt.shape
    b = T.TFLiteBuilder()
    x = b.tensor("x", "int8", (batches, wf.shape[1]), scale=s_in, zero_point=z_in)
    w_f = b.constant("weights_feature", wf, scale=s_wf)
    w_t = b.constant("weights_time", wt, scale=s_wt)
    bi = b.constant("bias", bias, scale=float(np.float32(np.float32(s_state) * np.float32(s_wt))))
    state = b.tensor("state", "int16", (batches, memory * filters), scale=s_state, zero_point=0)
    y = b.tensor("y", "int8", (batches, filters // rank), scale=s_out, zero_point=z_out)
    b.operator("SVDF", [x, w_f, w_t, bi, state], [y], "SVDFOptions", dict(rank=rank, fused_activation_function=1))
    b.set_io([x], [y])
    model = S.ModelT.InitFromPackedBuf(b.to_bytes(), 0)
    model.subgraphs[0].tensors[state].isVariable = True
    fb = flatbuffers.Builder(1024)
    fb.Finish(model.Pack(fb), file_identifier=b"TFL3")
    return bytes(fb.Output()), state


def _litert_steps(data, state_index, inputs):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=data, num_threads=1, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    results = []
    for x in inputs:
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        results.append((it.get_tensor(it.get_output_details()[0]["index"]).copy(), it.get_tensor(state_index).copy()))
    return results


def _tflm_steps(data, state_index, inputs):
    from tflite_micro.python.tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(data, arena_size=1 << 20,
                                        intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    results = []
    for x in inputs:
        it.set_input(x, 0)
        it.invoke()
        results.append((it.get_output(0).copy(), it.GetTensor(state_index, 0)["tensor_data"].copy()))
    return results


def _importable(name):
    try:
        __import__(name)
    except ImportError:
        return False
    return True


@st.composite
def tflite_cases(draw):
    case = draw(svdf_cases())
    units = case["wt"].shape[0] // case["kwargs"]["rank"]
    # Scales of a plausible model, wide enough to saturate the state and the output now and then; the bias
    # always present (TFLite's and TFLM's Prepare read its scale unconditionally).
    scales = (draw(st.floats(1e-3, 0.1)), draw(st.floats(1e-3, 0.05)), draw(st.floats(1e-4, 0.05)),
              draw(st.floats(1e-6, 1e-3)), draw(st.floats(1e-3, 0.2)))
    if case["bias"] is None:
        case["bias"] = np.zeros(units, np.int32)
    case["scales"] = scales
    case["inputs"] = case["inputs"] + [case["inputs"][0]]  # at least two invokes
    return case


def _wrapper_steps(inputs, wf, wt, bias, rank, input_zp, output_zp, params):
    """The wrapper over consecutive steps from an all-zero state (both interpreters reset an int16 variable to
    0 after allocation): [(output, state)] after each."""
    state = np.zeros((inputs[0].shape[0], wt.size), np.int16)
    results = []
    for x in inputs:
        y, state = svdf(x, state, wf, wt, bias, rank=rank, input_zp=input_zp, output_zp=output_zp, **params)
        results.append((y, state))
    return results


def _assert_steps_equal(got, expected):
    for (y, s), (y_ref, s_ref) in zip(got, expected, strict=True):
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(s, s_ref)


def _check_against_interpreters(scales, inputs, wf, wt, bias, rank, input_zp, output_zp):
    """LiteRT with svdf_params' float32 multipliers, TFLM (where installed) with its double ones: outputs and
    the variable state after every invoke."""
    data, state_index = _tflite_svdf(scales, (input_zp, output_zp), wf, wt, bias, inputs[0].shape[0], rank)
    bias_scale = np.float32(scales[2]) * np.float32(scales[3])
    lite = _wrapper_steps(inputs, wf, wt, bias, rank, input_zp, output_zp, svdf_params(*scales, bias_scale))
    _assert_steps_equal(_litert_steps(data, state_index, inputs), lite)
    if _importable("tflite_micro"):
        micro = _wrapper_steps(inputs, wf, wt, bias, rank, input_zp, output_zp,
                               svdf_params(*scales, bias_scale, precision="double"))
        _assert_steps_equal(_tflm_steps(data, state_index, inputs), micro)


@pytest.mark.skipif(not _importable("ai_edge_litert"), reason="needs ai-edge-litert")
@settings(max_examples=300)
@given(case=tflite_cases())
def test_svdf_equals_litert_and_tflm_reference_over_invokes(case):
    k = case["kwargs"]
    _check_against_interpreters(case["scales"], case["inputs"], case["wf"], case["wt"], case["bias"], k["rank"],
                                k["input_zp"], k["output_zp"])


@pytest.mark.skipif(not _importable("ai_edge_litert"), reason="needs ai-edge-litert")
def test_litert_and_tflm_wrap_the_time_sums_as_the_kernel_does():
    """The int32 wrap measured: a model whose accumulators leave int32 on most invokes (full-scale time weights
    against a state the feature matmul saturates), at an output multiplier that keeps the wrapped sums inside
    the int8 range, gives the kernel's bytes in LiteRT and TFLM."""
    batches, input_size, units, rank, memory = 2, 4, 2, 2, 8
    filters = units * rank
    wt = np.full((filters, memory), 32767, np.int16)
    wt[1] = -32768
    wt[2, ::3] = -32768
    wf = np.full((filters, input_size), 127, np.int8)
    bias = np.array([2**31 - 7, -(2**30)], np.int32)
    inputs = [np.full((batches, input_size), 127, np.int8), np.full((batches, input_size), 120, np.int8)] * 5
    scales = (0.1, 0.05, 1e-4, 1e-5, 0.02)  # eff1 = 50: the state saturates at once; eff2 = 5e-8: 2^30 -> 54
    params = svdf_params(*scales)
    state, wrapped = np.zeros((batches, memory * filters), np.int16), 0
    for x in inputs:
        wrapped += time_sums_exceed_int32(x, state, wf, wt, bias, rank, -128, params["state_mult"],
                                          params["state_shift"])
        _, state = svdf(x, state, wf, wt, bias, rank=rank, input_zp=-128, output_zp=5, **params)
    assert wrapped >= 5
    _check_against_interpreters(scales, inputs, wf, wt, bias, rank, -128, 5)


def _split_values(real_a, real_b, count, limit):
    """The first `count` positive integers below `limit` that MultiplyByQuantizedMultiplier rounds differently
    under the two multipliers."""
    pair_a, pair_b = R.quantize_multiplier_exact(real_a), R.quantize_multiplier_exact(real_b)
    assert pair_a != pair_b
    values = np.arange(1, limit, dtype=np.int64)
    rounded_a = R.multiply_by_quantized_multiplier(values, *pair_a)
    split = values[rounded_a != R.multiply_by_quantized_multiplier(values, *pair_b)]
    assert len(split) >= count
    return split[:count]


def _measured_precision(data, state_index, inputs, wf, wt, bias, params_by_precision):
    """Which precision's multipliers each interpreter's outputs and states follow (the two must disagree)."""
    runs = {"litert": _litert_steps(data, state_index, inputs)}
    if _importable("tflite_micro"):
        runs["tflm"] = _tflm_steps(data, state_index, inputs)
    expected = {p: _wrapper_steps(inputs, wf, wt, bias, 1, 0, 0, params) for p, params in params_by_precision.items()}
    a, b = expected.values()
    assert any(not np.array_equal(ya, yb) or not np.array_equal(sa, sb) for (ya, sa), (yb, sb) in zip(a, b))
    found = {}
    for runtime, got in runs.items():
        found[runtime] = [p for p, steps in expected.items()
                          if all(np.array_equal(y, ye) and np.array_equal(s, se)
                                 for (y, s), (ye, se) in zip(got, steps))]
    return found


@pytest.mark.skipif(not _importable("ai_edge_litert"), reason="needs ai-edge-litert")
def test_effective_scale_1_is_float32_in_litert_and_double_in_tflm():
    """Scales whose effective_scale_1 is 177 Q31 units apart in the two precisions, and sixteen filters whose
    feature sums (127 w + r for the input [127] * 15 + [1]) are values the two multipliers round differently:
    the sixteen newest state slots tell the precisions apart."""
    scales = (0.049796052277088165, 0.009956151247024536, 0.01646604761481285, 1e-4, 0.05)
    s_in, s_wf, s_state = (np.float32(s) for s in scales[:3])
    targets = _split_values(float(np.float32(np.float32(s_in * s_wf) / s_state)),
                            float(s_in) * float(s_wf) / float(s_state), 16, 240_000)
    filters, input_size, memory = 16, 16, 2
    wf = np.zeros((filters, input_size), np.int8)
    for f, t in enumerate(targets):
        w = int(round(t / 127))  # t = 127 w + (t - 127 w), w <= 1890 spread over 15 weights of at most 127
        wf[f, :15] = [w // 15 + (k < w % 15) for k in range(15)]
        wf[f, 15] = t - 127 * w
    x = np.array([[127] * 15 + [1]], np.int8)
    assert ((x.astype(np.int64) @ wf.astype(np.int64).T).reshape(-1) == targets).all()
    wt, bias = np.ones((filters, memory), np.int16), np.zeros(filters, np.int32)
    data, state_index = _tflite_svdf(scales, (0, 0), wf, wt, bias, 1, 1)
    params = {p: svdf_params(*scales, precision=p) for p in ("float32", "double")}
    found = _measured_precision(data, state_index, [x], wf, wt, bias, params)
    assert found["litert"] == ["float32"]
    assert found.get("tflm", ["double"]) == ["double"]


@pytest.mark.skipif(not _importable("ai_edge_litert"), reason="needs ai-edge-litert")
def test_effective_scale_2_is_float32_in_litert_and_double_in_tflm():
    """Scales whose effective_scale_2 (about 2.9e-5) is 175 Q31 units apart in the two precisions, a zero
    feature path (so the state stays 0 and each accumulator is its unit's bias), and sixteen biases the two
    multipliers round to different outputs."""
    scales = (0.05, 0.01, 0.021159205585718155, 9.362315904581919e-05, 0.06933403015136719)
    s_state, s_wt, s_out = (np.float32(s) for s in scales[2:])
    targets = _split_values(float(np.float32(np.float32(s_state * s_wt) / s_out)),
                            float(s_state) * float(s_wt) / float(s_out), 16, 4_000_000)
    units, memory = 16, 2
    wf, wt, x = np.zeros((units, 3), np.int8), np.ones((units, memory), np.int16), np.zeros((1, 3), np.int8)
    bias = targets.astype(np.int32)
    data, state_index = _tflite_svdf(scales, (0, 0), wf, wt, bias, 1, 1)
    params = {p: svdf_params(*scales, precision=p) for p in ("float32", "double")}
    found = _measured_precision(data, state_index, [x], wf, wt, bias, params)
    assert found["litert"] == ["float32"]
    assert found.get("tflm", ["double"]) == ["double"]
