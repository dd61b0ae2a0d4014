"""What both loaders refuse before they commit memory or time.

A vector's count is checked before any of its elements is read: a file of more operators than the limit is
refused at that vector's length word without one operator table decoded.
"""

import struct

import pytest

from model_builders import conv_pool_fc_softmax, rewritten
from microflat.runtime import FormatError, load_bytes
from microflat.runtime import flatbuffer_reader
from microflat.runtime.c_runtime import CRuntime, CRuntimeError
from microflat.runtime.format import MAX_TABLE_VECTOR

VALID, _ = conv_pool_fc_softmax()
MODEL = load_bytes(VALID)


def both_refuse(data: bytes):
    """(Python's FormatError, C's CRuntimeError) of a file both loaders refuse, at the same byte."""
    with pytest.raises(FormatError) as py:
        load_bytes(data)
    with pytest.raises(CRuntimeError) as c:
        CRuntime(data)
    assert py.value.offset == c.value.offset, f"Python: {py.value}; C: {c.value}"
    return py.value, c.value


# --- counts before elements -------------------------------------------------------------------------------

def _many_operators(n: int) -> bytes:
    """The valid model with its operators repeated to n, each its own table (the graph is wrong, the counts matter)."""
    def mutate(model, buffers):
        ops = model["operators"]
        model["operators"] = [dict(ops[k % len(ops)]) for k in range(n)]
        model["plan"]["scratch_offsets"] = [-1] * n
    return rewritten(mutate)


@pytest.mark.parametrize("n", [MAX_TABLE_VECTOR + 1, 20_000])
def test_more_operators_than_the_limit_are_refused_before_one_is_read(n, monkeypatch):
    data = _many_operators(n)
    decoded = []
    table = flatbuffer_reader._Reader.table

    def counting(self, path, pos, name, depth):
        decoded.append(name)
        return table(self, path, pos, name, depth)
    monkeypatch.setattr(flatbuffer_reader._Reader, "table", counting)
    py, c = both_refuse(data)
    assert py.field == "Model.operators" and c.status == "MF_ERROR_FLATBUFFER", (str(py), str(c))
    assert struct.unpack_from("<I", data, py.offset)[0] == n  # the vector's length word
    assert "Operator" not in decoded and f"{n} Operator entries" in py.reason
