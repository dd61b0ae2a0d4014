"""Per-layer sensitivity, and a plan of per-layer pruning and cluster rates for a target weight size.

Sensitivity (Han et al. 2015, Fig. 6): prune or cluster one layer at a time,
without fine-tuning, and record the accuracy drop. Drops of different layers
are taken as additive, which the literature finds a fair first
approximation when each is small.

Size: the weight bytes a layer will take in the compressed encodings (issue
6 puts them in the file; until then this is the target they will meet):

    dense int8            n bytes
    palette of k values   n * ceil(log2 k) / 8 bytes + k (the codebook)
    sparse, bitmask       n / 8 + nnz * b / 8 bytes (+ k), b = 8 or ceil(log2 k)
    sparse, relative      (nnz + fillers) * (b + 4) / 8 bytes (+ k): Deep Compression's
                          4-bit gaps to the previous nonzero; a gap over 15 costs a
                          filler entry, about nnz * q / (1 - q) of them for random
                          positions at density d, q = (1 - d)^16

and a layer takes the smallest. The plan is greedy: every layer starts
dense and unclustered; while the total is above the target, the single move
(one layer to its next sparsity or next smaller palette) that costs the
least accuracy per byte saved is taken. Greedy on a separable cost with
convex-ish curves is what AMC's and Han's hand tuning approximate; it is
not an optimum, and the report says what it predicts.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch.nn as nn
from tqdm.auto import tqdm

from microflat.runtime.errors import CompileError

from . import cluster, prune

SPARSITIES = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98)
CLUSTERS = (256, 64, 32, 16, 8, 4)


def layer_bytes(n: int, sparsity: float, clusters: int) -> int:
    """Estimated stored bytes of a layer of n weights at a sparsity with a palette of `clusters` values: the
    smallest of the file's encodings (compiler/encodings.py), with zeros placed at random.

    Dense layout: ceil(n * b / 8) + palette, b = ceil(log2 clusters) (8 and no palette from 256 on).
    Sparse layout with p-bit positions: the gap before a nonzero is geometric with P(gap >= g) = (1 - d)^g at
    density d, so it needs sum_j (1 - d)^(j * 2^p) = q / (1 - q) fillers on average, q = (1 - d)^(2^p); each
    of the E = nnz * (1 + q / (1 - q)) entries costs p + b bits.
    """
    bits = 8 if clusters >= 256 else max(1, math.ceil(math.log2(clusters)))
    palette = 0 if clusters >= 256 else clusters
    best = math.ceil(n * bits / 8) + palette
    nnz = n - int(round(sparsity * n))
    density = nnz / n if n else 0.0
    for p in range(1, 9):
        q = (1.0 - density) ** (1 << p)
        entries = nnz * (1.0 + q / (1.0 - q)) if q < 1.0 else float(n)
        best = min(best, math.ceil(entries * p / 8) + math.ceil(entries * bits / 8) + palette)
    return best


@dataclass
class Sensitivity:
    sizes: dict[str, int]                                   # layer -> weights
    baseline: float
    prune_drop: dict[str, dict[float, float]] = field(default_factory=dict)
    cluster_drop: dict[str, dict[int, float]] = field(default_factory=dict)


def analyze(model: nn.Module, evaluate, *, sparsities=SPARSITIES, clusters=CLUSTERS, layers=None,
            progress: bool = True) -> Sensitivity:
    """Accuracy drop of each layer pruned (one-shot magnitude) or clustered (linear init) alone."""
    mods = prune.prunable_layers(model, layers)
    base = float(evaluate(model))
    sens = Sensitivity({n: m.weight.numel() for n, m in mods.items()}, base)
    jobs = [(n, "prune", s) for n in mods for s in sparsities] + [(n, "cluster", k) for n in mods for k in clusters]
    for name, kind, level in tqdm(jobs, desc="sensitivity", unit="trial", disable=not progress):
        trial = copy.deepcopy(model)
        if kind == "prune":
            if level > 0:
                prune.magnitude(trial, level, layers=[name])
            sens.prune_drop.setdefault(name, {})[level] = base - float(evaluate(trial))
        else:
            if level < 256:
                cluster.apply(trial, level, layers=[name])
            sens.cluster_drop.setdefault(name, {})[level] = base - float(evaluate(trial))
    return sens


@dataclass
class Plan:
    rates: dict[str, tuple[float, int]]   # layer -> (sparsity, clusters)
    bytes: int
    predicted_drop: float


def plan(sens: Sensitivity, target_bytes: int) -> Plan:
    """Per-layer (sparsity, clusters) with estimated weight bytes <= target_bytes, greedily (see the docstring)."""
    sp = {n: sorted(sens.prune_drop[n]) for n in sens.sizes}
    cl = {n: sorted(sens.cluster_drop[n], reverse=True) for n in sens.sizes}
    at = {n: [0, 0] for n in sens.sizes}  # index into sp[n], cl[n]

    def state(n, i, j):
        s, k = sp[n][i], cl[n][j]
        return layer_bytes(sens.sizes[n], s, k), max(0.0, sens.prune_drop[n][s]) + max(0.0, sens.cluster_drop[n][k])

    total = sum(state(n, 0, 0)[0] for n in sens.sizes)
    while total > target_bytes:
        best = None
        for n in sens.sizes:
            i, j = at[n]
            b0, d0 = state(n, i, j)
            for di, dj in ((1, 0), (0, 1)):
                if i + di >= len(sp[n]) or j + dj >= len(cl[n]):
                    continue
                b1, d1 = state(n, i + di, j + dj)
                saved = b0 - b1
                if saved <= 0:
                    continue
                cost = (d1 - d0) / saved
                if best is None or cost < best[0]:
                    best = (cost, n, di, dj, saved)
        if best is None:
            raise CompileError(f"the most compression analyzed leaves {total:,} bytes of weights; the target "
                               f"{target_bytes:,} is out of reach (add higher sparsities or fewer clusters)")
        _, n, di, dj, saved = best
        at[n][0] += di
        at[n][1] += dj
        total -= saved
    rates = {n: (sp[n][at[n][0]], cl[n][at[n][1]]) for n in sens.sizes}
    drop = sum(state(n, *at[n])[1] for n in sens.sizes)
    return Plan(rates, total, drop)
