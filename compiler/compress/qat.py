"""Quantization-aware training (Jacob et al. 2018) with torch's fake-quantize ops.

`prepare(model)` returns a torch.fx GraphModule that trains in the user's own
loop and that `microflat.compiler.compile` turns into exactly the int8 model
it simulates:

  * every conv and linear layer becomes a QuantLayer: its weight, with a
    following batch norm folded in, is fake-quantized per output channel,
    symmetric, s_w[c] = max|w[c]| / 127, q in [-127, 127]: the compiler's
    own weight scheme (quantize.py), recomputed from the weight at every
    step as in Jacob et al. 3.1;
  * a FakeQuant (asymmetric int8, [-128, 127]; or symmetric int16,
    [-32768, 32767], zero point 0, where `prepare(activations=...)` asks
    for TFLite's 16x8 mode and the op has a 16-bit kernel) follows every value the
    runtime requantizes: the model inputs (not integer ids), each conv/linear
    (after its fused relu/relu6/hardtanh), and every op whose IR op the
    runtime requantizes (_FX_MODULES, _FX_FUNCTIONS, _FX_METHODS name the IR
    op; its rule is the runtime's definition): add, sub, mul, mean, sum,
    concat, matmul, the table activations. Softmax,
    logistic and tanh get the fixed output quantizations TFLite's kernels
    require. Values the runtime passes through with their input's
    quantization (max pool, pad, reshape, flatten, dropout) get none; an
    average pool keeps its input's quantization but rounds each average, so
    its output is fake-quantized with its input's scale and zero point.

Activation ranges are an exponential moving average (factor 0.01) of each
batch's min and max (Jacob et al. 3.1), turned into (scale, zero point) by
the compiler's own `observers.qparams` (of the FakeQuant's width). Under DistributedDataParallel each
batch's min and max are all-reduced (MIN, MAX) first, so every rank holds
the same quantization parameters.

Batch-norm folding during training follows Krishnamoorthi (2018), section
3.2.2 (torch.ao's ConvBn): the conv runs on the fake-quantized *folded*
weight w * gamma / sigma_running, its output is divided back by that factor,
and the batch norm then normalizes with the batch statistics and updates its
running ones. In eval mode (and after `freeze_bn_stats`) the layer computes
conv(x, fq(w * gamma / sigma), beta + (b - mu) * gamma / sigma): exactly the
folded layer the compiler emits, so the exported graph holds no batch norm.

Pruning masks and clusters on the wrapped layers stay: a QuantLayer reads its
layer's (parametrized) weight, so pruned zeros stay zero (fq(0) = 0) and the
gradient still reaches the centroids (the PCQAT idea).

The compiler reads every FakeQuant in the exported graph
(aten.fake_quantize_per_tensor_affine) as the quantization of the value it
follows and uses its scale and zero point as they are; a 16-bit one also
fixes the value's width (compiler/widths.py), so the compiled model runs in
16 bits exactly where training simulated it.
"""

from __future__ import annotations

import operator

import torch
import torch.distributed as dist
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from microflat.runtime.errors import CompileError

from ..ir import FIXED_OUTPUT, FIXED_OUTPUT_INT16, TIED_OPS
from ..observers import qparams
from ..widths import INT16_OPS

EMA = 0.01
WEIGHT_QMAX = 127


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


GRIDS = {"int8": (-128, 127), "int16": (-(2**15), 2**15 - 1)}


class FakeQuant(nn.Module):
    """Fake quantization of an activation, its range a moving average of batch extremes: asymmetric int8, or
    symmetric int16 (zero point 0) for TFLite's 16x8 mode."""

    def __init__(self, fixed: tuple[float, int] | None = None, ema: float = EMA, dtype: str = "int8"):
        super().__init__()
        if dtype not in GRIDS:
            raise CompileError(f"FakeQuant dtype must be one of {sorted(GRIDS)}, got {dtype!r}")
        self.ema, self.fixed, self.dtype = ema, fixed, dtype
        self.observing = fixed is None
        self.calibrating = False
        self.ready = fixed is not None  # a Python mirror of `seen`: export must not branch on a buffer
        self.register_buffer("lo", torch.tensor(0.0))
        self.register_buffer("hi", torch.tensor(0.0))
        self.register_buffer("seen", torch.tensor(False))
        s, zp = fixed if fixed is not None else (1.0, 0)
        self.register_buffer("scale", torch.tensor(s, dtype=torch.float32))
        self.register_buffer("zero_point", torch.tensor(zp, dtype=torch.int32))

    @torch.no_grad()
    def observe(self, x: torch.Tensor):
        ext = torch.stack([-x.detach().min(), x.detach().max()]).float()
        if _distributed():
            dist.all_reduce(ext, op=dist.ReduceOp.MAX)  # max of -min = -(min of mins)
        lo, hi = -ext[0], ext[1]
        if bool(self.seen):
            lo = self.lo + self.ema * (lo - self.lo)
            hi = self.hi + self.ema * (hi - self.hi)
        self.lo.copy_(lo)
        self.hi.copy_(hi)
        self.seen.fill_(True)
        self.ready = True
        s, zp = qparams(float(self.lo), float(self.hi), self.dtype)
        self.scale.fill_(s)
        self.zero_point.fill_(zp)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self.ready = self.fixed is not None or bool(self.seen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not x.is_floating_point():
            return x  # integer token ids (an nn.Embedding's input) are never quantized
        if self.observing and (self.training or self.calibrating):
            self.observe(x)
        if not self.ready:
            return x  # no range yet: calibrate() or a training step first
        return torch.fake_quantize_per_tensor_affine(x, self.scale, self.zero_point, *GRIDS[self.dtype])


def fake_quantize_weight(w: torch.Tensor, per_tensor: bool = False) -> torch.Tensor:
    """Symmetric int8, s[c] = max|w[c]| / 127 per output channel, straight-through gradient inside the range.

    per_tensor: one s = max|w| / 127 for the whole weight, as the compiler quantizes a palettized layer
    (compiler/quantize.py), so a clustered layer's K shared values stay K int8 values."""
    maxabs = w.detach().abs().reshape(w.shape[0], -1).amax(dim=1)
    if per_tensor:
        maxabs = maxabs.max().expand(w.shape[0])
    scale = (maxabs / WEIGHT_QMAX).clamp(min=1e-30).to(torch.float32).contiguous()
    zero = torch.zeros(w.shape[0], dtype=torch.int32, device=w.device)
    return torch.fake_quantize_per_channel_affine(w, scale, zero, 0, -WEIGHT_QMAX, WEIGHT_QMAX)


def _clustered(layer: nn.Module) -> bool:
    from .cluster import Clustered

    plist = getattr(getattr(layer, "parametrizations", None), "weight", None)
    return plist is not None and any(isinstance(p, Clustered) for p in plist)


class QuantLayer(nn.Module):
    """A conv or linear layer, with the batch norm that follows it folded in, on fake-quantized weights."""

    def __init__(self, layer: nn.Module, bn: nn.Module | None = None):
        super().__init__()
        self.layer, self.bn = layer, bn
        self.bn_frozen = False
        # a clustered layer without batch norm shares its K values across channels: one scale keeps them K
        self.per_tensor = bn is None and _clustered(layer)

    def _run(self, x, w, b):
        if isinstance(self.layer, nn.Linear):
            return F.linear(x, w, b)
        return self.layer._conv_forward(x, w, b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b = self.layer.weight, self.layer.bias
        if self.bn is None:
            return self._run(x, fake_quantize_weight(w, self.per_tensor), b)
        bn = self.bn
        std = torch.sqrt(bn.running_var + bn.eps)
        gamma = bn.weight if bn.weight is not None else torch.ones_like(std)
        beta = bn.bias if bn.bias is not None else torch.zeros_like(std)
        factor = gamma / std
        w_fold = fake_quantize_weight(w * factor.reshape((-1,) + (1,) * (w.dim() - 1)))
        if self.training and not self.bn_frozen:
            # conv on the folded weight, unfolded again; bn then normalizes with batch statistics
            per_channel = (-1,) + (1,) * (w.dim() - 2)  # broadcasts over [N, C] and [N, C, H, W] outputs
            y = self._run(x, w_fold, None)
            safe = torch.where(factor.abs() < 1e-12, torch.full_like(factor, 1e-12), factor)
            y = y / safe.reshape(per_channel)
            if b is not None:
                y = y + b.reshape(per_channel)
            return bn(y)
        bias = beta + ((b if b is not None else torch.zeros_like(std)) - bn.running_mean) * factor
        return self._run(x, w_fold, bias)


_ACTIVATION_MODULES = (nn.ReLU, nn.ReLU6, nn.Hardtanh)
_ACTIVATION_FUNCTIONS = {torch.relu, F.relu, F.relu6, F.hardtanh, torch.clamp, torch.nn.functional.hardtanh}
_ACTIVATION_METHODS = {"relu", "clamp", "clamp_"}
# The IR op (ir_ops.py) that computes each torch.fx target's output (a LayerNorm's last is a mul; torch.nn's own
# modules are leaves of the trace, and one that is not named here gets no FakeQuant, its output then calibrated
# after training). Whether QAT fake-quantizes an output follows from that
# op's runtime definition (ir.FIXED_OUTPUT: a fixed quantization; ir.TIED_OPS: its input's, no FakeQuant; any
# other: its own, calibrated). A binary op with a constant operand is left to calibration, as before.
_BINARY_OPS = {operator.add: "add", torch.add: "add", operator.mul: "mul", torch.mul: "mul", operator.sub: "sub",
               torch.sub: "sub", "add": "add", "mul": "mul", "sub": "sub"}
_FX_MODULES = {nn.Softmax: "softmax", nn.Sigmoid: "logistic", nn.Tanh: "tanh", nn.Hardswish: "hardswish",
               nn.GELU: "gelu", nn.SiLU: "silu", nn.Hardsigmoid: "hardsigmoid", nn.LeakyReLU: "leaky_relu",
               nn.ELU: "elu", nn.Mish: "mish", nn.PReLU: "leaky_relu", nn.MaxPool2d: "max_pool", nn.Flatten: "reshape",
               nn.Upsample: "resize_nearest", nn.LayerNorm: "mul"}
_FX_FUNCTIONS = {torch.softmax: "softmax", F.softmax: "softmax", torch.sigmoid: "logistic", F.sigmoid: "logistic",
                 torch.tanh: "tanh", F.tanh: "tanh", F.hardswish: "hardswish", F.gelu: "gelu", F.silu: "silu",
                 F.hardsigmoid: "hardsigmoid", F.leaky_relu: "leaky_relu", F.elu: "elu", F.mish: "mish",
                 F.prelu: "leaky_relu", torch.cat: "concat", torch.mean: "reduce_mean", torch.sum: "reduce_sum",
                 torch.amax: "reduce_max", torch.maximum: "maximum", torch.minimum: "minimum",
                 torch.matmul: "batch_matmul", torch.bmm: "batch_matmul", F.max_pool2d: "max_pool",
                 torch.flatten: "reshape", F.interpolate: "resize_nearest",
                 F.scaled_dot_product_attention: "batch_matmul"}
# The same ops as the aten calls of an exported program's graph (compress/program.py rebuilds a .pt2 as a
# GraphModule that keeps them: `microflat compress MODEL.pt2`).
_aten = torch.ops.aten
_ACTIVATION_FUNCTIONS |= {_aten.relu.default, _aten.relu_.default, _aten.relu6.default, _aten.hardtanh.default,
                          _aten.hardtanh_.default, _aten.clamp.default}
_BINARY_OPS.update({_aten.add.Tensor: "add", _aten.add_.Tensor: "add", _aten.mul.Tensor: "mul",
                    _aten.mul_.Tensor: "mul", _aten.sub.Tensor: "sub", _aten.sub_.Tensor: "sub"})
_FX_FUNCTIONS.update({
    _aten.softmax.int: "softmax", _aten._softmax.default: "softmax", _aten.sigmoid.default: "logistic",
    _aten.tanh.default: "tanh", _aten.hardswish.default: "hardswish", _aten.gelu.default: "gelu",
    _aten.silu.default: "silu", _aten.hardsigmoid.default: "hardsigmoid", _aten.leaky_relu.default: "leaky_relu",
    _aten.elu.default: "elu", _aten.mish.default: "mish", _aten.prelu.default: "leaky_relu",
    _aten.cat.default: "concat", _aten.mean.dim: "reduce_mean", _aten.mean.default: "reduce_mean",
    _aten.sum.dim_IntList: "reduce_sum", _aten.amax.default: "reduce_max", _aten.maximum.default: "maximum",
    _aten.minimum.default: "minimum", _aten.matmul.default: "batch_matmul", _aten.bmm.default: "batch_matmul",
    _aten.max_pool2d.default: "max_pool", _aten.flatten.using_ints: "reshape", _aten.view.default: "reshape",
    _aten.reshape.default: "reshape", _aten._unsafe_view.default: "reshape", _aten.permute.default: "transpose",
    _aten.transpose.int: "transpose", _aten.upsample_nearest2d.vec: "resize_nearest",
    _aten.layer_norm.default: "mul", _aten.scaled_dot_product_attention.default: "batch_matmul"})
_ADAPTIVE_AVERAGE = (nn.AdaptiveAvgPool2d, F.adaptive_avg_pool2d, _aten.adaptive_avg_pool2d.default)
_AVERAGE = (F.avg_pool2d, _aten.avg_pool2d.default)
_FX_METHODS = {"mean": "reduce_mean", "sum": "reduce_sum", "amax": "reduce_max", "softmax": "softmax",
               "sigmoid": "logistic", "tanh": "tanh", "view": "reshape", "reshape": "reshape", "flatten": "reshape",
               "permute": "transpose", "transpose": "transpose"}


def _rule(op: str | None) -> str | bool:
    """True: the runtime requantizes op's output (a FakeQuant follows it); the op's name: its output quantization
    is fixed (ir.FIXED_OUTPUT); False: it keeps its input's (ir.TIED_OPS), or op is unknown."""
    if op is None:
        return False
    if op in FIXED_OUTPUT:
        return op
    return op not in TIED_OPS


def _module(gm, node):
    return gm.get_submodule(node.target) if node.op == "call_module" else None


def _is_activation(gm, node) -> bool:
    if node.op == "call_module":
        return isinstance(_module(gm, node), _ACTIVATION_MODULES)
    if node.op == "call_function":
        return node.target in _ACTIVATION_FUNCTIONS
    return node.op == "call_method" and node.target in _ACTIVATION_METHODS


def _ir_op(gm, node) -> str | None:
    """The IR op (ir_ops.py) that computes this node's output, as far as QAT needs to know it: "input" for a model
    input, None for an op it does not know (its output then calibrated after training) or a binary op with a
    constant operand (left to calibration)."""
    if node.op == "placeholder":
        return "input"
    if node.op == "call_module" and isinstance(_module(gm, node), QuantLayer):
        return "fc" if isinstance(_module(gm, node).layer, nn.Linear) else "conv"
    target = node.target if node.op != "call_module" else type(_module(gm, node))
    if target in _ADAPTIVE_AVERAGE:  # to 1x1: MEAN; else AVERAGE_POOL_2D
        size = _module(gm, node).output_size if node.op == "call_module" else node.args[1]
        return "mean" if size in (1, (1, 1), [1, 1]) else "avg_pool"
    if node.op != "call_module" and target in _BINARY_OPS:
        return _BINARY_OPS[target] if all(isinstance(a, fx.Node) for a in node.args[:2]) else None
    if node.op == "call_module":
        return next((op for cls, op in _FX_MODULES.items() if isinstance(_module(gm, node), cls)), None)
    return (_FX_FUNCTIONS if node.op == "call_function" else _FX_METHODS).get(target)


def _requantizes(gm, node) -> str | bool:
    """True when the runtime requantizes this node's output (it needs its own FakeQuant); a FIXED_OUTPUT op name
    when its output quantization is fixed (_rule of the IR op the node lowers to)."""
    op = _ir_op(gm, node)
    return True if op == "input" else _rule(op)


def _is_average_pool(gm, node) -> bool:
    """An average pool the runtime runs in the input's quantization, rounding each average (ir.TIED_OPS)."""
    if node.op == "call_module":
        m = _module(gm, node)
        return isinstance(m, nn.AvgPool2d) or (isinstance(m, nn.AdaptiveAvgPool2d) and m.output_size not in (1, (1, 1)))
    if node.op == "call_function":
        if node.target in _AVERAGE:
            return True
        return node.target in _ADAPTIVE_AVERAGE and node.args[1] not in (1, (1, 1), [1, 1])
    return False


def _source_fake_quant(gm, node, depth: int = 8):
    """The FakeQuant whose quantization reaches `node` through ops that keep it (pooling, pad, reshape)."""
    for _ in range(depth):
        if node.op == "call_module" and isinstance(_module(gm, node), FakeQuant):
            return node.target
        inputs = [a for a in node.all_input_nodes]
        if len(inputs) != 1:
            return None
        node = inputs[0]
    return None


def _sole_user(node):
    users = list(node.users)
    return users[0] if len(users) == 1 else None


def _width(gm, node, activations) -> str:
    """int16 where `activations` asks for it ("int16": everywhere; or a set of torch.fx node names) and the value
    runs in 16 bits in the compiled model (a model input, or an op with a 16-bit kernel: widths.INT16_OPS).
    A layer is named by its torch.fx node name or, for a module, its path in the model ("0", "encoder.fc1")."""
    names = {node.name, str(node.target).removesuffix("_qat")} if node.op == "call_module" else {node.name}
    wide = activations == "int16" or (not isinstance(activations, str) and bool(names & set(activations)))
    return "int16" if wide and _ir_op(gm, node) in INT16_OPS | {"input"} else "int8"


def prepare(model: nn.Module, calibration_data=None, activations="int8") -> fx.GraphModule:
    """The QAT model: a GraphModule that shares the model's parameters (and their pruning or clustering
    parametrizations). Train it in the usual way, then `microflat.compiler.compile(qat_model.eval(), ...)`.

    calibration_data (an iterable of input batches) initializes the activation ranges before training;
    without it, the first training batch does.
    activations: "int8"; "int16" (TFLite's 16x8 mode: 16-bit fake quantization of every model input and of
    every op output that has a 16-bit kernel, the rest int8, as `compile(activations="int16")` assigns them);
    or a set of layers to run in 16 bits, each a module path ("encoder.fc1") or torch.fx node name. The compiler reads each value's width from its FakeQuant.
    """
    if isinstance(activations, str) and activations not in GRIDS:
        raise CompileError(f"activations must be 'int8', 'int16' or a set of layer names, got {activations!r}")
    try:
        gm = fx.symbolic_trace(model)
    except Exception as exc:
        raise CompileError(f"quantization-aware training traces the model with torch.fx, which failed: "
                           f"{str(exc).splitlines()[0]}") from None
    graph = gm.graph
    # 1. conv/linear (+ batch norm) -> QuantLayer
    for node in list(graph.nodes):
        layer = _module(gm, node)
        if not isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            continue
        bn_node = _sole_user(node)
        bn = _module(gm, bn_node) if bn_node is not None else None
        if not isinstance(bn, nn.modules.batchnorm._BatchNorm):
            bn, bn_node = None, None
        name = node.target + "_qat"
        gm.add_submodule(name, QuantLayer(layer, bn))
        node.target = name
        if bn_node is not None:
            bn_node.replace_all_uses_with(node)
            graph.erase_node(bn_node)
    # 2. a FakeQuant after each requantized value (after its fused activation, if any)
    count = 0
    for node in list(graph.nodes):
        kind = _requantizes(gm, node)
        if not kind:
            continue
        last = node
        while (nxt := _sole_user(last)) is not None and _is_activation(gm, nxt):
            last = nxt
        dtype = _width(gm, node, activations)
        fixed = FIXED_OUTPUT_INT16.get(kind) if dtype == "int16" else FIXED_OUTPUT.get(kind)
        fq = FakeQuant(fixed if isinstance(kind, str) else None, dtype=dtype)
        name = f"fake_quant_{count}"
        count += 1
        gm.add_submodule(name, fq)
        with graph.inserting_after(last):
            q = graph.call_module(name, (last,))
        last.replace_all_uses_with(q, delete_user_cb=lambda user: user is not q)
    # 2b. where a value of one width is read by a layer of the other, the compiled model converts it (a
    #     REQUANTIZE, compiler/widths.py) to a grid of its own: simulate that grid with a second FakeQuant
    for node in list(graph.nodes):
        fq = _module(gm, node)
        if not isinstance(fq, FakeQuant):
            continue
        for width in ("int8", "int16"):
            readers = [u for u in node.users if u.op != "output" and not isinstance(_module(gm, u), FakeQuant)
                       and _width(gm, u, activations) == width != fq.dtype]
            if not readers:
                continue
            name = f"fake_quant_{count}"
            count += 1
            gm.add_submodule(name, FakeQuant(dtype=width))
            with graph.inserting_after(node):
                q = graph.call_module(name, (node,))
            for u in readers:
                u.replace_input_with(node, q)
    # 3. an average pool keeps its input's quantization but rounds each average to it: fake-quantize its
    #    output with the same (scale, zero point), read from the source FakeQuant's buffers
    for node in list(graph.nodes):
        if not _is_average_pool(gm, node):
            continue
        source = _source_fake_quant(gm, node.args[0])
        if source is None:
            continue
        with graph.inserting_after(node):
            scale = graph.get_attr(f"{source}.scale")
        with graph.inserting_after(scale):
            zero_point = graph.get_attr(f"{source}.zero_point")
        with graph.inserting_after(zero_point):
            q = graph.call_function(torch.fake_quantize_per_tensor_affine, (node, scale, zero_point, -128, 127))
        node.replace_all_uses_with(q, delete_user_cb=lambda user: user is not q)
    graph.lint()
    gm.delete_all_unused_submodules()
    gm.recompile()
    if calibration_data is not None:
        calibrate(gm, calibration_data)
    return gm


@torch.no_grad()
def calibrate(model: nn.Module, data) -> None:
    """Set the activation ranges from batches run in eval mode (batch norm uses running statistics)."""
    fqs = [m for m in model.modules() if isinstance(m, FakeQuant)]
    was = model.training
    model.eval()
    for m in fqs:
        m.calibrating = True
    try:
        for batch in data:
            model(*batch) if isinstance(batch, (tuple, list)) else model(batch)
    finally:
        for m in fqs:
            m.calibrating = False
        model.train(was)


def freeze_observers(model: nn.Module) -> nn.Module:
    """Stop updating activation ranges (Jacob et al. freeze them late in training)."""
    for m in model.modules():
        if isinstance(m, FakeQuant):
            m.observing = False
    return model


def freeze_bn_stats(model: nn.Module) -> nn.Module:
    """Batch norms inside QuantLayers switch to their running statistics (the folded form) for the rest of training."""
    for m in model.modules():
        if isinstance(m, QuantLayer):
            m.bn_frozen = True
    return model


def quantization_parameters(model: nn.Module) -> dict[str, tuple[float, int]]:
    """{FakeQuant name: (scale, zero point)}."""
    return {n: (float(m.scale), int(m.zero_point)) for n, m in model.named_modules() if isinstance(m, FakeQuant)}
