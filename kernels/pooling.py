"""int8 average pool, max pool and mean over H, W (global average pool); average and max pool also on int16.
NHWC.

average_pool2d (TFLite's int8 reference AveragePool). Input and output share
one scale and zero point, so the mean of raw int8 values is the answer:

    acc   = sum of the window's in-bounds values (padding is not counted)
    count = number of in-bounds values (>= 1: a window always overlaps the input)
    y     = clamp(acc > 0 ? (acc + count/2) / count : (acc - count/2) / count)

with C's truncating division, so the mean is rounded to nearest, ties away
from zero. |acc| <= 128 * KH * KW < 2^31 for windows below 2^24 taps.

max_pool2d: the largest in-bounds value, clamped to [act_min, act_max].

mean_hw (TFLite's int8 reference Mean over axes 1, 2):

    acc = sum over H, W of (x - input_zp)                 |acc| <= 255 * H * W
    v   = multiply_by_quantized_multiplier(acc, mult, shift)   M = s_in / s_out
    v   = v > 0 ? (v + HW/2) / HW : (v - HW/2) / HW        (truncating division)
    y   = clamp(v + output_zp, -128, 127)

The division by HW after requantization is TFLite's order; it rounds twice.
Output [N, 1, 1, C] (or [N, C]; the bytes are the same).

average_pool2d_s16, max_pool2d_s16 (TFLite's 16x8 mode:
reference_integer_ops::AveragePool and MaxPool on int16_t, in
tensorflow/lite/kernels/internal/reference/integer_ops/pooling.h): the int8
arithmetic above on int16 values, the same int32 accumulator and rounding
division, clamped to [act_min, act_max] within [-32768, 32767]; the max
starts from -32768. Range: |acc| <= 32768 * count, so the wrapper allows at
most 65535 taps per window: |acc| <= 2^31 - 2^15 and acc -+ count/2 stays
inside int32 as TFLite computes it.
C twins: pooling.c.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from . import _checks
from ._dispatch import check_backend, run_kernel
from ._jit import kernel
from .numerics import multiply_by_quantized_multiplier

_i32 = types.int32
_v8 = types.int8[::1]
_v16 = types.int16[::1]

MEAN_MAX_ELEMENTS = (2**31 - 1) // 255  # keeps 255 * H * W inside int32
AVERAGE_POOL_S16_MAX_TAPS = 2**16 - 1  # 32768 * taps + taps / 2 < 2^31: the int16 window sum fits int32


@kernel(_i32(_i32, _i32))
def rounded_div_away_from_zero(acc, count):
    """acc / count rounded to nearest, ties away from zero (count > 0), in C's truncating division."""
    if acc > 0:
        t = np.int64(acc) + count // 2
        return np.int32(t // count)
    t = np.int64(acc) - count // 2
    return np.int32(-((-t) // count))


_pool_signature = types.void(
    _i32, _i32, _i32, _i32,  # batches, input_h, input_w, channels
    _i32, _i32,  # filter_h, filter_w
    _i32, _i32,  # output_h, output_w
    _i32, _i32, _i32, _i32,  # stride_h, stride_w, pad_top, pad_left
    _i32, _i32,  # act_min, act_max
    _v8, _v8,  # input, output
)


@njit(inline="always", cache=True, nogil=True)
def _average_pool(batches, input_h, input_w, channels, filter_h, filter_w, output_h, output_w, stride_h, stride_w,
                  pad_top, pad_left, act_min, act_max, input, output):
    """The average pool's loops, written once for int8 and int16: a pixel's channels are summed together, tap
    by tap, so the loop over channels is unit-stride on both sides and vectorizes (the C twin sums one channel at
    a time: the same integers). The store narrows the clamped value to the output's type."""
    acc = np.empty(channels, np.int32)
    for b in range(batches):
        for oy in range(output_h):
            y0 = oy * stride_h - pad_top
            ky0, ky1 = max(0, -y0), min(filter_h, input_h - y0)
            for ox in range(output_w):
                x0 = ox * stride_w - pad_left
                kx0, kx1 = max(0, -x0), min(filter_w, input_w - x0)
                count = max(ky1 - ky0, 0) * max(kx1 - kx0, 0)
                out_base = ((b * output_h + oy) * output_w + ox) * channels
                acc[:] = 0
                for ky in range(ky0, ky1):
                    for kx in range(kx0, kx1):
                        tap = ((b * input_h + y0 + ky) * input_w + x0 + kx) * channels
                        px = input[tap:tap + channels]  # indexed by the loop counter: no wraparound test, vectorizes
                        for c in range(channels):
                            acc[c] += np.int32(px[c])
                for c in range(channels):
                    v = rounded_div_away_from_zero(acc[c], np.int32(count)) if count > 0 else 0
                    output[out_base + c] = min(max(v, act_min), act_max)


@njit(inline="always", cache=True, nogil=True)
def _max_pool(batches, input_h, input_w, channels, filter_h, filter_w, output_h, output_w, stride_h, stride_w,
              pad_top, pad_left, act_min, act_max, input, output):
    """The max pool's loops, written once for int8 and int16."""
    for b in range(batches):
        for oy in range(output_h):
            y0 = oy * stride_h - pad_top
            ky0, ky1 = max(0, -y0), min(filter_h, input_h - y0)
            for ox in range(output_w):
                x0 = ox * stride_w - pad_left
                kx0, kx1 = max(0, -x0), min(filter_w, input_w - x0)
                out_base = ((b * output_h + oy) * output_w + ox) * channels
                for c in range(channels):
                    v = np.int32(act_min)  # the clamp's floor: max(taps, act_min) is the clamped max
                    for ky in range(ky0, ky1):
                        row = ((b * input_h + y0 + ky) * input_w + x0) * channels + c
                        for kx in range(kx0, kx1):
                            v = max(v, np.int32(input[row + kx * channels]))
                    output[out_base + c] = min(max(v, act_min), act_max)


@kernel(_pool_signature)
def average_pool2d_s8(
    batches, input_h, input_w, channels,
    filter_h, filter_w, output_h, output_w,
    stride_h, stride_w, pad_top, pad_left,
    act_min, act_max,
    input, output,
):
    """The jitted kernel; trusts its caller (_average_pool; |sum| <= 128 * filter_h * filter_w, in int32)."""
    _average_pool(batches, input_h, input_w, channels, filter_h, filter_w, output_h, output_w, stride_h, stride_w,
                  pad_top, pad_left, act_min, act_max, input, output)


@kernel(_pool_signature)
def max_pool2d_s8(
    batches, input_h, input_w, channels,
    filter_h, filter_w, output_h, output_w,
    stride_h, stride_w, pad_top, pad_left,
    act_min, act_max,
    input, output,
):
    """The jitted kernel; trusts its caller."""
    _max_pool(batches, input_h, input_w, channels, filter_h, filter_w, output_h, output_w, stride_h, stride_w,
              pad_top, pad_left, act_min, act_max, input, output)


@kernel(
    types.void(
        _i32, _i32, _i32, _i32,  # batches, input_h, input_w, channels
        _i32, _i32, _i32, _i32,  # input_zp, output_zp, mult, shift
        _v8, _v8,  # input, output
    )
)
def mean_hw_s8(batches, input_h, input_w, channels, input_zp, output_zp, mult, shift, input, output):
    """The jitted kernel; trusts its caller."""
    count = input_h * input_w
    for b in range(batches):
        for c in range(channels):
            acc = np.int32(0)
            base = b * count * channels + c
            for i in range(count):
                acc += np.int32(input[base + i * channels]) - input_zp
            v = multiply_by_quantized_multiplier(np.int32(acc), mult, shift)
            v = np.int64(rounded_div_away_from_zero(v, np.int32(count))) + output_zp
            output[b * channels + c] = np.int8(min(max(v, -128), 127))


_pool_s16_signature = types.void(
    _i32, _i32, _i32, _i32,  # batches, input_h, input_w, channels
    _i32, _i32,  # filter_h, filter_w
    _i32, _i32,  # output_h, output_w
    _i32, _i32, _i32, _i32,  # stride_h, stride_w, pad_top, pad_left
    _i32, _i32,  # act_min, act_max
    _v16, _v16,  # input, output
)


@kernel(_pool_s16_signature)
def average_pool2d_s16(
    batches, input_h, input_w, channels,
    filter_h, filter_w, output_h, output_w,
    stride_h, stride_w, pad_top, pad_left,
    act_min, act_max,
    input, output,
):
    """The jitted kernel; trusts its caller (filter_h * filter_w <= 65535): _average_pool on int16, int32 sums
    (|sum| <= 32768 * 65535 < 2^31)."""
    _average_pool(batches, input_h, input_w, channels, filter_h, filter_w, output_h, output_w, stride_h, stride_w,
                  pad_top, pad_left, act_min, act_max, input, output)


@kernel(_pool_s16_signature)
def max_pool2d_s16(
    batches, input_h, input_w, channels,
    filter_h, filter_w, output_h, output_w,
    stride_h, stride_w, pad_top, pad_left,
    act_min, act_max,
    input, output,
):
    """The jitted kernel; trusts its caller."""
    _max_pool(batches, input_h, input_w, channels, filter_h, filter_w, output_h, output_w, stride_h, stride_w,
              pad_top, pad_left, act_min, act_max, input, output)


def _pool(fn, kernels, input, filter_size, stride, padding, act_min, act_max, backend, max_taps_s16=None):
    """average_pool2d and max_pool2d: kernels is (the int8 kernel, the int16 kernel), picked by the input's
    dtype; max_taps_s16 bounds filter_h * filter_w of an int16 input."""
    check_backend(fn, backend)
    if isinstance(input, np.ndarray) and input.dtype not in (np.int8, np.int16):
        raise ValueError(f"{fn}: input must have dtype int8 or int16, got {input.dtype.name}")
    int16 = isinstance(input, np.ndarray) and input.dtype == np.int16
    dtype = np.dtype(np.int16 if int16 else np.int8)
    x = _checks.array(fn, "input", input, dtype, 4)
    n, h, w, c = x.shape
    if min(x.shape) < 1:
        raise ValueError(f"{fn}: input {x.shape} must have no empty dimension")
    fh, fw = _checks.pair(fn, "filter_size", filter_size, 1, 2**12)
    if int16 and max_taps_s16 is not None and fh * fw > max_taps_s16:
        raise ValueError(f"{fn}: an int16 window of {fh} x {fw} taps exceeds {max_taps_s16}; "
                         f"the int32 sum could overflow")
    sh, sw, _, _, oh, ow, pt, pl = _checks.spatial_geometry(fn, h, w, fh, fw, stride, 1, padding)
    if pt >= fh or pl >= fw or (oh - 1) * sh - pt >= h or (ow - 1) * sw - pl >= w:
        raise ValueError(f"{fn}: every window must overlap the input; the padding is as large as the window ({fh}, {fw})")
    info = np.iinfo(dtype)
    lo, hi = _checks.activation_range(fn, act_min, act_max, int(info.min), int(info.max))
    kernel = kernels[1] if int16 else kernels[0]
    out = np.empty((n, oh, ow, c), dtype=dtype)
    run_kernel(backend, kernel, batches=n, input_h=h, input_w=w, channels=c, filter_h=fh, filter_w=fw, output_h=oh,
               output_w=ow, stride_h=sh, stride_w=sw, pad_top=pt, pad_left=pl, act_min=lo, act_max=hi,
               input=x.reshape(-1), output=out.reshape(-1))
    return out


def average_pool2d(input, filter_size, *, stride=1, padding="valid", act_min=None, act_max=None, backend="numba"):
    """int8 or int16 average pool (input and output share quantization), TFLite's reference arithmetic.

    The output has the input's dtype; act_min and act_max default to its
    range. padding: as conv2d; the padded positions are not counted. Every
    window must overlap the input (TFLite's SAME padding always satisfies
    this). An int16 window has at most 65535 taps (the int32 sum).
    """
    return _pool("average_pool2d", (average_pool2d_s8, average_pool2d_s16), input, filter_size, stride, padding,
                 act_min, act_max, backend, max_taps_s16=AVERAGE_POOL_S16_MAX_TAPS)


def max_pool2d(input, filter_size, *, stride=1, padding="valid", act_min=None, act_max=None, backend="numba"):
    """int8 or int16 max pool (input and output share quantization); the output has the input's dtype and
    act_min and act_max default to its range."""
    return _pool("max_pool2d", (max_pool2d_s8, max_pool2d_s16), input, filter_size, stride, padding, act_min,
                 act_max, backend)


def mean_hw(input, *, input_zp: int, output_zp: int, mult: int, shift: int, backend="numba") -> np.ndarray:
    """Mean over H and W of an NHWC int8 tensor, TFLite's int8 reference Mean. Returns [N, 1, 1, C].

    (mult, shift) encode s_in / s_out (quantize_multiplier).
    """
    fn = "mean_hw"
    check_backend(fn, backend)
    x = _checks.array(fn, "input", input, np.int8, 4)
    n, h, w, c = x.shape
    if min(x.shape) < 1:
        raise ValueError(f"{fn}: input {x.shape} must have no empty dimension")
    if h * w > MEAN_MAX_ELEMENTS:
        raise ValueError(f"{fn}: H * W = {h * w} exceeds {MEAN_MAX_ELEMENTS}; the int32 sum could overflow")
    zi = _checks.integer(fn, "input_zp", input_zp, -128, 127)
    zo = _checks.integer(fn, "output_zp", output_zp, -128, 127)
    m = _checks.integer(fn, "mult", mult, 0, 2**31 - 1)
    s = _checks.integer(fn, "shift", shift, -31, 30)
    out = np.empty((n, 1, 1, c), dtype=np.int8)
    run_kernel(backend, mean_hw_s8, batches=n, input_h=h, input_w=w, channels=c, input_zp=zi, output_zp=zo, mult=m,
               shift=s, input=x.reshape(-1), output=out.reshape(-1))
    return out
