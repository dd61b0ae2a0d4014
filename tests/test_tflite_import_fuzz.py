"""The importer reads untrusted files: damaged .tflite files beyond kws's (tests/test_tflite_import.py fuzzes that
one) give either a .mfb both of microflat's loaders accept (the Python loader, load_bytes, and the C runtime's,
mf_arena_bytes and mf_model_load) or one CompileError, never another exception or a crash.

The files damaged: a 16x8 conv (tests/test_tflite_import_16x8.py), an int8 and a 16x8 LSTM and an SVDF (their state
in variable tensors: tests/test_tflite_import_recurrent.py), and the multi-subgraph files of
tests/test_tflite_import_subgraphs.py (nested composites; CALL_ONCE with resource variables). Bytes set anywhere
(tables, vectors, buffers, the subgraph and tensor indices), aligned words set to edge values, the file cut short.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import test_tflite_import_16x8 as S16
import test_tflite_import_recurrent as REC
import test_tflite_import_subgraphs as SUB
from microflat.compiler.tflite_import import compile_tflite
from microflat.runtime import CompileError, load_bytes
from microflat.runtime.c_runtime import CRuntime

FILES = {
    "conv-16x8": lambda: S16._conv_16x8(np.int64),
    "lstm-int8": REC._int8_file,
    "lstm-16x8": REC._16x8_file,
    "svdf": lambda: REC._svdf_file()[0],
    "composites": SUB._composite_model,
    "call-once-variables": SUB._streaming_model,
}
WORDS = [0, 1, 2, 3, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFF]


@pytest.fixture(scope="module")
def originals():
    files = {name: make() for name, make in FILES.items()}
    for data in files.values():  # each compiles undamaged, so the mutants start from a file the importer takes
        load_bytes(compile_tflite(data))
    return files


def _damaged(data: bytes, draw) -> bytes:
    damaged = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        if draw(st.booleans()):
            damaged[draw(st.integers(0, len(damaged) - 1))] = draw(st.integers(0, 255))
        else:  # an aligned word (where offsets, lengths and indices live) set to an edge value
            at = draw(st.integers(0, (len(damaged) - 4) // 4)) * 4
            damaged[at:at + 4] = draw(st.sampled_from(WORDS)).to_bytes(4, "little")
    if draw(st.integers(0, 4)) == 0:
        damaged = damaged[:draw(st.integers(0, len(damaged)))]
    return bytes(damaged)


@pytest.mark.parametrize("name", sorted(FILES))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_damaged_built_tflite_gives_a_file_both_loaders_accept_or_one_compile_error(name, originals, data):
    damaged = _damaged(originals[name], data.draw)
    try:
        mfb = compile_tflite(damaged)
    except CompileError as e:
        assert "\n" not in str(e)
        return
    load_bytes(mfb)
    CRuntime(mfb)  # raises CRuntimeError where the C loader refuses what the Python one accepted
