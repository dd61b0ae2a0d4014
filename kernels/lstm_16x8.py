"""TensorFlow Lite Micro's integer UNIDIRECTIONAL_SEQUENCE_LSTM, 16x8 form, bit for bit: int16 input, output and
hidden state (zero point 0), int8 symmetric weights, int64 gate biases, int16 cell state at a power-of-two scale 2^p.
TFLM evaluates it with its general LSTM (micro/kernels/lstm_eval.h: LstmStep on EvalLstm<int16_t, int8_t, int16_t,
int64_t>), built from its reference kernels: the int16 FullyConnected with an int64 accumulator, the int16 LUT
Logistic and Tanh (activations_s16.py), MulElementwise and a saturating int16 add. This module implements its
no-peephole, no-projection, no-layer-norm, non-CIFG form with a tanh cell gate (what torch.nn.LSTM lowers to). The
8x8_16 form, which uses gemmlowp's fixed-point sigmoid and tanh instead, is lstm.py. C twin: lstm_16x8.c.

Real-valued formula, per time step t (x_t the input, h and c the states, gate order i, f, c, o):

    i = sigmoid(W_xi x_t + W_hi h + b_i)     f = sigmoid(W_xf x_t + W_hf h + b_f)
    g = tanh(W_xc x_t + W_hc h + b_c)        o = sigmoid(W_xo x_t + W_ho h + b_o)
    c = clip(f c + i g)                      h = o tanh(c)        y_t = h

Quantization (the tensors TFLM reads): x int16 (s_x, 0); weights int8, symmetric, one scale per gate matrix; biases
int64 at s_x s_w(input-to-G); h int16 (s_h, 0), and the output sequence has h's quantization; c int16 at 2^p, zero
point 0; every gate's pre-activation int16 at 2^-12 (Q3.12, fixed in TFLM's PrepareGateParametersInteger), every
gate's activation int16 at 2^-15 (Q0.15, the LUT functions' output).

Prepare (lstm_16x8_params; TFLM's CreateGateParams, CreateInterGateMulParams, CreateLstmCellStateInfo):
  gate G's input-to-G and recurrent-to-G multipliers: (double(s_x) double(s_w)) / double(2^-12), resp. with s_h,
    through numerics.quantize_multiplier (TFLM's QuantizeMultiplier). In double: the tflite-micro wheel's result
    (tests/test_lstm_16x8.py holds a case where the float32 product would give another Q15 multiplier);
  forget-times-cell: 2^-15 s_c / s_c = 2^-15 exactly: (2^30, -14);
  input-times-cell-gate: 2^-30 / s_c = 2^(-30 - p): (2^30, -29 - p);
  hidden: 2^-30 / double(s_h);
  p = CheckedLog2(s_c) (lstm.checked_log2); quantized clip = int16(trunc(min(max(clip / s_c, -32768), 32767))) in
    double.

Integer arithmetic per cell r (RQ64 = numerics.requantize_int64 to [-32768, 32767], MBQM =
numerics.multiply_by_quantized_multiplier, TFLM's double-rounding int32 form, the wheel's (a test holds a sequence
where single rounding differs); sat16 the int16 clamp):
  gate G: a = RQ64(bias_G[r] + sum_k x[k] W_x,G[r, k], mult_x,G, shift_x,G)        input FC (int64 accumulator)
          b = RQ64(sum_k h[k] W_h,G[r, k], mult_h,G, shift_h,G)                     recurrent FC, no bias
          pre = sat16(a + b)                                                        TFLM's AddElementWise
          i, f, o = logistic_s16_element(pre, 0, 0); g = tanh_s16_element(pre, 0, 0)   Q3.12 in, Q0.15 out
  cell:   c = sat16(sat16(MBQM(f c, forget_mult, forget_shift)) + sat16(MBQM(i g, input_mult, input_shift))),
          then clamp(c, -cell_clip, cell_clip) when cell_clip > 0
  hidden: k = (15 + p) - 3; tanh input scaling (0, k) when k >= 0 (the LUT's power-of-two path: multiplier 3 << k),
          else (3, -k) (TFLM's "negative shift" case: (3 c + 2^(-k-1)) >> -k);
          h = sat16(MBQM(tanh_s16_element(c, M, k') o, hidden_mult, hidden_shift))
  Each step's h is the output row y_t and the next step's recurrent input.

Bounds (the contract of the kernels, checked by lstm_16x8_params and the wrapper; the C twin's arithmetic is exact
under them, gemmlowp style):
  - |x|, |h| <= 2^15 and |w| <= 127. The input FC's int64 accumulator, and every partial sum of it, is at most
    |bias| + 2^15 sum_k |w| (the recurrent one 2^15 sum_k |w|), required <= 2^47 - 1 (numerics.
    accumulator_overflow with the 16x8 limits: multiply_by_quantized_multiplier_int64's domain), gate shifts in
    [-31, 7]. Each product x w is below 2^22 in magnitude: int32 in C, summed in int64. The int64 rescaling's
    result can exceed int32 for a large multiplier; TFLM narrows it by a static_cast that wraps, and so do both
    kernels (numerics.py); the value is then clamped to int16.
  - a + b: two int16 values, exact in int32.
  - logistic in [0, 32767], tanh in [-32767, 32767] (activations_s16.py). So |f c| <= 32767 * 32768 < 2^30 and
    |i g|, |o tanh(c)| <= 32767^2 < 2^30: int32. forget_shift, input_shift and hidden_shift are at most 0 (refused
    otherwise), so MBQM does no left shift (TFLM's `x * (1 << left_shift)` would overflow for large ones), and its
    result is below 2^30 in magnitude: its int16 clamp is exact. input_shift = -29 - p <= 0 and >= -31 gives
    p in [-29, 2] (CELL_EXPONENT_MIN, CELL_EXPONENT_MAX).
  - tanh of the cell: p <= 2 keeps k <= 14, the LUT's power-of-two bound (3 << 14 times 2^15 < 2^31); p >= -29
    keeps -k <= 17 <= 31.

Layout (batch 1, time-major; every array flat and C-ordered): input [T, I] int16; input_weights [4, C, I] and
recurrent_weights [4, C, C] int8, gate order i, f, c, o (PyTorch's weight_ih_l0 and weight_hh_l0 reshaped); bias
[4, C] int64 (PyTorch's b_ih + b_hh, quantized at s_x s_w); gate_mult / gate_shift [8]: input-to-i, f, c, o, then
recurrent-to-i, f, c, o; hidden_state [C] and cell_state [C] int16, read and updated in place; output [T, C] int16.

Order of evaluation: TFLM evaluates each gate for all cells (f, i, g), the cell update, then o and the hidden
product. Without peephole and layer norm every cell reads only its own gates, the old h and x_t, so the kernels go
cell by cell, writing each new h value into the output row and copying the row to hidden_state when the step ends:
the same values, and no scratch.

Deviations: none in the arithmetic. Refused (ValueError) where TFLM would run: a zero point other than 0 on x or h
(TFLM's int16 FullyConnected ignores it), a cell scale that is not a power of two (TFLM uses its rounded log2) or
whose p is outside [-29, 2], a hidden scale at or below 2^-30 (positive hidden shift), a cell clip below one cell
step (TFLM would clip every cell to 0), int8 weights holding -128, and layers over the accumulator bound.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import types

from . import _checks
from ._dispatch import check_backend, run_kernel
from ._jit import kernel
from .activations_s16 import logistic_s16_element, tanh_s16_element
from .lstm import GATES, _float32_scale, _gate_scales, checked_log2, gate_multipliers, gate_weights
from .numerics import (INT32_MAX, MAX_S16_INPUT, S16_ACCUMULATOR_MAX, S16_SHIFT_MAX, SHIFT_MIN, accumulator_overflow,
                       multiply_by_quantized_multiplier, quantize_multiplier, requantize_int64)

_i32 = types.int32
_i64 = types.int64

INT16_MIN, INT16_MAX = -(2**15), 2**15 - 1
GATE_SCALE = 2.0**-12  # Q3.12: every gate's pre-activation (TFLM's nonlinear_input_scale)
ACTIVATION_SCALE = 2.0**-15  # Q0.15: every gate's activation (TFLM's nonlinear_output_scale)
# the cell's scale exponent p: input_shift = -29 - p in [-31, 0], and the cell tanh's LUT shift 12 + p <= 14
CELL_EXPONENT_MIN, CELL_EXPONENT_MAX = -29, 2
TANH_CELL_SHIFT_OFFSET = 15 - 3  # TFLM: tanh_input_left_shift = (15 + p) - 3
MUL_SHIFT_MAX = 0  # the three elementwise products' shifts: no left shift inside MBQM


@kernel(_i32(_i64, _i64, _i64, _i64, types.int32[::1], types.int8[::1], types.int16[::1], _i64,
             types.int8[::1], types.int8[::1], types.int64[::1], types.int16[::1]))
def lstm_16x8_gate(gate, cell, input_size, cell_size, gate_mult, gate_shift, input, input_base, input_weights,
                   recurrent_weights, bias, hidden_state):
    """Gate `gate`'s (0..3: i, f, c, o) Q3.12 pre-activation of one cell: TFLM's input FC and recurrent FC (int64
    accumulators, requantize_int64 to int16) and their saturating int16 sum (module docstring)."""
    row = gate * cell_size + cell
    acc = bias[row]
    base = row * input_size
    for k in range(input_size):
        acc += np.int64(np.int32(input[input_base + k]) * np.int32(input_weights[base + k]))
    from_input = requantize_int64(acc, gate_mult[gate], np.int32(gate_shift[gate]), np.int32(INT16_MIN),
                                  np.int32(INT16_MAX))
    acc = np.int64(0)
    base = row * cell_size
    for k in range(cell_size):
        acc += np.int64(np.int32(hidden_state[k]) * np.int32(recurrent_weights[base + k]))
    from_state = requantize_int64(acc, gate_mult[4 + gate], np.int32(gate_shift[4 + gate]), np.int32(INT16_MIN),
                                  np.int32(INT16_MAX))
    s = from_input + from_state  # two int16 values
    return np.int32(min(max(s, INT16_MIN), INT16_MAX))


@kernel(
    types.void(
        _i64, _i64, _i64,  # steps, input_size, cell_size
        types.int32[::1], types.int8[::1],  # gate_mult, gate_shift: 8 each
        _i32, _i32,  # forget_mult, forget_shift: f * c -> c
        _i32, _i32,  # input_mult, input_shift: i * g -> c
        _i32, _i32,  # hidden_mult, hidden_shift: o * tanh(c) -> h
        _i32, _i32,  # cell_exponent, cell_clip
        types.int16[::1],  # input [T, I]
        types.int8[::1], types.int8[::1],  # input_weights [4, C, I], recurrent_weights [4, C, C]
        types.int64[::1],  # bias [4, C]
        types.int16[::1], types.int16[::1],  # hidden_state [C], cell_state [C]: read and updated
        types.int16[::1],  # output [T, C]
    )
)
def lstm_16x8(
    steps, input_size, cell_size,
    gate_mult, gate_shift,
    forget_mult, forget_shift, input_mult, input_shift, hidden_mult, hidden_shift,
    cell_exponent, cell_clip,
    input, input_weights, recurrent_weights, bias,
    hidden_state, cell_state, output,
):
    """The jitted kernel (the module docstring derives it and states the layout). Trusts its caller: the module's
    bounds (cell_exponent in [-29, 2], cell_clip in [0, 32767] with 0 for none, the three product shifts <= 0, gate
    shifts in [-31, 7], the accumulator bound). Runs `steps` time steps, updating hidden_state and cell_state."""
    tanh_shift = np.int32(TANH_CELL_SHIFT_OFFSET + cell_exponent)
    tanh_mult = np.int32(0)  # the LUT's power-of-two path: multiplier 3 << tanh_shift
    if tanh_shift < 0:  # TFLM's negative shift: multiplier 3, right shift -tanh_shift
        tanh_mult = np.int32(3)
        tanh_shift = -tanh_shift
    for t in range(steps):
        input_base = t * input_size
        out_base = t * cell_size
        for r in range(cell_size):
            forget_gate = logistic_s16_element(lstm_16x8_gate(
                1, r, input_size, cell_size, gate_mult, gate_shift, input, input_base, input_weights,
                recurrent_weights, bias, hidden_state), np.int32(0), np.int32(0))
            input_gate = logistic_s16_element(lstm_16x8_gate(
                0, r, input_size, cell_size, gate_mult, gate_shift, input, input_base, input_weights,
                recurrent_weights, bias, hidden_state), np.int32(0), np.int32(0))
            cell_gate = tanh_s16_element(lstm_16x8_gate(
                2, r, input_size, cell_size, gate_mult, gate_shift, input, input_base, input_weights,
                recurrent_weights, bias, hidden_state), np.int32(0), np.int32(0))
            # f in [0, 32767], c in int16: |f c| < 2^30; i in [0, 32767], g in [-32767, 32767]: |i g| < 2^30
            kept = multiply_by_quantized_multiplier(np.int32(forget_gate * np.int32(cell_state[r])), forget_mult,
                                                    forget_shift)
            added = multiply_by_quantized_multiplier(np.int32(input_gate * cell_gate), input_mult, input_shift)
            c = min(max(min(max(kept, INT16_MIN), INT16_MAX) + min(max(added, INT16_MIN), INT16_MAX), INT16_MIN),
                    INT16_MAX)
            if cell_clip > 0:
                c = min(max(c, -cell_clip), cell_clip)
            cell_state[r] = np.int16(c)
            output_gate = logistic_s16_element(lstm_16x8_gate(
                3, r, input_size, cell_size, gate_mult, gate_shift, input, input_base, input_weights,
                recurrent_weights, bias, hidden_state), np.int32(0), np.int32(0))
            # o in [0, 32767], tanh in [-32767, 32767]: |o tanh(c)| < 2^30; hidden_shift <= 0: no left shift
            product = np.int32(tanh_s16_element(np.int32(c), tanh_mult, tanh_shift) * output_gate)
            h = multiply_by_quantized_multiplier(product, hidden_mult, hidden_shift)
            output[out_base + r] = np.int16(min(max(h, INT16_MIN), INT16_MAX))
        for r in range(cell_size):  # the new h, the next step's recurrent input
            hidden_state[r] = output[out_base + r]


# ---------------------------------------------------------------------------------------------------------------
# Prepare: float scales -> integer parameters (TFLM's PrepareGateParametersInteger and CreateLstmCellStateInfo)
# ---------------------------------------------------------------------------------------------------------------


class Lstm16x8Params(NamedTuple):
    """Everything lstm_16x8 takes besides the sequence and the states: lstm_16x8_params computes it.

    input_weights int8 [4, C, I], recurrent_weights int8 [4, C, C] (gate order i, f, c, o); bias int64 [4, C] (the
    input FCs'; the recurrent FCs have none); gate_mult int32 [8] and gate_shift int8 [8]: input-to-i, f, c, o, then
    recurrent-to-i, f, c, o; forget_mult / forget_shift (f c -> c), input_mult / input_shift (i g -> c),
    hidden_mult / hidden_shift (o tanh(c) -> h); cell_exponent p (cell scale 2^p); cell_clip (quantized, 0:
    none)."""

    input_weights: np.ndarray
    recurrent_weights: np.ndarray
    bias: np.ndarray
    gate_mult: np.ndarray
    gate_shift: np.ndarray
    forget_mult: int
    forget_shift: int
    input_mult: int
    input_shift: int
    hidden_mult: int
    hidden_shift: int
    cell_exponent: int
    cell_clip: int


def _multiplier(fn: str, name: str, real: float, shift_max: int) -> tuple[int, int]:
    try:
        mult, shift = quantize_multiplier(real)
    except ValueError as exc:
        raise ValueError(f"{fn}: the effective scale of {name}, {real!r}, cannot be encoded ({exc})") from exc
    if shift > shift_max:
        raise ValueError(f"{fn}: the effective scale of {name}, {real!r}, needs shift {shift}, above {shift_max}")
    return mult, shift


def lstm_16x8_params(
    input_weights: np.ndarray,
    recurrent_weights: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    input_scale: float,
    input_weight_scales,
    recurrent_weight_scales,
    state_scale: float,
    cell_scale: float,
    cell_clip: float = 0.0,
) -> Lstm16x8Params:
    """The integer parameters of a 16x8 LSTM from its float scales, exactly as TFLM's Prepare computes them (module
    docstring). Zero points are 0 throughout (int16 activations and int8 weights are symmetric).

    Args:
      input_weights: int8 [4, C, I], recurrent_weights: int8 [4, C, C], symmetric, gate order i, f, c, o.
      bias: int64 [4, C] at input_scale * input_weight_scales[G] (PyTorch: b_ih + b_hh), or None (zeros).
      input_scale: the int16 input x's scale.
      input_weight_scales, recurrent_weight_scales: one per-tensor scale per gate (4), or one for all.
      state_scale: the int16 hidden state h's scale (and the output sequence's).
      cell_scale: the int16 cell state's scale, a power of two 2^p with p in [-29, 2] (TFLite's CheckedLog2:
        within 1e-3 in the exponent).
      cell_clip: the real cell clip (0: none).

    Every scale is first rounded to float32, as a .tflite stores it, then widened to double for the products.

    Raises:
      ValueError naming the argument, as lstm_int16 does, and for a layer over the accumulator bound.
    """
    fn = "lstm_16x8_params"
    wx, wh = gate_weights(fn, input_weights, recurrent_weights, prefix="")
    cells = wx.shape[1]
    b = np.zeros((4, cells), np.int64) if bias is None else _checks.array(fn, "bias", bias, np.int64, 2)
    if b.shape != (4, cells):
        raise ValueError(f"{fn}: bias must be [4, C] = {(4, cells)}, got shape {b.shape}")
    s_x = float(_float32_scale(fn, "input_scale", input_scale))
    s_h = float(_float32_scale(fn, "state_scale", state_scale))
    s_c32 = _float32_scale(fn, "cell_scale", cell_scale)
    s_c = float(s_c32)
    sw_x = [float(s) for s in _gate_scales(fn, "input_weight_scales", input_weight_scales)]
    sw_h = [float(s) for s in _gate_scales(fn, "recurrent_weight_scales", recurrent_weight_scales)]

    p, is_pot = checked_log2(s_c32)
    if not is_pot:
        raise ValueError(f"{fn}: cell_scale must be a power of two, got {s_c!r}")
    if not CELL_EXPONENT_MIN <= p <= CELL_EXPONENT_MAX:
        raise ValueError(f"{fn}: cell_scale must be 2^p with p in [{CELL_EXPONENT_MIN}, {CELL_EXPONENT_MAX}], "
                         f"got 2^{p}")
    if isinstance(cell_clip, (bool, np.bool_)) or not isinstance(cell_clip, (int, float, np.integer, np.floating)):
        raise ValueError(f"{fn}: cell_clip must be a number, got {cell_clip!r}")
    clip = float(np.float32(cell_clip))  # LstmOptions' float32, widened as TFLM does
    if not (math.isfinite(clip) and clip >= 0):
        raise ValueError(f"{fn}: cell_clip must be finite and >= 0 (0: no clip), got {cell_clip!r}")
    quantized_clip = int(min(max(clip / s_c, float(INT16_MIN)), float(INT16_MAX))) if clip > 0 else 0
    if clip > 0 and quantized_clip == 0:
        raise ValueError(f"{fn}: cell_clip {clip!r} is below one step of the cell state ({s_c!r}); TFLM would clip "
                         f"every cell to 0")

    pairs = [_multiplier(fn, f"input-to-{g}", s_x * sw_x[k] / GATE_SCALE, S16_SHIFT_MAX) for k, g in enumerate(GATES)]
    pairs += [_multiplier(fn, f"recurrent-to-{g}", s_h * sw_h[k] / GATE_SCALE, S16_SHIFT_MAX)
              for k, g in enumerate(GATES)]
    forget = _multiplier(fn, "forget gate times cell", ACTIVATION_SCALE * s_c / s_c, MUL_SHIFT_MAX)
    added = _multiplier(fn, "input gate times cell gate", ACTIVATION_SCALE * ACTIVATION_SCALE / s_c, MUL_SHIFT_MAX)
    hidden = _multiplier(fn, "the hidden product (state_scale too small)", ACTIVATION_SCALE * ACTIVATION_SCALE / s_h,
                         MUL_SHIFT_MAX)
    params = Lstm16x8Params(
        input_weights=wx, recurrent_weights=wh, bias=b,
        gate_mult=np.array([m for m, _ in pairs], np.int32), gate_shift=np.array([s for _, s in pairs], np.int8),
        forget_mult=forget[0], forget_shift=forget[1], input_mult=added[0], input_shift=added[1],
        hidden_mult=hidden[0], hidden_shift=hidden[1], cell_exponent=p, cell_clip=quantized_clip)
    return _check_params(fn, params)


def cell_product_multipliers(cell_exponent: int) -> tuple[int, int, int, int]:
    """(forget_mult, forget_shift, input_mult, input_shift) at cell scale 2^p: QuantizeMultiplier of 2^-15 and of
    2^(-30 - p), exact powers of two, so (2^30, -14) and (2^30, -29 - p); what lstm_16x8_params computes from the
    scales. The loaders derive them so, from LstmOptions' cell_exponent."""
    return 2**30, -14, 2**30, -29 - int(cell_exponent)


def gate_accumulator_overflow(input_weights, recurrent_weights, bias):
    """The accumulator rule (module docstring) of the 8 gate FCs: None when every row's |bias| + 2^15 sum|w|
    (recurrent: no bias) is at most 2^47 - 1, else (side, gate, cell, bound) of the worst row ("input" or
    "recurrent"). Weights [4, C, K], bias [4, C]."""
    cells = np.asarray(input_weights).shape[1]
    for side, w, b in (("input", input_weights, bias), ("recurrent", recurrent_weights, None)):
        sums = np.abs(np.asarray(w, np.int64)).sum(axis=2).reshape(-1)
        worst = accumulator_overflow(sums, None if b is None else np.asarray(b).reshape(-1), MAX_S16_INPUT,
                                     S16_ACCUMULATOR_MAX)
        if worst is not None:
            return side, worst[0] // cells, worst[0] % cells, worst[1]
    return None


def _check_params(fn: str, params) -> Lstm16x8Params:
    """Every field of a Lstm16x8Params within what lstm_16x8 takes (module docstring), as contiguous arrays."""
    if not isinstance(params, Lstm16x8Params):
        raise ValueError(f"{fn}: params must be an Lstm16x8Params (lstm_16x8_params), got {type(params).__name__}")
    wx, wh = gate_weights(fn, params.input_weights, params.recurrent_weights)
    cells = wx.shape[1]
    b = _checks.array(fn, "params.bias", params.bias, np.int64, 2)
    if b.shape != (4, cells):
        raise ValueError(f"{fn}: params.bias must be [4, C] = {(4, cells)}, got shape {b.shape}")
    mult, shift = gate_multipliers(fn, params.gate_mult, params.gate_shift, S16_SHIFT_MAX)
    for name in ("forget", "input", "hidden"):
        _checks.integer(fn, f"params.{name}_mult", getattr(params, f"{name}_mult"), 0, INT32_MAX)
        _checks.integer(fn, f"params.{name}_shift", getattr(params, f"{name}_shift"), SHIFT_MIN, MUL_SHIFT_MAX)
    _checks.integer(fn, "params.cell_exponent", params.cell_exponent, CELL_EXPONENT_MIN, CELL_EXPONENT_MAX)
    _checks.integer(fn, "params.cell_clip", params.cell_clip, 0, INT16_MAX)
    worst = gate_accumulator_overflow(wx, wh, b)
    if worst is not None:
        side, g, r, bound = worst
        raise ValueError(f"{fn}: the {side}-to-{GATES[g]} accumulator of cell {r} could reach {bound} "
                         f"(|bias| + 2^15 * sum|w|), above 2^47 - 1")
    return params._replace(input_weights=wx, recurrent_weights=wh, bias=b, gate_mult=mult, gate_shift=shift)


def lstm_int16(
    input: np.ndarray,
    params: Lstm16x8Params,
    hidden_state: np.ndarray | None = None,
    cell_state: np.ndarray | None = None,
    *,
    backend: str = "numba",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TFLM's integer UNIDIRECTIONAL_SEQUENCE_LSTM in its 16x8 form (no peephole, projection, layer norm or CIFG) on
    one sequence, bit-exact with the tflite-micro reference kernels.

    Args:
      input: int16 [T, I], time-major, batch 1.
      params: Lstm16x8Params from lstm_16x8_params.
      hidden_state: int16 [C], the h to start from; None: zeros (TFLM's reset).
      cell_state: int16 [C], the c to start from; None: zeros. Neither argument is modified.
      backend: "numba" or "c".

    Returns:
      (output int16 [T, C], the final hidden_state int16 [C], the final cell_state int16 [C]). Passing the final
      states to the next call continues the sequence, as a second Invoke of a TFLM interpreter does.

    Raises:
      ValueError naming the argument, for any shape, dtype or range violation (module docstring).
    """
    fn = "lstm_int16"
    check_backend(fn, backend)
    p = _check_params(fn, params)
    x = _checks.array(fn, "input", input, np.int16, 2)
    cells, input_size = p.input_weights.shape[1], p.input_weights.shape[2]
    if x.shape[0] < 1 or x.shape[1] != input_size:
        raise ValueError(f"{fn}: input must be [T, I] with T >= 1 and I = {input_size}, got shape {x.shape}")
    h = np.zeros(cells, np.int16) if hidden_state is None else _checks.array(fn, "hidden_state", hidden_state,
                                                                               np.int16, 1).copy()
    c = np.zeros(cells, np.int16) if cell_state is None else _checks.array(fn, "cell_state", cell_state,
                                                                             np.int16, 1).copy()
    for name, v in (("hidden_state", h), ("cell_state", c)):
        if v.shape != (cells,):
            raise ValueError(f"{fn}: {name} must hold C = {cells} values, got shape {v.shape}")
    out = np.empty((x.shape[0], cells), np.int16)
    run_kernel(backend, lstm_16x8, steps=x.shape[0], input_size=input_size, cell_size=cells,
               gate_mult=p.gate_mult, gate_shift=p.gate_shift, forget_mult=p.forget_mult,
               forget_shift=p.forget_shift, input_mult=p.input_mult, input_shift=p.input_shift,
               hidden_mult=p.hidden_mult, hidden_shift=p.hidden_shift, cell_exponent=p.cell_exponent,
               cell_clip=p.cell_clip, input=x.reshape(-1), input_weights=p.input_weights.reshape(-1),
               recurrent_weights=p.recurrent_weights.reshape(-1), bias=p.bias.reshape(-1), hidden_state=h,
               cell_state=c, output=out.reshape(-1))
    return out, h, c
