"""Structured pruning that removes channels: the result is a smaller dense model.

Which channels must go together is read from the torch.export graph
(compiler/api.capture). A *channel group* is a set of layers that index the
same channels of one activation:

  * the conv or linear layer that produces it (its filters: rows "out"),
  * the batch norms and depthwise convs it passes through (per-channel
    parameters and filters), and pointwise ops (relu, pooling, dropout, pad),
  * every conv or linear that consumes it (their input columns "in"; a
    linear after a flatten of C x H x W takes H*W columns per channel),
  * residual adds and muls join the groups of their two operands, which
    must then lose the same channels (also a squeeze-and-excitation gate
    [N, C, 1, 1] broadcast over its [N, C, H, W] input),

Groups touching a model input or output, a grouped (non-depthwise) conv, or
any op this analysis does not know stay whole. The rest lose the channels
with the least importance, the L1 norm of each producing filter times the
|gamma / sigma| of the batch norm right after it (Li et al. 2017; Liu et
al. 2017 for the batch-norm factor), each producer's norms divided by their
mean so that layers of different scale weigh alike. Every member layer is
then rewritten in place with fewer channels: new, smaller parameters (make
the optimizer afterwards).
"""

from __future__ import annotations

import copy
import operator
from dataclasses import dataclass, field

import torch
import torch.nn as nn
from torch.nn.utils import parametrize

from microflat.runtime.errors import CompileError

from ..lower import POINTWISE_OPS

from .metrics import count_macs

# Ops a channel passes through: the lowering's pointwise ones (clamps, table activations), pooling, identities.
_PASS = POINTWISE_OPS | {"aten.dropout.default", "aten.feature_dropout.default", "aten.max_pool2d.default",
                         "aten.max_pool2d_with_indices.default", "aten.avg_pool2d.default",
                         "aten.adaptive_avg_pool2d.default", "aten.clone.default", "aten.contiguous.default",
                         "aten.alias.default", "aten.detach.default"}
_RESHAPE = {"aten.flatten.using_ints", "aten.view.default", "aten.reshape.default", "aten._unsafe_view.default"}
_BINARY = {"aten.add.Tensor", "aten.add_.Tensor", "aten.mul.Tensor", "aten.mul_.Tensor"}
_BN = {"aten.batch_norm.default", "aten._native_batch_norm_legit_no_training.default"}
_CONV = {"aten.conv2d.default", "aten.conv1d.default", "aten.convolution.default"}


@dataclass
class Member:
    module: str   # qualified name
    role: str     # "out", "in", "depthwise" or "bn"
    factor: int = 1  # "in" of a linear after a flatten: columns per channel


@dataclass
class ChannelGroup:
    channels: int
    members: list[Member] = field(default_factory=list)
    fixed: str = ""   # why the group cannot be pruned ("" when it can)
    bn_after: dict = field(default_factory=dict)  # producer module -> the batch norm right after it

    @property
    def prunable(self) -> bool:
        return not self.fixed and any(m.role == "out" for m in self.members)


class _Groups:
    def __init__(self):
        self.parent: list[int] = []
        self.data: list[ChannelGroup] = []

    def new(self, channels, fixed="") -> int:
        self.parent.append(len(self.parent))
        self.data.append(ChannelGroup(channels, fixed=fixed))
        return len(self.parent) - 1

    def find(self, g):
        while self.parent[g] != g:
            self.parent[g] = self.parent[self.parent[g]]
            g = self.parent[g]
        return g

    def get(self, g) -> ChannelGroup:
        return self.data[self.find(g)]

    def union(self, a, b):
        a, b = self.find(a), self.find(b)
        if a == b:
            return a
        da, db = self.data[a], self.data[b]
        if da.channels != db.channels:
            da.fixed = db.fixed = "operands of different channel counts"
        da.members += db.members
        da.bn_after.update(db.bn_after)
        da.fixed = da.fixed or db.fixed
        self.parent[b] = a
        return a

    def fix(self, g, why):
        d = self.get(g)
        d.fixed = d.fixed or why

    def roots(self) -> list[ChannelGroup]:
        return [self.data[i] for i in range(len(self.parent)) if self.parent[i] == i]


def _shape(node):
    val = node.meta.get("val")
    return tuple(int(d) for d in val.shape) if isinstance(val, torch.Tensor) else None


def _same_channels(a, b) -> bool:
    """Operands that index one set of channels (dim 1), any other dimension equal or broadcast from 1 (a
    squeeze-and-excitation gate [N, C, 1, 1] times its [N, C, H, W] input)."""
    return (a is not None and b is not None and len(a) == len(b) and len(a) >= 2 and a[1] == b[1]
            and all(x == y or 1 in (x, y) for x, y in zip(a[2:], b[2:])))


def analyze(model: nn.Module, example_inputs) -> list[ChannelGroup]:
    """The channel groups of a model (see the module docstring), in graph order."""
    from ..api import capture

    for name, mod in model.named_modules():
        if parametrize.is_parametrized(mod):
            raise CompileError(f"layer {name!r} still has a parametrization (a pruning mask or clusters); call "
                               "prune.finalize(model) before removing channels")
    ep = capture(model, example_inputs)
    sig = ep.graph_signature
    owner = {**sig.inputs_to_parameters, **sig.inputs_to_buffers}  # placeholder -> "a.b.weight"

    def module_of(node, arg, what):
        if not isinstance(arg, torch.fx.Node) or arg.name not in owner:
            raise CompileError(f"{node.target}: its {what} is computed in the graph, not a parameter; structured "
                               "pruning needs plain layers")
        return owner[arg.name].rsplit(".", 1)[0]

    groups = _Groups()
    env: dict = {}  # node -> (group id, columns per channel)
    produced_by: dict = {}  # node -> module of the conv/linear that produced it
    for node in ep.graph.nodes:
        if node.op == "placeholder":
            if node.name not in owner and _shape(node) is not None and len(_shape(node)) >= 2:
                env[node] = (groups.new(_shape(node)[1], "a model input"), 1)
            continue
        if node.op == "output":
            for a in node.args[0]:
                if a in env:
                    groups.fix(env[a][0], "a model output")
            continue
        name = str(node.target)
        acts = [a for a in node.all_input_nodes if a in env]
        out_shape = _shape(node)
        if node.target is operator.getitem:
            if acts and node.args[1] == 0:
                env[node] = env[acts[0]]
                if acts[0] in produced_by:
                    produced_by[node] = produced_by[acts[0]]
            continue
        if not acts:
            continue
        g, f = env[node.args[0]] if node.args and node.args[0] in env else env[acts[0]]
        if name in _CONV:
            w = node.args[1]
            mod = module_of(node, w, "weight")
            conv = model.get_submodule(mod)
            cin, cout = conv.in_channels, conv.out_channels
            if conv.groups == 1:
                groups.get(g).members.append(Member(mod, "in"))
                out = groups.new(cout)
                groups.get(out).members.append(Member(mod, "out"))
            elif conv.groups == cin == cout:
                groups.get(g).members.append(Member(mod, "depthwise"))
                out = g
            else:
                groups.fix(g, f"grouped conv {mod}")
                out = groups.new(cout, f"grouped conv {mod}")
            env[node] = (out, 1)
            produced_by[node] = mod
        elif name == "aten.linear.default":
            mod = module_of(node, node.args[1], "weight")
            groups.get(g).members.append(Member(mod, "in", f))
            out = groups.new(out_shape[-1])
            groups.get(out).members.append(Member(mod, "out"))
            env[node] = (out, 1)
            produced_by[node] = mod
        elif name in _BN:
            mod = module_of(node, node.args[3], "running mean")
            grp = groups.get(g)
            grp.members.append(Member(mod, "bn"))
            src = node.args[0]
            if src in produced_by:
                grp.bn_after[produced_by[src]] = mod
            env[node] = (g, f)
        elif name in _PASS:
            env[node] = (g, f)
        elif name in ("aten.pad.default", "aten.constant_pad_nd.default") and len(node.args[1]) <= 4:
            env[node] = (g, f)
        elif name == "aten.mean.dim" and sorted(int(d) % 4 for d in node.args[1]) == [2, 3]:
            env[node] = (g, f)
        elif name in _RESHAPE:
            src = _shape(acts[0])
            if out_shape == src:
                env[node] = (g, f)
            elif len(src) == 4 and len(out_shape) == 2 and out_shape[1] == src[1] * src[2] * src[3]:
                env[node] = (g, f * src[2] * src[3])
            else:
                groups.fix(g, f"reshape {src} -> {out_shape}")
                env[node] = (groups.new(out_shape[1] if len(out_shape) > 1 else 1, "reshape"), 1)
        elif name in _BINARY and len(acts) == 2:
            (g1, f1), (g2, f2) = env[node.args[0]], env[node.args[1]]
            if not _same_channels(_shape(node.args[0]), _shape(node.args[1])) or f1 != f2:
                groups.fix(g1, "broadcast operands")
                groups.fix(g2, "broadcast operands")
            env[node] = (groups.union(g1, g2), f1)
        elif name in _BINARY and all(not isinstance(a, torch.Tensor) or a.numel() == 1 for a in node.args[1:]):
            env[node] = (g, f)
        else:
            for a in acts:
                groups.fix(env[a][0], f"op {name}")
            channels = out_shape[1] if out_shape and len(out_shape) > 1 else 1
            env[node] = (groups.new(channels, f"op {name}"), 1)
    return [d for d in groups.roots() if d.members]


@torch.no_grad()
def _importance(model, group: ChannelGroup) -> torch.Tensor:
    score = torch.zeros(group.channels, dtype=torch.float64)
    for m in group.members:
        if m.role != "out":
            continue
        w = model.get_submodule(m.module).weight.detach().to(torch.float64)
        norms = w.reshape(w.shape[0], -1).abs().sum(1)
        bn_name = group.bn_after.get(m.module)
        if bn_name is not None:
            bn = model.get_submodule(bn_name)
            gamma = bn.weight.detach().double() if bn.weight is not None else torch.ones_like(norms)
            norms = norms * gamma.abs() / torch.sqrt(bn.running_var.double() + bn.eps)
        score += norms / norms.mean().clamp(min=1e-30)
    return score


def _set(module, name, tensor):
    old = getattr(module, name)
    if isinstance(old, nn.Parameter):
        setattr(module, name, nn.Parameter(tensor.contiguous(), requires_grad=old.requires_grad))
    else:
        setattr(module, name, tensor.contiguous())


@torch.no_grad()
def _rewrite(model, group: ChannelGroup, keep: torch.Tensor):
    n = len(keep)
    for m in group.members:
        mod = model.get_submodule(m.module)
        if m.role in ("out", "depthwise"):
            _set(mod, "weight", mod.weight[keep])
            if mod.bias is not None:
                _set(mod, "bias", mod.bias[keep])
            if isinstance(mod, nn.Linear):
                mod.out_features = n
            else:
                mod.out_channels = n
                if m.role == "depthwise":
                    mod.in_channels = mod.groups = n
        elif m.role == "in":
            if isinstance(mod, nn.Linear):
                cols = (keep[:, None] * m.factor + torch.arange(m.factor)).reshape(-1)
                _set(mod, "weight", mod.weight[:, cols])
                mod.in_features = len(cols)
            else:
                _set(mod, "weight", mod.weight[:, keep])
                mod.in_channels = n
        elif m.role == "bn":
            for attr in ("weight", "bias", "running_mean", "running_var"):
                if getattr(mod, attr, None) is not None:
                    _set(mod, attr, getattr(mod, attr)[keep])
            mod.num_features = n


def remove_channels(model: nn.Module, example_inputs, amount: float, *, min_channels: int = 1,
                    groups: list[ChannelGroup] | None = None) -> dict:
    """Remove round(amount * C) of the C channels of every prunable group, in place.

    groups: the model's analysis, if already made (it names modules, so it holds for a deep copy).
    Returns {group producers: (channels before, after)}.
    """
    if not 0.0 <= amount < 1.0:
        raise CompileError(f"amount must be in [0, 1), got {amount}")
    report = {}
    for group in groups if groups is not None else analyze(model, example_inputs):
        if not group.prunable:
            continue
        c = group.channels
        n = min(c, max(min_channels, c - int(round(amount * c))))
        if n == c:
            continue
        score = _importance(model, group)
        keep = torch.sort(torch.argsort(score, descending=True, stable=True)[:n]).values
        _rewrite(model, group, keep)
        report[", ".join(m.module for m in group.members if m.role == "out")] = (c, n)
    return report


def remove_channels_to_macs(model: nn.Module, example_inputs, mac_fraction: float, *, min_channels: int = 1,
                            tolerance: float = 0.005) -> tuple[float, dict]:
    """Remove the same fraction of channels from every prunable group, the smallest fraction that brings the
    MACs to at most mac_fraction of today's (bisection). Returns (that fraction, the report)."""
    if not 0.0 < mac_fraction < 1.0:
        raise CompileError(f"mac_fraction must be in (0, 1), got {mac_fraction}")
    base = count_macs(model, example_inputs)
    groups = analyze(model, example_inputs)

    def trial_at(amount):
        trial = copy.deepcopy(model)
        remove_channels(trial, example_inputs, amount, min_channels=min_channels, groups=groups)
        return trial

    lo, hi = 0.0, 0.99
    trial = trial_at(hi)
    if count_macs(trial, example_inputs) > mac_fraction * base:
        raise CompileError(f"removing 99% of the channels of every prunable group leaves "
                           f"{count_macs(trial, example_inputs) / base:.0%} of the MACs; {mac_fraction:.0%} is out of reach")
    while hi - lo > tolerance:
        mid = (lo + hi) / 2
        if count_macs(trial_at(mid), example_inputs) <= mac_fraction * base:
            hi = mid
        else:
            lo = mid
    return hi, remove_channels(model, example_inputs, hi, min_channels=min_channels, groups=groups)
