"""Against float64: softmax, the activation tables, and the boundary quantize/dequantize.

Softmax bound, in output LSBs (scale 1/256). The kernel computes
y = 256 e_j / S - 128 with every quantity in fixed point:
  - the rescaled difference r = d * beta * s_in in Q5.26 is rounded once
    (error 2^-27 in r, a relative error 2^-27 in exp);
  - gemmlowp's exp is accurate to a few Q0.31 steps (below 2^-28 absolute);
  - each term of the Q12.19 sum is rounded (2^-20), so S has relative error
    below depth * 2^-20 (S >= 1 because the row's maximum contributes 1);
  - the Newton-Raphson reciprocal is accurate to a few Q0.31 steps (2^-28);
  - the final rounding divide adds 1/2.
Terms below diff_min are dropped; exp(-radius) for them is below 2^-28 of
the maximum's. Bounding p_j <= 1 gives, in LSBs of 1/256,
    |y - (256 p - 128)| <= 1/2 + 256 * (depth * 2^-20 + 8 * 2^-28) + 2^-10
(the last term covers Q5.26 rescaling). The exact float reference uses the
multiplier the kernel applies, mult 2^(left_shift - 31) / 2^26.
"""

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from microflat.testing.layer_cases import int8_array, zero_points
from microflat import kernels as k


@given(data=st.data())
def test_softmax_within_derived_bound_of_float(data):
    depth = data.draw(st.integers(1, 300))
    x = int8_array(data.draw, (data.draw(st.integers(1, 3)), depth))
    beta, s_in = data.draw(st.floats(0.5, 2.0)), data.draw(st.floats(1e-3, 0.5))
    mult, shift, diff_min = k.preprocess_softmax_scaling(beta, s_in)
    got = k.softmax(x, input_beta_mult=mult, input_left_shift=shift, diff_min=diff_min).astype(np.float64)
    applied = mult * 2.0 ** (shift - 31) / 2.0**26  # beta * s_in as the kernel encodes it
    d = x.astype(np.float64) - x.max(axis=-1, keepdims=True)
    e = np.where(d >= diff_min, np.exp(d * applied), 0.0)
    want = 256.0 * e / e.sum(axis=-1, keepdims=True) - 128.0
    bound = 0.5 + 256 * (depth * 2.0**-20 + 8 * 2.0**-28) + 2.0**-10
    clamped = np.clip(want, -128, 127)
    assert np.abs(got - clamped).max() <= bound


def _reference_activation(function, r, params):
    """The float64 definitions, written from PyTorch's documentation (never from microflat's LUT_FUNCTIONS)."""
    erf = np.array([math.erf(v / math.sqrt(2)) for v in r])
    sig = 1 / (1 + np.exp(-r))
    return {
        "logistic": sig,
        "tanh": np.tanh(r),
        "hardswish": r * np.minimum(np.maximum(r + 3, 0), 6) / 6,
        "gelu": r * 0.5 * (1 + erf),
        "gelu_tanh": 0.5 * r * (1 + np.tanh(math.sqrt(2 / math.pi) * (r + 0.044715 * r**3))),
        "silu": r * sig,
        "hardsigmoid": np.minimum(np.maximum(r / 6 + 0.5, 0), 1),
        "leaky_relu": np.where(r >= 0, r, params.get("alpha", 0) * r),
        "elu": np.where(r > 0, r, params.get("alpha", 0) * (np.exp(np.minimum(r, 0)) - 1)),
        "mish": r * np.tanh(np.log1p(np.exp(r))),
        "clamp": np.minimum(np.maximum(r, params.get("lo", 0)), params.get("hi", 0)),
    }[function]


TABLE_FUNCTIONS = ["logistic", "tanh", "hardswish", "gelu", "gelu_tanh", "silu", "hardsigmoid", "leaky_relu", "elu",
                   "mish", "clamp"]


@given(function=st.sampled_from(TABLE_FUNCTIONS), s_in=st.floats(1e-3, 0.2),
       s_out=st.floats(1e-3, 0.1), zi=zero_points, zo=zero_points, data=st.data())
def test_lut_table_is_the_correctly_rounded_function(function, s_in, s_out, zi, zo, data):
    """Each entry is within half an output LSB of f (before the clamp): the best an int8 table can be."""
    params = {}
    if function in ("leaky_relu", "elu"):
        params["alpha"] = data.draw(st.floats(0.0, 2.0))
    if function == "clamp":
        lo = data.draw(st.floats(-3.0, 3.0))
        params = dict(lo=lo, hi=lo + data.draw(st.floats(0.0, 6.0)))
    table = k.build_lut_s8(function, s_in, zi, s_out, zo, **params).astype(np.float64)
    r = s_in * (np.arange(-128, 128, dtype=np.float64) - zi)
    want = np.clip(_reference_activation(function, r, params) / s_out + zo, -128, 127)
    assert np.abs(table - want).max() <= 0.5 + 1e-9


@given(data=st.data())
def test_quantize_and_dequantize_match_float32_math(data):
    """quantize: round-half-away of the float32 quotient, saturated; dequantize: one float32 product."""
    n = data.draw(st.integers(1, 200))
    x = np.array(data.draw(st.lists(st.floats(-1e6, 1e6, width=32), min_size=n, max_size=n)), dtype=np.float32)
    scale = np.float32(data.draw(st.floats(2.0**-13, 8.0, width=32)))
    zp = data.draw(zero_points)
    q = x / scale  # float32 division, as the kernels
    t = np.trunc(q.astype(np.float64))
    frac = q.astype(np.float64) - t
    want = np.clip(t + (frac >= 0.5) - (frac <= -0.5) + zp, -128, 127).astype(np.int8)
    for backend in ("numba", "c"):
        got = k.quantize_int8(x, scale=float(scale), zero_point=zp, backend=backend)
        np.testing.assert_array_equal(got, want)
        back = k.dequantize_int8(got, scale=float(scale), zero_point=zp, backend=backend)
        np.testing.assert_array_equal(back, scale * (got.astype(np.float32) - np.float32(zp)))
