"""Argument checks for the public kernel wrappers.

The jitted kernels and their C twins trust their caller; the public wrappers
call these checks first, so bad input fails here with one ValueError that
names the function and the argument, never inside a kernel.
"""

from __future__ import annotations

import numpy as np

from .numerics import (INT32_MAX, MAX_S16_INPUT, S16_ACCUMULATOR_MAX, S16_SHIFT_MAX, SHIFT_MAX, SHIFT_MIN,
                       accumulator_overflow)
from .weight_encoding import Encoding, EncodingError, decode, validate

INT8_MIN, INT8_MAX = -128, 127
INT16_MIN, INT16_MAX = -(2**15), 2**15 - 1
WEIGHT_MIN, WEIGHT_MAX = -127, 127  # symmetric weights: -128 is never used


def array(fn: str, name: str, value, dtype, ndim: int) -> np.ndarray:
    """A C-contiguous ndarray of exactly ``dtype`` and ``ndim``; no silent casts."""
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{fn}: {name} must be a numpy array, got {type(value).__name__}")
    if value.dtype != np.dtype(dtype):
        raise ValueError(f"{fn}: {name} must have dtype {np.dtype(dtype).name}, got {value.dtype.name}")
    if value.ndim != ndim:
        raise ValueError(f"{fn}: {name} must be {ndim}-D, got shape {value.shape}")
    if value.size >= 2**31:
        raise ValueError(f"{fn}: {name} has {value.size} elements, more than int32 indexing allows")
    return np.ascontiguousarray(value)


def layer_input(fn: str, value, ndim: int) -> np.ndarray:
    """A weighted layer's input: int8, or int16 for the layer's 16x8 form."""
    int16 = isinstance(value, np.ndarray) and value.dtype == np.int16
    return array(fn, "input", value, np.int16 if int16 else np.int8, ndim)


def filter_array(fn: str, value, ndim: int, channel_axis: int, dense: bool = False):
    """(the filter as a dense int8 array, for the shape and range checks; its Encoding or None).

    value: an int8 array, or a weight_encoding.Encoding that the *_encoded_s8 kernel reads in place (not where
    ``dense``: a 16x8 layer's filter)."""
    if not isinstance(value, Encoding):
        return array(fn, "filter", value, np.int8, ndim), None
    if dense:
        raise ValueError(f"{fn}: a 16x8 layer (int16 input) takes a dense int8 filter, not an encoding")
    if len(value.shape) != ndim:
        raise ValueError(f"{fn}: filter must be {ndim}-D, got an encoding of shape {value.shape}")
    try:
        validate(value)
    except EncodingError as exc:
        raise ValueError(f"{fn}: filter encoding: {exc}") from None
    if (value.position_bits or value.codebook_per_channel) and value.axis != channel_axis:
        raise ValueError(f"{fn}: filter encoding: its axis is {value.axis}, the output channels lie on axis {channel_axis}")
    return decode(value), value


def integer(fn: str, name: str, value, lo: int, hi: int) -> int:
    """A Python or numpy integer in [lo, hi]."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{fn}: {name} must be an integer, got {value!r}")
    if not lo <= int(value) <= hi:
        raise ValueError(f"{fn}: {name} must be in [{lo}, {hi}], got {int(value)}")
    return int(value)


def pair(fn: str, name: str, value, lo: int, hi: int) -> tuple[int, int]:
    """An int (used for both axes) or a pair of ints, each in [lo, hi]."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        v = integer(fn, name, value, lo, hi)
        return v, v
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return integer(fn, f"{name}[0]", value[0], lo, hi), integer(fn, f"{name}[1]", value[1], lo, hi)
    raise ValueError(f"{fn}: {name} must be an int or a pair of ints, got {value!r}")


def activation_range(fn: str, act_min, act_max, low=INT8_MIN, high=INT8_MAX) -> tuple[int, int]:
    """act_min and act_max within [low, high] (the activation type's range), None meaning that end of it."""
    lo = integer(fn, "act_min", low if act_min is None else act_min, low, high)
    hi = integer(fn, "act_max", high if act_max is None else act_max, low, high)
    if lo > hi:
        raise ValueError(f"{fn}: act_min ({lo}) must be <= act_max ({hi})")
    return lo, hi


def weights(fn: str, name: str, w: np.ndarray) -> None:
    """Symmetric int8 weights lie in [-127, 127]."""
    if w.size and int(w.min()) < WEIGHT_MIN:
        raise ValueError(f"{fn}: {name} holds -128; symmetric int8 weights lie in [-127, 127]")


def requant_params(fn: str, output_mult, output_shift, channels: int,
                   shift_max: int = SHIFT_MAX) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-tensor (one value) or per-channel (``channels`` values) mult and shift.

    Returns the int32 multipliers, the int8 shifts (as the .mfb stores them) and the per_channel flag the kernels take.
    """
    mult = np.ascontiguousarray(np.atleast_1d(np.asarray(output_mult)))
    shift = np.ascontiguousarray(np.atleast_1d(np.asarray(output_shift)))
    for name, v in (("output_mult", mult), ("output_shift", shift)):
        if not np.issubdtype(v.dtype, np.integer):
            raise ValueError(f"{fn}: {name} must be integers, got dtype {v.dtype.name}")
        if v.ndim != 1 or v.shape[0] not in (1, channels):
            raise ValueError(
                f"{fn}: {name} must hold 1 (per-tensor) or {channels} (per-channel) values, got shape {v.shape}"
            )
    if mult.shape != shift.shape:
        raise ValueError(f"{fn}: output_mult {mult.shape} and output_shift {shift.shape} differ in length")
    if mult.min() < 0 or mult.max() > INT32_MAX:
        raise ValueError(f"{fn}: output_mult must be in [0, 2^31 - 1], got [{mult.min()}, {mult.max()}]")
    if shift.min() < SHIFT_MIN or shift.max() > shift_max:
        raise ValueError(
            f"{fn}: output_shift must be in [{SHIFT_MIN}, {shift_max}], got [{shift.min()}, {shift.max()}]"
        )
    per_channel = 1 if mult.shape[0] > 1 else 0
    return mult.astype(np.int32), shift.astype(np.int8), per_channel


def bias_values(fn: str, b, channels: int, dtype=np.int32) -> np.ndarray:
    """A bias of ``channels`` values (int32; int64 for a 16x8 layer), or None (passed to the kernels as an empty
    array)."""
    if b is None:
        return np.zeros(0, dtype=dtype)
    b = array(fn, "bias", b, dtype, 1)
    if b.shape[0] != channels:
        raise ValueError(f"{fn}: bias must have {channels} values (one per output channel), got {b.shape[0]}")
    return b


def accumulator_fits(fn: str, abs_weight_sums: np.ndarray, b: np.ndarray) -> None:
    """Refuse a layer whose int32 accumulator could overflow (numerics.accumulator_overflow)."""
    worst = accumulator_overflow(abs_weight_sums, b)
    if worst is not None:
        raise ValueError(f"{fn}: the int32 accumulator of output channel {worst[0]} could reach {worst[1]} "
                         f"(255 * sum|w - filter zero point| + |bias|), above 2^31 - 1")


def accumulator_fits_16x8(fn: str, abs_weight_sums: np.ndarray, b: np.ndarray) -> None:
    """Refuse a 16x8 layer whose int64 accumulator could leave the int64 rescaling's domain
    (numerics.multiply_by_quantized_multiplier_int64: |acc| <= 2^47 - 1)."""
    worst = accumulator_overflow(abs_weight_sums, b, MAX_S16_INPUT, S16_ACCUMULATOR_MAX)
    if worst is not None:
        raise ValueError(f"{fn}: the int64 accumulator of output channel {worst[0]} could reach {worst[1]} "
                         f"(2^15 * sum|w| + |bias|), above 2^47 - 1")


def layer_quantization_16x8(fn: str, *, input_zp, output_zp, act_min, act_max, output_mult, output_shift, bias,
                            channels):
    """layer_quantization of a 16x8 layer (int16 activations, TFLite's 16x8 mode): zero points 0 (int16
    activations are symmetric), the clamp inside int16, shifts at most S16_SHIFT_MAX and an int64 bias.
    Returns (act_min, act_max, mult, shift, per_channel, bias)."""
    integer(fn, "input_zp", input_zp, 0, 0)
    integer(fn, "output_zp", output_zp, 0, 0)
    lo, hi = activation_range(fn, act_min, act_max, INT16_MIN, INT16_MAX)
    mult, shift, per_channel = requant_params(fn, output_mult, output_shift, channels, S16_SHIFT_MAX)
    return lo, hi, mult, shift, per_channel, bias_values(fn, bias, channels, np.int64)


def layer_quantization(fn: str, *, input_zp, output_zp, act_min, act_max, output_mult, output_shift, bias, channels):
    """The quantization arguments every int8 layer takes, checked together.

    Returns (input_zp, output_zp, act_min, act_max, mult, shift, per_channel, bias),
    with bias as an int32 array (empty for none).
    """
    in_zp = integer(fn, "input_zp", input_zp, INT8_MIN, INT8_MAX)
    out_zp = integer(fn, "output_zp", output_zp, INT8_MIN, INT8_MAX)
    lo, hi = activation_range(fn, act_min, act_max)
    mult, shift, per_channel = requant_params(fn, output_mult, output_shift, channels)
    return in_zp, out_zp, lo, hi, mult, shift, per_channel, bias_values(fn, bias, channels)


def spatial_geometry(fn: str, in_h: int, in_w: int, k_h: int, k_w: int, stride, dilation, padding):
    """Stride, dilation and padding arguments -> (stride_h, stride_w, dil_h, dil_w, out_h, out_w, pad_top, pad_left)."""
    stride_h, stride_w = pair(fn, "stride", stride, 1, 2**16)
    dil_h, dil_w = pair(fn, "dilation", dilation, 1, 2**16)
    spec_h, spec_w = parse_padding(fn, padding)
    out_h, pad_top = output_size_and_padding(fn, in_h, k_h, stride_h, dil_h, spec_h)
    out_w, pad_left = output_size_and_padding(fn, in_w, k_w, stride_w, dil_w, spec_w)
    return stride_h, stride_w, dil_h, dil_w, out_h, out_w, pad_top, pad_left


def output_size_and_padding(fn: str, in_size: int, k: int, stride: int, dilation: int, padding) -> tuple[int, int]:
    """(output size, padding before) along one axis.

    padding: "valid", "same" (TFLite's rule: out = ceil(in / stride), total
    padding max((out - 1) * stride + effective_k - in, 0), the smaller half
    before and the extra one after), or (before, after).
    """
    eff_k = (k - 1) * dilation + 1
    if padding == "same":
        out = -(-in_size // stride)
        total = max((out - 1) * stride + eff_k - in_size, 0)
        return out, total // 2
    if padding == "valid":
        before, after = 0, 0
    else:
        before, after = padding
    out = (in_size + before + after - eff_k) // stride + 1
    if out < 1:
        raise ValueError(
            f"{fn}: the output would be empty: input size {in_size} with padding ({before}, {after}) "
            f"is smaller than the dilated filter ({eff_k})"
        )
    return out, before


def parse_padding(fn: str, padding):
    """'valid' | 'same' | int | (pad_h, pad_w) | (top, bottom, left, right) -> per-axis spec."""
    if isinstance(padding, str) and padding in ("valid", "same"):
        return padding, padding
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, (bool, np.bool_)):
        p = integer(fn, "padding", padding, 0, 2**16)
        return (p, p), (p, p)
    if isinstance(padding, (tuple, list)) and len(padding) in (2, 4):
        vals = [integer(fn, f"padding[{i}]", v, 0, 2**16) for i, v in enumerate(padding)]
        if len(vals) == 2:
            return (vals[0], vals[0]), (vals[1], vals[1])
        return (vals[0], vals[1]), (vals[2], vals[3])
    raise ValueError(
        f"{fn}: padding must be 'valid', 'same', an int, (pad_h, pad_w) or (top, bottom, left, right), got {padding!r}"
    )
