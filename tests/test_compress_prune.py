"""Pruning: which weights go, against plain numpy selections; the schedule against Zhu & Gupta's formula."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402
from torch.nn.utils import parametrize  # noqa: E402

from microflat.compiler.compress import prune  # noqa: E402
from microflat.runtime.errors import CompileError  # noqa: E402


def _model(seed, sizes=((12, 7), (7, 5))):
    torch.manual_seed(seed)
    return nn.Sequential(*[nn.Linear(i, o) for i, o in sizes])


def _weights(model):
    return [m.weight.detach().numpy().astype(np.float64) for m in model if isinstance(m, nn.Linear)]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), sparsity=st.floats(0.0, 0.95))
def test_layerwise_magnitude_keeps_the_largest_of_each_layer(seed, sparsity):
    model = _model(seed)
    dense = _weights(model)
    prune.magnitude(model, sparsity)
    for w0, w in zip(dense, _weights(model)):
        n = w0.size
        pruned = w == 0
        assert pruned.sum() == int(round(sparsity * n))  # continuous random weights: no zeros before
        kept = ~pruned
        if pruned.any() and kept.any():
            assert np.abs(w0[pruned]).max() <= np.abs(w0[kept]).min()
        np.testing.assert_array_equal(w[kept], w0[kept])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), sparsity=st.floats(0.0, 0.95))
def test_global_magnitude_uses_one_threshold(seed, sparsity):
    model = _model(seed)
    dense = np.concatenate([w.ravel() for w in _weights(model)])
    prune.magnitude(model, sparsity, scope="global")
    now = np.concatenate([w.ravel() for w in _weights(model)])
    pruned = now == 0
    assert pruned.sum() == int(round(sparsity * dense.size))
    if pruned.any() and (~pruned).any():
        assert np.abs(dense[pruned]).max() <= np.abs(dense[~pruned]).min()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), nm=st.sampled_from([(1, 2), (2, 4), (1, 4), (3, 4), (4, 8)]))
def test_n_m_keeps_n_largest_of_every_m_consecutive_input_channels(seed, nm):
    n, m = nm
    torch.manual_seed(seed)
    conv = nn.Conv2d(2 * m, 3, (2, 3))
    dense = conv.weight.detach().numpy().astype(np.float64)
    prune.n_m(nn.Sequential(conv), n, m)
    w = conv.weight.detach().numpy()
    # groups run along input channels at each output channel and kernel position (OHWI innermost)
    d = dense.transpose(0, 2, 3, 1).reshape(-1, m)
    p = w.transpose(0, 2, 3, 1).reshape(-1, m)
    assert ((p != 0).sum(axis=1) == n).all()
    for row_d, row_p in zip(d, p):
        kept = row_p != 0
        assert np.abs(row_d[~kept]).max() <= np.abs(row_d[kept]).min()


def test_n_m_leaves_a_layer_whose_inputs_do_not_divide_dense():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 8))
    s = prune.n_m(model, 2, 4)
    assert s["0"] == 0.0 and s["2"] == 0.5


def zhu_gupta(t, s_i, s_f, t0, t_end):
    """Zhu & Gupta 2017, eq. (1), written from the paper."""
    if t < t0:
        return s_i
    if t > t_end:
        return s_f
    n_dt = t_end - t0
    return s_f + (s_i - s_f) * (1 - (t - t0) / n_dt) ** 3


@settings(max_examples=60, deadline=None)
@given(t=st.integers(0, 300), s_i=st.floats(0, 0.5), s_f=st.floats(0.5, 0.99), t0=st.integers(0, 50),
       length=st.integers(1, 200))
def test_polynomial_sparsity_is_zhu_gupta(t, s_i, s_f, t0, length):
    got = prune.polynomial_sparsity(t, s_i, s_f, t0, t0 + length)
    assert abs(got - zhu_gupta(t, s_i, s_f, t0, t0 + length)) < 1e-12


def test_schedule_in_a_training_loop_ramps_up_and_never_revives_a_weight():
    model = _model(3, ((20, 16), (16, 4)))
    schedule = prune.PolynomialDecay(model, 0.8, begin_step=2, end_step=20, frequency=3)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    x, y = torch.randn(64, 20), torch.randint(0, 4, (64,))
    zeros_before = [torch.zeros_like(m.weight, dtype=torch.bool) for m in model]
    last = 0.0
    for step in range(25):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        schedule.step()
        now = prune.total_sparsity(model)
        assert now >= last - 1e-9
        for z, m in zip(zeros_before, model):
            assert (m.weight[z] == 0).all(), "a pruned weight came back"
            z |= m.weight == 0
        last = now
    assert abs(last - 0.8) < 0.01


def test_finalize_keeps_the_effective_weight_and_drops_the_parametrization():
    model = _model(5)
    prune.magnitude(model, 0.6)
    effective = [m.weight.detach().clone() for m in model]
    prune.finalize(model)
    for m, w in zip(model, effective):
        assert not parametrize.is_parametrized(m)
        assert torch.equal(m.weight, w)


def test_bad_arguments_raise_compile_error():
    with pytest.raises(CompileError, match="sparsity"):
        prune.magnitude(_model(0), 1.0)
    with pytest.raises(CompileError, match="no conv or linear layer named"):
        prune.magnitude(_model(0), 0.5, layers=["nope"])
    with pytest.raises(CompileError, match="0 < n < m"):
        prune.n_m(_model(0), 4, 4)
