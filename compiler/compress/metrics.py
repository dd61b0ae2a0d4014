"""What a compression step is measured by: parameters, nonzero parameters, MACs, and compiled bytes."""

from __future__ import annotations

import torch
import torch.nn as nn


def count_params(model: nn.Module) -> int:
    """Parameters of the effective model: a pruned weight counts whole, a clustered one as its weight's size."""
    total = 0
    for mod in model.modules():
        for name, p in mod.named_parameters(recurse=False):
            total += p.numel()
        if hasattr(mod, "parametrizations"):
            for name in mod.parametrizations:
                total += getattr(mod, name).numel() - mod.parametrizations[name].original.numel()
    return total


@torch.no_grad()
def count_nonzero(model: nn.Module) -> int:
    """Nonzero values of the effective weights and biases."""
    seen = 0
    for mod in model.modules():
        for name, p in mod.named_parameters(recurse=False):
            seen += int((p != 0).sum())
        if hasattr(mod, "parametrizations"):
            for name in mod.parametrizations:
                seen += int((getattr(mod, name) != 0).sum()) - int((mod.parametrizations[name].original != 0).sum())
    return seen


@torch.no_grad()
def count_macs(model: nn.Module, example_inputs) -> int:
    """Multiply-accumulates of one inference (batch 1) in conv and linear layers, as the runtime counts them:
    outputs x (input channels / groups) x kernel size for a conv, outputs x inputs for a linear."""
    total = [0]

    def hook(mod, inp, out):
        per_sample = out.numel() // out.shape[0]
        if isinstance(mod, nn.Linear):
            total[0] += per_sample * mod.in_features
        else:
            k = 1
            for s in mod.kernel_size:
                k *= s
            total[0] += per_sample * (mod.in_channels // mod.groups) * k

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))]
    was = model.training
    model.eval()
    try:
        if isinstance(example_inputs, torch.Tensor):
            example_inputs = (example_inputs,)
        model(*[x[:1] for x in example_inputs])
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    return total[0]
