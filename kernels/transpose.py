"""int8 transpose: TFLite's TRANSPOSE, any permutation of up to five dimensions.

output[i_0, ..., i_{k-1}] = input[j_0, ..., j_{k-1}] with j_{perm[d]} = i_d, so
output dimension d is input dimension perm[d] (numpy's np.transpose(x, perm)).
The bytes are copied; the quantization is the input's.

The kernel walks a rank-5 loop nest in output order: ``output_shape`` holds
five loop sizes (the product is the element count) and ``input_strides`` the
element stride in the input of each loop. transpose_params builds the two
from (shape, perm): it drops size-1 dimensions, merges neighbouring output
dimensions that are also neighbours, in order, in the input (so a 4-D
NHWC -> NCHW with batch 1 becomes a 2-D [C, H * W] walk, and the identity
one contiguous run), and pads with leading 1s. When the innermost stride is 1
the kernel copies contiguous runs.

Contract (trusted, checked by the wrapper): loop sizes positive, every
input index below 2^31, output holds the product of output_shape elements.
The output is written in order while the input is read in permuted order, so
the output must not alias the input unless perm is the identity (then each
element is read just before it is overwritten with itself). Never allocates.
C twin: transpose.c.
"""

from __future__ import annotations

import numpy as np
from numba import types

from . import _checks
from ._copy import copy_elements
from ._dispatch import check_backend, run_kernel
from ._jit import kernel

MAX_DIMS = 5

_v32 = types.int32[::1]


@kernel(types.void(_v32, _v32, types.int8[::1], types.int8[::1]))
def transpose_s8(output_shape, input_strides, input, output):
    """The jitted kernel; trusts its caller. output_shape: five loop sizes in output order;
    input_strides: the input element stride of each; output written in order."""
    n0, n1, n2, n3, n4 = output_shape[0], output_shape[1], output_shape[2], output_shape[3], output_shape[4]
    s0, s1, s2, s3, s4 = input_strides[0], input_strides[1], input_strides[2], input_strides[3], input_strides[4]
    i = 0
    for a in range(n0):
        for b in range(n1):
            for c in range(n2):
                for d in range(n3):
                    base = a * s0 + b * s1 + c * s2 + d * s3
                    if s4 == 1:
                        copy_elements(output[i:i + n4], input[base:base + n4])
                    else:
                        # Unsigned indices: Numba skips its negative-index (wraparound) test, 3x faster here.
                        for e in range(n4):
                            output[np.uint64(i + e)] = input[np.uint64(base + e * s4)]
                    i += n4


def _check_perm(fn: str, perm, ndim: int) -> tuple[int, ...]:
    """perm as a tuple of ints: a permutation of range(ndim), ndim <= 5."""
    if isinstance(perm, np.ndarray):
        if perm.ndim != 1 or not np.issubdtype(perm.dtype, np.integer):
            raise ValueError(f"{fn}: perm must be a 1-D sequence of integers, got {perm!r}")
        perm = perm.tolist()
    if not isinstance(perm, (list, tuple)):
        raise ValueError(f"{fn}: perm must be a sequence of integers, got {perm!r}")
    if ndim > MAX_DIMS:
        raise ValueError(f"{fn}: the input has {ndim} dimensions; perm can reorder at most {MAX_DIMS}")
    if len(perm) != ndim:
        raise ValueError(f"{fn}: perm must have one entry per input dimension ({ndim}), got {len(perm)}: {perm!r}")
    p = tuple(_checks.integer(fn, f"perm[{d}]", v, 0, ndim - 1) for d, v in enumerate(perm))
    if sorted(p) != list(range(ndim)):
        raise ValueError(f"{fn}: perm must be a permutation of 0..{ndim - 1}, got {p!r}")
    return p


def transpose_params(shape, perm) -> tuple[np.ndarray, np.ndarray]:
    """(output_shape, input_strides), five int32 each: transpose_s8's loop nest for ``shape`` permuted by ``perm``.

    Not the output tensor's shape (that is [shape[p] for p in perm]): size-1 dimensions are dropped and
    output neighbours that are contiguous in the input merged, then leading 1s pad it to five."""
    fn = "transpose_params"
    shape = tuple(int(s) for s in shape)
    p = _check_perm(fn, perm, len(shape))
    in_strides = [1] * len(shape)
    for d in range(len(shape) - 2, -1, -1):
        in_strides[d] = in_strides[d + 1] * shape[d + 1]
    dims: list[int] = []
    strides: list[int] = []
    for d in p:
        size, stride = shape[d], in_strides[d]
        if size == 1:
            continue
        if dims and strides[-1] == size * stride:  # the previous loop steps over exactly this one: merge
            dims[-1] *= size
            strides[-1] = stride
        else:
            dims.append(size)
            strides.append(stride)
    pad = MAX_DIMS - len(dims)
    return np.array([1] * pad + dims, np.int32), np.array([0] * pad + strides, np.int32)


def transpose(input: np.ndarray, perm, *, backend: str = "numba") -> np.ndarray:
    """Permute the dimensions of an int8 tensor of up to five: output dimension d is input dimension perm[d]."""
    fn = "transpose"
    check_backend(fn, backend)
    if not isinstance(input, np.ndarray):
        raise ValueError(f"{fn}: input must be a numpy array, got {type(input).__name__}")
    x = _checks.array(fn, "input", input, np.int8, input.ndim).reshape(input.shape)  # keeps a 0-D input 0-D
    p = _check_perm(fn, perm, x.ndim)
    if x.ndim and min(x.shape) < 1:
        raise ValueError(f"{fn}: input {x.shape} must have no empty dimension")
    loops, strides = transpose_params(x.shape, p)
    out = np.empty(tuple(x.shape[d] for d in p), dtype=np.int8)
    run_kernel(backend, transpose_s8, output_shape=loops, input_strides=strides, input=x.reshape(-1),
               output=out.reshape(-1))
    return out
