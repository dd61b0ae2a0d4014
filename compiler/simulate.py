"""Run the IR in PyTorch: in float (calibration, the float side of a comparison)
or as a fake-quantized simulation of the int8 model.

Both run on physical (NHWC) tensors, a whole batch at a time.

fake_quant=True simulates exactly the quantization the compiler chose, with
PyTorch's own fake-quantize ops: every activation is rounded to its int8 (or int16) grid
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

from .ir import Graph, Node, Value
from .ir_ops import IR_OPS


# The integer grid of each activation dtype (widths.py).
GRIDS = {"int8": (-128, 127), "int16": (-(2**15), 2**15 - 1)}


def _fq(t: torch.Tensor, v: Value) -> torch.Tensor:
    return torch.fake_quantize_per_tensor_affine(t, float(v.scale), int(v.zero_point), *GRIDS[v.dtype])


def run_op(node: Node, xs: list[torch.Tensor], fake_quant: bool) -> torch.Tensor:
    """One IR op on physical float tensors (its IROp's simulate, ir_ops.py)."""
    return IR_OPS[node.op].simulate(node, xs, fake_quant)


def _run(graph: Graph, inputs, fake_quant: bool, state: dict | None = None) -> dict:
    env: dict[Value, torch.Tensor] = {}
    for v, x in zip(graph.inputs, inputs):
        if v.dtype == "int32":  # token ids: integers, never quantized
            env[v] = torch.as_tensor(x).to(torch.int64)
            continue
        x = torch.as_tensor(x, dtype=torch.float32)
        env[v] = _fq(x, v) if fake_quant else x
    for v in graph.variables:  # what the previous sample of the stream left
        env[v] = _fq(state[v], v) if fake_quant else state[v]
    for node in graph.nodes:
        ys = run_op(node, [env[v] for v in node.inputs], fake_quant)
        for v, y in zip(node.outputs, ys if isinstance(ys, tuple) else (ys,)):
            env[v] = _fq(y, v) if fake_quant else y
    return env


def _stream(graph: Graph, inputs, fake_quant: bool, n: int) -> list[dict]:
    """A graph with variables on a batch of n samples: n consecutive invokes of one stream, as the runtime runs
    them, every variable starting at 0 (its reset) and then holding the value the previous sample assigned. A
    sample is one input of the model's own leading dimension: 1, or T for a time-major sequence."""
    state = {v: torch.zeros(v.shape) for v in graph.variables}
    rows = [v.shape[0] for v in graph.inputs]
    runs = []
    for i in range(n // rows[0] if rows else n):
        env = _run(graph, [x[i * k:(i + 1) * k] for x, k in zip(inputs, rows)], fake_quant, state)
        state = {**state, **{var: env[value] for var, value in graph.assignments}}
        runs.append(env)
    return runs


def run_graph(graph: Graph, inputs, *, fake_quant: bool = False, record: bool = False):
    """Run on physical-layout float inputs (batch first). Returns the outputs, or (outputs, {Value: tensor}) when record.

    A graph whose values do not all lead with the batch (Graph.per_sample) runs sample by sample; each value's
    tensors are then concatenated along their first dimension (what an observer sees is the same elements).
    A graph with variables (streaming state) runs its samples as one stream (_stream)."""
    with torch.no_grad():
        n = len(inputs[0]) if inputs else 1
        if graph.variables:
            runs = _stream(graph, inputs, fake_quant, n)
            env = {v: torch.cat([r[v] for r in runs]) for v in runs[0]}
        elif graph.per_sample and n > 1:
            runs = [_run(graph, [x[i:i + 1] for x in inputs], fake_quant) for i in range(n)]
            env = {v: torch.cat([r[v] for r in runs]) for v in runs[0]}
        else:
            env = _run(graph, inputs, fake_quant)
    outs = [env[v] for v in graph.outputs]
    return (outs, env) if record else outs
