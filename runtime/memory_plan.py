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

Overlap (below the liveness bound). A convolution, depthwise convolution or
pooling op whose kernels finish its output rows in order, image by image,
may place its output partly over its input when that input dies at this op:
output row y is written only after every input row that rows < y read, and
the input rows that rows >= y still read begin at (n * H_in + max(0,
y * stride - pad_top)) * input_row bytes into the input. Writing row y ends
(n * H_out + y + 1) * output_row bytes into the output. So an output that
starts `delta` bytes below its input overwrites only consumed input when

    delta >= d = max over (n, y) of  written_end(n, y) - needed_start(n, y)

(row_overlap_bytes). The op reports d and a step q: the distance must also be
a multiple of q. Kernels that run a block of channels over all rows before
the next block (the C depthwise with depth multiplier 1) need q = the channel
count: then output channel c lands only on input channel c, which only that
block reads, and the row argument holds block by block. The pair then spans
max(|in| + d, |out|) bytes instead of |in| + |out|: for a 3x3 stride-1
depthwise layer that is the input and two rows (MCUNet's in-place depthwise,
without its temporary buffer); for a 1x1 layer that doubles the channels,
the output and one input row. A model input or output is never overwritten.

Greedy by size (as TFLite Micro's GreedyMemoryPlanner). Buffers are placed
in decreasing size order; each goes at the lowest 16-aligned offset where it
overlaps no already-placed buffer whose lifetime intersects its own, except
as an overlap pair allows.

Liveness lower bound: the maximum over times of the bytes of the buffers
alive then: the least any plan reaches that keeps buffers alive at the same
time apart. Overlap pairs take a plan below it; the overlap lower bound
replaces each pair alive at its op by its least span.
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


def row_overlap_bytes(batches, input_h, input_row, output_h, output_row, stride_h, pad_top) -> int:
    """d of the module docstring: the least distance below its input at which an output whose rows are finished
    in order never overwrites input bytes that a later row still reads. Rows are [batches, H] flattened; a row
    whose window starts below the image counts as reading from the last row (conservative)."""
    image_gap = output_h * output_row - input_h * input_row  # how much written_end - needed_start moves per image
    worst = None
    for y in range(output_h):
        first = min(max(0, y * stride_h - pad_top), input_h - 1)
        gap = (y + 1) * output_row - first * input_row
        worst = gap if worst is None else max(worst, gap)
    return int(worst + max(0, (batches - 1) * image_gap))


@dataclass(frozen=True)
class OverlapPair:
    """Operator `op` may write tensor `output` starting `bytes` or more below tensor `input`, at a distance
    that is a multiple of `step` (module docstring)."""

    op: int
    input: int
    output: int
    bytes: int
    step: int

    def allows(self, input_offset: int, output_offset: int) -> bool:
        delta = input_offset - output_offset
        return delta >= self.bytes and delta % self.step == 0

    def planned_distance(self) -> int:
        """The distance the planner uses: the least multiple of lcm(step, alignment) at or above `bytes`."""
        step = np.lcm(self.step, ARENA_ALIGNMENT)
        return int((self.bytes + step - 1) // step * step)

    def saving(self, input_bytes: int, output_bytes: int, least: bool = False) -> int:
        """|in| + |out| less the pair's span max(|in| + distance, |out|): at the planned distance, or at the
        least one the rule allows (least=True, for a lower bound). Never below 0."""
        distance = self.bytes if least else self.planned_distance()
        return max(0, input_bytes + output_bytes - max(input_bytes + distance, output_bytes))


def may_overwrite(ins, pos: int, dst: int, protected) -> bool:
    """Whether an op's output dst may take the storage of its input ins[pos] (in place or as an overlap pair),
    the input's death at this op aside: neither is a model input or output, and the op reads it only there."""
    src = ins[pos]
    return src >= 0 and src not in protected and dst not in protected and src not in ins[:pos] + ins[pos + 1:]


def overlap_pairs(operators, overlaps, life, model_inputs, model_outputs) -> list[OverlapPair]:
    """The overlap pairs of a graph. overlaps[k]: op k's (d, q) for its input 0, or None."""
    protected = set(model_inputs) | set(model_outputs)
    pairs = []
    for k, (ins, outs) in enumerate(operators):
        if overlaps[k] is None or not ins or ins[0] < 0 or life[ins[0]][0] is None:
            continue
        if not may_overwrite(ins, 0, outs[0], protected) or life[ins[0]][1] != k:
            continue
        pairs.append(OverlapPair(k, ins[0], outs[0], int(overlaps[k][0]), int(overlaps[k][1])))
    return pairs


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
            if may_overwrite(ins, pos, dst, protected) and life[src][1] == k and sizes[src] == sizes[dst]:
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


def buffer_pairs(bufs: list[Buffer], pairs: list[OverlapPair]):
    """{(id of the input's buffer, id of the output's buffer): pair}, for the pairs whose buffers meet only at
    the pair's op (the input's buffer ends there, the output's begins there)."""
    of = {}
    for b in bufs:
        for m in b.members:
            if not isinstance(m, tuple):
                of.setdefault(m, []).append(b)
    found = {}
    for p in pairs:
        for a in of.get(p.input, ()):
            for b in of.get(p.output, ()):
                if a.last == p.op and b.first == p.op:
                    found[(id(a), id(b))] = p
    return found


def _clash(a: Buffer, a_offset: int, b: Buffer, b_offset: int, by_ids) -> bool:
    """Whether a at a_offset and b at b_offset break the plan: alive together, overlapping, and no pair allows it."""
    if a.last < b.first or b.last < a.first or a_offset >= b_offset + b.size or b_offset >= a_offset + a.size:
        return False
    pair = by_ids.get((id(a), id(b)))
    if pair is not None and pair.allows(a_offset, b_offset):
        return False
    pair = by_ids.get((id(b), id(a)))
    return not (pair is not None and pair.allows(b_offset, a_offset))


class _Composite:
    """Buffers whose offsets an overlap pair ties together: each member at a fixed distance from the first."""

    def __init__(self, b: Buffer):
        self.members = [(b, 0)]

    @property
    def extent(self) -> int:
        return max(r + b.size for b, r in self.members) - min(r for _, r in self.members)

    def fits(self, at: int, placed, by_ids) -> bool:
        return not any(_clash(b, at + r, p, p.offset, by_ids) for b, r in self.members for p in placed)


def _tie(comps: dict, pair: OverlapPair, a: Buffer, b: Buffer, by_ids) -> None:
    """Join the composites of a (the input) and b (the output) with b at pair.planned_distance() below a, unless
    that makes two of their members clash."""
    ca, cb = comps[id(a)], comps[id(b)]
    if ca is cb:
        return
    ra = next(r for m, r in ca.members if m is a)
    rb = next(r for m, r in cb.members if m is b)
    shift = ra - pair.planned_distance() - rb
    moved = [(m, r + shift) for m, r in cb.members]
    if any(_clash(x, rx, y, ry, by_ids) for x, rx in ca.members for y, ry in moved):
        return
    ca.members += moved
    for m, _ in moved:
        comps[id(m)] = ca


def _place(bufs: list[Buffer], by_ids, taken) -> int:
    """Greedy by size over composites: the composite of the most bytes first, each at the lowest offset where
    no member clashes with a placed buffer: 0, a placed buffer's end under one of its members, or a member
    at its pair distance from a placed partner."""
    partners: dict[int, list] = {}
    for (a, b), p in by_ids.items():
        partners.setdefault(b, []).append((a, -p.planned_distance()))  # the output goes below the input
        partners.setdefault(a, []).append((b, p.planned_distance()))
    comps = {id(b): _Composite(b) for b in bufs}
    for (a, b), pair in taken:
        _tie(comps, pair, a, b, by_ids)
    unique = list({id(c): c for c in comps.values()}.values())
    placed: list[Buffer] = []
    for c in sorted(unique, key=lambda c: (-c.extent, min(b.first for b, _ in c.members))):
        low = min(r for _, r in c.members)
        c.members = [(b, r - low) for b, r in c.members]
        alive = [p for p in placed if any(p.first <= b.last and b.first <= p.last for b, _ in c.members)]
        candidates = {0} | {align(p.offset + p.size) - r for p in alive for _, r in c.members}
        at_partner = {id(p): p.offset for p in alive}
        candidates |= {at_partner[i] + shift - r for b, r in c.members for i, shift in partners.get(id(b), ())
                       if i in at_partner}
        at = next(x for x in sorted(candidates) if x >= 0 and c.fits(x, alive, by_ids))
        for b, r in c.members:
            b.offset = at + r
            placed.append(b)
    return arena_end(bufs)


def greedy_by_size(bufs: list[Buffer], pairs: list[OverlapPair] = ()) -> int:
    """Assign offsets; return the arena bytes.

    Overlap pairs tie an output below its input, and a chain of them drifts down by each pair's distance, so
    taking every pair is not always best (a long chain of small savings can outgrow two alternating slots).
    The plan is the smallest of: no pairs (TFLite Micro's greedy plan); pairs taken where the greedy order
    happens to meet them; and every pair that saves bytes tied first, in order of saving."""
    by_ids = buffer_pairs(bufs, list(pairs))
    by = {id(b): b for b in bufs}
    saving = {key: p.saving(by[key[0]].size, by[key[1]].size) for key, p in by_ids.items()}
    useful = sorted((k for k in by_ids if saving[k] > 0), key=lambda k: (-saving[k], by_ids[k].op))
    best = None
    tied = [((by[a], by[b]), by_ids[(a, b)]) for a, b in useful]
    for allowed, taken in (({}, []), (by_ids, []), (by_ids, tied)):
        arena = _place(bufs, allowed, taken)
        if best is None or arena < best[0]:
            best = arena, [b.offset for b in bufs]
    for b, offset in zip(bufs, best[1]):
        b.offset = offset
    return best[0]


def place(bufs: list[Buffer], pairs, n_tensors: int, n_ops: int):
    """greedy_by_size, read back per tensor and per op: (arena bytes, tensor offsets, scratch offsets), -1 where a
    tensor (a constant, an unused one) or an op has no buffer."""
    arena = greedy_by_size(bufs, pairs)
    tensor_offsets, scratch_offsets = [-1] * n_tensors, [-1] * n_ops
    for b in bufs:
        for m in b.members:
            if isinstance(m, tuple):
                scratch_offsets[m[1]] = b.offset
            else:
                tensor_offsets[m] = b.offset
    return arena, tensor_offsets, scratch_offsets


def arena_end(bufs: list[Buffer]) -> int:
    """Where the plan's last buffer ends: the largest offset + size (sizes rounded up to ARENA_ALIGNMENT). A plan's
    arena_bytes must be exactly this (docs/FORMAT.md); greedy_by_size returns it."""
    return max((b.offset + b.size for b in bufs), default=0)


def _live_bytes(bufs: list[Buffer], n_times: int) -> np.ndarray:
    """The bytes of the buffers alive at each time."""
    live = np.zeros(max(n_times, 1), dtype=np.int64)
    for b in bufs:
        live[b.first:b.last + 1] += b.size
    return live


def liveness_lower_bound(bufs: list[Buffer], n_times: int) -> int:
    return int(_live_bytes(bufs, n_times).max()) if bufs else 0


def overlap_lower_bound(bufs: list[Buffer], n_times: int, pairs: list[OverlapPair]) -> int:
    """The liveness bound with each overlap pair counted at its least span, max(|in| + d, |out|), at its op."""
    live = _live_bytes(bufs, n_times)
    by = {id(b): b for b in bufs}
    for (a, b), p in buffer_pairs(bufs, pairs).items():
        live[p.op] -= p.saving(by[a].size, by[b].size, least=True)
    return int(live.max()) if bufs else 0


def overlapping_pair(bufs: list[Buffer], pairs: list[OverlapPair] = ()):
    """The first pair of buffers that are alive at the same time and overlap in the arena where no overlap
    pair allows it, or None."""
    if not bufs:
        return None
    by_ids = buffer_pairs(bufs, list(pairs))
    first = np.array([b.first for b in bufs])
    last = np.array([b.last for b in bufs])
    lo = np.array([b.offset for b in bufs], dtype=np.int64)
    hi = lo + np.array([b.size for b in bufs], dtype=np.int64)
    for i in range(len(bufs)):
        clash = (first <= last[i]) & (first[i] <= last) & (lo < hi[i]) & (lo[i] < hi) & (hi > lo) & (hi[i] > lo[i])
        clash[i] = False
        for j in np.flatnonzero(clash):
            a, b = bufs[i], bufs[int(j)]
            if _clash(a, a.offset, b, b.offset, by_ids):
                return a, b
    return None
