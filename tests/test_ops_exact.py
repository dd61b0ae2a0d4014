"""Bit-exactness of the non-convolution ops: Numba equals the reference, and C equals Numba.

Every drawn int8 tensor holds -128 and 127; multipliers and shifts include
their edge values; shapes include broadcasting, padding on every side and
windows that hang over the input.
"""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import ops_reference as ref
from layer_cases import activation_ranges, int8_array, mults, q31, shifts, zero_points
from microflat import kernels as k


def _both(op, *args, **kwargs):
    got = op(*args, backend="numba", **kwargs)
    got_c = op(*args, backend="c", **kwargs)
    np.testing.assert_array_equal(got_c, got)
    return got


@st.composite
def broadcast_pair(draw):
    shape = [draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 5))]
    a_shape = [d if draw(st.integers(0, 3)) else 1 for d in shape]
    b_shape = [d if draw(st.integers(0, 3)) else 1 for d in shape]
    return int8_array(draw, tuple(a_shape)), int8_array(draw, tuple(b_shape))


@given(pair=broadcast_pair(), data=st.data())
def test_add(pair, data):
    a, b = pair
    s1, s2, so = (data.draw(st.floats(1e-3, 1.0)) for _ in range(3))
    m1, sh1 = (int(v[0]) for v in q31([s1 / (2 * max(s1, s2))]))
    m2, sh2 = (int(v[0]) for v in q31([s2 / (2 * max(s1, s2))]))
    mo, sho = data.draw(st.one_of(st.just(tuple(int(v[0]) for v in q31([2 * max(s1, s2) / (2**20 * so)]))),
                                  st.tuples(mults, shifts)))
    lo, hi = data.draw(activation_ranges())
    p = dict(left_shift=20, input1_zp=data.draw(zero_points), input1_mult=m1, input1_shift=sh1,
             input2_zp=data.draw(zero_points), input2_mult=m2, input2_shift=sh2,
             output_zp=data.draw(zero_points), output_mult=mo, output_shift=sho, act_min=lo, act_max=hi)
    np.testing.assert_array_equal(_both(k.add, a, b, **p), ref.add(a, b, p))


@given(pair=broadcast_pair(), data=st.data())
def test_mul(pair, data):
    a, b = pair
    lo, hi = data.draw(activation_ranges())
    p = dict(input1_zp=data.draw(zero_points), input2_zp=data.draw(zero_points), output_zp=data.draw(zero_points),
             output_mult=data.draw(mults), output_shift=data.draw(shifts), act_min=lo, act_max=hi)
    np.testing.assert_array_equal(_both(k.mul, a, b, **p), ref.mul(a, b, p))


@st.composite
def pool_cases(draw):
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


def _pool_geometry(x, f, s, pad):
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


@given(case=pool_cases())
def test_average_pool2d(case):
    x, f, s, pad, lo, hi = case
    (oh, pt), (ow, pl) = _pool_geometry(x, f, s, pad)
    got = _both(k.average_pool2d, x, f, stride=s, padding=pad, act_min=lo, act_max=hi)
    np.testing.assert_array_equal(got, ref.average_pool2d(x, *f, *s, pt, pl, oh, ow, lo, hi))


@given(case=pool_cases())
def test_max_pool2d(case):
    x, f, s, pad, lo, hi = case
    (oh, pt), (ow, pl) = _pool_geometry(x, f, s, pad)
    got = _both(k.max_pool2d, x, f, stride=s, padding=pad, act_min=lo, act_max=hi)
    np.testing.assert_array_equal(got, ref.max_pool2d(x, *f, *s, pt, pl, oh, ow, lo, hi))


@given(data=st.data())
def test_mean_hw(data):
    x = int8_array(data.draw, (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 9)),
                               data.draw(st.integers(1, 9)), data.draw(st.integers(1, 4))))
    zi, zo = data.draw(zero_points), data.draw(zero_points)
    m, s = data.draw(mults), data.draw(shifts)
    got = _both(k.mean_hw, x, input_zp=zi, output_zp=zo, mult=m, shift=s)
    np.testing.assert_array_equal(got, ref.mean_hw(x, zi, zo, m, s))


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


@given(params=softmax_params(), data=st.data())
def test_softmax(params, data):
    mult, shift, diff_min = params
    depth = data.draw(st.one_of(st.integers(1, 12), st.integers(1, 1000), st.just(4095)))
    rows = data.draw(st.integers(1, 3)) if depth < 1000 else 1
    x = int8_array(data.draw, (rows, depth))
    if depth > 1000 and data.draw(st.booleans()):
        x[:] = 127  # every value equal to the max: the largest possible sum of exps
    got = _both(k.softmax, x, input_beta_mult=mult, input_left_shift=shift, diff_min=diff_min)
    np.testing.assert_array_equal(got, ref.softmax(x, mult, shift, diff_min))


@given(data=st.data())
def test_pad(data):
    x = int8_array(data.draw, tuple(data.draw(st.integers(1, 4)) for _ in range(4)))
    paddings = [tuple(data.draw(st.integers(0, 3)) for _ in range(2)) for _ in range(4)]
    v = data.draw(zero_points)
    np.testing.assert_array_equal(_both(k.pad, x, paddings, pad_value=v), ref.pad(x, paddings, v))


@given(data=st.data())
def test_concatenation(data):
    count = data.draw(st.integers(1, 4))
    axis = data.draw(st.integers(0, 3))
    base = [data.draw(st.integers(1, 4)) for _ in range(4)]
    xs = []
    for _ in range(count):
        shape = list(base)
        shape[axis] = data.draw(st.integers(1, 4))
        xs.append(int8_array(data.draw, tuple(shape)))
    zps = [data.draw(zero_points) for _ in xs]
    ms = [data.draw(mults) for _ in xs]
    ss = [data.draw(shifts) for _ in xs]
    rs = [data.draw(st.integers(0, 1)) for _ in xs]
    zo = data.draw(zero_points)
    got = _both(k.concatenation, xs, axis=axis, input_zps=zps, output_zp=zo, mults=ms, shifts=ss, requants=rs)
    np.testing.assert_array_equal(got, ref.concatenation(xs, axis, zps, zo, ms, ss, rs))


@given(data=st.data())
def test_lut(data):
    x = int8_array(data.draw, (data.draw(st.integers(1, 300)),))
    table = int8_array(data.draw, (256,))
    np.testing.assert_array_equal(_both(k.lut, x, table), table[x.astype(np.int64) + 128])
