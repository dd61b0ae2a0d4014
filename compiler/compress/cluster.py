"""Weight clustering (weight sharing), as in Deep Compression (Han et al. 2016), through parametrize.

A clustered weight is parametrized as a table lookup,

    weight = table[index],   table = [0, c_1, ..., c_k] per group (the layer, or each output channel),

where the centroids c are the parameter (the `original` the parametrization
stores, from `right_inverse`) and `index` is a buffer. Backpropagation
through the gather sums the gradients of all weights that share a centroid
(a scatter-add): exactly Deep Compression's centroid fine-tuning, with any
optimizer of the user's. Under DistributedDataParallel the centroids are
ordinary parameters, all-reduced like any other, so they stay identical on
every rank.

Sparsity is preserved: with preserve_sparsity (the default) a weight that is
exactly zero (pruned) points at the table's fixed 0, which no gradient moves,
and the other weights are clustered into clusters-1 centroids, so the layer
holds at most `clusters` distinct values in all, zero included (16 values is
a 4-bit palette). Clustering bakes any pruning masks in first.

    cluster.apply(model, clusters=16)                       # per layer, linear init
    cluster.apply(model, 16, per_channel=True, init="exact")
    ... fine-tune ...
    prune.finalize(model)                                   # plain weights, <= 16 values each
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils import parametrize
from tqdm.auto import tqdm

from microflat.runtime.errors import CompileError

from . import kmeans1d
from .prune import finalize, prunable_layers


class Clustered(nn.Module):
    """weight = table[index]: table row g is [0, centroids[g]], g the channel (per_channel) or 0."""

    def __init__(self, weight: torch.Tensor, clusters: int, *, per_channel: bool = False, init: str = "linear",
                 preserve_sparsity: bool = True, seed: int = 0):
        super().__init__()
        self.shape = tuple(weight.shape)
        groups = self.shape[0] if per_channel else 1
        flat = weight.detach().to(torch.float64).reshape(groups, -1).cpu().numpy()
        index = np.zeros(flat.shape, np.int64)
        centroids = np.zeros((groups, clusters))
        for g in range(groups):
            row = flat[g]
            live = row != 0 if preserve_sparsity else np.ones(row.shape, bool)
            k = clusters - 1 if (preserve_sparsity and not live.all()) else clusters
            if live.any() and k > 0:
                c, idx = kmeans1d.kmeans(row[live], k, init, seed + g)
                centroids[g, :len(c)] = c
                centroids[g, len(c):] = c[-1]  # unused padding
                index[g, live] = idx + 1
        self.register_buffer("index", torch.from_numpy(index).to(weight.device))
        self._centroids = torch.from_numpy(centroids).to(dtype=weight.dtype, device=weight.device)

    def forward(self, centroids: torch.Tensor) -> torch.Tensor:
        table = torch.cat([centroids.new_zeros(centroids.shape[0], 1), centroids], dim=1)
        return table.gather(1, self.index).reshape(self.shape)

    def right_inverse(self, weight: torch.Tensor) -> torch.Tensor:
        """The parameter to store: the centroids found at construction (the weight it replaces is clustered)."""
        return self._centroids


def apply(model: nn.Module, clusters: int = 16, *, per_channel: bool = False, init: str = "linear",
          preserve_sparsity: bool = True, layers=None, seed: int = 0, progress: bool = False) -> nn.Module:
    """Cluster the conv and linear weights in place; the centroids become each layer's trainable parameter."""
    if not 1 <= clusters <= 256:
        raise CompileError(f"clusters must be in [1, 256] (an int8 palette), got {clusters}")
    if init not in kmeans1d.INITS:
        raise CompileError(f"init must be one of {list(kmeans1d.INITS)}, got {init!r}")
    mods = prunable_layers(model, layers)
    for name, mod in tqdm(mods.items(), desc="clustering", unit="layer", disable=not progress):
        finalize(mod)  # bake a pruning mask in: its zeros are what preserve_sparsity keeps
        p = Clustered(mod.weight, clusters, per_channel=per_channel, init=init,
                      preserve_sparsity=preserve_sparsity, seed=seed)
        parametrize.register_parametrization(mod, "weight", p)
    return model


def centroids(model: nn.Module) -> dict[str, torch.Tensor]:
    """{layer: its centroid parameter [groups, clusters]} for every clustered layer."""
    out = {}
    for name, mod in model.named_modules():
        if parametrize.is_parametrized(mod, "weight") and any(isinstance(p, Clustered)
                                                              for p in mod.parametrizations.weight):
            out[name] = mod.parametrizations.weight.original
    return out


@torch.no_grad()
def distinct_values(model: nn.Module, layers=None, per_channel: bool = False) -> dict[str, int]:
    """{layer: number of distinct values in its effective weight} (the most over channels when per_channel)."""
    out = {}
    for name, mod in prunable_layers(model, layers).items():
        w = mod.weight.detach()
        rows = w.reshape(w.shape[0], -1) if per_channel else w.reshape(1, -1)
        out[name] = max(int(torch.unique(r).numel()) for r in rows)
    return out
