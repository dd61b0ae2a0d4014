"""int8 concatenation along one axis, requantizing inputs whose quantization differs.

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
"""

from __future__ import annotations

import numpy as np
from numba import types

from . import _checks
from ._dispatch import check_backend, run_kernel
from ._jit import kernel
from .numerics import quantize_multiplier, requantize

_i32 = types.int32


@kernel(
    types.void(
        _i32, _i32, _i32, _i32,  # outer, copy_size, output_row, output_start
        _i32, _i32, _i32, _i32, _i32,  # requant, input_zp, output_zp, mult, shift
        types.int8[::1], types.int8[::1],  # input, output
    )
)
def concatenation_s8(outer, copy_size, output_row, output_start, requant, input_zp, output_zp, mult, shift,
                     input, output):
    """The jitted kernel; trusts its caller."""
    for o in range(outer):
        src = o * copy_size
        dst = o * output_row + output_start
        if requant:
            for k in range(copy_size):
                output[dst + k] = np.int8(
                    requantize(np.int32(input[src + k]) - input_zp, mult, shift, output_zp, -128, 127)
                )
        else:
            for k in range(copy_size):
                output[dst + k] = input[src + k]


def concatenation_params(input_scale: float, input_zp: int, output_scale: float, output_zp: int):
    """(requant, mult, shift) for one input: requant = 0 when the quantization is the same."""
    if input_scale == output_scale and input_zp == output_zp:
        return 0, 0, 0
    mult, shift = quantize_multiplier(input_scale / output_scale)
    return 1, mult, shift


def concatenation(inputs, *, axis: int, input_zps, output_zp: int, mults, shifts, requants,
                  backend: str = "numba") -> np.ndarray:
    """Concatenate int8 tensors along ``axis``; per input (requant, mult, shift) from concatenation_params."""
    fn = "concatenation"
    check_backend(fn, backend)
    if not isinstance(inputs, (list, tuple)) or len(inputs) < 1:
        raise ValueError(f"{fn}: inputs must be a non-empty list of arrays")
    first = inputs[0]
    if not isinstance(first, np.ndarray):
        raise ValueError(f"{fn}: inputs[0] must be a numpy array")
    xs = [_checks.array(fn, f"inputs[{i}]", x, np.int8, first.ndim) for i, x in enumerate(inputs)]
    ndim = first.ndim
    ax = _checks.integer(fn, "axis", axis, -ndim, ndim - 1) % ndim
    for i, x in enumerate(xs):
        if x.shape[:ax] + x.shape[ax + 1:] != first.shape[:ax] + first.shape[ax + 1:]:
            raise ValueError(f"{fn}: inputs[{i}] has shape {x.shape}, which differs from {first.shape} off axis {ax}")
    if len({len(input_zps), len(mults), len(shifts), len(requants)} | {len(xs)}) != 1:
        raise ValueError(f"{fn}: input_zps, mults, shifts and requants need one value per input")
    zo = _checks.integer(fn, "output_zp", output_zp, -128, 127)
    out_shape = list(first.shape)
    out_shape[ax] = sum(x.shape[ax] for x in xs)
    out = np.empty(out_shape, dtype=np.int8)
    outer = int(np.prod(first.shape[:ax], dtype=np.int64))
    inner = int(np.prod(first.shape[ax + 1:], dtype=np.int64))
    row = out_shape[ax] * inner
    start = 0
    for i, x in enumerate(xs):
        zi = _checks.integer(fn, f"input_zps[{i}]", input_zps[i], -128, 127)
        m = _checks.integer(fn, f"mults[{i}]", mults[i], 0, 2**31 - 1)
        s = _checks.integer(fn, f"shifts[{i}]", shifts[i], -31, 30)
        r = _checks.integer(fn, f"requants[{i}]", requants[i], 0, 1)
        copy = x.shape[ax] * inner
        run_kernel(backend, concatenation_s8, outer=outer, copy_size=copy, output_row=row, output_start=start,
                   requant=r, input_zp=zi, output_zp=zo, mult=m, shift=s, input=x.reshape(-1),
                   output=out.reshape(-1))
        start += copy
    return out
