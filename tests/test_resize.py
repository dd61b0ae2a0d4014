"""int8 RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR: Numba equals a reference written here from TFLite's
definitions, C equals Numba byte for byte, and both lie where float64 says they should.

The references never import microflat:
  nearest   GetNearestNeighbor (reference/resize_nearest_neighbor.h) in numpy float32, as TFLite computes
            it: the float32 scale, one float32 product, floor (or std::round, half away from zero).
  bilinear  ResizeBilinearInteger (reference/resize_bilinear.h) in Python integers: the 10-bit scale, C's
            truncating division, the int64 weighted sum rounded half away from zero (TFLite's default,
            double-rounding build). Where TFLite reads past the input (lower index = input size, only for
            upsampling ratios of about 55 and more) the reference reads the last row, as microflat does.
Sizes 1..9 in and out (up- and downsampling, non-integer ratios), batch 1..2, channels 1..5, and the three
option pairs TFLite allows (align_corners and half_pixel_centers both True is refused).
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from microflat.testing.layer_cases import int8_array
from microflat import kernels as k
from microflat.kernels import kernel_args

OPTIONS = [(False, False), (True, False), (False, True)]  # (align_corners, half_pixel_centers)


# ---------------------------------------------------------------- references (TFLite's definitions)

def tflite_nearest_index(i: int, in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool) -> int:
    if align_corners and out_size > 1:
        scale = np.float32(in_size - 1) / np.float32(out_size - 1)
    else:
        scale = np.float32(in_size) / np.float32(out_size)
    offset = np.float32(0.5) if half_pixel_centers else np.float32(0.0)
    v = (np.float32(i) + offset) * scale
    assert v.dtype == np.float32
    v = float(v)  # exact; the float64 arithmetic below is exact on it
    if align_corners:
        f = math.floor(v)
        idx = f + 1 if v - f >= 0.5 else f  # std::round: half away from zero (v >= 0)
    else:
        idx = math.floor(v)
    idx = min(idx, in_size - 1)
    return max(0, idx) if half_pixel_centers else idx


def ref_nearest(x, out_h, out_w, align_corners, half_pixel_centers):
    n, in_h, in_w, c = x.shape
    rows = [tflite_nearest_index(y, in_h, out_h, align_corners, half_pixel_centers) for y in range(out_h)]
    cols = [tflite_nearest_index(i, in_w, out_w, align_corners, half_pixel_centers) for i in range(out_w)]
    return x[:, rows][:, :, cols]


def c_div(a: int, b: int) -> int:
    """C's integer division: truncates toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def tflite_scale_10(in_size, out_size, align_corners):
    if align_corners and out_size > 1:
        return c_div((1 << 10) * (in_size - 1) + c_div(out_size - 1, 2), out_size - 1)
    return c_div((1 << 10) * in_size + c_div(out_size, 2), out_size)


def tflite_interpolation_values(i, scale_10, half_pixel_centers, in_size):
    """ComputeInterpolationValuesInteger: (scaled value, lower, upper)."""
    s = i * scale_10 + (c_div(scale_10, 2) - (1 << 9) if half_pixel_centers else 0)
    lower = max(c_div(s, 1 << 10), 0)
    upper = min(c_div(s + (1 << 10) - 1, 1 << 10), in_size - 1)
    return s, lower, upper


def ref_bilinear(x, out_h, out_w, align_corners, half_pixel_centers):
    n, in_h, in_w, c = x.shape
    xs = x.astype(np.int64)
    out = np.zeros((n, out_h, out_w, c), np.int64)
    sh, sw = tflite_scale_10(in_h, out_h, align_corners), tflite_scale_10(in_w, out_w, align_corners)
    for y in range(out_h):
        iy, y0, y1 = tflite_interpolation_values(y, sh, half_pixel_centers, in_h)
        for xx in range(out_w):
            ix, x0, x1 = tflite_interpolation_values(xx, sw, half_pixel_centers, in_w)
            fy, fx = iy - (1 << 10) * y0, ix - (1 << 10) * x0
            r0, c0 = min(y0, in_h - 1), min(x0, in_w - 1)  # TFLite would read past the input (never at 1..9)
            for b in range(n):
                for ch in range(c):
                    acc = (int(xs[b, r0, c0, ch]) * ((1 << 10) - fy) * ((1 << 10) - fx)
                           + int(xs[b, y1, c0, ch]) * fy * ((1 << 10) - fx)
                           + int(xs[b, r0, x1, ch]) * ((1 << 10) - fy) * fx
                           + int(xs[b, y1, x1, ch]) * fy * fx)
                    rnd = (1 << 19) if acc > 0 else -(1 << 19)
                    out[b, y, xx, ch] = c_div(acc + rnd, 1 << 20)
    assert out.min() >= -128 and out.max() <= 127
    return out.astype(np.int8)


# ---------------------------------------------------------------- cases

@st.composite
def cases(draw, max_size=9, max_batch=2, max_channels=5):
    n = draw(st.integers(1, max_batch))
    in_h, in_w = draw(st.integers(1, max_size)), draw(st.integers(1, max_size))
    out_h, out_w = draw(st.integers(1, max_size)), draw(st.integers(1, max_size))
    c = draw(st.integers(1, max_channels))
    ac, hpc = draw(st.sampled_from(OPTIONS))
    return int8_array(draw, (n, in_h, in_w, c)), (out_h, out_w), ac, hpc


def _run_both(fn, x, size, ac, hpc):
    got = fn(x, size, align_corners=ac, half_pixel_centers=hpc, backend="numba")
    got_c = fn(x, size, align_corners=ac, half_pixel_centers=hpc, backend="c")
    assert got.dtype == np.int8 and got.shape == (x.shape[0], *size, x.shape[3])
    assert got_c.shape == got.shape and got_c.tobytes() == got.tobytes()
    return got


@given(case=cases())
def test_nearest_numba_equals_reference_and_c_equals_numba(case):
    x, size, ac, hpc = case
    got = _run_both(k.resize_nearest, x, size, ac, hpc)
    np.testing.assert_array_equal(got, ref_nearest(x, *size, ac, hpc))


@given(case=cases())
def test_bilinear_numba_equals_reference_and_c_equals_numba(case):
    x, size, ac, hpc = case
    got = _run_both(k.resize_bilinear, x, size, ac, hpc)
    np.testing.assert_array_equal(got, ref_bilinear(x, *size, ac, hpc))


# Larger sizes: the float32 rounding of GetNearestNeighbor (first seen at 22 <-> 26) and the bilinear rows
# that TFLite would read past the input (first at 1 -> 55) only appear beyond 9.
@given(case=cases(max_size=80, max_batch=1, max_channels=2))
def test_large_sizes_numba_equals_reference_and_c_equals_numba(case):
    x, size, ac, hpc = case
    np.testing.assert_array_equal(_run_both(k.resize_nearest, x, size, ac, hpc), ref_nearest(x, *size, ac, hpc))
    np.testing.assert_array_equal(_run_both(k.resize_bilinear, x, size, ac, hpc), ref_bilinear(x, *size, ac, hpc))


@pytest.mark.parametrize("in_size, out_size, ac, hpc, i, want", [
    (26, 22, False, False, 11, 12),  # 11 * 26 / 22 = 13 exactly; float32 gives 12.999999
    (6, 37, False, True, 18, 2),  # 18.5 * 6 / 37 = 3 exactly; float32 gives 2.9999998
    (14, 23, True, False, 11, 6),  # 11 * 13 / 22 = 6.5 exactly; float32 gives 6.4999995, rounded to 6
    # The product's own float32 rounding: float32(2 / 25) is below 0.08, so 12.5 times it is below 1, but
    # float32 rounds that product up to 1.0 (without that rounding the index would be 0); likewise
    # 25 * float32(2 / 50) and 25 * float32(1 / 50) (align_corners: 0.5, rounded half away to 1).
    (2, 25, False, True, 12, 1),
    (2, 50, False, False, 25, 1),
    (2, 51, True, False, 25, 1),
])
@pytest.mark.parametrize("backend", ["numba", "c"])
def test_nearest_follows_float32_not_the_exact_ratio(in_size, out_size, ac, hpc, i, want, backend):
    """TFLite's index is float32 arithmetic: where the exact ratio lands on an integer (or a half), float32
    may fall just below it, and TFLite (LiteRT's reference kernels and TFLM agree) takes the lower row."""
    assert tflite_nearest_index(i, in_size, out_size, ac, hpc) == want
    x = np.arange(in_size, dtype=np.int8).reshape(1, in_size, 1, 1)
    got = k.resize_nearest(x, (out_size, 1), align_corners=ac, half_pixel_centers=hpc, backend=backend)
    assert got[0, i, 0, 0] == want
    np.testing.assert_array_equal(got, ref_nearest(x, out_size, 1, ac, hpc))
    xt = x.reshape(1, 1, in_size, 1)
    got_w = k.resize_nearest(xt, (1, out_size), align_corners=ac, half_pixel_centers=hpc, backend=backend)
    np.testing.assert_array_equal(got_w.reshape(-1), got.reshape(-1))


@pytest.mark.parametrize("backend", ["numba", "c"])
def test_bilinear_reads_the_last_row_where_tflite_reads_past_the_input(backend):
    # in 1, out 55: scale_10 = (1024 + 27) / 55 = 19 and 54 * 19 = 1026, so TFLite's lower index at the last
    # row is 1026 / 1024 = 1, one past the input. The kernel reads row 0, which gets the full weight.
    assert tflite_interpolation_values(54, tflite_scale_10(1, 55, False), False, 1)[1] == 1
    x = np.array([-128, 127, 5], np.int8).reshape(1, 1, 1, 3)
    got = k.resize_bilinear(x, (55, 55), backend=backend)
    np.testing.assert_array_equal(got, np.broadcast_to(x, (1, 55, 55, 3)))


# ---------------------------------------------------------------- against float64

@given(case=cases())
def test_nearest_2x_upsampling_is_repeat(case):
    # half_pixel_centers False, out = 2 * in. align_corners False: scale = 1/2 exactly in float32, so
    # index = floor(i / 2). align_corners True: scale = (n - 1) / (2n - 1); for i = 2j, i * scale =
    # j - j / (2n - 1) lies in (j - 1/2, j], and for i = 2j + 1 it is j + (n - 1 - j) / (2n - 1) with
    # 0 <= (n - 1 - j) / (2n - 1) < 1/2: both round to j = floor(i / 2). The margins, at least
    # 1 / (2 (2n - 1)) >= 1/34 from a half for n <= 9, dwarf float32's relative error (2^-23).
    x, _, ac, _ = case
    n, h, w, c = x.shape
    want = np.repeat(np.repeat(x, 2, axis=1), 2, axis=2)
    for backend in ("numba", "c"):
        np.testing.assert_array_equal(
            k.resize_nearest(x, (2 * h, 2 * w), align_corners=ac, half_pixel_centers=False, backend=backend), want)


def float64_bilinear(x, positions_h, positions_w):
    """Bilinear interpolation of x's values at real positions, each clamped to [0, size - 1]."""
    n, in_h, in_w, c = x.shape
    v = x.astype(np.float64)
    out = np.empty((n, len(positions_h), len(positions_w), c))
    for a, p in enumerate(positions_h):
        p = min(max(p, 0.0), in_h - 1.0)
        y0 = min(int(math.floor(p)), in_h - 1)
        y1, fy = min(y0 + 1, in_h - 1), p - y0
        for b, q in enumerate(positions_w):
            q = min(max(q, 0.0), in_w - 1.0)
            x0 = min(int(math.floor(q)), in_w - 1)
            x1, fx = min(x0 + 1, in_w - 1), q - x0
            out[:, a, b] = ((1 - fy) * ((1 - fx) * v[:, y0, x0] + fx * v[:, y0, x1])
                            + fy * ((1 - fx) * v[:, y1, x0] + fx * v[:, y1, x1]))
    return out


def _positions(out_size, scale, hpc):
    return [(i + 0.5) * scale - 0.5 if hpc else i * scale for i in range(out_size)]


@given(case=cases())
def test_bilinear_within_1_of_float64_at_tflite_scale(case):
    # The float definition (positions i * scale, or (i + 1/2) scale - 1/2 with half_pixel_centers, clamped to
    # the input, bilinear in between) at TFLite's 10-bit scale, scale_10 / 2^10. The kernel's acc / 2^20 is
    # exactly that interpolation at its own positions s / 2^10 (weights 2^10 - f and f along each axis; where
    # lower = upper both weights fall on one value, the clamp), and those differ from the float positions only
    # by the truncation of scale_10 / 2 with half_pixel_centers: at most 1/2 / 2^10 of a pixel per axis. The
    # interpolation is 255-Lipschitz along each axis (neighbouring int8 values differ by at most 255), and
    # rounding acc / 2^20 to an integer moves it at most 1/2, so
    #     |y - float64| <= 1/2 + 2 * 255 * (1/2) / 2^10 < 0.75 <= 1.
    x, (out_h, out_w), ac, hpc = case
    got = k.resize_bilinear(x, (out_h, out_w), align_corners=ac, half_pixel_centers=hpc)
    n, in_h, in_w, c = x.shape
    sh, sw = tflite_scale_10(in_h, out_h, ac) / 1024, tflite_scale_10(in_w, out_w, ac) / 1024
    want = float64_bilinear(x, _positions(out_h, sh, hpc), _positions(out_w, sw, hpc))
    assert np.abs(got - want).max() <= 0.75


@given(case=cases())
def test_bilinear_within_derived_bound_of_float64_at_the_exact_ratio(case):
    # Against the exact scale in / out (or (in - 1) / (out - 1)): scale_10 rounds 2^10 * scale to nearest, so
    # it is off by at most 1/2, and output index i's position by at most i / 2 units of 2^-10, plus 1/2 (the
    # truncated scale_10 / 2) + 1/4 (scale_10 / 2 against 2^9 * scale) with half_pixel_centers. Clamping
    # does not increase a distance, so with the 255-Lipschitz interpolation and the final rounding:
    #     |y - float64| <= 1/2 + 255 * (d_h + d_w),   d = ((out - 1) / 2 + 3/4) / 2^10.
    # (Up to 2.9 at sizes 9: within 1 holds at TFLite's own scale, the test above, not at the exact ratio.)
    x, (out_h, out_w), ac, hpc = case
    got = k.resize_bilinear(x, (out_h, out_w), align_corners=ac, half_pixel_centers=hpc)
    n, in_h, in_w, c = x.shape

    def exact_scale(i, o):
        return (i - 1) / (o - 1) if ac and o > 1 else i / o

    want = float64_bilinear(x, _positions(out_h, exact_scale(in_h, out_h), hpc),
                            _positions(out_w, exact_scale(in_w, out_w), hpc))
    d = [((o - 1) / 2 + 0.75) / 1024 for o in (out_h, out_w)]
    assert np.abs(got - want).max() <= 0.5 + 255 * (d[0] + d[1]) + 1e-9


# ---------------------------------------------------------------- parameters and argument checks

@pytest.mark.parametrize("method, kernel", [("nearest", k.resize_nearest_s8), ("bilinear", k.resize_bilinear_s8)])
@pytest.mark.parametrize("ac, hpc", OPTIONS)
def test_params_name_the_kernel_arguments(method, kernel, ac, hpc):
    params = k.resize_params(method, (7, 3), (4, 9), align_corners=ac, half_pixel_centers=hpc)
    names = [p.name for p in kernel_args.parameters(kernel)]
    dims = ["batches", "input_h", "input_w", "channels", "output_h", "output_w"]
    assert names == dims + list(params) + ["input", "output"]
    assert all(isinstance(v, int) and -2**31 <= v < 2**31 for v in params.values())


def test_params_nearest_scale_is_the_float32_scale_exactly():
    for (i, o, ac) in [(26, 22, False), (1, 5, True), (5, 1, True), (65536, 1, False), (1, 65536, False),
                       (7, 3, True), (3, 7, False)]:
        p = k.resize_params("nearest", (i, 1), (o, 1), align_corners=ac)
        want = np.float32(i - 1) / np.float32(o - 1) if ac and o > 1 else np.float32(i) / np.float32(o)
        assert p["scale_h"] < 2**24
        assert math.ldexp(p["scale_h"], -p["shift_h"]) == float(want)


def test_params_bilinear_scale_is_tflites():
    for (i, o, ac) in [(3, 7, False), (3, 7, True), (9, 2, False), (9, 1, True), (1, 55, False)]:
        p = k.resize_params("bilinear", (i, i), (o, o), align_corners=ac)
        assert p["scale_h"] == p["scale_w"] == tflite_scale_10(i, o, ac)


@pytest.mark.parametrize("fn", [k.resize_nearest, k.resize_bilinear])
def test_both_options_true_is_refused(fn):
    x = np.zeros((1, 2, 2, 1), np.int8)
    with pytest.raises(ValueError, match="align_corners and half_pixel_centers"):
        fn(x, (3, 3), align_corners=True, half_pixel_centers=True)
    with pytest.raises(ValueError, match="align_corners and half_pixel_centers"):
        k.resize_params("bilinear", (2, 2), (3, 3), align_corners=True, half_pixel_centers=True)


@pytest.mark.parametrize("fn", [k.resize_nearest, k.resize_bilinear])
@pytest.mark.parametrize("args, kwargs, name", [
    ((np.zeros((1, 2, 2, 1), np.float32), (3, 3)), {}, "input"),
    ((np.zeros((2, 2, 1), np.int8), (3, 3)), {}, "input"),
    ((np.zeros((1, 0, 2, 1), np.int8), (3, 3)), {}, "input"),
    ((np.zeros((1, 2, 2, 1), np.int8), (0, 3)), {}, "output_size"),
    ((np.zeros((1, 2, 2, 1), np.int8), (3, 2**16 + 1)), {}, "output_size"),
    ((np.zeros((1, 2, 2, 1), np.int8), (3, 3, 3)), {}, "output_size"),
    ((np.zeros((1, 2, 2, 1), np.int8), (3, 3)), {"align_corners": 1}, "align_corners"),
    ((np.zeros((1, 2, 2, 1), np.int8), (3, 3)), {"half_pixel_centers": "yes"}, "half_pixel_centers"),
    ((np.zeros((1, 2, 2, 1), np.int8), (3, 3)), {"backend": "cuda"}, "backend"),
])
def test_bad_arguments_are_refused_naming_them(fn, args, kwargs, name):
    with pytest.raises(ValueError, match=name):
        fn(*args, **kwargs)


def test_resize_params_refuses_an_unknown_method():
    with pytest.raises(ValueError, match="method"):
        k.resize_params("bicubic", (2, 2), (3, 3))
