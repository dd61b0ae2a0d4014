"""Activation observers: from calibration data to an int8 (scale, zero point).

Every observer sees each calibration batch of one activation and ends with a
real range [lo, hi]; `qparams` turns that range into TFLite's asymmetric int8
quantization:

    the range is widened to hold 0 (so that real 0, the padding value, is exact),
    scale = (hi - lo) / 255,
    zero_point = round(-128 - lo / scale), clamped to [-128, 127].

Observers:
  minmax          the extremes seen (TFLite's converter; the default: no
                  calibration value is clipped).
  moving_average  an exponential moving average (factor 0.01) of each batch's
                  extremes, as in QAT (Jacob et al. 2018, section 3.1).
  percentile      the 0.01 and 99.99 percentiles of the values: outliers clip.
  mse             the clipping range that minimizes the mean squared error of
                  quantize-dequantize over the values, searched over 100
                  shrinkings of the min/max range.

percentile and mse look at the values themselves: each keeps a uniform
random sample of at most 2^18 of them per tensor (a reservoir, seeded, so
calibration is deterministic).
"""

from __future__ import annotations

import math

import numpy as np

SAMPLE_LIMIT = 1 << 18


def qparams(lo: float, hi: float, dtype: str = "int8") -> tuple[float, int]:
    """(scale, zero point) of the range [lo, hi] widened to hold 0: int8 asymmetric over its 255 steps; int16
    symmetric, zero point 0 and scale max(|lo|, |hi|) / 32767 (TFLite's 16x8 activations)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"activation range [{lo}, {hi}] is not finite")
    if hi - lo < 1e-8:  # a constant-zero tensor: any scale represents it; keep the multipliers sane
        hi = lo + 1e-3
    if dtype == "int16":
        return max(-lo, hi) / 32767.0, 0
    scale = (hi - lo) / 255.0
    zp = int(np.clip(np.floor(-128.0 - lo / scale + 0.5), -128, 127))
    return scale, zp


class MinMax:
    def __init__(self):
        self.lo, self.hi = math.inf, -math.inf

    def update(self, x: np.ndarray):
        self.lo, self.hi = min(self.lo, float(x.min())), max(self.hi, float(x.max()))

    def range(self):
        return self.lo, self.hi


class MovingAverage(MinMax):
    def __init__(self, factor: float = 0.01):
        super().__init__()
        self.factor, self.seen = factor, False

    def update(self, x: np.ndarray):
        lo, hi = float(x.min()), float(x.max())
        if not self.seen:
            self.lo, self.hi, self.seen = lo, hi, True
        else:
            self.lo += self.factor * (lo - self.lo)
            self.hi += self.factor * (hi - self.hi)


class _Sampled:
    """A seeded reservoir of the values seen (all of them, up to SAMPLE_LIMIT)."""

    def __init__(self):
        self.sample = np.empty(0, np.float32)
        self.seen = 0
        self.rng = np.random.default_rng(0)
        self.lo, self.hi = math.inf, -math.inf

    def update(self, x: np.ndarray):
        x = np.asarray(x, np.float32).reshape(-1)
        self.lo, self.hi = min(self.lo, float(x.min())), max(self.hi, float(x.max()))
        self.seen += x.size
        pool = np.concatenate([self.sample, x])
        if pool.size > SAMPLE_LIMIT:
            # keep each value with equal probability: a uniform subsample of the union,
            # weighting the old sample by how many values it stands for
            old_weight = (self.seen - x.size) / max(self.sample.size, 1)
            weights = np.concatenate([np.full(self.sample.size, old_weight), np.ones(x.size)])
            keep = self.rng.choice(pool.size, SAMPLE_LIMIT, replace=False, p=weights / weights.sum())
            pool = pool[keep]
        self.sample = pool


class Percentile(_Sampled):
    def __init__(self, percentile: float = 99.99):
        super().__init__()
        self.percentile = percentile

    def range(self):
        return (float(np.percentile(self.sample, 100.0 - self.percentile)),
                float(np.percentile(self.sample, self.percentile)))


class MSE(_Sampled):
    steps = 100

    def range(self):
        x = self.sample.astype(np.float64)
        best, best_err = (self.lo, self.hi), math.inf
        for i in range(self.steps):
            f = 1.0 - i / self.steps
            lo, hi = self.lo * f, self.hi * f
            if hi - lo <= 0:
                break
            scale, zp = qparams(lo, hi)
            q = np.clip(np.floor(x / scale + 0.5) + zp, -128, 127)
            err = float(np.mean(((q - zp) * scale - x) ** 2))
            if err < best_err:
                best, best_err = (lo, hi), err
        return best


OBSERVERS = {"minmax": MinMax, "moving_average": MovingAverage, "percentile": Percentile, "mse": MSE}
DEFAULT_OBSERVER = "minmax"


def make(name: str):
    if name not in OBSERVERS:
        raise ValueError(f"observer must be one of {sorted(OBSERVERS)}, got {name!r}")
    return OBSERVERS[name]()
