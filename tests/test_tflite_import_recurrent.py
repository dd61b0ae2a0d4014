"""compile_tflite's UNIDIRECTIONAL_SEQUENCE_LSTM and SVDF (compiler/tflite_recurrent.py): .tflite files built by the
recurrent kernels' own tests (tests/test_lstm.py, test_lstm_16x8.py, test_svdf.py: their drawn layers, scales and
builders), compiled, and run over several consecutive invokes (the state carried in variables) on both of microflat's
runtimes, which must agree byte for byte, against TFLite itself:

  int8 LSTM (8x8_16)  LiteRT's reference kernels (BUILTIN_REF): the only integer LSTM microflat's kernel follows;
  16x8 LSTM           TFLite Micro (LiteRT has no int16 LSTM);
  SVDF                TFLite Micro, whose double-precision effective scales the importer follows, and LiteRT too
                      where its float32 scales give the same multipliers (scales whose products are exact in float32);
                      one witness where the two differ shows which one the import takes.

Batches of 1 to 3 sequences in both layouts (time major or not), inputs random over the whole range with both ends.
The imported model's inputs and outputs are the file's (dtype, shape, quantization); the states are not among them.
Then the refusals: each LSTM or SVDF feature microflat does not map gives a CompileError naming the op's output and
the feature.
"""

from __future__ import annotations

import dataclasses
import importlib.util

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import test_lstm as L8
import test_lstm_16x8 as L16
from microflat.testing import int_reference as R
import test_svdf as SV
from microflat.testing.layer_cases import with_edges
from microflat.compiler.tflite_import import compile_tflite
from microflat.kernels import svdf_params
from microflat.runtime import CompileError, Interpreter

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("ai_edge_litert", "tflite_micro", "tflite")),
    reason="needs ai_edge_litert (LiteRT and its schema), tflite_micro (TFLM) and tflite (the compiler extra)")

INT8 = (-128, 127)
INT16 = (-(2**15), 2**15 - 1)


# --- helpers --------------------------------------------------------------------------------------------------

def _whole_range(draw, shape, bounds, dtype):
    """Uniform over the whole range from a drawn seed, both ends placed."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return with_edges(draw, rng.integers(bounds[0], bounds[1] + 1, shape).astype(dtype), *bounds)


def _edit(data: bytes, edit) -> bytes:
    """The file after edit(model, graph, op) changed its object form (the LiteRT wheel's schema)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as S

    model = S.ModelT.InitFromPackedBuf(data, 0)
    graph = model.subgraphs[0]
    edit(model, graph, graph.operators[0])
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _named(graph, name: str):
    return next(t for t in graph.tensors if (t.name.decode() if isinstance(t.name, bytes) else t.name) == name)


def _batched(data: bytes, batches: int, time_major: bool) -> bytes:
    """A batch-1 LSTM file (the kernel tests' builders) with `batches` sequences: x and y [B, T, .] (or [T, B, .]
    time major), h and c [B, C]."""
    def edit(model, graph, op):
        for name in ("x", "y"):
            t = _named(graph, name)
            t.shape = [int(d) for d in t.shape]
            t.shape[1 if time_major else 0] = batches
        for name in ("h", "c"):
            t = _named(graph, name)
            t.shape = [batches, int(t.shape[1])]
    return data if batches == 1 else _edit(data, edit)


def _runtimes(mfb: bytes):
    return [Interpreter(mfb, backend=backend) for backend in ("numba", "c")]


def _invoke_both(runtimes, x) -> np.ndarray:
    """One invoke on each runtime; Numba and C equal byte for byte."""
    numba_y, c_y = (r.invoke(x)[0] for r in runtimes)
    assert numba_y.dtype == c_y.dtype and numba_y.tobytes() == c_y.tobytes(), "C differs from Numba"
    return numba_y


def _same_interface(mfb_runtime, details_in, details_out):
    """The imported model's inputs and outputs are the file's: [(dtype, shape, scale, zero point)]."""
    def mine(details):
        return [(np.dtype(d["dtype"]).name, tuple(int(v) for v in d["shape"]), np.float32(d["scale"]),
                 int(d["zero_point"])) for d in details]
    assert mine(mfb_runtime.input_details) == details_in
    assert mine(mfb_runtime.output_details) == details_out


def _litert(data: bytes):
    from ai_edge_litert.interpreter import Interpreter as LiteRT
    from ai_edge_litert.interpreter import OpResolverType

    it = LiteRT(model_content=data, num_threads=1, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    return it


def _litert_details(details):
    return [(np.dtype(d["dtype"]).name, tuple(int(v) for v in d["shape"]), np.float32(d["quantization"][0]),
             int(d["quantization"][1])) for d in details]


# --- int8 LSTM against LiteRT ---------------------------------------------------------------------------------

@st.composite
def int8_lstm_cases(draw):
    """test_lstm's float layers (scales over decades, clip or none, an own hidden scale or h's), with the hidden
    intermediate at h's zero point (microflat's op adds y's: the other case is a refusal below)."""
    layer = draw(L8.float_layers(max_inputs=6, max_cells=6))
    if layer.hidden_zp is not None:
        layer = dataclasses.replace(layer, hidden_zp=layer.state_zp)
    return layer, draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.booleans())


@settings(max_examples=80, deadline=None)
@given(case=int8_lstm_cases(), data=st.data())
def test_an_int8_lstm_imports_equal_to_litert_over_invokes(case, data):
    layer, steps, batches, time_major = case
    tfl = _batched(L8._tflite_lstm(layer, steps, time_major)[0], batches, time_major)
    litert = _litert(tfl)
    runtimes = _runtimes(compile_tflite(tfl))
    _same_interface(runtimes[0], _litert_details(litert.get_input_details()),
                    _litert_details(litert.get_output_details()))
    x_detail, y_detail = litert.get_input_details()[0], litert.get_output_details()[0]
    for _ in range(data.draw(st.integers(2, 3), label="invokes")):
        x = _whole_range(data.draw, tuple(x_detail["shape"]), INT8, np.int8)
        litert.set_tensor(x_detail["index"], x)
        litert.invoke()
        np.testing.assert_array_equal(_invoke_both(runtimes, x), litert.get_tensor(y_detail["index"]))


def test_the_states_the_file_also_outputs_are_their_values_after_each_invoke():
    """TFLite updates h and c in place, so a graph output naming them reads the new state: the import's outputs
    are the file's three (name, dtype, shape, quantization) and equal LiteRT's over three invokes."""
    def edit(model, graph, op):
        graph.outputs = [int(graph.outputs[0])] + [graph.tensors.index(_named(graph, n)) for n in ("h", "c")]
    tfl = _edit(_int8_file(), edit)
    litert = _litert(tfl)
    runtimes = _runtimes(compile_tflite(tfl))
    assert [d["name"] for d in runtimes[0].output_details] == ["y", "h", "c"]
    _same_interface(runtimes[0], _litert_details(litert.get_input_details()),
                    _litert_details(litert.get_output_details()))
    rng = np.random.default_rng(11)
    for _ in range(3):
        x = rng.integers(-128, 128, (1, 2, 2)).astype(np.int8)
        litert.set_tensor(litert.get_input_details()[0]["index"], x)
        litert.invoke()
        numba_out, c_out = (r.invoke(x) for r in runtimes)
        for mine, theirs, d in zip(numba_out, c_out, litert.get_output_details(), strict=True):
            assert mine.tobytes() == theirs.tobytes()
            np.testing.assert_array_equal(mine, litert.get_tensor(d["index"]))


# --- 16x8 LSTM against TFLite Micro ---------------------------------------------------------------------------

def _tflm(data: bytes):
    from tflite_micro.python.tflite_micro import runtime

    return runtime.Interpreter.from_bytes(data, arena_size=1 << 20)


@settings(max_examples=60, deadline=None)
@given(layer=L16.float_layers(max_inputs=6, max_cells=6, exponents=st.sampled_from([-20, -15, -12, -11, -9, 0])),
       steps=st.integers(1, 4), batches=st.integers(1, 3), time_major=st.booleans(), data=st.data())
def test_a_16x8_lstm_imports_equal_to_tflite_micro_over_invokes(layer, steps, batches, time_major, data):
    tfl = _batched(L16._tflite_lstm_16x8(layer, steps, time_major), batches, time_major)
    tflm = _tflm(tfl)
    runtimes = _runtimes(compile_tflite(tfl))
    inputs = layer.wx.shape[2]
    shape = (steps, batches, inputs) if time_major else (batches, steps, inputs)
    cells = layer.wx.shape[1]
    q16 = (np.float32(layer.state_scale), 0)
    _same_interface(runtimes[0], [("int16", shape, np.float32(layer.input_scale), 0)],
                    [("int16", shape[:2] + (cells,), *q16)])
    for _ in range(data.draw(st.integers(2, 3), label="invokes")):
        x = _whole_range(data.draw, shape, INT16, np.int16)
        tflm.set_input(x, 0)
        tflm.invoke()
        np.testing.assert_array_equal(_invoke_both(runtimes, x), tflm.get_output(0))


# --- SVDF against TFLite Micro (and LiteRT where its multipliers are the same) --------------------------------

def _mantissa_scale(lo_exp: int, hi_exp: int):
    """m 2^-k with a 12-bit m: a product of two such scales, and its quotient by a power of two, are exact in
    float32, so LiteRT's float32 effective scales equal TFLM's double ones."""
    return st.tuples(st.integers(2**11, 2**12 - 1), st.integers(lo_exp, hi_exp)).map(lambda a: a[0] * 2.0 ** -a[1])


def _power_of_two(lo_exp: int, hi_exp: int):
    return st.integers(lo_exp, hi_exp).map(lambda k: 2.0**-k)


exact_svdf_scales = st.tuples(_mantissa_scale(16, 21), _mantissa_scale(17, 22), _power_of_two(4, 14),
                              _mantissa_scale(21, 30), _power_of_two(3, 10))


def _svdf_run(case, scales):
    """(microflat's outputs, TFLM's, LiteRT's, microflat's compiled with reference="litert") over the case's
    invokes."""
    k = case["kwargs"]
    inputs = case["inputs"]
    tfl, state = SV._tflite_svdf(scales, (k["input_zp"], k["output_zp"]), case["wf"], case["wt"], case["bias"],
                                 inputs[0].shape[0], k["rank"])
    got = []
    for reference in ("tflite-micro", "litert"):
        runtimes = _runtimes(compile_tflite(tfl, reference=reference))
        units = case["wt"].shape[0] // k["rank"]
        _same_interface(runtimes[0], [("int8", inputs[0].shape, np.float32(scales[0]), k["input_zp"])],
                        [("int8", (inputs[0].shape[0], units), np.float32(scales[4]), k["output_zp"])])
        got.append([_invoke_both(runtimes, x) for x in inputs])
    return (got[0], [y for y, _ in SV._tflm_steps(tfl, state, inputs)],
            [y for y, _ in SV._litert_steps(tfl, state, inputs)], got[1])


@settings(max_examples=200, deadline=None)
@given(case=SV.tflite_cases(), exact=st.booleans(), data=st.data())
def test_an_svdf_imports_equal_to_tflite_micro_and_litert_where_they_agree(case, exact, data):
    """test_svdf's cases (batches 1-2, rank 1-2, full-range weights, biases and inputs, int32-wrapping sums) at its
    drawn scales, or at scales where both interpreters' multipliers are the same (then LiteRT's bytes too). Compiled
    with reference="litert" (float32 effective scales), LiteRT's bytes at every scale."""
    scales = data.draw(exact_svdf_scales) if exact else case["scales"]
    same = svdf_params(*scales, precision="float32") == svdf_params(*scales, precision="double")
    assert same or not exact
    got, tflm, litert, got_litert = _svdf_run(case, scales)
    for mine, micro, lite, mine_litert in zip(got, tflm, litert, got_litert, strict=True):
        np.testing.assert_array_equal(mine, micro)
        np.testing.assert_array_equal(mine_litert, lite)
        if same:
            np.testing.assert_array_equal(mine, lite)


def test_an_svdf_import_follows_tflite_micro_where_litert_differs():
    """test_svdf's effective_scale_1 witness (177 Q31 units apart in the two precisions; sixteen filters whose
    feature sums the two multipliers round to different state values), one memory slot, effective_scale_2 exactly 1
    and each unit's bias minus its state value under LiteRT's float32 multiplier: LiteRT outputs 0 where TFLM
    outputs the one-unit difference. The import gives TFLM's outputs, which are not LiteRT's; compiled with
    reference="litert", LiteRT's."""
    s_state = 0.01646604761481285
    scales = (0.049796052277088165, 0.009956151247024536, s_state, 2.0**-10, float(np.float32(s_state)) * 2.0**-10)
    s_in, s_wf, s_st = (np.float32(s) for s in scales[:3])
    single = float(np.float32(np.float32(s_in * s_wf) / s_st))
    targets = SV._split_values(single, float(s_in) * float(s_wf) / float(s_st), 16, 240_000)
    filters, input_size = 16, 16
    wf = np.zeros((filters, input_size), np.int8)
    for f, t in enumerate(targets):
        w = int(round(t / 127))
        wf[f, :15] = [w // 15 + (k < w % 15) for k in range(15)]
        wf[f, 15] = t - 127 * w
    x = np.array([[127] * 15 + [1]], np.int8)
    bias = -R.multiply_by_quantized_multiplier(targets, *R.quantize_multiplier_exact(single)).astype(np.int32)
    case = dict(inputs=[x, x], wf=wf, wt=np.ones((filters, 1), np.int16), bias=bias,
                kwargs=dict(rank=1, input_zp=0, output_zp=0))
    got, tflm, litert, got_litert = _svdf_run(case, scales)
    for mine, micro, lite, mine_litert in zip(got, tflm, litert, got_litert, strict=True):
        np.testing.assert_array_equal(lite, 0)
        np.testing.assert_array_equal(mine, micro)
        np.testing.assert_array_equal(mine_litert, lite)  # reference="litert": LiteRT's float32 scales
        assert np.count_nonzero(mine) == filters


# --- refusals -------------------------------------------------------------------------------------------------

def _int8_file(**changes) -> bytes:
    rng = np.random.default_rng(5)
    layer = L8.FloatLayer(
        wx=rng.integers(-127, 128, (4, 3, 2)).astype(np.int8), wh=rng.integers(-127, 128, (4, 3, 3)).astype(np.int8),
        bias=rng.integers(-3000, 3000, (4, 3)).astype(np.int32), input_scale=0.03, input_zp=-5,
        input_weight_scales=[0.004, 0.005, 0.006, 0.007], recurrent_weight_scales=[0.008, 0.009, 0.01, 0.011],
        state_scale=1 / 128, state_zp=3, cell_exponent=-11, hidden_scale=None, hidden_zp=None, cell_clip=0.0)
    return L8._tflite_lstm(dataclasses.replace(layer, **changes), 2, False)[0]


def _16x8_file() -> bytes:
    rng = np.random.default_rng(6)
    layer = L16.FloatLayer(
        wx=rng.integers(-127, 128, (4, 3, 2)).astype(np.int8), wh=rng.integers(-127, 128, (4, 3, 3)).astype(np.int8),
        bias=rng.integers(-2**20, 2**20, (4, 3)).astype(np.int64), input_scale=2.0**-12,
        input_weight_scales=[0.004] * 4, recurrent_weight_scales=[0.008] * 4, state_scale=2.0**-15,
        cell_exponent=-11, cell_clip=0.0)
    return L16._tflite_lstm_16x8(layer, 2, False)


def _add_tensor(model, graph, name, dtype, shape, data=None, scale=1.0, zero_point=0):
    return L8.schema_tensor(model, graph, name, dtype, shape, scale, zero_point, data)


def _inputs_set(changes):
    """An edit setting operator inputs {position: tensor maker(model, graph) or -1}."""
    def edit(model, graph, op):
        op.inputs = [int(i) for i in op.inputs]
        for position, make in changes.items():
            op.inputs[position] = make if isinstance(make, int) else make(model, graph)
    return edit


def _int16_vector(name):
    from ai_edge_litert import schema_py_generated as S
    return lambda model, graph: _add_tensor(model, graph, name, S.TensorType.INT16, (3,), np.ones(3, np.int16))


def _options(**fields):
    def edit(model, graph, op):
        for k, v in fields.items():
            setattr(op.builtinOptions, k, v)
    return edit


def _per_channel(model, graph, op):
    t = graph.tensors[int(op.inputs[2])]
    t.quantization.scale, t.quantization.zeroPoint = [0.004, 0.005, 0.006], [0, 0, 0]
    t.quantization.quantizedDimension = 0


def _not_variable(name):
    def edit(model, graph, op):
        _named(graph, name).isVariable = False
    return edit


def _float_lstm(model, graph, op):
    from ai_edge_litert import schema_py_generated as S
    _named(graph, "x").type = S.TensorType.FLOAT32


def _no_intermediates(model, graph, op):
    op.intermediates = []


def _output_quantization(model, graph, op):
    _named(graph, "y").quantization.zeroPoint = [4]


def _projection(model, graph, op):
    from ai_edge_litert import schema_py_generated as S
    _inputs_set({16: lambda m, g: _add_tensor(m, g, "proj", S.TensorType.INT8, (3, 3), np.ones((3, 3), np.int8),
                                              0.01)})(model, graph, op)


def _cifg(model, graph, op):
    _inputs_set({1: -1, 5: -1, 12: -1})(model, graph, op)


INT8_REFUSALS = [
    ("cifg", _cifg, "CIFG"),
    ("peephole", _inputs_set({9: _int16_vector("p_i"), 10: _int16_vector("p_f"), 11: _int16_vector("p_o")}),
     "peephole"),
    ("projection", _projection, "projection"),
    ("layer-norm", _inputs_set({20: _int16_vector("ln_i"), 21: _int16_vector("ln_f"), 22: _int16_vector("ln_c"),
                                23: _int16_vector("ln_o")}), "layer norm"),
    ("sigmoid", _options(fusedActivationFunction=6), "fused activation 6"),
    ("relu", _options(fusedActivationFunction=1), "fused activation 1"),
    ("diagonal", _options(diagonalRecurrentTensors=True), "diagonal recurrent weights"),
    ("no-intermediates", _no_intermediates, "needs its 5 intermediates"),
    ("state-not-variable", _not_variable("h"), "must be a variable tensor"),
    ("float", _float_lstm, "float or hybrid LSTM"),
    ("per-channel", _per_channel, "one \\(per-tensor\\) scale"),
    ("output-quantization", _output_quantization, "is not h's"),
]


@pytest.mark.parametrize("edit, message", [(e, m) for _, e, m in INT8_REFUSALS], ids=[i for i, _, _ in INT8_REFUSALS])
def test_an_int8_lstm_feature_microflat_does_not_map_is_refused_by_name(edit, message):
    data = _edit(_int8_file(), edit)
    with pytest.raises(CompileError, match=message) as refused:
        compile_tflite(data)
    text = str(refused.value)
    assert text.count("UNIDIRECTIONAL_SEQUENCE_LSTM 'y': ") == 1 and "\n" not in text


def test_a_hidden_zero_point_other_than_hs_is_refused():
    """LiteRT adds intermediate 4's zero point to the hidden product; microflat's op adds y's (h's)."""
    with pytest.raises(CompileError, match="UNIDIRECTIONAL_SEQUENCE_LSTM 'y': the hidden intermediate 'hidden' "
                                           "has zero point 9, not h's 3"):
        compile_tflite(_int8_file(hidden_scale=0.01, hidden_zp=9))


def test_the_kernels_refusals_name_the_op():
    """A cell scale outside the 8x8_16 kernel's 2^-15 .. 2^-9 (TFLite's ApplyTanh leaves its buffer unwritten)."""
    with pytest.raises(CompileError, match=r"UNIDIRECTIONAL_SEQUENCE_LSTM 'y': lstm_8x8_16_params: cell_scale must "
                                           r"be 2\^p"):
        compile_tflite(_int8_file(cell_exponent=-8))


def test_a_16x8_lstm_with_an_input_zero_point_is_refused():
    def edit(model, graph, op):
        _named(graph, "x").quantization.zeroPoint = [2]
    with pytest.raises(CompileError, match="UNIDIRECTIONAL_SEQUENCE_LSTM 'y': int16 tensor 'x' has zero point 2"):
        compile_tflite(_edit(_16x8_file(), edit))


def _svdf_file():
    rng = np.random.default_rng(7)
    wf, wt = rng.integers(-127, 128, (4, 3)).astype(np.int8), rng.integers(-3000, 3000, (4, 2)).astype(np.int16)
    return SV._tflite_svdf((0.02, 0.01, 2.0**-10, 2.0**-14, 0.05), (7, -3), wf, wt, np.zeros(2, np.int32), 1, 2)


@pytest.mark.parametrize("edit, message", [
    (_not_variable("state"), "SVDF 'y': state 'state' must be a variable tensor"),
    (lambda m, g, op: setattr(_named(g, "state"), "type", 9), "SVDF 'y': int8 state .* is not mapped"),
    (lambda m, g, op: setattr(_named(g, "x"), "type", 0), "SVDF 'y': a hybrid or float SVDF"),
], ids=["state-not-variable", "int8-state", "float"])
def test_an_svdf_feature_microflat_does_not_map_is_refused_by_name(edit, message):
    data, _ = _svdf_file()
    with pytest.raises(CompileError, match=message) as refused:
        compile_tflite(_edit(data, edit))
    assert str(refused.value).count("SVDF 'y': ") == 1
