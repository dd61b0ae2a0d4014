""".tflite in, TFLite's 16x8 mode (compiler/tflite_import.py): int16 activations at zero point 0, int8 weights and
int64 biases, compiled by compile_tflite and run by both of microflat's runtimes (equal byte for byte) on random
int16 inputs holding -32768 and 32767, against TFLite itself.

The reference is LiteRT's reference op resolver (BUILTIN_REF), but for FULLY_CONNECTED and int8 -> int16 QUANTIZE,
which are held to TFLite Micro: LiteRT 2.3's int16 FULLY_CONNECTED rounds differently from TFLite's own source
(tests/test_litert_16x8.py pins that down) and LiteRT has no int8 -> int16 QUANTIZE. Every op compiled with
reference="litert" is held to LiteRT's reference, FULLY_CONNECTED included. The single-op files are
test_litert_16x8.py's (BUILDERS: one .tflite per op at drawn quantizations and shapes); here they go through the
importer rather than beside a hand-written .mfb. What the importer refuses (ops without an int16 form, int32 16x8
biases, ADD / SUB's power-of-two form, raw int16 copies across scales) is refused by name, and where the refusal
rests on TFLite computing something else, that difference is shown on TFLite's own outputs.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

pytest.importorskip("ai_edge_litert")
import test_litert_16x8 as L  # noqa: E402  (tests/ is on sys.path; it puts benchmarks/ there too)
from tflite_builder import PADDING, TFLiteBuilder  # noqa: E402

from microflat import kernels as K  # noqa: E402
from microflat.compiler.tflite_import import compile_tflite  # noqa: E402
from microflat.runtime import CompileError, Interpreter  # noqa: E402

EXAMPLES = 12
RELU, RELU_N1_TO_1, RELU6 = 1, 2, 3  # tflite.ActivationFunctionType
I16 = (-(2**15), 2**15 - 1)


def litert_all(data: bytes, inputs) -> list[np.ndarray]:
    """Every output of the file through LiteRT's reference kernels."""
    it = L.LiteRTInterpreter(model_content=data, num_threads=1,
                             experimental_op_resolver_type=L.OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    for d, a in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], a)
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()]


def tflm_all(data: bytes, inputs) -> list[np.ndarray]:
    """The output of a one-output file through TFLite Micro."""
    pytest.importorskip("tflite_micro")
    return [L.tflm(data, inputs)]


def check(tflite: bytes, inputs, reference=litert_all, compiled_for: str = "tflite-micro"):
    """compile_tflite(..., reference=compiled_for)'s .mfb on both runtimes equals the reference on every output."""
    mfb = compile_tflite(tflite, reference=compiled_for)
    want = reference(tflite, inputs)
    got = Interpreter(mfb, backend="numba").invoke(*inputs)
    got_c = Interpreter(mfb, backend="c").invoke(*inputs)
    assert len(got) == len(want)
    for k, (g, c, w) in enumerate(zip(got, got_c, want)):
        assert c.tobytes() == g.tobytes(), f"output {k}: C differs from Numba"
        assert g.dtype == w.dtype and g.shape == w.shape, f"output {k}: {g.dtype}{g.shape} vs {w.dtype}{w.shape}"
        bad = np.argwhere(g != w)
        assert bad.size == 0, f"output {k}: {len(bad)} values differ, first at {bad[0].tolist()}: " \
                              f"{g[tuple(bad[0])]} vs {w[tuple(bad[0])]}"


# --- every 16x8 op of test_litert_16x8.py, through the importer ------------------------------------------------

@pytest.mark.parametrize("op", list(L.BUILDERS))
@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_a_16x8_op_compiled_from_tflite_equals_tflite(op, data, seed):
    rng = np.random.default_rng(seed)
    both, inputs = L.BUILDERS[op](op, data.draw, rng)
    check(both.t.to_bytes(), inputs, tflm_all if op == "FULLY_CONNECTED" else litert_all)
    check(both.t.to_bytes(), inputs, litert_all, compiled_for="litert")  # LiteRT's reference FC rounds once


@pytest.mark.parametrize("op", ["ADD", "SUB"])
@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_int16_add_and_sub_with_the_default_pot_flag_and_general_scales_take_the_general_form(op, data, seed):
    """pot_scale_int16 left at the schema's default (true): TFLite still takes the general form unless all three
    scales are powers of two."""
    rng = np.random.default_rng(seed)
    scales = [data.draw(L.scales) for _ in range(3)]
    assume(not all(K.activations_s16.checked_log2(s)[0] for s in scales))
    shape = (1, data.draw(st.integers(1, 3)), data.draw(st.integers(1, 4)), data.draw(st.integers(1, 5)))
    b = TFLiteBuilder()
    a, c, y = (b.tensor(n, "int16", shape, scale=s) for n, s in zip("acy", scales))
    b.operator(op, [a, c], [y], "AddOptions" if op == "ADD" else "SubOptions")
    b.set_io([a, c], [y])
    check(b.to_bytes(), [L.int16_input(rng, shape), L.int16_input(rng, shape)])


# --- fused activations and SAME padding ------------------------------------------------------------------------

def _spatial(draw, rng, op, padding, fused):
    """A 16x8 CONV_2D or DEPTHWISE_CONV_2D (per-channel weights, int64 bias), or an int16 pool, at drawn stride,
    dilation (the convolutions'), padding and fused activation."""
    h, w, c = draw(st.integers(2, 7)), draw(st.integers(2, 7)), draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = draw(st.integers(1, 2))
    pool = op.endswith("POOL_2D")
    dilation = 1 if pool else draw(st.integers(1, 2))
    if padding == "VALID":
        assume((kh - 1) * dilation < h and (kw - 1) * dilation < w)
        oh, ow = (h - (kh - 1) * dilation - 1) // stride + 1, (w - (kw - 1) * dilation - 1) // stride + 1
    else:
        oh, ow = -(-h // stride), -(-w // stride)
    s_in = draw(L.scales)
    s_out = s_in if pool else draw(L.scales)
    b = TFLiteBuilder()
    x = b.tensor("x", "int16", (1, h, w, c), scale=s_in)
    geometry = dict(padding=PADDING[padding], stride_w=stride, stride_h=stride, fused_activation_function=fused)
    if pool:
        o = c
        y = b.tensor("y", "int16", (1, oh, ow, o), scale=s_out)
        b.operator(op, [x], [y], "Pool2DOptions", dict(geometry, filter_width=kw, filter_height=kh))
    else:
        if op == "CONV_2D":
            o = draw(st.integers(1, 5))
            shape, axis, table, extra = (o, kh, kw, c), 0, "Conv2DOptions", {}
        else:
            o = c * draw(st.integers(1, 2))
            shape, axis, table, extra = (1, kh, kw, o), 3, "DepthwiseConv2DOptions", dict(depth_multiplier=o // c)
        w_scale = np.array([L.f32(draw(L.scales) * 0.1) for _ in range(o)], np.float32)
        wt = b.constant("w", rng.integers(-127, 128, size=shape).astype(np.int8), scale=w_scale,
                        zero_point=np.zeros(o, np.int64), axis=axis)
        bt = b.constant("b", rng.integers(-(2**20), 2**20, size=o).astype(np.int64),
                        scale=(np.float64(s_in) * w_scale.astype(np.float64)).astype(np.float32),
                        zero_point=np.zeros(o, np.int64))
        y = b.tensor("y", "int16", (1, oh, ow, o), scale=s_out)
        b.operator(op, [x, wt, bt], [y], table, dict(geometry, dilation_w_factor=dilation,
                                                     dilation_h_factor=dilation, **extra))
    b.set_io([x], [y])
    return b.to_bytes(), [L.int16_input(rng, (1, h, w, c))]


@pytest.mark.parametrize("op", ["CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D"])
@settings(max_examples=2 * EXAMPLES, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1), padding=st.sampled_from(["SAME", "VALID"]),
       fused=st.sampled_from([0, RELU, RELU_N1_TO_1, RELU6]))
def test_16x8_padding_and_fused_activations_equal_tflite(op, data, seed, padding, fused):
    """The fused activation clamps inside int16 (CalculateActivationRangeQuantized with [-32768, 32767]); SAME's
    padding is ComputePaddingHeightWidth's; the drawn output scales put RELU6's and RELU_N1_TO_1's bounds inside
    int16's range and beyond it."""
    tflite, inputs = _spatial(data.draw, np.random.default_rng(seed), op, padding, fused)
    check(tflite, inputs)


# --- copies ----------------------------------------------------------------------------------------------------

def _copy(op, draw, rng):
    """One copying op on an int16 tensor of rank 2 to 4 (its constant operands drawn to fit), all at one scale."""
    rank = draw(st.integers(2, 4))
    shape = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    s = draw(L.scales)
    b = TFLiteBuilder()
    x = b.tensor("x", "int16", shape, scale=s)
    ins, outs, inputs = [x], [], [L.int16_input(rng, shape)]

    def out(name, out_shape):
        outs.append(b.tensor(name, "int16", out_shape, scale=s))
        return outs[-1]

    axis = draw(st.integers(0, rank - 1))
    if op == "RESHAPE":
        new = (int(np.prod(shape)),) if draw(st.booleans()) else shape[::-1]
        b.operator(op, [x, b.constant("shape", np.array(new, np.int32))], [out("y", new)])
    elif op == "SQUEEZE":
        assume(any(d != 1 for d in shape))
        b.operator(op, [x], [out("y", tuple(d for d in shape if d != 1))])
    elif op == "EXPAND_DIMS":
        b.operator(op, [x, b.constant("axis", np.array([axis], np.int32))],
                   [out("y", shape[:axis] + (1,) + shape[axis:])])
    elif op == "STRIDED_SLICE":
        begin = [draw(st.integers(0, d - 1)) for d in shape]
        step = [draw(st.sampled_from([1, 2])) for _ in shape]
        size = [len(range(b0, d, s0)) for b0, d, s0 in zip(begin, shape, step)]
        b.operator(op, [x, b.constant("begin", np.array(begin, np.int32)),
                        b.constant("end", np.array(shape, np.int32)), b.constant("strides", np.array(step, np.int32))],
                   [out("y", tuple(size))], "StridedSliceOptions")
    elif op == "SLICE":
        begin = [draw(st.integers(0, d - 1)) for d in shape]
        size = [draw(st.integers(1, d - b0)) for b0, d in zip(begin, shape)]
        b.operator(op, [x, b.constant("begin", np.array(begin, np.int32)),
                        b.constant("size", np.array(size, np.int32))],
                   [out("y", tuple(size))], "SliceOptions")
    elif op in ("SPLIT", "UNPACK"):
        n = shape[axis]
        piece = shape[:axis] + ((1,) if op == "SPLIT" else ()) + shape[axis + 1:]
        ys = [out(f"y{k}", piece) for k in range(n)]
        if op == "SPLIT":
            b.operator(op, [b.constant("axis", np.array(axis, np.int32)), x], ys, "SplitOptions", dict(num_splits=n))
        else:
            b.operator(op, [x], ys, "UnpackOptions", dict(num=n, axis=axis))
    elif op == "SPLIT_V":
        cut = draw(st.integers(0, shape[axis]))
        sizes = [v for v in (cut, shape[axis] - cut) if v]
        ys = [out(f"y{k}", shape[:axis] + (v,) + shape[axis + 1:]) for k, v in enumerate(sizes)]
        b.operator(op, [x, b.constant("sizes", np.array(sizes, np.int32)),
                        b.constant("axis", np.array(axis, np.int32))],
                   ys, "SplitVOptions", dict(num_splits=len(sizes)))
    else:  # CONCATENATION, PACK: a second input of the drawn kind
        other = shape[:axis] + (draw(st.integers(1, 3)),) + shape[axis + 1:] if op == "CONCATENATION" else shape
        x2 = b.tensor("x2", "int16", other, scale=s)
        ins.append(x2)
        inputs.append(L.int16_input(rng, other))
        if op == "CONCATENATION":
            y_shape = shape[:axis] + (shape[axis] + other[axis],) + shape[axis + 1:]
            b.operator(op, [x, x2], [out("y", y_shape)], "ConcatenationOptions", dict(axis=axis))
        else:
            b.operator(op, [x, x2], [out("y", shape[:axis] + (2,) + shape[axis:])], "PackOptions",
                       dict(values_count=2, axis=axis))
    b.set_io(ins, outs)
    return b.to_bytes(), inputs


@pytest.mark.parametrize("op", ["RESHAPE", "SQUEEZE", "EXPAND_DIMS", "STRIDED_SLICE", "SLICE", "SPLIT", "SPLIT_V",
                                "UNPACK", "PACK", "CONCATENATION"])
@settings(max_examples=EXAMPLES // 2, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_int16_copies_equal_tflite(op, data, seed):
    tflite, inputs = _copy(op, data.draw, np.random.default_rng(seed))
    check(tflite, inputs)


# --- QUANTIZE between integer types ----------------------------------------------------------------------------

@pytest.mark.parametrize("types", [("int8", "int16"), ("int8", "int8")], ids=lambda t: "->".join(t))
@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_quantize_from_int8_equals_tflite(types, data, seed):
    """int8 -> int16 (TFLite Micro's: LiteRT refuses it) and int8 -> int8 (LiteRT's reference, the importer's
    one-input requantizing CONCATENATION), M = s_in / s_out drawn both below and above 1, any int8 zero points;
    every int8 value in."""
    src, dst = types
    s_in = data.draw(L.scales)
    zp_in = data.draw(st.integers(-128, 127))
    s_out = L.f32(s_in * data.draw(st.floats(1 / 200, 4.0) if dst == "int16" else st.floats(0.3, 4.0)))
    zp_out = 0 if dst == "int16" else data.draw(st.integers(-128, 127))
    b = TFLiteBuilder()
    x = b.tensor("x", src, (1, 256), scale=s_in, zero_point=zp_in)
    y = b.tensor("y", dst, (1, 256), scale=s_out, zero_point=zp_out)
    b.operator("QUANTIZE", [x], [y])
    b.set_io([x], [y])
    x_in = np.random.default_rng(seed).permutation(np.arange(-128, 128)).astype(np.int8).reshape(1, 256)
    check(b.to_bytes(), [x_in], tflm_all if dst == "int16" else litert_all)


# --- a model ---------------------------------------------------------------------------------------------------

@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1), head=st.sampled_from(["SOFTMAX", "LOGISTIC"]))
def test_a_16x8_model_between_float_boundaries_equals_tflite(data, seed, head):
    """float32 in, QUANTIZE to int16, a 16x8 CONV_2D (SAME, RELU), an int16 ADD of it and the quantized input, an
    int16 AVERAGE_POOL_2D, RESHAPE, SOFTMAX or LOGISTIC at Q0.15, and out twice: DEQUANTIZE to float32 and QUANTIZE
    to int8."""
    rng = np.random.default_rng(seed)
    draw = data.draw
    h, w, c = draw(st.integers(2, 6)), draw(st.integers(2, 6)), draw(st.integers(1, 4))
    s_q, s_conv, s_add = (draw(L.activation_scales) for _ in range(3))
    b = TFLiteBuilder()
    x = b.tensor("x", "float32", (1, h, w, c))
    q = b.tensor("q", "int16", (1, h, w, c), scale=s_q)
    b.operator("QUANTIZE", [x], [q])
    w_scale = np.array([L.f32(draw(L.scales) * 0.1) for _ in range(c)], np.float32)
    wt = b.constant("w", rng.integers(-127, 128, size=(c, 3, 3, c)).astype(np.int8), scale=w_scale,
                    zero_point=np.zeros(c, np.int64), axis=0)
    bt = b.constant("b", rng.integers(-(2**16), 2**16, size=c).astype(np.int64),
                    scale=(np.float64(s_q) * w_scale.astype(np.float64)).astype(np.float32),
                    zero_point=np.zeros(c, np.int64))
    conv = b.tensor("conv", "int16", (1, h, w, c), scale=s_conv)
    b.operator("CONV_2D", [q, wt, bt], [conv], "Conv2DOptions", dict(padding=PADDING["SAME"], stride_w=1, stride_h=1,
                                                                     fused_activation_function=RELU))
    added = b.tensor("added", "int16", (1, h, w, c), scale=s_add)
    b.operator("ADD", [conv, q], [added], "AddOptions", dict(pot_scale_int16=0))
    pooled = b.tensor("pooled", "int16", (1, 1, 1, c), scale=s_add)
    b.operator("AVERAGE_POOL_2D", [added], [pooled], "Pool2DOptions",
               dict(padding=PADDING["VALID"], stride_w=1, stride_h=1, filter_width=w, filter_height=h))
    flat = b.tensor("flat", "int16", (1, c), scale=s_add)
    b.operator("RESHAPE", [pooled, b.constant("shape", np.array([1, c], np.int32))], [flat])
    probs = b.tensor("probs", "int16", (1, c), scale=L.Q015)
    if head == "SOFTMAX":
        b.operator("SOFTMAX", [flat], [probs], "SoftmaxOptions", dict(beta=1.0))
    else:
        b.operator("LOGISTIC", [flat], [probs])
    real = b.tensor("real", "float32", (1, c))
    b.operator("DEQUANTIZE", [probs], [real])
    small = b.tensor("small", "int8", (1, c), scale=1.0 / 256, zero_point=-128)
    b.operator("QUANTIZE", [probs], [small])
    b.set_io([x], [real, small])
    spread = draw(st.sampled_from([100.0, 4000.0, 40000.0]))  # 40000: past int16's range, QUANTIZE saturates
    x_in = (rng.standard_normal((1, h, w, c)) * s_q * spread).astype(np.float32)
    check(b.to_bytes(), [x_in])


# --- refusals --------------------------------------------------------------------------------------------------

def _lacking(op, table, extra):
    """An int16 op of one int16 input (and extra's operands) whose int16 form microflat's runtime has not."""
    b = TFLiteBuilder()
    x = b.tensor("x", "int16", (1, 2, 3, 4), scale=0.001)
    y = b.tensor("y", "int16", (1, 2, 3, 4) if op != "TRANSPOSE" else (1, 3, 2, 4), scale=0.001)
    b.operator(op, [x, *(e(b) for e in extra)], [y], table)
    b.set_io([x], [y])
    return b.to_bytes()


@pytest.mark.parametrize("op, table, extra", [
    ("MAXIMUM", None, (lambda b: b.tensor("x2", "int16", (1, 2, 3, 4), scale=0.001),)),
    ("TRANSPOSE", "TransposeOptions", (lambda b: b.constant("perm", np.array([0, 2, 1, 3], np.int32)),)),
    ("LEAKY_RELU", "LeakyReluOptions", ()),
    ("RELU", None, ()),
    ("SQUARED_DIFFERENCE", "SquaredDifferenceOptions", (lambda b: b.tensor("x2", "int16", (1, 2, 3, 4), scale=0.001),)),
], ids=lambda v: v if isinstance(v, str) else "")
def test_an_int16_op_microflat_lacks_is_refused_by_name(op, table, extra):
    with pytest.raises(CompileError, match=rf"{op} 'y': its int16 form \(TFLite's 16x8 mode\) is not one"):
        compile_tflite(_lacking(op, table, extra))


def _binary_pot(op, flag):
    b = TFLiteBuilder()
    a, c, y = (b.tensor(n, "int16", (1, 2, 3, 4), scale=2.0**e) for n, e in zip("acy", (-12, -14, -12)))
    b.operator(op, [a, c], [y], "AddOptions" if op == "ADD" else "SubOptions",
               None if flag is None else dict(pot_scale_int16=flag))
    b.set_io([a, c], [y])
    return b.to_bytes()


@pytest.mark.parametrize("op", ["ADD", "SUB"])
def test_int16_add_and_sub_in_their_power_of_two_form_are_refused_where_tflite_computes_otherwise(op):
    """All three scales powers of two and pot_scale_int16 true (the default): LiteRT takes its power-of-two form,
    which gives other values than the general form (pot_scale_int16 false, which the importer maps)."""
    with pytest.raises(CompileError, match=rf"{op} 'y': int16 with pot_scale_int16 and power-of-two scales"):
        compile_tflite(_binary_pot(op, None))
    rng = np.random.default_rng(0)
    xs = [L.int16_input(rng, (1, 2, 3, 4)) for _ in range(2)]
    # x2 / 4 = 1/2 (the second input's scale is the output's / 4): the power-of-two form rounds it alone, half away
    # from zero, before adding x1 (ADD: -1 + 1 = 0) or subtracting it (SUB: 1 - 1 = 0); the general form rounds
    # the sum: -1/2 to -1, 1/2 to 1.
    xs[0][0, 0, 0, 1:3], xs[1][0, 0, 0, 1:3] = [-1, 1], [2, 2]
    general = _binary_pot(op, 0)
    check(general, xs)
    assert not np.array_equal(litert_all(_binary_pot(op, None), xs)[0], litert_all(general, xs)[0])


def _conv_16x8(bias_dtype):
    b = TFLiteBuilder()
    rng = np.random.default_rng(1)
    x = b.tensor("x", "int16", (1, 16, 16, 2), scale=0.003)
    w_scale = np.array([0.0007, 0.0011], np.float32)
    wt = b.constant("w", rng.integers(-127, 128, size=(2, 3, 3, 2)).astype(np.int8), scale=w_scale,
                    zero_point=np.zeros(2, np.int64))
    bt = b.constant("b", np.array([1000, -3000], bias_dtype), scale=(0.003 * w_scale).astype(np.float32),
                    zero_point=np.zeros(2, np.int64))
    y = b.tensor("y", "int16", (1, 14, 14, 2), scale=0.0009)
    b.operator("CONV_2D", [x, wt, bt], [y], "Conv2DOptions", dict(padding=PADDING["VALID"], stride_w=1, stride_h=1))
    b.set_io([x], [y])
    return b.to_bytes()


def test_a_16x8_conv_with_an_int32_bias_is_refused_where_tflite_rounds_otherwise():
    """TFLite's 16x8 kernels take an int32 bias too, but then accumulate and round in 32 bits: some of 392 outputs
    differ from the int64-bias file's, which the importer maps, in LiteRT and in TFLite Micro."""
    with pytest.raises(CompileError, match=r"the bias of 'y' must be a constant int64 tensor"):
        compile_tflite(_conv_16x8(np.int32))
    x = [L.int16_input(np.random.default_rng(2), (1, 16, 16, 2))]
    narrow, wide = _conv_16x8(np.int32), _conv_16x8(np.int64)
    check(wide, x)
    for reference in (litert_all, tflm_all):
        assert not np.array_equal(reference(narrow, x)[0], reference(wide, x)[0])


def test_int16_concatenation_across_scales_is_refused():
    """TFLite copies raw int16 values whatever the inputs' scales; microflat's copy would requantize."""
    b = TFLiteBuilder()
    x1, x2 = b.tensor("x1", "int16", (1, 4), scale=0.001), b.tensor("x2", "int16", (1, 4), scale=0.002)
    y = b.tensor("y", "int16", (1, 8), scale=0.002)
    b.operator("CONCATENATION", [x1, x2], [y], "ConcatenationOptions", dict(axis=1))
    b.set_io([x1, x2], [y])
    with pytest.raises(CompileError, match=r"CONCATENATION 'y': an int16 input's quantization differs"):
        compile_tflite(b.to_bytes())


def test_an_int16_logistic_off_q015_is_refused():
    b = TFLiteBuilder()
    x, y = b.tensor("x", "int16", (1, 8), scale=0.001), b.tensor("y", "int16", (1, 8), scale=1.0 / 16384)
    b.operator("LOGISTIC", [x], [y])
    b.set_io([x], [y])
    with pytest.raises(CompileError, match=r"LOGISTIC 'y': an int16 LOGISTIC .* scale 1/32768"):
        compile_tflite(b.to_bytes())
