"""Run the IR in PyTorch: in float (calibration, the float side of a comparison)
or as a fake-quantized simulation of the int8 model.

Both run on physical (NHWC) tensors, a whole batch at a time.

fake_quant=True simulates exactly the quantization the compiler chose, with
PyTorch's own fake-quantize ops: every activation is rounded to its int8 grid
(torch.fake_quantize_per_tensor_affine), weights are the int8 values times
their per-channel scales, biases the int32 values times s_in * s_w. What it
does not simulate is the runtime's fixed-point requantization (a Q31
multiplier and a rounding shift instead of one float multiply and one
rounding) and its rounding of ties (away from zero; PyTorch rounds them to
even). Each op output of the int8 model can therefore differ from the
simulation by one step, the +-1 LSB the tests allow.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from microflat.kernels.lut import lut_function

from .ir import TABLE_OPS, Graph, Node, Value



def _fq(t: torch.Tensor, v: Value) -> torch.Tensor:
    return torch.fake_quantize_per_tensor_affine(t, float(v.scale), int(v.zero_point), -128, 127)


def _nchw(t):
    return t.permute(0, 3, 1, 2)


def _nhwc(t):
    return t.permute(0, 2, 3, 1).contiguous()


def _pad_amounts(in_hw, out_hw, k, s, d, pad):
    """(left, right, top, bottom) so that a VALID window sweep gives out_hw; right/bottom may be negative (crop)."""
    need = [(o - 1) * st + dd * (kk - 1) + 1 for o, st, dd, kk in zip(out_hw, s, d, k)]
    bottom = need[0] - in_hw[0] - pad[0]
    right = need[1] - in_hw[1] - pad[1]
    return (pad[1], right, pad[0], bottom)


def _weights(node: Node, fake_quant: bool, s_in: float):
    a = node.attrs
    if not fake_quant:
        w = torch.as_tensor(a["weight"], dtype=torch.float32)
        b = None if a["bias"] is None else torch.as_tensor(a["bias"], dtype=torch.float32)
        return w, b
    q = a["quantized"]
    scales = torch.as_tensor(q["weight_scale"], dtype=torch.float64)
    w = torch.as_tensor(q["weight_torch"], dtype=torch.float64) * scales.reshape((-1,) + (1,) * (len(q["weight_torch"].shape) - 1))
    b = torch.as_tensor(q["bias"], dtype=torch.float64) * (s_in * scales)
    return w.float(), b.float()


def _clamp(t, node):
    lo, hi = node.act
    if lo == float("-inf") and hi == float("inf"):
        return t
    return t.clamp(min=None if lo == float("-inf") else lo, max=None if hi == float("inf") else hi)


def run_op(node: Node, xs: list[torch.Tensor], fake_quant: bool) -> torch.Tensor:
    op, a = node.op, node.attrs
    out_shape = node.output.shape
    if op == "conv":
        x = xs[0]
        w, b = _weights(node, fake_quant, node.inputs[0].scale)
        k = w.shape[2:]
        padding = _pad_amounts(x.shape[1:3], out_shape[1:3], k, a["stride"], a["dilation"], a["pad"])
        y = F.conv2d(F.pad(_nchw(x), padding), w, b, a["stride"], 0, a["dilation"], a["groups"])
        y = _clamp(_nhwc(y), node)
    elif op == "transpose_conv":
        x = xs[0]
        w, b = _weights(node, fake_quant, node.inputs[0].scale)  # [O, I, KH, KW]
        (sh, sw), (pt, pl) = a["stride"], a["pad"]
        full = [(i - 1) * s_ + k for i, s_, k in zip(x.shape[1:3], (sh, sw), w.shape[2:])]  # uncropped
        y = F.conv_transpose2d(_nchw(x), w.transpose(0, 1), b, (sh, sw))
        y = F.pad(y, (0, max(0, out_shape[2] + pl - full[1]), 0, max(0, out_shape[1] + pt - full[0])))
        y = _clamp(_nhwc(y[:, :, pt:pt + out_shape[1], pl:pl + out_shape[2]]), node)
    elif op == "batch_matmul":
        lhs = xs[0].transpose(-1, -2) if a["adj_x"] else xs[0]
        rhs = xs[1].transpose(-1, -2) if a["adj_y"] else xs[1]
        y = _clamp(torch.matmul(lhs, rhs) * a["scale"], node)
    elif op == "fc":
        w, b = _weights(node, fake_quant, node.inputs[0].scale)
        y = _clamp(F.linear(xs[0], w, b), node)
    elif op == "batch_norm":
        y = xs[0] * torch.as_tensor(a["scale"], dtype=torch.float32) + torch.as_tensor(a["shift"], dtype=torch.float32)
    elif op == "constant":
        y = torch.as_tensor(a["data"], dtype=torch.float32)
    elif op == "add":
        y = _clamp(xs[0] + xs[1], node)
    elif op == "sub":
        y = _clamp(xs[0] - xs[1], node)
    elif op == "maximum":
        y = torch.maximum(xs[0], xs[1])
    elif op == "minimum":
        y = torch.minimum(xs[0], xs[1])
    elif op == "squared_difference":
        y = (xs[0] - xs[1]) ** 2
    elif op == "mul":
        y = _clamp(xs[0] * xs[1], node)
    elif op in ("avg_pool", "max_pool"):
        x = xs[0]
        padding = _pad_amounts(x.shape[1:3], out_shape[1:3], a["kernel"], a["stride"], (1, 1), a["pad"])
        if op == "max_pool":  # padding never wins the max
            y = F.max_pool2d(F.pad(_nchw(x), padding, value=float("-inf")), a["kernel"], a["stride"])
        else:  # TFLite averages the valid elements only
            total = F.avg_pool2d(F.pad(_nchw(x), padding), a["kernel"], a["stride"], divisor_override=1)
            ones = torch.ones((1, 1) + tuple(x.shape[1:3]), dtype=x.dtype)
            count = F.avg_pool2d(F.pad(ones, padding), a["kernel"], a["stride"], divisor_override=1)
            y = total / count
        y = _clamp(_nhwc(y), node)
    elif op == "mean":
        y = xs[0].mean(dim=(1, 2), keepdim=len(out_shape) == 4)
    elif op == "softmax":
        y = torch.softmax(xs[0], dim=-1)
    elif op == "concat":
        y = torch.cat(xs, dim=a["axis"])
    elif op == "pad":
        pairs = []
        for d in reversed(range(4)):
            pairs += [a["before"][d], a["after"][d]]
        y = F.pad(xs[0], pairs)
    elif op in ("reduce_mean", "reduce_sum", "reduce_max"):
        keep = len(out_shape) == len(node.inputs[0].shape)
        x, axes = xs[0], tuple(a["axes"])
        y = x.mean(dim=axes, keepdim=keep) if op == "reduce_mean" else x.sum(dim=axes, keepdim=keep) \
            if op == "reduce_sum" else x.amax(dim=axes, keepdim=keep)
        y = y.reshape((-1,) + tuple(out_shape[1:]))
    elif op in ("resize_nearest", "resize_bilinear"):
        size = tuple(out_shape[1:3])
        if op == "resize_bilinear":
            y = F.interpolate(_nchw(xs[0]), size=size, mode="bilinear", align_corners=a["align_corners"])
        else:
            y = F.interpolate(_nchw(xs[0]), size=size, mode="nearest-exact" if a["half_pixel_centers"] else "nearest")
        y = _nhwc(y)
    elif op == "transpose":
        y = xs[0].permute(*a["perm"])
    elif op == "strided_slice":
        y, in_shape = xs[0], node.inputs[0].shape
        for d in reversed(range(len(in_shape))):  # the last dims first: a shrunk dim moves none before it
            count = 1 if d in a["shrink"] else out_shape[d - sum(1 for s in a["shrink"] if s < d)]
            if d in a["shrink"] or (a["begin"][d], a["strides"][d], count) != (0, 1, in_shape[d]):
                # a dim taken whole is left alone: the batch, which a calibration batch makes N long
                y = y.index_select(d, a["begin"][d] + a["strides"][d] * torch.arange(count))
            if d in a["shrink"]:
                y = y.squeeze(d)
    elif op == "gather":
        params, axis = xs[0], a["axis"]
        ids = torch.as_tensor(a["indices"]) if a.get("indices") is not None else xs[1]
        ids = ids.to(torch.int64)
        y = params.index_select(axis, ids.reshape(-1))
        y = y.reshape(params.shape[:axis] + ids.shape + params.shape[axis + 1:])
    elif op == "reshape":
        y = xs[0].reshape((-1,) + tuple(out_shape[1:]))  # the batch folds into the rows of a 3-D Linear's view
    elif op in TABLE_OPS:  # the one float definition of each table activation
        x = xs[0]
        y = torch.from_numpy(lut_function(op, **a)(x.detach().double().numpy())).to(x.dtype)
    else:
        raise AssertionError(f"no simulation of {op}")
    return y


def _run(graph: Graph, inputs, fake_quant: bool) -> dict:
    env: dict[Value, torch.Tensor] = {}
    for v, x in zip(graph.inputs, inputs):
        if v.dtype == "int32":  # token ids: integers, never quantized
            env[v] = torch.as_tensor(x).to(torch.int64)
            continue
        x = torch.as_tensor(x, dtype=torch.float32)
        env[v] = _fq(x, v) if fake_quant else x
    for node in graph.nodes:
        y = run_op(node, [env[v] for v in node.inputs], fake_quant)
        env[node.output] = _fq(y, node.output) if fake_quant else y
    return env


def run_graph(graph: Graph, inputs, *, fake_quant: bool = False, record: bool = False):
    """Run on physical-layout float inputs (batch first). Returns the outputs, or (outputs, {Value: tensor}) when record.

    A graph whose values do not all lead with the batch (Graph.per_sample) runs sample by sample; each value's
    tensors are then concatenated along their first dimension (what an observer sees is the same elements)."""
    with torch.no_grad():
        n = len(inputs[0]) if inputs else 1
        if graph.per_sample and n > 1:
            runs = [_run(graph, [x[i:i + 1] for x in inputs], fake_quant) for i in range(n)]
            env = {v: torch.cat([r[v] for r in runs]) for v in runs[0]}
        else:
            env = _run(graph, inputs, fake_quant)
    outs = [env[v] for v in graph.outputs]
    return (outs, env) if record else outs
