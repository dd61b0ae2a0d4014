"""Activation observers against plain numpy computations of what each promises."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from microflat.compiler import observers

finite = st.floats(-1e4, 1e4, allow_nan=False, width=32)
batches = st.lists(arrays(np.float32, st.integers(1, 300), elements=finite), min_size=1, max_size=5)


@settings(max_examples=200)
@given(batches)
def test_minmax_is_the_extremes_and_qparams_hold_zero_and_the_range(bs):
    o = observers.MinMax()
    for b in bs:
        o.update(b)
    allv = np.concatenate(bs).astype(np.float64)
    assert o.range() == (allv.min(), allv.max())
    scale, zp = observers.qparams(*o.range())
    lo, hi = min(allv.min(), 0.0), max(allv.max(), 0.0)
    assert -128 <= zp <= 127
    # real 0 is exactly representable (q = zp), and both ends are within one step of the grid's ends
    assert scale * (-128 - zp) <= lo + scale and scale * (127 - zp) >= hi - scale


@settings(max_examples=200)
@given(batches)
def test_moving_average_follows_the_ema_of_batch_extremes(bs):
    o = observers.MovingAverage(0.01)
    lo = hi = None
    for b in bs:
        o.update(b)
        blo, bhi = float(b.min()), float(b.max())
        lo, hi = (blo, bhi) if lo is None else (lo + 0.01 * (blo - lo), hi + 0.01 * (bhi - hi))
    assert np.allclose(o.range(), (lo, hi))


def test_percentile_ignores_outliers_and_matches_numpy_when_all_values_fit():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, 100_000).astype(np.float32)
    x[:5] = 1000.0
    o = observers.Percentile(99.9)
    o.update(x[:50_000])
    o.update(x[50_000:])
    lo, hi = o.range()
    assert np.isclose(lo, np.percentile(x, 0.1)) and np.isclose(hi, np.percentile(x, 99.9))
    assert hi < 5


def test_reservoir_stays_bounded_and_unbiased():
    o = observers.Percentile(50)
    rng = np.random.default_rng(1)
    for _ in range(8):
        o.update(rng.uniform(0, 1, 100_000).astype(np.float32))
    assert o.sample.size == observers.SAMPLE_LIMIT
    assert abs(float(np.median(o.sample)) - 0.5) < 0.01


def test_mse_clips_heavy_tails_and_lowers_the_error():
    rng = np.random.default_rng(2)
    x = rng.standard_t(2, 200_000).astype(np.float32)

    def mse(lo, hi):
        s, zp = observers.qparams(lo, hi)
        q = np.clip(np.floor(x / s + 0.5) + zp, -128, 127)
        return float(np.mean(((q - zp) * s - x) ** 2))

    m, e = observers.MinMax(), observers.MSE()
    m.update(x)
    e.update(x)
    assert e.range()[1] < m.range()[1]
    assert mse(*e.range()) < mse(*m.range())
