"""Operator order for the least peak memory (operator reordering, as in Serenity, Ahn et al. 2020, and
MCUNet's TinyEngine).

A graph with branches (a residual block's shortcut, parallel towers) can run its operators in any
topological order, and the order decides which tensors are alive together. The peak is found exactly
by dynamic programming over the sets of operators already run: the tensors alive while operator k runs
depend only on that set S (a tensor is alive from its producer's run to its last consumer's), so

    best(S + {k}) = min over ready k of max(best(S), bytes while k runs after S).

The bytes while k runs: every activation produced by S (or a model input) that some operator outside S
still reads (or that is a model output), k's outputs, k's scratch; less what memory_plan lets k save:
an in-place output over a same-size input that dies at k, or an overlap pair's max(|in| + d, |out|)
instead of |in| + |out|. Sizes are 16-aligned, as the arena's.

The number of such sets is the number of ways to cut the graph: n + 1 for a chain, a few hundred for
the MLPerf Tiny models. A graph with more than `max_states` at one depth keeps its order. The order
changes only when it lowers this peak; otherwise the emitted order stays.
"""

from __future__ import annotations

from microflat.runtime import memory_plan


def _step_costs(n_tensors, operators, sizes, is_const, model_inputs, model_outputs, in_place, overlaps, scratch):
    producer = [-1] * n_tensors
    consumers = [0] * n_tensors
    for k, (ins, outs) in enumerate(operators):
        for t in outs:
            producer[t] = k
        for t in ins:
            if t >= 0 and not is_const[t]:
                consumers[t] |= 1 << k
    protected = set(model_inputs) | set(model_outputs)
    outputs = set(model_outputs)
    activations = [t for t in range(n_tensors) if not is_const[t] and (producer[t] >= 0 or t in model_inputs)]
    size = [memory_plan.align(s) for s in sizes]

    def alive(t, done):
        """Whether tensor t is alive while an operator outside `done` runs next (given t exists by then)."""
        return t in outputs or consumers[t] & ~done

    def saving(done, k):
        """What memory_plan lets op k save when it runs after `done`: an in-place output, or an overlap pair."""
        ins, outs = operators[k]
        dies = lambda t: not consumers[t] & ~(done | 1 << k)  # noqa: E731
        for pos in in_place[k]:
            src = ins[pos]
            if memory_plan.may_overwrite(ins, pos, outs[0], protected) and dies(src) and sizes[src] == sizes[outs[0]]:
                return size[src]
        if overlaps[k] is not None and ins and ins[0] >= 0 and not is_const[ins[0]] \
                and memory_plan.may_overwrite(ins, 0, outs[0], protected) and dies(ins[0]):
            pair = memory_plan.OverlapPair(k, ins[0], outs[0], overlaps[k][0], overlaps[k][1])
            return pair.saving(size[ins[0]], size[outs[0]])
        return 0

    def held(done):
        """The bytes alive whatever runs next: activations produced by `done` (or inputs) still to be read."""
        return sum(size[t] for t in activations if (producer[t] < 0 or done >> producer[t] & 1) and alive(t, done))

    def held_after(done, k, held_bytes):
        """held(done | k) from held(done): k's outputs that are read later join, its inputs read last leave."""
        state = done | 1 << k
        ins, outs = operators[k]
        joined = sum(size[t] for t in set(outs) if alive(t, state))
        left = sum(size[t] for t in set(ins) if t >= 0 and not is_const[t] and not alive(t, state))
        return held_bytes + joined - left

    def cost(done, k, held_bytes=None):
        total = held(done) if held_bytes is None else held_bytes
        total += sum(size[t] for t in operators[k][1])
        return total + memory_plan.align(scratch[k]) - saving(done, k)

    return producer, cost, held, held_after


def peak(order, cost) -> int:
    done, worst = 0, 0
    for k in order:
        worst = max(worst, cost(done, k))
        done |= 1 << k
    return worst


def memory_order(n_tensors, operators, sizes, is_const, model_inputs, model_outputs, in_place, overlaps, scratch,
                 max_states: int = 20_000) -> list[int]:
    """A topological order of `operators` ([(inputs, outputs)]) with the least peak bytes (module docstring);
    the given order where none is lower or the graph has too many cuts."""
    n = len(operators)
    producer, cost, held, held_after = _step_costs(n_tensors, operators, sizes, is_const, model_inputs, model_outputs, in_place,
                                 overlaps, scratch)
    needs = [0] * n
    for k, (ins, _) in enumerate(operators):
        for t in ins:
            if t >= 0 and producer[t] >= 0:
                needs[k] |= 1 << producer[t]
    given = list(range(n))
    layer = {0: (0, None, None, held(0))}  # done set -> (peak so far, previous set, last op, bytes held)
    history = [layer]
    for _ in range(n):
        nxt: dict = {}
        for done, (worst, _, _, held_bytes) in layer.items():
            for k in range(n):
                if done >> k & 1 or needs[k] & ~done:
                    continue
                state = done | 1 << k
                value = max(worst, cost(done, k, held_bytes))
                if state not in nxt or value < nxt[state][0]:
                    after = nxt[state][3] if state in nxt else held_after(done, k, held_bytes)
                    nxt[state] = (value, done, k, after)
        if len(nxt) > max_states:
            return given
        layer = nxt
        history.append(layer)
    full = (1 << n) - 1
    if full not in layer or layer[full][0] >= peak(given, cost):
        return given
    order, state = [], full
    for depth in range(n, 0, -1):
        _, previous, k, _ = history[depth][state]
        order.append(k)
        state = previous
    return order[::-1]


def model_order(loaded) -> list[int]:
    """memory_order of a verified, unplanned model (runtime.loader.LoadedModel). A model with variables keeps
    its order: a variable's readers must stay before its ASSIGN_VARIABLE, an order the data flow does not show."""
    if loaded.variables:
        return list(range(len(loaded.operators)))
    ops, _ = loaded.graph()
    return memory_order(len(loaded.tensors), ops, [t.nbytes for t in loaded.tensors],
                        [t.is_const for t in loaded.tensors], loaded.inputs, loaded.outputs,
                        [i.in_place_inputs for i in loaded.op_info], [i.overlap for i in loaded.op_info],
                        [i.scratch_bytes for i in loaded.op_info])
