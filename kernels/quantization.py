"""float32 <-> int8 or int16 at the model's boundary (TFLite's Quantize and Dequantize), and the integer
QUANTIZE that changes an int8 or int16 tensor's quantization (TFLite's Requantize).

quantize_s8:   q = clamp(round_half_away(x / scale) + zp, -128, 127)
dequantize_s8: x = scale * (q - zp)

All float arithmetic is single precision, as TFLite's: the division and the
product are one IEEE-754 float32 operation each, correctly rounded, so any
conforming C compiler and Numba produce the same bits. The rounding is done
on the float32 quotient v with t = trunc(v) and the exact difference v - t
(no floor(v + 0.5), which double-rounds). v is clamped to [-256, 256] first
so the conversion to int32 is defined; any |v| >= 256 saturates anyway. NaN
maps to the zero point. These are the only float kernels; they run once per
model input or output.

quantize_s16, dequantize_s16: the same formulas for int16 (TFLite's
AffineQuantize and Dequantize on int16_t), clamped to [-32768, 32767]. v is
clamped to [-65536, 65536] first: |v| >= 65536 saturates whatever the int16
zero point (65536 - 32768 > 32767). The float32 division, truncation and
exact difference argue as for int8 (|v| < 2^16 < 2^24, an integer float32
represents exactly). The product scale * (q - zp) has |q - zp| <= 65535, a
16-bit integer, exact in float32: one float32 multiplication, correctly
rounded, as reference/dequantize.h computes it (float scale); its older
double form gives the same float32 (the double product of a 24-bit and a
16-bit significand is exact, then rounded once to float).

requantize_s8_s16, requantize_s16_s8, requantize_s16_s16 (TFLite's QUANTIZE
with an integer input: tensorflow/lite/kernels/quantize.cc, Prepare:
QuantizeMultiplier(s_in / s_out), which may exceed 1; Eval:
reference_ops::Requantize in reference/requantize.h):

    y = clamp(multiply_by_quantized_multiplier(x - input_zp, mult, shift) + output_zp)

clamped to the output type's range (no fused activation). The rounding is
the 32-bit MultiplyByQuantizedMultiplier of every other kernel (double
rounding). Ranges: |x - input_zp| <= 65535 (both in int16), so the centred
input fits int32; a left shift (s_in / s_out >= 1) that would leave int32
saturates (numerics.py), where TFLite's int32 product is undefined; the
output clamp then saturates it again. TFLite's int16 -> int16 demands zero
points 0; the kernels take any in the types' ranges. TFLite's QUANTIZE has
int16 -> int8 and int16 -> int16; int8 -> int16 is TFLite Micro's
(quantize_common.cc), with the same Requantize.
C twin: quantization.c.
"""

from __future__ import annotations

import math

import numpy as np
from numba import types

from . import _checks
from ._dispatch import check_backend, run_kernel
from ._jit import kernel
from .numerics import requantize

_i32 = types.int32
_f32 = types.float32
_v8 = types.int8[::1]
_v16 = types.int16[::1]


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


@kernel(types.void(_i32, _f32, _i32, types.float32[::1], _v16))
def quantize_s16(size, scale, zero_point, input, output):
    """The jitted kernel; trusts its caller (scale > 0). quantize_s8 with int16's range: v within +-65536."""
    for i in range(size):
        v = np.float32(input[i] / scale)
        if v != v:  # NaN
            r = np.int32(0)
        elif v >= np.float32(65536.0):
            r = np.int32(65536)
        elif v <= np.float32(-65536.0):
            r = np.int32(-65536)
        else:
            t = np.int32(v)  # truncation toward zero
            frac = np.float32(v - np.float32(t))  # exact
            r = t
            if frac >= np.float32(0.5):
                r = t + 1
            elif frac <= np.float32(-0.5):
                r = t - 1
        output[i] = np.int16(min(max(r + zero_point, -32768), 32767))


@kernel(types.void(_i32, _f32, _i32, _v16, types.float32[::1]))
def dequantize_s16(size, scale, zero_point, input, output):
    """The jitted kernel; trusts its caller."""
    for i in range(size):
        output[i] = np.float32(scale * np.float32(np.int32(input[i]) - zero_point))


# requantize_s8_s16, requantize_s16_s8, requantize_s16_s16: one argument list, the data types differ
_REQUANTIZE_QUANT = (
    _i32,  # size
    _i32, _i32, _i32, _i32,  # input_zp, output_zp, mult, shift
)


@kernel(types.void(*_REQUANTIZE_QUANT, _v8, _v16))
def requantize_s8_s16(size, input_zp, output_zp, mult, shift, input, output):
    """The jitted kernel; trusts its caller."""
    for i in range(size):
        output[i] = np.int16(requantize(np.int32(np.int32(input[i]) - input_zp), mult, shift, output_zp,
                                        np.int32(-32768), np.int32(32767)))


@kernel(types.void(*_REQUANTIZE_QUANT, _v16, _v8))
def requantize_s16_s8(size, input_zp, output_zp, mult, shift, input, output):
    """The jitted kernel; trusts its caller."""
    for i in range(size):
        output[i] = np.int8(requantize(np.int32(np.int32(input[i]) - input_zp), mult, shift, output_zp,
                                       np.int32(-128), np.int32(127)))


@kernel(types.void(*_REQUANTIZE_QUANT, _v16, _v16))
def requantize_s16_s16(size, input_zp, output_zp, mult, shift, input, output):
    """The jitted kernel; trusts its caller."""
    for i in range(size):
        output[i] = np.int16(requantize(np.int32(np.int32(input[i]) - input_zp), mult, shift, output_zp,
                                        np.int32(-32768), np.int32(32767)))


def _scale(fn, scale):
    s = float(scale)
    if not (s > 0.0 and math.isfinite(s)) or not np.isfinite(np.float32(s)) or np.float32(s) == 0:
        raise ValueError(f"{fn}: scale must be a finite float32 > 0, got {scale!r}")
    return np.float32(s)


def _convert(fn, kernel, input, in_dtype, out_dtype, scale, zero_point, backend) -> np.ndarray:
    """The four boundary wrappers below: input of in_dtype, any shape; the integer side's zero point in its type's
    range; one kernel call over the flat array."""
    check_backend(fn, backend)
    if not isinstance(input, np.ndarray):
        raise ValueError(f"{fn}: input must be a numpy array")
    x = _checks.array(fn, "input", input, in_dtype, input.ndim)
    info = np.iinfo(out_dtype if np.issubdtype(out_dtype, np.integer) else in_dtype)
    zp = _checks.integer(fn, "zero_point", zero_point, int(info.min), int(info.max))
    out = np.empty(x.shape, dtype=out_dtype)
    run_kernel(backend, kernel, size=x.size, scale=_scale(fn, scale), zero_point=zp, input=x.reshape(-1),
               output=out.reshape(-1))
    return out


def quantize_int8(input: np.ndarray, *, scale: float, zero_point: int, backend: str = "numba") -> np.ndarray:
    """float32 -> int8 with TFLite's rounding (ties away from zero) and saturation."""
    return _convert("quantize_int8", quantize_s8, input, np.float32, np.int8, scale, zero_point, backend)


def dequantize_int8(input: np.ndarray, *, scale: float, zero_point: int, backend: str = "numba") -> np.ndarray:
    """int8 -> float32: scale * (q - zero_point) in float32."""
    return _convert("dequantize_int8", dequantize_s8, input, np.int8, np.float32, scale, zero_point, backend)


def quantize_int16(input: np.ndarray, *, scale: float, zero_point: int, backend: str = "numba") -> np.ndarray:
    """float32 -> int16 with TFLite's rounding (ties away from zero) and saturation."""
    return _convert("quantize_int16", quantize_s16, input, np.float32, np.int16, scale, zero_point, backend)


def dequantize_int16(input: np.ndarray, *, scale: float, zero_point: int, backend: str = "numba") -> np.ndarray:
    """int16 -> float32: scale * (q - zero_point) in float32."""
    return _convert("dequantize_int16", dequantize_s16, input, np.int16, np.float32, scale, zero_point, backend)


_REQUANTIZE_KERNELS = {
    (np.dtype(np.int8), np.dtype(np.int16)): requantize_s8_s16,
    (np.dtype(np.int16), np.dtype(np.int8)): requantize_s16_s8,
    (np.dtype(np.int16), np.dtype(np.int16)): requantize_s16_s16,
}


def requantize_tensor(input: np.ndarray, *, dtype, input_zp: int, output_zp: int, mult: int, shift: int,
                      backend: str = "numba") -> np.ndarray:
    """An int8 or int16 tensor at another quantization and type, TFLite's QUANTIZE with an integer input.

    int8 -> int16, int16 -> int8 and int16 -> int16 (dtype: the output's).
    (mult, shift) = quantize_multiplier(s_in / s_out); the multiplier may
    exceed 1 (shift up to 30). The output saturates to dtype's range.
    """
    fn = "requantize_tensor"
    check_backend(fn, backend)
    if not isinstance(input, np.ndarray):
        raise ValueError(f"{fn}: input must be a numpy array")
    try:
        out_dtype = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"{fn}: dtype must be int8 or int16, got {dtype!r}") from None
    kernel = _REQUANTIZE_KERNELS.get((input.dtype, out_dtype))
    if kernel is None:
        raise ValueError(f"{fn}: {input.dtype.name} -> {out_dtype.name} is not supported; "
                         f"int8 -> int16, int16 -> int8 and int16 -> int16 are")
    x = _checks.array(fn, "input", input, input.dtype, input.ndim)
    in_info, out_info = np.iinfo(input.dtype), np.iinfo(out_dtype)
    zi = _checks.integer(fn, "input_zp", input_zp, int(in_info.min), int(in_info.max))
    zo = _checks.integer(fn, "output_zp", output_zp, int(out_info.min), int(out_info.max))
    m = _checks.integer(fn, "mult", mult, 0, 2**31 - 1)
    s = _checks.integer(fn, "shift", shift, -31, 30)
    out = np.empty(x.shape, dtype=out_dtype)
    run_kernel(backend, kernel, size=x.size, input_zp=zi, output_zp=zo, mult=m, shift=s, input=x.reshape(-1),
               output=out.reshape(-1))
    return out
