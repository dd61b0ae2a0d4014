"""The Hinton distillation loss against a float64 numpy transcription of the formula."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from microflat.compiler.compress.distill import distillation_loss  # noqa: E402


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 6), c=st.integers(2, 10), t=st.floats(1.0, 10.0),
       alpha=st.floats(0.0, 1.0))
def test_loss_is_hinton(seed, n, c, t, alpha):
    rng = np.random.default_rng(seed)
    s, te = rng.normal(0, 3, (n, c)), rng.normal(0, 3, (n, c))
    y = rng.integers(0, c, n)
    p_t, p_s = softmax(te / t), softmax(s / t)
    kl = np.sum(p_t * (np.log(p_t) - np.log(p_s))) / n
    ce = -np.mean(np.log(softmax(s)[np.arange(n), y]))
    want = alpha * t * t * kl + (1 - alpha) * ce
    got = distillation_loss(torch.from_numpy(s), torch.from_numpy(te), torch.from_numpy(y), temperature=t, alpha=alpha)
    assert abs(float(got) - want) <= 1e-9 * max(1.0, abs(want))


def test_teacher_gets_no_gradient():
    s = torch.randn(3, 4, requires_grad=True)
    t = torch.randn(3, 4, requires_grad=True)
    distillation_loss(s, t, torch.tensor([0, 1, 2])).backward()
    assert s.grad is not None and t.grad is None
