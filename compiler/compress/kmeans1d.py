"""k-means on one dimension: exact (dynamic programming) and Lloyd's iterations from an initialization.

Weight clustering is 1-D k-means over a layer's (or a channel's) weights.
In one dimension every optimal cluster is a run of consecutive sorted
values, so the optimum is found exactly by dynamic programming (Wang & Song
2011, Ckmeans.1d.dp). With x sorted and prefix sums S1, S2 of x and x^2, the
squared error of one cluster x[i..j] is

    cost(i, j) = (S2[j+1] - S2[i]) - (S1[j+1] - S1[i])^2 / (j - i + 1),

and D[m][j], the least error of m+1 clusters over x[0..j], is

    D[0][j] = cost(0, j),   D[m][j] = min over m <= i <= j of D[m-1][i-1] + cost(i, j).

The best i is non-decreasing in j (the cost is a Monge array; Groenlund et
al. 2017), so each row is filled by divide and conquer in O(n log n): k rows,
O(k n log n) in all. That runs in a fraction of a second for the largest
zoo layer (400,000 weights) in Numba; a plain O(k n^2) loop would not. The
recursion is an explicit stack, which Numba compiles.

The other initializations (Han et al. 2016 compare them) are refined by
Lloyd's iterations, which in 1-D assign by the midpoints between sorted
centroids:
  linear    k values evenly spaced over [min, max] (Deep Compression's choice:
            it keeps the rare large weights their own centroids),
  density   the (i + 1/2)/k quantiles (evenly spaced on the CDF),
  kmeans++  D^2 sampling (Arthur & Vassilvitskii 2007), seeded.
"""

from __future__ import annotations

import numba
import numpy as np

INITS = ("exact", "linear", "density", "kmeans++")


@numba.njit(cache=True)
def _cost(s1, s2, i, j):
    n = j - i + 1
    t = s1[j + 1] - s1[i]
    return (s2[j + 1] - s2[i]) - t * t / n


@numba.njit(cache=True)
def _dp(x, k):
    """Cluster starts for the optimal k clusters of sorted x (k <= number of distinct values)."""
    n = x.shape[0]
    s1 = np.zeros(n + 1)
    s2 = np.zeros(n + 1)
    for i in range(n):
        s1[i + 1] = s1[i] + x[i]
        s2[i + 1] = s2[i] + x[i] * x[i]
    prev = np.empty(n)
    cur = np.empty(n)
    start = np.zeros((k, n), dtype=np.int32)
    for j in range(n):
        prev[j] = _cost(s1, s2, 0, j)
    stack = np.empty((256, 4), dtype=np.int64)  # depth-first: at most ~2 log2(n) pending ranges
    for m in range(1, k):
        for j in range(m):
            cur[j] = np.inf
        # rows j in [lo, hi] with their best start in [olo, ohi]
        top = 0
        stack[0, 0], stack[0, 1], stack[0, 2], stack[0, 3] = m, n - 1, m, n - 1
        top = 1
        while top > 0:
            top -= 1
            lo, hi, olo, ohi = stack[top, 0], stack[top, 1], stack[top, 2], stack[top, 3]
            if lo > hi:
                continue
            mid = (lo + hi) // 2
            best, arg = np.inf, olo
            last = min(mid, ohi)
            for i in range(max(m, olo), last + 1):
                c = prev[i - 1] + _cost(s1, s2, i, mid)
                if c < best:
                    best, arg = c, i
            cur[mid] = best
            start[m, mid] = arg
            stack[top, 0], stack[top, 1], stack[top, 2], stack[top, 3] = lo, mid - 1, olo, arg
            top += 1
            stack[top, 0], stack[top, 1], stack[top, 2], stack[top, 3] = mid + 1, hi, arg, ohi
            top += 1
        prev, cur = cur, prev
    starts = np.empty(k, dtype=np.int64)
    j = n - 1
    for m in range(k - 1, -1, -1):
        i = start[m, j] if m > 0 else 0
        starts[m] = i
        j = i - 1
    return starts


def _exact(xs: np.ndarray, k: int) -> np.ndarray:
    starts = _dp(xs, k)
    ends = np.append(starts[1:], len(xs))
    return np.array([xs[a:b].mean() for a, b in zip(starts, ends)])


def _assign(xs: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid (sorted centroids; a tie goes to the lower one)."""
    mids = (centroids[1:] + centroids[:-1]) / 2
    return np.searchsorted(mids, xs, side="left")


def _lloyd(xs: np.ndarray, centroids: np.ndarray, iterations: int = 100) -> np.ndarray:
    """Lloyd's iterations. An empty cluster (a linear init over pruned, bimodal weights leaves the
    middle ones empty) moves to the value worst served, so that all k centroids end up used."""
    c = np.sort(centroids.astype(np.float64))
    for _ in range(iterations):
        idx = _assign(xs, c)
        counts = np.bincount(idx, minlength=len(c))
        sums = np.bincount(idx, weights=xs, minlength=len(c))
        new = np.where(counts > 0, sums / np.maximum(counts, 1), c)
        empty = list(np.flatnonzero(counts == 0))
        if empty:
            err = (xs - new[idx]) ** 2
            for i in np.argsort(-err, kind="stable"):
                if not empty:
                    break
                if not np.any(new == xs[i]):
                    new[empty.pop()] = xs[i]
        new = np.sort(new)
        if np.array_equal(new, c):
            break
        c = new
    return c


def _kmeans_pp(xs: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    c = [xs[rng.integers(len(xs))]]
    d2 = (xs - c[0]) ** 2
    for _ in range(1, k):
        total = d2.sum()
        pick = rng.integers(len(xs)) if total <= 0 else rng.choice(len(xs), p=d2 / total)
        c.append(xs[pick])
        d2 = np.minimum(d2, (xs - xs[pick]) ** 2)
    return np.array(c)


def kmeans(values: np.ndarray, k: int, init: str = "linear", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(centroids sorted ascending, index of each value's centroid). At most k centroids: fewer when
    there are fewer distinct values."""
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    x = np.asarray(values, np.float64).reshape(-1)
    distinct = np.unique(x)
    if len(distinct) <= k:
        return distinct, np.searchsorted(distinct, x)
    xs = np.sort(x)
    if init == "exact":
        c = _exact(xs, k)
    elif init == "linear":
        c = _lloyd(xs, np.linspace(xs[0], xs[-1], k))
    elif init == "density":
        c = _lloyd(xs, np.quantile(xs, (np.arange(k) + 0.5) / k))
    else:
        c = _lloyd(xs, _kmeans_pp(xs, k, np.random.default_rng(seed)))
    return c, _assign(x, c)
