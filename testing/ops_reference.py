"""Plain-Python / int64 references for the non-convolution ops. Never imports microflat's kernels, compiler or runtime.

Written from the definitions (TFLite's reference kernels and gemmlowp's
fixedpoint.h), in closed forms and whole-array numpy rather than the kernels'
loops, so that agreement means something.
"""

from __future__ import annotations

import numpy as np

from .int_reference import INT32_MAX, INT32_MIN, multiply_by_quantized_multiplier, requantize


def broadcast_int64(a, b):
    return np.broadcast_arrays(a.astype(np.int64), b.astype(np.int64))


def add(a, b, p):
    x, y = broadcast_int64(a, b)
    xs = multiply_by_quantized_multiplier((x - p["input1_zp"]) * 2 ** p["left_shift"], p["input1_mult"], p["input1_shift"])
    ys = multiply_by_quantized_multiplier((y - p["input2_zp"]) * 2 ** p["left_shift"], p["input2_mult"], p["input2_shift"])
    return requantize(xs + ys, p["output_mult"], p["output_shift"], p["output_zp"], p["act_min"], p["act_max"]).astype(np.int8)


def mul(a, b, p):
    x, y = broadcast_int64(a, b)
    prod = (x - p["input1_zp"]) * (y - p["input2_zp"])
    return requantize(prod, p["output_mult"], p["output_shift"], p["output_zp"], p["act_min"], p["act_max"]).astype(np.int8)


def sub(a, b, p):
    """TFLite's int8 Sub (sub.cc): its Prepare negates the second Q31 multiplier and Eval runs the Add kernel."""
    return add(a, b, dict(p, input2_mult=-p["input2_mult"]))


def maximum(a, b):
    """TFLite's MAXIMUM on int8: the larger raw value."""
    x, y = broadcast_int64(a, b)
    return np.maximum(x, y).astype(np.int8)


def minimum(a, b):
    x, y = broadcast_int64(a, b)
    return np.minimum(x, y).astype(np.int8)


def squared_difference(a, b, p):
    """TFLite's int8 SquaredDifference (squared_difference.cc): both inputs to the common scale, subtract,
    square, one output requantization, clamp to the int8 range (no fused activation)."""
    x, y = broadcast_int64(a, b)
    xs = multiply_by_quantized_multiplier((x - p["input1_zp"]) * 2 ** p["left_shift"], p["input1_mult"], p["input1_shift"])
    ys = multiply_by_quantized_multiplier((y - p["input2_zp"]) * 2 ** p["left_shift"], p["input2_mult"], p["input2_shift"])
    diff = xs - ys
    assert np.abs(diff).max() ** 2 <= INT32_MAX  # TFLite squares in int32
    return requantize(diff * diff, p["output_mult"], p["output_shift"], p["output_zp"], -128, 127).astype(np.int8)


def _windows(x, fh, fw, sh, sw, pt, pl, oh, ow, fill):
    """[N, OH, OW, C, FH*FW] windows of x over a padded image filled with ``fill`` (NaN = not counted)."""
    n, h, w, c = x.shape
    rows = max((oh - 1) * sh + fh, pt + h)
    cols = max((ow - 1) * sw + fw, pl + w)
    padded = np.full((n, rows, cols, c), fill, dtype=np.float64)
    padded[:, pt:pt + h, pl:pl + w, :] = x
    taps = [padded[:, ky:ky + sh * (oh - 1) + 1:sh, kx:kx + sw * (ow - 1) + 1:sw, :] for ky in range(fh) for kx in range(fw)]
    return np.stack(taps, axis=-1)


def average_pool2d(x, fh, fw, sh, sw, pt, pl, oh, ow, act_min, act_max):
    win = _windows(x, fh, fw, sh, sw, pt, pl, oh, ow, np.nan)
    valid = ~np.isnan(win)
    acc = np.where(valid, win, 0).sum(axis=-1).astype(np.int64)
    count = valid.sum(axis=-1).astype(np.int64)
    # nearest, ties away from zero: sign(acc) * floor((|acc| + count // 2) / count)
    avg = np.sign(acc) * ((np.abs(acc) + count // 2) // count)
    return np.clip(avg, act_min, act_max).astype(np.int8)


def max_pool2d(x, fh, fw, sh, sw, pt, pl, oh, ow, act_min, act_max):
    win = _windows(x, fh, fw, sh, sw, pt, pl, oh, ow, -np.inf)
    return np.clip(win.max(axis=-1), act_min, act_max).astype(np.int8)


def mean_hw(x, input_zp, output_zp, mult, shift):
    n, h, w, c = x.shape
    acc = (x.astype(np.int64) - input_zp).sum(axis=(1, 2), keepdims=True)
    v = multiply_by_quantized_multiplier(acc, mult, shift)
    count = h * w
    v = np.sign(v) * ((np.abs(v) + count // 2) // count)
    return np.clip(v + output_zp, -128, 127).astype(np.int8)


def pad(x, paddings, value):
    return np.pad(x, paddings, mode="constant", constant_values=value)


def concatenation(xs, axis, input_zps, output_zp, mults, shifts, requants):
    """int8 or int16 (the inputs' type, whose range the requantized values are clamped to)."""
    info = np.iinfo(xs[0].dtype)
    parts = []
    for x, zp, m, s, r in zip(xs, input_zps, mults, shifts, requants):
        parts.append(requantize(x.astype(np.int64) - zp, m, s, output_zp, info.min, info.max).astype(x.dtype)
                     if r else x)
    return np.concatenate(parts, axis=axis)


# --- gemmlowp fixed point, as plain Python integers -------------------------


def _srdhm(a: int, b: int) -> int:
    if a == b == INT32_MIN:
        return INT32_MAX
    return (a * b + (1 << 30)) >> 31  # floor((ab + 2^30) / 2^31): ties toward +inf


def _rdbp(x: int, e: int) -> int:
    if e == 0:
        return x
    sign = -1 if x < 0 else 1
    return sign * ((abs(x) + (1 << (e - 1))) >> e)  # ties away from zero


def _wrap(v: int) -> int:
    return (v + 2**31) % 2**32 - 2**31


def _mul_pot(x: int, e: int) -> int:
    """x * 2^e: rounding divide for e <= 0, saturating for e > 0."""
    if e <= 0:
        return _rdbp(x, -e)
    return max(INT32_MIN, min(INT32_MAX, x << e))


def _exp_quarter(a: int) -> int:
    x = _wrap(a + (1 << 28))
    x2 = _srdhm(x, x)
    x3 = _srdhm(x2, x)
    x4 = _srdhm(x2, x2)
    inner = _wrap(_srdhm(_wrap(_mul_pot(x4, -2) + x3), 715827883) + x2)
    poly = _mul_pot(inner, -1)
    return _wrap(1895147668 + _srdhm(1895147668, _wrap(x + poly)))


_BARREL = [1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242]


def exp_on_negative_values(a: int) -> int:
    """gemmlowp exp for a Q5.26 input <= 0, Q0.31 output."""
    if a == 0:
        return INT32_MAX
    a_mod = _wrap((a & ((1 << 24) - 1)) - (1 << 24))
    result = _exp_quarter(_mul_pot(a_mod, 5))
    remainder = _wrap(a_mod - a)
    for k, m in enumerate(_BARREL):
        if remainder & (1 << (24 + k)):
            result = _srdhm(result, m)
    return result


def _one_over_one_plus_x(a: int) -> int:
    s = a + INT32_MAX  # (a + 1) / 2 rounded away from zero; s >= 0 for a in [0, 1)
    half = (s + 1) // 2 if s >= 0 else -((1 - s) // 2)
    x = _wrap(1515870810 + _srdhm(half, -1010580540))
    for _ in range(3):
        x = _wrap(x + _mul_pot(_srdhm(x, _wrap((1 << 29) - _srdhm(half, x))), 2))
    return _mul_pot(x, 1)


def softmax(x: np.ndarray, beta_mult: int, left_shift: int, diff_min: int) -> np.ndarray:
    """TFLite's int8 reference softmax over the last axis, in Python integers."""
    rows = x.reshape(-1, x.shape[-1]).astype(np.int64)
    out = np.empty(rows.shape, dtype=np.int8)
    for i, row in enumerate(rows):
        diffs = [int(v) - int(row.max()) for v in row]
        exps = [exp_on_negative_values(_srdhm(d << left_shift, beta_mult)) if d >= diff_min else None for d in diffs]
        total = sum(_rdbp(e, 12) for e in exps if e is not None)
        clz = 32 - total.bit_length()
        bits_over_unit = 12 - clz
        scale = _one_over_one_plus_x(_wrap((total << clz) - 2**31))
        exponent = bits_over_unit + 31 - 8
        for j, e in enumerate(exps):
            if e is None:
                out[i, j] = -128
            else:
                unsat = _rdbp(_srdhm(scale, e), exponent)  # Python ints: any exponent is exact
                out[i, j] = max(-128, min(127, unsat - 128))
    return out.reshape(x.shape)
