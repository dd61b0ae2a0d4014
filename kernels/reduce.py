"""int8 reductions over any set of axes: TFLite's MEAN, SUM and REDUCE_MAX (keep_dims either way).

Which TFLite arithmetic. TFLite's reduce.cc has changed how int8 MEAN and SUM
are computed. Older versions took, for MEAN, reference_integer_ops::Mean
(divide after requantizing; microflat's mean_hw_s8) for a 4-D keep_dims
reduction over axes 1 and 2, a raw integer mean when input and output share
quantization, and otherwise reference_ops::QuantizedMeanOrSum, which rescales
in float32 (its TODO: "Eliminate float"); SUM also rescaled in float. The
newest reference (reduce.cc's EvalQuantizedMean and EvalSum, reduce.h's
QuantizedMeanOrSum taking output_multiplier and output_shift) is integer
only and has one path for every axis set, every rank, keep_dims either way
and equal or different quantization. microflat implements that one. So
reduce_mean over axes (1, 2) is *not* mean_hw_s8: that kernel divides by
H * W after requantizing (rounding twice), this one folds 1/N into the
multiplier; the two can differ by one in the last place.

Notation: x the int8 input, N the number of input elements that meet in one
output (the product of the reduced dimensions), z_in, z_out the zero points,
s_in, s_out the scales.

SUM and MEAN share their arithmetic; only the multiplier differs:

    acc = sum of the N raw values x - z_in * N      = sum (x - z_in), exactly
    y   = clamp(multiply_by_quantized_multiplier(acc, mult, shift) + z_out, -128, 127)

Ranges. Each |x - z_in| <= 255 (both in [-128, 127]), so |acc| <= 255 * N, and
the raw partial sums |sum x| <= 128 * N; both fit int32 when
255 * N <= 2^31 - 1, i.e. N <= MAX_ELEMENTS = 8421504 (pooling's
MEAN_MAX_ELEMENTS, the same bound). The wrappers refuse a larger N, naming it.
z_in * N is formed in 64 bits and the difference narrowed after the check.

SUM: (mult, shift) = quantize_multiplier(s_in / s_out), as TFLite's
PrepareMeanOrSum computes it (double division of the two scales). With equal
scales that is (2^30, 1), which multiplies exactly by 1.

MEAN: the same (mult, shift) of s_in / s_out, with 1/N folded in (TFLite does
this in Eval; microflat at compile time, fold_mean_multiplier):

    k      = min(floor(log2 N), 32, 31 + shift)     floor(log2 N) = 63 - clz64(N)
    mult'  = floor(mult * 2^k / N)                  (64-bit: mult < 2^31, k <= 32)
    shift' = shift - k

mult * 2^k / N <= mult since 2^k <= N, so mult' lies in [0, 2^31), and
shift' >= -31: both stay in multiply_by_quantized_multiplier's domain. Here
N <= 2^23.01, so only the third term of the min can bind (shift < -8, i.e.
s_in / s_out < 2^-9), at some cost in precision, as in TFLite. mult' is not
normalized (it may be below 2^30); the arithmetic does not need that. The
value applied, mult' * 2^(shift' - 31), is (mult * 2^(shift - 31) / N) * (1 - e)
with 0 <= e < N / (mult * 2^k), at most 2^-29 for a normalized mult and an
unclamped k (2^k > N / 2).

Error of MEAN against the real mean (in output steps, before the clamp, which
can only shrink it): |y - z_out - sum(x - z_in) s_in / (N s_out)| <=
1/2 + 2^-(r+1) (the two roundings of multiply_by_quantized_multiplier,
r = max(-shift', 0)) + |acc| * |M_applied - s_in / (N s_out)|, about one step.

REDUCE_MAX: TFLite requires equal input and output quantization and takes
the largest raw value (starting from -128); no rescaling, no clamp.

Axes: integers in [-rank, rank - 1], negatives counted from the end, repeats
ignored (TFLite's ResolveAxis). An empty axis list is refused: TFLite then
copies the input unchanged, with no rescaling, which is not a reduction.
keep_dims keeps each reduced dimension as size 1; otherwise it is dropped
(all of them: a 0-D result).

Kernel shape. An axis set is not an [outer, reduced, inner] split in general
(axes 0 and 2 of a 3-D tensor), so the kernels take the general form:
``input_shape``, five sizes, and ``reduce_mask``, five 0/1 flags, 1 on a
reduced dimension. reduce_params builds them from (shape, axes): it drops
size-1 dimensions, merges neighbours that are both reduced or both kept (so
at most five alternating runs remain), and pads with leading 1s (kept). The
kernel walks the input once, in memory order, five nested loops, adding each
value into the int32 accumulator of its output (index: the row-major index
over the kept dimensions). A kept innermost run adds a contiguous vector of
inputs into a contiguous run of accumulators; a reduced innermost run sums a
contiguous vector into one. The accumulators, one per output element, are
the ``scratch`` argument (reduce_s8_scratch_bytes; the kernels never
allocate); then each is requantized in order. reduce_max_s8 needs no
scratch: it takes the running maximum in the int8 output itself.

Kernels (one explicit signature each; the C twins in reduce.c take the same
names in the same order):

    reduce_mean_s8(scratch, input_shape, reduce_mask, input_zp, output_zp, mult, shift, input, output)
    reduce_sum_s8 (scratch, input_shape, reduce_mask, input_zp, output_zp, mult, shift, input, output)
    reduce_max_s8 (input_shape, reduce_mask, input, output)

reduce_mean_s8 and reduce_sum_s8 are one arithmetic (shared body): mean's
1/N lives in its (mult, shift), computed by reduce_mean_params or
fold_mean_multiplier. They are two kernels, not one with an op flag, so that
each TFLite op maps to a kernel by name. Contract (trusted, checked by the
wrappers): sizes positive, N <= MAX_ELEMENTS, every index below 2^31, scratch
holds the output element count of int32, output does not alias the input.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types

from . import _checks
from ._dispatch import check_backend, run_kernel
from ._jit import kernel
from .numerics import SHIFT_MAX, SHIFT_MIN, quantize_multiplier, requantize
from .pooling import MEAN_MAX_ELEMENTS

MAX_DIMS = 5
MAX_ELEMENTS = MEAN_MAX_ELEMENTS  # (2^31 - 1) // 255: keeps 255 * N inside int32

_i32 = types.int32
_v32 = types.int32[::1]
_v8 = types.int8[::1]


def reduce_s8_scratch_bytes(output_elements: int) -> int:
    """Bytes of scratch reduce_mean_s8 and reduce_sum_s8 need: one int32 accumulator per output element."""
    return 4 * int(output_elements)


@njit(cache=True, nogil=True)
def _output_strides(input_shape, reduce_mask):
    """(the output stride of each of the five dimensions, 0 where reduced; outputs; N)."""
    s0 = s1 = s2 = s3 = s4 = 0
    stride = 1
    count = 1
    for d in range(4, -1, -1):
        if reduce_mask[d] != 0:
            count *= input_shape[d]
            s = 0
        else:
            s = stride
            stride *= input_shape[d]
        if d == 4:
            s4 = s
        elif d == 3:
            s3 = s
        elif d == 2:
            s2 = s
        elif d == 1:
            s1 = s
        else:
            s0 = s
    return s0, s1, s2, s3, s4, stride, count


@njit(inline="always", cache=True, nogil=True)
def _reduce_sum_requantize(scratch, input_shape, reduce_mask, input_zp, output_zp, mult, shift, input, output):
    """The body of reduce_mean_s8 and reduce_sum_s8 (module docstring)."""
    s0, s1, s2, s3, s4, outputs, count = _output_strides(input_shape, reduce_mask)
    n0, n1, n2, n3, n4 = input_shape[0], input_shape[1], input_shape[2], input_shape[3], input_shape[4]
    acc = scratch[:outputs]
    acc[:] = 0
    i = 0
    for a in range(n0):
        for b in range(n1):
            for c in range(n2):
                for d in range(n3):
                    base = a * s0 + b * s1 + c * s2 + d * s3
                    px = input[i:i + n4]
                    if s4 == 0:  # reduced innermost run: one sum, |.| <= 128 * n4
                        t = np.int32(0)
                        for e in range(n4):
                            t += np.int32(px[e])
                        acc[base] += t
                    else:  # kept innermost run (stride 1): contiguous accumulators
                        dst = acc[base:base + n4]
                        for e in range(n4):
                            dst[e] += np.int32(px[e])
                    i += n4
    zp_total = np.int64(input_zp) * count  # |.| <= 128 * N
    for o in range(outputs):
        centred = np.int32(np.int64(acc[o]) - zp_total)  # sum(x - z_in): |.| <= 255 * N <= 2^31 - 1
        output[o] = np.int8(requantize(centred, mult, shift, output_zp, -128, 127))


_sum_signature = types.void(
    _v32,  # scratch: outputs int32 accumulators
    _v32, _v32,  # input_shape[5], reduce_mask[5]
    _i32, _i32, _i32, _i32,  # input_zp, output_zp, mult, shift
    _v8, _v8,  # input, output
)


@kernel(_sum_signature)
def reduce_mean_s8(scratch, input_shape, reduce_mask, input_zp, output_zp, mult, shift, input, output):
    """The jitted kernel; trusts its caller. (mult, shift) has 1/N folded in (fold_mean_multiplier)."""
    _reduce_sum_requantize(scratch, input_shape, reduce_mask, input_zp, output_zp, mult, shift, input, output)


@kernel(_sum_signature)
def reduce_sum_s8(scratch, input_shape, reduce_mask, input_zp, output_zp, mult, shift, input, output):
    """The jitted kernel; trusts its caller. (mult, shift) encodes s_in / s_out."""
    _reduce_sum_requantize(scratch, input_shape, reduce_mask, input_zp, output_zp, mult, shift, input, output)


@kernel(types.void(_v32, _v32, _v8, _v8))
def reduce_max_s8(input_shape, reduce_mask, input, output):
    """The jitted kernel; trusts its caller. The running maxima live in the output."""
    s0, s1, s2, s3, s4, outputs, _ = _output_strides(input_shape, reduce_mask)
    n0, n1, n2, n3, n4 = input_shape[0], input_shape[1], input_shape[2], input_shape[3], input_shape[4]
    out = output[:outputs]
    out[:] = -128
    i = 0
    for a in range(n0):
        for b in range(n1):
            for c in range(n2):
                for d in range(n3):
                    base = a * s0 + b * s1 + c * s2 + d * s3
                    px = input[i:i + n4]
                    if s4 == 0:
                        m = np.int32(out[base])
                        for e in range(n4):
                            m = max(m, np.int32(px[e]))
                        out[base] = np.int8(m)
                    else:
                        dst = out[base:base + n4]
                        for e in range(n4):
                            dst[e] = max(dst[e], px[e])
                    i += n4


# ---------------------------------------------------------------------------
# Plain-Python helpers (compile and load time)
# ---------------------------------------------------------------------------


def resolve_axes(fn: str, axes, ndim: int) -> tuple[int, ...]:
    """TFLite's ResolveAxis: axes (an int or a sequence of ints in [-ndim, ndim - 1]) as sorted distinct
    non-negative dimensions; negatives count from the end, repeats are ignored. Empty is refused."""
    if isinstance(axes, np.ndarray):
        if axes.ndim > 1 or not np.issubdtype(axes.dtype, np.integer):
            raise ValueError(f"{fn}: axes must be an integer or a 1-D sequence of integers, got {axes!r}")
        axes = axes.tolist()
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, (bool, np.bool_)):
        axes = [axes]
    if not isinstance(axes, (list, tuple)):
        raise ValueError(f"{fn}: axes must be an integer or a sequence of integers, got {axes!r}")
    if len(axes) == 0:
        raise ValueError(f"{fn}: axes must name at least one dimension (TFLite copies the input unchanged for "
                         f"an empty axis list; that is not a reduction)")
    resolved = set()
    for i, a in enumerate(axes):
        v = _checks.integer(fn, f"axes[{i}]", a, -ndim, ndim - 1)
        resolved.add(v + ndim if v < 0 else v)
    return tuple(sorted(resolved))


def _check_shape(fn: str, shape) -> tuple[int, ...]:
    shape = tuple(int(s) for s in shape)
    if not 1 <= len(shape) <= MAX_DIMS:
        raise ValueError(f"{fn}: the input must have 1 to {MAX_DIMS} dimensions, got shape {shape}")
    if min(shape) < 1:
        raise ValueError(f"{fn}: input {shape} must have no empty dimension")
    if math.prod(shape) >= 2**31:
        raise ValueError(f"{fn}: input {shape} has {math.prod(shape)} elements, more than int32 indexing allows")
    return shape


def reduce_params(shape, axes, keep_dims: bool = False, fn: str = "reduce_params"):
    """The kernels' dimension arguments for reducing a tensor of ``shape`` over ``axes``.

    Returns (input_shape, reduce_mask, num_elements, output_shape): two int32 arrays of five values (the
    merged, padded walk of the module docstring; not the tensor's shape), N, the number of input elements
    per output (the product of the reduced dimensions), and the output tensor's shape (reduced dimensions
    kept as 1 with keep_dims, else dropped)."""
    shape = _check_shape(fn, shape)
    axes = resolve_axes(fn, axes, len(shape))
    sizes: list[int] = []
    mask: list[int] = []
    for d, size in enumerate(shape):
        if size == 1:
            continue  # a size-1 dimension adds nothing to the walk, reduced or kept
        r = 1 if d in axes else 0
        if mask and mask[-1] == r:
            sizes[-1] *= size
        else:
            sizes.append(size)
            mask.append(r)
    pad = MAX_DIMS - len(sizes)
    num_elements = math.prod(shape[d] for d in axes)
    if keep_dims:
        output_shape = tuple(1 if d in axes else s for d, s in enumerate(shape))
    else:
        output_shape = tuple(s for d, s in enumerate(shape) if d not in axes)
    return (np.array([1] * pad + sizes, np.int32), np.array([0] * pad + mask, np.int32), num_elements,
            output_shape)


def _check_scale(fn: str, name: str, value) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{fn}: {name} must be a number, got {value!r}")
    v = float(value)
    if not (v > 0.0 and math.isfinite(v)):
        raise ValueError(f"{fn}: {name} must be finite and > 0, got {value!r}")
    return v


def fold_mean_multiplier(mult: int, shift: int, num_elements: int, fn: str = "fold_mean_multiplier") -> tuple[int, int]:
    """(mult', shift'): the multiplier (mult, shift) of s_in / s_out with 1 / num_elements folded in, as
    TFLite's integer QuantizedMeanOrSum does (module docstring)."""
    m = _checks.integer(fn, "mult", mult, 0, 2**31 - 1)
    s = _checks.integer(fn, "shift", shift, SHIFT_MIN, SHIFT_MAX)
    n = _checks.integer(fn, "num_elements", num_elements, 1, MAX_ELEMENTS)
    k = min(n.bit_length() - 1, 32, 31 + s)  # floor(log2 n) = 63 - CountLeadingZeros(uint64 n)
    return (m << k) // n, s - k


def reduce_sum_params(input_scale: float, input_zp: int, output_scale: float, output_zp: int) -> dict:
    """reduce_sum_s8's quantization arguments by name, from the scales and zero points (compile time):
    dict(input_zp, output_zp, mult, shift) with (mult, shift) = quantize_multiplier(s_in / s_out), TFLite's
    PrepareMeanOrSum. Pass the float32 scales as the model stores them."""
    fn = "reduce_sum_params"
    s_in = _check_scale(fn, "input_scale", input_scale)
    s_out = _check_scale(fn, "output_scale", output_scale)
    zi = _checks.integer(fn, "input_zp", input_zp, -128, 127)
    zo = _checks.integer(fn, "output_zp", output_zp, -128, 127)
    try:
        mult, shift = quantize_multiplier(s_in / s_out)
    except ValueError as exc:
        raise ValueError(f"{fn}: input_scale / output_scale: {exc}") from None
    return dict(input_zp=zi, output_zp=zo, mult=mult, shift=shift)


def reduce_mean_params(input_scale: float, input_zp: int, output_scale: float, output_zp: int,
                       num_elements: int) -> dict:
    """reduce_mean_s8's quantization arguments by name (compile time): dict(input_zp, output_zp, mult,
    shift), the (mult, shift) of reduce_sum_params with 1 / num_elements folded in (fold_mean_multiplier).
    num_elements: N, the product of the reduced dimensions (reduce_params returns it)."""
    fn = "reduce_mean_params"
    p = reduce_sum_params(input_scale, input_zp, output_scale, output_zp)
    n = _checks.integer(fn, "num_elements", num_elements, 1, MAX_ELEMENTS)
    p["mult"], p["shift"] = fold_mean_multiplier(p["mult"], p["shift"], n, fn)
    return p


# ---------------------------------------------------------------------------
# Public wrappers
# ---------------------------------------------------------------------------


def _prepare(fn: str, input, axes, keep_dims, backend):
    check_backend(fn, backend)
    if not isinstance(input, np.ndarray):
        raise ValueError(f"{fn}: input must be a numpy array, got {type(input).__name__}")
    if not 1 <= input.ndim <= MAX_DIMS:
        raise ValueError(f"{fn}: input must have 1 to {MAX_DIMS} dimensions, got shape {input.shape}")
    x = _checks.array(fn, "input", input, np.int8, input.ndim)
    if not isinstance(keep_dims, (bool, np.bool_)):
        raise ValueError(f"{fn}: keep_dims must be a bool, got {keep_dims!r}")
    input_shape, reduce_mask, n, out_shape = reduce_params(x.shape, axes, bool(keep_dims), fn)
    return x, input_shape, reduce_mask, n, np.empty(out_shape, dtype=np.int8)


def _check_elements(fn: str, n: int) -> None:
    if n > MAX_ELEMENTS:
        raise ValueError(f"{fn}: the reduction sums {n} input elements into each output, more than "
                         f"{MAX_ELEMENTS}: the int32 sum of (x - input_zp), up to 255 * {n}, could overflow")


def _sum_like(fn, kernel, input, axes, input_zp, output_zp, mult, shift, keep_dims, backend, fold):
    x, input_shape, reduce_mask, n, out = _prepare(fn, input, axes, keep_dims, backend)
    _check_elements(fn, n)
    zi = _checks.integer(fn, "input_zp", input_zp, -128, 127)
    zo = _checks.integer(fn, "output_zp", output_zp, -128, 127)
    m = _checks.integer(fn, "mult", mult, 0, 2**31 - 1)
    s = _checks.integer(fn, "shift", shift, SHIFT_MIN, SHIFT_MAX)
    if fold:
        m, s = fold_mean_multiplier(m, s, n, fn)
    scratch = np.empty(reduce_s8_scratch_bytes(out.size) // 4, dtype=np.int32)
    run_kernel(backend, kernel, scratch=scratch, input_shape=input_shape, reduce_mask=reduce_mask, input_zp=zi,
               output_zp=zo, mult=m, shift=s, input=x.reshape(-1), output=out.reshape(-1))
    return out


def reduce_mean(input: np.ndarray, axes, *, input_zp: int, output_zp: int, mult: int, shift: int,
                keep_dims: bool = False, backend: str = "numba") -> np.ndarray:
    """int8 MEAN over ``axes`` (TFLite's integer reference QuantizedMeanOrSum), input of rank 1 to 5.

    (mult, shift) encode s_in / s_out (quantize_multiplier; as TFLite's Prepare and mean_hw take them); the
    1 / N of the mean is folded in here (fold_mean_multiplier). N, the product of the reduced dimensions,
    must be at most MAX_ELEMENTS. Returns the reduced tensor (0-D when every axis is dropped)."""
    return _sum_like("reduce_mean", reduce_mean_s8, input, axes, input_zp, output_zp, mult, shift, keep_dims,
                     backend, fold=True)


def reduce_sum(input: np.ndarray, axes, *, input_zp: int, output_zp: int, mult: int, shift: int,
               keep_dims: bool = False, backend: str = "numba") -> np.ndarray:
    """int8 SUM over ``axes`` (TFLite's integer reference QuantizedMeanOrSum with compute_sum), rank 1 to 5.

    (mult, shift) encode s_in / s_out (reduce_sum_params). N must be at most MAX_ELEMENTS."""
    return _sum_like("reduce_sum", reduce_sum_s8, input, axes, input_zp, output_zp, mult, shift, keep_dims,
                     backend, fold=False)


def reduce_max(input: np.ndarray, axes, *, keep_dims: bool = False, backend: str = "numba") -> np.ndarray:
    """int8 REDUCE_MAX over ``axes``, rank 1 to 5: the largest raw value. Input and output share one scale
    and zero point (TFLite requires it), so there are no quantization arguments."""
    fn = "reduce_max"
    x, input_shape, reduce_mask, _, out = _prepare(fn, input, axes, keep_dims, backend)
    run_kernel(backend, reduce_max_s8, input_shape=input_shape, reduce_mask=reduce_mask, input=x.reshape(-1),
               output=out.reshape(-1))
    return out
