"""Argument checks for the public kernel wrappers.

The jitted kernels and their C twins trust their caller; the public wrappers
call these checks first, so bad input fails here with one ValueError that
names the function and the argument, never inside a kernel.
"""

from __future__ import annotations

import numpy as np

from .numerics import INT32_MAX, SHIFT_MAX, SHIFT_MIN

INT8_MIN, INT8_MAX = -128, 127
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


def activation_range(fn: str, act_min, act_max) -> tuple[int, int]:
    lo = integer(fn, "act_min", act_min, INT8_MIN, INT8_MAX)
    hi = integer(fn, "act_max", act_max, INT8_MIN, INT8_MAX)
    if lo > hi:
        raise ValueError(f"{fn}: act_min ({lo}) must be <= act_max ({hi})")
    return lo, hi


def weights(fn: str, name: str, w: np.ndarray) -> None:
    """Symmetric int8 weights lie in [-127, 127]."""
    if w.size and int(w.min()) < WEIGHT_MIN:
        raise ValueError(f"{fn}: {name} holds -128; symmetric int8 weights lie in [-127, 127]")


def requant_params(fn: str, output_mult, output_shift, channels: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-tensor (one value) or per-channel (``channels`` values) mult and shift.

    Returns int32 arrays and the per_channel flag the kernels take.
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
    if shift.min() < SHIFT_MIN or shift.max() > SHIFT_MAX:
        raise ValueError(
            f"{fn}: output_shift must be in [{SHIFT_MIN}, {SHIFT_MAX}], got [{shift.min()}, {shift.max()}]"
        )
    per_channel = 1 if mult.shape[0] > 1 else 0
    return mult.astype(np.int32), shift.astype(np.int32), per_channel


def bias(fn: str, b, channels: int) -> np.ndarray:
    """int32 bias of ``channels`` values, or None (passed to the kernels as an empty array)."""
    if b is None:
        return np.zeros(0, dtype=np.int32)
    b = array(fn, "bias", b, np.int32, 1)
    if b.shape[0] != channels:
        raise ValueError(f"{fn}: bias must have {channels} values (one per output channel), got {b.shape[0]}")
    return b


def accumulator_fits(fn: str, abs_weight_sums: np.ndarray, b: np.ndarray) -> None:
    """Refuse a layer whose int32 accumulator could overflow.

    Each product (x - input_zp) * w has |x - input_zp| <= 255, so for output
    channel c the accumulator is bounded by 255 * sum_k |w[c, k]| + |bias[c]|.
    The kernels accumulate in int32 (C) and rely on this bound being < 2^31.
    """
    bound = 255 * abs_weight_sums.astype(np.int64)
    if b.size:
        bound = bound + np.abs(b.astype(np.int64))
    worst = int(bound.max()) if bound.size else 0
    if worst > INT32_MAX:
        c = int(np.argmax(bound))
        raise ValueError(
            f"{fn}: the int32 accumulator of output channel {c} could reach {worst} "
            f"(255 * sum|w| + |bias|), above 2^31 - 1"
        )
