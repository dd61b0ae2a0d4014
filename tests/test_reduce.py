"""int8 MEAN, SUM and REDUCE_MAX over any axes: Numba equals an int64 reference written here from TFLite's
integer QuantizedMeanOrSum, C equals Numba byte for byte, the mean is close to the float mean, and bad
arguments are refused.

Inputs of rank 1 to 5 with sizes 1..6, -128 and 127 always present; any non-empty set of axes, drawn with
negative indices and repeats (TFLite's ResolveAxis), keep_dims either way; zero points, multipliers and
shifts from layer_cases, extremes included. The kernels are also run directly on the unmerged padded walk
(reduce_params merges it), so their general five-dimension path is held to the same reference.

Float bound (the mean). With a = sum over the reduced elements of (x - z_in), N their number,
M = s_in / s_out, and r = max(k - shift, 0) the final right shift (k the fold's min(floor(log2 N), 32,
31 + shift)):

    |s_out (y - z_out) - clamp(mean of s_in (x - z_in))| <= s_out (1/2 + 2^-(r+1) + 2^-28 |a| M / N)

The clamp is to the output's range [s_out (-128 - z_out), s_out (127 - z_out)] (clamping never widens a
difference). 1/2 + 2^-(r+1): the two roundings of multiply_by_quantized_multiplier (the first rounds to
2^-r of a step, the second to a step). 2^-28: the relative error of the applied multiplier,
mult' 2^(shift' - 31) against M / N: at most 2^-31 from quantize_multiplier and below
N / (mult 2^k) <= 2 / 2^30 from the fold's floor (mult >= 2^30, 2^k > N / 2 when k is not clamped; the
scales drawn keep it unclamped and the left shift unsaturated). The sum has the same bound with N = 1 and
no fold (relative error 2^-31; 2^-30 is used).
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from microflat.testing.int_reference import multiply_by_quantized_multiplier, quantize_multiplier_exact
from microflat.testing.layer_cases import int8_array, mults, shifts, zero_points
from microflat import kernels as k
from microflat.kernels import native

MAX_ELEMENTS = (2**31 - 1) // 255


# ---------------------------------------------------------------------------
# The reference: TFLite's definitions in int64 numpy
# ---------------------------------------------------------------------------


def resolve(axes, ndim):
    return tuple(sorted({a + ndim if a < 0 else a for a in axes}))


def fold(mult, shift, n):
    """QuantizedMeanOrSum's 1/N: k = min(63 - clz64(N), 32, 31 + shift); (mult << k) / N; shift - k."""
    log2 = 0
    while (2 << log2) <= n:
        log2 += 1
    kk = min(log2, 32, 31 + shift)
    return (mult * 2**kk) // n, shift - kk


def ref_sum_like(x, axes, keep_dims, input_zp, output_zp, mult, shift, mean):
    """temp_sum (the raw int sum), minus z_in * N, multiply_by_quantized_multiplier, + z_out, clamp."""
    ax = resolve(axes, x.ndim)
    n = math.prod(x.shape[a] for a in ax)
    temp_sum = x.astype(np.int64).sum(axis=ax, keepdims=keep_dims)
    shifted = temp_sum - np.int64(input_zp) * n
    if mean:
        mult, shift = fold(mult, shift, n)
    return np.clip(multiply_by_quantized_multiplier(shifted, mult, shift) + output_zp, -128, 127).astype(np.int8)


def ref_max(x, axes, keep_dims):
    return x.max(axis=resolve(axes, x.ndim), keepdims=keep_dims)


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------


@st.composite
def shapes_and_axes(draw):
    ndim = draw(st.integers(1, 5))
    shape = tuple(draw(st.integers(1, 6)) for _ in range(ndim))
    chosen = sorted(draw(st.sets(st.integers(0, ndim - 1), min_size=1)))
    axes = [a - ndim if draw(st.booleans()) else a for a in chosen]  # some counted from the end
    if draw(st.booleans()):
        axes.append(draw(st.sampled_from(chosen)))  # a repeat, which TFLite ignores
    axes = draw(st.permutations(axes))
    return shape, axes


@st.composite
def cases(draw):
    shape, axes = draw(shapes_and_axes())
    x = int8_array(draw, shape)
    q = dict(input_zp=draw(zero_points), output_zp=draw(zero_points), mult=draw(mults), shift=draw(shifts))
    return x, axes, draw(st.booleans()), q


def _check_both_backends(fn, x, axes, keep_dims, want, **q):
    got = fn(x, axes, keep_dims=keep_dims, backend="numba", **q)
    assert got.dtype == np.int8 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    got_c = fn(x, axes, keep_dims=keep_dims, backend="c", **q)
    assert got_c.shape == got.shape and got_c.tobytes() == got.tobytes()


@given(case=cases())
def test_mean_numba_equals_reference_and_c_equals_numba(case):
    x, axes, keep_dims, q = case
    _check_both_backends(k.reduce_mean, x, axes, keep_dims, ref_sum_like(x, axes, keep_dims, **q, mean=True), **q)


@given(case=cases())
def test_sum_numba_equals_reference_and_c_equals_numba(case):
    x, axes, keep_dims, q = case
    _check_both_backends(k.reduce_sum, x, axes, keep_dims, ref_sum_like(x, axes, keep_dims, **q, mean=False), **q)


@given(case=cases())
def test_max_numba_equals_reference_and_c_equals_numba(case):
    x, axes, keep_dims, _ = case
    _check_both_backends(k.reduce_max, x, axes, keep_dims, ref_max(x, axes, keep_dims))


@given(case=cases())
def test_kernels_on_the_unmerged_walk(case):
    """The padded shape and the plain mask, no merging: every run pattern the kernels can meet."""
    x, axes, keep_dims, q = case
    ax = resolve(axes, x.ndim)
    pad = 5 - x.ndim
    input_shape = np.array([1] * pad + list(x.shape), np.int32)
    reduce_mask = np.array([0] * pad + [1 if d in ax else 0 for d in range(x.ndim)], np.int32)
    want_sum = ref_sum_like(x, axes, False, **q, mean=False).reshape(-1)
    outputs = want_sum.size
    flat = x.reshape(-1)
    for name in ("reduce_mean_s8", "reduce_sum_s8"):  # the same arithmetic: (mult, shift) passed as given
        out = np.full(outputs, 99, np.int8)
        scratch = np.full(outputs, 12345, np.int32)  # stale contents must not matter
        getattr(k, name)(scratch, input_shape, reduce_mask, q["input_zp"], q["output_zp"], q["mult"], q["shift"],
                         flat, out)
        np.testing.assert_array_equal(out, want_sum)
        out_c = np.full(outputs, 99, np.int8)
        native.call("mf_" + name, np.full(outputs, 12345, np.int32), input_shape, reduce_mask, q["input_zp"],
                    q["output_zp"], q["mult"], q["shift"], flat, out_c)
        assert out_c.tobytes() == out.tobytes()
    out = np.full(outputs, 99, np.int8)
    k.reduce_max_s8(input_shape, reduce_mask, flat, out)
    np.testing.assert_array_equal(out, ref_max(x, axes, False).reshape(-1))
    out_c = np.full(outputs, 99, np.int8)
    native.call("mf_reduce_max_s8", input_shape, reduce_mask, flat, out_c)
    assert out_c.tobytes() == out.tobytes()


# ---------------------------------------------------------------------------
# Parameter helpers
# ---------------------------------------------------------------------------


@given(case=shapes_and_axes(), keep_dims=st.booleans())
def test_reduce_params_describe_the_same_reduction(case, keep_dims):
    shape, axes = case
    input_shape, reduce_mask, n, out_shape = k.reduce_params(shape, axes, keep_dims)
    assert input_shape.dtype == np.int32 and reduce_mask.dtype == np.int32
    assert input_shape.shape == reduce_mask.shape == (5,)
    assert set(reduce_mask.tolist()) <= {0, 1}
    ax = resolve(axes, len(shape))
    assert int(np.prod(input_shape)) == math.prod(shape)
    assert n == math.prod(shape[a] for a in ax) == int(np.prod(input_shape[reduce_mask == 1]))
    assert math.prod(out_shape) == int(np.prod(input_shape[reduce_mask == 0]))
    assert out_shape == np.sum(np.zeros(shape), axis=ax, keepdims=keep_dims).shape
    runs = [m for s, m in zip(input_shape.tolist(), reduce_mask.tolist()) if s > 1]
    assert all(a != b for a, b in zip(runs, runs[1:])), "neighbouring runs of one kind are merged"


def test_reduce_params_merge_and_pad():
    # NHWC mean over H, W: [N, H * W, C] with H * W reduced.
    s, m, n, out = k.reduce_params((2, 3, 4, 5), (1, 2), keep_dims=True)
    assert s.tolist() == [1, 1, 2, 12, 5] and m.tolist() == [0, 0, 0, 1, 0] and n == 12 and out == (2, 1, 1, 5)
    # Axes 0 and 2 of a 3-D tensor: not an [outer, reduced, inner] split.
    s, m, n, out = k.reduce_params((2, 3, 4), (0, -1))
    assert s.tolist() == [1, 1, 2, 3, 4] and m.tolist() == [0, 0, 1, 0, 1] and n == 8 and out == (3,)
    # Everything reduced, size-1 dimensions dropped: a 0-D result.
    s, m, n, out = k.reduce_params((1, 6, 1, 7), (0, 1, 2, 3))
    assert s.tolist() == [1, 1, 1, 1, 42] and m.tolist() == [0, 0, 0, 0, 1] and n == 42 and out == ()


@given(s_in=st.floats(1e-6, 10.0), ratio=st.floats(1e-9, 1e6), n=st.integers(1, MAX_ELEMENTS),
       zi=zero_points, zo=zero_points)
def test_mean_and_sum_params_follow_tflite_prepare_and_eval(s_in, ratio, n, zi, zo):
    s_out = s_in / ratio
    mult, shift = quantize_multiplier_exact(s_in / s_out)  # PrepareMeanOrSum's double division
    assert k.reduce_sum_params(s_in, zi, s_out, zo) == dict(input_zp=zi, output_zp=zo, mult=mult, shift=shift)
    fm, fs = fold(mult, shift, n)
    assert k.reduce_mean_params(s_in, zi, s_out, zo, n) == dict(input_zp=zi, output_zp=zo, mult=fm, shift=fs)
    assert 0 <= fm < 2**31 and -31 <= fs <= 30


@given(mult=mults, shift=shifts, n=st.integers(1, MAX_ELEMENTS))
def test_fold_stays_in_the_multiplier_domain(mult, shift, n):
    fm, fs = k.fold_mean_multiplier(mult, shift, n)
    assert (fm, fs) == fold(mult, shift, n)
    assert 0 <= fm <= mult and -31 <= fs <= shift


def test_scratch_bytes_c_equals_python():
    for outputs in (1, 7, 1000, 2**31 - 1):
        assert k.reduce_s8_scratch_bytes(outputs) == 4 * outputs == native.call("mf_reduce_s8_scratch_bytes", outputs)


# ---------------------------------------------------------------------------
# Against float
# ---------------------------------------------------------------------------


@st.composite
def float_cases(draw):
    shape, axes = draw(shapes_and_axes())
    x = int8_array(draw, shape)
    s_in = draw(st.floats(1e-3, 1.0))
    ratio = draw(st.floats(2.0**-6, 8.0))  # M = s_in / s_out: shift in [-5, 4], the fold unclamped
    return x, axes, draw(st.booleans()), s_in, s_in / ratio, draw(zero_points), draw(zero_points)


@pytest.mark.parametrize("op", ["mean", "sum"])
@given(case=float_cases())
def test_dequantized_result_is_within_the_derived_bound_of_the_float_result(op, case):
    x, axes, keep_dims, s_in, s_out, zi, zo = case
    p = k.reduce_sum_params(s_in, zi, s_out, zo)  # (mult, shift) of s_in / s_out; reduce_mean folds 1/N
    fn = k.reduce_mean if op == "mean" else k.reduce_sum
    y = fn(x, axes, keep_dims=keep_dims, **p)
    ax = resolve(axes, x.ndim)
    n = math.prod(x.shape[a] for a in ax)
    a = np.abs((x.astype(np.int64) - zi).sum(axis=ax, keepdims=keep_dims)).astype(np.float64)
    real = (s_in * (x.astype(np.float64) - zi)).sum(axis=ax, keepdims=keep_dims)
    m = s_in / s_out
    mult, shift = quantize_multiplier_exact(m)
    if op == "mean":
        real = real / n
        fold_k = min(n.bit_length() - 1, 32, 31 + shift)
        r = max(fold_k - shift, 0)
        steps = 0.5 + 2.0 ** -(r + 1) + 2.0**-28 * a * m / n
    else:
        r = max(-shift, 0)
        steps = 0.5 + 2.0 ** -(r + 1) + 2.0**-30 * a * m
    want = np.clip(real, s_out * (-128 - zo), s_out * (127 - zo))
    got = s_out * (y.astype(np.float64) - zo)
    slack = 1e-9 * (np.abs(want) + s_out)  # float64 rounding in the reference itself
    assert np.all(np.abs(got - want) <= s_out * steps + slack), (got, want, s_out * steps)


# ---------------------------------------------------------------------------
# Behaviour and refusals
# ---------------------------------------------------------------------------


@given(shape_axes=shapes_and_axes(), c=st.integers(-128, 127), zp=zero_points, keep_dims=st.booleans())
def test_mean_of_a_constant_at_equal_quantization_is_the_constant(shape_axes, c, zp, keep_dims):
    shape, axes = shape_axes
    x = np.full(shape, c, np.int8)
    p = k.reduce_sum_params(0.05, zp, 0.05, zp)
    assert (p["mult"], p["shift"]) == (2**30, 1)
    y = k.reduce_mean(x, axes, keep_dims=keep_dims, **p)
    assert np.all(y == c)


def test_max_has_no_element_limit():
    x = np.zeros(MAX_ELEMENTS + 1, np.int8)
    x[-1] = 5
    assert k.reduce_max(x, 0).item() == 5


Q = dict(input_zp=0, output_zp=0, mult=2**30, shift=1)


@pytest.mark.parametrize("fn", [k.reduce_mean, k.reduce_sum])
def test_refuses_a_sum_that_could_overflow_naming_the_count(fn):
    x = np.zeros((2, MAX_ELEMENTS + 1), np.int8)
    name = fn.__name__
    with pytest.raises(ValueError, match=f"{name}: the reduction sums {MAX_ELEMENTS + 1} input elements"):
        fn(x, 1, **Q)
    fn(np.zeros((1, MAX_ELEMENTS), np.int8), 1, **Q)  # at the limit: accepted


X = np.zeros((2, 3, 4), np.int8)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: k.reduce_mean(X, [], **Q), "reduce_mean: axes must name at least one dimension"),
        (lambda: k.reduce_mean(X, 3, **Q), r"reduce_mean: axes\[0\] must be in \[-3, 2\], got 3"),
        (lambda: k.reduce_sum(X, (0, -4), **Q), r"reduce_sum: axes\[1\] must be in \[-3, 2\], got -4"),
        (lambda: k.reduce_max(X, [0.5]), r"reduce_max: axes\[0\] must be an integer"),
        (lambda: k.reduce_max(X, "0"), "reduce_max: axes must be an integer or a sequence"),
        (lambda: k.reduce_max(X.astype(np.int16), 0), "reduce_max: input must have dtype int8"),
        (lambda: k.reduce_max(X.tolist(), 0), "reduce_max: input must be a numpy array"),
        (lambda: k.reduce_max(np.zeros((), np.int8), []), "reduce_max: input must have 1 to 5"),
        (lambda: k.reduce_max(np.zeros((1,) * 6, np.int8), 0), "reduce_max: input must have 1 to 5"),
        (lambda: k.reduce_max(np.zeros((2, 0), np.int8), 0), "reduce_max: input .* must have no empty dimension"),
        (lambda: k.reduce_max(X, 0, keep_dims=1), "reduce_max: keep_dims must be a bool"),
        (lambda: k.reduce_max(X, 0, backend="gpu"), "reduce_max: backend must be one of"),
        (lambda: k.reduce_mean(X, 0, **{**Q, "input_zp": 128}), "reduce_mean: input_zp must be in"),
        (lambda: k.reduce_mean(X, 0, **{**Q, "output_zp": -129}), "reduce_mean: output_zp must be in"),
        (lambda: k.reduce_sum(X, 0, **{**Q, "mult": 2**31}), "reduce_sum: mult must be in"),
        (lambda: k.reduce_sum(X, 0, **{**Q, "shift": 31}), "reduce_sum: shift must be in"),
        (lambda: k.reduce_sum_params(0.0, 0, 1.0, 0), "reduce_sum_params: input_scale must be finite and > 0"),
        (lambda: k.reduce_sum_params(1.0, 0, float("nan"), 0), "reduce_sum_params: output_scale must be finite"),
        (lambda: k.reduce_sum_params(1.0, 0, 1e-12, 0), "reduce_sum_params: input_scale / output_scale"),
        (lambda: k.reduce_mean_params(1.0, 0, 1.0, 0, 0), "reduce_mean_params: num_elements must be in"),
        (lambda: k.reduce_mean_params(1.0, 0, 1.0, 0, MAX_ELEMENTS + 1), "reduce_mean_params: num_elements"),
        (lambda: k.reduce_params((2, 3), (2,)), r"reduce_params: axes\[0\] must be in"),
    ],
)
def test_refusals_name_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()
