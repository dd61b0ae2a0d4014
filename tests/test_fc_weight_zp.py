"""Fully connected with an asymmetric weight: a per-tensor weight zero point, as TFLite's reference FullyConnected
(params.weights_offset = -zero point) and CMSIS-NN's arm_fully_connected_s8 (filter_offset) take it.

acc = bias + sum_k (x - input_zp) * (w - filter_zp), requantized as usual. The references here are plain
int64 NumPy (requantization from microflat.testing.int_reference, which never imports microflat's kernels):

* the kernels: Numba equals the reference and C equals Numba byte for byte, on drawn shapes, zero points and
  weights over all of [-128, 127], and at the corners: |x - input_zp| = |w - filter_zp| = 255 with the
  accumulator exactly at +-(2^31 - 1); one more refused;
* the accumulator rule 255 * sum |w - filter_zp| + |bias| < 2^31: numerics.weight_abs_sums and the C loader's
  mf_weight_channel_bound against the definition;
* files (compiler/writer.py's ModelWriter): an asymmetric FC (then a symmetric one, the packed path) runs on
  both backends equal to the reference; both loaders refuse, at the same field and byte offset, a non-zero
  zero point on a conv, depthwise or transpose conv weight, on an encoded FC weight and on an FC weight with
  per-channel scales, -128 in a symmetric weight, and an accumulator that overflows only once centred;
* the C runtime on emulated ARM (Cortex-M4 firmware, DSP and portable builds; aarch64 Linux with SDOT): an
  asymmetric file's outputs equal the Numba runtime's;
* LiteRT (ai-edge-litert): its reference FULLY_CONNECTED (BUILTIN_REF) honours a per-tensor filter zero
  point: its outputs are the same int64 accumulator, requantized. It rounds that once, though
  (round(acc * M) with ties away from zero), for symmetric weights as well, where
  microflat, TFLite's default and CMSIS-NN round twice (numerics.multiply_by_quantized_multiplier); the two
  differ by one where the double rounding meets a tie. So LiteRT is held to the single-rounding reference,
  microflat to the double-rounding one, and the two equal wherever those agree. (With per-channel scales
  LiteRT's reference ignores the zero point, as TFLite's FullyConnectedPerChannel does, and XNNPACK refuses
  the model: the loaders refuse that file.)
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microflat.testing import int_reference as ref
from microflat.testing.layer_cases import activation_ranges, int8_array, requant_params
from microflat import kernels as K
from microflat.compiler.serialize import serialize
from microflat.compiler.writer import ModelWriter
from microflat.kernels import native
from microflat.kernels import weight_encoding as WE
from microflat.kernels.numerics import weight_abs_sums
from microflat.runtime import FormatError, Interpreter, load_bytes
from microflat.runtime.c_runtime import CRuntime, CRuntimeError

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import single_ops as S  # noqa: E402
import tflite_builder as T  # noqa: E402

INT32_MAX = 2**31 - 1
zero_points = st.one_of(st.sampled_from([-128, -127, -1, 1, 127]), st.integers(-128, 127))


# --- the int64 reference ---------------------------------------------------------------------------------------

def reference_accumulators(x, w, bias, input_zp, filter_zp):
    """bias + sum_k (x - input_zp) * (w - filter_zp), exactly, in int64."""
    acc = (x.astype(np.int64) - input_zp) @ (w.astype(np.int64) - filter_zp).T
    return acc if bias is None else acc + bias.astype(np.int64)


def reference(x, w, bias, *, input_zp, filter_zp, output_zp, output_mult, output_shift, act_min=-128, act_max=127):
    acc = reference_accumulators(x, w, bias, input_zp, filter_zp)
    channels = w.shape[0]
    mult, shift = ref.per_channel(output_mult, channels), ref.per_channel(output_shift, channels)
    return ref.requantize(acc, mult, shift, output_zp, act_min, act_max).astype(np.int8)


def centred_sums(w, filter_zp):
    return np.abs(w.astype(np.int64) - filter_zp).sum(axis=1)


# --- the kernels -----------------------------------------------------------------------------------------------

@st.composite
def asymmetric_cases(draw):
    n, k, o = draw(st.integers(1, 4)), draw(st.integers(1, 64)), draw(st.integers(1, 16))
    x = int8_array(draw, (n, k))
    filter_zp = draw(zero_points)
    w = int8_array(draw, (o, k), -127 if filter_zp == 0 else -128)  # asymmetric: all of [-128, 127], both edges
    bias = None
    if draw(st.integers(0, 3)):
        bound = INT32_MAX - 255 * int(centred_sums(w, filter_zp).max())
        elements = st.one_of(st.integers(-2000, 2000), st.integers(-bound, bound), st.sampled_from([-bound, bound]))
        bias = np.array(draw(st.lists(elements, min_size=o, max_size=o)), np.int32)
    mult, shift = draw(requant_params(o))
    act_min, act_max = draw(activation_ranges())
    kwargs = dict(input_zp=draw(zero_points), filter_zp=filter_zp, output_zp=draw(zero_points), output_mult=mult,
                  output_shift=shift, act_min=act_min, act_max=act_max)
    return x, w, bias, kwargs


def _both_backends(x, w, bias, kwargs):
    got = K.fully_connected(x, w, bias, backend="numba", **kwargs)
    got_c = K.fully_connected(x, w, bias, backend="c", **kwargs)
    assert got_c.tobytes() == got.tobytes()
    return got


@given(case=asymmetric_cases())
def test_kernel_with_a_weight_zero_point_equals_the_int64_reference_and_c_equals_numba(case):
    x, w, bias, kwargs = case
    np.testing.assert_array_equal(_both_backends(x, w, bias, kwargs), reference(x, w, bias, **kwargs))


@pytest.mark.parametrize("x_v, in_zp, w_v, w_zp", [
    (127, -128, 127, -128),    # (+255) * (+255)
    (-128, 127, 127, -128),    # (-255) * (+255)
    (127, -128, -128, 127),    # (+255) * (-255)
    (-128, 127, -128, 127),    # (-255) * (-255)
    (-128, -128, -128, -127),  # x centred 0, w centred -1 (TFLite filter_offset 127)
])
@pytest.mark.parametrize("bias_sign", [1, -1])
def test_the_accumulator_at_its_bound_is_exact_and_one_past_it_is_refused(x_v, in_zp, w_v, w_zp, bias_sign):
    """K = 33025 products of +-255 * +-255 (2147450625) plus a bias that puts |acc| at 2^31 - 1 exactly, with the
    output multiplier 1 (mult 2^30, shift 1): the output is the accumulator's sign saturated, or exactly 0."""
    k = 33025
    x = np.full((2, k), x_v, np.int8)
    w = np.full((3, k), w_v, np.int8)
    room = INT32_MAX - 255 * abs(w_v - w_zp) * k  # the rule's: 255 * sum |w - filter_zp| + |bias| <= 2^31 - 1
    bias = np.array([bias_sign * room, 0, -bias_sign * room], np.int32)
    kwargs = dict(input_zp=in_zp, filter_zp=w_zp, output_zp=0, output_mult=1 << 30, output_shift=1)
    got = _both_backends(x, w, bias, kwargs)
    np.testing.assert_array_equal(got, reference(x, w, bias, **kwargs))
    acc = reference_accumulators(x, w, bias, in_zp, w_zp)
    if abs(x_v - in_zp) == 255:  # the accumulator of channel 0 or 2 is exactly +-(2^31 - 1)
        assert int(np.abs(acc).max()) == INT32_MAX
    with pytest.raises(ValueError, match="accumulator of output channel 0 could reach 2147483648"):
        K.fully_connected(x, w, bias + np.array([bias_sign, 0, 0], np.int32), **kwargs)


def test_the_public_kernel_checks_the_weight_zero_point():
    x = np.zeros((1, 4), np.int8)
    w = np.array([[-128, 0, 5, 127]], np.int8)
    q = dict(input_zp=0, output_zp=0, output_mult=1 << 30, output_shift=0)
    with pytest.raises(ValueError, match="holds -128"):
        K.fully_connected(x, w, None, **q)  # filter_zp 0: symmetric weights
    K.fully_connected(x, w, None, filter_zp=1, **q)  # asymmetric: -128 is a weight like another
    for bad in (128, -129):
        with pytest.raises(ValueError, match="filter_zp must be in"):
            K.fully_connected(x, w, None, filter_zp=bad, **q)
    with pytest.raises(ValueError, match="filter_zp must be 0 for an encoded filter"):
        K.fully_connected(x, K.encode(np.array([[1, 0, 5, 127]], np.int8), 0, value_bits=8, position_bits=1), None,
                          filter_zp=3, **q)
    # sum |w| = 127 * 64 fits with this bias; centred on -128 it is 255 * 64, and the bound breaks
    wide = np.full((1, 64), 127, np.int8)
    bias = np.array([INT32_MAX - 255 * 127 * 64], np.int32)
    K.fully_connected(np.zeros((1, 64), np.int8), wide, bias, **q)
    with pytest.raises(ValueError, match="accumulator of output channel 0"):
        K.fully_connected(np.zeros((1, 64), np.int8), wide, bias, filter_zp=-128, **q)


# --- the accumulator rule, in Python and in the C loader ---------------------------------------------------------

@st.composite
def bound_cases(draw):
    o, k = draw(st.integers(1, 6)), draw(st.integers(1, 40))
    w = int8_array(draw, (o, k))
    zp = draw(st.one_of(st.just(0), zero_points))
    near = [INT32_MAX - 255 * int(s) for s in centred_sums(w, zp)]  # the largest bias each channel takes
    bias = None
    if draw(st.booleans()):
        bias = np.array([draw(st.sampled_from([0, b, b + 1, -b, -b - 1, -(2**31)])) for b in near],
                        np.int64).clip(-(2**31), INT32_MAX).astype(np.int32)
    return w, zp, bias


@given(case=bound_cases())
def test_the_c_bound_and_weight_abs_sums_follow_the_definition(case):
    w, zp, bias = case
    sums = [sum(abs(int(v) - zp) for v in row) for row in w]
    b = [0] * len(sums) if bias is None else [abs(int(v)) for v in bias]
    fits = all(255 * s + bv <= INT32_MAX for s, bv in zip(sums, b))
    symmetric_ok = zp != 0 or not (w == -128).any()
    assert weight_abs_sums(w, 0, zp).tolist() == sums
    r = native.call("mf_weight_channel_bound", np.array(w.shape, np.int32), 2, 0, 8, np.zeros(0, np.int8), 0, 0, 0,
                    w.size, np.ascontiguousarray(w).view(np.uint8).reshape(-1), np.zeros(0, np.uint8),
                    np.zeros(0, np.int32) if bias is None else bias, zp)
    assert (r == 0) == (fits and symmetric_ok)
    assert r in (0, 1, 2) and (r != 1 or not symmetric_ok)  # 1: -128 (only where zp is 0), 2: an overflow


# --- files: both backends, both loaders --------------------------------------------------------------------------

S_X, Z_X = 0.03, -5


def _fc_writer(w, filter_zp, bias, *, w_scale=0.01, second=None, per_channel_scales=False, encoded=False, zp_y=7):
    """x [N, K] -> FULLY_CONNECTED (w, filter_zp) [-> FULLY_CONNECTED (second: symmetric weights)] -> y."""
    n = 3
    out, k = w.shape
    mw = ModelWriter()
    x = mw.add_tensor("x", "int8", (n, k), scale=S_X, zero_point=Z_X)
    quant = (dict(scale=np.full(out, w_scale), zero_point=filter_zp, axis=0) if per_channel_scales
             else dict(scale=w_scale, zero_point=filter_zp))
    wt = (mw.add_encoded("w", K.encode(w, 0, palette="tensor"), **quant) if encoded
          else mw.add_constant("w", w, **quant))
    ins = [x, wt, mw.add_constant("b", bias) if bias is not None else -1]
    m1, s1 = K.quantize_multipliers([S_X * w_scale / 0.2])
    h = mw.add_tensor("h", "int8", (n, out), scale=0.2, zero_point=zp_y)
    mw.add_operator("FULLY_CONNECTED", ins, [h], "FullyConnectedOptions", dict(output_mult=m1, output_shift=s1))
    last = h
    if second is not None:
        w2, b2, m2, s2 = second
        last = mw.add_tensor("y", "int8", (n, w2.shape[0]), scale=0.1, zero_point=-3)
        mw.add_operator("FULLY_CONNECTED", [h, mw.add_constant("w2", w2), mw.add_constant("b2", b2)], [last],
                        "FullyConnectedOptions", dict(output_mult=m2, output_shift=s2, act_min=-3))
    mw.set_io([x], [last])
    return mw, (m1, s1)


@settings(max_examples=40)
@given(data=st.data())
def test_a_file_with_an_asymmetric_fc_runs_equal_to_the_reference_on_both_backends(data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    k, out, out2 = data.draw(st.integers(1, 80)), data.draw(st.integers(1, 40)), data.draw(st.integers(1, 20))
    filter_zp = data.draw(zero_points)
    w = rng.integers(-127 if filter_zp == 0 else -128, 128, (out, k)).astype(np.int8)
    if filter_zp != 0:
        w.reshape(-1)[rng.integers(0, w.size)] = -128
    bias = rng.integers(-50000, 50000, out).astype(np.int32) if data.draw(st.booleans()) else None
    w2 = rng.integers(-127, 128, (out2, out)).astype(np.int8)
    b2 = rng.integers(-3000, 3000, out2).astype(np.int32)
    m2, s2 = K.quantize_multipliers([0.2 * 0.01 / 0.1])
    mw, (m1, s1) = _fc_writer(w, filter_zp, bias, second=(w2, b2, m2, s2))
    data_bytes = mw.to_bytes()
    model = load_bytes(data_bytes)
    assert model.tensors[1].zero_point == filter_zp
    x = rng.integers(-128, 128, (3, k)).astype(np.int8)
    h = reference(x, w, bias, input_zp=Z_X, filter_zp=filter_zp, output_zp=7, output_mult=m1, output_shift=s1)
    y = reference(h, w2, b2, input_zp=7, filter_zp=0, output_zp=-3, output_mult=m2, output_shift=s2, act_min=-3)
    got = [Interpreter(model, backend=b).invoke(x)[0] for b in ("numba", "c")]
    assert got[1].tobytes() == got[0].tobytes()
    np.testing.assert_array_equal(got[0], y)


def test_a_symmetric_fc_file_is_unchanged_by_a_zero_weight_zero_point():
    """zero_point 0 written explicitly or left out (no quantization): the same computation as before."""
    rng = np.random.default_rng(3)
    w = rng.integers(-127, 128, (6, 20)).astype(np.int8)
    bias = rng.integers(-500, 500, 6).astype(np.int32)
    x = rng.integers(-128, 128, (3, 20)).astype(np.int8)
    mw, (m1, s1) = _fc_writer(w, 0, bias)
    want = reference(x, w, bias, input_zp=Z_X, filter_zp=0, output_zp=7, output_mult=m1, output_shift=s1)
    for backend in ("numba", "c"):
        np.testing.assert_array_equal(Interpreter(mw.to_bytes(), backend=backend).invoke(x)[0], want)


def _damaged(mw, mutate) -> bytes:
    """The writer's valid file with mutate(tensors by name, buffers) applied, serialized with its plan but
    neither re-planned nor verified."""
    planned = load_bytes(mw.to_bytes())
    model = mw._model({"arena_bytes": planned.arena_bytes, "tensor_offsets": planned.tensor_offsets,
                       "scratch_offsets": planned.scratch_offsets}, bytes(32))
    mutate({t["name"]: t for t in model["tensors"]}, mw.buffers)
    return serialize(model, mw.buffers)


def _zero_point(zp, **extra):
    def mutate(tensors, buffers):
        tensors["w"].update(zero_point=zp, **extra)
    return mutate


def _conv_writer(op):
    rng = np.random.default_rng(0)
    mw = ModelWriter()
    x = mw.add_tensor("x", "int8", (1, 4, 4, 3), scale=0.05, zero_point=2)
    if op == "CONV_2D":
        w, y_shape, table, extra = rng.integers(-127, 128, (2, 3, 3, 3)), (1, 2, 2, 2), "Conv2DOptions", {}
    elif op == "DEPTHWISE_CONV_2D":
        w, y_shape, table, extra = rng.integers(-127, 128, (1, 3, 3, 3)), (1, 2, 2, 3), "DepthwiseConv2DOptions", {}
    else:
        w, y_shape, table, extra = (rng.integers(-127, 128, (2, 3, 3, 3)), (1, 9, 9, 2), "TransposeConvOptions",
                                    dict(stride_h=2, stride_w=2))
    channels = y_shape[3]
    wt = mw.add_constant("w", w.astype(np.int8), scale=np.full(channels, 0.01), zero_point=0,
                         axis=0 if op != "DEPTHWISE_CONV_2D" else 3)
    y = mw.add_tensor("y", "int8", y_shape, scale=0.1, zero_point=-1)
    m, s = K.quantize_multipliers(np.full(channels, 0.005))
    mw.add_operator(op, [x, wt, -1], [y], table, dict(output_mult=m, output_shift=s, **extra))
    mw.set_io([x], [y])
    return mw


def _fc_symmetric():
    return _fc_writer(np.random.default_rng(1).integers(-127, 128, (5, 16)).astype(np.int8), 0,
                      np.arange(5, dtype=np.int32))[0]


def _fc_per_channel():
    return _fc_writer(np.random.default_rng(1).integers(-127, 128, (5, 16)).astype(np.int8), 0, None,
                      per_channel_scales=True)[0]


def _fc_encoded():
    w = np.random.default_rng(1).choice(np.array([-90, 0, 3, 127], np.int8), (5, 16))
    return _fc_writer(w, 0, None, encoded=True)[0]


def _fc_wide_symmetric():  # 255 * 127 * 16 + bias = 2^31 - 1: at the bound, symmetric
    return _fc_writer(np.full((1, 16), 127, np.int8), 0, np.array([INT32_MAX - 255 * 127 * 16], np.int32))[0]


def _fc_asymmetric_with_minus_128():
    w = np.random.default_rng(1).integers(-127, 128, (5, 16)).astype(np.int8)
    w[2, 3] = -128
    return _fc_writer(w, 4, None)[0]


VALID = {"conv": lambda: _conv_writer("CONV_2D"), "depthwise": lambda: _conv_writer("DEPTHWISE_CONV_2D"),
         "transpose conv": lambda: _conv_writer("TRANSPOSE_CONV"), "fc": _fc_symmetric,
         "fc per-channel": _fc_per_channel, "fc encoded": _fc_encoded, "fc at the bound": _fc_wide_symmetric,
         "fc asymmetric with -128": _fc_asymmetric_with_minus_128}

DAMAGED = {
    "zero point on a conv weight": ("conv", _zero_point(3)),
    "zero point on a depthwise weight": ("depthwise", _zero_point(-1)),
    "zero point on a transpose conv weight": ("transpose conv", _zero_point(127)),
    "zero point on an encoded fc weight": ("fc encoded", _zero_point(2)),
    "zero point on a per-channel fc weight": ("fc per-channel", _zero_point(-128)),
    "overflow once centred": ("fc at the bound", _zero_point(-1)),
    "-128 in a symmetric fc weight": ("fc asymmetric with -128", _zero_point(0)),
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_the_valid_files_load_in_both_loaders(name):
    data = VALID[name]().to_bytes()
    load_bytes(data)
    CRuntime(data)


def test_an_asymmetric_fc_weight_with_one_channel_scale_loads_and_runs():
    """A per-channel quantized FC weight of one output channel has one scale: TFLite's per-tensor case."""
    w = np.random.default_rng(2).integers(-128, 128, (1, 12)).astype(np.int8)
    mw, (m1, s1) = _fc_writer(w, -60, None, per_channel_scales=True)
    x = np.random.default_rng(5).integers(-128, 128, (3, 12)).astype(np.int8)
    want = reference(x, w, None, input_zp=Z_X, filter_zp=-60, output_zp=7, output_mult=m1, output_shift=s1)
    for backend in ("numba", "c"):
        np.testing.assert_array_equal(Interpreter(mw.to_bytes(), backend=backend).invoke(x)[0], want)


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_both_loaders_refuse_a_bad_weight_zero_point_at_the_same_field(name):
    base, mutate = DAMAGED[name]
    data = _damaged(VALID[base](), mutate)
    with pytest.raises(FormatError) as py:
        load_bytes(data)
    assert py.value.field == "operators[0].inputs[1]", str(py.value)
    with pytest.raises(CRuntimeError) as c:
        CRuntime(data)
    assert c.value.status == "MF_ERROR_OPERATOR", str(c.value)
    assert c.value.offset == py.value.offset, f"Python: {py.value}; C: {c.value}"


def test_an_unchanged_zero_point_damages_nothing():
    for base, _ in DAMAGED.values():
        data = _damaged(VALID[base](), lambda tensors, buffers: None)
        load_bytes(data)
        CRuntime(data)


# --- LiteRT's reference kernel ----------------------------------------------------------------------------------

def _litert_pair(rng, k, out, q):
    """The same FULLY_CONNECTED as .mfb (ModelWriter) and .tflite (benchmarks/tflite_builder.py)."""
    (sx, zx), (sw, zw), (sy, zy) = ((S.f32(s), z) for s, z in q)
    n = 2
    w = rng.integers(-127 if zw == 0 else -128, 128, (out, k)).astype(np.int8)
    bias = rng.integers(-20000, 20000, out).astype(np.int32)
    mult, shift = S.multiplier(sx, sw, sy)
    mw = ModelWriter()
    x = mw.add_tensor("x", "int8", (n, k), scale=sx, zero_point=zx)
    y = mw.add_tensor("y", "int8", (n, out), scale=sy, zero_point=zy)
    mw.add_operator("FULLY_CONNECTED", [x, mw.add_constant("w", w, scale=sw, zero_point=zw),
                                        mw.add_constant("b", bias)], [y], "FullyConnectedOptions",
                    dict(output_mult=[mult], output_shift=[shift]))
    mw.set_io([x], [y])
    tb = T.TFLiteBuilder()
    tx = tb.tensor("x", "int8", (n, k), scale=sx, zero_point=zx)
    ty = tb.tensor("y", "int8", (n, out), scale=sy, zero_point=zy)
    tw = tb.constant("w", w, scale=sw, zero_point=zw)
    tbias = tb.constant("b", bias, scale=S.f32(np.float64(sx) * np.float64(sw)), zero_point=0)
    tb.operator("FULLY_CONNECTED", [tx, tw, tbias], [ty], "FullyConnectedOptions", {})
    tb.set_io([tx], [ty])
    return mw.to_bytes(), tb.to_bytes(), (w, bias, mult, shift)


def single_rounding_reference(x, w, bias, *, input_zp, filter_zp, output_zp, output_mult, output_shift, act_min=-128,
                              act_max=127):
    """One rounding of acc * mult / 2^(31 - shift), ties away from zero (int_reference's), then the zero point and
    the clamp: what LiteRT's reference FULLY_CONNECTED computes (tests/test_tflite_import.py's witness shows its
    ties)."""
    acc = reference_accumulators(x, w, bias, input_zp, filter_zp)
    channels = w.shape[0]
    mult, shift = ref.per_channel(output_mult, channels), ref.per_channel(output_shift, channels)
    scaled = np.empty(acc.shape, np.int64)
    for (n, o), a in np.ndenumerate(acc):
        scaled[n, o] = ref.multiply_by_quantized_multiplier_single_rounding(int(a), int(mult[o]), int(shift[o]))
    return np.clip(scaled + output_zp, act_min, act_max).astype(np.int8)


@given(case=asymmetric_cases(), encoded=st.booleans(), tie_shift=st.sampled_from([None, -1, -2, -3]))
def test_the_single_rounding_kernels_equal_the_reference_and_c_equals_numba(case, encoded, tie_shift):
    """single_rounding (FullyConnectedOptions.single_rounding, what LiteRT's reference FULLY_CONNECTED computes):
    the dense kernel with or without a weight zero point, and the encoded one (symmetric weights), against
    single_rounding_reference. With tie_shift the multiplier is 1/2^(1 - tie_shift) exactly (mult 2^30), so
    small accumulators put many outputs on a tie, of both signs, which rounds away from zero."""
    x, w, bias, kwargs = case
    if tie_shift is not None:
        kwargs = dict(kwargs, output_mult=1 << 30, output_shift=tie_shift)
        x = (x // 16).astype(np.int8)
        bias = None
    filt = w
    if encoded:  # symmetric weights; the drawn bias was bounded for the drawn zero point
        kwargs, bias = dict(kwargs, filter_zp=0), None
        filt = WE.encode(np.clip(w, -127, 127).astype(np.int8), 0, value_bits=8, position_bits=4)
        w = np.clip(w, -127, 127).astype(np.int8)
    want = single_rounding_reference(x, w, bias, **kwargs)
    got = _both_backends(x, filt, bias, dict(kwargs, single_rounding=True))
    np.testing.assert_array_equal(got, want)


@given(data=st.data())
def test_the_16x8_single_rounding_kernel_equals_the_reference_and_c_equals_numba(data):
    """The 16x8 FULLY_CONNECTED with single_rounding (LiteRT's reference: the Q31 multiplier, one rounding ties away
    from zero) on int16 inputs holding -32768 and 32767, int64 biases up to 2^46 (accumulators past 2^31, where
    the kernels split the product), per-tensor or per-channel multipliers with shifts in the 16x8 range."""
    n, k, o = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 40)), data.draw(st.integers(1, 8))
    edges = st.one_of(st.sampled_from([-32768, 32767]), st.integers(-32768, 32767))
    x = np.array(data.draw(st.lists(edges, min_size=n * k, max_size=n * k)), np.int16).reshape(n, k)
    w = np.array(data.draw(st.lists(st.integers(-127, 127), min_size=o * k, max_size=o * k)), np.int8).reshape(o, k)
    bias = np.array(data.draw(st.lists(st.integers(-(2**46), 2**46), min_size=o, max_size=o)), np.int64)
    channels = data.draw(st.sampled_from([1, o]))
    mult = np.array(data.draw(st.lists(st.integers(0, INT32_MAX), min_size=channels, max_size=channels)), np.int32)
    shift = np.array(data.draw(st.lists(st.integers(-31, 7), min_size=channels, max_size=channels)), np.int8)
    acc = x.astype(np.int64) @ w.T.astype(np.int64) + bias
    m, sh = ref.per_channel(mult, o), ref.per_channel(shift, o)
    want = np.array([[ref.multiply_by_quantized_multiplier_single_rounding(int(acc[i, j]), int(m[j]), int(sh[j]))
                      for j in range(o)] for i in range(n)], np.int64)
    kwargs = dict(input_zp=0, output_zp=0, output_mult=mult, output_shift=shift, act_min=-32768, act_max=32767,
                  single_rounding=True)
    got = _both_backends(x, w, bias, kwargs)
    np.testing.assert_array_equal(got, np.clip(want, -32768, 32767))


@settings(max_examples=40)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_fc_with_a_weight_zero_point_against_litert_reference(data, seed):
    pytest.importorskip("ai_edge_litert")
    from ai_edge_litert.interpreter import Interpreter as LiteRTInterpreter
    from ai_edge_litert.interpreter import OpResolverType

    scale = st.floats(np.log(0.005), np.log(0.2)).map(np.exp)
    q = ((data.draw(scale), data.draw(st.integers(-128, 127))),
         (data.draw(st.floats(np.log(1e-3), np.log(2e-2)).map(np.exp)), data.draw(zero_points)),
         (data.draw(st.floats(0.05, 2.0)), data.draw(st.integers(-128, 127))))
    rng = np.random.default_rng(seed)
    k, out = data.draw(st.integers(1, 48)), data.draw(st.integers(1, 12))
    mfb, tfl, (w, bias, mult, shift) = _litert_pair(rng, k, out, q)
    it = LiteRTInterpreter(model_content=tfl, num_threads=1, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    quant = dict(input_zp=q[0][1], filter_zp=q[1][1], output_zp=q[2][1], output_mult=mult, output_shift=shift)
    for i in range(3):
        x = rng.integers(-128, 128, (2, k)).astype(np.int8)
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        want = it.get_tensor(it.get_output_details()[0]["index"])
        got = [Interpreter(mfb, backend=b).invoke(x)[0] for b in ("numba", "c")]
        assert got[1].tobytes() == got[0].tobytes()
        double, single = reference(x, w, bias, **quant), single_rounding_reference(x, w, bias, **quant)
        np.testing.assert_array_equal(got[0], double)
        np.testing.assert_array_equal(want, single)  # LiteRT: the same accumulator, the offset applied
        agree = double == single
        np.testing.assert_array_equal(got[0][agree], want[agree])
        assert np.all(np.abs(double.astype(np.int32) - single)[~agree] == 1)


def test_litert_reference_ignores_a_per_channel_weight_zero_point():
    """Why the loaders refuse a zero point on a weight with several scales: TFLite's per-channel FullyConnected
    has no filter offset, so LiteRT's reference gives the same bytes whatever the zero point."""
    pytest.importorskip("ai_edge_litert")
    from ai_edge_litert.interpreter import Interpreter as LiteRTInterpreter
    from ai_edge_litert.interpreter import OpResolverType

    rng = np.random.default_rng(4)
    w = rng.integers(-127, 128, (4, 8)).astype(np.int8)
    x = rng.integers(-128, 128, (2, 8)).astype(np.int8)
    outputs = []
    for zp in (0, 9):
        tb = T.TFLiteBuilder()
        tx = tb.tensor("x", "int8", (2, 8), scale=0.05, zero_point=-3)
        ty = tb.tensor("y", "int8", (2, 4), scale=0.1, zero_point=5)
        tw = tb.constant("w", w, scale=[0.01, 0.02, 0.03, 0.04], zero_point=zp, axis=0)
        tb.operator("FULLY_CONNECTED", [tx, tw, -1], [ty], "FullyConnectedOptions", {})
        tb.set_io([tx], [ty])
        it = LiteRTInterpreter(model_content=tb.to_bytes(), num_threads=1,
                               experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        outputs.append(it.get_tensor(it.get_output_details()[0]["index"]).copy())
    np.testing.assert_array_equal(outputs[0], outputs[1])


# --- the C runtime on emulated ARM ------------------------------------------------------------------------------

def _firmware_model() -> bytes:
    rng = np.random.default_rng(11)
    w = rng.integers(-128, 128, (24, 37)).astype(np.int8)
    w[0, :] = -128  # centred on 127: -255 everywhere
    w2 = rng.integers(-127, 128, (10, 24)).astype(np.int8)
    m2, s2 = K.quantize_multipliers([0.2 * 0.01 / 0.1])
    return _fc_writer(w, 127, rng.integers(-9000, 9000, 24).astype(np.int32),
                      second=(w2, rng.integers(-3000, 3000, 10).astype(np.int32), m2, s2))[0].to_bytes()


@pytest.mark.parametrize("path", ["dsp", "portable"])
def test_cortex_m4_firmware_runs_an_asymmetric_fc_bit_exact(path, tmp_path):
    """The asymmetric loop beside the SMLAD kernels (dsp, which lay the column out for themselves) and the
    portable C, against the Numba runtime's bytes."""
    from firmware import assert_report_matches, exported
    from test_firmware import build_firmware, run_firmware

    data = _firmware_model()
    extra = "-DMICROFLAT_PORTABLE" if path == "portable" else ""
    result = run_firmware(build_firmware(exported(data, tmp_path / "model"), tmp_path / "build", extra=extra))
    assert_report_matches(result, data)
    assert f"kernel path {path}\n" in result.stderr


def test_aarch64_linux_program_runs_an_asymmetric_fc_bit_exact(tmp_path):
    """The asymmetric loop beside the SDOT kernels (ARMv8.2-A), against the Numba runtime's bytes."""
    from firmware import EXAMPLES, as_input_files, assert_report_matches, need, run

    need("make", "aarch64-linux-gnu-gcc", "qemu-aarch64")
    result = run(["make", "-s", "-C", str(EXAMPLES / "aarch64-linux"), f"OUT={tmp_path}"])
    assert result.returncode == 0, result.stdout + result.stderr
    data = _firmware_model()
    (tmp_path / "model.mfb").write_bytes(data)
    result = run(["qemu-aarch64", str(tmp_path / "microflat_run"), str(tmp_path / "model.mfb"),
                  *as_input_files(data, tmp_path)])
    assert_report_matches(result, data)
    assert "kernel path dotprod\n" in result.stdout
