"""int8 fully connected layer: [N, IN] input, [OUT, IN] weights.

Real-valued formula:

    y[b, o] = bias_r[o] + sum_k x_r[b, k] * w_r[o, k]

In integers: acc = sum_k (x - input_zp) * (w[o, k] - filter_zp) + bias[o],
then requantize with the per-tensor (one) or per-channel (OUT) multiplier and
shift, as conv2d. This is TFLite's reference FullyConnected (int8), whose
params.weights_offset is -filter_zp, and CMSIS-NN's arm_fully_connected_s8
(filter_offset = -filter_zp).

The weight zero point. microflat's weights are symmetric (filter_zp = 0,
w in [-127, 127]) everywhere except here: a fully connected filter may be
asymmetric, one zero point for the whole tensor in [-128, 127], and then w
takes the full [-128, 127], so |w - filter_zp| <= 255. (TFLite applies the
filter offset only in its per-tensor kernel; its per-channel one ignores it,
so the loaders take a non-zero zero point only on a weight with one scale.)

Accumulator bound: |x - input_zp| <= 255 and |w - filter_zp| <= 255, so
|acc| <= 255 * sum_k |w[o, k] - filter_zp| + |bias[o]|, which must be < 2^31
(numerics.accumulator_overflow on numerics.weight_abs_sums), checked by the
wrapper. Every partial sum of the centred form is bounded by it, so the
C twin's int32 accumulators are exact.

Method: each input row is widened once into ``scratch`` as int16
(x - input_zp); each output is then a dot product of that row with a
contiguous weight row. The zero point, two ways with the same exact result:
this Numba kernel accumulates in int64, so it folds it out,
sum (x - input_zp) w - filter_zp * sum (x - input_zp), the second sum once
per input row; the C twin (fully_connected.c) accumulates in int32, where
that fold's partial sums would need 255 * sum |w| < 2^31 as well, which the
bound above does not give, so for filter_zp != 0 (decided once per call) it
centres each weight as it reads it, w - filter_zp in [-255, 255], as
CMSIS-NN's DSP and scalar paths do. Symmetric weights cost what they did
(C: the same loops; Numba: one add per input value). The interpreter runs a
symmetric dense layer on the packed SIMD path (packed_layers.py) and an
asymmetric one on this kernel.

16x8 (fully_connected_s16): TFLite's int16 FullyConnected (its 16x8 mode),
int16 input and output with zero point 0, symmetric int8 weights, an int64
bias, and acc = sum_k x[b, k] * w[o, k] + bias[o] in int64, rescaled by
numerics.requantize_int64 (one rounding, a Q15 multiplier). Accumulator
bound: |x| <= 2^15, so |acc| <= 2^15 * sum_k |w[o, k]| + |bias[o]|, which
must be <= 2^47 - 1 (the rescaling's domain; accumulator_overflow with the
16x8 limits). The C twin sums int32 products (|x w| <= 2^15 * 127) in int64.
"""

from __future__ import annotations

import numpy as np
from numba import types

from . import _checks
from ._dispatch import check_backend, run_kernel
from ._jit import kernel
from .numerics import (requantize, requantize_int64, requantize_int64_single_rounding, requantize_single_rounding,
                       weight_abs_sums)
from .weight_encoding import encoded_row_dot, weighted_arguments

_i64 = types.int64
_i32 = types.int32


def fully_connected_s8_scratch_bytes(input_features: int) -> int:
    """Bytes of scratch fully_connected_s8 needs: one int16 input row."""
    return 2 * input_features


def fully_connected_encoded_s8_scratch_bytes(input_features: int) -> int:
    """Bytes of scratch fully_connected_encoded_s8 needs: the int16 input row and one decoded int16 weight row."""
    return 4 * input_features


@kernel(
    types.void(
        types.int16[::1],  # scratch
        _i64, _i64, _i64,  # batches, input_features, output_features
        _i32, _i32, _i32,  # input_zp, filter_zp, output_zp
        types.int32[::1], types.int8[::1], _i64, _i64,  # output_mult, output_shift, per_channel, single_rounding
        _i32, _i32,  # act_min, act_max
        types.int8[::1], types.int8[::1], types.int32[::1],  # input, filter, bias
        types.int8[::1],  # output
    )
)
def fully_connected_s8(
    scratch,
    batches, input_features, output_features,
    input_zp, filter_zp, output_zp,
    output_mult, output_shift, per_channel, single_rounding,
    act_min, act_max,
    input, filter, bias, output,
):
    """The jitted kernel. Trusts its caller; flat C-order buffers; bias empty means none. filter_zp: the
    weights' zero point (0: symmetric weights).

    Numba computes each product and the accumulator in int64 (it widens int32 operands), so here the zero
    point is folded out exactly: sum_k (x - input_zp) * (w - filter_zp) = sum_k (x - input_zp) * w
    - filter_zp * sum_k (x - input_zp), the last sum once per input row (0 for symmetric weights). No
    partial sum can leave int64 (each is below 255 * 128 * 2^31 in magnitude); the result is the
    accumulator, which the layer's bound keeps in int32. The C twin centres each weight instead (int32
    accumulators). single_rounding: requantize each output with one rounding
    (numerics.requantize_single_rounding: LiteRT's reference per-tensor FULLY_CONNECTED) instead of TFLite
    Micro's two."""
    has_bias = bias.shape[0] > 0
    for b in range(batches):
        in_base = b * input_features
        column_sum = np.int64(0)
        for k in range(input_features):
            scratch[k] = np.int16(input[in_base + k] - input_zp)
            column_sum += scratch[k]
        offset = np.int64(filter_zp) * column_sum
        for o in range(output_features):
            f_base = o * input_features
            acc = np.int64(0)
            for k in range(input_features):
                acc += np.int64(scratch[k]) * np.int64(filter[f_base + k])
            acc -= offset
            if has_bias:
                acc += bias[o]
            q = o if per_channel else 0
            output[b * output_features + o] = np.int8(
                requantize_single_rounding(np.int32(acc), output_mult[q], output_shift[q], output_zp, act_min,
                                           act_max) if single_rounding else
                requantize(np.int32(acc), output_mult[q], output_shift[q], output_zp, act_min, act_max)
            )


@kernel(
    types.void(
        types.int16[::1],  # scratch
        _i64, _i64, _i64,  # batches, input_features, output_features
        _i64, _i64, _i64, _i64, _i64,  # value_bits, codebook_size, codebook_per_channel, position_bits, entries
        _i32, _i32,  # input_zp, output_zp
        types.int32[::1], types.int8[::1], _i64, _i64,  # output_mult, output_shift, per_channel, single_rounding
        _i32, _i32,  # act_min, act_max
        types.int8[::1],  # input
        types.int8[::1], types.uint8[::1], types.uint8[::1],  # codebook, values, positions: the encoded filter
        types.int32[::1], types.int8[::1],  # bias, output
    )
)
def fully_connected_encoded_s8(
    scratch,
    batches, input_features, output_features,
    value_bits, codebook_size, codebook_per_channel, position_bits, entries,
    input_zp, output_zp,
    output_mult, output_shift, per_channel, single_rounding,
    act_min, act_max,
    input, codebook, values, positions, bias, output,
):
    """fully_connected_s8 on a filter in a WeightEncoding (weight_encoding.py), read in place: the same
    widened input row, each output a dot product with one encoded row (in row order, so a sparse walk
    runs once through the stream per input row). Same bytes as the dense kernel on the decoded filter.
    Scratch: the widened row, then one decoded weight row (fully_connected_encoded_s8_scratch_bytes)."""
    has_bias = bias.shape[0] > 0
    row_buffer = scratch[input_features:]
    for b in range(batches):
        in_base = b * input_features
        for k in range(input_features):
            scratch[k] = np.int16(input[in_base + k] - input_zp)
        entry = 0
        position = -1
        for o in range(output_features):
            cb = o * codebook_size if codebook_per_channel else 0
            acc, entry, position = encoded_row_dot(scratch, row_buffer, o, input_features, value_bits, codebook, cb,
                                                   position_bits, entries, values, positions, entry, position)
            if has_bias:
                acc += bias[o]
            q = o if per_channel else 0
            output[b * output_features + o] = np.int8(
                requantize_single_rounding(np.int32(acc), output_mult[q], output_shift[q], output_zp, act_min,
                                           act_max) if single_rounding else
                requantize(np.int32(acc), output_mult[q], output_shift[q], output_zp, act_min, act_max)
            )


@kernel(
    types.void(
        _i64, _i64, _i64,  # batches, input_features, output_features
        types.int32[::1], types.int8[::1], _i64, _i64,  # output_mult, output_shift, per_channel, single_rounding
        _i32, _i32,  # act_min, act_max
        types.int16[::1], types.int8[::1], types.int64[::1],  # input, filter, bias
        types.int16[::1],  # output
    )
)
def fully_connected_s16(
    batches, input_features, output_features,
    output_mult, output_shift, per_channel, single_rounding,
    act_min, act_max,
    input, filter, bias, output,
):
    """The 16x8 kernel (the module docstring derives it). Trusts its caller; flat C-order buffers; bias empty
    means none. single_rounding: numerics.requantize_int64_single_rounding (the Q31 multiplier, one rounding
    ties away from zero: LiteRT's reference) instead of requantize_int64 (TFLite's source, TFLite Micro)."""
    has_bias = bias.shape[0] > 0
    for b in range(batches):
        in_base = b * input_features
        for o in range(output_features):
            f_base = o * input_features
            acc = np.int64(0)
            for k in range(input_features):
                acc += np.int64(input[in_base + k]) * np.int64(filter[f_base + k])
            if has_bias:
                acc += bias[o]
            q = o if per_channel else 0
            output[b * output_features + o] = np.int16(
                requantize_int64_single_rounding(acc, output_mult[q], output_shift[q], act_min, act_max)
                if single_rounding else requantize_int64(acc, output_mult[q], output_shift[q], act_min, act_max))


def fully_connected(
    input: np.ndarray,
    filter: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    input_zp: int,
    output_zp: int,
    output_mult,
    output_shift,
    filter_zp: int = 0,
    act_min: int | None = None,
    act_max: int | None = None,
    single_rounding: bool = False,
    backend: str = "numba",
) -> np.ndarray:
    """int8 fully connected, TFLite's int8 reference arithmetic, bit-exact; or 16x8 (int16 input).

    Args:
      input: int8 [N, IN]; or int16 [N, IN] for TFLite's 16x8 layer (int16 activations with zero points 0,
        an int64 bias, shifts at most 7, requantized by numerics.requantize_int64; dense symmetric filters).
      filter: int8 [OUT, IN], symmetric ([-127, 127]) unless filter_zp is given.
      bias: int32 [OUT] or None.
      output_mult, output_shift: one value (per-tensor weights) or OUT values
        (per-channel weights).
      filter_zp: the weights' zero point in [-128, 127] (TFLite's filter
        offset is its negation): 0, symmetric weights, by default; otherwise
        the weights may take all of [-128, 127] and each product is
        (x - input_zp) * (w - filter_zp). A dense filter only (an Encoding
        holds symmetric weights).
      single_rounding: requantize with one rounding, ties away from zero (what LiteRT's reference per-tensor
        FULLY_CONNECTED computes: numerics.multiply_by_quantized_multiplier_single_rounding) instead of
        TFLite's default two (TFLite Micro, CMSIS-NN); for a 16x8 layer, with the Q31 multiplier instead of
        TFLite's source's one rounding with a Q15 one.
      input_zp, output_zp, act_min, act_max, backend: as conv2d.

    Returns:
      int8 [N, OUT] (int16 for an int16 input).

    Raises:
      ValueError naming the argument, for any shape, dtype or range violation,
      and when the int32 accumulator could overflow
      (255 * sum_k |w[o, k] - filter_zp| + |bias[o]| >= 2^31).
    """
    fn = "fully_connected"
    check_backend(fn, backend)
    x = _checks.layer_input(fn, input, 2)
    w, encoding = _checks.filter_array(fn, filter, 2, 0, dense=x.dtype == np.int16)
    n, in_f = x.shape
    out_f, w_in = w.shape
    if min(x.shape) < 1 or min(w.shape) < 1:
        raise ValueError(f"{fn}: input {x.shape} and filter {w.shape} must have no empty dimension")
    if w_in != in_f:
        raise ValueError(f"{fn}: filter has {w_in} input features, input has {in_f}")
    quantization = dict(input_zp=input_zp, output_zp=output_zp, act_min=act_min, act_max=act_max,
                        output_mult=output_mult, output_shift=output_shift, bias=bias, channels=out_f)
    if x.dtype == np.int16:
        _checks.integer(fn, "filter_zp", filter_zp, 0, 0)
        act_lo, act_hi, mult, shift, per_channel, b = _checks.layer_quantization_16x8(fn, **quantization)
        _checks.weights(fn, "filter", w)
        _checks.accumulator_fits_16x8(fn, weight_abs_sums(w, 0), b)
        out = np.empty((n, out_f), dtype=np.int16)
        run_kernel(backend, fully_connected_s16, batches=n, input_features=in_f, output_features=out_f,
                   output_mult=mult, output_shift=shift, per_channel=per_channel,
                   single_rounding=int(bool(single_rounding)), act_min=act_lo, act_max=act_hi, input=x.reshape(-1),
                   filter=w.reshape(-1), bias=b, output=out.reshape(-1))
        return out
    in_zp, out_zp, act_lo, act_hi, mult, shift, per_channel, b = _checks.layer_quantization(fn, **quantization)
    w_zp = _checks.integer(fn, "filter_zp", filter_zp, _checks.INT8_MIN, _checks.INT8_MAX)
    if w_zp != 0 and encoding is not None:
        raise ValueError(f"{fn}: filter_zp must be 0 for an encoded filter (encodings hold symmetric weights), "
                         f"got {w_zp}")
    if w_zp == 0:
        _checks.weights(fn, "filter", w)
    _checks.accumulator_fits(fn, weight_abs_sums(w, 0, w_zp), b)

    out = np.empty((n, out_f), dtype=np.int8)
    scratch_bytes = fully_connected_s8_scratch_bytes if encoding is None else fully_connected_encoded_s8_scratch_bytes
    kernel, named = weighted_arguments(
        fully_connected_s8, fully_connected_encoded_s8, w.reshape(-1) if encoding is None else encoding,
        scratch=np.empty(scratch_bytes(in_f) // 2, dtype=np.int16), batches=n, input_features=in_f,
        output_features=out_f, input_zp=in_zp, filter_zp=w_zp, output_zp=out_zp, output_mult=mult,
        output_shift=shift, per_channel=per_channel, single_rounding=int(bool(single_rounding)), act_min=act_lo,
        act_max=act_hi, input=x.reshape(-1), bias=b, output=out.reshape(-1))
    run_kernel(backend, kernel, **named)
    return out

