"""Emit a quantized IR graph as a .mfb through the writer API.

The emitter owns what every op's emission shares: one writer tensor per IR value (int8 or int16 with its scale and
zero point, or int32 ids), the model's boundary (QUANTIZE / DEQUANTIZE for float32 I/O), a weighted op's weight,
bias and multipliers with the weight's encoding, and the 4-D views of the elementwise ops. What each op writes
is its IROp's emit (ir_ops.py), where its requantization parameters are computed.
"""

from __future__ import annotations

import numpy as np

from microflat import kernels as K
from microflat.kernels.numerics import S16_SHIFT_MAX
from microflat.runtime.errors import CompileError
from microflat.runtime.ops import OP_DEFS

from . import encodings
from .ir import Graph, Node, Value
from .ir_ops import IR_OPS, act_range
from .quantize import QUANTIZED
from .writer import ModelWriter


class _Emitter:
    def __init__(self, graph: Graph, io_dtype: str, weight_encoding="auto"):
        self.g, self.w, self.io = graph, ModelWriter(), io_dtype
        self.index: dict[Value, int] = {}
        self.weight_encoding = weight_encoding
        self.shared: dict = {}  # (shared_weight key, data, encoding) -> the constant (weights)

    def tensor(self, v: Value) -> int:
        if v not in self.index:
            quant = dict(scale=v.scale, zero_point=v.zero_point) if v.dtype in QUANTIZED else {}
            self.index[v] = self.w.add_tensor(v.name, v.dtype, v.shape, **quant)
        return self.index[v]

    def as_4d(self, v: Value, suffix: str, into: bool) -> int:
        """A rank < 4 int8 tensor seen as [1, ..., shape] for the 4-D elementwise ops: a free, in-place RESHAPE."""
        t = self.tensor(v)
        if len(v.shape) == 4:
            return t
        shape = (1,) * (4 - len(v.shape)) + tuple(v.shape)
        r = self.w.add_tensor(f"{v.name}:{suffix}", v.dtype, shape, scale=v.scale, zero_point=v.zero_point)
        if into:
            self.w.add_operator("RESHAPE", [t], [r])
        return r

    def run(self) -> ModelWriter:
        g, w = self.g, self.w
        ins = [self.boundary(v, "QUANTIZE") for v in g.inputs]
        for v in g.variables:  # streaming state (docs/FORMAT.md, "Variables"), reset to real 0 by the runtime
            w.tensors[self.tensor(v)]["variable"] = True
        for node in g.nodes:
            IR_OPS[node.op].emit(self, node)
        for var, value in g.assignments:  # after every node, so after each variable's last reader
            w.add_operator("ASSIGN_VARIABLE", [self.tensor(value)], [self.tensor(var)])
        w.set_io(ins, [self.boundary(v, "DEQUANTIZE") for v in g.outputs])
        return w

    def boundary(self, v: Value, opcode: str) -> int:
        """The model's input or output tensor: the int8 one, or a float32 twin QUANTIZE/DEQUANTIZE converts."""
        t = self.tensor(v)
        if self.io != "float32" or v.dtype not in QUANTIZED:  # integer ids stay integers
            return t
        f = self.w.add_tensor(f"{v.name}:float", "float32", v.shape)
        src, dst = (f, t) if opcode == "QUANTIZE" else (t, f)
        self.w.add_operator(opcode, [src], [dst])
        return f

    # --- what the ops' emissions share (ir_ops.py calls them) ---------------------

    def weights(self, node: Node, data: np.ndarray, axis: int, encodable: bool = True):
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
        # The weight's scales are stored once, in the op's output multipliers (real = s_in * s_w / s_out), as the
        # bias's are (s_in * s_w): a symmetric weight needs no quantization of its own in the file, and a
        # runtime treats a weight without one as zero point 0.
        shared = node.attrs.get("shared_weight")  # one weight read by many ops (a GRU's steps): stored once
        key = None if shared is None else (shared, data.tobytes(), repr(choice))
        if key is not None and key in self.shared:
            wt = self.shared[key]
        else:
            wt = (self.w.add_constant(shared or name, data) if enc is None else self.w.add_encoded(shared or name, enc))
            if key is not None:
                self.shared[key] = wt
        b = self.w.add_constant(f"{node.output.name}.bias", q["bias"])
        real = node.inputs[0].scale * q["weight_scale"] / node.output.scale
        if np.all(real == real[0]):  # one weight scale (a palettized layer): one multiplier, not one per channel
            real = real[:1]
        mult, shift = K.quantize_multipliers(real)
        if node.inputs[0].dtype == "int16" and shift.max() > S16_SHIFT_MAX:
            raise CompileError(f"{node.output.name} at {node.source}: its 16x8 rescaling needs a multiplier of "
                               f"{float(real.max()):.4g}, above 2^{S16_SHIFT_MAX} (the int64 rescaling's limit)")
        return wt, b, mult, shift

    def elementwise(self, node: Node, opcode: str, table: str | None, opts: dict):
        a, b = (self.as_4d(v, "4d", True) for v in node.inputs)
        y4 = self.as_4d(node.output, "4d", False)
        if table is not None and OP_DEFS[opcode].fuses_activation:
            opts = dict(opts, **act_range(node))
        self.w.add_operator(opcode, [a, b], [y4], table, opts)
        if y4 != self.tensor(node.output):
            self.w.add_operator("RESHAPE", [y4], [self.tensor(node.output)])


def emit(graph: Graph, io_dtype: str = "int8", weight_encoding="auto") -> ModelWriter:
    """A ModelWriter holding the quantized graph; io_dtype "float32" adds QUANTIZE/DEQUANTIZE at the boundary.

    weight_encoding: one of encodings.MODES for every layer, or {weight tensor or layer name: mode}
    ("auto" for the layers it does not name)."""
    return _Emitter(graph, io_dtype, weight_encoding).run()
