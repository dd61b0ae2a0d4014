"""int8 transpose: Numba equals np.transpose, C equals Numba byte for byte, and bad perms are refused.

Shapes of 1 to 5 dimensions of sizes 1..5 (so size-1 dimensions, which
transpose_params drops, are common), every permutation; the kernel is also
run directly on the unmerged loop nest, the plain padded output shape and
permuted input strides, so its general path is held to the same reference.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from microflat.testing.layer_cases import int8_array
from microflat import kernels as k
from microflat.kernels import native


def reference(x: np.ndarray, perm) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(x, perm))


@st.composite
def cases(draw):
    ndim = draw(st.integers(1, 5))
    shape = tuple(draw(st.integers(1, 5)) for _ in range(ndim))
    perm = tuple(draw(st.permutations(range(ndim))))
    return int8_array(draw, shape), perm


@given(case=cases())
def test_transpose_numba_equals_numpy_and_c_equals_numba(case):
    x, perm = case
    want = reference(x, perm)
    got = k.transpose(x, perm, backend="numba")
    assert got.dtype == np.int8 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    got_c = k.transpose(x, perm, backend="c")
    assert got_c.shape == want.shape and got_c.tobytes() == got.tobytes()


def _unmerged_params(shape, perm):
    """The loop nest without merging: the output shape and the input stride of each output dimension, padded."""
    strides = [int(np.prod(shape[d + 1:], dtype=np.int64)) for d in range(len(shape))]
    pad = 5 - len(shape)
    return (np.array([1] * pad + [shape[p] for p in perm], np.int32),
            np.array([0] * pad + [strides[p] for p in perm], np.int32))


@given(case=cases())
def test_kernel_on_the_unmerged_loop_nest(case):
    x, perm = case
    loops, strides = _unmerged_params(x.shape, perm)
    out = np.full(x.size, 99, np.int8)
    k.transpose_s8(loops, strides, x.reshape(-1), out)
    np.testing.assert_array_equal(out, reference(x, perm).reshape(-1))
    out_c = np.full(x.size, 99, np.int8)
    native.call("mf_transpose_s8", loops, strides, x.reshape(-1), out_c)
    assert out_c.tobytes() == out.tobytes()


@given(case=cases())
def test_params_cover_every_element(case):
    x, perm = case
    loops, strides = k.transpose_params(x.shape, perm)
    assert loops.dtype == np.int32 and strides.dtype == np.int32 and loops.shape == strides.shape == (5,)
    assert int(np.prod(loops, dtype=np.int64)) == x.size


def test_params_merge_contiguous_runs():
    # NHWC -> NCHW at batch 1: a 2-D walk [C, H * W] reading the input with stride C.
    loops, strides = k.transpose_params((1, 3, 4, 8), (0, 3, 1, 2))
    assert loops.tolist() == [1, 1, 1, 8, 12] and strides.tolist() == [0, 0, 0, 1, 8]
    # The identity: one contiguous run.
    loops, strides = k.transpose_params((2, 3, 4, 5, 6), (0, 1, 2, 3, 4))
    assert loops.tolist() == [1, 1, 1, 1, 720] and strides.tolist() == [0, 0, 0, 0, 1]


@pytest.mark.parametrize("backend", ["numba", "c"])
def test_identity_runs_in_place(backend):
    x = np.arange(-60, 60, dtype=np.int8).reshape(2, 3, 4, 5)
    flat = x.reshape(-1).copy()
    loops, strides = k.transpose_params(x.shape, (0, 1, 2, 3))
    if backend == "numba":
        k.transpose_s8(loops, strides, flat, flat)
    else:
        native.call("mf_transpose_s8", loops, strides, flat, flat)
    np.testing.assert_array_equal(flat, x.reshape(-1))


def test_a_scalar_copies():
    x = np.array(-7, np.int8)
    for backend in ("numba", "c"):
        got = k.transpose(x, (), backend=backend)
        assert got.shape == () and int(got) == -7


@pytest.mark.parametrize("shape, perm, message", [
    ((2, 3), (0, 0), "perm must be a permutation"),
    ((2, 3, 4), (0, 2, 2), "perm must be a permutation"),
    ((2, 3), (0, 2), r"perm\[1\] must be in \[0, 1\]"),
    ((2, 3), (-1, 0), r"perm\[0\] must be in \[0, 1\]"),
    ((2, 3), (1,), "perm must have one entry per input dimension"),
    ((2, 3), (0, 1, 2), "perm must have one entry per input dimension"),
    ((2, 3), (0.0, 1), r"perm\[0\] must be an integer"),
    ((2, 3), (True, False), r"perm\[0\] must be an integer"),
    ((2, 3), "01", "perm must be a sequence of integers"),
    ((2, 3), 1, "perm must be a sequence of integers"),
    ((2, 3), np.array([[0, 1]]), "perm must be a 1-D sequence of integers"),
    ((1, 2, 1, 2, 1, 2), (0, 1, 2, 3, 4, 5), "the input has 6 dimensions; perm can reorder at most 5"),
])
def test_transpose_refuses_a_bad_perm(shape, perm, message):
    x = np.zeros(shape, np.int8)
    with pytest.raises(ValueError, match="transpose: " + message):
        k.transpose(x, perm)


def test_transpose_accepts_a_numpy_perm():
    x = np.arange(24, dtype=np.int8).reshape(2, 3, 4)
    perm = np.array([2, 0, 1], np.int32)
    np.testing.assert_array_equal(k.transpose(x, perm), reference(x, (2, 0, 1)))


@pytest.mark.parametrize("value, message", [
    (np.zeros((2, 3), np.int16), "input must have dtype int8"),
    ([[1, 2]], "input must be a numpy array"),
    (np.zeros((2, 0), np.int8), r"input \(2, 0\) must have no empty dimension"),
])
def test_transpose_refuses_a_bad_input(value, message):
    with pytest.raises(ValueError, match="transpose: " + message):
        k.transpose(value, (1, 0))


def test_transpose_refuses_a_bad_backend():
    with pytest.raises(ValueError, match="transpose: backend"):
        k.transpose(np.zeros((2, 3), np.int8), (1, 0), backend="cuda")
