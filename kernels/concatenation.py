"""int8 and int16 concatenation along one axis, requantizing inputs whose quantization differs.

The tensors are viewed as [outer, axis * inner] rows. One call copies one
input into its column range [output_start, output_start + copy_size) of every
output row. When the input's scale or zero point differs from the output's,
each value is requantized in integers:

    y = clamp(multiply_by_quantized_multiplier(x - input_zp, mult, shift) + output_zp)

with M = s_in / s_out (the error bound of the foundation's requantize
applies: at most 0.5 + 0.5 * 2^-r + 255 * |M' - M| output LSBs). TFLite's
int8 Concatenation refuses differing quantization; its uint8 path rescales
in float. When they are equal (requant = 0) the bytes are copied. C twin:
concatenation.c.

int16 (concatenation_s16, TFLite's 16x8 mode): the same loops on int16 values,
clamped to [-32768, 32767]. TFLite's int16 Concatenation requires zero points 0
and copies (its converter gives the inputs the output's scale); a requantized
input is microflat's extension, as for int8, with TFLite's int16 Requantize
arithmetic (requantize_s16_s16), multiply_by_quantized_multiplier's: its left
shift saturates where TFLite's int32 product would overflow (undefined there).
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from . import _checks
from ._dispatch import check_backend, run_kernel
from ._jit import kernel
from .numerics import quantize_multiplier, requantize

_i32 = types.int32


def _signature(vector):
    return types.void(
        _i32, _i32, _i32, _i32,  # outer, copy_size, output_row, output_start
        _i32, _i32, _i32, _i32, _i32,  # requant, input_zp, output_zp, mult, shift
        vector, vector,  # input, output
    )


@njit(inline="always", cache=True, nogil=True)
def _concatenate(outer, copy_size, output_row, output_start, requant, input_zp, output_zp, mult, shift, lo, hi,
                 input, output):
    """One input's column range of every output row, written once for int8 and int16 ([lo, hi]: the type's)."""
    for o in range(outer):
        src = o * copy_size
        dst = o * output_row + output_start
        if requant:
            for k in range(copy_size):
                output[dst + k] = requantize(np.int32(input[src + k]) - input_zp, mult, shift, output_zp, lo, hi)
        else:
            for k in range(copy_size):
                output[dst + k] = input[src + k]


@kernel(_signature(types.int8[::1]))
def concatenation_s8(outer, copy_size, output_row, output_start, requant, input_zp, output_zp, mult, shift,
                     input, output):
    """The jitted kernel; trusts its caller."""
    _concatenate(outer, copy_size, output_row, output_start, requant, input_zp, output_zp, mult, shift,
                 np.int32(-128), np.int32(127), input, output)


@kernel(_signature(types.int16[::1]))
def concatenation_s16(outer, copy_size, output_row, output_start, requant, input_zp, output_zp, mult, shift,
                      input, output):
    """The jitted kernel; trusts its caller."""
    _concatenate(outer, copy_size, output_row, output_start, requant, input_zp, output_zp, mult, shift,
                 np.int32(-32768), np.int32(32767), input, output)


def concatenation_params(input_scale: float, input_zp: int, output_scale: float, output_zp: int):
    """(requant, mult, shift) for one input: requant = 0 when the quantization is the same."""
    if input_scale == output_scale and input_zp == output_zp:
        return 0, 0, 0
    mult, shift = quantize_multiplier(input_scale / output_scale)
    return 1, mult, shift


def concatenation_options(inputs, output) -> dict:
    """ConcatenationOptions' per-input vectors, by field name (requant uint8, input_mult int32, input_shift int8),
    for inputs [(scale, zero point), ...] concatenated into output (scale, zero point): concatenation_params of each."""
    params = [concatenation_params(s, zp, *output) for s, zp in inputs]
    return dict(requant=np.array([p[0] for p in params], np.uint8),
                input_mult=np.array([p[1] for p in params], np.int32),
                input_shift=np.array([p[2] for p in params], np.int8))


def concatenation(inputs, *, axis: int, input_zps, output_zp: int, mults, shifts, requants,
                  backend: str = "numba") -> np.ndarray:
    """Concatenate int8 or int16 tensors (all of one type) along ``axis``; per input (requant, mult, shift) from
    concatenation_params. int16 zero points are 0 (TFLite's 16x8 rule)."""
    fn = "concatenation"
    check_backend(fn, backend)
    if not isinstance(inputs, (list, tuple)) or len(inputs) < 1:
        raise ValueError(f"{fn}: inputs must be a non-empty list of arrays")
    first = inputs[0]
    if not isinstance(first, np.ndarray):
        raise ValueError(f"{fn}: inputs[0] must be a numpy array")
    dtype = first.dtype if first.dtype in (np.int8, np.int16) else np.dtype(np.int8)
    xs = [_checks.array(fn, f"inputs[{i}]", x, dtype, first.ndim) for i, x in enumerate(inputs)]
    zp_range = (-128, 127) if dtype == np.int8 else (0, 0)
    ndim = first.ndim
    ax = _checks.integer(fn, "axis", axis, -ndim, ndim - 1) % ndim
    for i, x in enumerate(xs):
        if x.shape[:ax] + x.shape[ax + 1:] != first.shape[:ax] + first.shape[ax + 1:]:
            raise ValueError(f"{fn}: inputs[{i}] has shape {x.shape}, which differs from {first.shape} off axis {ax}")
    if len({len(input_zps), len(mults), len(shifts), len(requants)} | {len(xs)}) != 1:
        raise ValueError(f"{fn}: input_zps, mults, shifts and requants need one value per input")
    zo = _checks.integer(fn, "output_zp", output_zp, *zp_range)
    out_shape = list(first.shape)
    out_shape[ax] = sum(x.shape[ax] for x in xs)
    out = np.empty(out_shape, dtype=dtype)
    kernel = concatenation_s8 if dtype == np.int8 else concatenation_s16
    outer = int(np.prod(first.shape[:ax], dtype=np.int64))
    inner = int(np.prod(first.shape[ax + 1:], dtype=np.int64))
    row = out_shape[ax] * inner
    start = 0
    for i, x in enumerate(xs):
        zi = _checks.integer(fn, f"input_zps[{i}]", input_zps[i], *zp_range)
        m = _checks.integer(fn, f"mults[{i}]", mults[i], 0, 2**31 - 1)
        s = _checks.integer(fn, f"shifts[{i}]", shifts[i], -31, 30)
        r = _checks.integer(fn, f"requants[{i}]", requants[i], 0, 1)
        copy = x.shape[ax] * inner
        run_kernel(backend, kernel, outer=outer, copy_size=copy, output_row=row, output_start=start,
                   requant=r, input_zp=zi, output_zp=zo, mult=m, shift=s, input=x.reshape(-1),
                   output=out.reshape(-1))
        start += copy
    return out
