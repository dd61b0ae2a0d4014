"""Low-rank factorization: one layer becomes two thinner ones (truncated SVD).

A linear layer W [out, in] of rank-r approximation U_r S_r V_r^T becomes

    Linear(in, r, bias=False) with weight S_r^(1/2) V_r^T,  then  Linear(r, out) with weight U_r S_r^(1/2) and the bias,

(the singular values split evenly, so both factors have the same scale and
quantize alike per channel). A conv W [O, I, KH, KW] is factorized the same
way over W reshaped [O, I*KH*KW] (channel SVD, Zhang et al. 2016): a KH x KW
conv to r channels with the original stride, padding and dilation, then a
1x1 conv to O channels. Both compile to two layers with nothing between them.
By Eckart-Young the truncation is the best rank-r approximation in the
Frobenius norm, and the squared error is the sum of the dropped sigma^2.

The rank of each layer is the smallest that keeps `energy` of its sum of
sigma^2; `budget` instead finds (by bisection) the one energy level, shared
by all layers, at which the whole model has at most that fraction of its
parameters. A layer whose factorization would not save parameters,
r * (in + out) >= in * out, is left whole.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn.utils import parametrize

from microflat.runtime.errors import CompileError

from .metrics import count_params
from .prune import prunable_layers


def _matrix(mod) -> torch.Tensor:
    w = mod.weight.detach().to(torch.float64)
    return w.reshape(w.shape[0], -1)


def rank_for_energy(singular_values: torch.Tensor, energy: float) -> int:
    e = torch.cumsum(singular_values.double() ** 2, 0)
    return int(torch.searchsorted(e, energy * e[-1] * (1 - 1e-12)).item()) + 1


def _saves(mod, r) -> bool:
    o, k = _matrix(mod).shape
    return r * (o + k) < o * k


@torch.no_grad()
def _factor(mod: nn.Module, r: int) -> nn.Module:
    w = _matrix(mod)
    u, s, vh = torch.linalg.svd(w, full_matrices=False)
    root = torch.sqrt(s[:r])
    first = (root[:, None] * vh[:r]).to(mod.weight.dtype)
    second = (u[:, :r] * root[None, :]).to(mod.weight.dtype)
    if isinstance(mod, nn.Linear):
        a = nn.Linear(mod.in_features, r, bias=False)
        b = nn.Linear(r, mod.out_features, bias=mod.bias is not None)
        a.weight.copy_(first)
        b.weight.copy_(second)
    else:
        if mod.groups != 1:
            raise CompileError("a grouped (or depthwise) conv cannot be factorized by channel SVD")
        a = nn.Conv2d(mod.in_channels, r, mod.kernel_size, mod.stride, mod.padding, mod.dilation, bias=False,
                      padding_mode=mod.padding_mode)
        b = nn.Conv2d(r, mod.out_channels, 1, bias=mod.bias is not None)
        a.weight.copy_(first.reshape(r, *mod.weight.shape[1:]))
        b.weight.copy_(second.reshape(mod.out_channels, r, 1, 1))
    if mod.bias is not None:
        b.bias.copy_(mod.bias)
    return nn.Sequential(a, b)


def _read_by_parent(model, name) -> bool:
    """A layer whose parent reads its weight itself (nn.MultiheadAttention's out_proj; nn.TransformerEncoderLayer's
    linear1 and linear2, which its fast-path test inspects): no two-layer stand-in can take its place."""
    parent = name.rpartition(".")[0]
    return isinstance(model.get_submodule(parent) if parent else model,
                      (nn.MultiheadAttention, nn.TransformerEncoderLayer, nn.TransformerDecoderLayer))


def _candidates(model, layers):
    mods = {n: m for n, m in prunable_layers(model, layers).items()
            if isinstance(m, (nn.Linear, nn.Conv2d)) and getattr(m, "groups", 1) == 1 and not _read_by_parent(model, n)}
    for n, m in mods.items():
        if parametrize.is_parametrized(m):
            raise CompileError(f"layer {n!r} has a parametrization (a mask or clusters); factorize before pruning "
                               "or clustering, or call prune.finalize first")
    return mods


def _ranks(model, layers, energy):
    out = {}
    for n, m in _candidates(model, layers).items():
        s = torch.linalg.svdvals(_matrix(m))
        r = rank_for_energy(s, energy)
        if _saves(m, r):
            out[n] = r
    return out


def _replace(model: nn.Module, ranks: dict[str, int]) -> None:
    for name, r in ranks.items():
        mod = model.get_submodule(name)
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, _factor(mod, r))


def factorize(model: nn.Module, *, energy: float | None = None, budget: float | None = None,
              layers=None) -> dict[str, int]:
    """Factorize in place at a retained energy, or to at most `budget` of the model's parameters.

    Returns {layer: rank} of the layers factorized.
    """
    if (energy is None) == (budget is None):
        raise CompileError("give exactly one of energy (0 < energy <= 1) or budget (a fraction of the parameters)")
    if energy is not None:
        if not 0.0 < energy <= 1.0:
            raise CompileError(f"energy must be in (0, 1], got {energy}")
        ranks = _ranks(model, layers, energy)
        _replace(model, ranks)
        return ranks
    if not 0.0 < budget < 1.0:
        raise CompileError(f"budget must be in (0, 1), got {budget}")
    mods = _candidates(model, layers)
    total = count_params(model)
    spectra = {n: torch.linalg.svdvals(_matrix(m)) for n, m in mods.items()}

    def params_at(e):
        ranks = {}
        saved = 0
        for n, m in mods.items():
            r = rank_for_energy(spectra[n], e)
            o, k = _matrix(m).shape
            if r * (o + k) < o * k:
                ranks[n] = r
                saved += o * k - r * (o + k)
        return total - saved, ranks

    lo, hi = 0.0, 1.0
    least = params_at(1e-9)[0]  # rank 1 wherever that saves parameters
    if least > budget * total:
        raise CompileError(f"even rank 1 everywhere leaves {least / total:.0%} of the parameters; "
                           f"a budget of {budget:.0%} is out of reach")
    for _ in range(50):
        mid = (lo + hi) / 2
        if params_at(mid)[0] <= budget * total:
            lo = mid
        else:
            hi = mid
    ranks = params_at(lo)[1]
    _replace(model, ranks)
    return ranks
