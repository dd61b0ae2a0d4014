"""Plain int64 / float64 references for the kernels. Never imports microflat's kernels, compiler or runtime.

Written from the definitions, in a different formulation from the code under
test, so that agreement means something:
  - fixed-point helpers as closed-form floor/ties-away expressions, not
    gemmlowp's nudge-and-mask sequence;
  - convolutions as a sum over filter taps of shifted int64 matrix products
    on an explicitly zero-padded (x - zero_point) image, not im2col.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def srdhm(a, b):
    """round(a * b / 2^31) with ties toward +inf, saturated: floor((a*b + 2^30) / 2^31)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    return np.minimum((a * b + 2**30) // 2**31, INT32_MAX)  # floor division; only (-2^31)^2 overflows


def rounding_divide_by_pot(x, e):
    """x / 2^e rounded to nearest, ties away from zero: sign(x) * floor((|x| + 2^(e-1)) / 2^e)."""
    x = np.asarray(x, dtype=np.int64)
    e = np.asarray(e, dtype=np.int64)
    half = np.where(e > 0, np.left_shift(1, np.maximum(e - 1, 0)), 0)
    return np.sign(x) * ((np.abs(x) + half) >> e)


def multiply_by_quantized_multiplier(x, mult, shift):
    """TFLite's double rounding, with the left shift saturated to int32."""
    x = np.asarray(x, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    shifted = np.clip(x * np.left_shift(1, left), INT32_MIN, INT32_MAX)
    return rounding_divide_by_pot(srdhm(shifted, mult), right)


def requantize(acc, mult, shift, output_zp, act_min, act_max):
    return np.clip(multiply_by_quantized_multiplier(acc, mult, shift) + output_zp, act_min, act_max)


def wrap_int32(v):
    """v modulo 2^32 as a signed int32 value (two's complement narrowing)."""
    return ((np.asarray(v, dtype=np.int64) + 2**31) & (2**32 - 1)) - 2**31


def multiply_by_quantized_multiplier_int64(x, mult, shift):
    """TFLite's 16x8 rescaling, from its definition: the Q31 multiplier rounded half up to Q15 and capped at
    2^15 - 1, m15 = min(floor(mult / 2^16 + 1/2), 2^15 - 1); then x * m15 * 2^(shift - 15) rounded half up,
    floor((x * m15 + 2^(14 - shift)) / 2^(15 - shift)) by floor division (|x * m15| < 2^62), narrowed to
    int32 by wrapping."""
    x = np.asarray(x, dtype=np.int64)
    mult = np.asarray(mult, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    m15 = np.minimum((2 * mult + 2**16) // 2**17, 2**15 - 1)
    divisor = np.left_shift(np.int64(1), 15 - shift)
    return wrap_int32((x * m15 + divisor // 2) // divisor)


def multiply_by_quantized_multiplier_single_rounding(x: int, mult: int, shift: int) -> int:
    """LiteRT's reference FULLY_CONNECTED rescaling (int8 and 16x8), from its definition: x * mult * 2^(shift - 31)
    rounded once to the nearest integer, ties away from zero, in exact rational arithmetic; saturated to int32."""
    v = Fraction(int(x) * int(mult), 2 ** (31 - int(shift)))
    magnitude = math.floor(abs(v) + Fraction(1, 2))
    return max(INT32_MIN, min(INT32_MAX, magnitude if v >= 0 else -magnitude))


def requantize_int64(acc, mult, shift, act_min, act_max):
    return np.clip(multiply_by_quantized_multiplier_int64(acc, mult, shift), act_min, act_max)


def quantize_multiplier_exact(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier by exact rational arithmetic (no frexp).

    Find e with 2^(e-1) <= M < 2^e, round M * 2^(31 - e) half away from zero;
    a result of 2^31 is renormalized. shift < -31 flushes to (0, 0).
    """
    if real == 0:
        return 0, 0
    m = Fraction(real)
    e = m.numerator.bit_length() - m.denominator.bit_length()
    while Fraction(2) ** (e - 1) > m:
        e -= 1
    while Fraction(2) ** e <= m:
        e += 1
    scaled = m * Fraction(2) ** (31 - e)
    q = int(scaled)  # floor, scaled > 0
    if scaled - q >= Fraction(1, 2):
        q += 1
    if q == 2**31:
        q //= 2
        e += 1
    if e < -31:
        return 0, 0
    return q, e


def same_padding(in_size: int, k: int, stride: int, dilation: int) -> tuple[int, int, int]:
    """TFLite SAME: (output size, pad before, pad after); the odd extra pad goes after."""
    eff = (k - 1) * dilation + 1
    out = -(-in_size // stride)
    total = max((out - 1) * stride + eff - in_size, 0)
    return out, total // 2, total - total // 2


def _padded(x_centered, pad_top, pad_left, rows, cols):
    """Embed (x - zp) into a zero image of at least rows x cols, offset by the padding."""
    n, h, w, c = x_centered.shape
    out = np.zeros((n, max(rows, pad_top + h), max(cols, pad_left + w), c), dtype=x_centered.dtype)
    out[:, pad_top:pad_top + h, pad_left:pad_left + w, :] = x_centered
    return out


def conv2d_accumulators(x_centered, w, stride, dilation, pad_top, pad_left, out_h, out_w, groups):
    """sum over taps of (x - zp) * w, NHWC x OHWI, as int64 or float64 (the dtype of the inputs)."""
    n = x_centered.shape[0]
    cout, kh, kw, cg = w.shape
    og = cout // groups
    sh, sw = stride
    dh, dw = dilation
    rows = (out_h - 1) * sh + (kh - 1) * dh + 1
    cols = (out_w - 1) * sw + (kw - 1) * dw + 1
    xp = _padded(x_centered, pad_top, pad_left, rows, cols)
    acc = np.zeros((n, out_h, out_w, cout), dtype=np.result_type(x_centered, w))
    for ky in range(kh):
        for kx in range(kw):
            patch = xp[:, ky * dh:ky * dh + sh * (out_h - 1) + 1:sh, kx * dw:kx * dw + sw * (out_w - 1) + 1:sw, :]
            for g in range(groups):
                acc[..., g * og:(g + 1) * og] += patch[..., g * cg:(g + 1) * cg] @ w[g * og:(g + 1) * og, ky, kx, :].T
    return acc


def depthwise_accumulators(x_centered, w, multiplier, stride, dilation, pad_top, pad_left, out_h, out_w):
    """Depthwise [1, KH, KW, C*m]: output channel i*m + j reads input channel i."""
    # A depthwise conv is a grouped conv with one group per input channel.
    n, h, wd, c = x_centered.shape
    w_ohwi = np.transpose(w, (3, 1, 2, 0))  # [C*m, KH, KW, 1]
    return conv2d_accumulators(x_centered, w_ohwi, stride, dilation, pad_top, pad_left, out_h, out_w, groups=c)


def per_channel(values, channels):
    """Broadcast a per-tensor (length-1) parameter array to per-channel."""
    v = np.asarray(values, dtype=np.int64).reshape(-1)
    return np.broadcast_to(v, (channels,)) if v.size == 1 else v
