"""Graph passes on the float IR, before calibration: what TFLite's converter does.

1. fold_batch_norm: y = conv(x) * a + b becomes one conv with weights scaled
   by a per output channel and bias b' = bias * a + b. A batch norm with no
   conv or linear before it becomes a 1x1 depthwise conv (weights a, bias b).
2. fuse_pad: a zero pad feeding a convolution becomes the convolution's own
   padding. Zero padding in real terms is padding with the input's zero
   point, which is what the conv kernel does at its borders; TensorFlow-style
   "same" padding (the odd row after) written as ZeroPad2d + Conv2d lowers to
   a single conv this way.
3. fuse_clamp: relu / relu6 / hardtanh / clamp become the act range of the op
   that produced their input (conv, linear, add, mul, pooling). The producer's
   output is then quantized on the clamped range, as in TFLite. A clamp with
   no such producer (after a model input, a concatenation, or a value used
   twice) stays, and runs as a table activation.
4. fuse_silu: x * sigmoid(x) becomes one SiLU table (the logistic's output
   used by that multiply alone).
5. fuse_squared_difference: (a - b) * (a - b), or (a - b) ** 2, becomes one
   SQUARED_DIFFERENCE (the difference used by that multiply alone).
6. fold_matmul_scale: a batch matmul times a scalar constant (attention's
   1 / sqrt(d)) carries the scale in its output multiplier.
7. fold_state_reshapes: a variable read only through one reshape takes the
   reshape's shape, and a new value reshaped only to be assigned is assigned
   as it is: an LSTM wrapper's (h, c) buffers ([1, 1, C] to PyTorch) become
   the op's [1, C] states, read and written with no copy.

Each pass needs its input to have a single consumer, so that folding changes
nothing else.
"""

from __future__ import annotations

import math

import numpy as np

from microflat.runtime.errors import CompileError

from .ir import FUSES_ACTIVATION, WEIGHTED_OPS, Graph, Node


def _single_consumer(graph: Graph, node: Node) -> bool:
    uses = graph.consumers().get(node.output, [])
    return len(uses) == 1 and node.output not in graph.kept()


def _replace(graph: Graph, old: Node, keep: Node):
    """`keep` takes over `old`'s output value (and name); `old` leaves the graph."""
    keep.output = old.output
    graph.nodes.remove(old)


def _producer(graph: Graph, producers: dict, v):
    """(the op that computes v, the reshape between them or None): a reshape that keeps the channels (the last
    physical axis) and feeds nothing else is looked through, as a 1-D conv's [N, 1, L, C] -> [N, L, C]."""
    prev = producers.get(v)
    if (prev is not None and prev.op == "reshape" and _single_consumer(graph, prev)
            and prev.inputs[0].shape[-1] == prev.output.shape[-1]):
        return producers.get(prev.inputs[0]), prev
    return prev, None


def fold_batch_norm(graph: Graph) -> None:
    producers = graph.producers()
    for bn in [n for n in graph.nodes if n.op == "batch_norm"]:
        a, b = bn.attrs["scale"], bn.attrs["shift"]
        prev, via = _producer(graph, producers, bn.inputs[0])
        if prev is not None and prev.op in WEIGHTED_OPS and _single_consumer(graph, prev):
            w = prev.attrs["weight"]
            prev.attrs["weight"] = w * a.reshape((-1,) + (1,) * (w.ndim - 1))
            bias = prev.attrs["bias"] if prev.attrs["bias"] is not None else np.zeros_like(a)
            prev.attrs["bias"] = bias * a + b
            _replace(graph, bn, via or prev)  # through a reshape, the reshape then computes bn's output
            producers = graph.producers()
        elif len(bn.output.shape) == 4:
            c = a.shape[0]
            bn.op = "conv"
            bn.attrs = dict(weight=a.reshape(c, 1, 1, 1), bias=b, stride=(1, 1), dilation=(1, 1), pad=(0, 0), groups=c)
        else:
            raise CompileError(f"a batch norm on a {len(bn.output.shape)}-D tensor not after a linear layer cannot be "
                               f"folded at {bn.source}")


def fuse_pad(graph: Graph) -> None:
    producers = graph.producers()
    for conv in [n for n in graph.nodes if n.op == "conv"]:
        pad = producers.get(conv.inputs[0])
        if pad is None or pad.op != "pad" or not _single_consumer(graph, pad):
            continue
        before, after = pad.attrs["before"], pad.attrs["after"]
        if before[0] or after[0] or before[3] or after[3]:
            continue  # batch or channel padding stays a pad
        k = conv.attrs["weight"].shape[2:]
        top, left = conv.attrs["pad"][0] + before[1], conv.attrs["pad"][1] + before[2]
        d = conv.attrs["dilation"]
        if top > (k[0] - 1) * d[0] or left > (k[1] - 1) * d[1]:
            continue  # a window would start wholly in the padding: keep the pad op
        conv.attrs["pad"] = (top, left)
        conv.inputs[0] = pad.inputs[0]
        graph.nodes.remove(pad)
        producers = graph.producers()


def fuse_clamp(graph: Graph) -> None:
    producers = graph.producers()
    for clamp in [n for n in graph.nodes if n.op == "clamp"]:
        prev, via = _producer(graph, producers, clamp.inputs[0])
        lo, hi = clamp.attrs["lo"], clamp.attrs["hi"]
        if prev is None or prev.op not in FUSES_ACTIVATION or not _single_consumer(graph, prev):
            continue  # it stays a clamp, which runs as a table activation
        prev.act = (max(prev.act[0], lo), min(prev.act[1], hi))
        _replace(graph, clamp, via or prev)
        producers = graph.producers()


def fuse_silu(graph: Graph) -> None:
    producers = graph.producers()
    for mul in [n for n in graph.nodes if n.op == "mul"]:
        for i in (0, 1):
            gate = producers.get(mul.inputs[i])
            if (gate is not None and gate.op == "logistic" and gate.inputs[0] is mul.inputs[1 - i]
                    and _single_consumer(graph, gate) and mul.act == gate.act):
                mul.op, mul.inputs, mul.attrs = "silu", [gate.inputs[0]], {}
                graph.nodes.remove(gate)
                producers = graph.producers()
                break


def fuse_squared_difference(graph: Graph) -> None:
    producers, uses = graph.producers(), graph.consumers()
    for mul in [n for n in graph.nodes if n.op == "mul"]:
        d = mul.inputs[0]
        sub = producers.get(d)
        if (mul.inputs[1] is d and sub is not None and sub.op == "sub" and sub.act == (-math.inf, math.inf)
                and uses.get(d) == [mul, mul] and d not in graph.kept()):
            mul.op, mul.inputs = "squared_difference", list(sub.inputs)
            graph.nodes.remove(sub)
            producers, uses = graph.producers(), graph.consumers()


def fold_matmul_scale(graph: Graph) -> None:
    """A BATCH_MATMUL times a scalar constant (attention's 1 / sqrt(d)) is one BATCH_MATMUL whose output
    multiplier carries the scale: one requantization fewer."""
    producers = graph.producers()
    for mul in [n for n in graph.nodes if n.op == "mul"]:
        for i in (0, 1):
            mm, c = producers.get(mul.inputs[i]), producers.get(mul.inputs[1 - i])
            if (mm is not None and c is not None and mm.op == "batch_matmul" and c.op == "constant"
                    and np.size(c.attrs["data"]) == 1 and _single_consumer(graph, mm) and _single_consumer(graph, c)
                    and mm.act == (-math.inf, math.inf)):
                mm.attrs["scale"] *= float(np.asarray(c.attrs["data"]).reshape(-1)[0])
                mm.act = mul.act
                _replace(graph, mul, mm)
                graph.nodes.remove(c)
                producers = graph.producers()
                break


def fold_state_reshapes(graph: Graph) -> None:
    """A variable whose only reader is a reshape is stored in the reshape's shape (the same elements in the same
    order), and its readers read it directly; its new value, where a reshape from that shape made it for the
    assignment alone, is assigned before the reshape. Both reshapes leave the graph."""
    producers, uses = graph.producers(), graph.consumers()
    for k, (var, value) in enumerate(graph.assignments):
        readers = uses.get(var, [])
        if len(readers) != 1 or readers[0].op != "reshape" or readers[0].output in graph.kept():
            continue
        read = readers[0]
        write = producers.get(value)
        if value.shape == read.output.shape:
            write = None
        elif not (write is not None and write.op == "reshape" and write.inputs[0].shape == read.output.shape
                  and not uses.get(value) and graph.outputs.count(value) == 0
                  and write.inputs[0] not in graph.inputs and write.inputs[0] not in graph.variables):
            continue
        var.shape = read.output.shape
        for n in graph.nodes:
            n.inputs = [var if v is read.output else v for v in n.inputs]
        graph.nodes.remove(read)
        if write is not None:
            graph.assignments[k] = (var, write.inputs[0])
            graph.nodes.remove(write)
        producers, uses = graph.producers(), graph.consumers()


def optimize(graph: Graph) -> Graph:
    fold_batch_norm(graph)
    fuse_pad(graph)
    fuse_silu(graph)
    fuse_squared_difference(graph)
    fold_matmul_scale(graph)
    fuse_clamp(graph)
    fold_state_reshapes(graph)
    return graph
