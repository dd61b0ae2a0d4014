"""The interpreter's fast Numba kernels (packed_layers.py, vector_ir.py, add_s8_same_shape) equal the int64
references bit for bit.

The cases are layer_cases' but wider: channel counts around the 8- and 16-lane blocks and the 4-block
tiles (1, 7, 8, 9, 15, 16, 17, 33, 48, 64, 65, 80), 3x3 depthwise filters often (their own vector path),
pixel counts that leave 1, 2 or 3 pixels for the last tile, and every requantization layout (multipliers
and shifts at their edges, so both the fused output stage and the reference fallback run).
"""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from microflat.testing import ops_reference as ops_ref
from microflat.testing.layer_cases import (Case, activation_ranges, bias_array, fix_modes, int8_array, padding_argument, q31,
                         requant_params, spatial_geometry, weight_array, zero_points)
from microflat.testing.layer_references import conv2d_reference, depthwise_reference, fully_connected_reference
from microflat.kernels import elementwise
from microflat.kernels import packed_layers as PL

WIDTHS = st.sampled_from([1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 33, 48, 64, 65, 80])
KERNELS = st.sampled_from([3, 3, 3, 1, 2, 4, 5])


def _layer_kwargs(draw, channels, geometry=None):
    mult, shift = draw(requant_params(channels))
    act_min, act_max = draw(activation_ranges())
    kwargs = dict(input_zp=draw(zero_points), output_zp=draw(zero_points), output_mult=mult, output_shift=shift,
                  act_min=act_min, act_max=act_max)
    if geometry is not None:
        gh, gw = geometry
        kwargs.update(stride=(gh["stride"], gw["stride"]), dilation=(gh["dilation"], gw["dilation"]),
                      padding=padding_argument(gh, gw))
    return kwargs


@st.composite
def wide_conv2d_cases(draw):
    gh, gw = fix_modes(draw(spatial_geometry(KERNELS)), draw(spatial_geometry(KERNELS)))
    cin, cout, n = draw(WIDTHS), draw(WIDTHS), draw(st.integers(1, 2))
    x = int8_array(draw, (n, gh["size"], gw["size"], cin))
    w = weight_array(draw, (cout, gh["k"], gw["k"], cin))
    bias = draw(st.one_of(st.none(), st.just(bias_array(draw, np.abs(w.reshape(cout, -1).astype(np.int64)).sum(1)))))
    kwargs = _layer_kwargs(draw, cout, (gh, gw))
    kwargs["groups"] = 1
    return Case(x, w, bias, kwargs, dict(h=gh, w=gw))


@st.composite
def wide_depthwise_cases(draw):
    gh, gw = fix_modes(draw(spatial_geometry(KERNELS)), draw(spatial_geometry(KERNELS)))
    cin, multiplier, n = draw(WIDTHS), draw(st.sampled_from([1, 1, 2, 3])), draw(st.integers(1, 2))
    x = int8_array(draw, (n, gh["size"], gw["size"], cin))
    w = weight_array(draw, (1, gh["k"], gw["k"], cin * multiplier))
    bias = bias_array(draw, np.abs(w.reshape(-1, cin * multiplier).astype(np.int64)).sum(axis=0))
    return Case(x, w, bias, _layer_kwargs(draw, cin * multiplier, (gh, gw)), dict(h=gh, w=gw, multiplier=multiplier))


@st.composite
def wide_fully_connected_cases(draw):
    n, k, o = draw(st.integers(1, 9)), draw(st.integers(1, 300)), draw(WIDTHS)
    x = int8_array(draw, (n, k))
    w = weight_array(draw, (o, k))
    bias = bias_array(draw, np.abs(w.astype(np.int64)).sum(axis=1))
    return Case(x, w, bias, _layer_kwargs(draw, o))


def _layer(case):
    """The arguments every weighted kernel takes, by name (kernels.kernel_args)."""
    kw = case.kwargs
    return dict(input_zp=kw["input_zp"], output_zp=kw["output_zp"], output_mult=kw["output_mult"],
                output_shift=kw["output_shift"], per_channel=1, act_min=kw["act_min"], act_max=kw["act_max"],
                input=case.x.reshape(-1), filter=case.w, bias=case.bias)


def _spatial(case):
    gh, gw = case.geometry["h"], case.geometry["w"]
    n, h, w, c = case.x.shape
    return dict(batches=n, input_h=h, input_w=w, input_ch=c, filter_h=gh["k"], filter_w=gw["k"],
                output_h=gh["out"], output_w=gw["out"], stride_h=gh["stride"], stride_w=gw["stride"],
                dilation_h=gh["dilation"], dilation_w=gw["dilation"], pad_top=gh["before"], pad_left=gw["before"])


def _run(kernel_and_args, output):
    kernel, args = kernel_and_args
    kernel(*args)
    return output


@given(case=wide_conv2d_cases())
def test_packed_conv2d_equals_reference(case):
    expected = conv2d_reference(case)
    out = np.full(expected.shape, 99, np.int8)
    call = PL.conv2d_packed_call(**_spatial(case), output_ch=case.w.shape[0], groups=1, **_layer(case),
                                 output=out.reshape(-1))
    np.testing.assert_array_equal(_run(call, out), expected)


@given(case=wide_depthwise_cases())
def test_packed_depthwise_conv2d_equals_reference(case):
    expected = depthwise_reference(case)
    out = np.full(expected.shape, 99, np.int8)
    call = PL.depthwise_packed_call(**_spatial(case), depth_multiplier=case.geometry["multiplier"], **_layer(case),
                                    output=out.reshape(-1))
    np.testing.assert_array_equal(_run(call, out), expected)


@given(case=wide_fully_connected_cases())
def test_packed_fully_connected_equals_reference(case):
    expected = fully_connected_reference(case)
    out = np.full(expected.shape, 99, np.int8)
    call = PL.fully_connected_packed_call(batches=case.x.shape[0], input_features=case.x.shape[1],
                                          output_features=case.w.shape[0], filter_zp=0, single_rounding=0,
                                          **_layer(case), output=out.reshape(-1))
    np.testing.assert_array_equal(_run(call, out), expected)


@given(data=st.data(), size=st.integers(1, 700), in_place=st.sampled_from([None, 0, 1]))
def test_add_same_shape_equals_reference(data, size, in_place):
    """The vectorized same-shape add, also in place on either input as the planner runs it."""
    a, b = int8_array(data.draw, (1, 1, 1, size)), int8_array(data.draw, (1, 1, 1, size))
    s1, s2, so = (data.draw(st.floats(1e-3, 1.0)) for _ in range(3))
    m1, sh1 = (int(v[0]) for v in q31([s1 / (2 * max(s1, s2))]))
    m2, sh2 = (int(v[0]) for v in q31([s2 / (2 * max(s1, s2))]))
    mo, sho = (int(v[0]) for v in q31([2 * max(s1, s2) / (2**20 * so)]))
    lo, hi = data.draw(activation_ranges())
    p = dict(left_shift=20, input1_zp=data.draw(zero_points), input1_mult=m1, input1_shift=sh1,
             input2_zp=data.draw(zero_points), input2_mult=m2, input2_shift=sh2,
             output_zp=data.draw(zero_points), output_mult=mo, output_shift=sho, act_min=lo, act_max=hi)
    expected = ops_ref.add(a, b, p)
    out = [a.copy(), b.copy()][in_place] if in_place is not None else np.zeros_like(a)
    x1 = out if in_place == 0 else a.copy()
    x2 = out if in_place == 1 else b.copy()
    elementwise.add_s8_same_shape(size, 20, p["input1_zp"], m1, sh1, p["input2_zp"], m2, sh2, p["output_zp"], mo, sho,
                                  lo, hi, x1.reshape(-1), x2.reshape(-1), out.reshape(-1))
    np.testing.assert_array_equal(out, expected)
