"""Activation widths: which ops run in 16 bits (TFLite's 16x8 mode), and the conversions where widths meet.

A node's width is 16 where the user asks for int16 activations and the op has a 16x8 kernel (INT16_OPS: runtime
ops.py's int16 forms), else 8. Its output takes its width. An input whose width differs from its consumer's is
converted by a requantize node inserted before that consumer (REQUANTIZE in the file: int8 <-> int16), whose
output is a new value of the consumer's width; calibration observes it like any other value (it holds the same
real numbers), so each side gets its own grid. A model input takes the width of its first consumer, a constant
operand its consumer's.

int16 activations are symmetric (zero point 0, scale max|x| / 32767: observers.qparams), as TFLite's 16x8 kernels
require. What is decided here is only the width; the quantizer and the emitter read it from Value.dtype.
"""

from __future__ import annotations

from microflat.runtime.errors import CompileError

from .ir import Graph, Node, Value

ACTIVATIONS = ("int8", "int16")
# IR ops with a 16x8 form in the runtime: conv (and depthwise), fully connected, add, sub, mul, the pools, reshape.
INT16_OPS = frozenset({"conv", "fc", "add", "sub", "mul", "avg_pool", "max_pool", "reshape"})


def node_width(node: Node, activations: str) -> str:
    return "int16" if activations == "int16" and node.op in INT16_OPS else "int8"


def assign_widths(graph: Graph, activations: str = "int8") -> int:
    """Set every activation's dtype for `activations` ("int8" or "int16") and insert the conversions; returns how
    many were inserted. int8 leaves the graph as it is."""
    if activations not in ACTIVATIONS:
        raise CompileError(f"activations must be one of {ACTIVATIONS}, got {activations!r}")
    if activations == "int8":
        return 0
    quantized = lambda v: v.dtype in ACTIVATIONS  # noqa: E731  (int32 ids stay as they are)
    width = {n: node_width(n, activations) for n in graph.nodes}
    consumers = graph.consumers()
    producers = graph.producers()
    for v in graph.inputs:
        if quantized(v) and consumers.get(v):
            v.dtype = width[consumers[v][0]]
    for n in graph.nodes:
        if n.op == "constant" and consumers.get(n.output):
            width[n] = width[consumers[n.output][0]]
        if quantized(n.output):
            n.output.dtype = width[n]
    inserted = 0
    nodes = []
    for n in graph.nodes:
        for i, v in enumerate(n.inputs):
            if not quantized(v) or v.dtype == width[n]:
                continue
            converted = Value(f"{v.name}:{width[n]}", v.shape, width[n])
            src = producers.get(v)
            nodes.append(Node("requantize", [v], converted, {}, n.source if src is None else src.source))
            n.inputs[i] = converted
            inserted += 1
        nodes.append(n)
    graph.nodes[:] = nodes
    return inserted
