"""Operator reordering (compiler/schedule.py): the order has the least peak of every topological order.

The reference enumerates every topological order of small random graphs and prices each with its own
reading of the cost model (schedule.py's docstring), written here without the code under test.
"""

import itertools
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from microflat.compiler import schedule
from microflat.compiler.serialize import serialize
from microflat.compiler.writer import ModelWriter
from microflat.runtime import Interpreter, load_bytes
from microflat.runtime.loader import LoadedModel


def align16(n):
    return -(-n // 16) * 16


@st.composite
def graphs(draw):
    """A random DAG: tensor 0 is the model input; each op reads one or two earlier tensors and writes one."""
    sizes = [draw(st.integers(1, 200))]
    ops, in_place, overlaps, scratch = [], [], [], []
    for k in range(draw(st.integers(1, 7))):
        ins = draw(st.lists(st.integers(0, len(sizes) - 1), min_size=1, max_size=2, unique=True))
        out = len(sizes)
        same = draw(st.booleans())
        sizes.append(sizes[ins[0]] if same else draw(st.integers(1, 200)))
        ops.append((ins, [out]))
        in_place.append((0,) if same and draw(st.booleans()) else ())
        overlaps.append((draw(st.integers(1, 200)), draw(st.sampled_from([1, 3, 16, 24])))
                        if not in_place[-1] and draw(st.booleans()) else None)
        scratch.append(draw(st.sampled_from([0, 0, 40])))
    produced = {o for _, (o,) in ops}
    read = {t for ins, _ in ops for t in ins}
    outputs = sorted((produced - read) | set(draw(st.lists(st.sampled_from(sorted(produced)), max_size=1))))
    return sizes, ops, in_place, overlaps, scratch, outputs


def reference_peak(order, sizes, ops, in_place, overlaps, scratch, outputs):
    """The peak bytes of running `ops` in `order`, straight from the cost model's definition."""
    protected = {0, *outputs}
    produced_at = {0: -1, **{outs[0]: order.index(k) for k, (_, outs) in enumerate(ops)}}
    last_read = {t: max([order.index(k) for k, (ins, _) in enumerate(ops) if t in ins], default=-1)
                 for t in produced_at}
    peak = 0
    for step, k in enumerate(order):
        ins, (out,) = ops[k]
        alive = [t for t, p in produced_at.items()
                 if p <= step and (t in outputs or last_read[t] >= step)]
        total = sum(align16(sizes[t]) for t in alive) + align16(scratch[k])
        dies = lambda t: t not in protected and last_read[t] == step and ins.count(t) == 1  # noqa: E731
        if in_place[k] and dies(ins[0]) and out not in protected and sizes[ins[0]] == sizes[out]:
            total -= align16(sizes[out])
        elif overlaps[k] is not None and dies(ins[0]) and out not in protected:
            d, q = overlaps[k]
            step_bytes = q * 16 // math.gcd(q, 16)
            distance = -(-d // step_bytes) * step_bytes
            a, b = align16(sizes[ins[0]]), align16(sizes[out])
            total -= max(0, a + b - max(a + distance, b))
        peak = max(peak, total)
    return peak


def topological_orders(ops):
    producer = {outs[0]: k for k, (_, outs) in enumerate(ops)}
    for order in itertools.permutations(range(len(ops))):
        seen = set()
        ok = True
        for k in order:
            if any(producer.get(t, -1) not in seen and t in producer for t in ops[k][0]):
                ok = False
                break
            seen.add(k)
        if ok:
            yield list(order)


@settings(max_examples=200, deadline=None)
@given(g=graphs())
def test_memory_order_reaches_the_least_peak_of_all_topological_orders(g):
    sizes, ops, in_place, overlaps, scratch, outputs = g
    is_const = [False] * len(sizes)
    order = schedule.memory_order(len(sizes), ops, sizes, is_const, [0], outputs, in_place, overlaps, scratch)
    orders = list(topological_orders(ops))
    assert order in orders
    best = min(reference_peak(o, sizes, ops, in_place, overlaps, scratch, outputs) for o in orders)
    assert reference_peak(order, sizes, ops, in_place, overlaps, scratch, outputs) == best
    given_order = list(range(len(ops)))
    if reference_peak(given_order, sizes, ops, in_place, overlaps, scratch, outputs) == best:
        assert order == given_order  # the emitted order stays unless another one is lower


def _two_towers():
    """x -> pad (4 KiB) -> max pool (16 B) twice, then add: emitted tower by tower's first op, so both 4 KiB
    pads are alive together unless the writer reorders."""
    w = ModelWriter()
    x = w.add_tensor("x", "int8", (1, 8, 8, 16), scale=0.1, zero_point=0)
    pads, pools = [], []
    for i in range(2):
        p = w.add_tensor(f"pad{i}", "int8", (1, 16, 16, 16), scale=0.1, zero_point=0)
        w.add_operator("PAD", [x], [p], "PadOptions", dict(pad_before=[0, 4 + i, 4 - i, 0], pad_after=[0, 4 - i, 4 + i, 0]))
        pads.append(p)
    for i, p in enumerate(pads):
        q = w.add_tensor(f"pool{i}", "int8", (1, 1, 1, 16), scale=0.1, zero_point=0)
        w.add_operator("MAX_POOL_2D", [p], [q], "Pool2DOptions", dict(filter_h=16, filter_w=16, stride_h=16, stride_w=16))
        pools.append(q)
    y = w.add_tensor("y", "int8", (1, 1, 1, 16), scale=0.1, zero_point=0)
    w.add_operator("ADD", pools, [y], "AddOptions", dict(input1_mult=2**30, input1_shift=0, input2_mult=2**30,
                                                         input2_shift=0, output_mult=2**30, output_shift=-19))
    w.set_io([x], [y])
    return w


def test_writer_reorders_two_towers_and_the_file_runs_the_same():
    emitted = _two_towers()
    unplanned = LoadedModel(bytearray(serialize(emitted._model(None, bytes(32)), emitted.buffers)), verify_plan=False)
    plan, emitted_arena, _ = emitted.plan(unplanned)
    in_emitted_order = serialize(emitted._model(plan, bytes(32)), emitted.buffers)
    data = _two_towers().to_bytes()
    m = load_bytes(data)
    names = [m.tensors[int(op.outputs[0])].name for op in m.operators]
    assert names == ["pad0", "pool0", "pad1", "pool1", "y"]
    print(f"\ntwo towers: arena {emitted_arena} B in the emitted order, {m.arena_bytes} B reordered")
    assert m.arena_bytes < emitted_arena
    x = np.random.default_rng(0).integers(-128, 128, (3, 8, 8, 16), dtype=np.int8)
    for backend in ("numba", "c"):
        want = Interpreter(in_emitted_order, backend=backend).invoke(x)[0]
        np.testing.assert_array_equal(Interpreter(data, backend=backend).invoke(x)[0], want)
