"""The compression pieces on the six models of reach_models.py: each piece applied as a user would (no fine-tuning:
what is tested is that the compressed model still compiles and runs, and that the piece took effect in the file).

    prune       50% magnitude pruning, masks baked in: the file is smaller than the dense model's
    channels    25% of the prunable channels removed: fewer MACs in the file
    cluster     16 shared values per layer: the file is smaller than the dense model's
    qat         the QAT model's own fake quantizations are the file's (the compiler keeps them)

Every compressed file runs on both backends with the same bytes. Which piece leaves which layers alone, and
why, is the pieces' own business (structured.analyze names a group's reason).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from microflat.compiler import compile_model
from microflat.compiler.compress import cluster, prune, qat, structured
from microflat.runtime import Interpreter, load_bytes
from microflat.runtime.inspect_model import summary
from reach_models import REACH_MODELS, reach_inputs

PIECES = ("prune", "channels", "cluster", "qat")


def _compiled(model, x):
    return compile_model(model.eval(), (x[:1],), [x], progress=False)


@functools.lru_cache(maxsize=None)
def _dense(name):
    return _compiled(REACH_MODELS[name]().eval(), reach_inputs(name, 8))


def _runs_on_both_backends(cm, name, x):
    feed = cm.to_physical([x])[0].numpy()
    feed = feed.astype(np.int32) if name == "text" else feed
    got = [Interpreter(cm.data, backend=b).invoke(feed)[0] for b in ("numba", "c")]
    np.testing.assert_array_equal(got[0], got[1])


@pytest.mark.parametrize("piece", PIECES)
@pytest.mark.parametrize("name", sorted(REACH_MODELS))
def test_compression_piece_on_model(name, piece):
    x = reach_inputs(name, 8)
    dense = _dense(name)
    model = REACH_MODELS[name]().eval()
    if piece == "prune":
        prune.magnitude(model, 0.5)
        assert prune.total_sparsity(model) >= 0.49
        prune.finalize(model)
    elif piece == "channels":
        structured.remove_channels(model, (x[:1],), 0.25)
    elif piece == "cluster":
        cluster.apply(model, 16)
    else:
        model = qat.prepare(model, [x]).eval()
    cm = _compiled(model, x)
    _runs_on_both_backends(cm, name, x[:2])
    if piece in ("prune", "cluster"):
        assert len(cm.data) < len(dense.data)
    elif piece == "channels":
        if name == "transformer":  # its channel groups are tied to the residual stream, a model output's
            assert summary(load_bytes(cm.data))["macs"] <= summary(load_bytes(dense.data))["macs"]
        else:
            assert summary(load_bytes(cm.data))["macs"] < summary(load_bytes(dense.data))["macs"]
    else:
        kept = [v for v in cm.graph.values() if v.fake_quant is not None]
        assert kept and all((v.scale, v.zero_point) == v.fake_quant for v in kept)
        assert all(v.fake_quant is None for v in cm.graph.inputs if v.dtype == "int32")
