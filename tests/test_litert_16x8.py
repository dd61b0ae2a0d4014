"""microflat's 16-bit activation operators against TFLite's reference kernels, bit for bit: TFLite's 16x8 mode.

The reference is LiteRT's reference op resolver (OpResolverType.BUILTIN_REF), but for FULLY_CONNECTED, which is
checked against TFLite Micro (the tflite-micro wheel). LiteRT 2.3's int16 FULLY_CONNECTED does not rescale as
TFLite's own reference source does (reference_integer_ops/fully_connected.h calls the int64
MultiplyByQuantizedMultiplier, numerics.multiply_by_quantized_multiplier_int64, as its CONV_2D and
DEPTHWISE_CONV_2D do, and as TFLite Micro and CMSIS-NN's arm_fully_connected_s16 do): measured, it rounds
acc * M once with the full Q31 multiplier, ties away from zero (acc = -2 at M = 1/4 gives -1, where TFLite Micro
and LiteRT's own CONV_2D give 0), so it differs by one on about 3% of outputs
(test_litert_fully_connected_16x8_rounds_differently pins that down). microflat follows the reference source.

Each case is built twice at one drawn quantization, a .mfb through ModelWriter and a .tflite through
benchmarks/tflite_builder.py, with the multipliers TFLite's Prepare derives (in double from the float32 scales:
conv.cc / fully_connected.cc / quantize.cc; MUL's in float32, kernels.mul_params; ADD's by add_params with
left_shift 15, add.cc's general int16 form, so the .tflite sets pot_scale_int16 false), and run on random int16
inputs holding -32768 and 32767 by microflat's Numba and C backends and by LiteRT. Every output must be equal.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("ai_edge_litert")
from ai_edge_litert.interpreter import Interpreter as LiteRTInterpreter  # noqa: E402
from ai_edge_litert.interpreter import OpResolverType  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import tflite_builder as T  # noqa: E402

from microflat import kernels as K  # noqa: E402
from microflat.compiler.writer import ModelWriter  # noqa: E402
from microflat.runtime import Interpreter  # noqa: E402

# Each example writes two files and runs three interpreters (about 10 ms).
EXAMPLES = 40
INT16 = dict(lo=-(2**15), hi=2**15 - 1)


def f32(v) -> float:
    return float(np.float32(v))


def multiplier(s_in, s_w, s_out):
    """TFLite's real multiplier of a layer, in double from float32 scales, as (mult, shift)."""
    return K.quantize_multiplier(float(np.float64(f32(s_in)) * np.float64(f32(s_w)) / np.float64(f32(s_out))))


def litert(data: bytes, inputs) -> np.ndarray:
    it = LiteRTInterpreter(model_content=data, num_threads=1, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    for d, a in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], a)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


def tflm(data: bytes, inputs) -> np.ndarray:
    from tflite_micro.python.tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(data, arena_size=1 << 20)
    for i, a in enumerate(inputs):
        it.set_input(a, i)
    it.invoke()
    return it.get_output(0)


def check(mfb: bytes, tflite: bytes, inputs, reference=litert):
    want = reference(tflite, inputs)
    got = Interpreter(mfb, backend="numba").invoke(*inputs)[0]
    got_c = Interpreter(mfb, backend="c").invoke(*inputs)[0]
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got_c.tobytes() == got.tobytes(), "C differs from Numba"
    bad = np.argwhere(got != want)
    assert bad.size == 0, f"{len(bad)} outputs differ, first at {bad[:3].tolist()}: {got[tuple(bad[0])]} vs " \
                          f"{want[tuple(bad[0])]}"


class Both:
    """A ModelWriter and a TFLiteBuilder side by side."""

    def __init__(self):
        self.m, self.t = ModelWriter(), TFLiteBuilder()

    def act(self, name, shape, scale, zero_point=0, dtype="int16"):
        kw = {} if scale is None else dict(scale=f32(scale), zero_point=zero_point)
        return self.m.add_tensor(name, dtype, shape, **kw), self.t.tensor(name, dtype, shape, **kw)

    def io(self, ins, outs):
        self.m.set_io([i[0] for i in ins], [o[0] for o in outs])
        self.t.set_io([i[1] for i in ins], [o[1] for o in outs])

    def files(self):
        return self.m.to_bytes(), self.t.to_bytes()


TFLiteBuilder = T.TFLiteBuilder


def int16_input(rng, shape):
    x = rng.integers(INT16["lo"], INT16["hi"] + 1, size=shape).astype(np.int16)
    flat = x.reshape(-1)
    if flat.size >= 2:
        flat[0], flat[-1] = INT16["lo"], INT16["hi"]
    return x


scales = st.floats(np.log(1e-4), np.log(2e-2)).map(lambda v: f32(np.exp(v)))


def _layer(op, draw, rng):
    """A 16x8 CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED with per-channel (per-tensor for FC) weights."""
    s_in, s_out = draw(scales), draw(scales)
    b = Both()
    if op == "FULLY_CONNECTED":
        n, k, o = draw(st.integers(1, 3)), draw(st.integers(1, 40)), draw(st.integers(1, 12))
        x_shape, y_shape, w_shape, axis = (n, k), (n, o), (o, k), 0
        w_scale = np.array([f32(draw(scales) * 0.1)], np.float32)
    else:
        h, w_, c = draw(st.integers(1, 7)), draw(st.integers(1, 7)), draw(st.integers(1, 5))
        kh, kw = draw(st.integers(1, min(3, h))), draw(st.integers(1, min(3, w_)))
        stride = draw(st.integers(1, 2))
        oh, ow = (h - kh) // stride + 1, (w_ - kw) // stride + 1
        if op == "CONV_2D":
            o = draw(st.integers(1, 6))
            w_shape, axis = (o, kh, kw, c), 0
        else:
            mult = draw(st.integers(1, 2))
            o = c * mult
            w_shape, axis = (1, kh, kw, o), 3
        x_shape, y_shape = (1, h, w_, c), (1, oh, ow, o)
        w_scale = np.array([f32(draw(scales) * 0.1) for _ in range(o)], np.float32)
    weights = rng.integers(-127, 128, size=w_shape).astype(np.int8)
    bias = rng.integers(-(2**20), 2**20, size=o).astype(np.int64)
    xm, xt = b.act("x", x_shape, s_in)
    ym, yt = b.act("y", y_shape, s_out)
    channel_scales = np.broadcast_to(w_scale, (o,)) if len(w_scale) == 1 else w_scale
    pairs = [multiplier(s_in, s, s_out) for s in w_scale]
    mult = np.array([p[0] for p in pairs], np.int32)
    shift = np.array([p[1] for p in pairs], np.int8)
    wm = b.m.add_constant("w", weights, scale=np.asarray(channel_scales, np.float32), zero_point=0, axis=axis)
    bm = b.m.add_constant("b", bias)
    wt = b.t.constant("w", weights, scale=w_scale, zero_point=np.zeros(len(w_scale), np.int64), axis=axis)
    bias_scale = (np.float64(s_in) * w_scale.astype(np.float64)).astype(np.float32)
    bt = b.t.constant("b", bias, scale=bias_scale, zero_point=np.zeros(len(bias_scale), np.int64), axis=0)
    requant = dict(output_mult=mult, output_shift=shift, act_min=INT16["lo"], act_max=INT16["hi"])
    if op == "FULLY_CONNECTED":
        b.m.add_operator(op, [xm, wm, bm], [ym], "FullyConnectedOptions", requant)
        b.t.operator(op, [xt, wt, bt], [yt], "FullyConnectedOptions")
    elif op == "CONV_2D":
        b.m.add_operator(op, [xm, wm, bm], [ym], "Conv2DOptions", dict(requant, stride_h=stride, stride_w=stride))
        b.t.operator(op, [xt, wt, bt], [yt], "Conv2DOptions",
                     dict(padding=T.PADDING["VALID"], stride_w=stride, stride_h=stride))
    else:
        b.m.add_operator(op, [xm, wm, bm], [ym], "DepthwiseConv2DOptions",
                         dict(requant, stride_h=stride, stride_w=stride, depth_multiplier=o // x_shape[3]))
        b.t.operator(op, [xt, wt, bt], [yt], "DepthwiseConv2DOptions",
                     dict(padding=T.PADDING["VALID"], stride_w=stride, stride_h=stride,
                          depth_multiplier=o // x_shape[3]))
    b.io([(xm, xt)], [(ym, yt)])
    return b, [int16_input(rng, x_shape)]


def _binary(op, draw, rng):
    shape = (1, draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(st.integers(1, 6)))
    other = tuple(1 if draw(st.booleans()) and d > 1 else d for d in shape)
    s1, s2, s_out = draw(scales), draw(scales), draw(scales)
    b = Both()
    (am, at), (bm, bt), (ym, yt) = b.act("a", shape, s1), b.act("b", other, s2), b.act("y", shape, s_out)
    if op == "MUL":
        params = K.mul_params(s1, s2, s_out)
        b.t.operator(op, [at, bt], [yt], "MulOptions")
        b.m.add_operator(op, [am, bm], [ym], "MulOptions", dict(params, act_min=INT16["lo"], act_max=INT16["hi"]))
    else:
        params = (K.add_params if op == "ADD" else K.sub_params)(s1, s2, s_out, left_shift=15)
        table = "AddOptions" if op == "ADD" else "SubOptions"
        b.t.operator(op, [at, bt], [yt], table, dict(pot_scale_int16=0))
        b.m.add_operator(op, [am, bm], [ym], "AddOptions", dict(params, act_min=INT16["lo"], act_max=INT16["hi"]))
    b.io([(am, at), (bm, bt)], [(ym, yt)])
    x1, x2 = int16_input(rng, shape), int16_input(rng, other)
    if op == "MUL" and params["output_shift"] > 0:
        # TFLite shifts the int32 product x1 x2 left by the shift before its multiply, and leaves an overflow
        # undefined (LiteRT wraps; microflat saturates: numerics.multiply_by_quantized_multiplier). x2 >> shift
        # keeps |x1 x2| 2^shift <= 2^30, TFLite's defined domain.
        x2 = (x2 >> params["output_shift"]).astype(np.int16)
    return b, [x1, x2]


def _pool(op, draw, rng):
    h, w, c = draw(st.integers(1, 8)), draw(st.integers(1, 8)), draw(st.integers(1, 5))
    fh, fw, stride = draw(st.integers(1, h)), draw(st.integers(1, w)), draw(st.integers(1, 2))
    oh, ow = (h - fh) // stride + 1, (w - fw) // stride + 1
    s = draw(scales)
    b = Both()
    (xm, xt), (ym, yt) = b.act("x", (1, h, w, c), s), b.act("y", (1, oh, ow, c), s)
    b.m.add_operator(op, [xm], [ym], "Pool2DOptions", dict(filter_h=fh, filter_w=fw, stride_h=stride, stride_w=stride,
                                                            act_min=INT16["lo"], act_max=INT16["hi"]))
    b.t.operator(op, [xt], [yt], "Pool2DOptions", dict(padding=T.PADDING["VALID"], stride_w=stride, stride_h=stride,
                                                      filter_width=fw, filter_height=fh))
    b.io([(xm, xt)], [(ym, yt)])
    return b, [int16_input(rng, (1, h, w, c))]


def _boundary(op, draw, rng):
    shape = (1, draw(st.integers(1, 40)))
    s_in, s_out = draw(scales), draw(scales)
    b = Both()
    if op == "QUANTIZE":
        (xm, xt), (ym, yt) = b.act("x", shape, None, dtype="float32"), b.act("y", shape, s_out)
        b.m.add_operator(op, [xm], [ym])
        x = (rng.standard_normal(shape) * s_out * 20000).astype(np.float32)
    elif op == "DEQUANTIZE":
        (xm, xt), (ym, yt) = b.act("x", shape, s_in), b.act("y", shape, None, dtype="float32")
        b.m.add_operator(op, [xm], [ym])
        x = int16_input(rng, shape)
    else:  # REQUANTIZE: TFLite's QUANTIZE of an int16 input, to int8 (any zero point) or int16
        out_dtype = draw(st.sampled_from(["int8", "int16"]))
        zp = draw(st.integers(-128, 127)) if out_dtype == "int8" else 0
        s_out = f32(s_in * draw(st.floats(0.5, 300.0)) if out_dtype == "int8" else s_out)
        (xm, xt), (ym, yt) = b.act("x", shape, s_in), b.act("y", shape, s_out, zp, dtype=out_dtype)
        mult, shift = K.quantize_multiplier(float(np.float64(s_in) / np.float64(s_out)))
        b.m.add_operator(op, [xm], [ym], "RequantizeOptions", dict(mult=mult, shift=shift))
        x = int16_input(rng, shape)
        op = "QUANTIZE"
    b.t.operator(op, [xt], [yt])
    b.io([(xm, xt)], [(ym, yt)])
    return b, [x]


# Input scales of the int16 activations: TFLite's power-of-two cases (2^-12 for both, 2^-11 for TANH), and any
# scale between 1e-5 (|x| up to 0.33) and 2e-3 (up to 65: logistic saturates beyond 10.625, tanh beyond 5.3125).
activation_scales = st.one_of(st.sampled_from([2.0**-12, 2.0**-11, 2.0**-13]),
                              st.floats(np.log(1e-5), np.log(2e-3)).map(lambda v: f32(np.exp(v))))
Q015 = 1.0 / 32768.0


def spread_input(rng, shape):
    """int16 values over the whole range, or within +-4000 (where the softmax differences and the tables' curves
    lie at the smaller scales), holding -32768 and 32767 when it has two elements."""
    x = int16_input(rng, shape)
    if rng.integers(2):
        x = (x // 8).astype(np.int16)
    return x


def _activation(op, draw, rng):
    """int16 LOGISTIC, TANH (LogisticOptions from TFLite's Prepare: activations_s16) or SOFTMAX (beta drawn; its
    multiplier from softmax_s16_params) with the output at Q0.15; SOFTMAX's rows of 1 to 40 values."""
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 40)))
    s_in = draw(activation_scales)
    b = Both()
    (xm, xt), (ym, yt) = b.act("x", shape, s_in), b.act("y", shape, Q015)
    if op == "SOFTMAX":
        beta = draw(st.sampled_from([1.0, 0.5, 2.0, 0.3]))
        m, s = K.softmax_s16_params(s_in, beta)
        b.m.add_operator(op, [xm], [ym], "SoftmaxOptions", dict(input_beta_mult=m, input_left_shift=s))
        b.t.operator(op, [xt], [yt], "SoftmaxOptions", dict(beta=beta))
    else:
        m, k = (K.logistic_s16_params if op == "LOGISTIC" else K.tanh_s16_params)(s_in)
        b.m.add_operator(op, [xm], [ym], "LogisticOptions", dict(input_multiplier=m, input_left_shift=k))
        b.t.operator(op, [xt], [yt])
    b.io([(xm, xt)], [(ym, yt)])
    return b, [spread_input(rng, shape)]


BUILDERS = {"FULLY_CONNECTED": _layer, "CONV_2D": _layer, "DEPTHWISE_CONV_2D": _layer, "ADD": _binary,
            "SUB": _binary, "MUL": _binary, "AVERAGE_POOL_2D": _pool, "MAX_POOL_2D": _pool, "QUANTIZE": _boundary,
            "DEQUANTIZE": _boundary, "REQUANTIZE": _boundary, "LOGISTIC": _activation, "TANH": _activation,
            "SOFTMAX": _activation}


@pytest.mark.parametrize("op", list(BUILDERS))
@settings(max_examples=EXAMPLES)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_16x8_ops_equal_tflite_reference(op, data, seed):
    rng = np.random.default_rng(seed)
    both, inputs = BUILDERS[op](op, data.draw, rng)
    mfb, tflite = both.files()
    if op == "FULLY_CONNECTED":
        pytest.importorskip("tflite_micro")
        check(mfb, tflite, inputs, tflm)
    else:
        check(mfb, tflite, inputs)


def _fc_at_a_quarter(x: int) -> bytes:
    """A 16x8 FULLY_CONNECTED [1, 1] -> [1, 1] with w = 1, bias 0 and M = s_in s_w / s_out = 1/4 exactly."""
    b = TFLiteBuilder()
    s_in, s_w, s_out = 2.0**-10, 2.0**-7, 2.0**-15
    xt, yt = b.tensor("x", "int16", (1, 1), scale=s_in), b.tensor("y", "int16", (1, 1), scale=s_out)
    wt = b.constant("w", np.ones((1, 1), np.int8), scale=np.array([s_w], np.float32), zero_point=np.zeros(1, np.int64))
    bt = b.constant("b", np.zeros(1, np.int64), scale=np.array([s_in * s_w], np.float32),
                    zero_point=np.zeros(1, np.int64))
    b.operator("FULLY_CONNECTED", [xt, wt, bt], [yt], "FullyConnectedOptions")
    b.set_io([xt], [yt])
    return b.to_bytes()


def test_litert_fully_connected_16x8_rounds_differently():
    """Why FULLY_CONNECTED is checked against TFLite Micro: at M = 1/4, acc = -2 (real -0.5) and -6 (-1.5).
    microflat's int64 rescaling (TFLite's reference source) rounds half up: 0 and -1. LiteRT 2.3 gives -1 and -2
    (half away from zero); if a later LiteRT follows its source, this test fails and FULLY_CONNECTED can join the
    LiteRT comparison."""
    pytest.importorskip("tflite_micro")
    for x, ours, theirs in ((-2, 0, -1), (-6, -1, -2), (5, 1, 1)):
        data, xv = _fc_at_a_quarter(x), np.array([[x]], np.int16)
        assert int(K.multiply_by_quantized_multiplier_int64(x, 2**30, -1)) == ours
        assert int(tflm(data, [xv]).reshape(-1)[0]) == ours
        assert int(litert(data, [xv]).reshape(-1)[0]) == theirs


@pytest.mark.parametrize("scale", [2.0**-12, 2.0**-11, 2.0**-13, 0.001, 3e-4, 1.0 / 3000], ids=lambda v: f"{v:.3g}")
@pytest.mark.parametrize("op", ["LOGISTIC", "TANH"])
def test_int16_logistic_and_tanh_equal_tflite_on_every_input(op, scale):
    """All 65,536 int16 inputs through LiteRT's reference kernel and both of microflat's runtimes, at the scales
    docs/RECURRENT.md 1.4 measured (the power-of-two cases included)."""
    b = Both()
    (xm, xt), (ym, yt) = b.act("x", (1, 65536), scale), b.act("y", (1, 65536), Q015)
    m, k = (K.logistic_s16_params if op == "LOGISTIC" else K.tanh_s16_params)(scale)
    b.m.add_operator(op, [xm], [ym], "LogisticOptions", dict(input_multiplier=m, input_left_shift=k))
    b.t.operator(op, [xt], [yt])
    b.io([(xm, xt)], [(ym, yt)])
    check(*b.files(), [np.arange(-(2**15), 2**15, dtype=np.int16).reshape(1, 65536)])


def test_int16_softmax_equals_tflite_where_tflite_micro_differs():
    """RECURRENT.md 2.3's row, which reaches the two entries of the 1 / (1 + x) table where TFLite's double table and
    TFLite Micro's float one differ: microflat takes LiteRT's (20822, 10794)."""
    b = Both()
    (xm, xt), (ym, yt) = b.act("x", (1, 6), 0.003), b.act("y", (1, 6), Q015)
    m, s = K.softmax_s16_params(f32(0.003))
    b.m.add_operator("SOFTMAX", [xm], [ym], "SoftmaxOptions", dict(input_beta_mult=m, input_left_shift=s))
    b.t.operator("SOFTMAX", [xt], [yt], "SoftmaxOptions", dict(beta=1.0))
    b.io([(xm, xt)], [(ym, yt)])
    x = np.array([[-348, 1520, 1301, 392, 173, -1787]], np.int16)
    check(*b.files(), [x])
    assert Interpreter(b.files()[0]).invoke(x)[0][0, 1:3].tolist() == [20822, 10794]
