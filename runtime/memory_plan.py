"""Arena planning: tensor lifetimes from the op order, greedy-by-size offsets, and the plan's verifier.

Lifetimes. Operator k runs at time k. An activation tensor lives from the
op that writes it (time 0 for a model input) to the last op that reads it
(the last time, n_ops - 1, for a model output). An op's scratch lives at its
own time only.

In place. An op that reads element i before writing element i (elementwise
ops, table activations, softmax's per-row passes, reshape) may write its
output over an input of the same byte size when that input dies at this op
and is not a model input or output; the two tensors then share one buffer
whose lifetime is the union of theirs. Reshape is always planned this way
when allowed, so it moves no data.

Greedy by size (as TFLite Micro's GreedyMemoryPlanner). Buffers are placed
in decreasing size order; each goes at the lowest 16-aligned offset where it
overlaps no already-placed buffer whose lifetime intersects its own.

Liveness lower bound: the maximum over times of the bytes of the buffers
alive then. No plan can use less; the greedy plan's peak is compared with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .format import ARENA_ALIGNMENT


def align(n: int, a: int = ARENA_ALIGNMENT) -> int:
    return (n + a - 1) // a * a


@dataclass
class Buffer:
    """One arena allocation: a tensor (with its in-place aliases) or an op's scratch."""

    members: list  # tensor indices, or [("scratch", op)] for scratch
    size: int
    first: int
    last: int
    offset: int = -1


def lifetimes(n_tensors, operators, model_inputs, model_outputs, is_const):
    """(first, last) time of each activation tensor; None for constants and unused tensors."""
    first = [None] * n_tensors
    last = [None] * n_tensors
    for t in model_inputs:
        first[t] = last[t] = 0
    for k, (ins, outs) in enumerate(operators):
        for t in outs:
            if first[t] is None:
                first[t] = k
            last[t] = max(last[t] if last[t] is not None else k, k)
        for t in ins:
            if t >= 0 and not is_const[t]:
                if first[t] is None:
                    first[t] = k
                last[t] = k
    end = max(len(operators) - 1, 0)
    for t in model_outputs:
        if first[t] is None:
            first[t] = 0
        last[t] = end
    return list(zip(first, last))


def alias_groups(n_tensors, operators, in_place, life, model_inputs, model_outputs, sizes):
    """Union-find of tensors that share storage: output <- input for each allowed in-place op.

    in_place[k]: input positions op k may overwrite. Returns a root index per tensor.
    """
    root = list(range(n_tensors))

    def find(t):
        while root[t] != t:
            root[t] = root[root[t]]
            t = root[t]
        return t

    protected = set(model_inputs) | set(model_outputs)
    for k, (ins, outs) in enumerate(operators):
        for pos in in_place[k]:
            src, dst = ins[pos], outs[0]
            if src < 0 or src in protected or dst in protected or life[src][1] != k or sizes[src] != sizes[dst]:
                continue
            if any(other == src for j, other in enumerate(ins) if j != pos):
                continue  # the same tensor read twice by this op
            root[find(dst)] = find(src)
            break
    return [find(t) for t in range(n_tensors)]


def buffers(n_tensors, operators, life, groups, sizes, scratch_sizes):
    by_root = {}
    for t in range(n_tensors):
        if life[t][0] is None:
            continue
        b = by_root.setdefault(groups[t], Buffer([], 0, life[t][0], life[t][1]))
        b.members.append(t)
        b.size = max(b.size, align(sizes[t]))
        b.first, b.last = min(b.first, life[t][0]), max(b.last, life[t][1])
    out = list(by_root.values())
    for k, s in enumerate(scratch_sizes):
        if s > 0:
            out.append(Buffer([("scratch", k)], align(s), k, k))
    return out


def greedy_by_size(bufs: list[Buffer]) -> int:
    """Assign offsets; return the arena bytes."""
    placed: list[Buffer] = []
    for b in sorted(bufs, key=lambda b: (-b.size, b.first)):
        conflicts = sorted((p.offset, p.offset + p.size) for p in placed if p.first <= b.last and b.first <= p.last)
        offset = 0
        for lo, hi in conflicts:
            if offset + b.size <= lo:
                break
            offset = max(offset, align(hi))
        b.offset = offset
        placed.append(b)
    return max((b.offset + b.size for b in bufs), default=0)


def liveness_lower_bound(bufs: list[Buffer], n_times: int) -> int:
    live = np.zeros(max(n_times, 1), dtype=np.int64)
    for b in bufs:
        live[b.first:b.last + 1] += b.size
    return int(live.max()) if bufs else 0


def overlapping_pair(bufs: list[Buffer]):
    """The first pair of buffers that are alive at the same time and overlap in the arena, or None."""
    if not bufs:
        return None
    first = np.array([b.first for b in bufs])
    last = np.array([b.last for b in bufs])
    lo = np.array([b.offset for b in bufs], dtype=np.int64)
    hi = lo + np.array([b.size for b in bufs], dtype=np.int64)
    for i in range(len(bufs)):
        clash = (first <= last[i]) & (first[i] <= last) & (lo < hi[i]) & (lo[i] < hi) & (hi > lo) & (hi[i] > lo[i])
        clash[i] = False
        if clash.any():
            return bufs[i], bufs[int(np.argmax(clash))]
    return None
