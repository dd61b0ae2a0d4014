"""TRANSPOSE_CONV as the Numba interpreter runs it: one packed convolution per output phase, then a scatter of its
pixels (packed_layers.transpose_conv2d_packed_calls, scatter_pixels_s8). Bit-exact against an int64 reference
written here; the gathering kernels transpose_conv2d_s8 (Numba) and mf_transpose_conv2d_s8 (C) give the same
bytes; a model's TRANSPOSE_CONV takes the phase calls in the Numba runtime, with C's bytes.

The reference follows TFLite's definition (reference_integer_ops::TransposeConv) literally: every input pixel
times every filter tap is scattered to output (iy * stride_h - pad_top + ky, ix * stride_w - pad_left + kx)
when that lies inside the output, on an int64 buffer that starts at the bias; then MultiplyByQuantizedMultiplier
(a left shift saturated to int32, SaturatingRoundingDoublingHighMul, RoundingDivideByPOT), the zero point and
the clamp.

Cases: 1..2 batches, spatial sizes 1..6, kernels 1..4 (a filter smaller than its stride leaves phases no tap
reaches), strides 1..3, padding 0..kernel-1 and output_padding 0..stride-1 per axis, channel counts around the
packed path's 16-channel blocks and 4-byte quads, per-tensor and per-channel multipliers with edge values (so
both the fused output stage and its reference fallback run), with and without bias.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from microflat.testing.layer_cases import activation_ranges, bias_array, int8_array, requant_params, weight_array, zero_points
from microflat import kernels as K
from microflat.compiler.writer import ModelWriter
from microflat.kernels import native
from microflat.kernels.kernel_args import bind
from microflat.kernels import packed_layers as PL
from microflat.runtime import Interpreter

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def mbqm(x, mult, shift):
    """MultiplyByQuantizedMultiplier of int64 arrays (values in int32), per-element mult and shift."""
    x, mult, shift = np.broadcast_arrays(np.asarray(x, np.int64), np.asarray(mult, np.int64),
                                         np.asarray(shift, np.int64))
    left, right = np.maximum(shift, 0), np.maximum(-shift, 0)
    x = np.clip(x * (np.int64(1) << left), INT32_MIN, INT32_MAX)
    ab = x * mult
    t = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = np.where(t >= 0, t >> 31, -((-t) >> 31))
    high = np.where((x == INT32_MIN) & (mult == INT32_MIN), INT32_MAX, high)
    mask = (np.int64(1) << right) - 1
    return (high >> right) + ((high & mask) > (mask >> 1) + (high < 0))


def reference(x, w, bias, g, q):
    n, h, wd, _ = x.shape
    oc, kh, kw, _ = w.shape
    (sh, sw), (pt, pl), (oh, ow) = g["stride"], g["pad"], g["out"]
    acc = np.zeros((n, oh, ow, oc), np.int64) + (0 if bias is None else bias.astype(np.int64))
    xc = x.astype(np.int64) - q["input_zp"]
    for iy in range(h):
        for ix in range(wd):
            for ky in range(kh):
                for kx in range(kw):
                    oy, ox = iy * sh - pt + ky, ix * sw - pl + kx
                    if 0 <= oy < oh and 0 <= ox < ow:
                        acc[:, oy, ox, :] += xc[:, iy, ix, :] @ w[:, ky, kx, :].astype(np.int64).T
    mult = np.broadcast_to(q["output_mult"], (oc,))
    shift = np.broadcast_to(q["output_shift"], (oc,))
    v = mbqm(acc, mult, shift) + q["output_zp"]
    return np.clip(v, q["act_min"], q["act_max"]).astype(np.int8)


@st.composite
def axis(draw):
    size, k, stride = draw(st.integers(1, 6)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    output_padding = draw(st.integers(0, stride - 1))
    full = (size - 1) * stride + k + output_padding
    pad = draw(st.integers(0, min(k - 1, (full - 1) // 2)))
    return size, k, stride, pad, full - 2 * pad


CHANNELS = st.sampled_from([1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 33])


@st.composite
def cases(draw):
    (h, kh, sh, pt, oh), (wd, kw, sw, pl, ow) = draw(axis()), draw(axis())
    n, ic, oc = draw(st.integers(1, 2)), draw(CHANNELS), draw(CHANNELS)
    x = int8_array(draw, (n, h, wd, ic))
    w = weight_array(draw, (oc, kh, kw, ic))
    bias = bias_array(draw, np.abs(w.reshape(oc, -1).astype(np.int64)).sum(axis=1))
    mult, shift = draw(requant_params(oc))
    lo, hi = draw(activation_ranges())
    q = dict(input_zp=draw(zero_points), output_zp=draw(zero_points), output_mult=mult, output_shift=shift,
             act_min=lo, act_max=hi)
    return x, w, bias, dict(stride=(sh, sw), pad=(pt, pl), out=(oh, ow)), q


def _run_calls(calls):
    for kernel, args in calls:
        kernel(*args)


@settings(max_examples=400)
@given(case=cases())
def test_phase_convolutions_equal_reference_and_the_gathering_kernels(case):
    x, w, bias, g, q = case
    n, h, wd, ic = x.shape
    oc, kh, kw, _ = w.shape
    want = reference(x, w, bias, g, q)
    mult, shift = np.asarray(q["output_mult"], np.int32), np.asarray(q["output_shift"], np.int8)
    b = np.zeros(0, np.int32) if bias is None else bias
    per_channel = int(mult.size > 1)
    named = dict(batches=n, input_h=h, input_w=wd, input_ch=ic, filter_h=kh, filter_w=kw, output_h=g["out"][0],
                 output_w=g["out"][1], output_ch=oc, stride_h=g["stride"][0], stride_w=g["stride"][1],
                 pad_top=g["pad"][0], pad_left=g["pad"][1], input_zp=q["input_zp"], output_zp=q["output_zp"],
                 output_mult=mult, output_shift=shift, per_channel=per_channel, act_min=q["act_min"],
                 act_max=q["act_max"], input=x.reshape(-1), filter=w.reshape(-1), bias=b)
    out = np.full(want.size, 99, np.int8)
    calls = PL.transpose_conv2d_packed_calls(**named, output=out)
    assert {k for k, _ in calls} <= {PL.conv2d_s8_packed, PL.scatter_pixels_s8}
    _run_calls(calls)
    np.testing.assert_array_equal(out.reshape(want.shape), want)

    scratch = np.empty(K.transpose_conv2d_s8_scratch_bytes(*g["out"], oc) // 4, np.int32)
    for run in (K.transpose_conv2d_s8, lambda *a: native.call("mf_transpose_conv2d_s8", *a)):
        got = np.zeros(want.size, np.int8)
        run(*bind(K.transpose_conv2d_s8, scratch=scratch, **named, output=got))
        assert got.tobytes() == out.tobytes()


@given(data=st.data(), batches=st.integers(1, 3), rows=st.integers(1, 5), cols=st.integers(1, 5),
       channels=st.integers(1, 20), repeat=st.booleans())
def test_scatter_pixels_places_each_pixel(data, batches, rows, cols, channels, repeat):
    """Each source pixel lands at its strided place and nothing else is written; a zero source stride repeats
    one pixel."""
    sy, sx, oy0, ox0 = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)), data.draw(st.integers(0, 2)),
                        data.draw(st.integers(0, 2)))
    oh, ow = oy0 + (rows - 1) * sy + 1 + data.draw(st.integers(0, 2)), ox0 + (cols - 1) * sx + 1
    src = int8_array(data.draw, (batches, rows + 1, cols + 2, channels))
    dst = np.full((batches, oh, ow, channels), 77, np.int8)
    want = dst.copy()
    if repeat:
        want[:, oy0::sy, ox0::sx][:, :rows, :cols] = src[0, 0, 0]
        strides = (0, 0, 0)
    else:
        want[:, oy0::sy, ox0::sx][:, :rows, :cols] = src[:, 1:, 2:]
        strides = (src[0].size, (cols + 2) * channels, channels)
    PL.scatter_pixels_s8(batches, rows, cols, channels, 0 if repeat else ((cols + 2) + 2) * channels, *strides,
                         (oy0 * ow + ox0) * channels, oh * ow * channels, sy * ow * channels, sx * channels,
                         src.reshape(-1), dst.reshape(-1))
    np.testing.assert_array_equal(dst, want)


@settings(max_examples=60)
@given(case=cases())
def test_models_run_the_phase_convolutions_with_cs_bytes(case):
    """A model's TRANSPOSE_CONV: the Numba interpreter's steps are the phase convolutions and scatters, and its
    output is the reference's and the C runtime's."""
    x, w, bias, g, q = case
    oc = w.shape[0]
    mult, shift = np.asarray(q["output_mult"], np.int32), np.asarray(q["output_shift"], np.int32)
    mw = ModelWriter()
    xt = mw.add_tensor("x", "int8", x.shape, scale=0.05, zero_point=q["input_zp"])
    wt = mw.add_constant("w", w, scale=np.full(oc, 0.01), zero_point=0, axis=0)
    inputs = [xt, wt] if bias is None else [xt, wt, mw.add_constant("b", bias)]
    yt = mw.add_tensor("y", "int8", (x.shape[0], *g["out"], oc), scale=0.1, zero_point=q["output_zp"])
    mw.add_operator("TRANSPOSE_CONV", inputs, [yt], "TransposeConvOptions",
                    dict(stride_h=g["stride"][0], stride_w=g["stride"][1], pad_top=g["pad"][0],
                         pad_left=g["pad"][1], output_mult=mult, output_shift=shift, act_min=q["act_min"],
                         act_max=q["act_max"]))
    mw.set_io([xt], [yt])
    mfb = mw.to_bytes()  # the bias lies within the loader's whole-filter accumulator bound (bias_array)
    it = Interpreter(mfb, backend="numba")
    assert {k for k, _ in it.steps} <= {PL.conv2d_s8_packed, PL.scatter_pixels_s8}
    want = reference(x, w, bias, g, q)
    got = it.invoke(x)[0]
    np.testing.assert_array_equal(got, want)
    assert Interpreter(mfb, backend="c").invoke(x)[0].tobytes() == got.tobytes()
