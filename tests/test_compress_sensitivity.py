"""Sensitivity and planning: the size model against a direct count, and plans that meet their target."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402

from microflat.compiler.compress import sensitivity  # noqa: E402
from microflat.runtime.errors import CompileError  # noqa: E402


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 300_000), sparsity=st.floats(0, 0.99), k=st.sampled_from([2, 4, 8, 16, 32, 64, 256]))
def test_layer_bytes_is_at_most_the_dense_layout_and_at_least_the_nonzeros_bits(n, sparsity, k):
    bits = 8 if k == 256 else int(math.log2(k))
    book = 0 if k == 256 else k
    nnz = n - round(sparsity * n)
    got = sensitivity.layer_bytes(n, sparsity, k)
    assert got <= -(-n * bits // 8) + book
    assert got >= book + (nnz * bits) // 8  # never below the nonzeros' own bits


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2_000, 60_000), sparsity=st.floats(0, 0.98), k=st.sampled_from([4, 16, 64]),
       seed=st.integers(0, 2**31))
def test_layer_bytes_predicts_the_compilers_smallest_encoding(n, sparsity, k, seed):
    """Random zeros and k values: the estimate is within 5% (+ 48 B) of what compiler/encodings.py stores."""
    from microflat.compiler import encodings

    rng = np.random.default_rng(seed)
    levels = np.linspace(-127, 127, k).round().astype(np.int8)
    w = levels[rng.integers(0, k, n)]
    w[rng.permutation(n)[:round(sparsity * n)]] = 0
    w = w.reshape(1, n)
    values = np.unique(w).size  # the palette the clusters make, zero included
    best = min(encodings.candidates(w, 0), key=lambda c: c.file_bytes)
    real = encodings.encode(w, 0, best).stored_bytes if best.kind != "dense" else n
    est = sensitivity.layer_bytes(n, sparsity, values)
    assert abs(est - real) <= 0.05 * real + 48, (est, real, best)


def _toy():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 10))


def test_plan_meets_the_target_and_spends_accuracy_where_it_is_cheapest():
    model = _toy()
    x = torch.randn(256, 64)
    ref = model(x).argmax(1)

    def agreement(m):  # "accuracy": agreement with the uncompressed model
        with torch.no_grad():
            return float((m(x).argmax(1) == ref).float().mean())

    sens = sensitivity.analyze(model, agreement, progress=False)
    assert sens.baseline == 1.0
    assert set(sens.prune_drop) == {"0", "2"} and sens.prune_drop["0"][0.0] == 0.0
    full = sum(sensitivity.layer_bytes(n, 0.0, 256) for n in sens.sizes.values())
    for target in (int(0.6 * full), int(0.3 * full)):
        p = sensitivity.plan(sens, target)
        est = sum(sensitivity.layer_bytes(sens.sizes[n], s, k) for n, (s, k) in p.rates.items())
        assert est == p.bytes <= target
    with pytest.raises(CompileError, match="out of reach"):
        sensitivity.plan(sens, 10)
    drops = np.array([v for d in sens.prune_drop.values() for v in d.values()])
    assert drops.max() > 0  # pruning a layer 98% does change the toy model's answers
