"""Every IR op in one place: the runtime opcode it becomes, how it runs in PyTorch, and how it is written.

For each op of the IR (ir.py lists their attrs), IR_OPS holds an IROp:

  opcode     the runtime operator (runtime/ops.py's OP_DEFS name) it becomes; from it ir.py derives what the
             runtime's definition says about quantization (tied, fixed output) and fused activations
  simulate   (node, inputs, fake_quant) -> output (a tuple, one per node output, for an op with extra outputs):
             the op on physical (NHWC) float tensors, a whole batch at a
             time (simulate.run_graph: calibration, and the float side of every comparison). With fake_quant
             the weights are the int8 values times their scales and the biases the int32 values times
             s_in * s_w; run_graph rounds every output to its int8 grid.
  emit       (emitter, node): its operators and constants written through emit._Emitter (which owns the
             tensors, the weights' encodings and the elementwise ops' 4-D views); None for an op the passes
             always remove (batch_norm is folded or made a 1x1 depthwise conv).

What else an op is lives with its own phase: its PyTorch lowering (the aten targets) in lower.py's _HANDLERS,
its passes in passes.py, and everything the runtime needs in runtime/ops.py's OP_DEFS. Every requantization
parameter is computed here, once, from the scales the quantizer chose, with the kernels' compile-time helpers:

  conv, fc   M[c] = s_in * s_w[c] / s_out, per output channel
  mul        M = s_a * s_b / s_out
  mean       M = s_in / s_out (the kernel divides by H*W itself)
  lstm       every gate and hidden multiplier from kernels.lstm_8x8_16_params (TFLite's Prepare), the zero points
             folded into the biases there
  svdf       M_state = s_in * s_wf / s_state and M_out = s_state * s_wt / s_out from kernels.svdf_params (TFLite's
             Prepare, float32 products)
  act range  the fused clamp [lo, hi] in real units becomes
             [max(-128, zp + round(lo / s)), min(127, zp + round(hi / s))]

Weight layouts change from PyTorch's to the runtime's on emission: conv OIHW -> OHWI, depthwise
[C*m, 1, KH, KW] -> [1, KH, KW, C*m].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from microflat import kernels as K
from microflat.kernels.lut import LUT_FUNCTIONS, lut_function
from microflat.runtime.errors import CompileError

from .streaming import svdf_step_float

INF = float("inf")


@dataclass(frozen=True)
class IROp:
    opcode: str | None
    simulate: Callable
    emit: Callable | None


# --- shared pieces --------------------------------------------------------------------------------------------

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


def _weights(node, fake_quant: bool, s_in: float):
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
    if lo == -INF and hi == INF:
        return t
    return t.clamp(min=None if lo == -INF else lo, max=None if hi == INF else hi)


def act_range(node) -> dict:
    """The fused clamp in real units on the output's int8 (int16) grid: TFLite's quantize, saturating (+-inf ->
    the type's ends)."""
    v = node.output
    dtype = np.int16 if v.dtype == "int16" else np.int8
    lo, hi = (int(K.quantize(np.array(r, np.float64), v.scale, v.zero_point, dtype)) for r in node.act)
    return {"act_min": lo, "act_max": hi}


def is_depthwise(node) -> bool:
    w = node.attrs["weight"]
    cin = node.inputs[0].shape[3]
    return node.attrs["groups"] == cin and w.shape[1] == 1 and cin > 1


def _io(e, node):
    """The emitter's tensors of node's first input and its output."""
    return e.tensor(node.inputs[0]), e.tensor(node.output)


# --- weighted ops ---------------------------------------------------------------------------------------------

def simulate_conv(node, xs, fake_quant):
    a, x = node.attrs, xs[0]
    w, b = _weights(node, fake_quant, node.inputs[0].scale)
    padding = _pad_amounts(x.shape[1:3], node.output.shape[1:3], w.shape[2:], a["stride"], a["dilation"], a["pad"])
    y = F.conv2d(F.pad(_nchw(x), padding), w, b, a["stride"], 0, a["dilation"], a["groups"])
    return _clamp(_nhwc(y), node)


def emit_conv(e, node):
    a, q = node.attrs, node.attrs["quantized"]
    x, y = _io(e, node)
    common = dict(stride_h=a["stride"][0], stride_w=a["stride"][1], dilation_h=a["dilation"][0],
                  dilation_w=a["dilation"][1], pad_top=a["pad"][0], pad_left=a["pad"][1], **act_range(node))
    wq = q["weight_torch"]
    if is_depthwise(node):
        wt, b, mult, shift = e.weights(node, np.ascontiguousarray(wq.transpose(1, 2, 3, 0)), 3)
        opts = dict(common, depth_multiplier=wq.shape[0] // node.inputs[0].shape[3], output_mult=mult,
                    output_shift=shift)
        e.w.add_operator("DEPTHWISE_CONV_2D", [x, wt, b], [y], "DepthwiseConv2DOptions", opts)
    else:
        wt, b, mult, shift = e.weights(node, np.ascontiguousarray(wq.transpose(0, 2, 3, 1)), 0)
        opts = dict(common, groups=a["groups"], output_mult=mult, output_shift=shift)
        e.w.add_operator("CONV_2D", [x, wt, b], [y], "Conv2DOptions", opts)


def simulate_transpose_conv(node, xs, fake_quant):
    a, x, out_shape = node.attrs, xs[0], node.output.shape
    w, b = _weights(node, fake_quant, node.inputs[0].scale)  # [O, I, KH, KW]
    (sh, sw), (pt, pl) = a["stride"], a["pad"]
    full = [(i - 1) * s_ + k for i, s_, k in zip(x.shape[1:3], (sh, sw), w.shape[2:])]  # uncropped
    y = F.conv_transpose2d(_nchw(x), w.transpose(0, 1), b, (sh, sw))
    y = F.pad(y, (0, max(0, out_shape[2] + pl - full[1]), 0, max(0, out_shape[1] + pt - full[0])))
    return _clamp(_nhwc(y[:, :, pt:pt + out_shape[1], pl:pl + out_shape[2]]), node)


def emit_transpose_conv(e, node):
    a = node.attrs
    wt, b, mult, shift = e.weights(node, np.ascontiguousarray(a["quantized"]["weight_torch"].transpose(0, 2, 3, 1)),
                                   0, encodable=False)
    opts = dict(stride_h=a["stride"][0], stride_w=a["stride"][1], pad_top=a["pad"][0], pad_left=a["pad"][1],
                output_mult=mult, output_shift=shift, **act_range(node))
    e.w.add_operator("TRANSPOSE_CONV", [e.tensor(node.inputs[0]), wt, b], [e.tensor(node.output)],
                     "TransposeConvOptions", opts)


def simulate_fc(node, xs, fake_quant):
    w, b = _weights(node, fake_quant, node.inputs[0].scale)
    return _clamp(F.linear(xs[0], w, b), node)


def emit_fc(e, node):
    wt, b, mult, shift = e.weights(node, np.ascontiguousarray(node.attrs["quantized"]["weight_torch"]), 0)
    opts = dict(act_range(node), output_mult=mult, output_shift=shift)
    e.w.add_operator("FULLY_CONNECTED", [e.tensor(node.inputs[0]), wt, b], [e.tensor(node.output)],
                     "FullyConnectedOptions", opts)


def simulate_batch_matmul(node, xs, fake_quant):
    a = node.attrs
    lhs = xs[0].transpose(-1, -2) if a["adj_x"] else xs[0]
    rhs = xs[1].transpose(-1, -2) if a["adj_y"] else xs[1]
    return _clamp(torch.matmul(lhs, rhs) * a["scale"], node)


def emit_batch_matmul(e, node):
    (lhs, rhs), y, a = node.inputs, node.output, node.attrs
    mult, shift = K.quantize_multiplier(lhs.scale * rhs.scale * a["scale"] / y.scale)
    opts = dict(adj_x=a["adj_x"] or None, adj_y=a["adj_y"] or None, output_mult=mult, output_shift=shift,
                **act_range(node))
    e.w.add_operator("BATCH_MATMUL", [e.tensor(lhs), e.tensor(rhs)], [e.tensor(y)], "BatchMatMulOptions", opts)


def simulate_batch_norm(node, xs, fake_quant):
    a = node.attrs
    return xs[0] * torch.as_tensor(a["scale"], dtype=torch.float32) + torch.as_tensor(a["shift"], dtype=torch.float32)


def simulate_constant(node, xs, fake_quant):
    return torch.as_tensor(node.attrs["data"], dtype=torch.float32)


def emit_constant(e, node):
    """A constant operand: its data quantized at its own scale and zero point (calibration took its range)."""
    v = node.output
    q = K.quantize(np.asarray(node.attrs["data"], np.float64), v.scale, v.zero_point,
                   np.int16 if v.dtype == "int16" else np.int8)
    e.index[v] = e.w.add_constant(v.name, q, scale=v.scale, zero_point=v.zero_point)


# --- elementwise binary ops (broadcasting; the emitter views lower ranks as 4-D) ---------------------------------

def _scales(node):
    return [v.scale for v in node.inputs] + [node.output.scale]


def _left_shift(node) -> int:
    """ADD's and SUB's headroom shift: TFLite's 20 for int8, 15 for int16 (add.cc's general int16 form)."""
    return K.elementwise.ADD_LEFT_SHIFT_INT16 if node.output.dtype == "int16" else K.elementwise.ADD_LEFT_SHIFT


def emit_add(e, node):
    e.elementwise(node, "ADD", "AddOptions", dict(K.add_params(*_scales(node), left_shift=_left_shift(node))))


def emit_sub(e, node):
    e.elementwise(node, "SUB", "AddOptions", dict(K.sub_params(*_scales(node), left_shift=_left_shift(node))))


def emit_squared_difference(e, node):
    e.elementwise(node, "SQUARED_DIFFERENCE", "SquaredDifferenceOptions", K.squared_difference_params(*_scales(node)))


def emit_mul(e, node):
    """M = s_a s_b / s_out in float32, as TFLite's mul.cc computes it (kernels.mul_params)."""
    e.elementwise(node, "MUL", "MulOptions", K.mul_params(*_scales(node)))


def _emit_extremum(opcode):
    def emit(e, node):
        e.elementwise(node, opcode, None, None)
    return emit


# --- pooling, reductions, softmax -----------------------------------------------------------------------------

def simulate_pool(node, xs, fake_quant):
    a, x, out_shape = node.attrs, xs[0], node.output.shape
    padding = _pad_amounts(x.shape[1:3], out_shape[1:3], a["kernel"], a["stride"], (1, 1), a["pad"])
    if node.op == "max_pool":  # padding never wins the max
        y = F.max_pool2d(F.pad(_nchw(x), padding, value=float("-inf")), a["kernel"], a["stride"])
    else:  # TFLite averages the valid elements only
        total = F.avg_pool2d(F.pad(_nchw(x), padding), a["kernel"], a["stride"], divisor_override=1)
        ones = torch.ones((1, 1) + tuple(x.shape[1:3]), dtype=x.dtype)
        count = F.avg_pool2d(F.pad(ones, padding), a["kernel"], a["stride"], divisor_override=1)
        y = total / count
    return _clamp(_nhwc(y), node)


def _emit_pool(opcode):
    def emit(e, node):
        a = node.attrs
        opts = dict(filter_h=a["kernel"][0], filter_w=a["kernel"][1], stride_h=a["stride"][0],
                    stride_w=a["stride"][1], pad_top=a["pad"][0], pad_left=a["pad"][1], **act_range(node))
        e.w.add_operator(opcode, [e.tensor(node.inputs[0])], [e.tensor(node.output)], "Pool2DOptions", opts)
    return emit


def simulate_mean(node, xs, fake_quant):
    return xs[0].mean(dim=(1, 2), keepdim=len(node.output.shape) == 4)


def emit_mean(e, node):
    mult, shift = K.quantize_multiplier(node.inputs[0].scale / node.output.scale)
    e.w.add_operator("MEAN", [e.tensor(node.inputs[0])], [e.tensor(node.output)], "MeanOptions",
                     dict(mult=mult, shift=shift))


def simulate_reduce(node, xs, fake_quant):
    out_shape = node.output.shape
    keep = len(out_shape) == len(node.inputs[0].shape)
    x, axes = xs[0], tuple(node.attrs["axes"])
    if node.op == "reduce_mean":
        y = x.mean(dim=axes, keepdim=keep)
    elif node.op == "reduce_sum":
        y = x.sum(dim=axes, keepdim=keep)
    else:
        y = x.amax(dim=axes, keepdim=keep)
    return y.reshape((-1,) + tuple(out_shape[1:]))


def _emit_reduce(opcode, params=None):
    """REDUCE_MEAN, SUM (params: their requantization from the scales and zero points) or REDUCE_MAX."""
    def emit(e, node):
        x, y = node.inputs[0], node.output
        opts = dict(axes=np.array(node.attrs["axes"], np.int32))
        if params is not None:
            p = params(x, y, int(np.prod([x.shape[ax] for ax in node.attrs["axes"]])))
            opts.update(mult=p["mult"], shift=p["shift"])
        e.w.add_operator(opcode, [e.tensor(x)], [e.tensor(y)], "ReduceOptions", opts)
    return emit


def _int16_params(node, params):
    """params(s_in) of an int16 logistic, tanh or softmax (kernels' compile-time helpers), its refusal a
    CompileError naming the node."""
    try:
        return params(node.inputs[0].scale)
    except ValueError as exc:
        raise CompileError(f"the int16 {node.op} {node.output.name} at {node.source}: {exc}") from None


def _on_int16_grid(x, v, run):
    """run (int16 array -> int16 array, an int16 kernel) on the integers of x, a tensor on v's int16 grid (the
    fake-quantized simulation's input), its Q0.15 output back in real units: the file's arithmetic, exactly."""
    q = np.clip(np.round(x.detach().double().numpy() / v.scale), -(2**15), 2**15 - 1).astype(np.int16)
    return torch.from_numpy(run(q).astype(np.float64) / 32768.0).to(x.dtype)


def simulate_softmax(node, xs, fake_quant):
    """softmax over the last axis; with fake_quant, an int16 softmax is the kernel itself (TFLite's SoftmaxInt16:
    its tables' interpolation is not the float function rounded to the output grid)."""
    v = node.inputs[0]
    if fake_quant and v.dtype == "int16":
        m, s = _int16_params(node, K.softmax_s16_params)
        return _on_int16_grid(xs[0], v, lambda q: K.softmax_int16(q, input_multiplier=m, input_left_shift=s))
    return torch.softmax(xs[0], dim=-1)


def emit_softmax(e, node):
    """int8: TFLite's int8 scaling (beta 1); int16: its SoftmaxInt16 multiplier (diff_min unused, 0)."""
    x = node.inputs[0]
    if x.dtype == "int16":
        m, ls = _int16_params(node, K.softmax_s16_params)
        opts = dict(input_beta_mult=m, input_left_shift=ls)
    else:
        m, ls, dmin = K.preprocess_softmax_scaling(1.0, x.scale)
        opts = dict(input_beta_mult=m, input_left_shift=ls, diff_min=dmin)
    e.w.add_operator("SOFTMAX", [e.tensor(x)], [e.tensor(node.output)], "SoftmaxOptions", opts)


# --- data movement --------------------------------------------------------------------------------------------

def emit_concat(e, node):
    y = node.output
    opts = dict(axis=node.attrs["axis"], **K.concatenation_options([(v.scale, v.zero_point) for v in node.inputs],
                                                                    (y.scale, y.zero_point)))
    e.w.add_operator("CONCATENATION", [e.tensor(v) for v in node.inputs], [e.tensor(y)], "ConcatenationOptions", opts)


def simulate_pad(node, xs, fake_quant):
    pairs = []
    for d in reversed(range(4)):
        pairs += [node.attrs["before"][d], node.attrs["after"][d]]
    return F.pad(xs[0], pairs)


def emit_pad(e, node):
    opts = dict(pad_before=np.array(node.attrs["before"], np.int32), pad_after=np.array(node.attrs["after"], np.int32))
    e.w.add_operator("PAD", [e.tensor(node.inputs[0])], [e.tensor(node.output)], "PadOptions", opts)


def simulate_resize(node, xs, fake_quant):
    a, size = node.attrs, tuple(node.output.shape[1:3])
    if node.op == "resize_bilinear":
        y = F.interpolate(_nchw(xs[0]), size=size, mode="bilinear", align_corners=a["align_corners"])
    else:
        y = F.interpolate(_nchw(xs[0]), size=size, mode="nearest-exact" if a["half_pixel_centers"] else "nearest")
    return _nhwc(y)


def _emit_resize(opcode):
    def emit(e, node):
        a = node.attrs
        opts = dict(align_corners=a["align_corners"] or None, half_pixel_centers=a["half_pixel_centers"] or None)
        e.w.add_operator(opcode, [e.tensor(node.inputs[0])], [e.tensor(node.output)], "ResizeOptions", opts)
    return emit


def simulate_transpose(node, xs, fake_quant):
    return xs[0].permute(*node.attrs["perm"])


def emit_transpose(e, node):
    e.w.add_operator("TRANSPOSE", [e.tensor(node.inputs[0])], [e.tensor(node.output)], "TransposeOptions",
                     dict(perm=np.array(node.attrs["perm"], np.int32)))


def simulate_strided_slice(node, xs, fake_quant):
    a, out_shape = node.attrs, node.output.shape
    y, in_shape = xs[0], node.inputs[0].shape
    for d in reversed(range(len(in_shape))):  # the last dims first: a shrunk dim moves none before it
        count = 1 if d in a["shrink"] else out_shape[d - sum(1 for s in a["shrink"] if s < d)]
        if d in a["shrink"] or (a["begin"][d], a["strides"][d], count) != (0, 1, in_shape[d]):
            # a dim taken whole is left alone: the batch, which a calibration batch makes N long
            y = y.index_select(d, a["begin"][d] + a["strides"][d] * torch.arange(count))
        if d in a["shrink"]:
            y = y.squeeze(d)
    return y


def emit_strided_slice(e, node):
    a = node.attrs
    opts = dict(begin=np.array(a["begin"], np.int32), strides=np.array(a["strides"], np.int32),
                shrink_axis_mask=sum(1 << d for d in a["shrink"]) or None)
    e.w.add_operator("STRIDED_SLICE", [e.tensor(node.inputs[0])], [e.tensor(node.output)], "StridedSliceOptions",
                     opts)


def simulate_gather(node, xs, fake_quant):
    params, axis = xs[0], node.attrs["axis"]
    ids = torch.as_tensor(node.attrs["indices"]) if node.attrs.get("indices") is not None else xs[1]
    ids = ids.to(torch.int64)
    y = params.index_select(axis, ids.reshape(-1))
    return y.reshape(params.shape[:axis] + ids.shape + params.shape[axis + 1:])


def emit_gather(e, node):
    params = e.tensor(node.inputs[0])
    if node.attrs.get("indices") is not None:
        ids = e.w.add_constant(f"{node.output.name}.indices", np.asarray(node.attrs["indices"], np.int32))
    else:
        ids = e.tensor(node.inputs[1])
    e.w.add_operator("GATHER", [params, ids], [e.tensor(node.output)], "GatherOptions",
                     dict(axis=node.attrs["axis"] or None))


def simulate_reshape(node, xs, fake_quant):
    return xs[0].reshape((-1,) + tuple(node.output.shape[1:]))  # the batch folds into the rows of a 3-D Linear's view


def emit_reshape(e, node):
    e.w.add_operator("RESHAPE", [e.tensor(node.inputs[0])], [e.tensor(node.output)])


def emit_requantize(e, node):
    """A width change (widths.py): M = s_in / s_out, TFLite's QUANTIZE of an integer input (in double)."""
    x, y = node.inputs[0], node.output
    mult, shift = K.quantize_multiplier(x.scale / y.scale)
    e.w.add_operator("REQUANTIZE", [e.tensor(x)], [e.tensor(y)], "RequantizeOptions", dict(mult=mult, shift=shift))


# --- recurrent layers -------------------------------------------------------------------------------------------

def _lstm_weights(node, fake_quant: bool):
    """(w_ih [4C, I], w_hh [4C, C], bias [4C] | None) as float32: PyTorch's, or each gate's int8 values times its
    scale and the int32 bias times s_x s_w(input-to-G) (quantize.py's _quantize_lstm)."""
    a = node.attrs
    if not fake_quant:
        bias = None if a["bias"] is None else torch.as_tensor(a["bias"], dtype=torch.float32)
        return (torch.as_tensor(a["weight_ih"], dtype=torch.float32),
                torch.as_tensor(a["weight_hh"], dtype=torch.float32), bias)
    q, s_x = a["quantized"], node.inputs[0].scale
    w_ih = torch.as_tensor(q["weight_ih"], dtype=torch.float64) * torch.as_tensor(q["scale_ih"])[:, None, None]
    w_hh = torch.as_tensor(q["weight_hh"], dtype=torch.float64) * torch.as_tensor(q["scale_hh"])[:, None, None]
    bias = torch.as_tensor(q["bias"], dtype=torch.float64) * (s_x * torch.as_tensor(q["scale_ih"]))[:, None]
    return w_ih.reshape(-1, w_ih.shape[2]).float(), w_hh.reshape(-1, w_hh.shape[2]).float(), bias.reshape(-1).float()


def lstm_sequence(node, xs, fake_quant: bool = False):
    """(y, h_n, c_n, max |c| over every step) of an lstm node on physical float tensors, with PyTorch's own cell
    (torch.lstm_cell) step by step. x is [N, T, I] ([T, 1, I] time-major); the states [N, C], zeros where the node
    has none. With fake_quant the weights and bias are their quantized values and every step's h and c are
    rounded to their grids (y's int8 or int16, the cell's int16 2^p): the integer kernel's states, not its Q3.12
    gates and fixed-point or table activations, so the simulation is close to the file, not bit-exact."""
    a = node.attrs
    x = xs[0].transpose(0, 1) if a["time_major"] else xs[0]
    n, steps = x.shape[0], x.shape[1]
    cells = a["weight_hh"].shape[1]
    w_ih, w_hh, bias = _lstm_weights(node, fake_quant)
    if len(xs) == 3:
        h, c = xs[1].reshape(n, cells), xs[2].reshape(n, cells)
    else:
        h = c = torch.zeros(n, cells, dtype=x.dtype)
    y_q, c_q = node.output, node.extra_outputs[1]
    rows, cell_max = [], 0.0
    for t in range(steps):
        h, c = torch.lstm_cell(x[:, t], (h, c), w_ih, w_hh, bias, None)
        if fake_quant:
            grid = (-(2**15), 2**15 - 1) if y_q.dtype == "int16" else (-128, 127)
            h = torch.fake_quantize_per_tensor_affine(h, float(y_q.scale), int(y_q.zero_point), *grid)
            c = torch.fake_quantize_per_tensor_affine(c, float(c_q.scale), 0, -(2**15), 2**15 - 1)
        cell_max = max(cell_max, float(c.abs().max()) if c.numel() else 0.0)
        rows.append(h)
    y = torch.stack(rows, 1)
    return (y.transpose(0, 1) if a["time_major"] else y), h, c, cell_max


def simulate_lstm(node, xs, fake_quant):
    return lstm_sequence(node, xs, fake_quant)[:3]


def emit_lstm(e, node):
    """UNIDIRECTIONAL_SEQUENCE_LSTM: the parameters from the chosen scales (TFLite's Prepare); the initial states
    the node's inputs, or constants of the zero state (h at its zero point, c at 0) that every invoke starts from."""
    q, (x, y), (h_n, c_n) = node.attrs["quantized"], (node.inputs[0], node.output), node.extra_outputs
    wide = x.dtype == "int16"  # TFLite Micro's 16x8 form: int64 input-to-gate biases, no recurrent bias
    try:
        if wide:
            p = K.lstm_16x8_params(q["weight_ih"], q["weight_hh"], q["bias"], input_scale=x.scale,
                                   input_weight_scales=q["scale_ih"], recurrent_weight_scales=q["scale_hh"],
                                   state_scale=y.scale, cell_scale=c_n.scale)
        else:
            p = K.lstm_8x8_16_params(q["weight_ih"], q["weight_hh"], q["bias"], input_scale=x.scale,
                                     input_zp=x.zero_point, input_weight_scales=q["scale_ih"],
                                     recurrent_weight_scales=q["scale_hh"], state_scale=y.scale, state_zp=y.zero_point,
                                     cell_scale=c_n.scale)
    except ValueError as exc:
        raise CompileError(f"the LSTM {y.name} at {node.source}: {exc}") from None
    consts = [e.w.add_constant(f"{y.name}.{name}", data) for name, data in (
        ("input_weights", p.input_weights), ("recurrent_weights", p.recurrent_weights),
        *((("bias", p.bias),) if wide else (("input_bias", p.input_bias), ("recurrent_bias", p.recurrent_bias))))]
    if wide:
        consts.append(-1)
    if len(node.inputs) == 3:
        states = [e.tensor(node.inputs[1]), e.tensor(node.inputs[2])]
    else:
        cells = h_n.shape[-1]
        states = [e.w.add_constant(f"{y.name}.h0", np.full((1, cells), y.zero_point, np.int16 if wide else np.int8),
                                   scale=y.scale, zero_point=y.zero_point),
                  e.w.add_constant(f"{y.name}.c0", np.zeros((1, cells), np.int16), scale=c_n.scale, zero_point=0)]
    opts = dict(gate_mult=p.gate_mult, gate_shift=p.gate_shift, hidden_mult=p.hidden_mult, hidden_shift=p.hidden_shift,
                cell_exponent=p.cell_exponent, cell_clip=p.cell_clip)
    e.w.add_operator("UNIDIRECTIONAL_SEQUENCE_LSTM", [e.tensor(x), *consts, *states],
                     [e.tensor(y), e.tensor(h_n), e.tensor(c_n)], "LstmOptions", opts)


def _svdf_weights(node, fake_quant: bool):
    """(weight_feature, weight_time, bias | None) as float32: PyTorch's, or the int8 and int16 values times their
    scales and the int32 bias times s_state * s_wt (quantize.py's _quantize_svdf)."""
    a = node.attrs
    if not fake_quant:
        return tuple(None if a[k] is None else torch.as_tensor(a[k], dtype=torch.float32)
                     for k in ("weight_feature", "weight_time", "bias"))
    q, s_state = a["quantized"], node.extra_outputs[0].scale
    wf = torch.as_tensor(q["weight_feature"], dtype=torch.float64) * q["feature_scale"]
    wt = torch.as_tensor(q["weight_time"], dtype=torch.float64) * q["time_scale"]
    bias = None if q["bias"] is None else torch.as_tensor(q["bias"], dtype=torch.float64) * (s_state * q["time_scale"])
    return wf.float(), wt.float(), None if bias is None else bias.float()


def simulate_svdf(node, xs, fake_quant):
    """One SVDF frame (compiler/streaming.py's float step) from the given state or zeros; run_graph rounds the new
    state to its int16 grid, so with fake_quant each slot holds what the kernel's requantized feature sum does, to
    one step."""
    x = xs[0]
    filters, memory = node.attrs["weight_time"].shape
    state = xs[1] if len(xs) == 2 else torch.zeros(x.shape[0], filters * memory, dtype=x.dtype)
    wf, wt, bias = _svdf_weights(node, fake_quant)
    return svdf_step_float(x, wf, wt, bias, state, node.attrs["rank"])


def emit_svdf(e, node):
    """SVDF: the multipliers from the chosen scales (TFLite's Prepare); the weights, the bias and a zero initial
    state stored once per layer (a whole-window SVDF's frames share them); the state the node's input or that zero
    constant."""
    q, a = node.attrs["quantized"], node.attrs
    x, y, new_state = node.inputs[0], node.output, node.extra_outputs[0]
    try:
        p = K.svdf_params(x.scale, q["feature_scale"], new_state.scale, q["time_scale"], y.scale)
    except ValueError as exc:
        raise CompileError(f"the SVDF {y.name} at {node.source}: {exc}") from None

    def constant(name, data, **quant):
        key = ("svdf", a["layer"], name, data.tobytes())
        if key not in e.shared:
            e.shared[key] = e.w.add_constant(f"{a['layer']}.{name}", data, **quant)
        return e.shared[key]

    ins = [e.tensor(x), constant("weights_feature", q["weight_feature"]), constant("weights_time", q["weight_time"]),
           -1 if q["bias"] is None else constant("bias", q["bias"])]
    if len(node.inputs) == 2:
        ins.append(e.tensor(node.inputs[1]))
    else:
        ins.append(constant("state0", np.zeros(new_state.shape, np.int16), scale=new_state.scale, zero_point=0))
    e.w.add_operator("SVDF", ins, [e.tensor(y), e.tensor(new_state)], "SvdfOptions", dict(p, rank=a["rank"]))


# --- table activations (kernels/lut.py: the one float definition of each) -------------------------------------

_NAMED_CLAMPS = {(0.0, INF): "RELU", (0.0, 6.0): "RELU6", (-1.0, 1.0): "RELU_N1_TO_1"}
TABLE_OPCODES = {"logistic": "LOGISTIC", "tanh": "TANH", "hardswish": "HARDSWISH", "gelu": "GELU", "gelu_tanh": "GELU",
                 "silu": "SILU", "hardsigmoid": "HARD_SIGMOID", "leaky_relu": "LEAKY_RELU", "elu": "ELU",
                 "mish": "MISH", "clamp": "CLAMP", "rsqrt": "RSQRT"}
assert set(TABLE_OPCODES) == set(LUT_FUNCTIONS), "every table function of kernels/lut.py has its opcode here"


# The table activations with TFLite's int16 form (widths.INT16_OPS): (compile-time params, kernel wrapper).
INT16_TABLES = {"logistic": (K.logistic_s16_params, K.logistic_int16), "tanh": (K.tanh_s16_params, K.tanh_int16)}


def simulate_table(node, xs, fake_quant):
    """f in float64; with fake_quant, an int16 logistic or tanh is the kernel itself (its table of sigmoid(i / 24)
    interpolated, within a few output steps of f: not f rounded to the output grid)."""
    x, v = xs[0], node.inputs[0]
    if fake_quant and v.dtype == "int16" and node.op in INT16_TABLES:
        params, kernel = INT16_TABLES[node.op]
        m, k = _int16_params(node, params)
        return _on_int16_grid(x, v, lambda q: kernel(q, input_multiplier=m, input_left_shift=k))
    return torch.from_numpy(lut_function(node.op, **node.attrs)(x.detach().double().numpy())).to(x.dtype)


def emit_table(e, node):
    x, y = node.inputs[0], node.output
    if x.dtype == "int16":  # TFLite's int16 LOGISTIC / TANH: no table, the input scaling in LogisticOptions
        m, k = _int16_params(node, INT16_TABLES[node.op][0])
        e.w.add_operator(TABLE_OPCODES[node.op], [e.tensor(x)], [e.tensor(y)], "LogisticOptions",
                         dict(input_multiplier=m, input_left_shift=k))
        return
    table = K.build_lut_s8(node.op, x.scale, x.zero_point, y.scale, y.zero_point, **node.attrs)
    t = e.w.add_constant(f"{y.name}.table", table)
    opcode = TABLE_OPCODES[node.op]
    if node.op == "clamp":  # the named ReLUs where the range is theirs
        opcode = _NAMED_CLAMPS.get((node.attrs["lo"], node.attrs["hi"]), opcode)
    e.w.add_operator(opcode, [e.tensor(x), t], [e.tensor(y)])


IR_OPS: dict[str, IROp] = {
    "conv": IROp("CONV_2D", simulate_conv, emit_conv),  # also DEPTHWISE_CONV_2D, which shares CONV_2D's facts
    "transpose_conv": IROp("TRANSPOSE_CONV", simulate_transpose_conv, emit_transpose_conv),
    "fc": IROp("FULLY_CONNECTED", simulate_fc, emit_fc),
    "batch_matmul": IROp("BATCH_MATMUL", simulate_batch_matmul, emit_batch_matmul),
    "batch_norm": IROp(None, simulate_batch_norm, None),
    "constant": IROp(None, simulate_constant, emit_constant),
    "add": IROp("ADD", lambda n, xs, fq: _clamp(xs[0] + xs[1], n), emit_add),
    "sub": IROp("SUB", lambda n, xs, fq: _clamp(xs[0] - xs[1], n), emit_sub),
    "mul": IROp("MUL", lambda n, xs, fq: _clamp(xs[0] * xs[1], n), emit_mul),
    "maximum": IROp("MAXIMUM", lambda n, xs, fq: torch.maximum(xs[0], xs[1]), _emit_extremum("MAXIMUM")),
    "minimum": IROp("MINIMUM", lambda n, xs, fq: torch.minimum(xs[0], xs[1]), _emit_extremum("MINIMUM")),
    "squared_difference": IROp("SQUARED_DIFFERENCE", lambda n, xs, fq: (xs[0] - xs[1]) ** 2, emit_squared_difference),
    "avg_pool": IROp("AVERAGE_POOL_2D", simulate_pool, _emit_pool("AVERAGE_POOL_2D")),
    "max_pool": IROp("MAX_POOL_2D", simulate_pool, _emit_pool("MAX_POOL_2D")),
    "mean": IROp("MEAN", simulate_mean, emit_mean),
    "reduce_mean": IROp("REDUCE_MEAN", simulate_reduce,
                        _emit_reduce("REDUCE_MEAN", lambda x, y, n: K.reduce_mean_params(x.scale, x.zero_point, y.scale,
                                                                                          y.zero_point, n))),
    "reduce_sum": IROp("SUM", simulate_reduce,
                       _emit_reduce("SUM", lambda x, y, n: K.reduce_sum_params(x.scale, x.zero_point, y.scale,
                                                                               y.zero_point))),
    "reduce_max": IROp("REDUCE_MAX", simulate_reduce, _emit_reduce("REDUCE_MAX")),
    "softmax": IROp("SOFTMAX", simulate_softmax, emit_softmax),
    "concat": IROp("CONCATENATION", lambda n, xs, fq: torch.cat(xs, dim=n.attrs["axis"]), emit_concat),
    "pad": IROp("PAD", simulate_pad, emit_pad),
    "resize_nearest": IROp("RESIZE_NEAREST_NEIGHBOR", simulate_resize, _emit_resize("RESIZE_NEAREST_NEIGHBOR")),
    "resize_bilinear": IROp("RESIZE_BILINEAR", simulate_resize, _emit_resize("RESIZE_BILINEAR")),
    "transpose": IROp("TRANSPOSE", simulate_transpose, emit_transpose),
    "strided_slice": IROp("STRIDED_SLICE", simulate_strided_slice, emit_strided_slice),
    "gather": IROp("GATHER", simulate_gather, emit_gather),
    "reshape": IROp("RESHAPE", simulate_reshape, emit_reshape),
    "requantize": IROp("REQUANTIZE", lambda n, xs, fq: xs[0], emit_requantize),
    "lstm": IROp("UNIDIRECTIONAL_SEQUENCE_LSTM", simulate_lstm, emit_lstm),
    "svdf": IROp("SVDF", simulate_svdf, emit_svdf),
    **{op: IROp(opcode, simulate_table, emit_table) for op, opcode in TABLE_OPCODES.items()},
}
