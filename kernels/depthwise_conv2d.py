"""int8 depthwise convolution: NHWC input, [1, KH, KW, C * multiplier] weights.

Real-valued formula, for input channel i and m in [0, depth_multiplier),
output channel c = i * depth_multiplier + m (TFLite's layout):

    y[b, oy, ox, c] = bias_r[c] + sum_{ky, kx} x_r[b, iy, ix, i] * w_r[0, ky, kx, c]
    iy = oy * stride_h - pad_top + ky * dilation_h   (likewise ix)

In integers: acc = sum (x - input_zp) * w + bias[c], then requantize, as
conv2d. Padding taps contribute 0 (the zero point). Accumulator bound:
255 * sum_k |w[., ., ., c]| + |bias[c]| < 2^31, checked by the wrapper.

Method: direct; no scratch is needed (depthwise_conv2d_s8_scratch_bytes is 0
and the argument is kept so every kernel has the same leading argument).
The C twin is depthwise_conv2d.c.

16x8 (depthwise_conv2d_s16): TFLite's int16 DepthwiseConvPerChannel, int16
input and output with zero point 0, symmetric int8 weights, an int64 bias;
acc = sum x * w + bias[c] in int64 (a padding tap is 0, the zero point),
rescaled by numerics.requantize_int64. Bound: |acc| <= 2^15 sum |w| + |bias|
<= 2^47 - 1, checked by the wrapper (conv2d's 16x8 rule).
"""

from __future__ import annotations

import numpy as np
from numba import types

from . import _checks
from ._dispatch import check_backend, run_kernel
from ._jit import kernel
from .numerics import requantize, requantize_int64
from .weight_encoding import read_bits, weight_value, weighted_arguments

_i64 = types.int64
_i32 = types.int32


def depthwise_conv2d_s8_scratch_bytes(input_ch: int, filter_h: int, filter_w: int, depth_multiplier: int) -> int:
    """Bytes of scratch depthwise_conv2d_s8 needs: none."""
    return 0


@kernel(
    types.void(
        types.int16[::1],  # scratch (unused)
        _i64, _i64, _i64, _i64,  # batches, input_h, input_w, input_ch
        _i64, _i64,  # filter_h, filter_w
        _i64, _i64, _i64,  # output_h, output_w, depth_multiplier
        _i64, _i64, _i64, _i64, _i64, _i64,  # stride_h/w, dilation_h/w, pad_top, pad_left
        _i32, _i32,  # input_zp, output_zp
        types.int32[::1], types.int8[::1], _i64,  # output_mult, output_shift, per_channel
        _i32, _i32,  # act_min, act_max
        types.int8[::1], types.int8[::1], types.int32[::1],  # input, filter, bias
        types.int8[::1],  # output
    )
)
def depthwise_conv2d_s8(
    scratch,
    batches, input_h, input_w, input_ch,
    filter_h, filter_w,
    output_h, output_w, depth_multiplier,
    stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left,
    input_zp, output_zp,
    output_mult, output_shift, per_channel,
    act_min, act_max,
    input, filter, bias, output,
):
    """The jitted kernel. Trusts its caller; flat C-order buffers; bias empty means none."""
    output_ch = input_ch * depth_multiplier
    has_bias = bias.shape[0] > 0
    for b in range(batches):
        for oy in range(output_h):
            iy0 = oy * stride_h - pad_top
            for ox in range(output_w):
                ix0 = ox * stride_w - pad_left
                out_base = ((b * output_h + oy) * output_w + ox) * output_ch
                for i in range(input_ch):
                    for m in range(depth_multiplier):
                        c = i * depth_multiplier + m
                        acc = np.int32(0)
                        for ky in range(filter_h):
                            iy = iy0 + ky * dilation_h
                            if iy < 0 or iy >= input_h:
                                continue
                            for kx in range(filter_w):
                                ix = ix0 + kx * dilation_w
                                if ix < 0 or ix >= input_w:
                                    continue
                                xv = np.int32(input[((b * input_h + iy) * input_w + ix) * input_ch + i]) - input_zp
                                acc += xv * np.int32(filter[(ky * filter_w + kx) * output_ch + c])
                        if has_bias:
                            acc += bias[c]
                        q = c if per_channel else 0
                        output[out_base + c] = np.int8(
                            requantize(np.int32(acc), output_mult[q], output_shift[q], output_zp, act_min, act_max)
                        )


@kernel(
    types.void(
        types.int16[::1],  # scratch (unused)
        _i64, _i64, _i64, _i64,  # batches, input_h, input_w, input_ch
        _i64, _i64,  # filter_h, filter_w
        _i64, _i64, _i64,  # output_h, output_w, depth_multiplier
        _i64, _i64, _i64, _i64, _i64, _i64,  # stride_h/w, dilation_h/w, pad_top, pad_left
        _i64, _i64, _i64, _i64, _i64,  # value_bits, codebook_size, codebook_per_channel, position_bits, entries
        _i32, _i32,  # input_zp, output_zp
        types.int32[::1], types.int8[::1], _i64,  # output_mult, output_shift, per_channel
        _i32, _i32,  # act_min, act_max
        types.int8[::1],  # input
        types.int8[::1], types.uint8[::1], types.uint8[::1],  # codebook, values, positions: the encoded filter
        types.int32[::1], types.int8[::1],  # bias, output
    )
)
def depthwise_conv2d_encoded_s8(
    scratch,
    batches, input_h, input_w, input_ch,
    filter_h, filter_w,
    output_h, output_w, depth_multiplier,
    stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left,
    value_bits, codebook_size, codebook_per_channel, position_bits, entries,
    input_zp, output_zp,
    output_mult, output_shift, per_channel,
    act_min, act_max,
    input, codebook, values, positions, bias, output,
):
    """depthwise_conv2d_s8 on a filter in a WeightEncoding (weight_encoding.py), read in place.

    Dense layout: tap (ky, kx) of channel c is field (ky * filter_w + kx) * output_ch + c, read directly.
    Sparse layout: channel c's taps are the row-order positions [c * taps, (c + 1) * taps); channels are
    visited in order at every pixel, so the walk runs once through the stream per pixel, and a stored tap
    that falls in the padding is consumed without a multiply. Same bytes as the dense kernel.
    """
    output_ch = input_ch * depth_multiplier
    taps = filter_h * filter_w
    has_bias = bias.shape[0] > 0
    for b in range(batches):
        for oy in range(output_h):
            iy0 = oy * stride_h - pad_top
            for ox in range(output_w):
                ix0 = ox * stride_w - pad_left
                out_base = ((b * output_h + oy) * output_w + ox) * output_ch
                entry = 0
                position = -1
                for i in range(input_ch):
                    for m in range(depth_multiplier):
                        c = i * depth_multiplier + m
                        cb = c * codebook_size if codebook_per_channel else 0
                        acc = np.int32(0)
                        if position_bits == 0:
                            for ky in range(filter_h):
                                iy = iy0 + ky * dilation_h
                                if iy < 0 or iy >= input_h:
                                    continue
                                for kx in range(filter_w):
                                    ix = ix0 + kx * dilation_w
                                    if ix < 0 or ix >= input_w:
                                        continue
                                    f = read_bits(values, ((ky * filter_w + kx) * output_ch + c) * value_bits, value_bits)
                                    xv = np.int32(input[((b * input_h + iy) * input_w + ix) * input_ch + i]) - input_zp
                                    acc += xv * weight_value(f, value_bits, codebook, cb)
                        else:
                            end = (c + 1) * taps
                            while entry < entries:
                                nxt = position + 1 + read_bits(positions, entry * position_bits, position_bits)
                                if nxt >= end:
                                    break
                                position = nxt
                                t = position - c * taps
                                ky = t // filter_w
                                iy = iy0 + ky * dilation_h
                                ix = ix0 + (t - ky * filter_w) * dilation_w
                                if 0 <= iy < input_h and 0 <= ix < input_w:
                                    f = read_bits(values, entry * value_bits, value_bits)
                                    xv = np.int32(input[((b * input_h + iy) * input_w + ix) * input_ch + i]) - input_zp
                                    acc += xv * weight_value(f, value_bits, codebook, cb)
                                entry += 1
                        if has_bias:
                            acc += bias[c]
                        q = c if per_channel else 0
                        output[out_base + c] = np.int8(
                            requantize(np.int32(acc), output_mult[q], output_shift[q], output_zp, act_min, act_max)
                        )


@kernel(
    types.void(
        _i64, _i64, _i64, _i64,  # batches, input_h, input_w, input_ch
        _i64, _i64,  # filter_h, filter_w
        _i64, _i64, _i64,  # output_h, output_w, depth_multiplier
        _i64, _i64, _i64, _i64, _i64, _i64,  # stride_h/w, dilation_h/w, pad_top, pad_left
        types.int32[::1], types.int8[::1], _i64,  # output_mult, output_shift, per_channel
        _i32, _i32,  # act_min, act_max
        types.int16[::1], types.int8[::1], types.int64[::1],  # input, filter, bias
        types.int16[::1],  # output
    )
)
def depthwise_conv2d_s16(
    batches, input_h, input_w, input_ch,
    filter_h, filter_w,
    output_h, output_w, depth_multiplier,
    stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left,
    output_mult, output_shift, per_channel,
    act_min, act_max,
    input, filter, bias, output,
):
    """The 16x8 kernel (the module docstring derives it). Trusts its caller; flat C-order buffers; bias empty
    means none."""
    output_ch = input_ch * depth_multiplier
    has_bias = bias.shape[0] > 0
    for b in range(batches):
        for oy in range(output_h):
            iy0 = oy * stride_h - pad_top
            for ox in range(output_w):
                ix0 = ox * stride_w - pad_left
                out_base = ((b * output_h + oy) * output_w + ox) * output_ch
                for c in range(output_ch):
                    i = c // depth_multiplier
                    acc = np.int64(0)
                    for ky in range(filter_h):
                        iy = iy0 + ky * dilation_h
                        if iy < 0 or iy >= input_h:
                            continue
                        for kx in range(filter_w):
                            ix = ix0 + kx * dilation_w
                            if ix < 0 or ix >= input_w:
                                continue
                            acc += (np.int64(input[((b * input_h + iy) * input_w + ix) * input_ch + i])
                                    * np.int64(filter[(ky * filter_w + kx) * output_ch + c]))
                    if has_bias:
                        acc += bias[c]
                    q = c if per_channel else 0
                    output[out_base + c] = np.int16(
                        requantize_int64(acc, output_mult[q], output_shift[q], act_min, act_max))


def depthwise_conv2d(
    input: np.ndarray,
    filter: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    input_zp: int,
    output_zp: int,
    output_mult,
    output_shift,
    stride=1,
    dilation=1,
    padding="valid",
    act_min: int | None = None,
    act_max: int | None = None,
    backend: str = "numba",
) -> np.ndarray:
    """int8 depthwise convolution, TFLite's int8 reference arithmetic, bit-exact; or 16x8 (int16 input).

    Args:
      input: int8 [N, H, W, C], NHWC; or int16 for the 16x8 layer (conv2d's rules).
      filter: int8 [1, KH, KW, C * depth_multiplier], symmetric ([-127, 127]);
        output channel i * depth_multiplier + m reads input channel i.
      bias: int32 [C * depth_multiplier] or None.
      input_zp, output_zp, output_mult, output_shift, stride, dilation,
      padding, act_min, act_max, backend: as conv2d.

    Returns:
      int8 [N, OH, OW, C * depth_multiplier] (int16 for an int16 input).

    Raises:
      ValueError naming the argument, for any shape, dtype or range violation,
      and when the int32 accumulator could overflow.
    """
    fn = "depthwise_conv2d"
    check_backend(fn, backend)
    x = _checks.layer_input(fn, input, 4)
    w, encoding = _checks.filter_array(fn, filter, 4, 3, dense=x.dtype == np.int16)
    n, in_h, in_w, in_c = x.shape
    one, k_h, k_w, out_c = w.shape
    if min(x.shape) < 1 or min(w.shape) < 1:
        raise ValueError(f"{fn}: input {x.shape} and filter {w.shape} must have no empty dimension")
    if one != 1:
        raise ValueError(f"{fn}: filter must have shape [1, KH, KW, C * multiplier], got {w.shape}")
    if out_c % in_c:
        raise ValueError(
            f"{fn}: filter channels ({out_c}) must be a multiple of input channels ({in_c}): C * depth_multiplier"
        )
    depth_multiplier = out_c // in_c
    stride_h, stride_w, dil_h, dil_w, out_h, out_w, pad_top, pad_left = _checks.spatial_geometry(
        fn, in_h, in_w, k_h, k_w, stride, dilation, padding
    )
    quantization = dict(input_zp=input_zp, output_zp=output_zp, act_min=act_min, act_max=act_max,
                        output_mult=output_mult, output_shift=output_shift, bias=bias, channels=out_c)
    _checks.weights(fn, "filter", w)
    abs_sums = np.abs(w.reshape(-1, out_c).astype(np.int64)).sum(axis=0)
    if x.dtype == np.int16:
        act_lo, act_hi, mult, shift, per_channel, b = _checks.layer_quantization_16x8(fn, **quantization)
        _checks.accumulator_fits_16x8(fn, abs_sums, b)
        out = np.empty((n, out_h, out_w, out_c), dtype=np.int16)
        run_kernel(backend, depthwise_conv2d_s16, batches=n, input_h=in_h, input_w=in_w, input_ch=in_c,
                   filter_h=k_h, filter_w=k_w, output_h=out_h, output_w=out_w, depth_multiplier=depth_multiplier,
                   stride_h=stride_h, stride_w=stride_w, dilation_h=dil_h, dilation_w=dil_w, pad_top=pad_top,
                   pad_left=pad_left, output_mult=mult, output_shift=shift, per_channel=per_channel,
                   act_min=act_lo, act_max=act_hi, input=x.reshape(-1), filter=w.reshape(-1), bias=b,
                   output=out.reshape(-1))
        return out
    in_zp, out_zp, act_lo, act_hi, mult, shift, per_channel, b = _checks.layer_quantization(fn, **quantization)
    _checks.accumulator_fits(fn, abs_sums, b)

    out = np.empty((n, out_h, out_w, out_c), dtype=np.int8)
    scratch = np.empty(depthwise_conv2d_s8_scratch_bytes(in_c, k_h, k_w, depth_multiplier) // 2, dtype=np.int16)
    kernel, named = weighted_arguments(
        depthwise_conv2d_s8, depthwise_conv2d_encoded_s8, w.reshape(-1) if encoding is None else encoding,
        scratch=scratch, batches=n, input_h=in_h, input_w=in_w, input_ch=in_c, filter_h=k_h, filter_w=k_w,
        output_h=out_h, output_w=out_w, depth_multiplier=depth_multiplier, stride_h=stride_h, stride_w=stride_w,
        dilation_h=dil_h, dilation_w=dil_w, pad_top=pad_top, pad_left=pad_left, input_zp=in_zp, output_zp=out_zp,
        output_mult=mult, output_shift=shift, per_channel=per_channel, act_min=act_lo, act_max=act_hi,
        input=x.reshape(-1), bias=b, output=out.reshape(-1))
    run_kernel(backend, kernel, **named)
    return out
