"""Low-rank factorization against numpy's SVD: ranks, Eckart-Young error, budgets, two compiled layers."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402

from microflat.compiler import compile_model, zoo  # noqa: E402
from microflat.compiler.compress import lowrank, metrics  # noqa: E402


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), energy=st.floats(0.05, 0.99))
def test_linear_rank_and_error_follow_the_singular_values(seed, energy):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(40, 30))
    w = model[0].weight.detach().numpy().astype(np.float64)
    s = np.linalg.svd(w, compute_uv=False)
    share = np.cumsum(s ** 2) / np.sum(s ** 2)
    r = int(np.argmax(share >= energy * (1 - 1e-12))) + 1
    ranks = lowrank.factorize(model, energy=energy)
    if r * (40 + 30) >= 40 * 30:
        assert ranks == {}
        return
    assert ranks == {"0": r}
    a, b = model[0][0].weight.detach().double().numpy(), model[0][1].weight.detach().double().numpy()
    err = np.linalg.norm(b @ a - w)
    assert abs(err - np.sqrt(np.sum(s[r:] ** 2))) <= 1e-4 * np.linalg.norm(w)  # Eckart-Young


def test_conv_channel_svd_at_full_rank_reproduces_the_conv():
    torch.manual_seed(0)
    conv = nn.Conv2d(6, 40, 3, stride=2, padding=1)
    model = nn.Sequential(conv)
    x = torch.randn(2, 6, 9, 9)
    y = model(x)
    ranks = lowrank.factorize(model, energy=1.0)
    assert ranks == {"0": 40} or ranks == {}  # rank 40 of a 40 x 54 matrix saves nothing
    model2 = nn.Sequential(nn.Conv2d(16, 64, 3, padding=1))
    with torch.no_grad():  # a rank-4 weight: factorized exactly at rank 4
        u, v = torch.randn(64, 4), torch.randn(4, 16 * 9)
        model2[0].weight.copy_((u @ v).reshape(64, 16, 3, 3))
    x = torch.randn(2, 16, 7, 7)
    y = model2(x)
    assert lowrank.factorize(model2, energy=1.0 - 1e-9) == {"0": 4}
    torch.testing.assert_close(model2(x), y, rtol=1e-4, atol=1e-3)


def test_budget_halves_lenet300_and_compiles_to_two_fc_layers_each():
    model = zoo.load("lenet300", trained=False)
    total = metrics.count_params(model)
    ranks = lowrank.factorize(model, budget=0.5)
    assert metrics.count_params(model) <= 0.5 * total
    assert set(ranks) <= {"fc1", "fc2", "fc3"} and "fc1" in ranks
    x = zoo.inputs("lenet300", 8)
    cm = compile_model(model, (x[:1],), [x], progress=False)
    assert [n.op for n in cm.graph.nodes].count("fc") == 3 + len(ranks)
