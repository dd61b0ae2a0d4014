"""microflat.testing.check_kernel (issue 27): it passes microflat's own kernels, both backends, on every op it
covers, and it finds, shrinks and reproduces the bugs of deliberately broken Python kernels:

  (a) fully connected requantized with one rounding of acc * M (TFLite rounds twice: SRDHM, then the
      rounding right shift);
  (b) conv2d whose SAME padding puts the odd extra row / column before instead of after;
  (c) average pool rounding ties half to even (TFLite rounds them away from zero).

Each report must name the op and hold a reproduction that runs: executed, it rebuilds the case, on which the
broken kernel still disagrees with ``expected`` and microflat's kernel agrees with it.
"""

import functools
import subprocess
import sys

import numpy as np
import pytest

from microflat import kernels as K
from microflat.testing import OPS, KernelMismatch, check_kernel
from microflat.testing import int_reference as ref

OWN_OPS = ["conv2d", "depthwise_conv2d", "fully_connected", "average_pool2d", "max_pool2d", "add", "mul", "softmax"]


def test_check_kernel_covers_the_issues_ops():
    assert set(OWN_OPS) <= set(OPS)


@pytest.mark.parametrize("backend", ["numba", "c"])
@pytest.mark.parametrize("op", OWN_OPS)
def test_check_kernel_passes_microflats_own_kernels(op, backend):
    check_kernel(op, functools.partial(getattr(K, op), backend=backend), max_examples=40)


# --- deliberately broken kernels, with the public signatures ---------------------------------------------------


def _clamp(v, act_min, act_max):
    return np.clip(v, -128 if act_min is None else act_min, 127 if act_max is None else act_max).astype(np.int8)


def single_rounding_fully_connected(input, filter, bias=None, *, input_zp, output_zp, output_mult, output_shift,
                                    act_min=None, act_max=None, **_):
    """Bug (a): round(acc * mult * 2^(shift - 31)) once, ties away from zero, instead of TFLite's two roundings."""
    acc = (input.astype(np.int64) - input_zp) @ filter.astype(np.int64).T
    if bias is not None:
        acc = acc + bias.astype(np.int64)
    mult = np.broadcast_to(ref.per_channel(output_mult, filter.shape[0]), acc.shape)
    shift = np.broadcast_to(ref.per_channel(output_shift, filter.shape[0]), acc.shape)
    once = np.vectorize(ref.multiply_by_quantized_multiplier_single_rounding, otypes=[np.int64])(acc, mult, shift)
    return _clamp(once + output_zp, act_min, act_max)


def _axis(size, k, stride, dilation, padding, axis, extra_before):
    """(out, pad_before) of one axis; extra_before puts SAME's odd padding on the wrong side."""
    eff = (k - 1) * dilation + 1
    if padding == "same":
        out = -(-size // stride)
        total = max((out - 1) * stride + eff - size, 0)
        return out, (total - total // 2) if extra_before else total // 2
    before, after = (0, 0) if padding == "valid" else (padding[2 * axis], padding[2 * axis + 1])
    return (size + before + after - eff) // stride + 1, before


def wrong_same_padding_conv2d(input, filter, bias=None, *, input_zp, output_zp, output_mult, output_shift,
                              stride=(1, 1), dilation=(1, 1), padding="valid", groups=1, act_min=None, act_max=None):
    """Bug (b): SAME padding's odd extra row / column at the top / left (TFLite puts it at the bottom / right)."""
    _, h, w, _ = input.shape
    cout, kh, kw, _ = filter.shape
    oh, top = _axis(h, kh, stride[0], dilation[0], padding, 0, extra_before=True)
    ow, left = _axis(w, kw, stride[1], dilation[1], padding, 1, extra_before=True)
    acc = ref.conv2d_accumulators(input.astype(np.int64) - input_zp, filter.astype(np.int64), stride, dilation,
                                  top, left, oh, ow, groups)
    if bias is not None:
        acc = acc + bias.astype(np.int64)
    out = ref.multiply_by_quantized_multiplier(acc, ref.per_channel(output_mult, cout),
                                               ref.per_channel(output_shift, cout))
    return _clamp(out + output_zp, act_min, act_max)


def half_to_even_average_pool2d(input, filter_size, *, stride=(1, 1), padding="valid", act_min=None, act_max=None):
    """Bug (c): the window average rounded half to even (np.round) instead of half away from zero."""
    n, h, w, c = input.shape
    (fh, fw), (sh, sw) = filter_size, stride
    oh, top = _axis(h, fh, sh, 1, padding, 0, extra_before=False)
    ow, left = _axis(w, fw, sw, 1, padding, 1, extra_before=False)
    out = np.empty((n, oh, ow, c), np.int64)
    for y in range(oh):
        for x in range(ow):
            y0, x0 = y * sh - top, x * sw - left
            window = input[:, max(y0, 0):max(y0 + fh, 0), max(x0, 0):max(x0 + fw, 0), :].astype(np.int64)
            count = window.shape[1] * window.shape[2]
            # acc / count is exact in float64 at a tie (k + 1/2), so np.round sees the tie and picks the even k
            out[:, y, x, :] = np.round(window.sum(axis=(1, 2)) / count)
    return _clamp(out, act_min, act_max)


def _one_lsb_apart(call, actual):
    """Rounding bugs (a) and (c) move an output by one step at a tie: the shrunk case shows exactly that."""
    return np.abs(actual.astype(np.int64) - call.expected).max() == 1


BROKEN = [
    # (op, broken kernel, what the shrunk case must show)
    ("fully_connected", single_rounding_fully_connected, _one_lsb_apart),
    ("conv2d", wrong_same_padding_conv2d, lambda call, actual: call.kwargs["padding"] == "same"),
    # the smallest tie: a two-tap window with an odd sum
    ("average_pool2d", half_to_even_average_pool2d, lambda call, actual: call.args[0].size == 2
     and _one_lsb_apart(call, actual)),
]


@pytest.mark.parametrize("op, broken, planted", BROKEN, ids=[op for op, _, _ in BROKEN])
def test_check_kernel_finds_shrinks_and_reproduces_a_broken_kernel(op, broken, planted):
    with pytest.raises(KernelMismatch) as info:
        check_kernel(op, broken, max_examples=200, derandomize=True)
    message = str(info.value)
    assert isinstance(info.value, AssertionError)
    assert f"check_kernel({op!r})" in message and broken.__name__ in message
    assert "shrunk by hypothesis" in message
    snippet = message.split("runnable reproduction:\n\n", 1)[1]
    assert "np.array([" in snippet and "dtype=np.int8)" in snippet
    case = {}
    exec(snippet, case)  # the printed reproduction is runnable Python on its own
    args, kwargs, expected = case["args"], case["kwargs"], case["expected"]
    got = broken(*args, **kwargs)
    np.testing.assert_array_equal(got, case["actual"])
    assert not np.array_equal(got, expected), "the reproduction must still fail"
    # The expected output is the int64 reference's; microflat's kernel, written independently, agrees with it.
    np.testing.assert_array_equal(getattr(K, op)(*args, **kwargs), expected)
    # Shrunk: hypothesis minimizes the case, down to a one- or two-element input showing the planted bug.
    assert args[0].size <= 2, snippet
    assert planted(info.value.call, info.value.actual), snippet


def test_check_kernel_reports_a_kernel_that_raises():
    def raising(*args, **kwargs):
        raise RuntimeError("not implemented")

    with pytest.raises(KernelMismatch, match="raised RuntimeError: not implemented"):
        check_kernel("mul", raising, max_examples=5)


def test_check_kernel_arguments():
    with pytest.raises(NotImplementedError, match="against='float'"):
        check_kernel("conv2d", K.conv2d, against="float")
    with pytest.raises(ValueError, match="unknown op 'gelu'"):
        check_kernel("gelu", K.conv2d)


def test_microflat_testing_never_imports_microflats_kernels_compiler_or_runtime():
    """The references are independent of the code they check: importing the package loads none of it."""
    code = ("import sys, microflat.testing\n"
            "loaded = [m for m in sys.modules if m.startswith(('microflat.kernels', 'microflat.compiler', "
            "'microflat.runtime'))]\n"
            "assert not loaded, loaded\n")
    subprocess.run([sys.executable, "-c", code], check=True)
