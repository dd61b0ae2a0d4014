"""A batch run as one program of the model re-planned for N samples (runtime/batch_plan.py) computes what the C
runtime computes sample by sample on the file's own plan, byte for byte; models that mix samples are refused
and still run, sample by sample."""

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microflat.runtime import memory_plan
from microflat.runtime.batch_plan import batched_model, per_sample_reason
from microflat.runtime.interpreter import BATCH_PROGRAM_SAMPLES, Interpreter
from microflat.runtime.loader import load_bytes
from model_builders import stream_models
from zoo_files import COMPILED_STREAMS, compiled_zoo

# The op-coverage models whose graphs cross samples: a batch-free [16, 8] activation (attention's heads), a slice
# and a gather whose first axis is not only the batch, an LSTM (one sequence: batch 1).
MIXING = {"ops/attention", "ops/slicing", "ops/embedding", "ops/lstm16"}
# The streaming models keep state across invokes: their samples run one after another, as a stream, on both
# backends (the Numba one carries the state from sample to sample as the C one does).
STREAMS = set(stream_models()) | set(COMPILED_STREAMS)


def _inputs(model, n, seed):
    rng = np.random.default_rng(seed)
    out = []
    for i in model.inputs:
        t = model.tensors[i]
        if t.dtype == "int32":  # token ids: in range for the embedding
            out.append(rng.integers(0, 4, (n,) + t.shape[1:]).astype(np.int32))
        elif t.dtype == "float32":
            out.append(rng.normal(0, 1, (n,) + t.shape[1:]).astype(np.float32))
        else:
            out.append(rng.integers(-128, 128, (n,) + t.shape[1:]).astype(t.dtype))
    return out


@pytest.mark.parametrize("name", sorted(compiled_zoo()))
def test_a_batch_equals_the_c_runtime_sample_by_sample(name):
    data = compiled_zoo()[name]
    model = load_bytes(data)
    assert (per_sample_reason(model) is not None) == (name in MIXING | STREAMS)
    n = BATCH_PROGRAM_SAMPLES + 3  # one whole program and a remainder
    x = _inputs(model, n, seed=11)
    got = Interpreter(model).invoke(*x)
    want = Interpreter(data, backend="c").invoke(*x)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("name", sorted(set(compiled_zoo()) - MIXING - STREAMS))
def test_the_batch_plan_keeps_live_buffers_apart(name):
    model = batched_model(load_bytes(compiled_zoo()[name]), 5)
    bufs = model.plan_buffers()
    for b in bufs:
        first = b.members[0]
        b.offset = model.scratch_offsets[first[1]] if isinstance(first, tuple) else model.tensor_offsets[first]
    assert memory_plan.overlapping_pair(bufs, model.overlap_pairs()) is None
    assert model.arena_bytes == memory_plan.arena_end(bufs)
    assert all(model.tensors[i].shape[0] == 5 for i in model.inputs + model.outputs)


@settings(max_examples=12, deadline=None)
@given(st.sampled_from(["fc_autoencoder", "lenet5", "ds_cnn/int4", "resnet8/float_io"]),
       st.integers(2, 2 * BATCH_PROGRAM_SAMPLES + 5), st.integers(0, 2**31 - 1), st.booleans())
def test_any_batch_size_equals_single_runs(name, n, seed, dequantize):
    it, c = _interpreters(name)
    x = _inputs(it.model, n, seed)
    got = it.invoke(*x, dequantize=dequantize)
    want = c.invoke(*x, dequantize=dequantize)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


@functools.lru_cache(maxsize=None)
def _interpreters(name):
    """(Numba, C) interpreters of a zoo file, made once per test session: hypothesis calls the test many times."""
    data = compiled_zoo()[name]
    return Interpreter(data), Interpreter(data, backend="c")
