"""int8 transposed 2-D convolution (TFLite's TRANSPOSE_CONV, PyTorch's ConvTranspose2d with groups 1).

NHWC input [N, H, W, C_in], OHWI filter [C_out, KH, KW, C_in] (TFLite's layout for
TRANSPOSE_CONV; PyTorch's ConvTranspose2d weight [C_in, C_out, KH, KW] is the same
array with its axes permuted, w_ohwi[c, ky, kx, i] = w_torch[i, c, ky, kx], no
spatial flip), per-channel requantization. Dilation 1 only.

Real-valued formula. Each input pixel is spread over the output through the
filter: input pixel (iy, ix) adds x_r[b, iy, ix, i] * w_r[c, ky, kx, i] to the
output pixel

    oy = iy * stride_h - pad_top + ky,    ox = ix * stride_w - pad_left + kx,

and contributions that land outside [0, OH) x [0, OW) are dropped; then the
bias is added. Read the other way round, output (oy, ox, c) sums exactly the
taps ky with ky = oy + pad_top - iy * stride_h for some input row iy in
[0, H) (likewise kx), over all input channels i.

PyTorch's arguments. ConvTranspose2d(stride s, padding p, output_padding op)
first computes the full scatter, rows t = iy * s + ky in [0, (H - 1) s + KH),
then removes p rows at the top and keeps
OH = (H - 1) s - 2 p + KH + op rows (the last op of them past the full scatter
when p < op: they hold the bias alone). So pad_top = p and
output_h = (H - 1) s - 2 p + KH + op, likewise along W; PyTorch requires
op < s (with dilation 1). TFLite derives pad_top from the output shape
instead: total = max((ceil(OH / s) - 1) s + KH - OH, 0) and pad_top = total // 2
(padding.h's rule with the output shape as the convolution's input). With
PyTorch's OH that total is 2 p - op, so TFLite's pad_top is p - ceil(op / 2):
equal to p only when op = 0. The kernel takes pad_top and pad_left as
numbers, so both conventions run on it; the wrapper passes PyTorch's.

In integers (r = s * (q - zp), weights symmetric), as TFLite's
reference_integer_ops::TransposeConv:

    acc[b, oy, ox, c] = bias[c] + sum over the taps above of (x - input_zp) * w
    out[b, oy, ox, c] = requantize(acc, mult[c], shift[c], output_zp, act_min, act_max)

requantize is MultiplyByQuantizedMultiplier (double rounding), plus the zero
point, clamped. TFLite adds the bias after the scatter; here each accumulator
starts at its bias. Integer addition is exact and, by the bound below, no
partial sum leaves int32, so the order cannot change a result.

Accumulator bound. Output (oy, ox) meets the taps Y(oy) x X(ox) with
Y(oy) = {ky in [0, KH) : oy + pad_top - ky = iy * stride_h, 0 <= iy < H}, the
ky of one residue class mod stride_h, so at most ceil(KH / stride_h) of them
(likewise X(ox), at most ceil(KW / stride_w)). With |x - input_zp| <= 255,

    |acc[c]| <= 255 * S[c] + |bias[c]|,  S[c] = max over (oy, ox) of sum_{ky in Y(oy), kx in X(ox), i} |w[c, ky, kx, i]|

and every partial sum, over a subset of the same products, has the same
bound. S[c] is exact, the largest sum |w| that meets one output in this
geometry (transpose_conv2d_abs_weight_sums; at most the sum over one
stride phase, at most the whole channel's sum |w|), and the public wrapper
refuses a layer where 255 * S[c] + |bias[c]| exceeds 2^31 - 1
(numerics.accumulator_overflow, the rule of every weighted layer applied to
the weights that can meet one output).

Method. Gathered, not scattered (TFLite's reference scatters each input pixel
into an int32 buffer of the whole output, requantized after; the sums are the
same integers, added in another order, and by the bound above no partial sum
leaves int32 in either). The int32 accumulators are the caller's ``scratch``:
one batch's output plane, OH * OW * C_out int32
(transpose_conv2d_s8_scratch_bytes), reused for each batch. Per output pixel:
set its accumulators to the bias (or 0); for each tap that reaches it from
inside the input (ky = oy + pad_top - iy * stride_h with iy in [0, H), the
taps of one residue class mod stride_h; likewise kx), convert that input
pixel's C_in values to x - input_zp once and add their dot products with the
contiguous OHWI filter rows w[c, ky, kx, :], four output channels at a time;
then requantize the plane into the output. The C twin is transpose_conv.c.

The Numba interpreter does not call this kernel: it runs the layer as
stride_h * stride_w ordinary convolutions on the packed SIMD path, one per
output phase (packed_layers.transpose_conv2d_packed_calls), which gives the
same bytes.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from . import _checks
from ._dispatch import check_backend, run_kernel
from ._jit import kernel
from .numerics import INT32_MAX, requantize

_i64 = types.int64
_i32 = types.int32


def transpose_conv2d_s8_scratch_bytes(output_h: int, output_w: int, output_ch: int) -> int:
    """Bytes of scratch transpose_conv2d_s8 needs: one batch's int32 accumulators, output_h * output_w * output_ch."""
    return 4 * output_h * output_w * output_ch


def _taps_per_output(in_size: int, k: int, stride: int, pad: int, out_size: int) -> np.ndarray:
    """The distinct rows of the 0/1 matrix [o, k]: does tap k meet output o along one axis."""
    t = np.arange(out_size, dtype=np.int64)[:, None] + pad - np.arange(k, dtype=np.int64)[None, :]  # iy * stride
    meets = (t >= 0) & (t % stride == 0) & (t // stride < in_size)
    return np.unique(meets, axis=0).astype(np.int64)


def transpose_conv2d_abs_weight_sums(filter: np.ndarray, input_h: int, input_w: int, stride_h: int, stride_w: int,
                                     pad_top: int, pad_left: int, output_h: int, output_w: int) -> np.ndarray:
    """S[c] (int64 [C_out]): the largest sum of |w[c]| over the taps that meet one output of this geometry.

    The output rows fall into a few classes by the set of filter rows that reach them (the distinct
    rows of _taps_per_output; likewise columns); S[c] is the maximum over pairs of classes of the
    sum of |w[c, ky, kx, i]| over both sets and all i. 255 * S[c] + |bias[c]| bounds the accumulator."""
    w = np.abs(np.asarray(filter, dtype=np.int64)).sum(axis=3)  # [C_out, KH, KW]
    rows = _taps_per_output(input_h, w.shape[1], stride_h, pad_top, output_h)
    cols = _taps_per_output(input_w, w.shape[2], stride_w, pad_left, output_w)
    sums = np.einsum("ak,bl,ckl->cab", rows, cols, w)
    return sums.reshape(w.shape[0], -1).max(axis=1)


@njit(inline="always", cache=True, nogil=True)
def _tap_dots(acc, at, column, filter, f_at, channel_stride, output_ch):
    """acc[at + c] += the dot product of the column with filter[f_at + c * channel_stride:][:len(column)], for
    c < output_ch, four channels at a time (each sum within the bound: an int32)."""
    n = column.shape[0]
    c = 0
    while c + 4 <= output_ch:
        r0 = filter[f_at + c * channel_stride:]
        r1 = filter[f_at + (c + 1) * channel_stride:]
        r2 = filter[f_at + (c + 2) * channel_stride:]
        r3 = filter[f_at + (c + 3) * channel_stride:]
        s0 = s1 = s2 = s3 = np.int32(0)
        for i in range(n):
            x = column[i]
            s0 = np.int32(s0 + x * np.int32(r0[i]))
            s1 = np.int32(s1 + x * np.int32(r1[i]))
            s2 = np.int32(s2 + x * np.int32(r2[i]))
            s3 = np.int32(s3 + x * np.int32(r3[i]))
        acc[at + c] += s0
        acc[at + c + 1] += s1
        acc[at + c + 2] += s2
        acc[at + c + 3] += s3
        c += 4
    while c < output_ch:
        r0 = filter[f_at + c * channel_stride:]
        s0 = np.int32(0)
        for i in range(n):
            s0 = np.int32(s0 + column[i] * np.int32(r0[i]))
        acc[at + c] += s0
        c += 1


@kernel(
    types.void(
        types.int32[::1],  # scratch: one batch's accumulators
        _i64, _i64, _i64, _i64,  # batches, input_h, input_w, input_ch
        _i64, _i64,  # filter_h, filter_w
        _i64, _i64, _i64,  # output_h, output_w, output_ch
        _i64, _i64, _i64, _i64,  # stride_h, stride_w, pad_top, pad_left
        _i32, _i32,  # input_zp, output_zp
        types.int32[::1], types.int8[::1], _i64,  # output_mult, output_shift, per_channel
        _i32, _i32,  # act_min, act_max
        types.int8[::1], types.int8[::1], types.int32[::1],  # input, filter, bias
        types.int8[::1],  # output
    )
)
def transpose_conv2d_s8(
    scratch,
    batches, input_h, input_w, input_ch,
    filter_h, filter_w,
    output_h, output_w, output_ch,
    stride_h, stride_w, pad_top, pad_left,
    input_zp, output_zp,
    output_mult, output_shift, per_channel,
    act_min, act_max,
    input, filter, bias, output,
):
    """The jitted kernel. Trusts its caller; flat C-order buffers; bias empty means none;
    scratch holds output_h * output_w * output_ch int32 and need not be initialized."""
    pixels = output_h * output_w
    channel_stride = filter_h * filter_w * input_ch  # from w[c, ky, kx, :] to w[c + 1, ky, kx, :]
    has_bias = bias.shape[0] > 0
    column = np.empty(input_ch, np.int32)
    for b in range(batches):
        image = b * input_h * input_w * input_ch
        for oy in range(output_h):
            for ox in range(output_w):
                at = (oy * output_w + ox) * output_ch
                for c in range(output_ch):
                    scratch[at + c] = bias[c] if has_bias else 0
                for ky in range((oy + pad_top) % stride_h, filter_h, stride_h):
                    ty = oy + pad_top - ky  # iy * stride_h; decreasing: past the input first, then inside
                    if ty < 0:
                        break
                    if ty // stride_h >= input_h:
                        continue
                    for kx in range((ox + pad_left) % stride_w, filter_w, stride_w):
                        tx = ox + pad_left - kx
                        if tx < 0:
                            break
                        if tx // stride_w >= input_w:
                            continue
                        x_at = image + ((ty // stride_h) * input_w + tx // stride_w) * input_ch
                        for i in range(input_ch):
                            column[i] = np.int32(input[x_at + i]) - input_zp
                        _tap_dots(scratch, at, column, filter, (ky * filter_w + kx) * input_ch, channel_stride,
                                  output_ch)
        out_base = b * pixels * output_ch
        for p in range(pixels):
            for c in range(output_ch):
                q = c if per_channel else 0
                output[out_base + p * output_ch + c] = np.int8(
                    requantize(scratch[p * output_ch + c], output_mult[q], output_shift[q], output_zp,
                               act_min, act_max)
                )


def _axis(fn: str, axis: int, in_size: int, k: int, stride: int, pad: int, output_padding: int) -> int:
    """PyTorch's output size along one axis, checked: (in - 1) * stride - 2 * padding + k + output_padding."""
    if output_padding >= stride:
        raise ValueError(f"{fn}: output_padding[{axis}] ({output_padding}) must be smaller than "
                         f"stride[{axis}] ({stride})")
    if (in_size - 1) * stride + k + output_padding > INT32_MAX:
        raise ValueError(f"{fn}: input size {in_size} at stride[{axis}] {stride} reaches beyond int32 indexing")
    out = (in_size - 1) * stride - 2 * pad + k + output_padding
    if out < 1:
        raise ValueError(f"{fn}: the output would be empty: padding[{axis}] ({pad}) removes 2 * {pad} of the "
                         f"{(in_size - 1) * stride + k + output_padding} rows of input size {in_size}, "
                         f"stride {stride}, filter {k} and output_padding {output_padding}")
    return out


def transpose_conv2d(
    input: np.ndarray,
    filter: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    input_zp: int,
    output_zp: int,
    output_mult,
    output_shift,
    stride=1,
    padding=0,
    output_padding=0,
    act_min: int = -128,
    act_max: int = 127,
    backend: str = "numba",
) -> np.ndarray:
    """int8 transposed convolution (ConvTranspose2d, groups 1, dilation 1), TFLite's int8 reference
    arithmetic, bit-exact.

    Args:
      input: int8 [N, H, W, C_in], NHWC.
      filter: int8 [C_out, KH, KW, C_in], OHWI (PyTorch's weight w.permute(1, 2, 3, 0)),
        symmetric (zero point 0, values in [-127, 127]).
      bias: int32 [C_out] at scale input_scale * filter_scale[c], or None.
      input_zp, output_zp: zero points in [-128, 127].
      output_mult, output_shift: the requantization multiplier (Q31, in [0, 2^31)) and exponent
        (in [-31, 30], positive = left), one value (per-tensor) or C_out values (per-channel).
      stride: int or (h, w), >= 1.
      padding: int or (h, w), >= 0: PyTorch's, the rows (columns) removed at the top and at the
        bottom of the full scatter; the kernel's pad_top (pad_left).
      output_padding: int or (h, w), each smaller than the stride along its axis: PyTorch's, rows
        (columns) added at the bottom (right).
      act_min, act_max: the output clamp in [-128, 127].
      backend: 'numba' or 'c' (the C twin through cffi); results are identical.

    Returns:
      int8 [N, OH, OW, C_out], OH = (H - 1) * stride_h - 2 * padding_h + KH + output_padding_h
      (likewise OW).

    Raises:
      ValueError naming the argument, for any shape, dtype or range violation, and when the int32
      accumulator could overflow (255 * S[c] + |bias[c]| > 2^31 - 1, S[c] the largest sum |w[c]| that
      meets one output; see transpose_conv2d_abs_weight_sums).
    """
    fn = "transpose_conv2d"
    check_backend(fn, backend)
    x = _checks.array(fn, "input", input, np.int8, 4)
    w = _checks.array(fn, "filter", filter, np.int8, 4)
    n, in_h, in_w, in_c = x.shape
    out_c, k_h, k_w, k_c = w.shape
    if min(x.shape) < 1 or min(w.shape) < 1:
        raise ValueError(f"{fn}: input {x.shape} and filter {w.shape} must have no empty dimension")
    if k_c != in_c:
        raise ValueError(f"{fn}: filter has {k_c} input channels, input has {in_c}")
    stride_h, stride_w = _checks.pair(fn, "stride", stride, 1, 2**16)
    pad_h, pad_w = _checks.pair(fn, "padding", padding, 0, 2**16)
    op_h, op_w = _checks.pair(fn, "output_padding", output_padding, 0, 2**16)
    out_h = _axis(fn, 0, in_h, k_h, stride_h, pad_h, op_h)
    out_w = _axis(fn, 1, in_w, k_w, stride_w, pad_w, op_w)
    if n * out_h * out_w * out_c >= 2**31:
        raise ValueError(f"{fn}: the output [{n}, {out_h}, {out_w}, {out_c}] has 2^31 elements or more, "
                         f"more than int32 indexing allows")
    in_zp, out_zp, act_lo, act_hi, mult, shift, per_channel, b = _checks.layer_quantization(
        fn, input_zp=input_zp, output_zp=output_zp, act_min=act_min, act_max=act_max,
        output_mult=output_mult, output_shift=output_shift, bias=bias, channels=out_c,
    )
    _checks.weights(fn, "filter", w)
    _checks.accumulator_fits(
        fn, transpose_conv2d_abs_weight_sums(w, in_h, in_w, stride_h, stride_w, pad_h, pad_w, out_h, out_w), b
    )

    out = np.empty((n, out_h, out_w, out_c), dtype=np.int8)
    scratch = np.empty(transpose_conv2d_s8_scratch_bytes(out_h, out_w, out_c) // 4, dtype=np.int32)
    run_kernel(backend, transpose_conv2d_s8, scratch=scratch, batches=n, input_h=in_h, input_w=in_w, input_ch=in_c,
               filter_h=k_h, filter_w=k_w, output_h=out_h, output_w=out_w, output_ch=out_c, stride_h=stride_h,
               stride_w=stride_w, pad_top=pad_h, pad_left=pad_w, input_zp=in_zp, output_zp=out_zp, output_mult=mult,
               output_shift=shift, per_channel=per_channel, act_min=act_lo, act_max=act_hi, input=x.reshape(-1),
               filter=w.reshape(-1), bias=b, output=out.reshape(-1))
    return out
