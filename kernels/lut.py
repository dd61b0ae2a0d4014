"""int8 activations through a 256-entry lookup table: logistic, tanh, hardswish, GELU, SiLU, hardsigmoid,
leaky ReLU (and single-parameter PReLU), ELU, Mish, and ReLU / ReLU6 / clamps that no producer absorbed.

An int8 -> int8 function has only 256 inputs, so the compiler evaluates it
once, in float64, and the kernel is one table read per element:

    table[q + 128] = clamp(round_half_away(f(s_in * (q - zp_in)) / s_out) + zp_out, -128, 127)

Each entry is the correctly rounded quantized value of f at that input, so
it is within half an output LSB of f before the clamp; no integer-only
approximation can do better. (TFLite's int8 Logistic, Tanh, GELU and ELU
use the same kind of table, built in float32; its int8 hard-swish and leaky
ReLU use fixed-point formulas, which round at least as coarsely.) Output
element i is written after input element i is read, so the kernel runs in
place. C twin: lut.c.

LUT_FUNCTIONS is the one float definition of each table activation: the
compiler builds tables from it and simulates the float and fake-quantized
model with it. A function takes the real input array (float64) and its
parameters by keyword (LUT_PARAMETERS names them and their defaults).
"""

from __future__ import annotations

import math

import numpy as np
from numba import types

from . import _checks
from ._dispatch import check_backend, run_kernel
from ._jit import kernel
from .numerics import round_half_away_from_zero

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _softplus(r):
    return np.logaddexp(0.0, r)  # log(1 + e^r) without overflow


LUT_FUNCTIONS = {
    "logistic": lambda r: 1.0 / (1.0 + np.exp(-r)),
    "tanh": np.tanh,
    "hardswish": lambda r: r * np.clip(r + 3.0, 0.0, 6.0) / 6.0,
    # PyTorch's GELU: x * Phi(x) (erf form), or its tanh approximation (approximate="tanh")
    "gelu": lambda r: 0.5 * r * (1.0 + _erf(r / math.sqrt(2.0))),
    "gelu_tanh": lambda r: 0.5 * r * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (r + 0.044715 * r**3))),
    "silu": lambda r: r / (1.0 + np.exp(-r)),
    "hardsigmoid": lambda r: np.clip(r / 6.0 + 0.5, 0.0, 1.0),
    "leaky_relu": lambda r, alpha: np.where(r >= 0, r, alpha * r),
    "elu": lambda r, alpha: np.where(r > 0, r, alpha * np.expm1(np.minimum(r, 0.0))),
    "mish": lambda r: r * np.tanh(_softplus(r)),
    "clamp": lambda r, lo, hi: np.clip(r, lo, hi),
    "rsqrt": lambda r, eps: 1.0 / np.sqrt(np.maximum(r, 0.0) + eps),  # LayerNorm's 1 / sqrt(var + eps)
}
LUT_PARAMETERS = {"leaky_relu": {"alpha": 0.01}, "elu": {"alpha": 1.0}, "clamp": {"lo": -math.inf, "hi": math.inf},
                  "rsqrt": {"eps": 1e-5}}


def lut_function(function: str, **params):
    """f(real float64 array) of a table activation, its parameters bound (defaults from LUT_PARAMETERS)."""
    if function not in LUT_FUNCTIONS:
        raise ValueError(f"lut_function: function must be one of {sorted(LUT_FUNCTIONS)}, got {function!r}")
    defaults = LUT_PARAMETERS.get(function, {})
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(f"lut_function: {function} takes no parameter(s) {unknown}")
    bound = {**defaults, **params}
    f = LUT_FUNCTIONS[function]
    return lambda r: f(np.asarray(r, np.float64), **bound)


def build_lut_s8(function: str, input_scale: float, input_zp: int, output_scale: float, output_zp: int,
                 **params) -> np.ndarray:
    """The 256-entry int8 table of ``function`` for the given quantization (compile time, float64)."""
    f = lut_function(function, **params)
    for name, s in (("input_scale", input_scale), ("output_scale", output_scale)):
        if not (s > 0 and math.isfinite(s)):
            raise ValueError(f"build_lut_s8: {name} must be finite and > 0, got {s!r}")
    q = np.arange(-128, 128, dtype=np.float64)
    with np.errstate(over="ignore"):
        real = f(input_scale * (q - input_zp))
    rounded = round_half_away_from_zero(real / output_scale)
    return np.clip(rounded + output_zp, -128, 127).astype(np.int8)


@kernel(types.void(types.int32, types.int8[::1], types.int8[::1], types.int8[::1]))
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
    run_kernel(backend, lut_s8, size=x.size, table=t, input=x.reshape(-1), output=out.reshape(-1))
    return out
