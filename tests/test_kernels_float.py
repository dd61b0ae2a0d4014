"""Against float: the int8 result lies within a derived bound of float64 math.

Setup. Scales are drawn as a calibrated model would have them: s_in, per-channel
s_w[c], s_out. The float64 reference runs the same layer on the dequantized
values the int8 layer sees: x_r = s_in (x - zp_in), w_r = s_w w, b_r = s_in s_w b,
then y_r / s_out + zp_out, clamped to [act_min, act_max]. The requantization
multiplier is M = s_in s_w[c] / s_out, encoded as M' = mult 2^(shift - 31) by
TFLite's QuantizeMultiplier (via the exact-rational reference).

Derivation of the bound, in output LSBs. With acc the exact integer
accumulator, y_r / s_out = acc * M exactly. The kernel computes
round2(acc * M') where, with r = max(-shift, 0) and left shift l = max(shift, 0):
  SRDHM(acc 2^l, mult) = acc 2^l mult / 2^31 + e1,  |e1| <= 1/2
  RDBPOT(., r)          = (.) / 2^r + e2,           |e2| <= 1/2
so |round2(acc M') - acc M'| <= 1/2 + 2^-(r+1). Replacing M' by M adds
|acc| |M' - M| (<= |acc| M 2^-31 by QuantizeMultiplier's half-step rounding).
Adding the zero point is exact and clamping is 1-Lipschitz, so

    |q - (acc M + zp_out)|_clamped <= 1/2 + 2^-(r+1) + |acc| |M' - M|

plus 1e-6 for float64 rounding in the reference (|acc| < 2^31, relative
error ~1e-16 per term). With r >= 1, as for every layer whose M < 1, this is
just over half an LSB; the bound is checked per element, not on average.
(When the left shift saturates the int32 product, both sides exceed 127 and
clamp to act_max, so the bound still holds for normalized multipliers.)
"""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from microflat.testing import int_reference as ref
from microflat.testing.layer_cases import (
    activation_ranges,
    bias_array,
    int8_array,
    lsb_error_bound,
    q31,
    real_scales,
    spatial_geometry,
    padding_argument,
    weight_array,
    zero_points,
    fix_modes,
)
from microflat.kernels import conv2d, depthwise_conv2d, fully_connected


def _check_within_bound(got, acc_int, float_acc, bias, s_in, s_w, s_out, kw, mult, shift):
    """Compare the kernel output with the float64 computation, element by element."""
    b_r = 0.0 if bias is None else s_in * s_w * bias
    y_lsb = (float_acc + b_r) / s_out + kw["output_zp"]
    y_lsb = np.clip(y_lsb, kw["act_min"], kw["act_max"])
    real_m = s_in * s_w / s_out
    acc_total = acc_int + (0 if bias is None else bias.astype(np.int64))
    bound = lsb_error_bound(acc_total, real_m, mult, shift)
    err = np.abs(got.astype(np.float64) - y_lsb)
    assert np.all(err <= bound), f"max error {err.max()} LSB exceeds bound at {np.argmax(err - bound)}"


@st.composite
def float_conv_cases(draw, depthwise: bool):
    gh, gw = fix_modes(draw(spatial_geometry()), draw(spatial_geometry()))
    n = draw(st.integers(1, 2))
    if depthwise:
        cin, mult_ch = draw(st.integers(1, 5)), draw(st.integers(1, 3))
        cout, groups = cin * mult_ch, cin
        w = weight_array(draw, (1, gh["k"], gw["k"], cout))
        w_ohwi = np.transpose(w, (3, 1, 2, 0))
    else:
        groups = draw(st.integers(1, 2))
        cin, cout = groups * draw(st.integers(1, 4)), groups * draw(st.integers(1, 4))
        w = weight_array(draw, (cout, gh["k"], gw["k"], cin // groups))
        w_ohwi = w
    x = int8_array(draw, (n, gh["size"], gw["size"], cin))
    bias = bias_array(draw, np.abs(w_ohwi.reshape(cout, -1).astype(np.int64)).sum(axis=1))
    s_in, s_w, s_out = draw(real_scales(cout))
    lo, hi = draw(activation_ranges())
    kw = dict(input_zp=draw(zero_points), output_zp=draw(zero_points), act_min=lo, act_max=hi)
    geo = dict(stride=(gh["stride"], gw["stride"]), dilation=(gh["dilation"], gw["dilation"]),
               padding=padding_argument(gh, gw))
    return x, w, w_ohwi, bias, s_in, s_w, s_out, kw, geo, gh, gw, groups


def _run_conv_float_check(case, op):
    x, w, w_ohwi, bias, s_in, s_w, s_out, kw, geo, gh, gw, groups = case
    mult, shift = q31(s_in * s_w / s_out)
    extra = {} if op is depthwise_conv2d else {"groups": groups}
    got = op(x, w, bias, output_mult=mult, output_shift=shift, **kw, **geo, **extra)
    args = (geo["stride"], geo["dilation"], gh["before"], gw["before"], gh["out"], gw["out"], groups)
    x_c = x.astype(np.int64) - kw["input_zp"]
    acc_int = ref.conv2d_accumulators(x_c, w_ohwi.astype(np.int64), *args)
    x_r = s_in * x_c.astype(np.float64)
    w_r = w_ohwi.astype(np.float64) * s_w[:, None, None, None]
    float_acc = ref.conv2d_accumulators(x_r, w_r, *args)
    _check_within_bound(got, acc_int, float_acc, bias, s_in, s_w, s_out, kw, mult, shift)


@given(case=float_conv_cases(depthwise=False))
def test_conv2d_within_derived_bound_of_float64(case):
    _run_conv_float_check(case, conv2d)


@given(case=float_conv_cases(depthwise=True))
def test_depthwise_conv2d_within_derived_bound_of_float64(case):
    _run_conv_float_check(case, depthwise_conv2d)


@given(data=st.data())
def test_fully_connected_within_derived_bound_of_float64(data):
    n, k, o = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 64)), data.draw(st.integers(1, 16))
    x = int8_array(data.draw, (n, k))
    w = weight_array(data.draw, (o, k))
    bias = bias_array(data.draw, np.abs(w.astype(np.int64)).sum(axis=1))
    s_in, s_w, s_out = data.draw(real_scales(o))
    lo, hi = data.draw(activation_ranges())
    kw = dict(input_zp=data.draw(zero_points), output_zp=data.draw(zero_points), act_min=lo, act_max=hi)
    mult, shift = q31(s_in * s_w / s_out)
    got = fully_connected(x, w, bias, output_mult=mult, output_shift=shift, **kw)
    x_c = x.astype(np.int64) - kw["input_zp"]
    acc_int = x_c @ w.astype(np.int64).T
    float_acc = (s_in * x_c.astype(np.float64)) @ (w.astype(np.float64) * s_w[:, None]).T
    _check_within_bound(got, acc_int, float_acc, bias, s_in, s_w, s_out, kw, mult, shift)
