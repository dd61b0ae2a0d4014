"""A batch-1 model re-planned for N samples, so that a batch runs as one program.

Why: run sample by sample, a batch pays Python's per-sample work (copies in
and out, the program's dispatch), and every layer sees one sample's pixels:
a fully connected layer is then a matrix-vector product that reads every
weight once per sample. Planned for N samples, the same layer is one
N-row GEMM (packed_layers' pixel tiles reuse each weight block over four
samples), and the whole batch is one call of the step program.

When. Every activation computed from a model input (a sampled tensor)
leads with a batch of 1 (rank 2 or more, so that its first axis is the batch
and nothing else), and every operator is per-sample (ops.OpDef.per_sample):
output sample b depends only on input sample b. Such a model means the same
with every sampled tensor's leading 1 made N, N independent samples;
constants, and activations computed from constants alone, keep their shapes
(they broadcast over the batch, as they broadcast over the one sample).
Each operator is then checked again by its own rule (ops.py) at N, so a
kernel meets only shapes it verified, and the arena is planned again by the
compiler's planner (memory_plan.py), overlap pairs re-derived at N. A model
that does not qualify returns None, and its batches run sample by sample.
"""

from __future__ import annotations

import copy
import dataclasses

from . import memory_plan
from .errors import FormatError
from .ops import OPS, OpCheck


def sampled_tensors(model) -> set:
    """The tensors computed from a model input: the model's inputs, and every output of an op that reads one."""
    sampled = set(model.inputs)
    for op in model.operators:
        if any(int(i) in sampled for i in op.inputs):
            sampled.update(int(o) for o in op.outputs)
    return sampled


def per_sample_reason(model) -> str | None:
    """Why ``model`` (a LoadedModel) cannot run N samples as one batch-N model; None when it can."""
    if model.variables:
        return "the model keeps state across invokes: its samples run one after another, as a stream"
    for i in sorted(sampled_tensors(model)):
        t = model.tensors[i]
        if len(t.shape) < 2 or t.shape[0] != 1:
            return f"tensor {t.name or t.index} of shape {t.shape} does not lead with a batch of 1"
    for k, op in enumerate(model.operators):
        per_sample = OPS[op.opcode].per_sample
        if not (per_sample(OpCheck(model, k)) if callable(per_sample) else per_sample):
            return f"operator {k} ({model.opcode_name(op.opcode)}) mixes samples"
    return None


def batched_model(model, n: int):
    """``model`` (a verified LoadedModel) for n samples: the same operators and constants, every sampled tensor's
    leading 1 made n, checked and planned again; None where the model is not per-sample (per_sample_reason) or
    an operator's check refuses it at n."""
    if per_sample_reason(model) is not None:
        return None
    sampled = sampled_tensors(model)
    m = copy.copy(model)
    m.tensors = [dataclasses.replace(t, shape=(n,) + tuple(t.shape[1:])) if t.index in sampled else t
                 for t in model.tensors]
    try:
        m.op_info = [OPS[op.opcode].check(OpCheck(m, k)) for k, op in enumerate(m.operators)]
    except FormatError:  # a bound that one sample meets and n do not (an element count, the arena's largest offset)
        return None
    bufs = m.plan_buffers()
    m.arena_bytes, m.tensor_offsets, m.scratch_offsets = memory_plan.place(bufs, m.overlap_pairs(), len(m.tensors),
                                                                            len(m.operators))
    return m
