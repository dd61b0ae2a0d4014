"""int8 RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR of an NHWC tensor, on TFLite's int8 reference semantics.

Sources: tensorflow/lite/kernels/internal/reference/resize_nearest_neighbor.h (GetNearestNeighbor,
ResizeNearestNeighbor), reference/resize_bilinear.h (ComputeInterpolationValuesInteger,
ResizeBilinearInteger) and kernels/resize_{nearest_neighbor,bilinear}.cc (output [N, out_h, out_w, C];
half_pixel_centers and align_corners both true is refused, as here).

Quantization. Both ops move or interpolate raw int8 values and never requantize, in TFLite as here: the
output tensor must carry the input's scale and zero point (TFLite's int8 resizes require it). Interpolation
commutes with the affine map r = s * (q - zp) because the weights along each axis sum to one, so
interpolating q is interpolating r.

Sizes. Input and output heights and widths lie in [1, MAX_SIZE] (2^16); the ranges below use it.
The index rule is the same along H and W; for one axis write i for the output index (0 <= i < out),
`in` and `out` for the sizes.

Nearest neighbour. TFLite's reference computes, in float32,

    scale = (align_corners and out > 1) ? float(in - 1) / float(out - 1) : float(in) / float(out)
    v     = float(i + (half_pixel_centers ? 0.5 : 0.0)) * scale           (one float32 product)
    index = min(align_corners ? round(v) : floor(v), in - 1)              (round: half away from zero)

(then max(index, 0) with half_pixel_centers, a no-op: v >= 0). The kernel is integer-only and gives the
same index: resize_params computes the float32 scale once and stores it exactly as scale = m * 2^-shift
(m the 24-bit significand, 2^23 <= m < 2^24, or m = 0 when in = 1 with align_corners). With
t = 2i + half_pixel_centers, the exact product is

    v_exact = t * m * 2^-(shift + 1),     n = t * m < 2^17 * 2^24 = 2^41   (int64)

and float32 rounds it to 24 significant bits, ties to even; a power of two does not change the
significand, so rounding n to 24 bits (n' = round_half_even(n / 2^d) * 2^d, d = bitlength(n) - 24) gives
v = n' * 2^-(shift + 1) exactly. Then

    floor(v) = n' >> (shift + 1),   round(v) = (n' + 2^shift) >> (shift + 1)   (n' >= 0, ties up = away)

Ranges: a nonzero scale lies in [2^-16, 2^16], so shift in [7, 39]; n' <= 2^42 and n' + 2^shift < 2^43.
This rounding matters: for in = 26, out = 22, i = 11 the exact ratio is 13 but float32 gives
12.999999 and TFLite's reference kernel, TFLite Micro and this kernel read row 12. (TFLite's optimized
kernel, without either option, uses a 16.16 scale, (in << 16) / out + 1, and reads 13 there; this follows
the reference.)

Bilinear (ResizeBilinearInteger, 10 fractional bits). resize_params computes, with integer division,

    scale_10 = (2^10 * (in - 1) + (out - 1) / 2) / (out - 1)     align_corners and out > 1
    scale_10 = (2^10 * in + out / 2) / out                       otherwise

(2^10 * in <= 2^26: int32). Per output index (int32, as TFLite):

    s     = i * scale_10 + (half_pixel_centers ? scale_10 / 2 - 2^9 : 0)
    lo    = max(s / 2^10, 0)                 (C's truncating division)
    hi    = min((s + 2^10 - 1) / 2^10, in - 1)
    f     = s - 2^10 * lo                    weights 2^10 - f (row lo) and f (row hi)

i * scale_10 <= (out - 1) * (2^10 in / out + 1/2) < 2^10 in + out / 2 <= 2^26 + 2^15 (with align_corners
likewise, in - 1 and out - 1 for in and out), so s fits int32;
s >= -2^9, so a negative s gives lo = 0 whether the division truncates or floors (the kernel shifts),
and s + 2^10 - 1 > 0, so the second division is a shift. Either f lies in [0, 2^10) and hi is lo or
lo + 1, or lo = hi (f in [-2^9, 0) at the first row with half_pixel_centers, or hi clamped at the last):
along each axis the two weights sum to 2^10 and the result is a convex combination of input values.
Per channel, in int64 as TFLite:

    acc = x[lo_y, lo_x] (2^10 - f_y)(2^10 - f_x) + x[hi_y, lo_x] f_y (2^10 - f_x)
        + x[lo_y, hi_x] (2^10 - f_y) f_x     + x[hi_y, hi_x] f_y f_x
    y   = acc > 0 ? (acc + 2^19) / 2^20 : (acc - 2^19) / 2^20   (truncating: to nearest, ties away from 0)

This is TFLite's default (double-rounding build) rounding, the one microflat has (numerics.ROUNDING_MODE).
Along an axis |2^10 - f| + |f| <= 2^11 (f >= -2^9), so the four weights sum to at most 2^22 in magnitude and
|acc| <= 128 * 2^22 = 2^29, as is every partial sum: the kernels compute acc in int32 (TFLite in int64; the
values are the same). Being convex, acc lies in [-128 * 2^20, 127 * 2^20] and y in [-128, 127], so the cast to
int8 is exact. The kernels round without a branch: for acc <= 0, -((2^19 - acc) >> 20) = ceil((acc - 2^19) /
2^20) = (acc + 2^19 - 1) >> 20, so y = (acc + 2^19 - [acc <= 0]) >> 20 (>> floors), one loop over the channels
that vectorizes.

One deviation, where TFLite has no defined result: for large upsampling ratios (in = 1, out = 55 is the
first), the rounded scale_10 makes lo = in at the last rows and TFLite reads one row (or column) past the
input. The kernel reads row in - 1 there (hi is in - 1 too, so that row gets the full weight: the edge
value, what the float definition gives). Wherever TFLite's lo is in range the bytes are TFLite's.

The kernels trust their caller (the wrappers check): sizes in [1, MAX_SIZE], the parameters from
resize_params, every index below 2^31. They never allocate. C twins: resize.c.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types

from . import _checks
from ._copy import copy_elements
from ._dispatch import check_backend, run_kernel
from ._jit import kernel

MAX_SIZE = 2**16
METHODS = ("nearest", "bilinear")

_i32 = types.int32
_v8 = types.int8[::1]


@njit(cache=True, nogil=True)
def _nearest_index(i, in_size, scale, shift, align_corners, half_pixel_centers):
    """GetNearestNeighbor's float32 index for output index i, in int64 (module docstring)."""
    n = (np.int64(2) * i + half_pixel_centers) * scale  # t * m < 2^41
    d = 0
    while (n >> d) >= 16777216:  # 2^24: d = bitlength(n) - 24
        d += 1
    if d > 0:  # float32's rounding of the product: 24 significant bits, ties to even
        q = n >> d
        r = n - (q << d)
        half = np.int64(1) << (d - 1)
        if r > half or (r == half and (q & 1) == 1):
            q += 1
        n = q << d
    if align_corners:
        idx = (n + (np.int64(1) << shift)) >> (shift + 1)
    else:
        idx = n >> (shift + 1)
    if idx > in_size - 1:
        return np.int32(in_size - 1)
    return np.int32(idx)  # <= in_size - 1 < 2^16


@kernel(
    types.void(
        _i32, _i32, _i32, _i32, _i32, _i32,  # batches, input_h, input_w, channels, output_h, output_w
        _i32, _i32,  # align_corners, half_pixel_centers (0 or 1)
        _i32, _i32, _i32, _i32,  # scale_h, shift_h, scale_w, shift_w: the float32 scales, m * 2^-shift
        _v8, _v8,  # input, output
    )
)
def resize_nearest_s8(batches, input_h, input_w, channels, output_h, output_w, align_corners, half_pixel_centers,
                      scale_h, shift_h, scale_w, shift_w, input, output):
    """The jitted kernel; trusts its caller. Parameters from resize_params("nearest", ...)."""
    o = 0
    for b in range(batches):
        for y in range(output_h):
            iy = _nearest_index(y, input_h, scale_h, shift_h, align_corners, half_pixel_centers)
            row = (b * input_h + iy) * input_w
            for x in range(output_w):
                ix = _nearest_index(x, input_w, scale_w, shift_w, align_corners, half_pixel_centers)
                src = (row + ix) * channels
                copy_elements(output[o:o + channels], input[src:src + channels])
                o += channels


@njit(cache=True, nogil=True)
def _bilinear_axis(i, in_size, scale_10, half_pixel_centers):
    """(lo to read, hi, f) of ComputeInterpolationValuesInteger for output index i (module docstring)."""
    s = np.int64(i) * scale_10  # < 2^26 + 2^15
    if half_pixel_centers:
        s += scale_10 // 2 - 512  # scale_10 >= 0: // is C's division
    lo = s >> 10 if s > 0 else np.int64(0)  # max(s / 2^10, 0); s >= -2^9
    hi = (s + 1023) >> 10  # s + 1023 > 0
    if hi > in_size - 1:
        hi = np.int64(in_size - 1)
    f = s - (lo << 10)  # TFLite's weight, from the unclamped lo
    if lo > in_size - 1:  # TFLite reads past the input here; hi = in_size - 1 (module docstring)
        lo = np.int64(in_size - 1)
    return lo, hi, f


@kernel(
    types.void(
        _i32, _i32, _i32, _i32, _i32, _i32,  # batches, input_h, input_w, channels, output_h, output_w
        _i32,  # half_pixel_centers (0 or 1)
        _i32, _i32,  # scale_h, scale_w: TFLite's height_scale_10, width_scale_10
        _v8, _v8,  # input, output
    )
)
def resize_bilinear_s8(batches, input_h, input_w, channels, output_h, output_w, half_pixel_centers,
                       scale_h, scale_w, input, output):
    """The jitted kernel; trusts its caller. Parameters from resize_params("bilinear", ...)."""
    o = 0
    for b in range(batches):
        for y in range(output_h):
            y0, y1, fy = _bilinear_axis(y, input_h, scale_h, half_pixel_centers)
            wy0 = np.int32(1024 - fy)  # (0, 1536]
            wy1 = np.int32(fy)  # [-512, 1024)
            row0 = (b * input_h + y0) * input_w
            row1 = (b * input_h + y1) * input_w
            for x in range(output_w):
                x0, x1, fx = _bilinear_axis(x, input_w, scale_w, half_pixel_centers)
                wx0 = np.int32(1024 - fx)
                wx1 = np.int32(fx)
                w00 = np.int32(wy0 * wx0)  # |w00| + |w10| + |w01| + |w11| <= 2^22
                w10 = np.int32(wy1 * wx0)
                w01 = np.int32(wy0 * wx1)
                w11 = np.int32(wy1 * wx1)
                q00 = input[(row0 + x0) * channels:]
                q10 = input[(row1 + x0) * channels:]
                q01 = input[(row0 + x1) * channels:]
                q11 = input[(row1 + x1) * channels:]
                out = output[o:o + channels]
                for c in range(channels):
                    # |acc| <= 128 * 2^22 = 2^29, every partial sum too: int32, each product cast back to it so
                    # that the loop runs on int32 lanes
                    acc = np.int32(np.int32(np.int32(q00[c]) * w00) + np.int32(np.int32(q10[c]) * w10)
                                   + np.int32(np.int32(q01[c]) * w01) + np.int32(np.int32(q11[c]) * w11))
                    # acc > 0: (acc + 2^19) >> 20; else -((2^19 - acc) >> 20) = (acc + 2^19 - 1) >> 20 (floors)
                    out[c] = np.int8((acc + np.int32(524288) - np.int32(acc <= 0)) >> 20)  # a convex combination
                o += channels


def _flag(fn: str, name: str, value) -> int:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{fn}: {name} must be a bool, got {value!r}")
    return int(bool(value))


def _float32_scale(in_size: int, out_size: int, align_corners: int) -> tuple[int, int]:
    """GetNearestNeighbor's float32 scale as (m, shift): scale = m * 2^-shift exactly, m < 2^24."""
    if align_corners and out_size > 1:
        s = np.float32(in_size - 1) / np.float32(out_size - 1)
    else:
        s = np.float32(in_size) / np.float32(out_size)
    if s == 0:
        return 0, 24
    frac, exp = math.frexp(float(s))  # s = frac * 2^exp, frac in [0.5, 1): 24 significant bits
    return int(frac * 2**24), 24 - exp


def _scale_10(in_size: int, out_size: int, align_corners: int) -> int:
    """ResizeBilinearInteger's 10-bit fixed-point scale (integer division of non-negative numbers)."""
    if align_corners and out_size > 1:
        return ((1 << 10) * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    return ((1 << 10) * in_size + out_size // 2) // out_size


def _params(fn: str, method, input_size, output_size, align_corners, half_pixel_centers) -> dict:
    if method not in METHODS:
        raise ValueError(f"{fn}: method must be one of {METHODS}, got {method!r}")
    in_h, in_w = _checks.pair(fn, "input_size", input_size, 1, MAX_SIZE)
    out_h, out_w = _checks.pair(fn, "output_size", output_size, 1, MAX_SIZE)
    ac = _flag(fn, "align_corners", align_corners)
    hpc = _flag(fn, "half_pixel_centers", half_pixel_centers)
    if ac and hpc:
        raise ValueError(f"{fn}: align_corners and half_pixel_centers cannot both be True (TFLite refuses it)")
    if method == "nearest":
        scale_h, shift_h = _float32_scale(in_h, out_h, ac)
        scale_w, shift_w = _float32_scale(in_w, out_w, ac)
        return dict(align_corners=ac, half_pixel_centers=hpc, scale_h=scale_h, shift_h=shift_h,
                    scale_w=scale_w, shift_w=shift_w)
    return dict(half_pixel_centers=hpc, scale_h=_scale_10(in_h, out_h, ac), scale_w=_scale_10(in_w, out_w, ac))


def resize_params(method: str, input_size, output_size, *, align_corners=False, half_pixel_centers=False) -> dict:
    """The op parameters of resize_nearest_s8 (method "nearest") or resize_bilinear_s8 ("bilinear"), by
    argument name, from the sizes (in_h, in_w) and (out_h, out_w) and the two options (load time).

    nearest:  dict(align_corners, half_pixel_centers, scale_h, shift_h, scale_w, shift_w), each float32
              scale as m * 2^-shift; bilinear: dict(half_pixel_centers, scale_h, scale_w), the 10-bit scales.
    """
    return _params("resize_params", method, input_size, output_size, align_corners, half_pixel_centers)


def _resize(fn: str, method: str, kernel, input, output_size, align_corners, half_pixel_centers, backend):
    check_backend(fn, backend)
    x = _checks.array(fn, "input", input, np.int8, 4)
    n, h, w, c = x.shape
    if min(x.shape) < 1:
        raise ValueError(f"{fn}: input {x.shape} must have no empty dimension")
    if h > MAX_SIZE or w > MAX_SIZE:
        raise ValueError(f"{fn}: input height and width must be at most {MAX_SIZE}, got {h} x {w}")
    params = _params(fn, method, (h, w), output_size, align_corners, half_pixel_centers)
    out_h, out_w = _checks.pair(fn, "output_size", output_size, 1, MAX_SIZE)
    if n * out_h * out_w * c >= 2**31:
        raise ValueError(f"{fn}: output_size {(out_h, out_w)} gives {n * out_h * out_w * c} output elements, "
                         f"more than int32 indexing allows")
    out = np.empty((n, out_h, out_w, c), dtype=np.int8)
    run_kernel(backend, kernel, batches=n, input_h=h, input_w=w, channels=c, output_h=out_h, output_w=out_w,
               **params, input=x.reshape(-1), output=out.reshape(-1))
    return out


def resize_nearest(input: np.ndarray, output_size, *, align_corners=False, half_pixel_centers=False,
                   backend: str = "numba") -> np.ndarray:
    """TFLite's int8 RESIZE_NEAREST_NEIGHBOR of an NHWC tensor to output_size = (out_h, out_w).

    The output shares the input's quantization; align_corners and half_pixel_centers not both True."""
    return _resize("resize_nearest", "nearest", resize_nearest_s8, input, output_size, align_corners,
                   half_pixel_centers, backend)


def resize_bilinear(input: np.ndarray, output_size, *, align_corners=False, half_pixel_centers=False,
                    backend: str = "numba") -> np.ndarray:
    """TFLite's int8 RESIZE_BILINEAR (ResizeBilinearInteger) of an NHWC tensor to output_size = (out_h, out_w).

    The output shares the input's quantization; align_corners and half_pixel_centers not both True."""
    return _resize("resize_bilinear", "bilinear", resize_bilinear_s8, input, output_size, align_corners,
                   half_pixel_centers, backend)
