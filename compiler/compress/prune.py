"""Magnitude pruning through torch.nn.utils.parametrize: unstructured, global, N:M, and a gradual schedule.

A pruned weight is parametrized as `weight = original * mask`, with the mask a
buffer of the `Mask` parametrization. The optimizer keeps updating
`original`, but a masked element gets zero gradient and stays zero in the
effective weight, so a mask recomputed from the effective weight never
revives a pruned element: sparsity only grows, as in Zhu & Gupta (2017).
`finalize` bakes the masks into plain weights (`remove_parametrizations`
with leave_parametrized=True), which is what clustering and the compiler take.

Everything works on the user's model in place and inside the user's own
training loop; under DistributedDataParallel the masks are computed from
parameters that are identical on every rank, so they are identical too.

    prune.magnitude(model, 0.9)                    # each layer 90% zeros
    prune.magnitude(model, 0.9, scope="global")    # one threshold over all layers
    prune.n_m(model, 2, 4)                          # 2 of every 4 consecutive input weights kept
    schedule = prune.PolynomialDecay(model, final_sparsity=0.9, begin_step=0, end_step=1000)
    ... schedule.step() after each optimizer step ...
    prune.finalize(model)
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn.utils import parametrize

from microflat.runtime.errors import CompileError

PRUNABLE = (nn.Conv1d, nn.Conv2d, nn.Linear)


class Mask(nn.Module):
    """weight = original * mask; the mask is a buffer (saved in the state dict, broadcast by DDP)."""

    def __init__(self, shape, dtype=torch.float32, device=None):
        super().__init__()
        self.register_buffer("mask", torch.ones(shape, dtype=dtype, device=device))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return w * self.mask


def prunable_layers(model: nn.Module, layers=None) -> dict[str, nn.Module]:
    """{qualified name: module} of the conv and linear layers to prune (all of them, or those named)."""
    found = {name: m for name, m in model.named_modules() if isinstance(m, PRUNABLE)}
    if layers is None:
        return found
    missing = [n for n in layers if n not in found]
    if missing:
        raise CompileError(f"no conv or linear layer named {missing}; the model has {sorted(found)}")
    return {n: found[n] for n in layers}


def _mask_of(module: nn.Module) -> Mask:
    """The module's Mask parametrization, registering one (all ones) if it has none."""
    if parametrize.is_parametrized(module, "weight"):
        for p in module.parametrizations.weight:
            if isinstance(p, Mask):
                return p
        raise CompileError(f"{type(module).__name__}.weight already carries another parametrization "
                           "(clustering?); prune before clustering")
    w = module.weight
    parametrize.register_parametrization(module, "weight", Mask(w.shape, w.dtype, w.device))
    return module.parametrizations.weight[0]


def _keep_largest(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """A 0/1 mask keeping the round((1 - sparsity) * n) largest scores (ties broken by position)."""
    n = scores.numel()
    drop = int(round(sparsity * n))
    mask = torch.ones(n, dtype=scores.dtype, device=scores.device)
    if drop > 0:
        order = torch.argsort(scores.reshape(-1), stable=True)
        mask[order[:drop]] = 0
    return mask.reshape(scores.shape)


def _check_fraction(sparsity):
    if not 0.0 <= float(sparsity) < 1.0:
        raise CompileError(f"sparsity must be in [0, 1), got {sparsity}")


@torch.no_grad()
def magnitude(model: nn.Module, sparsity: float, *, scope: str = "layer", layers=None) -> dict[str, float]:
    """Zero the smallest-magnitude weights: `sparsity` of each layer ("layer") or of all together ("global").

    Magnitudes are those of the effective (already masked) weights, so a
    pruned weight stays pruned. Returns {layer: its sparsity now}.
    """
    _check_fraction(sparsity)
    if scope not in ("layer", "global"):
        raise CompileError(f"scope must be 'layer' or 'global', got {scope!r}")
    mods = prunable_layers(model, layers)
    weights = {n: m.weight.detach().abs() for n, m in mods.items()}
    if scope == "global":
        flat = torch.cat([w.reshape(-1) for w in weights.values()])
        keep = _keep_largest(flat, sparsity)
        offset = 0
        for n, m in mods.items():
            k = weights[n].numel()
            _mask_of(m).mask.copy_(keep[offset:offset + k].reshape(weights[n].shape))
            offset += k
    else:
        for n, m in mods.items():
            _mask_of(m).mask.copy_(_keep_largest(weights[n], sparsity))
    return sparsity_of(model, layers)


def _groups_last(w: torch.Tensor) -> torch.Tensor:
    """The weight as [out, ..., in]: input channels innermost, as the runtime stores conv filters (OHWI)."""
    return w.permute(0, *range(2, w.dim()), 1) if w.dim() > 2 else w


@torch.no_grad()
def n_m(model: nn.Module, n: int = 2, m: int = 4, *, layers=None) -> dict[str, float]:
    """Keep the n largest of every m consecutive input-channel weights (N:M sparsity, e.g. 2:4).

    Groups run along the input channels of each output channel and kernel
    position (the innermost axis of the runtime's OHWI filters). A layer whose
    input channels are not a multiple of m (a first conv on 1 channel, say)
    is left dense; the returned sparsities show it.
    """
    if not (0 < n < m):
        raise CompileError(f"N:M pruning needs 0 < n < m, got {n}:{m}")
    for name, mod in prunable_layers(model, layers).items():
        w = mod.weight.detach()
        if isinstance(mod, (nn.Conv1d, nn.Conv2d)) and mod.groups != 1:
            continue
        if w.shape[1] % m:
            continue
        g = _groups_last(w.abs())
        groups = g.reshape(-1, m)
        # rank within each group; ties broken by position, so exactly n survive
        order = torch.argsort(groups, dim=1, stable=True, descending=True)
        keep = torch.zeros_like(groups)
        keep.scatter_(1, order[:, :n], 1.0)
        keep = keep.reshape(g.shape)
        if w.dim() > 2:
            keep = keep.permute(0, w.dim() - 1, *range(1, w.dim() - 1))
        mask = _mask_of(mod)
        mask.mask.mul_(keep.to(mask.mask.dtype))
    return sparsity_of(model, layers)


def polynomial_sparsity(step: int, initial: float, final: float, begin: int, end: int, power: float = 3.0) -> float:
    """Zhu & Gupta (2017), eq. 1: s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (end - t0))^3, held outside [t0, end]."""
    if step <= begin:
        return initial
    if step >= end:
        return final
    return final + (initial - final) * (1.0 - (step - begin) / (end - begin)) ** power


class PolynomialDecay:
    """Gradual magnitude pruning as a step callback: call .step() after every optimizer step.

    Every `frequency` steps between begin_step and end_step the masks are
    recomputed at the scheduled sparsity (layer-wise or global magnitude).
    """

    def __init__(self, model: nn.Module, final_sparsity: float, *, initial_sparsity: float = 0.0,
                 begin_step: int = 0, end_step: int, frequency: int = 1, scope: str = "layer", layers=None,
                 power: float = 3.0):
        _check_fraction(final_sparsity)
        _check_fraction(initial_sparsity)
        if end_step <= begin_step or frequency < 1:
            raise CompileError(f"the schedule needs end_step > begin_step and frequency >= 1, got begin_step="
                               f"{begin_step}, end_step={end_step}, frequency={frequency}")
        self.model, self.final, self.initial = model, float(final_sparsity), float(initial_sparsity)
        self.begin, self.end, self.frequency, self.power = begin_step, end_step, frequency, power
        self.scope, self.layers = scope, layers
        self.step_count = 0
        self.sparsity = None
        self._apply()

    def target(self, step: int) -> float:
        return polynomial_sparsity(step, self.initial, self.final, self.begin, self.end, self.power)

    def _apply(self):
        s = self.target(self.step_count)
        if s != self.sparsity:
            magnitude(self.model, s, scope=self.scope, layers=self.layers)
            self.sparsity = s

    def step(self):
        self.step_count += 1
        t = self.step_count
        if t >= self.end or (t >= self.begin and (t - self.begin) % self.frequency == 0):
            self._apply()


def finalize(model: nn.Module) -> nn.Module:
    """Bake every weight parametrization (pruning masks, clusters) into a plain weight and drop it.

    The effective weight is kept exactly: its zeros and its shared values stay.
    """
    for mod in model.modules():
        if parametrize.is_parametrized(mod, "weight"):
            parametrize.remove_parametrizations(mod, "weight", leave_parametrized=True)
    return model


@torch.no_grad()
def sparsity_of(model: nn.Module, layers=None) -> dict[str, float]:
    """{layer: fraction of its effective weight that is exactly zero}."""
    return {n: float((m.weight == 0).float().mean()) for n, m in prunable_layers(model, layers).items()}


@torch.no_grad()
def total_sparsity(model: nn.Module, layers=None) -> float:
    mods = prunable_layers(model, layers).values()
    zeros = sum(int((m.weight == 0).sum()) for m in mods)
    return zeros / max(1, sum(m.weight.numel() for m in mods))
