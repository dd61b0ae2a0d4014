"""int8 TRANSPOSE_CONV (ConvTranspose2d, groups 1, dilation 1): bit-exact against an int64 reference,
C equal to Numba byte for byte, within a derived bound of float64, bad layers refused.

The reference is written here from TFLite's definition (reference_integer_ops::TransposeConv: input
pixel (iy, ix) times filter tap (ky, kx) lands on output (iy * stride - pad + ky, ix * stride - pad + kx),
out-of-range contributions dropped, bias added, MultiplyByQuantizedMultiplier, zero point, clamp), in
another formulation than the kernel's: per filter tap, one int64 matrix product of the whole centred
input, added into a strided slice of the full (uncropped) scatter, which is then cropped by the padding.

Cases: 1..2 batches, spatial sizes 1..6, channels 1..5, kernels 1..4, strides 1..3, padding
0..kernel-1 and output_padding 0..stride-1 per axis (padding capped so the output is not empty),
per-tensor and per-channel multipliers with the edge values of layer_cases, with and without bias;
every input holds -128 and 127, every filter -127 and 127.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microflat.testing import int_reference as ref
from microflat.testing.layer_cases import (
    activation_ranges,
    bias_array,
    int8_array,
    lsb_error_bound,
    q31,
    real_scales,
    requant_params,
    weight_array,
    zero_points,
)
from microflat.kernels import native, transpose_conv2d, transpose_conv2d_s8, transpose_conv2d_s8_scratch_bytes
from microflat.kernels.transpose_conv import transpose_conv2d_abs_weight_sums


def reference_accumulators(x_c, w, stride, pad, out):
    """sum of (x - zp) * w over the taps that land on each output: int64 (or float64) [N, OH, OW, OC]."""
    n, h, wd, _ = x_c.shape
    oc, kh, kw, _ = w.shape
    (sh, sw), (pt, pl), (oh, ow) = stride, pad, out
    rows = max((h - 1) * sh + kh, pt + oh)
    cols = max((wd - 1) * sw + kw, pl + ow)
    full = np.zeros((n, rows, cols, oc), dtype=np.result_type(x_c, w))
    for ky in range(kh):
        for kx in range(kw):
            full[:, ky:ky + (h - 1) * sh + 1:sh, kx:kx + (wd - 1) * sw + 1:sw, :] += x_c @ w[:, ky, kx, :].T
    return full[:, pt:pt + oh, pl:pl + ow, :]


def reference(case):
    x, w, bias, kw, g = case
    acc = reference_accumulators(x.astype(np.int64) - kw["input_zp"], w.astype(np.int64), kw["stride"],
                                 kw["padding"], g["out"])
    if bias is not None:
        acc = acc + bias.astype(np.int64)
    channels = w.shape[0]
    mult = ref.per_channel(kw["output_mult"], channels)
    shift = ref.per_channel(kw["output_shift"], channels)
    return ref.requantize(acc, mult, shift, kw["output_zp"], kw["act_min"], kw["act_max"]).astype(np.int8)


@st.composite
def axis_geometry(draw):
    size = draw(st.integers(1, 6))
    k = draw(st.integers(1, 4))
    stride = draw(st.integers(1, 3))
    output_padding = draw(st.integers(0, stride - 1))
    full = (size - 1) * stride + k + output_padding
    pad = draw(st.integers(0, min(k - 1, (full - 1) // 2)))  # leaves full - 2 * pad >= 1 rows
    return dict(size=size, k=k, stride=stride, output_padding=output_padding, pad=pad, out=full - 2 * pad)


@st.composite
def geometries(draw):
    gh, gw = draw(axis_geometry()), draw(axis_geometry())
    return dict(
        n=draw(st.integers(1, 2)), h=gh["size"], w=gw["size"], kh=gh["k"], kw=gw["k"],
        ic=draw(st.integers(1, 5)), oc=draw(st.integers(1, 5)),
        stride=(gh["stride"], gw["stride"]), padding=(gh["pad"], gw["pad"]),
        output_padding=(gh["output_padding"], gw["output_padding"]), out=(gh["out"], gw["out"]),
    )


def full_abs_sums(w):
    return np.abs(w.reshape(w.shape[0], -1).astype(np.int64)).sum(axis=1)


@st.composite
def cases(draw):
    g = draw(geometries())
    x = int8_array(draw, (g["n"], g["h"], g["w"], g["ic"]))
    w = weight_array(draw, (g["oc"], g["kh"], g["kw"], g["ic"]))
    bias = bias_array(draw, full_abs_sums(w))  # within the whole-filter bound, so within the wrapper's
    mult, shift = draw(requant_params(g["oc"]))
    act_min, act_max = draw(activation_ranges())
    kw = dict(input_zp=draw(zero_points), output_zp=draw(zero_points), output_mult=mult, output_shift=shift,
              stride=g["stride"], padding=g["padding"], output_padding=g["output_padding"],
              act_min=act_min, act_max=act_max)
    return x, w, bias, kw, g


@given(case=cases())
def test_numba_equals_int64_reference_and_c_equals_numba(case):
    x, w, bias, kw, g = case
    want = reference(case)
    got = transpose_conv2d(x, w, bias, backend="numba", **kw)
    assert got.dtype == np.int8 and got.shape == (g["n"], *g["out"], g["oc"])
    np.testing.assert_array_equal(got, want)
    got_c = transpose_conv2d(x, w, bias, backend="c", **kw)
    assert got_c.shape == got.shape and got_c.tobytes() == got.tobytes()


def _kernel_args(case, scratch, output):
    x, w, bias, kw, g = case
    mult = np.asarray(kw["output_mult"], np.int32)
    shift = np.asarray(kw["output_shift"], np.int8)
    b = np.zeros(0, np.int32) if bias is None else bias
    return (scratch, g["n"], g["h"], g["w"], g["ic"], g["kh"], g["kw"], *g["out"], g["oc"], *kw["stride"],
            *kw["padding"], kw["input_zp"], kw["output_zp"], mult, shift, int(mult.size > 1),
            kw["act_min"], kw["act_max"], x.reshape(-1), w.reshape(-1), b, output)


@settings(max_examples=200)
@given(case=cases(), fill=st.integers(-2**31, 2**31 - 1))
def test_kernels_use_exactly_their_scratch_and_need_it_uninitialized(case, fill):
    """Run directly with a scratch of exactly transpose_conv2d_s8_scratch_bytes, filled with garbage, and
    padded on both sides with a canary that must survive."""
    x, w, bias, kw, g = case
    want = reference(case)
    words = transpose_conv2d_s8_scratch_bytes(*g["out"], g["oc"])
    assert words == 4 * g["out"][0] * g["out"][1] * g["oc"]
    for run in (transpose_conv2d_s8, lambda *a: native.call("mf_transpose_conv2d_s8", *a)):
        padded = np.full(words // 4 + 2, fill, np.int32)
        padded[0] = padded[-1] = 0x5A5A5A5A
        out = np.zeros(want.size, np.int8)
        run(*_kernel_args(case, padded[1:-1], out))
        np.testing.assert_array_equal(out.reshape(want.shape), want)
        assert padded[0] == padded[-1] == 0x5A5A5A5A


@settings(max_examples=300)
@given(g=geometries(), data=st.data())
def test_accumulator_bound_is_the_largest_weight_sum_meeting_one_output(g, data):
    """transpose_conv2d_abs_weight_sums equals, per channel, the largest sum |w| that reaches one output:
    the reference run on an all-ones input with |w|, maximized over the output positions."""
    w = weight_array(data.draw, (g["oc"], g["kh"], g["kw"], g["ic"]))
    ones = np.ones((1, g["h"], g["w"], g["ic"]), np.int64)
    reached = reference_accumulators(ones, np.abs(w.astype(np.int64)), g["stride"], g["padding"], g["out"])
    want = reached.reshape(-1, g["oc"]).max(axis=0)
    got = transpose_conv2d_abs_weight_sums(w, g["h"], g["w"], *g["stride"], *g["padding"], *g["out"])
    np.testing.assert_array_equal(got, want)
    assert np.all(got <= full_abs_sums(w))


@given(g=geometries(), data=st.data())
def test_within_derived_bound_of_float64_conv_transpose2d(g, data):
    """With real scales s_in, s_w[c], s_out and (mult, shift) = QuantizeMultiplier(M), M = s_in s_w[c] / s_out,
    the int8 output q lies within

        |q - clamp(acc * M + output_zp, act_min, act_max)| <= 1/2 + 2^-(r+1) + |acc| |M' - M| + 1e-6   (LSB)

    of PyTorch's float64 conv_transpose2d of the dequantized tensors, acc the exact integer accumulator
    (bias included), r = max(-shift, 0) and M' = mult 2^(shift - 31): each of the two roundings of
    MultiplyByQuantizedMultiplier is within 1/2 of its input (the second, a division by 2^r, contributes
    1/2 after the first's error is divided by 2^r), M' differs from M, adding the zero point is exact and
    clamping is 1-Lipschitz; 1e-6 covers float64 rounding (derivation in tests/test_kernels_float.py).
    Also: PyTorch's transposed convolution of the integer tensors equals the int64 reference exactly, so
    the wrapper's stride, padding and output_padding are PyTorch's."""
    torch = pytest.importorskip("torch")
    x = int8_array(data.draw, (g["n"], g["h"], g["w"], g["ic"]))
    w = weight_array(data.draw, (g["oc"], g["kh"], g["kw"], g["ic"]))
    bias = bias_array(data.draw, full_abs_sums(w))
    s_in, s_w, s_out = data.draw(real_scales(g["oc"]))
    lo, hi = data.draw(activation_ranges())
    kw = dict(input_zp=data.draw(zero_points), output_zp=data.draw(zero_points), act_min=lo, act_max=hi,
              stride=g["stride"], padding=g["padding"], output_padding=g["output_padding"])
    mult, shift = q31(s_in * s_w / s_out)
    got = transpose_conv2d(x, w, bias, output_mult=mult, output_shift=shift, **kw)

    x_c = x.astype(np.int64) - kw["input_zp"]
    acc_int = reference_accumulators(x_c, w.astype(np.int64), g["stride"], g["padding"], g["out"])

    def torch_conv_transpose(x_nhwc, w_ohwi):
        y = torch.nn.functional.conv_transpose2d(
            torch.from_numpy(np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2))),
            torch.from_numpy(np.ascontiguousarray(w_ohwi.transpose(3, 0, 1, 2))),  # OHWI -> [IC, OC, KH, KW]
            stride=g["stride"], padding=g["padding"], output_padding=g["output_padding"],
        )
        return y.numpy().transpose(0, 2, 3, 1)

    np.testing.assert_array_equal(torch_conv_transpose(x_c.astype(np.float64), w.astype(np.float64)), acc_int)
    float_acc = torch_conv_transpose(s_in * x_c.astype(np.float64), w.astype(np.float64) * s_w[:, None, None, None])
    assert float_acc.shape == got.shape

    b_r = 0.0 if bias is None else s_in * s_w * bias
    y_lsb = np.clip((float_acc + b_r) / s_out + kw["output_zp"], lo, hi)
    acc_total = acc_int + (0 if bias is None else bias.astype(np.int64))
    bound = lsb_error_bound(acc_total, s_in * s_w / s_out, mult, shift)
    err = np.abs(got.astype(np.float64) - y_lsb)
    assert np.all(err <= bound), f"max error {err.max()} LSB exceeds the bound"


def test_int_arguments_mean_both_axes():
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, (1, 4, 3, 2), dtype=np.int8)
    w = rng.integers(-127, 128, (3, 3, 3, 2), dtype=np.int8)
    q = dict(input_zp=3, output_zp=-2, output_mult=[1 << 30], output_shift=[-6])
    a = transpose_conv2d(x, w, stride=2, padding=1, output_padding=1, **q)
    b = transpose_conv2d(x, w, stride=(2, 2), padding=(1, 1), output_padding=(1, 1), **q)
    assert a.shape == (1, 8, 6, 3)
    np.testing.assert_array_equal(a, b)


X = np.zeros((1, 3, 3, 2), np.int8)
W = np.ones((3, 2, 2, 2), np.int8)
Q = dict(input_zp=0, output_zp=0, output_mult=[2**30], output_shift=[-1])


@pytest.mark.parametrize(
    "override, message",
    [
        (dict(input=X.astype(np.int16)), "input must have dtype int8"),
        (dict(input=X[0]), "input must be 4-D"),
        (dict(input=np.zeros((1, 0, 3, 2), np.int8)), r"input \(1, 0, 3, 2\) and filter .* must have no empty dimension"),
        (dict(filter=W.astype(np.float32)), "filter must have dtype int8"),
        (dict(filter=np.full((3, 2, 2, 2), -128, np.int8)), "filter holds -128"),
        (dict(filter=np.ones((3, 2, 2, 1), np.int8)), "filter has 1 input channels, input has 2"),
        (dict(stride=0), "stride must be in"),
        (dict(stride=(1, 2, 3)), "stride must be an int or a pair"),
        (dict(padding=-1), "padding must be in"),
        (dict(output_padding=1), r"output_padding\[0\] \(1\) must be smaller than stride\[0\] \(1\)"),
        (dict(stride=2, output_padding=(1, 2)), r"output_padding\[1\] \(2\) must be smaller than stride\[1\] \(2\)"),
        (dict(padding=2), r"the output would be empty: padding\[0\] \(2\)"),
        (dict(input_zp=128), "input_zp must be in"),
        (dict(output_zp=-129), "output_zp must be in"),
        (dict(act_min=10, act_max=5), "act_min .* must be <= act_max"),
        (dict(output_mult=[1, 2]), "output_mult must hold 1 .* or 3"),
        (dict(output_shift=[31]), "output_shift must be in"),
        (dict(bias=np.zeros(2, np.int32)), "bias must have 3 values"),
        (dict(bias=np.full(3, 2**31 - 1, np.int32)), "the int32 accumulator of output channel 0 could reach"),
        (dict(backend="cuda"), "backend must be one of"),
    ],
)
def test_rejects(override, message):
    args = dict(input=X, filter=W, bias=None, **Q)
    args.update(override)
    with pytest.raises(ValueError, match="transpose_conv2d: " + message):
        transpose_conv2d(args.pop("input"), args.pop("filter"), args.pop("bias"), **args)


def test_no_dilation_argument():
    with pytest.raises(TypeError):
        transpose_conv2d(X, W, None, dilation=2, **Q)


def test_accumulator_bound_counts_only_the_taps_that_meet_one_output():
    """7,400 channels of weight 127 in a 3 x 3 filter: 255 * 127 * 7400 * 9 = 2,156,841,000 >= 2^31 when all
    nine taps meet one output (stride 1, a 3 x 3 input: the centre output), refused; with stride 3, or a
    1 x 1 input, each output meets one tap (239,649,000) and the layer runs, bit-exact on both backends."""
    ic = 7400
    w = np.full((1, 3, 3, ic), 127, np.int8)
    x = np.full((1, 3, 3, ic), 127, np.int8)
    q = dict(input_zp=-128, output_zp=0, output_mult=[2**30], output_shift=[-20])
    with pytest.raises(ValueError, match="transpose_conv2d: the int32 accumulator of output channel 0 "
                                         "could reach 2156841000"):
        transpose_conv2d(x, w, None, stride=1, **q)
    for x_run, stride in ((x, 3), (x[:, :1, :1], 1)):
        kw = dict(q, stride=(stride, stride), padding=(0, 0), output_padding=(0, 0), act_min=-128, act_max=127)
        out = (3 * x_run.shape[1] if stride == 3 else 3,) * 2
        case = (x_run, w, None, dict(kw, output_mult=np.array(q["output_mult"]),
                                     output_shift=np.array(q["output_shift"])), dict(out=out))
        want = reference(case)
        assert int(want.max()) > 0  # the worst case: 255 * 127 * 7400 * 2^-21, rounded
        for backend in ("numba", "c"):
            np.testing.assert_array_equal(transpose_conv2d(x_run, w, None, backend=backend, **kw), want)
