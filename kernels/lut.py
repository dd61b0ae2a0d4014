"""int8 activations through a 256-entry lookup table: logistic, tanh, hardswish.

An int8 -> int8 function has only 256 inputs, so the compiler evaluates it
once, in float64, and the kernel is one table read per element:

    table[q + 128] = clamp(round_half_away(f(s_in * (q - zp_in)) / s_out) + zp_out, -128, 127)

Each entry is the correctly rounded quantized value of f at that input, so
it is within half an output LSB of f before the clamp; no integer-only
approximation can do better. (TFLite's optimized int8 Logistic and Tanh use
the same kind of table; its int8 hard-swish uses a fixed-point formula.)
Output element i is written after input element i is read, so the kernel runs
in place. C twin: lut.c.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types

from . import _checks
from ._dispatch import check_backend, run_kernel
from .numerics import round_half_away_from_zero

LUT_FUNCTIONS = {
    "logistic": lambda r: 1.0 / (1.0 + np.exp(-r)),
    "tanh": np.tanh,
    "hardswish": lambda r: r * np.clip(r + 3.0, 0.0, 6.0) / 6.0,
}


def build_lut_s8(function: str, input_scale: float, input_zp: int, output_scale: float, output_zp: int) -> np.ndarray:
    """The 256-entry int8 table of ``function`` for the given quantization (compile time, float64)."""
    if function not in LUT_FUNCTIONS:
        raise ValueError(f"build_lut_s8: function must be one of {sorted(LUT_FUNCTIONS)}, got {function!r}")
    for name, s in (("input_scale", input_scale), ("output_scale", output_scale)):
        if not (s > 0 and math.isfinite(s)):
            raise ValueError(f"build_lut_s8: {name} must be finite and > 0, got {s!r}")
    q = np.arange(-128, 128, dtype=np.float64)
    with np.errstate(over="ignore"):
        real = LUT_FUNCTIONS[function](input_scale * (q - input_zp))
    rounded = round_half_away_from_zero(real / output_scale)
    return np.clip(rounded + output_zp, -128, 127).astype(np.int8)


@njit(types.void(types.int32, types.int8[::1], types.int8[::1], types.int8[::1]), cache=True, nogil=True)
def lut_s8(size, table, input, output):
    """output[i] = table[input[i] + 128]; trusts its caller (table has 256 entries)."""
    for i in range(size):
        output[i] = table[np.int32(input[i]) + 128]


def lut(input: np.ndarray, table: np.ndarray, *, backend: str = "numba") -> np.ndarray:
    """Apply a 256-entry int8 table (build_lut_s8) elementwise."""
    fn = "lut"
    check_backend(fn, backend)
    if not isinstance(input, np.ndarray):
        raise ValueError(f"{fn}: input must be a numpy array")
    x = _checks.array(fn, "input", input, np.int8, input.ndim)
    t = _checks.array(fn, "table", table, np.int8, 1)
    if t.shape[0] != 256:
        raise ValueError(f"{fn}: table must have 256 entries, got {t.shape[0]}")
    out = np.empty_like(x)
    run_kernel(backend, lut_s8, x.size, t, x.reshape(-1), out.reshape(-1))
    return out
