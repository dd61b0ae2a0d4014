"""int8 batched matrix multiply of two activations: TFLite's BATCH_MATMUL (attention's q k^T and softmax v).

Real-valued formula, for each batch index b (up to three batch dimensions, broadcast):

    y_r[b, i, j] = sum_k lhs_r[b, i, k] * rhs_r[b, k, j]        i < M, j < N, k < K

Both operands are activations, each with its own scale and zero point
(r = s * (q - zp)), unlike fully_connected, whose weights are symmetric. Put
each one's representation in:

    y_r[b, i, j] = s_lhs s_rhs * sum_k (lhs[b, i, k] - lhs_zp) (rhs[b, k, j] - rhs_zp)
                 = s_lhs s_rhs * acc[b, i, j]

and the output is y = y_r / s_out + output_zp, so acc is scaled by the one
real multiplier M = s_lhs s_rhs / s_out (TFLite's Prepare: the "convolution"
multiplier of the two input scales and the output scale, computed in double
and encoded by QuantizeMultiplier; here quantize_multiplier(M)), which is
per-tensor:

    out[b, i, j] = requantize(acc[b, i, j], output_mult, output_shift, output_zp, act_min, act_max)

requantize is numerics.requantize (numerics.h in C): TFLite's
MultiplyByQuantizedMultiplier with its double rounding, plus the zero point,
clamped. TFLite's BATCH_MATMUL has no fused activation, so its clamp is the
int8 range (the defaults here); act_min / act_max are kept for a fused clamp.

Accumulator. Both operands and both zero points are int8, so each centred
value x - zp lies in [-128 - 127, 127 + 128] = [-255, 255] and each product
in [-65025, 65025] (255^2 = 65025, reached by x = -128 with zp = 127 on both
sides, or 127 and -128). A sum of K such products, and every partial sum on
the way, is at most 65025 K in magnitude, whatever the order of summation.
It fits int32 exactly when 65025 K <= 2^31 - 1 = 2147483647, that is
K <= floor(2147483647 / 65025) = 33025 (65025 * 33025 = 2147450625;
one more step gives 2147515650 > 2^31 - 1). The wrapper refuses K > 33025 with
a ValueError; below that, the int32 accumulator of the C twin is exact and the
summation order (TFLite's, this kernel's, or a SIMD one) cannot change a bit.
So the bound depends on the shapes only, not on the values: unlike a weighted
layer, there is no sum|w| to check.

adj_x / adj_y (TFLite's BatchMatMulOptions): an operand given with its last two
dimensions swapped, lhs as [..., K, M] and rhs as [..., N, K]. TFLite's Eval
transposes such operands into temporaries (and, for the reference kernel,
transposes the rhs when adj_y is *false*, because its reference loop reads
both operands along k and runs as rhs^T x lhs^T with the output written
column-major, which is the row-major [M, N] product). None of this changes
the arithmetic, only where element (i, k) and (k, j) are read. This kernel
reads them in place, so it needs no scratch:

    lhs (i, k) at lhs_base + i * lhs_row + k * lhs_step   lhs_row, lhs_step = (K, 1), or (1, M) with adj_x
    rhs (k, j) at rhs_base + j * rhs_col + k * rhs_step   rhs_col, rhs_step = (1, N), or (K, 1) with adj_y

The dot product's loop over k reads both operands contiguously when
lhs_step = rhs_step = 1, i.e. adj_x false and adj_y true: q k^T with k given
as [..., S, D], the layout TFLite's optimized path prefers; the kernel has a
separate loop for it, with constant strides, which LLVM vectorizes. The other
layouts take one general strided loop (softmax v reads v down its columns).

Batch dimensions (TFLite's reference: shapes extended to rank 5 with leading
1s, three batch dimensions, each broadcast as numpy does: equal, or 1 on one
side). The kernel takes

    batch_shape[3]         the output's three batch extents, max of the two (leading 1s)
    lhs_batch_strides[3]   the element stride of each in lhs: 0 where lhs has extent 1 there
    rhs_batch_strides[3]   likewise for rhs

(TFLite's "extent" lambda: 0 on a broadcast dimension, else the product of the
later dimensions), so the batch loop computes each operand's matrix base as
b0 s0 + b1 s1 + b2 s2, and writes the output densely, in order:
output [*batch, M, N], row-major. batch_matmul_params builds these from two
shapes. The output rank is max(rank lhs, rank rhs), as TFLite's.

Contract (trusted, checked by the wrapper): extents positive, K <= 33025,
every element index of lhs, rhs and output below 2^31, the output aliasing
neither input (outputs written early would be read again by later ones).
Never allocates. C twin: batch_matmul.c.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from . import _checks
from ._dispatch import check_backend, run_kernel
from ._jit import kernel
from .numerics import INT32_MAX, MAX_CENTERED_INPUT, SHIFT_MAX, SHIFT_MIN, requantize

_i64 = types.int64
_i32 = types.int32
_v32 = types.int32[::1]
_v8 = types.int8[::1]

BATCH_DIMS = 3  # TFLite's reference extends both shapes to rank 5: three batch dimensions, then [rows, cols]
MAX_RANK = BATCH_DIMS + 2
# The largest depth K whose int32 accumulator cannot overflow: 255^2 * K <= 2^31 - 1 (module docstring).
MAX_DEPTH = INT32_MAX // (MAX_CENTERED_INPUT * MAX_CENTERED_INPUT)  # 33025


@njit(inline="always", cache=True, nogil=True)
def _centered_dot(lhs, a, a_step, rhs, b, b_step, depth, lhs_zp, rhs_zp):
    """sum_k (lhs[a + k a_step] - lhs_zp) * (rhs[b + k b_step] - rhs_zp), exact: |sum| <= 65025 depth < 2^31."""
    acc = np.int64(0)
    for k in range(depth):
        # Unsigned indices (all are >= 0): Numba skips its negative-index wraparound test.
        x = np.int64(lhs[np.uint64(a + k * a_step)]) - lhs_zp
        y = np.int64(rhs[np.uint64(b + k * b_step)]) - rhs_zp
        acc += x * y
    return acc


@kernel(
    types.void(
        _v32, _v32, _v32,  # batch_shape[3], lhs_batch_strides[3], rhs_batch_strides[3]
        _i64, _i64, _i64,  # rows (M), cols (N), depth (K)
        _i64, _i64,  # adj_x, adj_y
        _i32, _i32, _i32,  # lhs_zp, rhs_zp, output_zp
        _i32, _i32,  # output_mult, output_shift
        _i32, _i32,  # act_min, act_max
        _v8, _v8, _v8,  # lhs, rhs, output
    )
)
def batch_matmul_s8(
    batch_shape, lhs_batch_strides, rhs_batch_strides,
    rows, cols, depth,
    adj_x, adj_y,
    lhs_zp, rhs_zp, output_zp,
    output_mult, output_shift,
    act_min, act_max,
    lhs, rhs, output,
):
    """The jitted kernel; trusts its caller. lhs: batches of [rows, depth] ([depth, rows] if adj_x); rhs:
    batches of [depth, cols] ([cols, depth] if adj_y); output: [*batch_shape, rows, cols], written in order."""
    lhs_row = 1 if adj_x else depth
    lhs_step = rows if adj_x else 1
    rhs_col = depth if adj_y else 1
    rhs_step = 1 if adj_y else cols
    contiguous = lhs_step == 1 and rhs_step == 1
    o = 0
    for b0 in range(batch_shape[0]):
        for b1 in range(batch_shape[1]):
            for b2 in range(batch_shape[2]):
                lhs_base = (np.int64(b0) * lhs_batch_strides[0] + np.int64(b1) * lhs_batch_strides[1]
                            + np.int64(b2) * lhs_batch_strides[2])
                rhs_base = (np.int64(b0) * rhs_batch_strides[0] + np.int64(b1) * rhs_batch_strides[1]
                            + np.int64(b2) * rhs_batch_strides[2])
                for i in range(rows):
                    a = lhs_base + i * lhs_row
                    for j in range(cols):
                        b = rhs_base + j * rhs_col
                        if contiguous:
                            acc = _centered_dot(lhs, a, 1, rhs, b, 1, depth, lhs_zp, rhs_zp)
                        else:
                            acc = _centered_dot(lhs, a, lhs_step, rhs, b, rhs_step, depth, lhs_zp, rhs_zp)
                        output[o] = np.int8(requantize(np.int32(acc), output_mult, output_shift, output_zp,
                                                       act_min, act_max))
                        o += 1


def _operand(fn: str, name: str, value) -> np.ndarray:
    """An int8 array of rank 2 to 5 with no empty dimension."""
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{fn}: {name} must be a numpy array, got {type(value).__name__}")
    if not 2 <= value.ndim <= MAX_RANK:
        raise ValueError(f"{fn}: {name} must have 2 to {MAX_RANK} dimensions, got shape {value.shape}")
    x = _checks.array(fn, name, value, np.int8, value.ndim)
    if min(x.shape) < 1:
        raise ValueError(f"{fn}: {name} {x.shape} must have no empty dimension")
    return x


def _flag(fn: str, name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{fn}: {name} must be a bool, got {value!r}")
    return bool(value)


def batch_matmul_params(lhs_shape, rhs_shape, adj_x: bool = False, adj_y: bool = False, fn: str = "batch_matmul_params"):
    """batch_matmul_s8's dimension arguments for operands of these shapes (each of rank 2 to 5).

    Returns (batch_shape, lhs_batch_strides, rhs_batch_strides, rows, cols, depth, output_shape):
    three int32 arrays of three values (module docstring), M, N, K, and the output tensor's shape
    (rank max of the two). Raises ValueError when the shapes do not multiply, the batch dimensions do
    not broadcast, or K exceeds MAX_DEPTH = 33025 (the int32 accumulator bound)."""
    lhs_shape = tuple(int(d) for d in lhs_shape)
    rhs_shape = tuple(int(d) for d in rhs_shape)
    for name, shape in (("lhs", lhs_shape), ("rhs", rhs_shape)):
        if not 2 <= len(shape) <= MAX_RANK:
            raise ValueError(f"{fn}: {name} must have 2 to {MAX_RANK} dimensions, got shape {shape}")
        if min(shape) < 1:
            raise ValueError(f"{fn}: {name} {shape} must have no empty dimension")
    rows, lhs_depth = (lhs_shape[-1], lhs_shape[-2]) if adj_x else (lhs_shape[-2], lhs_shape[-1])
    rhs_depth, cols = (rhs_shape[-1], rhs_shape[-2]) if adj_y else (rhs_shape[-2], rhs_shape[-1])
    if lhs_depth != rhs_depth:
        raise ValueError(f"{fn}: lhs {lhs_shape} (adj_x={adj_x}) has depth K = {lhs_depth}, "
                         f"rhs {rhs_shape} (adj_y={adj_y}) has depth {rhs_depth}; they must be equal")
    depth = lhs_depth
    if depth > MAX_DEPTH:
        raise ValueError(f"{fn}: depth K = {depth} exceeds {MAX_DEPTH}: the int32 accumulator holds K products "
                         f"of up to 255 * 255 = 65025 each, and 65025 * K must stay below 2^31")
    lhs_batch = (1,) * (MAX_RANK - len(lhs_shape)) + lhs_shape[:-2]
    rhs_batch = (1,) * (MAX_RANK - len(rhs_shape)) + rhs_shape[:-2]
    batch = []
    for d, (l, r) in enumerate(zip(lhs_batch, rhs_batch)):
        if l != r and l != 1 and r != 1:
            raise ValueError(f"{fn}: batch dimensions do not broadcast: lhs {lhs_shape} and rhs {rhs_shape} "
                             f"(extended batch dimension {d}: {l} vs {r})")
        batch.append(max(l, r))
    rank = max(len(lhs_shape), len(rhs_shape))
    output_shape = tuple(batch[BATCH_DIMS - (rank - 2):]) + (rows, cols)
    elements = int(np.prod(output_shape, dtype=object))
    if elements >= 2**31:
        raise ValueError(f"{fn}: the output {output_shape} has {elements} elements, more than int32 indexing allows")

    def strides(ext_batch, matrix):
        out, step = [0] * BATCH_DIMS, matrix
        for d in range(BATCH_DIMS - 1, -1, -1):
            out[d] = 0 if ext_batch[d] == 1 else step
            step *= ext_batch[d]
        return np.array(out, np.int32)

    return (np.array(batch, np.int32), strides(lhs_batch, rows * depth), strides(rhs_batch, depth * cols),
            rows, cols, depth, output_shape)


def batch_matmul(
    lhs: np.ndarray,
    rhs: np.ndarray,
    *,
    lhs_zp: int,
    rhs_zp: int,
    output_zp: int,
    output_mult: int,
    output_shift: int,
    adj_x: bool = False,
    adj_y: bool = False,
    act_min: int = -128,
    act_max: int = 127,
    backend: str = "numba",
) -> np.ndarray:
    """int8 batched matrix multiply of two activations, TFLite's int8 BATCH_MATMUL, bit-exact.

    out[..., i, j] = requantize(sum_k (lhs[..., i, k] - lhs_zp) (rhs[..., k, j] - rhs_zp))

    Args:
      lhs: int8 [..., M, K] ([..., K, M] with adj_x), rank 2 to 5.
      rhs: int8 [..., K, N] ([..., N, K] with adj_y), rank 2 to 5. The batch dimensions (all but the
        last two, aligned from the right) broadcast as numpy's: equal, or 1 on one side.
      lhs_zp, rhs_zp, output_zp: the zero points, in [-128, 127].
      output_mult, output_shift: the per-tensor Q31 multiplier and shift of M = s_lhs s_rhs / s_out
        (quantize_multiplier(M)).
      adj_x, adj_y: bools, TFLite's BatchMatMulOptions: the operand is given with its last two
        dimensions swapped.
      act_min, act_max: the output clamp (TFLite's BATCH_MATMUL has none: the int8 range).
      backend: "numba" or "c".

    Returns:
      int8 [*batch, M, N], the batch dimensions broadcast, rank max(rank lhs, rank rhs).

    Raises:
      ValueError naming the argument for any type, shape or range violation, and when the depth
      K exceeds 33025: each centred operand lies in [-255, 255], so the int32 accumulator is
      bounded by 255^2 K = 65025 K, which stays below 2^31 exactly when K <= 33025
      (65025 * 33025 = 2147450625 <= 2^31 - 1 < 65025 * 33026).
    """
    fn = "batch_matmul"
    check_backend(fn, backend)
    x = _operand(fn, "lhs", lhs)
    y = _operand(fn, "rhs", rhs)
    ax = _flag(fn, "adj_x", adj_x)
    ay = _flag(fn, "adj_y", adj_y)
    zl = _checks.integer(fn, "lhs_zp", lhs_zp, _checks.INT8_MIN, _checks.INT8_MAX)
    zr = _checks.integer(fn, "rhs_zp", rhs_zp, _checks.INT8_MIN, _checks.INT8_MAX)
    zo = _checks.integer(fn, "output_zp", output_zp, _checks.INT8_MIN, _checks.INT8_MAX)
    mult = _checks.integer(fn, "output_mult", output_mult, 0, INT32_MAX)
    shift = _checks.integer(fn, "output_shift", output_shift, SHIFT_MIN, SHIFT_MAX)
    lo, hi = _checks.activation_range(fn, act_min, act_max)
    batch, lhs_strides, rhs_strides, rows, cols, depth, out_shape = batch_matmul_params(x.shape, y.shape, ax, ay, fn)
    out = np.empty(out_shape, dtype=np.int8)
    run_kernel(backend, batch_matmul_s8, batch_shape=batch, lhs_batch_strides=lhs_strides,
               rhs_batch_strides=rhs_strides, rows=rows, cols=cols, depth=depth, adj_x=int(ax), adj_y=int(ay),
               lhs_zp=zl, rhs_zp=zr, output_zp=zo, output_mult=mult, output_shift=shift, act_min=lo, act_max=hi,
               lhs=x.reshape(-1), rhs=y.reshape(-1), output=out.reshape(-1))
    return out
