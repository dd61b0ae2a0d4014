"""float32 <-> int8 at the model's boundary (TFLite's Quantize and Dequantize).

quantize_s8:   q = clamp(round_half_away(x / scale) + zp, -128, 127)
dequantize_s8: x = scale * (q - zp)

All float arithmetic is single precision, as TFLite's: the division and the
product are one IEEE-754 float32 operation each, correctly rounded, so any
conforming C compiler and Numba produce the same bits. The rounding is done
on the float32 quotient v with t = trunc(v) and the exact difference v - t
(no floor(v + 0.5), which double-rounds). v is clamped to [-256, 256] first
so the conversion to int32 is defined; any |v| >= 256 saturates anyway. NaN
maps to the zero point. These are the only float kernels; they run once per
model input or output. C twin: quantization.c.
"""

from __future__ import annotations

import math

import numpy as np
from numba import types

from . import _checks
from ._dispatch import check_backend, run_kernel
from ._jit import kernel

_i32 = types.int32
_f32 = types.float32


@kernel(types.void(_i32, _f32, _i32, types.float32[::1], types.int8[::1]))
def quantize_s8(size, scale, zero_point, input, output):
    """The jitted kernel; trusts its caller (scale > 0)."""
    for i in range(size):
        v = np.float32(input[i] / scale)
        if v != v:  # NaN
            r = np.int32(0)
        elif v >= np.float32(256.0):
            r = np.int32(256)
        elif v <= np.float32(-256.0):
            r = np.int32(-256)
        else:
            t = np.int32(v)  # truncation toward zero
            frac = np.float32(v - np.float32(t))  # exact
            r = t
            if frac >= np.float32(0.5):
                r = t + 1
            elif frac <= np.float32(-0.5):
                r = t - 1
        output[i] = np.int8(min(max(r + zero_point, -128), 127))


@kernel(types.void(_i32, _f32, _i32, types.int8[::1], types.float32[::1]))
def dequantize_s8(size, scale, zero_point, input, output):
    """The jitted kernel; trusts its caller."""
    for i in range(size):
        output[i] = np.float32(scale * np.float32(np.int32(input[i]) - zero_point))


def _scale(fn, scale):
    s = float(scale)
    if not (s > 0.0 and math.isfinite(s)) or not np.isfinite(np.float32(s)) or np.float32(s) == 0:
        raise ValueError(f"{fn}: scale must be a finite float32 > 0, got {scale!r}")
    return np.float32(s)


def quantize_int8(input: np.ndarray, *, scale: float, zero_point: int, backend: str = "numba") -> np.ndarray:
    """float32 -> int8 with TFLite's rounding (ties away from zero) and saturation."""
    fn = "quantize_int8"
    check_backend(fn, backend)
    if not isinstance(input, np.ndarray):
        raise ValueError(f"{fn}: input must be a numpy array")
    x = _checks.array(fn, "input", input, np.float32, input.ndim)
    zp = _checks.integer(fn, "zero_point", zero_point, -128, 127)
    out = np.empty(x.shape, dtype=np.int8)
    run_kernel(backend, quantize_s8, size=x.size, scale=_scale(fn, scale), zero_point=zp, input=x.reshape(-1),
               output=out.reshape(-1))
    return out


def dequantize_int8(input: np.ndarray, *, scale: float, zero_point: int, backend: str = "numba") -> np.ndarray:
    """int8 -> float32: scale * (q - zero_point) in float32."""
    fn = "dequantize_int8"
    check_backend(fn, backend)
    if not isinstance(input, np.ndarray):
        raise ValueError(f"{fn}: input must be a numpy array")
    x = _checks.array(fn, "input", input, np.int8, input.ndim)
    zp = _checks.integer(fn, "zero_point", zero_point, -128, 127)
    out = np.empty(x.shape, dtype=np.float32)
    run_kernel(backend, dequantize_s8, size=x.size, scale=_scale(fn, scale), zero_point=zp, input=x.reshape(-1),
               output=out.reshape(-1))
    return out
