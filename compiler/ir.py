"""The compiler's intermediate representation: a list of int8-able ops on physical tensors.

The IR sits between the captured PyTorch graph and the .mfb writer:

    torch.export graph --lower--> Graph (float weights, physical NHWC shapes)
        --passes--> (batch norm folded, pads and clamps fused)
        --calibrate + quantize--> (every Value has a scale and zero point)
        --emit--> ModelWriter

A Value is an activation tensor in the layout the runtime will hold it:
4-D tensors are NHWC (PyTorch's NCHW is a logical view the lowering tracks),
anything else as PyTorch shapes it. A Node is one op with its float weights
in ``attrs`` (PyTorch's own weight layouts; emit converts them).

Ops and their attrs:
  conv        weight [O, I/groups, KH, KW], bias [O] | None, stride, dilation, pad (top, left), groups
  fc          weight [OUT, IN], bias [OUT] | None   (input [rows, IN]: a 3-D Linear's tokens are rows)
  transpose_conv  weight [O, I, KH, KW] (PyTorch's [I, O, KH, KW] swapped), bias, stride, pad (top, left)
  batch_matmul    adj_x, adj_y (an operand stored with its last two dims swapped), scale (folded into the output)
  batch_norm  scale [C], shift [C]   (y = x * scale + shift; folded or made a 1x1 depthwise conv)
  clamp       lo, hi                 (fused into its producer's act range; else a table)
  add, sub, mul, maximum, minimum, squared_difference  -   (two operands of one layout, broadcasting)
  constant    data                   (a float constant operand in its consumer's physical layout; no inputs)
  avg_pool,
  max_pool    kernel, stride, pad (top, left)
  mean        -                      (over H and W of an NHWC tensor)
  softmax     -                      (over the last axis)
  concat      axis                   (physical)
  pad         before[4], after[4]    (physical NHWC, zeros)
  reshape     -
  reduce_mean, reduce_sum, reduce_max  axes   (physical axes; the output keeps them as 1s or drops them)
  resize_nearest, resize_bilinear  align_corners, half_pixel_centers   (TFLite's options; the output's H, W)
  rsqrt       eps                    (a table: 1 / sqrt(x + eps), LayerNorm's)
  transpose   perm                   (physical dimensions: output dim j is input dim perm[j])
  strided_slice  begin, strides, shrink  (per physical dim: first element, step; shrink: the dims taken once and
                                     dropped; each kept dim's count is the output's)
  gather      axis, indices | None   (params = inputs[0], physical axis; indices: a constant int32 array, else
                                     inputs[1], an int32 activation: nn.Embedding's token ids)
  logistic, tanh, hardswish, gelu, gelu_tanh, silu, hardsigmoid, mish  -     (table activations)
  leaky_relu, elu  alpha
  lstm        weight_ih [4C, I], weight_hh [4C, C], bias [4C] | None (b_ih + b_hh), time_major
              (nn.LSTM's one layer, gates i, f, c, o: UNIDIRECTIONAL_SEQUENCE_LSTM, 8x8_16, batch 1). inputs: x
              ([N, T, I], or [T, 1, I] when time_major), then h0 [N, C] and c0 [N, C] or neither (the zero state,
              constants in the file). output: y ([N, T, C] / [T, 1, C]); extra_outputs: h_n [N, C] (y's last
              row, y's quantization) and c_n [N, C], int16, zero point 0, scale 2^p (quantize.py's cell rule);
              c0 is int16 at c_n's quantization and h0 at y's (quantize.py ties them)
  svdf        weight_feature [F, I], weight_time [F, M], bias [F / rank] | None, rank, layer (TFLite's SVDF, one
              frame: compiler/streaming.py; F = units * rank filters). inputs: x [B, I], then the state
              [B, F * M] or none (the zero state, a constant in the file). output: y [B, units]; extra_outputs:
              the new state [B, F * M], int16, zero point 0. `layer` names the PyTorch call: a whole-window SVDF is
              one svdf node per frame, all with one layer, whose outputs and states quantize.py ties

Streaming state (docs/FORMAT.md, "Variables"): Graph.variables are activations that keep their value across
invokes (a registered buffer the model updates in place: a ring buffer, an LSTM's (h, c)); they start at real 0
(the runtime's reset), are read like model inputs, and Graph.assignments [(variable, new value)] are written after
every node (ASSIGN_VARIABLE), the new value at the variable's quantization.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from microflat.kernels.lut import LUT_FUNCTIONS
from microflat.runtime.ops import OP_DEFS

from .ir_ops import IR_OPS

# The runtime opcode (runtime/ops.py's OP_DEFS) each IR op becomes (ir_ops.py defines every op in one place);
# batch_norm and constant have none: the passes fold the one, the other is a tensor.
OPCODE_OF = {op: d.opcode for op, d in IR_OPS.items() if d.opcode is not None}
# Ops with a constant weight whose output channels lie on its axis 0 (quantized per channel, BN-foldable).
WEIGHTED_OPS = ("conv", "fc", "transpose_conv")
# The table activations (kernels/lut.py's LUT_FUNCTIONS; their attrs are the function's parameters). A clamp
# that the passes could not fuse into its producer is one too.
TABLE_OPS = frozenset(LUT_FUNCTIONS)
# Ops whose output has the input's quantization (TFLite's rule for them, and what lets the runtime run them
# without requantizing), and ops whose output quantization (scale, zero point) the op fixes whatever the data.
# An lstm's output is tied to its state h (inputs[1]), not to its first input: quantize.py ties the two itself.
TIED_OPS = frozenset(op for op, code in OPCODE_OF.items()
                     if OP_DEFS[code].output_quantization == "tied" and op != "lstm")
FIXED_OUTPUT = {op: OP_DEFS[code].fixed_output for op, code in OPCODE_OF.items() if OP_DEFS[code].fixed_output}
# Their int16 forms (TFLite's 16x8 softmax, logistic and tanh) all output Q0.15: scale 2^-15, zero point 0.
FIXED_OUTPUT_INT16 = {op: (1.0 / 32768.0, 0) for op in FIXED_OUTPUT}
# Ops that take a fused activation range (act_min, act_max): those whose options table has the fields.
FUSES_ACTIVATION = frozenset(op for op, code in OPCODE_OF.items() if OP_DEFS[code].fuses_activation)


@dataclass(eq=False)
class Value:
    name: str
    shape: tuple[int, ...]
    dtype: str = "int8"  # "int32": integer data that is never quantized (token ids a GATHER reads)
    scale: float | None = None
    zero_point: int = 0
    # (scale, zero point) fixed by a fake-quantize op in the captured graph (a QAT model); calibration keeps it
    fake_quant: tuple[float, int] | None = None
    fake_quant_dtype: str | None = None  # the width that fake quantization simulated: "int8" or "int16"

    @property
    def quantized(self) -> bool:
        return self.scale is not None


@dataclass(eq=False)
class Node:
    op: str
    inputs: list[Value]
    output: Value
    attrs: dict = field(default_factory=dict)
    source: str = ""  # "graph node 'conv2d' (model.py:12: y = self.conv(x))"
    act: tuple[float, float] = (-math.inf, math.inf)  # fused clamp, in real units
    extra_outputs: list[Value] = field(default_factory=list)  # outputs after the first (an lstm's h_n and c_n)

    @property
    def outputs(self) -> list[Value]:
        return [self.output] + self.extra_outputs


@dataclass
class Graph:
    inputs: list[Value]
    outputs: list[Value]
    nodes: list[Node]
    # Per input and output: "NHWC" when PyTorch's NCHW tensor is stored channels-last, else "".
    input_layouts: list[str] = field(default_factory=list)
    output_layouts: list[str] = field(default_factory=list)
    # Whether some value's leading physical dimension is not the batch (a batch-1 model that moves it, as
    # nn.MultiheadAttention's sequence-first layout does): the simulation then runs one sample at a time.
    per_sample: bool = False
    # Streaming state (the module docstring): variables, and (variable, its new value) written after every node.
    variables: list[Value] = field(default_factory=list)
    assignments: list[tuple[Value, Value]] = field(default_factory=list)

    def consumers(self) -> dict[Value, list[Node]]:
        uses: dict[Value, list[Node]] = {}
        for n in self.nodes:
            for v in n.inputs:
                uses.setdefault(v, []).append(n)
        return uses

    def producers(self) -> dict[Value, Node]:
        return {v: n for n in self.nodes for v in n.outputs}

    def values(self) -> list[Value]:
        """Every activation: inputs and variables first, then in execution order."""
        seen = list(self.inputs) + list(self.variables)
        for n in self.nodes:
            seen.extend(n.outputs)
        return seen

    def kept(self) -> list[Value]:
        """The values read after the last node: the model's outputs and the variables' new values."""
        return list(self.outputs) + [value for _, value in self.assignments]
