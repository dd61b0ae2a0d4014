"""Clustering: exact 1-D k-means against brute force, palettes, preserved zeros and per-cluster gradients."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402

from microflat.compiler.compress import cluster, kmeans1d, prune  # noqa: E402


def brute_force_sse(x, k):
    """The least sum of squared errors over every split of sorted x into k runs (optimal clusters are runs)."""
    xs = np.sort(np.asarray(x, np.float64))
    n, best = len(xs), np.inf
    for cuts in itertools.combinations(range(1, n), k - 1):
        b = (0,) + cuts + (n,)
        best = min(best, sum(((xs[i:j] - xs[i:j].mean()) ** 2).sum() for i, j in zip(b[:-1], b[1:])))
    return best


def sse(x, c, idx):
    return float(((np.asarray(x, np.float64) - c[idx]) ** 2).sum())


@settings(max_examples=60, deadline=None)
@given(x=st.lists(st.floats(-10, 10, allow_nan=False), min_size=2, max_size=10, unique=True), k=st.integers(1, 5))
def test_exact_kmeans_is_optimal(x, k):
    k = min(k, len(x))
    c, idx = kmeans1d.kmeans(np.array(x), k, "exact")
    assert abs(sse(x, c, idx) - brute_force_sse(x, k)) <= 1e-9 * (1 + brute_force_sse(x, 1))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 1000), k=st.integers(2, 16))
def test_exact_never_worse_than_the_heuristic_inits(seed, k):
    x = np.random.default_rng(seed).standard_t(3, size=500)
    c, idx = kmeans1d.kmeans(x, k, "exact")
    best = sse(x, c, idx)
    for init in ("linear", "density", "kmeans++"):
        c2, idx2 = kmeans1d.kmeans(x, k, init, seed)
        assert len(c2) == k
        assert best <= sse(x, c2, idx2) * (1 + 1e-12)
        assert np.array_equal(idx2, np.abs(x[:, None] - c2[None, :]).argmin(1))  # every value at its nearest


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("init", kmeans1d.INITS)
def test_palette_size_and_pruned_zeros_kept(per_channel, init):
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8 * 4 * 4, 6))
    prune.magnitude(model, 0.7)
    zeros = [m.weight.detach() == 0 for m in (model[0], model[2])]
    cluster.apply(model, 8, per_channel=per_channel, init=init)
    for z, m in zip(zeros, (model[0], model[2])):
        w = m.weight.detach()
        assert torch.equal(w == 0, z), "clustering must keep exactly the pruned zeros"
        rows = w.reshape(w.shape[0], -1) if per_channel else w.reshape(1, -1)
        for r in rows:
            assert torch.unique(r).numel() <= 8  # 7 centroids and the fixed zero


def test_centroid_gradient_is_the_sum_over_its_cluster():
    torch.manual_seed(2)
    layer = nn.Linear(10, 6)
    cluster.apply(nn.Sequential(layer), 5, preserve_sparsity=False)
    p = layer.parametrizations.weight
    index = p[0].index.numpy().reshape(-1)
    x = torch.randn(7, 10)
    # the dense weight gradient of the same weights, computed on a plain copy
    dense = nn.Linear(10, 6)
    with torch.no_grad():
        dense.weight.copy_(layer.weight)
        dense.bias.copy_(layer.bias)
    (dense(x) ** 2).sum().backward()
    (layer(x) ** 2).sum().backward()
    g = dense.weight.grad.numpy().astype(np.float64).reshape(-1)
    want = np.bincount(index, weights=g, minlength=6)[1:]  # column 0 is the fixed zero
    np.testing.assert_allclose(p.original.grad.numpy().reshape(-1), want, rtol=1e-5, atol=1e-6)


def test_centroid_fine_tuning_keeps_the_palette():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 4))
    prune.magnitude(model, 0.5)
    cluster.apply(model, 4)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
    before = {n: c.detach().clone() for n, c in cluster.centroids(model).items()}
    for _ in range(5):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    assert any(not torch.equal(before[n], c) for n, c in cluster.centroids(model).items())
    prune.finalize(model)
    assert max(cluster.distinct_values(model).values()) <= 4
    assert all(abs(s - 0.5) < 0.02 for s in prune.sparsity_of(model).values())
