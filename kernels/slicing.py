"""int8 slicing and embedding lookup: TFLite's STRIDED_SLICE (and SLICE, SPLIT, SPLIT_V, UNPACK) and GATHER.

Both copy values; the quantization is the input's. STRIDED_SLICE also moves int16 values (strided_slice_s16,
TFLite's 16x8 mode: the same loops). C twin: slicing.c.

STRIDED_SLICE. strided_slice_s8 walks a rank-5 loop nest in output order: for loop d,
``output_shape[d]`` positions ``begin[d] + k * strides[d]`` (k < output_shape[d], stride positive or
negative) of an input dimension of ``input_shape[d]`` elements, the input row-major over
``input_shape``. strided_slice_params resolves TFLite's (begin, end, strides, masks) into these
(tensorflow/lite/kernels/internal/strided_slice_logic.h, StridedSliceStartForAxis / StridedSliceEndForAxis,
as reference/strided_slice.h and kernels/strided_slice.cc use them):

    start = begin (+ size if negative), clamped to [0, size] (stride > 0) or [-1, size - 1] (stride < 0);
            begin_mask: 0 (stride > 0) or size - 1 (stride < 0)
    stop  = end, resolved and clamped alike; end_mask: size (stride > 0) or -1 (stride < 0)
    count = max(0, ceil((stop - start) / stride))

which is Python's slice(begin, end, stride).indices(size) (a masked bound: None). The count is exact
integer arithmetic; TFLite's ceil in float32 agrees below 2^24 elements per dimension. shrink_axis_mask
takes the one element at start and drops the dimension. Dimensions past len(begin) are taken whole. When
the innermost stride is 1 the kernel copies contiguous runs: strided_slice_loops (which strided_slice_params
and the runtime's STRIDED_SLICE share) merges a dimension taken whole (begin 0, stride 1) into the stride-1
dimension around it, so SPLIT along an outer axis is a single run.

Contract (trusted, checked by the wrapper and the helper): input_shape positive, its product (the input's
elements) below 2^31; loop sizes >= 0 (the helper gives an empty output a walk over a 1-element input);
for every loop of size > 0 each ``begin[d] + k * strides[d]`` with k < output_shape[d] lies in
[0, input_shape[d]); the output holds the product of output_shape elements and does not overlap the input.

GATHER (batch_dims 0). gather_s8 views params as [outer, axis_size, inner] and writes
output[o, k, :] = params[o, indices[k], :] for k < indices_count: the output's shape is
params.shape[:axis] + indices.shape + params.shape[axis + 1:]. nn.Embedding(ids) is gather(weight, ids,
axis=0). Contract: 0 <= indices[k] < axis_size for every k. TFLite checks that at run time and fails the
op (reference/gather.h returns kTfLiteError); this kernel trusts its caller, so a runtime whose indices
come from a tensor must check them before the call (the wrapper refuses them with ValueError). Every
size below 2^31 elements. The output must not overlap params or indices.

Neither kernel allocates.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, types

from . import _checks
from ._copy import copy_elements
from ._dispatch import check_backend, run_kernel
from ._jit import kernel

MAX_DIMS = 5
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

_i32 = types.int32
_v32 = types.int32[::1]


@njit(inline="always", cache=True, nogil=True)
def _strided_slice(input_shape, begin, strides, output_shape, input, output):
    """strided_slice_s8's and strided_slice_s16's loops, written once: four arrays of five values, the input's
    shape, and per loop the first input position, the step between positions and the number of positions;
    output written in order."""
    e3 = np.int64(input_shape[4])  # element stride of each input dimension
    e2 = e3 * input_shape[3]
    e1 = e2 * input_shape[2]
    e0 = e1 * input_shape[1]
    n0, n1, n2, n3, n4 = output_shape[0], output_shape[1], output_shape[2], output_shape[3], output_shape[4]
    b0, b1, b2, b3, b4 = begin[0], begin[1], begin[2], begin[3], begin[4]
    s0, s1, s2, s3, s4 = strides[0], strides[1], strides[2], strides[3], strides[4]
    i = 0
    for a in range(n0):
        o0 = (b0 + a * s0) * e0
        for b in range(n1):
            o1 = o0 + (b1 + b * s1) * e1
            for c in range(n2):
                o2 = o1 + (b2 + c * s2) * e2
                for d in range(n3):
                    base = o2 + (b3 + d * s3) * e3 + b4
                    if s4 == 1:
                        copy_elements(output[i:i + n4], input[base:base + n4])
                    else:
                        # Unsigned indices: Numba skips its negative-index (wraparound) test; every index is >= 0.
                        for e in range(n4):
                            output[np.uint64(i + e)] = input[np.uint64(base + e * s4)]
                    i += n4


@kernel(types.void(_v32, _v32, _v32, _v32, types.int8[::1], types.int8[::1]))
def strided_slice_s8(input_shape, begin, strides, output_shape, input, output):
    """The jitted kernel; trusts its caller."""
    _strided_slice(input_shape, begin, strides, output_shape, input, output)


@kernel(types.void(_v32, _v32, _v32, _v32, types.int16[::1], types.int16[::1]))
def strided_slice_s16(input_shape, begin, strides, output_shape, input, output):
    """The jitted kernel; trusts its caller."""
    _strided_slice(input_shape, begin, strides, output_shape, input, output)


@kernel(
    types.void(_i32, _i32, _i32, _i32,  # outer, indices_count, axis_size, inner
               types.int32[::1], types.int8[::1], types.int8[::1])
)
def gather_s8(outer, indices_count, axis_size, inner, indices, params, output):
    """The jitted kernel; trusts its caller (0 <= indices[k] < axis_size). output[o, k, :] = params[o, indices[k], :]."""
    i = 0
    for o in range(outer):
        row = o * axis_size
        for k in range(indices_count):
            src = (row + indices[k]) * inner
            copy_elements(output[i:i + inner], params[src:src + inner])
            i += inner


class StridedSliceParams(NamedTuple):
    """strided_slice_params' result: the kernel's four arrays (five int32 each, by their argument names)
    and the output tensor's shape (shrunk axes dropped)."""

    input_shape: np.ndarray
    begin: np.ndarray
    strides: np.ndarray
    output_shape: np.ndarray
    output_tensor_shape: tuple[int, ...]


def _int_list(fn: str, name: str, value) -> list[int]:
    """A 1-D sequence of int32 values."""
    if isinstance(value, np.ndarray):
        if value.ndim != 1 or not np.issubdtype(value.dtype, np.integer):
            raise ValueError(f"{fn}: {name} must be a 1-D sequence of integers, got {value!r}")
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{fn}: {name} must be a sequence of integers, got {value!r}")
    return [_checks.integer(fn, f"{name}[{d}]", v, INT32_MIN, INT32_MAX) for d, v in enumerate(value)]


def _resolve(fn: str, shape, begin, end, strides, begin_mask, end_mask, shrink_axis_mask, ellipsis_mask,
             new_axis_mask) -> StridedSliceParams:
    shape = tuple(int(s) for s in shape)
    rank = len(shape)
    if rank > MAX_DIMS:
        raise ValueError(f"{fn}: the input has {rank} dimensions; a strided slice takes at most {MAX_DIMS}")
    if any(s < 0 for s in shape):
        raise ValueError(f"{fn}: shape {shape} has a negative dimension")
    if int(np.prod(shape, dtype=np.int64)) >= 2**31:
        raise ValueError(f"{fn}: shape {shape} has 2^31 elements or more, more than int32 indexing allows")
    b, e, s = _int_list(fn, "begin", begin), _int_list(fn, "end", end), _int_list(fn, "strides", strides)
    n = len(b)
    if len(e) != n or len(s) != n:
        raise ValueError(f"{fn}: begin, end and strides must have the same length, got {len(b)}, {len(e)}, {len(s)}")
    if n > rank:
        raise ValueError(f"{fn}: begin has {n} entries, more than the input's {rank} dimensions")
    for name, mask in (("ellipsis_mask", ellipsis_mask), ("new_axis_mask", new_axis_mask)):
        if _checks.integer(fn, name, mask, INT32_MIN, INT32_MAX) != 0:
            raise ValueError(f"{fn}: {name} is not supported (must be 0; canonicalize the slice first), got {mask}")
    bm = _checks.integer(fn, "begin_mask", begin_mask, 0, 2**n - 1)
    em = _checks.integer(fn, "end_mask", end_mask, 0, 2**n - 1)
    sm = _checks.integer(fn, "shrink_axis_mask", shrink_axis_mask, 0, 2**n - 1)

    loops: list[tuple[int, int, int]] = []  # (begin, stride, count) per input dimension
    for d, size in enumerate(shape):
        if d >= n:
            loops.append((0, 1, size))
            continue
        stride = s[d]
        if stride == 0:
            raise ValueError(f"{fn}: strides[{d}] must be non-zero")
        lo, hi = (0, size) if stride > 0 else (-1, size - 1)
        start = b[d] + size if b[d] < 0 else b[d]
        start = min(max(start, lo), hi)
        if bm >> d & 1:
            start = 0 if stride > 0 else size - 1
        if sm >> d & 1:
            # TFLite takes [start, start + 1) and drops the dimension; with a negative stride its loop never
            # runs, and an index outside the dimension is clamped to 0 or gives no element: refused, as TF does.
            if stride < 0:
                raise ValueError(f"{fn}: strides[{d}] must be positive on a shrunk axis (shrink_axis_mask), "
                                 f"got {stride}")
            if not (bm >> d & 1) and not -size <= b[d] < size:
                raise ValueError(f"{fn}: begin[{d}] = {b[d]} lies outside dimension {d} (size {size}), "
                                 f"which shrink_axis_mask indexes")
            if size == 0:
                raise ValueError(f"{fn}: dimension {d} is empty; shrink_axis_mask cannot index it")
            loops.append((start, 1, 1))
            continue
        stop = e[d] + size if e[d] < 0 else e[d]
        stop = min(max(stop, lo), hi)
        if em >> d & 1:
            stop = size if stride > 0 else -1
        count = max(0, -((stop - start) // -stride))  # ceil((stop - start) / stride), exact
        loops.append((start, stride, count))
    return strided_slice_loops(shape, [b for b, _, _ in loops], [st for _, st, _ in loops], [c for _, _, c in loops],
                               shrink_axis_mask=sm)


def strided_slice_loops(shape, begin, strides, counts, shrink_axis_mask: int = 0) -> StridedSliceParams:
    """strided_slice_s8's loop nest from resolved per-dimension loops: input dimension d of ``shape`` (rank <= 5)
    read at ``begin[d] + k * strides[d]`` for k < ``counts[d]``; bit d of shrink_axis_mask drops dimension d
    (its count 1) from output_tensor_shape. The caller has checked every position of a non-empty walk lies in
    its dimension (strided_slice_params resolves them; a runtime reads them from a verified file).

    A count of 0 anywhere gives the empty walk over a 1-element input; otherwise a loop of one position takes
    stride 1, a whole dimension (begin 0, stride 1, count = size) merges into the stride-1 loop around it, and
    leading 1s pad the loops to five."""
    if not len(shape) == len(begin) == len(strides) == len(counts) <= MAX_DIMS:
        raise ValueError(f"strided_slice_loops: shape, begin, strides and counts need one entry per dimension "
                         f"(at most {MAX_DIMS}), got {len(shape)}, {len(begin)}, {len(strides)}, {len(counts)}")
    out_tensor = tuple(int(n) for d, n in enumerate(counts) if not shrink_axis_mask >> d & 1)
    if any(int(n) == 0 for n in counts):  # nothing to read: an empty walk over a 1-element input
        return StridedSliceParams(np.ones(MAX_DIMS, np.int32), np.zeros(MAX_DIMS, np.int32),
                                  np.ones(MAX_DIMS, np.int32), np.array([1, 1, 1, 1, 0], np.int32), out_tensor)
    merged: list[list[int]] = []
    for size, start, stride, count in zip(shape, begin, strides, counts):
        size, start, stride, count = int(size), int(start), int(stride), int(count)
        if count == 1:
            stride = 1  # one position: the step is never taken
        whole = start == 0 and stride == 1 and count == size
        if merged and merged[-1][2] == 1 and whole:  # the outer loop steps by one row of this whole dimension
            m = merged[-1]
            merged[-1] = [m[0] * size, m[1] * size, 1, m[3] * size]
        else:
            merged.append([size, start, stride, count])
    merged = [[1, 0, 1, 1]] * (MAX_DIMS - len(merged)) + merged
    cols = [np.array([m[j] for m in merged], np.int32) for j in range(4)]
    return StridedSliceParams(cols[0], cols[1], cols[2], cols[3], out_tensor)


def strided_slice_params(shape, begin, end, strides, begin_mask=0, end_mask=0, shrink_axis_mask=0, *,
                         ellipsis_mask=0, new_axis_mask=0) -> StridedSliceParams:
    """strided_slice_s8's loop nest for TFLite's STRIDED_SLICE of a tensor of ``shape`` (rank <= 5).

    begin, end, strides: one int32 each per leading dimension (len(begin) <= rank; later dimensions are
    taken whole); negative indices count from the end, out-of-range ones are clamped, a stride may be
    negative but not 0. Bit d of begin_mask / end_mask ignores begin[d] / end[d] (the slice starts / stops at
    the dimension's first or last element in the stride's direction); bit d of shrink_axis_mask takes the one
    element begin[d] (which must lie in [-size, size), with a positive stride) and drops the dimension.
    ellipsis_mask and new_axis_mask are refused (ValueError) unless 0, as TFLite's reference kernel did
    before its converter canonicalized them.

    Returns StridedSliceParams: input_shape, begin, strides, output_shape (five int32 each, the kernel's
    arguments of those names; not per tensor dimension: loops of one element take stride 1, whole dimensions
    merge into the stride-1 loop around them, and leading 1s pad it to five) and output_tensor_shape.

    The other slicing ops are one call per output, with strides all 1 (r = len(shape), a the axis, made
    non-negative, and ``end`` starting as list(shape)):
        SLICE(begin, size)         end[d] = begin[d] + size[d]; size[d] == -1 (to the end): end_mask bit d.
                                   SLICE's begin must not be negative (its own range rule, the caller's check).
        SPLIT(num_splits) output k the axis split in n = shape[a] // num_splits:
                                   begin[a] = k * n, end[a] = (k + 1) * n, other begins 0.
        SPLIT_V(size_splits) output k  begin[a] = sum(size_splits[:k]), end[a] = begin[a] + size_splits[k]
                                   (the caller resolves a -1 size to the remainder).
        UNPACK output k            begin[a] = k, end[a] = k + 1, shrink_axis_mask = 1 << a.
    """
    return _resolve("strided_slice_params", shape, begin, end, strides, begin_mask, end_mask, shrink_axis_mask,
                    ellipsis_mask, new_axis_mask)


def strided_slice(input: np.ndarray, begin, end, strides, *, begin_mask: int = 0, end_mask: int = 0,
                  shrink_axis_mask: int = 0, backend: str = "numba") -> np.ndarray:
    """TFLite's STRIDED_SLICE of an int8 or int16 tensor of up to five dimensions (strided_slice_params states the
    rules)."""
    fn = "strided_slice"
    check_backend(fn, backend)
    if not isinstance(input, np.ndarray):
        raise ValueError(f"{fn}: input must be a numpy array, got {type(input).__name__}")
    dtype = input.dtype if input.dtype == np.int16 else np.dtype(np.int8)
    x = _checks.array(fn, "input", input, dtype, input.ndim).reshape(input.shape)
    p = _resolve(fn, x.shape, begin, end, strides, begin_mask, end_mask, shrink_axis_mask, 0, 0)
    out = np.empty(p.output_tensor_shape, dtype=dtype)
    run_kernel(backend, strided_slice_s8 if dtype == np.int8 else strided_slice_s16, input_shape=p.input_shape, begin=p.begin, strides=p.strides,
               output_shape=p.output_shape, input=x.reshape(-1), output=out.reshape(-1))
    return out


def gather(params: np.ndarray, indices: np.ndarray, *, axis: int = 0, backend: str = "numba") -> np.ndarray:
    """TFLite's GATHER (batch_dims 0): np.take(params, indices, axis); indices int32 in [0, params.shape[axis])."""
    fn = "gather"
    check_backend(fn, backend)
    if not isinstance(params, np.ndarray):
        raise ValueError(f"{fn}: params must be a numpy array, got {type(params).__name__}")
    if not isinstance(indices, np.ndarray):
        raise ValueError(f"{fn}: indices must be a numpy array, got {type(indices).__name__}")
    if params.ndim < 1:
        raise ValueError(f"{fn}: params must have at least one dimension, got shape {params.shape}")
    p = _checks.array(fn, "params", params, np.int8, params.ndim)
    idx = _checks.array(fn, "indices", indices, np.int32, indices.ndim).reshape(indices.shape)
    ax = _checks.integer(fn, "axis", axis, -p.ndim, p.ndim - 1) % p.ndim
    axis_size = p.shape[ax]
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= axis_size):
        bad = int(idx.min()) if int(idx.min()) < 0 else int(idx.max())
        raise ValueError(f"{fn}: indices must lie in [0, {axis_size - 1}] (axis {ax} of params has size "
                         f"{axis_size}), got {bad}")
    out_shape = p.shape[:ax] + idx.shape + p.shape[ax + 1:]
    if int(np.prod(out_shape, dtype=np.int64)) >= 2**31:
        raise ValueError(f"{fn}: the output {out_shape} has 2^31 elements or more, more than int32 indexing allows")
    outer = int(np.prod(p.shape[:ax], dtype=np.int64))
    inner = int(np.prod(p.shape[ax + 1:], dtype=np.int64))
    out = np.empty(out_shape, dtype=np.int8)
    run_kernel(backend, gather_s8, outer=outer, indices_count=idx.size, axis_size=axis_size, inner=inner,
               indices=idx.reshape(-1), params=p.reshape(-1), output=out.reshape(-1))
    return out
