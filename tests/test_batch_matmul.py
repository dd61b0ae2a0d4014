"""int8 BATCH_MATMUL (kernels/batch_matmul.py): Numba equals an int64 reference, C equals Numba byte for byte,
and the result lies within a derived bound of float64 math.

Exact. The reference is written here from the definition, never from microflat: np.matmul on int64 of the
centred operands (lhs - lhs_zp, rhs - rhs_zp), whose batch dimensions numpy broadcasts by the same rule as
TFLite (aligned from the right, equal or 1), then int_reference.requantize (TFLite's double rounding in
closed form). Shapes: each operand of rank 2 to 5, batch dimensions broadcast either way, M, N, K in 1..9,
adj_x and adj_y both ways (the operand is then passed with its last two dimensions swapped, copied to be
contiguous). Every drawn operand holds -128 and 127; zero points, multipliers and shifts include their edges.

Float. With scales s_l, s_r, s_o and the real multiplier M = s_l s_r / s_o, encoded as
M' = mult 2^(shift - 31) by TFLite's QuantizeMultiplier (the exact-rational reference), the float64 result
is y = (s_l (lhs - lhs_zp)) @ (s_r (rhs - rhs_zp)) / s_o + output_zp, clamped to [act_min, act_max]; in exact
arithmetic y = acc M + output_zp. The kernel's two roundings (a rounding doubling high multiply, error at
most 1/2, then a rounding right shift by r = max(-shift, 0), error at most 1/2 after the division) give
|requant(acc) - acc M'| <= 1/2 + 2^-(r + 1), and M' differs from M by |M' - M|, so, the zero point being exact
and the clamp 1-Lipschitz,

    |out - y| <= 1/2 + 2^-(r + 1) + |acc| |M' - M| + 1e-6

per element, in output LSBs (the 1e-6 covers float64 rounding in the reference: |acc| < 2^31, relative
error about 1e-16 per term). A multiplier M >= 1 whose left shift saturates the int32 product clamps both
sides to the same bound.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from microflat.testing import int_reference as ref
from microflat.testing.layer_cases import activation_ranges, encoded_multiplier, int8_array, mults, q31, shifts, zero_points
from microflat.kernels import batch_matmul, batch_matmul_s8
from microflat.kernels.kernel_args import parameters

MAX_DEPTH = 33025  # floor((2^31 - 1) / 255^2), derived in kernels/batch_matmul.py


@st.composite
def operand_shapes(draw, max_matrix=9):
    """(lhs logical shape [..., M, K], rhs logical shape [..., K, N]): ranks 2..5, batch dimensions that
    broadcast (an operand's batch dimension is the output's or 1; the shorter one is missing on the left)."""
    m, n, k = (draw(st.integers(1, max_matrix)) for _ in range(3))
    lhs_rank, rhs_rank = draw(st.integers(2, 5)), draw(st.integers(2, 5))
    out_batch = [draw(st.integers(1, 3)) for _ in range(max(lhs_rank, rhs_rank) - 2)]

    def batch(rank):
        own = out_batch[len(out_batch) - (rank - 2):] if rank > 2 else []
        return [d if draw(st.integers(0, 2)) else 1 for d in own]

    return tuple(batch(lhs_rank)) + (m, k), tuple(batch(rhs_rank)) + (k, n)


def _passed(x: np.ndarray, adjoint: bool) -> np.ndarray:
    """The operand as the kernel takes it: with its last two dimensions swapped when adjoint."""
    return np.ascontiguousarray(np.swapaxes(x, -1, -2)) if adjoint else x


def _accumulators(lhs, rhs, lhs_zp, rhs_zp):
    """int64 [*batch, M, N]: sum_k (lhs - lhs_zp)(rhs - rhs_zp), numpy broadcasting the batch dimensions."""
    return np.matmul(lhs.astype(np.int64) - lhs_zp, rhs.astype(np.int64) - rhs_zp)


def _both(lhs, rhs, **kw):
    """Numba's result, after checking that the C twin gives the same bytes."""
    got = batch_matmul(lhs, rhs, backend="numba", **kw)
    got_c = batch_matmul(lhs, rhs, backend="c", **kw)
    assert got_c.dtype == got.dtype == np.int8 and got_c.shape == got.shape
    assert got_c.tobytes() == got.tobytes()
    return got


@given(shapes=operand_shapes(), adj_x=st.booleans(), adj_y=st.booleans(), data=st.data())
def test_numba_equals_the_int64_reference_and_c_equals_numba(shapes, adj_x, adj_y, data):
    lhs = int8_array(data.draw, shapes[0])
    rhs = int8_array(data.draw, shapes[1])
    lo, hi = data.draw(activation_ranges())
    kw = dict(lhs_zp=data.draw(zero_points), rhs_zp=data.draw(zero_points), output_zp=data.draw(zero_points),
              output_mult=data.draw(mults), output_shift=data.draw(shifts), act_min=lo, act_max=hi)
    got = _both(_passed(lhs, adj_x), _passed(rhs, adj_y), adj_x=adj_x, adj_y=adj_y, **kw)
    acc = _accumulators(lhs, rhs, kw["lhs_zp"], kw["rhs_zp"])
    want = ref.requantize(acc, kw["output_mult"], kw["output_shift"], kw["output_zp"], lo, hi).astype(np.int8)
    assert got.shape == want.shape == np.broadcast_shapes(shapes[0][:-2], shapes[1][:-2]) + acc.shape[-2:]
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("adj_x, adj_y", [(False, False), (False, True), (True, False), (True, True)])
@pytest.mark.parametrize("sign", [1, -1])
def test_the_largest_accepted_depth_accumulates_exactly(adj_x, adj_y, sign):
    """K = 33025 with every product at 255^2 = 65025: |acc| = 2147450625, just below 2^31, in both signs."""
    lhs = np.full((2, 1, MAX_DEPTH), -128, np.int8)
    rhs = np.full((2, MAX_DEPTH, 2), 127 if sign > 0 else -128, np.int8)
    rhs[1, :, 1] = 0  # a second, ordinary value beside the extreme one
    kw = dict(lhs_zp=127, rhs_zp=-128 if sign > 0 else 127, output_zp=3, output_mult=2**30, output_shift=-24)
    got = _both(_passed(lhs, adj_x), _passed(rhs, adj_y), adj_x=adj_x, adj_y=adj_y, **kw)
    acc = _accumulators(lhs, rhs, kw["lhs_zp"], kw["rhs_zp"])
    assert acc[0, 0, 0] == -sign * 65025 * MAX_DEPTH
    want = ref.requantize(acc, kw["output_mult"], kw["output_shift"], kw["output_zp"], -128, 127)
    np.testing.assert_array_equal(got, want.astype(np.int8))
    assert got[0, 0, 0] == 3 - sign * 64  # M' = 2^-25: 2147450625 / 2^25 = 63.999 rounds to 64, no clamp


def test_a_depth_above_the_bound_is_refused_naming_k_and_the_bound():
    lhs = np.zeros((1, MAX_DEPTH + 1), np.int8)
    rhs = np.zeros((MAX_DEPTH + 1, 1), np.int8)
    with pytest.raises(ValueError, match=r"batch_matmul: depth K = 33026 exceeds 33025"):
        batch_matmul(lhs, rhs, lhs_zp=0, rhs_zp=0, output_zp=0, output_mult=2**30, output_shift=-1)


@given(shapes=operand_shapes(), adj_x=st.booleans(), adj_y=st.booleans(), data=st.data())
def test_within_the_derived_bound_of_float64(shapes, adj_x, adj_y, data):
    lhs = int8_array(data.draw, shapes[0])
    rhs = int8_array(data.draw, shapes[1])
    s_l, s_r = data.draw(st.floats(1e-3, 1.0)), data.draw(st.floats(1e-3, 1.0))
    real_m = 2.0 ** data.draw(st.floats(-22.0, 2.0))  # M = s_l s_r / s_o: from 2^-22 up to 4
    s_o = s_l * s_r / real_m
    real_m = s_l * s_r / s_o  # the multiplier as the scales give it, in float64
    mult, shift = (int(v[0]) for v in q31([real_m]))
    lo, hi = data.draw(activation_ranges())
    zl, zr, zo = data.draw(zero_points), data.draw(zero_points), data.draw(zero_points)
    got = _both(_passed(lhs, adj_x), _passed(rhs, adj_y), adj_x=adj_x, adj_y=adj_y, lhs_zp=zl, rhs_zp=zr,
                output_zp=zo, output_mult=mult, output_shift=shift, act_min=lo, act_max=hi)

    lhs_r = s_l * (lhs.astype(np.float64) - zl)
    rhs_r = s_r * (rhs.astype(np.float64) - zr)
    y = np.clip(np.matmul(lhs_r, rhs_r) / s_o + zo, lo, hi)
    acc = np.abs(_accumulators(lhs, rhs, zl, zr)).astype(np.float64)
    right = max(-shift, 0)
    bound = 0.5 + 2.0 ** -(right + 1) + acc * abs(float(encoded_multiplier(mult, shift)) - real_m) + 1e-6
    err = np.abs(got.astype(np.float64) - y)
    assert np.all(err <= bound), f"max error {err.max()} LSB, bound there {bound.flat[np.argmax(err - bound)]}"


X = np.zeros((2, 3, 4), np.int8)
Y = np.zeros((2, 4, 5), np.int8)
Q = dict(lhs_zp=0, rhs_zp=0, output_zp=0, output_mult=2**30, output_shift=-1)


@pytest.mark.parametrize(
    "override, message",
    [
        (dict(lhs=X.astype(np.int16)), "lhs must have dtype int8"),
        (dict(rhs=[[1]]), "rhs must be a numpy array"),
        (dict(lhs=np.zeros(4, np.int8)), "lhs must have 2 to 5 dimensions"),
        (dict(rhs=np.zeros((1, 1, 1, 1, 4, 5), np.int8)), "rhs must have 2 to 5 dimensions"),
        (dict(lhs=np.zeros((2, 0, 4), np.int8)), "lhs .* must have no empty dimension"),
        (dict(rhs=np.zeros((2, 3, 5), np.int8)), "lhs .* has depth K = 4, rhs .* has depth 3"),
        (dict(adj_y=True), "lhs .* has depth K = 4, rhs .* has depth 5"),
        (dict(rhs=np.zeros((3, 4, 5), np.int8)), "batch dimensions do not broadcast"),
        (dict(adj_x=1), "adj_x must be a bool"),
        (dict(adj_y="yes"), "adj_y must be a bool"),
        (dict(lhs_zp=128), "lhs_zp must be in"),
        (dict(rhs_zp=-129), "rhs_zp must be in"),
        (dict(output_zp=1.0), "output_zp must be an integer"),
        (dict(output_mult=2**31), "output_mult must be in"),
        (dict(output_mult=-1), "output_mult must be in"),
        (dict(output_shift=31), "output_shift must be in"),
        (dict(act_min=10, act_max=5), "act_min .* must be <= act_max"),
        (dict(backend="cuda"), "backend must be one of"),
    ],
)
def test_bad_arguments_are_refused_naming_the_argument(override, message):
    args = dict(lhs=X, rhs=Y, **Q)
    args.update(override)
    with pytest.raises(ValueError, match="batch_matmul: " + message):
        batch_matmul(args.pop("lhs"), args.pop("rhs"), **args)
