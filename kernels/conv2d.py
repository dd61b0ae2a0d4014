"""int8 2-D convolution: NHWC input, OHWI weights, per-channel requantization.

Real-valued formula, for output channel c of group g at (b, oy, ox):

    y[b, oy, ox, c] = bias_r[c] + sum_{ky, kx, i} x_r[b, iy, ix, g*Cg + i] * w_r[c, ky, kx, i]
    iy = oy * stride_h - pad_top + ky * dilation_h   (likewise ix)

with out-of-image taps contributing 0. In integers (r = s * (q - zp)):

    acc[c] = sum (x - input_zp) * w + bias[c]          exact in int32 (see below)
    out[c] = requantize(acc[c], mult[c], shift[c], output_zp, act_min, act_max)

Accumulator: |x - input_zp| <= 255 and |w| <= 127, so |acc| <= 255 * sum|w| + |bias|;
the public wrapper refuses layers where that bound reaches 2^31.

Padding: a tap outside the image contributes (x - input_zp) = 0, exactly as
if the image were padded with its zero point; that is TFLite's semantics.
The kernel takes only pad_top and pad_left; the bottom and right padding are
implied by output_h and output_w (TFLite's asymmetric SAME puts the odd
extra row and column there).

Method: for each output pixel and group, the receptive field is gathered once
into ``scratch`` as int16 (x - input_zp), zero for padding taps (im2col, one
column). Each output channel of the group is then a dot product of that
column with a contiguous filter row. The C twin is conv2d.c.

16x8 (conv2d_s16): TFLite's int16 ConvPerChannel (its 16x8 mode). int16
input and output with zero point 0, symmetric int8 weights and an int64 bias:

    acc[c] = sum x * w + bias[c]          in int64; a padding tap is 0
    out[c] = requantize_int64(acc[c], mult[c], shift[c], act_min, act_max)

|x| <= 2^15, so |acc| <= 2^15 * sum|w| + |bias|, which the wrapper (and both
loaders) keep <= 2^47 - 1, the domain of numerics.multiply_by_quantized_
multiplier_int64; shifts lie in [-31, 7]. Direct loops, no scratch (a padding
tap is skipped: its product is 0). The C twin sums int32 products in int64.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from . import _checks
from ._dispatch import check_backend, run_kernel
from ._jit import kernel
from .numerics import requantize, requantize_int64
from .weight_encoding import decode_encoded_row, weighted_arguments

_i64 = types.int64
_i32 = types.int32


def conv2d_s8_scratch_bytes(input_ch: int, filter_h: int, filter_w: int, groups: int) -> int:
    """Bytes of scratch conv2d_s8 needs: two int16 im2col columns of k = filter_h * filter_w * input_ch / groups,
    each rounded up to a whole number of 32-bit words (the C kernels gather two output pixels' columns at once,
    so every filter row is loaded once per pair of pixels; this kernel uses the first)."""
    k = filter_h * filter_w * (input_ch // groups)
    return 2 * 2 * (k + (k & 1))


def conv2d_encoded_s8_scratch_bytes(input_ch: int, filter_h: int, filter_w: int, groups: int) -> int:
    """Bytes of scratch conv2d_encoded_s8 needs: the int16 column and one decoded int16 filter row of its size."""
    return 2 * 2 * filter_h * filter_w * (input_ch // groups)


@njit(inline="always", cache=True, nogil=True)
def im2col_s16(scratch, input, b, iy0, ix0, g, input_h, input_w, input_ch, cin_g, filter_h, filter_w,
               dilation_h, dilation_w, input_zp):
    """The receptive field of group g at input corner (iy0, ix0) as int16 (x - input_zp), 0 for padding taps."""
    j = 0
    for ky in range(filter_h):
        iy = iy0 + ky * dilation_h
        for kx in range(filter_w):
            ix = ix0 + kx * dilation_w
            if 0 <= iy < input_h and 0 <= ix < input_w:
                in_base = ((b * input_h + iy) * input_w + ix) * input_ch + g * cin_g
                for i in range(cin_g):
                    scratch[j + i] = np.int16(input[in_base + i] - input_zp)
            else:
                for i in range(cin_g):
                    scratch[j + i] = 0
            j += cin_g


@kernel(
    types.void(
        types.int16[::1],  # scratch
        _i64, _i64, _i64, _i64,  # batches, input_h, input_w, input_ch
        _i64, _i64,  # filter_h, filter_w
        _i64, _i64, _i64,  # output_h, output_w, output_ch
        _i64, _i64, _i64, _i64, _i64, _i64, _i64,  # groups, stride_h/w, dilation_h/w, pad_top, pad_left
        _i32, _i32,  # input_zp, output_zp
        types.int32[::1], types.int8[::1], _i64,  # output_mult, output_shift, per_channel
        _i32, _i32,  # act_min, act_max
        types.int8[::1], types.int8[::1], types.int32[::1],  # input, filter, bias
        types.int8[::1],  # output
    )
)
def conv2d_s8(
    scratch,
    batches, input_h, input_w, input_ch,
    filter_h, filter_w,
    output_h, output_w, output_ch,
    groups, stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left,
    input_zp, output_zp,
    output_mult, output_shift, per_channel,
    act_min, act_max,
    input, filter, bias, output,
):
    """The jitted kernel. Trusts its caller; flat C-order buffers; bias empty means none."""
    cin_g = input_ch // groups
    cout_g = output_ch // groups
    k = filter_h * filter_w * cin_g
    has_bias = bias.shape[0] > 0
    for b in range(batches):
        for oy in range(output_h):
            iy0 = oy * stride_h - pad_top
            for ox in range(output_w):
                ix0 = ox * stride_w - pad_left
                out_base = ((b * output_h + oy) * output_w + ox) * output_ch
                for g in range(groups):
                    im2col_s16(scratch, input, b, iy0, ix0, g, input_h, input_w, input_ch, cin_g,
                               filter_h, filter_w, dilation_h, dilation_w, input_zp)
                    for c in range(g * cout_g, (g + 1) * cout_g):
                        f_base = c * k
                        acc = np.int32(0)
                        for t in range(k):
                            acc += np.int32(scratch[t]) * np.int32(filter[f_base + t])
                        if has_bias:
                            acc += bias[c]
                        q = c if per_channel else 0
                        output[out_base + c] = np.int8(
                            requantize(np.int32(acc), output_mult[q], output_shift[q], output_zp, act_min, act_max)
                        )


@kernel(
    types.void(
        types.int16[::1],  # scratch
        _i64, _i64, _i64, _i64,  # batches, input_h, input_w, input_ch
        _i64, _i64,  # filter_h, filter_w
        _i64, _i64, _i64,  # output_h, output_w, output_ch
        _i64, _i64, _i64, _i64, _i64, _i64, _i64,  # groups, stride_h/w, dilation_h/w, pad_top, pad_left
        _i64, _i64, _i64, _i64, _i64,  # value_bits, codebook_size, codebook_per_channel, position_bits, entries
        _i32, _i32,  # input_zp, output_zp
        types.int32[::1], types.int8[::1], _i64,  # output_mult, output_shift, per_channel
        _i32, _i32,  # act_min, act_max
        types.int8[::1],  # input
        types.int8[::1], types.uint8[::1], types.uint8[::1],  # codebook, values, positions: the encoded filter
        types.int32[::1], types.int8[::1],  # bias, output
    )
)
def conv2d_encoded_s8(
    scratch,
    batches, input_h, input_w, input_ch,
    filter_h, filter_w,
    output_h, output_w, output_ch,
    groups, stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left,
    value_bits, codebook_size, codebook_per_channel, position_bits, entries,
    input_zp, output_zp,
    output_mult, output_shift, per_channel,
    act_min, act_max,
    input, codebook, values, positions, bias, output,
):
    """conv2d_s8 on a filter in a WeightEncoding (weight_encoding.py): the same im2col column (in the scratch),
    each output channel a dot product with its decoded OHWI row. The host kernel decodes every row once per call
    (decode_encoded_row, in channel order, so a sparse walk runs once through the stream) into memory of its own;
    a row with fewer than a quarter of its taps nonzero keeps those alone (their column positions and weights),
    and its dot visits only them. The C twin, short of RAM, decodes each row at every pixel into the scratch
    after the column (encoded_row_dot). Pixels are visited in order, each one's column read before its outputs
    are written, as the dense kernel does: the memory planner lets an output overlap its input on that order.
    The sums, and so the bytes, are the dense kernel's on the decoded filter."""
    cin_g = input_ch // groups
    cout_g = output_ch // groups
    k = filter_h * filter_w * cin_g
    has_bias = bias.shape[0] > 0
    rows = np.empty(output_ch * k, np.int16)  # decoded rows, or a sparse row's nonzero weights first
    taps = np.empty(output_ch * k, np.int32)  # a sparse row's nonzero taps
    nonzero = np.full(output_ch, -1, np.int64)  # per row: how many nonzero taps, or -1 (a dense row)
    entry = 0
    position = -1
    for c in range(output_ch):
        row = rows[c * k:(c + 1) * k]
        entry, position = decode_encoded_row(row, c, k, value_bits, codebook,
                                             c * codebook_size if codebook_per_channel else 0, position_bits,
                                             entries, values, positions, entry, position)
        n = 0
        for t in range(k):
            n += row[t] != 0
        if 4 * n < k:  # few taps: visit those only (compacted in place: the n-th nonzero tap is at or past n)
            n = 0
            for t in range(k):
                if row[t] != 0:
                    taps[c * k + n] = t
                    row[n] = row[t]
                    n += 1
            nonzero[c] = n
    for b in range(batches):
        for oy in range(output_h):
            iy0 = oy * stride_h - pad_top
            for ox in range(output_w):
                ix0 = ox * stride_w - pad_left
                out_base = ((b * output_h + oy) * output_w + ox) * output_ch
                for g in range(groups):
                    im2col_s16(scratch, input, b, iy0, ix0, g, input_h, input_w, input_ch, cin_g,
                               filter_h, filter_w, dilation_h, dilation_w, input_zp)
                    for c in range(g * cout_g, (g + 1) * cout_g):
                        acc = np.int32(0)
                        base = c * k
                        if nonzero[c] >= 0:
                            for n in range(nonzero[c]):
                                acc += np.int32(scratch[taps[base + n]]) * np.int32(rows[base + n])
                        else:
                            for t in range(k):
                                acc += np.int32(scratch[t]) * np.int32(rows[base + t])
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
        _i64, _i64, _i64,  # output_h, output_w, output_ch
        _i64, _i64, _i64, _i64, _i64, _i64, _i64,  # groups, stride_h/w, dilation_h/w, pad_top, pad_left
        types.int32[::1], types.int8[::1], _i64,  # output_mult, output_shift, per_channel
        _i32, _i32,  # act_min, act_max
        types.int16[::1], types.int8[::1], types.int64[::1],  # input, filter, bias
        types.int16[::1],  # output
    )
)
def conv2d_s16(
    batches, input_h, input_w, input_ch,
    filter_h, filter_w,
    output_h, output_w, output_ch,
    groups, stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left,
    output_mult, output_shift, per_channel,
    act_min, act_max,
    input, filter, bias, output,
):
    """The 16x8 kernel (the module docstring derives it). Trusts its caller; flat C-order buffers; bias empty
    means none."""
    cin_g = input_ch // groups
    cout_g = output_ch // groups
    has_bias = bias.shape[0] > 0
    for b in range(batches):
        for oy in range(output_h):
            iy0 = oy * stride_h - pad_top
            for ox in range(output_w):
                ix0 = ox * stride_w - pad_left
                out_base = ((b * output_h + oy) * output_w + ox) * output_ch
                for c in range(output_ch):
                    g = c // cout_g
                    acc = np.int64(0)
                    for ky in range(filter_h):
                        iy = iy0 + ky * dilation_h
                        if iy < 0 or iy >= input_h:
                            continue
                        for kx in range(filter_w):
                            ix = ix0 + kx * dilation_w
                            if ix < 0 or ix >= input_w:
                                continue
                            x_base = ((b * input_h + iy) * input_w + ix) * input_ch + g * cin_g
                            f_base = ((c * filter_h + ky) * filter_w + kx) * cin_g
                            for i in range(cin_g):
                                acc += np.int64(input[x_base + i]) * np.int64(filter[f_base + i])
                    if has_bias:
                        acc += bias[c]
                    q = c if per_channel else 0
                    output[out_base + c] = np.int16(
                        requantize_int64(acc, output_mult[q], output_shift[q], act_min, act_max))


def conv2d(
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
    groups: int = 1,
    act_min: int | None = None,
    act_max: int | None = None,
    backend: str = "numba",
) -> np.ndarray:
    """int8 convolution, TFLite's int8 reference arithmetic, bit-exact; or 16x8 (an int16 input).

    Args:
      input: int8 [N, H, W, C_in], NHWC; or int16 for TFLite's 16x8 layer: zero points 0, an int64 bias,
        output_shift at most 7, requantized by numerics.requantize_int64, a dense filter, an int16 output.
      filter: int8 [C_out, KH, KW, C_in / groups], OHWI, symmetric (zero point 0,
        values in [-127, 127]).
      bias: int32 [C_out] at scale input_scale * filter_scale[c], or None.
      input_zp, output_zp: zero points in [-128, 127].
      output_mult, output_shift: the requantization multiplier (Q31, in
        [0, 2^31)) and exponent (in [-31, 30], positive = left), one value
        (per-tensor) or C_out values (per-channel); see numerics.quantize_multiplier.
      stride, dilation: int or (h, w), >= 1.
      padding: 'valid', 'same' (TFLite's, extra padding at the bottom/right),
        an int, (pad_h, pad_w) or (top, bottom, left, right).
      groups: C_in and C_out must both be divisible by it.
      act_min, act_max: the output clamp in [-128, 127] (fused ReLU/ReLU6); None: that end of the output
        type's range.
      backend: 'numba' or 'c' (the C twin through cffi); results are identical.

    Returns:
      int8 [N, OH, OW, C_out].

    Raises:
      ValueError naming the argument, for any shape, dtype or range violation,
      and when the int32 accumulator could overflow.
    """
    fn = "conv2d"
    check_backend(fn, backend)
    x = _checks.layer_input(fn, input, 4)
    w, encoding = _checks.filter_array(fn, filter, 4, 0, dense=x.dtype == np.int16)
    n, in_h, in_w, in_c = x.shape
    out_c, k_h, k_w, k_c = w.shape
    groups = _checks.integer(fn, "groups", groups, 1, 2**31 - 1)
    if min(x.shape) < 1 or min(w.shape) < 1:
        raise ValueError(f"{fn}: input {x.shape} and filter {w.shape} must have no empty dimension")
    if in_c % groups or out_c % groups:
        raise ValueError(f"{fn}: groups ({groups}) must divide input channels ({in_c}) and output channels ({out_c})")
    if k_c != in_c // groups:
        raise ValueError(
            f"{fn}: filter has {k_c} input channels, expected input channels / groups = {in_c // groups}"
        )
    stride_h, stride_w, dil_h, dil_w, out_h, out_w, pad_top, pad_left = _checks.spatial_geometry(
        fn, in_h, in_w, k_h, k_w, stride, dilation, padding
    )
    quantization = dict(input_zp=input_zp, output_zp=output_zp, act_min=act_min, act_max=act_max,
                        output_mult=output_mult, output_shift=output_shift, bias=bias, channels=out_c)
    _checks.weights(fn, "filter", w)
    abs_sums = np.abs(w.reshape(out_c, -1).astype(np.int64)).sum(axis=1)
    if x.dtype == np.int16:
        act_lo, act_hi, mult, shift, per_channel, b = _checks.layer_quantization_16x8(fn, **quantization)
        _checks.accumulator_fits_16x8(fn, abs_sums, b)
        out = np.empty((n, out_h, out_w, out_c), dtype=np.int16)
        run_kernel(backend, conv2d_s16, batches=n, input_h=in_h, input_w=in_w, input_ch=in_c, filter_h=k_h,
                   filter_w=k_w, output_h=out_h, output_w=out_w, output_ch=out_c, groups=groups, stride_h=stride_h,
                   stride_w=stride_w, dilation_h=dil_h, dilation_w=dil_w, pad_top=pad_top, pad_left=pad_left,
                   output_mult=mult, output_shift=shift, per_channel=per_channel, act_min=act_lo, act_max=act_hi,
                   input=x.reshape(-1), filter=w.reshape(-1), bias=b, output=out.reshape(-1))
        return out
    in_zp, out_zp, act_lo, act_hi, mult, shift, per_channel, b = _checks.layer_quantization(fn, **quantization)
    _checks.accumulator_fits(fn, abs_sums, b)

    out = np.empty((n, out_h, out_w, out_c), dtype=np.int8)
    scratch_bytes = conv2d_s8_scratch_bytes if encoding is None else conv2d_encoded_s8_scratch_bytes
    scratch = np.empty(scratch_bytes(in_c, k_h, k_w, groups) // 2, dtype=np.int16)
    kernel, named = weighted_arguments(
        conv2d_s8, conv2d_encoded_s8, w.reshape(-1) if encoding is None else encoding, scratch=scratch, batches=n,
        input_h=in_h, input_w=in_w, input_ch=in_c, filter_h=k_h, filter_w=k_w, output_h=out_h, output_w=out_w,
        output_ch=out_c, groups=groups, stride_h=stride_h, stride_w=stride_w, dilation_h=dil_h, dilation_w=dil_w,
        pad_top=pad_top, pad_left=pad_left, input_zp=in_zp, output_zp=out_zp, output_mult=mult, output_shift=shift,
        per_channel=per_channel, act_min=act_lo, act_max=act_hi, input=x.reshape(-1), bias=b, output=out.reshape(-1))
    run_kernel(backend, kernel, **named)
    return out
