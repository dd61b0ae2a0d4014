"""The same-shape elementwise kernels (add_s8_same_shape, extremum_s8_same_shape,
squared_difference_s8_same_shape): Numba equals an int64 reference written here, C equals Numba byte for byte,
also in place on either input; and both runtimes take them exactly when neither input broadcasts (and, for ADD,
SUB and SQUARED_DIFFERENCE, the output shift is <= 0), with the bytes of the broadcasting kernels otherwise.

The reference is TFLite's arithmetic written from its definition in numpy int64, not microflat's code:
MultiplyByQuantizedMultiplier = SaturatingRoundingDoublingHighMul (nudge 2^30 or 1 - 2^30, C's truncating
division by 2^31) then RoundingDivideByPOT (remainder against half the mask, plus one for a negative value);
Add scales both centred inputs shifted left by left_shift, adds, rescales, adds the zero point and clamps; Sub
is Add with the second multiplier negated (TFLite's op_sign); SquaredDifference squares the difference of the
scaled inputs in int32 and clamps to [-128, 127]; Maximum and Minimum compare raw int8 values.

Cases: 1 to 700 elements (the Numba kernels work in chunks of 256), every left shift the loader allows,
multipliers from drawn scales as add_params computes them or at their edges (0, 1, 2^30, 2^31 - 1), every
shift <= 0 (the kernels' contract), activation ranges inside [-128, 127].
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microflat.testing.layer_cases import activation_ranges, int8_array, mults, q31, zero_points
from microflat import kernels as K
from microflat.compiler.writer import ModelWriter
from microflat.kernels import elementwise as E
from microflat.kernels import native
from microflat.kernels.kernel_args import parameters
from microflat.runtime import Interpreter

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


# --- the int64 reference ---------------------------------------------------------------------------------------

def srdhm(a, b):
    """SaturatingRoundingDoublingHighMul of int32 values held in int64 arrays."""
    a, b = np.broadcast_arrays(np.asarray(a, np.int64), np.asarray(b, np.int64))
    ab = a * b
    t = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    q = np.where(t >= 0, t >> 31, -((-t) >> 31))  # C's division truncates toward zero
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, q)


def rdbp(x, exponent):
    """RoundingDivideByPOT: x / 2^exponent to nearest, ties away from zero."""
    x = np.asarray(x, np.int64)
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + ((x & mask) > threshold)


def mbqm(x, mult, shift):
    """MultiplyByQuantizedMultiplier for shift <= 0 (every case here)."""
    assert shift <= 0
    return rdbp(srdhm(x, mult), -shift)


def ref_add(a, b, p, sign=1):
    """TFLite's int8 Add (sign 1) or Sub (sign -1: the second multiplier negated)."""
    ls = p["left_shift"]
    x = mbqm((a.astype(np.int64) - p["input1_zp"]) << ls, p["input1_mult"], p["input1_shift"])
    y = mbqm((b.astype(np.int64) - p["input2_zp"]) << ls, sign * p["input2_mult"], p["input2_shift"])
    v = mbqm(x + y, p["output_mult"], p["output_shift"]) + p["output_zp"]
    return np.clip(v, p["act_min"], p["act_max"]).astype(np.int8)


def ref_squared_difference(a, b, p):
    ls = p["left_shift"]
    x = mbqm((a.astype(np.int64) - p["input1_zp"]) << ls, p["input1_mult"], p["input1_shift"])
    y = mbqm((b.astype(np.int64) - p["input2_zp"]) << ls, p["input2_mult"], p["input2_shift"])
    d = x - y
    assert np.all(d * d < 2**31)
    v = mbqm(d * d, p["output_mult"], p["output_shift"]) + p["output_zp"]
    return np.clip(v, -128, 127).astype(np.int8)


# --- drawn parameters ----------------------------------------------------------------------------------------

def _scaled_pair(data, max_left_shift, at_most_half):
    """left_shift, the two input multipliers (from drawn scales as TFLite's Prepare gives them, or at their edges)
    and the output multiplier, every shift <= 0. at_most_half: input multipliers encode at most 1/2 (squared
    difference's bound)."""
    s1, s2, so = (data.draw(st.floats(1e-3, 1.0)) for _ in range(3))
    twice = 2 * max(s1, s2)
    in_shifts = st.integers(-31, -1) if at_most_half else st.integers(-31, 0)
    p = {}
    for name, real in (("input1", s1 / twice), ("input2", s2 / twice)):
        exact = tuple(int(v[0]) for v in q31([real]))
        p[f"{name}_mult"], p[f"{name}_shift"] = data.draw(st.one_of(st.just(exact), st.tuples(mults, in_shifts)))
    real_out = twice / (2**20 * so) if max_left_shift == 20 else twice * twice / (2**14 * so)  # Prepare's
    exact = tuple(int(v[0]) for v in q31([min(real_out, 0.99)]))
    p["output_mult"], p["output_shift"] = data.draw(st.one_of(st.just(exact), st.tuples(mults, st.integers(-31, 0))))
    p["left_shift"] = data.draw(st.one_of(st.just(max_left_shift), st.integers(0, max_left_shift)))
    for name in ("input1_zp", "input2_zp", "output_zp"):
        p[name] = data.draw(zero_points)
    return p


def _operands(data, size, in_place):
    """(input1, input2, output) flat arrays; in_place 0 or 1: the output is that input's array."""
    a = int8_array(data.draw, (size,))
    b = int8_array(data.draw, (size,))
    out = np.zeros(size, np.int8) if in_place is None else (a, b)[in_place]
    return a, b, out


def _run_both(kernel, args_before, a, b, out, in_place):
    """Run the Numba kernel and its C twin on fresh copies (each in place where asked); equal bytes. Returns
    Numba's output."""
    results = []
    for run in (kernel, lambda *args: native.call("mf_" + kernel.__name__, *args)):
        x1, x2 = a.copy(), b.copy()
        o = np.zeros_like(out) if in_place is None else (x1, x2)[in_place]
        run(*args_before, x1, x2, o)
        results.append(o)
    assert results[1].tobytes() == results[0].tobytes()
    return results[0]


SIZES = st.one_of(st.integers(1, 40), st.integers(200, 700))
IN_PLACE = st.sampled_from([None, 0, 1])


@given(data=st.data(), size=SIZES, in_place=IN_PLACE, sign=st.sampled_from([1, -1]))
def test_add_same_shape_equals_reference_add_and_sub(data, size, in_place, sign):
    """ADD (sign 1), and SUB as the runtimes run it: the same kernel with input2_mult negated."""
    p = _scaled_pair(data, 20, at_most_half=False)
    p["act_min"], p["act_max"] = data.draw(activation_ranges())
    a, b, out = _operands(data, size, in_place)
    want = ref_add(a, b, p, sign)
    args = (size, p["left_shift"], p["input1_zp"], p["input1_mult"], p["input1_shift"], p["input2_zp"],
            sign * p["input2_mult"], p["input2_shift"], p["output_zp"], p["output_mult"], p["output_shift"],
            p["act_min"], p["act_max"])
    np.testing.assert_array_equal(_run_both(E.add_s8_same_shape, args, a, b, out, in_place), want)


@given(data=st.data(), size=SIZES, in_place=IN_PLACE)
def test_squared_difference_same_shape_equals_reference(data, size, in_place):
    p = _scaled_pair(data, 7, at_most_half=True)
    a, b, out = _operands(data, size, in_place)
    want = ref_squared_difference(a, b, p)
    args = (size, p["left_shift"], p["input1_zp"], p["input1_mult"], p["input1_shift"], p["input2_zp"],
            p["input2_mult"], p["input2_shift"], p["output_zp"], p["output_mult"], p["output_shift"])
    np.testing.assert_array_equal(_run_both(E.squared_difference_s8_same_shape, args, a, b, out, in_place), want)


@given(data=st.data(), size=SIZES, in_place=IN_PLACE, take_max=st.sampled_from([0, 1]))
def test_extremum_same_shape_equals_reference(data, size, in_place, take_max):
    a, b, out = _operands(data, size, in_place)
    want = np.maximum(a, b) if take_max else np.minimum(a, b)
    np.testing.assert_array_equal(_run_both(E.extremum_s8_same_shape, (size, take_max), a, b, out, in_place), want)


def test_rounding_edges_of_the_branch_free_scaling():
    """Every int8 pair through a multiplier at each shift from 0 to -31, including ties of both roundings
    (multipliers that are powers of two), positive and negative: C and Numba equal the reference."""
    a = np.repeat(np.arange(-128, 128), 256).astype(np.int8)
    b = np.tile(np.arange(-128, 128), 256).astype(np.int8)
    for shift in range(0, -32, -1):
        for mult in (0, 1, 2**28, 2**30, 1431655765, 2**31 - 1):
            for sign in (1, -1):
                p = dict(left_shift=20, input1_zp=-7, input1_mult=mult, input1_shift=shift, input2_zp=3,
                         input2_mult=2**30, input2_shift=min(shift, -1), output_zp=5, output_mult=mult,
                         output_shift=min(0, shift + 20), act_min=-128, act_max=127)
                want = ref_add(a, b, p, sign)
                args = (a.size, 20, -7, mult, shift, 3, sign * 2**30, p["input2_shift"], 5, mult,
                        p["output_shift"], -128, 127)
                np.testing.assert_array_equal(_run_both(E.add_s8_same_shape, args, a, b, a, None), want)


# --- the runtimes' choice ------------------------------------------------------------------------------------

def _model(op, a_shape, b_shape, options):
    """One binary op on two model inputs; MAXIMUM / MINIMUM share one quantization."""
    out_shape = tuple(max(x, y) for x, y in zip(a_shape, b_shape))
    w = ModelWriter()
    tied = op in ("MAXIMUM", "MINIMUM")
    a = w.add_tensor("a", "int8", a_shape, scale=0.05, zero_point=-3)
    b = w.add_tensor("b", "int8", b_shape, scale=0.05 if tied else 0.04, zero_point=-3 if tied else 5)
    y = w.add_tensor("y", "int8", out_shape, scale=0.05 if tied else 0.1, zero_point=-3 if tied else 1)
    table = None if tied else ("SquaredDifferenceOptions" if op == "SQUARED_DIFFERENCE" else "AddOptions")
    w.add_operator(op, [a, b], [y], table, options)
    w.set_io([a, b], [y])
    return w.to_bytes()


def _reference(op, a, b, options):
    shape = np.broadcast_shapes(a.shape, b.shape)
    a, b = np.broadcast_to(a, shape), np.broadcast_to(b, shape)
    p = dict(options or {}, input1_zp=-3, input2_zp=5, output_zp=1)
    if op == "MAXIMUM":
        return np.maximum(a, b)
    if op == "MINIMUM":
        return np.minimum(a, b)
    if op == "SQUARED_DIFFERENCE":
        return ref_squared_difference(a, b, p)
    p.setdefault("act_min", -128)
    p.setdefault("act_max", 127)
    if p["output_shift"] > 0:  # outside mbqm's shift <= 0 above: TFLite's left shift, saturated to int32
        x = mbqm((a.astype(np.int64) + 3) << 20, p["input1_mult"], p["input1_shift"])
        y = mbqm((b.astype(np.int64) - 5) << 20, (1 if op == "ADD" else -1) * p["input2_mult"], p["input2_shift"])
        v = np.clip((x + y) << p["output_shift"], INT32_MIN, INT32_MAX)
        return np.clip(srdhm(v, p["output_mult"]) + 1, p["act_min"], p["act_max"]).astype(np.int8)
    return ref_add(a, b, p, 1 if op == "ADD" else -1)


def _options(op, output_shift_up=False):
    if op in ("MAXIMUM", "MINIMUM"):
        return None
    if op == "SQUARED_DIFFERENCE":
        return dict(K.squared_difference_params(0.05, 0.04, 0.1))
    p = dict((K.add_params if op == "ADD" else K.sub_params)(0.05, 0.04, 0.1))
    if output_shift_up:  # a (contrived) output multiplier above 1: the broadcasting kernel, in both runtimes
        p["output_shift"] = 2
    return p


SAME = {"ADD": E.add_s8_same_shape, "SUB": E.add_s8_same_shape, "MAXIMUM": E.extremum_s8_same_shape,
        "MINIMUM": E.extremum_s8_same_shape, "SQUARED_DIFFERENCE": E.squared_difference_s8_same_shape}
BROADCAST = {"ADD": K.add_s8, "SUB": K.sub_s8, "MAXIMUM": K.maximum_s8, "MINIMUM": K.minimum_s8,
             "SQUARED_DIFFERENCE": K.squared_difference_s8}


@pytest.mark.parametrize("op", sorted(SAME))
@settings(max_examples=30)
@given(data=st.data(), shape=st.tuples(st.integers(1, 2), st.integers(1, 5), st.integers(1, 5), st.integers(1, 9)))
def test_runtimes_take_the_same_shape_kernel_exactly_when_nothing_broadcasts(op, data, shape):
    """The Numba interpreter's step is the same-shape kernel for equal shapes (SUB's with input2_mult negated,
    MAXIMUM's with take_max 1) and the broadcasting kernel otherwise; both backends give the reference's bytes
    either way (the C runtime decides by the same rule)."""
    b_shape = tuple(d if data.draw(st.booleans()) else 1 for d in shape) if data.draw(st.booleans()) else shape
    shift_up = op in ("ADD", "SUB") and data.draw(st.booleans())
    options = _options(op, shift_up)
    mfb = _model(op, shape, b_shape, options)
    a, b = int8_array(data.draw, shape), int8_array(data.draw, b_shape)
    it = Interpreter(mfb, backend="numba")
    (kernel, args), = it.steps
    flat = b_shape == shape and not shift_up
    assert kernel is (SAME[op] if flat else BROADCAST[op])
    if flat and op in ("SUB", "MAXIMUM", "MINIMUM"):
        named = dict(zip((prm.name for prm in parameters(kernel)), args))
        if op == "SUB":
            assert named["input2_mult"] == -options["input2_mult"] < 0
        else:
            assert named["take_max"] == (op == "MAXIMUM")
    want = _reference(op, a, b, options)
    got = it.invoke(a, b)[0]
    np.testing.assert_array_equal(got, want)
    got_c = Interpreter(mfb, backend="c").invoke(a, b)[0]
    assert got_c.tobytes() == got.tobytes()
