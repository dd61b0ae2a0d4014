"""Integer SVDF (int8 input and output, int16 state): TFLite Micro's EvalIntegerSvdfReference, one time step.

SVDF ("singular value decomposition filter", a rank-`rank` factorized 1-D convolution over time) keeps, for
each batch row b and each of its F = units * rank filters f, the last M (memory_size) feature values in a
persistent state. Real-valued formula of one step (one Invoke), with x_r the new input frame:

    state_r[b, f, 0 .. M-2] <- state_r[b, f, 1 .. M-1]                       (drop the oldest)
    state_r[b, f, M-1]      <- sum_k wf_r[f, k] * x_r[b, k]                   (the newest feature)
    y_r[b, u]               =  bias_r[u] + sum_{r < rank} sum_{j < M} wt_r[f, j] * state_r[b, f, j],
                                                                              f = u * rank + r

Tensors (TFLite's SVDF inputs 0-4; docs/RECURRENT.md §4 is the specification):
    input            int8  [B, I], zero point input_zp
    state            int16 [B, M * F], zero point 0, filter f of row b at [b, f * M : (f + 1) * M], oldest
                     first; TFLite's variable tensor, updated in place
    weights_feature  int8  [F, I], symmetric (zero point 0; any int8 value is computed exactly)
    weights_time     int16 [F, M], symmetric
    bias             int32 [U] at scale s_state * s_wt, or none
    output           int8  [B, U], zero point output_zp

In integers (§4.2), with MBQM = numerics.multiply_by_quantized_multiplier (TFLite's double rounding):

  1. Shift. The whole state buffer of B * F * M values moves one element toward index 0,
     state[k] = state[k + 1] for k < B F M - 1, exactly as TFLM does it. Within each filter's row this drops
     the oldest value; the last slot of each row now holds the next row's oldest value (or, for the very last
     slot, its old self), and step 2 overwrites every one of those slots.
  2. Feature matmul: d = sum_k wf[f, k] * (x[b, k] - input_zp), then
     state[b, f * M + M - 1] = clamp(MBQM(d, state_mult, state_shift), -32768, 32767).
     Bound: |wf| <= 128 and |x - input_zp| <= 255, so |d| <= 32640 I, every partial sum too; that is below
     2^31 exactly when I <= MAX_INPUT_SIZE = 65793 (32640 * 65793 = 2147483520 <= 2^31 - 1 <
     32640 * 65794), which the wrapper checks. So the C twin's int32 sums are exact, and so are TFLM's.
  3. Time matmul, rank reduction and bias:
     acc = wrap32(bias[u] + sum_{r < rank} sum_{j < M} wt[f, j] * state[b, f * M + j]),  f = u * rank + r,
     with 0 for a missing bias. Each product is exact in int32 (|wt * state| <= 2^15 * 2^15 = 2^30), but the
     sum is not bounded: M rank products of up to 2^30 plus a bias up to 2^31. TFLite and TFLM add them in
     int32 (the time dot products, then the rank sums, then the bias, in different orders), which wraps
     modulo 2^32 in their builds (signed overflow is undefined in C++; GCC and Clang emit wrapping adds;
     measured in LiteRT 2.3.0 and the tflite-micro wheel by tests/test_svdf.py).
     Addition modulo 2^32 is associative and commutative, so every order gives the exact sum modulo 2^32:
     that is what this kernel computes (Numba: the exact int64 sum, |.| <= M rank 2^30 + 2^31, narrowed by
     wrapping; C: uint32 sums, defined to wrap). Real models with full-range int16 time weights and a
     saturated state do reach it, so the wrapper does not refuse it.
  4. Output: y = clamp(MBQM(acc, output_mult, output_shift) + output_zp, -128, 127). No activation: TFLite
     requires the fused activation to be RELU for this op and never applies it, TFLM ignores the field
     (measured in both: outputs below output_zp occur with RELU set).

MBQM's left shift (an effective scale of 1 or more) saturates to int32 here, as everywhere in microflat.
The two differ only where TFLite's int32 `x * (1 << left_shift)` overflows, which is undefined in C++; there
this kernel gives the saturated state or output value (a saturated x times a Q31 multiplier of at least 1/2
is at least 2^30 in magnitude, and a positive shift has no right shift).

Multipliers (svdf_params, the Prepare): effective_scale_1 = s_in * s_wf / s_state and
effective_scale_2 = s_state * s_wt / s_out, formed in float32 (the tensors' float scales, left to right)
and only then widened to double for QuantizeMultiplier, as TFLite's source and LiteRT do; the tflite-micro
wheel measurably forms them in double (docs/RECURRENT.md §4.1 says float32 for both runtimes; it is right
for LiteRT only). The kernel is the same for both; precision="double" gives the wheel's multipliers.

Layout and cost: per row b, the input row is widened once into `scratch` as int16 (x - input_zp), then each
filter's feature value is one dot product of I terms, and each unit's output is rank contiguous dot products
of M terms over the filter rows of the state and weights_time. No int32 scratch is needed (TFLM keeps the F
time sums and the U outputs in two int32 scratch buffers; the sums are the same).

int8 state (TFLM only; LiteRT's int8 kernel casts the state to int16 unconditionally) is not implemented.
"""

from __future__ import annotations

import math

import numpy as np
from numba import types

from . import _checks
from ._dispatch import check_backend, run_kernel
from ._jit import kernel
from .numerics import INT32_MAX, SHIFT_MAX, SHIFT_MIN, quantize_multiplier, requantize

_i64 = types.int64
_i32 = types.int32

# The largest input size whose feature dot product cannot leave int32: |wf| <= 128, |x - input_zp| <= 255,
# 32640 * 65793 = 2147483520 <= 2^31 - 1 < 32640 * 65794.
MAX_INPUT_SIZE = (2**31 - 1) // (128 * 255)
# TFLM's Prepare: |s_bias - s_state * s_wt| < 1e-5 (in double, of the float32 product).
BIAS_SCALE_TOLERANCE = 1e-5


def svdf_s8_scratch_bytes(input_size: int) -> int:
    """Bytes of scratch svdf_s8 needs: one int16 input row (x - input_zp)."""
    return 2 * input_size


@kernel(
    types.void(
        types.int16[::1],  # scratch
        _i64, _i64, _i64, _i64,  # batches, input_size, units, memory_size
        _i64,  # rank
        _i32, _i32,  # input_zp, output_zp
        _i32, _i32, _i32, _i32,  # state_mult, state_shift, output_mult, output_shift
        types.int8[::1], types.int16[::1],  # input, state (read and written)
        types.int8[::1], types.int16[::1], types.int32[::1],  # weights_feature, weights_time, bias
        types.int8[::1],  # output
    )
)
def svdf_s8(
    scratch,
    batches, input_size, units, memory_size,
    rank,
    input_zp, output_zp,
    state_mult, state_shift, output_mult, output_shift,
    input, state, weights_feature, weights_time, bias, output,
):
    """One SVDF time step (the module docstring derives it). Trusts its caller; flat C-order buffers; bias
    empty means none; `state` is updated in place.

    Numba widens the products to int64: the feature sum is exact (< 2^31 by the input-size bound), and the
    time sum, |acc| <= M rank 2^30 + 2^31 < 2^63, is narrowed by np.int32, which wraps modulo 2^32 (LLVM's
    trunc): TFLM's int32 arithmetic."""
    filters = units * rank
    row_size = filters * memory_size
    # 1. The shift of the whole buffer, as TFLM's loop (ascending, so each value is read before it is
    # overwritten).
    for k in range(batches * row_size - 1):
        state[k] = state[k + 1]
    has_bias = bias.shape[0] > 0
    newest = memory_size - 1
    for b in range(batches):
        in_base = b * input_size
        for k in range(input_size):
            scratch[k] = np.int16(input[in_base + k] - input_zp)  # in [-255, 255]
        row = b * row_size
        # 2. The feature matmul into each filter's newest slot.
        for f in range(filters):
            w_base = f * input_size
            d = np.int64(0)
            for k in range(input_size):
                d += np.int64(scratch[k]) * np.int64(weights_feature[w_base + k])
            state[row + f * memory_size + newest] = np.int16(
                requantize(np.int32(d), state_mult, state_shift, np.int32(0), np.int32(-32768), np.int32(32767)))
        # 3. The time matmul, rank reduction and bias, 4. the output.
        for u in range(units):
            acc = np.int64(bias[u]) if has_bias else np.int64(0)
            for f in range(u * rank, (u + 1) * rank):
                s_base = row + f * memory_size
                t_base = f * memory_size
                for j in range(memory_size):
                    acc += np.int64(weights_time[t_base + j]) * np.int64(state[s_base + j])
            output[b * units + u] = np.int8(
                requantize(np.int32(acc), output_mult, output_shift, output_zp, np.int32(-128), np.int32(127)))


def _scale(fn: str, name: str, value) -> np.float32:
    """A tensor's float scale as TFLite stores it (float32), finite and > 0."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{fn}: {name} must be a real number, got {value!r}")
    s = np.float32(value)
    if not (math.isfinite(float(s)) and s > 0):
        raise ValueError(f"{fn}: {name} must be finite and > 0 as a float32, got {value!r}")
    return s


SCALE_PRECISIONS = ("float32", "double")


def svdf_params(input_scale: float, weights_feature_scale: float, state_scale: float, weights_time_scale: float,
                output_scale: float, bias_scale: float | None = None, *, precision: str = "float32") -> dict:
    """svdf_s8's multipliers from the five tensor scales (compile time), as the Prepare of TFLite's SVDF.

    effective_scale_1 = s_in * s_wf / s_state   (input x feature weights -> state)
    effective_scale_2 = s_state * s_wt / s_out  (state x time weights -> output)

    The scales are the tensors' float32 values. precision says how the two products are formed before
    QuantizeMultiplier (numerics.quantize_multiplier) takes them as doubles; the runtimes differ here:
      "float32": in float32, left to right (two roundings), then widened: TFLite's svdf.cc and the
        tflite-micro svdf_common.cc source (commit 1176f9be) as written; measured in LiteRT 2.3.0.
      "double": in double from the float32 scales: what the tflite-micro wheel (0.dev20261023182759)
        measurably computes, for both scales (tests/test_svdf.py).
    The two can give multipliers a hundred or more Q31 units apart, which moves a value lying near a
    rounding boundary by one. bias_scale, when given, is held to TFLM's check |s_bias - s_state * s_wt| <
    1e-5 (the product in the same precision, the difference in double).

    Returns dict(state_mult, state_shift, output_mult, output_shift).
    Raises ValueError naming the scale that is not finite and positive, the bias scale that fails the
    check, an unknown precision, or the effective scale QuantizeMultiplier cannot encode (shift above 30).
    """
    fn = "svdf_params"
    if precision not in SCALE_PRECISIONS:
        raise ValueError(f"{fn}: precision must be one of {SCALE_PRECISIONS}, got {precision!r}")
    s_in = _scale(fn, "input_scale", input_scale)
    s_wf = _scale(fn, "weights_feature_scale", weights_feature_scale)
    s_state = _scale(fn, "state_scale", state_scale)
    s_wt = _scale(fn, "weights_time_scale", weights_time_scale)
    s_out = _scale(fn, "output_scale", output_scale)
    with np.errstate(over="ignore"):  # an infinite product is refused by quantize_multiplier, by name below
        if precision == "float32":
            state_time = float(np.float32(s_state * s_wt))
            effective = {"state": float(np.float32(np.float32(s_in * s_wf) / s_state)),
                         "output": float(np.float32(np.float32(s_state * s_wt) / s_out))}
        else:
            state_time = float(s_state) * float(s_wt)
            effective = {"state": float(s_in) * float(s_wf) / float(s_state),
                         "output": float(s_state) * float(s_wt) / float(s_out)}
    if bias_scale is not None:
        s_bias = _scale(fn, "bias_scale", bias_scale)
        if not abs(float(s_bias) - state_time) < BIAS_SCALE_TOLERANCE:
            raise ValueError(f"{fn}: bias_scale {float(s_bias)!r} must be within {BIAS_SCALE_TOLERANCE} of "
                             f"state_scale * weights_time_scale = {state_time!r}")
    params = {}
    for name, real in effective.items():
        try:
            params[f"{name}_mult"], params[f"{name}_shift"] = quantize_multiplier(real)
        except ValueError as exc:
            which = "effective_scale_1 (input_scale * weights_feature_scale / state_scale)" if name == "state" \
                else "effective_scale_2 (state_scale * weights_time_scale / output_scale)"
            raise ValueError(f"{fn}: {which}: {exc}") from None
    return params


def svdf(
    input: np.ndarray,
    state: np.ndarray,
    weights_feature: np.ndarray,
    weights_time: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    rank: int,
    input_zp: int,
    output_zp: int,
    state_mult: int,
    state_shift: int,
    output_mult: int,
    output_shift: int,
    backend: str = "numba",
) -> tuple[np.ndarray, np.ndarray]:
    """One step of TFLite's integer SVDF (int8 input, int16 state), bit-exact with TFLM's reference kernel.

    Args:
      input: int8 [B, I], I <= MAX_INPUT_SIZE (65793: the feature sum's int32 bound).
      state: int16 [B, M * F], zero point 0: the state before this step. Not modified (the kernel updates
        a copy in place; a runtime passes its variable).
      weights_feature: int8 [F, I], F = units * rank.
      weights_time: int16 [F, M].
      bias: int32 [units] or None.
      rank: the SVDF rank, >= 1, dividing F.
      input_zp, output_zp: zero points in [-128, 127].
      state_mult, state_shift, output_mult, output_shift: Q31 multipliers in [0, 2^31 - 1] and shifts in
        [-31, 30] of effective_scale_1 and effective_scale_2 (svdf_params).
      backend: "numba" or "c".

    Returns:
      (output int8 [B, units], the new state int16 [B, M * F]).

    Raises:
      ValueError naming the argument for any dtype, shape or range violation.
    """
    fn = "svdf"
    check_backend(fn, backend)
    x = _checks.array(fn, "input", input, np.int8, 2)
    s = _checks.array(fn, "state", state, np.int16, 2)
    wf = _checks.array(fn, "weights_feature", weights_feature, np.int8, 2)
    wt = _checks.array(fn, "weights_time", weights_time, np.int16, 2)
    for name, a in (("input", x), ("state", s), ("weights_feature", wf), ("weights_time", wt)):
        if min(a.shape) < 1:
            raise ValueError(f"{fn}: {name} {a.shape} must have no empty dimension")
    batches, input_size = x.shape
    filters, memory_size = wt.shape
    if input_size > MAX_INPUT_SIZE:
        raise ValueError(f"{fn}: input has {input_size} features, more than {MAX_INPUT_SIZE}: the int32 feature "
                         f"sum of up to 128 * 255 * I must stay below 2^31")
    if wf.shape != (filters, input_size):
        raise ValueError(f"{fn}: weights_feature must have shape (F, I) = ({filters}, {input_size}) (F from "
                         f"weights_time {wt.shape}, I from input {x.shape}), got {wf.shape}")
    if s.shape != (batches, memory_size * filters):
        raise ValueError(f"{fn}: state must have shape (B, M * F) = ({batches}, {memory_size * filters}), got "
                         f"{s.shape}")
    r = _checks.integer(fn, "rank", rank, 1, filters)
    if filters % r:
        raise ValueError(f"{fn}: rank {r} must divide the number of filters F = {filters}")
    units = filters // r
    b = _checks.bias_values(fn, bias, units)
    in_zp = _checks.integer(fn, "input_zp", input_zp, _checks.INT8_MIN, _checks.INT8_MAX)
    out_zp = _checks.integer(fn, "output_zp", output_zp, _checks.INT8_MIN, _checks.INT8_MAX)
    s_mult = _checks.integer(fn, "state_mult", state_mult, 0, INT32_MAX)
    s_shift = _checks.integer(fn, "state_shift", state_shift, SHIFT_MIN, SHIFT_MAX)
    o_mult = _checks.integer(fn, "output_mult", output_mult, 0, INT32_MAX)
    o_shift = _checks.integer(fn, "output_shift", output_shift, SHIFT_MIN, SHIFT_MAX)

    new_state = s.copy()
    out = np.empty((batches, units), dtype=np.int8)
    run_kernel(backend, svdf_s8, scratch=np.empty(svdf_s8_scratch_bytes(input_size) // 2, dtype=np.int16),
               batches=batches, input_size=input_size, units=units, memory_size=memory_size, rank=r,
               input_zp=in_zp, output_zp=out_zp, state_mult=s_mult, state_shift=s_shift, output_mult=o_mult,
               output_shift=o_shift, input=x.reshape(-1), state=new_state.reshape(-1),
               weights_feature=wf.reshape(-1), weights_time=wt.reshape(-1), bias=b, output=out.reshape(-1))
    return out, new_state
