"""Hypothesis strategies for kernel test cases. Never imports microflat's kernels, compiler or runtime.

Every drawn array contains its edge values (-128 and 127 for activations,
-127 and 127 for weights), and the requantization parameters include the
extreme multipliers (0, 1, 2^30, 2^31 - 1) and shifts (-31, 30) among
ordinary ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .int_reference import INT32_MAX, quantize_multiplier_exact, same_padding

MULT_EDGES = [0, 1, 2**30, 2**31 - 1]
SHIFT_EDGES = [-31, 30]


def with_edges(draw, arr: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Overwrite two hypothesis-chosen positions with lo and hi (when the array has two)."""
    arr = arr.copy()
    flat = arr.reshape(-1)
    if flat.size >= 2:
        i = draw(st.integers(0, flat.size - 1))
        j = draw(st.integers(0, flat.size - 2))
        j = j + 1 if j >= i else j
        flat[i], flat[j] = lo, hi
    return arr


def int8_array(draw, shape, lo=-128, hi=127) -> np.ndarray:
    arr = draw(hnp.arrays(np.int8, shape, elements=st.integers(lo, hi)))
    return with_edges(draw, arr, lo, hi)


def weight_array(draw, shape) -> np.ndarray:
    return int8_array(draw, shape, -127, 127)


mults = st.one_of(st.sampled_from(MULT_EDGES), st.integers(2**30, 2**31 - 1))
shifts = st.one_of(st.integers(-12, 3), st.integers(-12, 3), st.sampled_from(SHIFT_EDGES))
zero_points = st.integers(-128, 127)


@st.composite
def activation_ranges(draw):
    if draw(st.booleans()):
        return -128, 127
    a, b = draw(st.integers(-128, 127)), draw(st.integers(-128, 127))
    return min(a, b), max(a, b)


@st.composite
def requant_params(draw, channels: int):
    count = channels if draw(st.booleans()) else 1
    mult = np.array(draw(st.lists(mults, min_size=count, max_size=count)), dtype=np.int32)
    shift = np.array(draw(st.lists(shifts, min_size=count, max_size=count)), dtype=np.int32)
    return mult, shift


def bias_array(draw, abs_weight_sums: np.ndarray):
    """None, or int32 biases within the accumulator bound 255 * sum|w| + |bias| < 2^31."""
    if draw(st.integers(0, 3)) == 0:
        return None
    bound = INT32_MAX - 255 * int(abs_weight_sums.max())
    elements = st.one_of(st.integers(-2000, 2000), st.integers(-bound, bound), st.sampled_from([-bound, bound]))
    return draw(hnp.arrays(np.int32, abs_weight_sums.shape, elements=elements))


@dataclass
class Case:
    """One kernel invocation: arrays, keyword arguments, and the geometry the reference needs."""

    x: np.ndarray
    w: np.ndarray
    bias: np.ndarray | None
    kwargs: dict
    geometry: dict = field(default_factory=dict)


PADDING_MODES = ("valid", "same", "explicit")


@st.composite
def spatial_geometry(draw, kernel_sizes=st.integers(1, 4), modes=PADDING_MODES):
    """Kernel size, stride, dilation and padding for one axis, plus an input size that gives output >= 1."""
    k = draw(kernel_sizes)
    stride = draw(st.integers(1, 3))
    dilation = draw(st.integers(1, 3))
    eff = (k - 1) * dilation + 1
    mode = draw(st.sampled_from(modes))
    before, after = (draw(st.integers(0, 3)), draw(st.integers(0, 3))) if mode == "explicit" else (0, 0)
    smallest = 1 if mode == "same" else max(1, eff - before - after)
    size = draw(st.integers(smallest, smallest + 7))
    if mode == "same":
        out, before, after = same_padding(size, k, stride, dilation)
    else:
        out = (size + before + after - eff) // stride + 1
    return dict(k=k, stride=stride, dilation=dilation, mode=mode, before=before, after=after, size=size, out=out)


def padding_argument(gh, gw):
    if gh["mode"] == gw["mode"] == "same":
        return "same"
    if gh["mode"] == gw["mode"] == "valid":
        return "valid"
    return (gh["before"], gh["after"], gw["before"], gw["after"])


def fix_modes(gh, gw):
    """padding is one argument for both axes: 'same' only if both are; otherwise explicit numbers."""
    if gh["mode"] != gw["mode"]:
        for g in (gh, gw):
            if g["mode"] != "explicit":
                g["mode"] = "explicit"
    return gh, gw


@st.composite
def conv2d_cases(draw, modes=PADDING_MODES):
    """modes: the padding modes drawn; ("same",) keeps SAME, and its odd extra row / column, on both axes."""
    gh, gw = fix_modes(draw(spatial_geometry(modes=modes)), draw(spatial_geometry(modes=modes)))
    groups = draw(st.integers(1, 3))
    cin = groups * draw(st.integers(1, 4))
    cout = groups * draw(st.integers(1, 4))
    n = draw(st.integers(1, 2))
    x = int8_array(draw, (n, gh["size"], gw["size"], cin))
    w = weight_array(draw, (cout, gh["k"], gw["k"], cin // groups))
    bias = bias_array(draw, np.abs(w.reshape(cout, -1).astype(np.int64)).sum(axis=1))
    mult, shift = draw(requant_params(cout))
    act_min, act_max = draw(activation_ranges())
    kwargs = dict(
        input_zp=draw(zero_points), output_zp=draw(zero_points), output_mult=mult, output_shift=shift,
        stride=(gh["stride"], gw["stride"]), dilation=(gh["dilation"], gw["dilation"]),
        padding=padding_argument(gh, gw), groups=groups, act_min=act_min, act_max=act_max,
    )
    return Case(x, w, bias, kwargs, dict(h=gh, w=gw))


@st.composite
def depthwise_cases(draw, modes=PADDING_MODES):
    """modes: the padding modes drawn; ("same",) keeps SAME, and its odd extra row / column, on both axes."""
    gh, gw = fix_modes(draw(spatial_geometry(modes=modes)), draw(spatial_geometry(modes=modes)))
    cin = draw(st.integers(1, 6))
    multiplier = draw(st.integers(1, 3))
    n = draw(st.integers(1, 2))
    x = int8_array(draw, (n, gh["size"], gw["size"], cin))
    w = weight_array(draw, (1, gh["k"], gw["k"], cin * multiplier))
    bias = bias_array(draw, np.abs(w.reshape(-1, cin * multiplier).astype(np.int64)).sum(axis=0))
    mult, shift = draw(requant_params(cin * multiplier))
    act_min, act_max = draw(activation_ranges())
    kwargs = dict(
        input_zp=draw(zero_points), output_zp=draw(zero_points), output_mult=mult, output_shift=shift,
        stride=(gh["stride"], gw["stride"]), dilation=(gh["dilation"], gw["dilation"]),
        padding=padding_argument(gh, gw), act_min=act_min, act_max=act_max,
    )
    return Case(x, w, bias, kwargs, dict(h=gh, w=gw, multiplier=multiplier))


@st.composite
def fully_connected_cases(draw):
    n = draw(st.integers(1, 4))
    k = draw(st.integers(1, 64))
    o = draw(st.integers(1, 16))
    x = int8_array(draw, (n, k))
    w = weight_array(draw, (o, k))
    bias = bias_array(draw, np.abs(w.astype(np.int64)).sum(axis=1))
    mult, shift = draw(requant_params(o))
    act_min, act_max = draw(activation_ranges())
    kwargs = dict(
        input_zp=draw(zero_points), output_zp=draw(zero_points), output_mult=mult, output_shift=shift,
        act_min=act_min, act_max=act_max,
    )
    return Case(x, w, bias, kwargs)


# --- 16x8 layers: int16 activations (zero point 0), int8 weights, int64 bias ---------------------------------

INT16_MIN, INT16_MAX = -(2**15), 2**15 - 1
ACC16X8_MAX = 2**47 - 1
# Q31 multipliers around the Q15 reduction's saturation point (0x7FFF0000) and rounding half step (2^15).
MULT_16X8_EDGES = MULT_EDGES + [2**15 - 1, 2**15, 0x7FFEFFFF, 0x7FFF0000]
shifts_16x8 = st.one_of(st.integers(-20, 0), st.integers(-31, 7), st.sampled_from([-31, 7]))


def int16_array(draw, shape) -> np.ndarray:
    elements = st.one_of(st.integers(-300, 300), st.integers(INT16_MIN, INT16_MAX))
    arr = draw(hnp.arrays(np.int16, shape, elements=elements))
    return with_edges(draw, arr, INT16_MIN, INT16_MAX)


@st.composite
def activation_ranges_16(draw):
    if draw(st.booleans()):
        return INT16_MIN, INT16_MAX
    a, b = draw(st.integers(INT16_MIN, INT16_MAX)), draw(st.integers(INT16_MIN, INT16_MAX))
    return min(a, b), max(a, b)


@st.composite
def requant_params_16x8(draw, channels: int):
    count = channels if draw(st.booleans()) else 1
    mults = st.one_of(st.sampled_from(MULT_16X8_EDGES), st.integers(2**30, 2**31 - 1))
    mult = np.array(draw(st.lists(mults, min_size=count, max_size=count)), dtype=np.int32)
    shift = np.array(draw(st.lists(shifts_16x8, min_size=count, max_size=count)), dtype=np.int32)
    return mult, shift


def bias_array_16x8(draw, abs_weight_sums: np.ndarray):
    """None, or int64 biases within the 16x8 accumulator bound 2^15 * sum|w| + |bias| <= 2^47 - 1."""
    if draw(st.integers(0, 3)) == 0:
        return None
    bound = ACC16X8_MAX - 2**15 * int(abs_weight_sums.max())
    elements = st.one_of(st.integers(-(2**20), 2**20), st.integers(-bound, bound), st.sampled_from([-bound, bound]))
    return draw(hnp.arrays(np.int64, abs_weight_sums.shape, elements=elements))


def as_16x8(draw, case: Case) -> Case:
    """An int8 case's geometry and weights as a 16x8 case: int16 input with its edges, zero points 0, an int64
    bias, shifts in [-31, 7] and an int16 clamp."""
    channels = case.w.shape[3] if "multiplier" in case.geometry else case.w.shape[0]
    sums = np.abs(np.moveaxis(case.w, 3 if "multiplier" in case.geometry else 0, 0).reshape(channels, -1)
                  .astype(np.int64)).sum(axis=1)
    mult, shift = draw(requant_params_16x8(channels))
    act_min, act_max = draw(activation_ranges_16())
    kwargs = dict(case.kwargs, input_zp=0, output_zp=0, output_mult=mult, output_shift=shift, act_min=act_min,
                  act_max=act_max)
    return Case(int16_array(draw, case.x.shape), case.w, bias_array_16x8(draw, sums), kwargs, case.geometry)


@st.composite
def conv2d_cases_16x8(draw):
    return as_16x8(draw, draw(conv2d_cases()))


@st.composite
def depthwise_cases_16x8(draw):
    return as_16x8(draw, draw(depthwise_cases()))


@st.composite
def fully_connected_cases_16x8(draw):
    return as_16x8(draw, draw(fully_connected_cases()))


@st.composite
def real_scales(draw, channels: int):
    """Input, per-channel weight and output scales, as a calibrated model would have."""
    s_in = draw(st.floats(1e-3, 1.0))
    s_w = np.array(draw(st.lists(st.floats(1e-4, 0.1), min_size=channels, max_size=channels)))
    m_typical = draw(st.floats(1e-5, 2.0))  # the real requantization multiplier of the largest channel
    s_out = s_in * float(s_w.max()) / m_typical
    return s_in, s_w, s_out


def q31(real_multipliers):
    """Q31 encoding via the exact-rational reference (same results as TFLite's QuantizeMultiplier)."""
    pairs = [quantize_multiplier_exact(float(m)) for m in np.asarray(real_multipliers).reshape(-1)]
    return np.array([p[0] for p in pairs], np.int32), np.array([p[1] for p in pairs], np.int32)


def encoded_multiplier(mult, shift):
    """The real value mult * 2^(shift - 31) that the kernel actually applies."""
    return np.asarray(mult, dtype=np.float64) * np.exp2(np.asarray(shift, dtype=np.float64) - 31)


def lsb_error_bound(acc, real_m, mult, shift):
    """|int8 output - float result| bound in output LSBs (derivation in tests/test_kernels_float.py)."""
    right = np.maximum(-np.asarray(shift, dtype=np.int64), 0)
    m_encoded = encoded_multiplier(mult, shift)
    return 0.5 + 0.5 * np.exp2(-right.astype(np.float64)) + np.abs(acc) * np.abs(m_encoded - real_m) + 1e-6

