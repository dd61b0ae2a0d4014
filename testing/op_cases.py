"""Hypothesis strategies for the non-convolution int8 ops: add, mul, average/max pool, softmax.

Moved here from tests/test_ops_exact.py so that the project's tests and microflat.testing.check_kernel draw
the same cases. Like layer_cases, every drawn int8 tensor holds -128 and 127, multipliers and shifts
include their edge values, and the shapes include broadcasting, padding on every side (SAME's odd extra
row or column included) and windows that hang over the input. Never imports microflat's kernels.
"""

from __future__ import annotations

from hypothesis import strategies as st

from .layer_cases import activation_ranges, int8_array, mults, q31, shifts, zero_points


@st.composite
def broadcast_pair(draw):
    """Two int8 NHWC tensors whose shapes broadcast against each other (any axis may be 1 in either)."""
    shape = [draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 5))]
    a_shape = [d if draw(st.integers(0, 3)) else 1 for d in shape]
    b_shape = [d if draw(st.integers(0, 3)) else 1 for d in shape]
    return int8_array(draw, tuple(a_shape)), int8_array(draw, tuple(b_shape))


@st.composite
def add_cases(draw):
    """(a, b, params) for ADD: TFLite's encodings of real scales (left_shift 20), or edge output encodings."""
    a, b = draw(broadcast_pair())
    s1, s2, so = (draw(st.floats(1e-3, 1.0)) for _ in range(3))
    m1, sh1 = (int(v[0]) for v in q31([s1 / (2 * max(s1, s2))]))
    m2, sh2 = (int(v[0]) for v in q31([s2 / (2 * max(s1, s2))]))
    mo, sho = draw(st.one_of(st.just(tuple(int(v[0]) for v in q31([2 * max(s1, s2) / (2**20 * so)]))),
                             st.tuples(mults, shifts)))
    lo, hi = draw(activation_ranges())
    p = dict(left_shift=20, input1_zp=draw(zero_points), input1_mult=m1, input1_shift=sh1,
             input2_zp=draw(zero_points), input2_mult=m2, input2_shift=sh2,
             output_zp=draw(zero_points), output_mult=mo, output_shift=sho, act_min=lo, act_max=hi)
    return a, b, p


@st.composite
def mul_cases(draw):
    """(a, b, params) for MUL: any zero points, edge-heavy output multipliers and shifts."""
    a, b = draw(broadcast_pair())
    lo, hi = draw(activation_ranges())
    p = dict(input1_zp=draw(zero_points), input2_zp=draw(zero_points), output_zp=draw(zero_points),
             output_mult=draw(mults), output_shift=draw(shifts), act_min=lo, act_max=hi)
    return a, b, p


@st.composite
def pool_cases(draw):
    """(x, (fh, fw), (sh, sw), padding, act_min, act_max) for AVERAGE_POOL_2D and MAX_POOL_2D."""
    fh, fw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pad = draw(st.sampled_from(["valid", "same", "explicit"]))
    if pad == "explicit":
        # every window overlaps the input: padding on each side below the window size
        pad = tuple(draw(st.integers(0, kk - 1)) for kk in (fh, fh, fw, fw))
    h = draw(st.integers(fh, fh + 6))
    w = draw(st.integers(fw, fw + 6))
    x = int8_array(draw, (draw(st.integers(1, 2)), h, w, draw(st.integers(1, 4))))
    lo, hi = draw(activation_ranges())
    return x, (fh, fw), (sh, sw), pad, lo, hi


def pool_geometry(x, f, s, pad):
    """[(out_h, pad_top), (out_w, pad_left)] of a pool case; SAME puts the odd extra padding after."""
    _, h, w, _ = x.shape
    out = []
    for size, kk, st_, axis in ((h, f[0], s[0], 0), (w, f[1], s[1], 1)):
        if pad == "same":
            o = -(-size // st_)
            before = max((o - 1) * st_ + kk - size, 0) // 2
        else:
            before, after = (0, 0) if pad == "valid" else (pad[2 * axis], pad[2 * axis + 1])
            o = (size + before + after - kk) // st_ + 1
        out.append((o, before))
    return out


@st.composite
def softmax_params(draw):
    """(mult, left_shift, diff_min) as PreprocessSoftmaxScaling gives them, plus edge encodings."""
    if draw(st.booleans()):
        beta_scale = draw(st.floats(2.0**-26, 2.0**6))
        real = min(beta_scale * 2.0**26, 2.0**31 - 1)
        mult, shift = (int(v[0]) for v in q31([real]))
    else:
        mult, shift = draw(st.sampled_from([2**30, 2**31 - 1])), draw(st.integers(0, 31))
    radius = (31 * 2**26) >> shift
    diff_min = draw(st.one_of(st.just(-radius), st.integers(-min(radius, 300), 0)))
    return mult, shift, diff_min


@st.composite
def softmax_cases(draw):
    """(x, mult, left_shift, diff_min): rows of up to 4095 values, sometimes all equal to the max (the
    largest possible sum of exps)."""
    mult, shift, diff_min = draw(softmax_params())
    depth = draw(st.one_of(st.integers(1, 12), st.integers(1, 1000), st.just(4095)))
    rows = draw(st.integers(1, 3)) if depth < 1000 else 1
    x = int8_array(draw, (rows, depth))
    if depth > 1000 and draw(st.booleans()):
        x[:] = 127  # every value equal to the max: the largest possible sum of exps
    return x, mult, shift, diff_min
