"""Emit a quantized IR graph as a .mfb through the writer API.

Every requantization parameter is computed here, once, from the scales the
quantizer chose (kernels' compile-time helpers: quantize_multipliers,
add_params, preprocess_softmax_scaling, concatenation_params, build_lut_s8):

  conv, fc   M[c] = s_in * s_w[c] / s_out, per output channel
  mul        M = s_a * s_b / s_out
  mean       M = s_in / s_out (the kernel divides by H*W itself)
  act range  the fused clamp [lo, hi] in real units becomes
             [max(-128, zp + round(lo / s)), min(127, zp + round(hi / s))]

Weight layouts change from PyTorch's to the runtime's here: conv OIHW -> OHWI,
depthwise [C*m, 1, KH, KW] -> [1, KH, KW, C*m].
"""

from __future__ import annotations

import math

import numpy as np

from microflat import kernels as K
from microflat.runtime.ops import OP_DEFS

from . import encodings
from .ir import OPCODE_OF, TABLE_OPS, Graph, Node, Value
from .writer import ModelWriter

_NAMED_CLAMPS = {(0.0, math.inf): "RELU", (0.0, 6.0): "RELU6", (-1.0, 1.0): "RELU_N1_TO_1"}


def act_range(node: Node) -> dict:
    """The fused clamp in real units on the output's int8 grid: TFLite's quantize, saturating (+-inf -> 127/-128)."""
    v = node.output
    lo, hi = (int(K.quantize(np.array(r, np.float64), v.scale, v.zero_point)) for r in node.act)
    return {"act_min": lo, "act_max": hi}


def is_depthwise(node: Node) -> bool:
    w = node.attrs["weight"]
    cin = node.inputs[0].shape[3]
    return node.attrs["groups"] == cin and w.shape[1] == 1 and cin > 1


class _Emitter:
    def __init__(self, graph: Graph, io_dtype: str, weight_encoding="auto"):
        self.g, self.w, self.io = graph, ModelWriter(), io_dtype
        self.index: dict[Value, int] = {}
        self.weight_encoding = weight_encoding

    def tensor(self, v: Value) -> int:
        if v not in self.index:
            quant = dict(scale=v.scale, zero_point=v.zero_point) if v.dtype == "int8" else {}
            self.index[v] = self.w.add_tensor(v.name, v.dtype, v.shape, **quant)
        return self.index[v]

    def as_4d(self, v: Value, suffix: str, into: bool) -> int:
        """A rank < 4 int8 tensor seen as [1, ..., shape] for the 4-D elementwise ops: a free, in-place RESHAPE."""
        t = self.tensor(v)
        if len(v.shape) == 4:
            return t
        shape = (1,) * (4 - len(v.shape)) + tuple(v.shape)
        r = self.w.add_tensor(f"{v.name}:{suffix}", "int8", shape, scale=v.scale, zero_point=v.zero_point)
        if into:
            self.w.add_operator("RESHAPE", [t], [r])
        return r

    def run(self) -> ModelWriter:
        g, w = self.g, self.w
        ins = [self.boundary(v, "QUANTIZE") for v in g.inputs]
        for node in g.nodes:
            getattr(self, "table" if node.op in TABLE_OPS else node.op)(node)
        w.set_io(ins, [self.boundary(v, "DEQUANTIZE") for v in g.outputs])
        return w

    def boundary(self, v: Value, opcode: str) -> int:
        """The model's input or output tensor: the int8 one, or a float32 twin QUANTIZE/DEQUANTIZE converts."""
        t = self.tensor(v)
        if self.io != "float32" or v.dtype != "int8":  # integer ids stay integers
            return t
        f = self.w.add_tensor(f"{v.name}:float", "float32", v.shape)
        src, dst = (f, t) if opcode == "QUANTIZE" else (t, f)
        self.w.add_operator(opcode, [src], [dst])
        return f

    # --- ops -------------------------------------------------------------------

    def _weights(self, node: Node, data: np.ndarray, axis: int, encodable: bool = True):
        """(weight, bias, mult, shift) tensors and multipliers; encodable: the op's kernels read a WeightEncoding
        (TRANSPOSE_CONV's do not: its weights are stored dense whatever the mode)."""
        q = node.attrs["quantized"]
        name = f"{node.output.name}.weight"
        mode = self.weight_encoding
        if isinstance(mode, dict):
            mode = mode.get(name, mode.get(node.output.name, "auto"))
        mode = mode if encodable else "dense"
        choice = encodings.choose(data, axis, mode, f" ({name}, at {node.source})")
        enc = encodings.encode(data, axis, choice)
        scale = q["weight_scale"]
        if enc is None:
            wt = self.w.add_constant(name, data, scale=scale, zero_point=0, axis=axis)
        else:
            wt = self.w.add_encoded(name, enc, scale=scale, zero_point=0, axis=axis)
        b = self.w.add_constant(f"{node.output.name}.bias", q["bias"])
        real = node.inputs[0].scale * q["weight_scale"] / node.output.scale
        if np.all(real == real[0]):  # one weight scale (a palettized layer): one multiplier, not one per channel
            real = real[:1]
        mult, shift = K.quantize_multipliers(real)
        return wt, b, mult, shift

    def conv(self, node: Node):
        a, q = node.attrs, node.attrs["quantized"]
        x, y = self.tensor(node.inputs[0]), self.tensor(node.output)
        common = dict(stride_h=a["stride"][0], stride_w=a["stride"][1], dilation_h=a["dilation"][0],
                      dilation_w=a["dilation"][1], pad_top=a["pad"][0], pad_left=a["pad"][1], **act_range(node))
        wq = q["weight_torch"]
        if is_depthwise(node):
            wt, b, mult, shift = self._weights(node, np.ascontiguousarray(wq.transpose(1, 2, 3, 0)), 3)
            opts = dict(common, depth_multiplier=wq.shape[0] // node.inputs[0].shape[3], output_mult=mult,
                        output_shift=shift)
            self.w.add_operator("DEPTHWISE_CONV_2D", [x, wt, b], [y], "DepthwiseConv2DOptions", opts)
        else:
            wt, b, mult, shift = self._weights(node, np.ascontiguousarray(wq.transpose(0, 2, 3, 1)), 0)
            opts = dict(common, groups=a["groups"], output_mult=mult, output_shift=shift)
            self.w.add_operator("CONV_2D", [x, wt, b], [y], "Conv2DOptions", opts)

    def transpose_conv(self, node: Node):
        a = node.attrs
        wt, b, mult, shift = self._weights(node, np.ascontiguousarray(a["quantized"]["weight_torch"].transpose(0, 2, 3, 1)),
                                           0, encodable=False)
        opts = dict(stride_h=a["stride"][0], stride_w=a["stride"][1], pad_top=a["pad"][0], pad_left=a["pad"][1],
                    output_mult=mult, output_shift=shift, **act_range(node))
        self.w.add_operator("TRANSPOSE_CONV", [self.tensor(node.inputs[0]), wt, b], [self.tensor(node.output)],
                            "TransposeConvOptions", opts)

    def batch_matmul(self, node: Node):
        (lhs, rhs), y, a = node.inputs, node.output, node.attrs
        mult, shift = K.quantize_multiplier(lhs.scale * rhs.scale * a["scale"] / y.scale)
        opts = dict(adj_x=a["adj_x"] or None, adj_y=a["adj_y"] or None, output_mult=mult, output_shift=shift,
                    **act_range(node))
        self.w.add_operator("BATCH_MATMUL", [self.tensor(lhs), self.tensor(rhs)], [self.tensor(y)],
                            "BatchMatMulOptions", opts)

    def fc(self, node: Node):
        wt, b, mult, shift = self._weights(node, np.ascontiguousarray(node.attrs["quantized"]["weight_torch"]), 0)
        opts = dict(act_range(node), output_mult=mult, output_shift=shift)
        self.w.add_operator("FULLY_CONNECTED", [self.tensor(node.inputs[0]), wt, b], [self.tensor(node.output)],
                            "FullyConnectedOptions", opts)

    def constant(self, node: Node):
        """A constant operand: its data quantized at its own scale and zero point (calibration took its range)."""
        v = node.output
        q = K.quantize(np.asarray(node.attrs["data"], np.float64), v.scale, v.zero_point)
        self.index[v] = self.w.add_constant(v.name, q, scale=v.scale, zero_point=v.zero_point)

    def _elementwise(self, node: Node, opcode: str, table: str | None, opts: dict):
        a, b = (self.as_4d(v, "4d", True) for v in node.inputs)
        y4 = self.as_4d(node.output, "4d", False)
        if table is not None and OP_DEFS[opcode].fuses_activation:
            opts = dict(opts, **act_range(node))
        self.w.add_operator(opcode, [a, b], [y4], table, opts)
        if y4 != self.tensor(node.output):
            self.w.add_operator("RESHAPE", [y4], [self.tensor(node.output)])

    def add(self, node: Node):
        s1, s2 = (v.scale for v in node.inputs)
        self._elementwise(node, "ADD", "AddOptions", dict(K.add_params(s1, s2, node.output.scale)))

    def sub(self, node: Node):
        s1, s2 = (v.scale for v in node.inputs)
        self._elementwise(node, "SUB", "AddOptions", dict(K.sub_params(s1, s2, node.output.scale)))

    def squared_difference(self, node: Node):
        s1, s2 = (v.scale for v in node.inputs)
        self._elementwise(node, "SQUARED_DIFFERENCE", "SquaredDifferenceOptions",
                          K.squared_difference_params(s1, s2, node.output.scale))

    def maximum(self, node: Node):
        self._elementwise(node, "MAXIMUM", None, None)

    def minimum(self, node: Node):
        self._elementwise(node, "MINIMUM", None, None)

    def mul(self, node: Node):
        s1, s2 = (v.scale for v in node.inputs)
        mult, shift = K.quantize_multiplier(s1 * s2 / node.output.scale)
        self._elementwise(node, "MUL", "MulOptions", dict(output_mult=mult, output_shift=shift))

    def _pool(self, node: Node, opcode: str):
        a = node.attrs
        opts = dict(filter_h=a["kernel"][0], filter_w=a["kernel"][1], stride_h=a["stride"][0], stride_w=a["stride"][1],
                    pad_top=a["pad"][0], pad_left=a["pad"][1], **act_range(node))
        self.w.add_operator(opcode, [self.tensor(node.inputs[0])], [self.tensor(node.output)], "Pool2DOptions", opts)

    def avg_pool(self, node: Node):
        self._pool(node, "AVERAGE_POOL_2D")

    def max_pool(self, node: Node):
        self._pool(node, "MAX_POOL_2D")

    def mean(self, node: Node):
        mult, shift = K.quantize_multiplier(node.inputs[0].scale / node.output.scale)
        self.w.add_operator("MEAN", [self.tensor(node.inputs[0])], [self.tensor(node.output)], "MeanOptions",
                            dict(mult=mult, shift=shift))

    def softmax(self, node: Node):
        m, ls, dmin = K.preprocess_softmax_scaling(1.0, node.inputs[0].scale)
        self.w.add_operator("SOFTMAX", [self.tensor(node.inputs[0])], [self.tensor(node.output)], "SoftmaxOptions",
                            dict(input_beta_mult=m, input_left_shift=ls, diff_min=dmin))

    def concat(self, node: Node):
        y = node.output
        params = [K.concatenation_params(v.scale, v.zero_point, y.scale, y.zero_point) for v in node.inputs]
        opts = dict(axis=node.attrs["axis"], requant=np.array([p[0] for p in params], np.uint8),
                    input_mult=np.array([p[1] for p in params], np.int32),
                    input_shift=np.array([p[2] for p in params], np.int8))
        self.w.add_operator("CONCATENATION", [self.tensor(v) for v in node.inputs], [self.tensor(y)],
                            "ConcatenationOptions", opts)

    def pad(self, node: Node):
        opts = dict(pad_before=np.array(node.attrs["before"], np.int32), pad_after=np.array(node.attrs["after"], np.int32))
        self.w.add_operator("PAD", [self.tensor(node.inputs[0])], [self.tensor(node.output)], "PadOptions", opts)

    def _reduce(self, node: Node, opcode: str, params=None):
        x, y = node.inputs[0], node.output
        opts = dict(axes=np.array(node.attrs["axes"], np.int32))
        if params is not None:
            opts.update(mult=params["mult"], shift=params["shift"])
        self.w.add_operator(opcode, [self.tensor(x)], [self.tensor(y)], "ReduceOptions", opts)

    def reduce_mean(self, node: Node):
        x, y = node.inputs[0], node.output
        n = int(np.prod([x.shape[a] for a in node.attrs["axes"]]))
        self._reduce(node, "REDUCE_MEAN", K.reduce_mean_params(x.scale, x.zero_point, y.scale, y.zero_point, n))

    def reduce_sum(self, node: Node):
        x, y = node.inputs[0], node.output
        self._reduce(node, "SUM", K.reduce_sum_params(x.scale, x.zero_point, y.scale, y.zero_point))

    def reduce_max(self, node: Node):
        self._reduce(node, "REDUCE_MAX")

    def _resize(self, node: Node, opcode: str):
        a = node.attrs
        opts = dict(align_corners=a["align_corners"] or None, half_pixel_centers=a["half_pixel_centers"] or None)
        self.w.add_operator(opcode, [self.tensor(node.inputs[0])], [self.tensor(node.output)], "ResizeOptions", opts)

    def resize_nearest(self, node: Node):
        self._resize(node, "RESIZE_NEAREST_NEIGHBOR")

    def resize_bilinear(self, node: Node):
        self._resize(node, "RESIZE_BILINEAR")

    def transpose(self, node: Node):
        self.w.add_operator("TRANSPOSE", [self.tensor(node.inputs[0])], [self.tensor(node.output)], "TransposeOptions",
                            dict(perm=np.array(node.attrs["perm"], np.int32)))

    def strided_slice(self, node: Node):
        a = node.attrs
        opts = dict(begin=np.array(a["begin"], np.int32), strides=np.array(a["strides"], np.int32),
                    shrink_axis_mask=sum(1 << d for d in a["shrink"]) or None)
        self.w.add_operator("STRIDED_SLICE", [self.tensor(node.inputs[0])], [self.tensor(node.output)],
                            "StridedSliceOptions", opts)

    def gather(self, node: Node):
        params = self.tensor(node.inputs[0])
        if node.attrs.get("indices") is not None:
            ids = self.w.add_constant(f"{node.output.name}.indices", np.asarray(node.attrs["indices"], np.int32))
        else:
            ids = self.tensor(node.inputs[1])
        self.w.add_operator("GATHER", [params, ids], [self.tensor(node.output)], "GatherOptions",
                            dict(axis=node.attrs["axis"] or None))

    def reshape(self, node: Node):
        self.w.add_operator("RESHAPE", [self.tensor(node.inputs[0])], [self.tensor(node.output)])

    def table(self, node: Node):
        x, y = node.inputs[0], node.output
        table = K.build_lut_s8(node.op, x.scale, x.zero_point, y.scale, y.zero_point, **node.attrs)
        t = self.w.add_constant(f"{y.name}.table", table)
        opcode = OPCODE_OF[node.op]
        if node.op == "clamp":  # the named ReLUs where the range is theirs
            opcode = _NAMED_CLAMPS.get((node.attrs["lo"], node.attrs["hi"]), opcode)
        self.w.add_operator(opcode, [self.tensor(x), t], [self.tensor(y)])


def emit(graph: Graph, io_dtype: str = "int8", weight_encoding="auto") -> ModelWriter:
    """A ModelWriter holding the quantized graph; io_dtype "float32" adds QUANTIZE/DEQUANTIZE at the boundary.

    weight_encoding: one of encodings.MODES for every layer, or {weight tensor or layer name: mode}
    ("auto" for the layers it does not name)."""
    return _Emitter(graph, io_dtype, weight_encoding).run()
