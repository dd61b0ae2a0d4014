"""The public wrappers refuse bad arguments with one ValueError that names the argument; run_kernel takes a
kernel's arguments by name only."""

import numpy as np
import pytest

from microflat.kernels import conv2d, depthwise_conv2d, fully_connected
from microflat.kernels._dispatch import run_kernel
from microflat.kernels.lut import lut_s8

X = np.zeros((1, 4, 4, 2), np.int8)
W = np.ones((3, 3, 3, 2), np.int8)
Q = dict(input_zp=0, output_zp=0, output_mult=[2**30], output_shift=[-1])


def _conv(**over):
    args = dict(input=X, filter=W, bias=None, **Q)
    args.update(over)
    return conv2d(args.pop("input"), args.pop("filter"), args.pop("bias"), **args)


@pytest.mark.parametrize(
    "override, message",
    [
        (dict(input=X.astype(np.int32)), "input must have dtype int8"),
        (dict(input=X[0]), "input must be 4-D"),
        (dict(input=[[1]]), "input must be a numpy array"),
        (dict(filter=W.astype(np.float32)), "filter must have dtype int8"),
        (dict(filter=np.full((3, 3, 3, 2), -128, np.int8)), "filter holds -128"),
        (dict(filter=np.ones((3, 3, 3, 1), np.int8)), "filter has 1 input channels"),
        (dict(groups=3), "groups .* must divide"),
        (dict(groups=0), "groups must be in"),
        (dict(input_zp=128), "input_zp must be in"),
        (dict(output_zp=-129), "output_zp must be in"),
        (dict(act_min=10, act_max=5), "act_min .* must be <= act_max"),
        (dict(act_max=300), "act_max must be in"),
        (dict(output_mult=[-1]), "output_mult must be in"),
        (dict(output_mult=[2**31]), "output_mult must be in"),
        (dict(output_shift=[31]), "output_shift must be in"),
        (dict(output_shift=[-32]), "output_shift must be in"),
        (dict(output_mult=[1, 2]), "output_mult must hold 1 .* or 3"),
        (dict(output_mult=[1.5]), "output_mult must be integers"),
        (dict(bias=np.zeros(3, np.int64)), "bias must have dtype int32"),
        (dict(bias=np.zeros(2, np.int32)), "bias must have 3 values"),
        (dict(stride=0), "stride must be in"),
        (dict(dilation=(1, 0)), r"dilation\[1\] must be in"),
        (dict(padding="full"), "padding must be"),
        (dict(padding=(1, 2, 3)), "padding must be"),
        (dict(filter=np.ones((3, 5, 5, 2), np.int8)), "the output would be empty"),
        (dict(bias=np.full(3, 2**31 - 1, np.int32)), "the int32 accumulator of output channel 0 could reach 2147488237"),
        (dict(backend="cuda"), "backend must be one of"),
    ],
)
def test_conv2d_rejects(override, message):
    with pytest.raises(ValueError, match="conv2d: " + message):
        _conv(**override)


def test_accumulator_bound_names_the_numbers():
    # K = 70,000 taps of weight 127: 255 * 127 * 70000 = 2,266,950,000 >= 2^31.
    x = np.zeros((1, 70_000), np.int8)
    w = np.full((1, 70_000), 127, np.int8)
    with pytest.raises(ValueError, match="could reach 2266950000"):
        fully_connected(x, w, None, **Q)


@pytest.mark.parametrize(
    "args, message",
    [
        ((np.zeros((1, 4, 4, 2), np.int8), np.ones((2, 3, 3, 2), np.int8)), "filter must have shape \\[1, KH, KW"),
        ((np.zeros((1, 4, 4, 2), np.int8), np.ones((1, 3, 3, 3), np.int8)), r"filter channels \(3\) must be a multiple of input channels \(2\)"),
    ],
)
def test_depthwise_rejects(args, message):
    with pytest.raises(ValueError, match="depthwise_conv2d: " + message):
        depthwise_conv2d(*args, None, **Q)


@pytest.mark.parametrize(
    "args, message",
    [
        ((np.zeros((2, 5), np.int8), np.ones((3, 4), np.int8)), "filter has 4 input features, input has 5"),
        ((np.zeros((2, 5, 1), np.int8), np.ones((3, 5), np.int8)), "input must be 2-D"),
        ((np.zeros((0, 5), np.int8), np.ones((3, 5), np.int8)), r"input \(0, 5\) and filter \(3, 5\) must have no empty dimension"),
    ],
)
def test_fully_connected_rejects(args, message):
    with pytest.raises(ValueError, match="fully_connected: " + message):
        fully_connected(*args, None, **Q)


def test_non_contiguous_input_is_accepted_and_equal():
    x = np.arange(2 * 4 * 4 * 4, dtype=np.int64).astype(np.int8).reshape(2, 4, 4, 4)[..., ::2]
    for backend in ("numba", "c"):
        a = conv2d(x, W, None, backend=backend, **Q)
        b = conv2d(np.ascontiguousarray(x), W, None, backend=backend, **Q)
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("backend", ["numba", "c"])
def test_run_kernel_takes_arguments_by_name(backend):
    x = np.arange(-128, 128, dtype=np.int64).astype(np.int8)
    table = x[::-1].copy()
    named = dict(size=x.size, table=table, input=x, output=np.zeros_like(x))
    run_kernel(backend, lut_s8, **named)
    np.testing.assert_array_equal(named["output"], table[x.astype(np.int64) + 128])
    missing = {k: v for k, v in named.items() if k != "table"}
    with pytest.raises(TypeError, match=r"lut_s8: missing \['table'\], unknown \[\]"):
        run_kernel(backend, lut_s8, **missing)
    with pytest.raises(TypeError, match=r"lut_s8: missing \[\], unknown \['lut'\]"):
        run_kernel(backend, lut_s8, **named, lut=table)
    with pytest.raises(TypeError, match=r"lut_s8: missing \['table'\], unknown \['lut'\]"):
        run_kernel(backend, lut_s8, **missing, lut=table)
    with pytest.raises(TypeError):
        run_kernel(backend, lut_s8, x.size, table, x, named["output"])
