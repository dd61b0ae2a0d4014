"""The Numba backend runs its steps as integer programs (runtime/step_program.py): the same bytes as calling
each kernel from Python, and no known kernel left to Python."""

import numpy as np
import pytest

from microflat.runtime import Interpreter
from microflat.runtime import step_program as SP
from model_builders import conv_pool_fc_softmax
from zoo_files import compiled_zoo


def test_row_lengths_follow_the_kernels_signatures():
    """run_program decodes rows of fixed lengths; they must be what the encoder writes for each signature."""
    for k, kernel in enumerate(SP.KERNELS):
        fields = SP.FIELDS[kernel]
        assert SP.ROW_LENGTHS[k] == 1 + sum(3 if isinstance(f, np.dtype) else 1 for f in fields), kernel.__name__


def _programs(it):
    return it._invoke_all.__self__.segments


def _one_by_one(it, x):
    """The outputs of calling every step from Python, on the same interpreter."""
    m = it.model
    np.copyto(it.view(m.tensors[m.inputs[0]]), x.reshape(-1))
    for fn, args in it.steps:
        fn(*args)
    return [it.view(m.tensors[i]).reshape(m.tensors[i].shape).copy() for i in m.outputs]


@pytest.mark.parametrize("name", sorted(compiled_zoo()))
def test_zoo_models_run_their_known_kernels_in_programs_with_the_same_bytes(name):
    it = Interpreter(compiled_zoo()[name])
    for segment in _programs(it):
        assert isinstance(segment, np.ndarray) or not any(segment[0] is k for k in SP.KERNELS), segment[0]
    assert any(isinstance(s, np.ndarray) for s in _programs(it))
    t = it.input_details[0]
    rng = np.random.default_rng(5)
    for _ in range(3):
        if t["dtype"] == "int8":
            x = rng.integers(-128, 128, t["shape"]).astype(np.int8)
        else:
            x = rng.standard_normal(t["shape"]).astype(np.float32)
        got = it.invoke(x)
        for a, b in zip(got, _one_by_one(it, x)):
            np.testing.assert_array_equal(a, b)


def test_steps_the_program_does_not_know_run_between_programs():
    """quantize, reshape and dequantize are Python steps; the layers between them are programs."""
    data, reference = conv_pool_fc_softmax(seed=3)
    it = Interpreter(data)
    kinds = ["program" if isinstance(s, np.ndarray) else "python" for s in _programs(it)]
    assert "program" in kinds and "python" in kinds
    x = np.random.default_rng(0).standard_normal(it.input_details[0]["shape"]).astype(np.float32)
    (got,) = it.invoke(x)
    (expected,) = _one_by_one(it, x)
    np.testing.assert_array_equal(got, expected)
    (c_out,) = Interpreter(data, backend="c").invoke(x)
    np.testing.assert_array_equal(got, c_out)
