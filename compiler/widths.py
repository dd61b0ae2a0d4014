"""Activation widths: which ops run in 16 bits (TFLite's 16x8 mode), and the conversions where widths meet.

A node's width is 16 where the user asks for int16 activations (all of them, or a chosen set: `auto` below) and
the op has a 16x8 kernel (INT16_OPS: runtime ops.py's int16 forms), else 8. Its output takes its width. An input whose width differs from its consumer's is
converted by a requantize node inserted before that consumer (REQUANTIZE in the file: int8 <-> int16), whose
output is a new value of the consumer's width; calibration observes it like any other value (it holds the same
real numbers), so each side gets its own grid. A model input or a variable takes the width of its first consumer,
a constant operand its consumer's, a reshape, pool or slice of an int16 value stays int16 (KEEP_INPUT_WIDTH), and
a value a QAT model fake-quantized in 16 bits is int16 (compress/qat.py).

int16 activations are symmetric (zero point 0, scale max|x| / 32767: observers.qparams), as TFLite's 16x8 kernels
require. What is decided here is only the width; the quantizer and the emitter read it from Value.dtype.
"""

from __future__ import annotations

from microflat.runtime.errors import CompileError

from .ir import TIED_OPS, Graph, Node, Value

ACTIVATIONS = ("int8", "int16")  # Value dtypes; compile's `activations` also takes "auto" or a set of node names
# IR ops with a 16x8 form in the runtime: conv (and depthwise), fully connected, add, sub, mul, the pools, reshape,
# strided slice, concatenation, and TFLite's int16 logistic, tanh and softmax (output Q0.15:
# ir.FIXED_OUTPUT_INT16). The other table activations
# (gelu, silu, ...: 256-entry int8 tables) stay int8, a REQUANTIZE on each side.
# The lstm in 8 bits is TFLite's 8x8_16, in 16 TFLite Micro's 16x8 (int16 input, output and hidden state h_n); its
# int16 cell state is pinned whatever its width (below).
INT16_OPS = frozenset({"conv", "fc", "add", "sub", "mul", "avg_pool", "max_pool", "reshape", "strided_slice",
                       "concat", "logistic", "tanh", "softmax", "lstm"})


# Ops that keep their input's quantization (ir.TIED_OPS) and have an int16 form (reshape, the pools, the strided
# slice): they keep an int16 input's width too, as TFLite's do.
KEEP_INPUT_WIDTH = INT16_OPS & TIED_OPS


def node_width(node: Node, activations) -> str:
    """int16 where `activations` asks for it ("int16": every op, or a set holding the node's output name) and the
    op has a 16x8 kernel."""
    wide = activations == "int16" or (not isinstance(activations, str) and node.output.name in activations)
    return "int16" if wide and node.op in INT16_OPS else "int8"


def candidates(graph: Graph) -> list[str]:
    """The output names of the nodes that can run in 16 bits."""
    return [n.output.name for n in graph.nodes if n.op in INT16_OPS]


def assign_widths(graph: Graph, activations="int8") -> int:
    """Set every activation's dtype for `activations` ("int8", "int16", or a set of node output names to run in
    16 bits) and insert the conversions; returns how many were inserted. int8 leaves the graph as it is."""
    if isinstance(activations, str) and activations not in ACTIVATIONS:
        raise CompileError(f"activations must be one of {ACTIVATIONS} or a set of layer names, got {activations!r}")
    # A QAT model trained with 16-bit fake quantization (compress/qat.py) fixes those values' width itself.
    trained = {v for v in graph.values() if v.fake_quant_dtype == "int16"}
    if (activations == "int8" or (not isinstance(activations, str) and not activations)) and not trained:
        return 0
    quantized = lambda v: v.dtype in ACTIVATIONS  # noqa: E731  (int32 ids stay as they are)
    # An LSTM's cell state (its c0 and c_n, and the reshapes, inputs and variables that carry them: lower.py) is
    # int16 whatever the widths; before this pass no other value is.
    pinned = {v for v in graph.values() if v.dtype == "int16"}
    # (a requantize already in the graph is a conversion QAT simulated: lower.py gave it its width)
    width = {n: n.output.dtype if n.op == "requantize" else "int16" if n.output in pinned or n.output in trained
             else node_width(n, activations) for n in graph.nodes}
    for n in graph.nodes:
        if n.output in trained and n.op not in INT16_OPS | {"requantize"} and n.output not in pinned:
            raise CompileError(f"{n.source or n.output.name}: trained with 16-bit fake quantization, but microflat's "
                               f"{n.op} has no 16-bit kernel (16-bit ops: {', '.join(sorted(INT16_OPS))})")
    consumers = graph.consumers()
    producers = graph.producers()
    for v in graph.inputs + graph.variables:  # (a variable, like an input, takes its first reader's width)
        if quantized(v) and consumers.get(v) and v not in pinned:
            v.dtype = v.fake_quant_dtype or width[consumers[v][0]]  # a QAT model's input keeps its simulated width
    for n in graph.nodes:
        if n.op == "constant" and consumers.get(n.output):
            width[n] = width[consumers[n.output][0]]
        if n.op in KEEP_INPUT_WIDTH and quantized(n.inputs[0]) and n.inputs[0].dtype == "int16":
            width[n] = "int16"  # a reshape, pool or slice of an int16 value stays int16, as TFLite's do
        if quantized(n.output):
            n.output.dtype = width[n]
        if n.op == "lstm":  # h_n has y's width (c_n is pinned)
            n.extra_outputs[0].dtype = width[n]
    inserted = 0
    nodes = []
    for n in graph.nodes:
        for i, v in enumerate(n.inputs):
            if not quantized(v) or v.dtype == width[n] or v in pinned or n.op == "requantize":
                continue
            converted = Value(f"{v.name}:{width[n]}", v.shape, width[n])
            src = producers.get(v)
            nodes.append(Node("requantize", [v], converted, {}, n.source if src is None else src.source))
            n.inputs[i] = converted
            inserted += 1
        nodes.append(n)
    for k, (var, value) in enumerate(graph.assignments):  # a variable keeps its width; its new value converts to it
        if value.dtype != var.dtype:
            converted = Value(f"{value.name}:{var.dtype}", value.shape, var.dtype)
            nodes.append(Node("requantize", [value], converted, {}, producers[value].source if value in producers
                              else ""))
            graph.assignments[k] = (var, converted)
            inserted += 1
    graph.nodes[:] = nodes
    return inserted


def choose(widths_of, names: list[str], max_arena: int, progress: bool = False):
    """The int16 set for `activations="auto"`: the most accuracy per byte of arena under max_arena.

    widths_of(set of names) -> (sqnr in dB, arena bytes) measures one choice (the compiled integer model against
    the float one on the calibration data). The search starts from every candidate at 16 bits and, while the arena
    is above max_arena, demotes to 8 bits the layer whose demotion costs the least SQNR per arena byte it saves
    (each tried one at a time, as compress/sensitivity.py prices its moves; a layer's gain is only real next to
    16-bit neighbours, so the search narrows a 16-bit model rather than widening an 8-bit one). Returns (the set,
    its sqnr, its arena, the log of steps [(demoted name, sqnr, arena)])."""
    from tqdm.auto import tqdm

    chosen = set(names)
    sqnr, arena = widths_of(chosen)
    log = [(None, sqnr, arena)]
    with tqdm(total=len(names), desc="choosing widths", unit="layer", disable=not progress) as bar:
        while arena > max_arena and chosen:
            best = None
            for name in sorted(chosen):
                s, a = widths_of(chosen - {name})
                saved = arena - a
                cost = (sqnr - s) / saved if saved > 0 else float("inf")
                if best is None or cost < best[0] or (cost == best[0] and a < best[2]):
                    best = (cost, s, a, name)
            _, sqnr, arena, name = best
            chosen.discard(name)
            log.append((name, sqnr, arena))
            bar.update(1)
    if arena > max_arena:
        raise CompileError(f"max_arena {max_arena} bytes: even with int8 activations everywhere the arena is "
                           f"{arena} bytes")
    return chosen, sqnr, arena, log
