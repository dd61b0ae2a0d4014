"""Time each operator of a model on the Numba runtime: where a model's batch-1 latency goes.

    .venv/bin/python benchmarks/op_profile.py MODEL.mfb [--repeats 300]

Each operator's kernel calls are repeated on the arena the whole model left behind (the inputs they read
are the ones a real run gives them), best of five rounds; the whole model is timed the same way. One
thread; absolute times move with the machine's load, so compare operators within one run.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def _best_of(rounds: int, repeats: int, run) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            run()
        best = min(best, (time.perf_counter() - start) / repeats)
    return best * 1e6


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a .mfb file")
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args(argv)

    from microflat.runtime import Interpreter, MicroflatError

    try:
        it = Interpreter(args.model)
    except MicroflatError as exc:
        print(f"op_profile: {exc}", file=sys.stderr)
        return 1
    m = it.model
    rng = np.random.default_rng(0)
    inputs = [rng.integers(-128, 128, m.tensors[i].shape, dtype=np.int8) if m.tensors[i].dtype == "int8"
              else rng.normal(size=m.tensors[i].shape).astype(np.float32) for i in m.inputs]
    it.invoke(*inputs)  # compiles, and leaves every tensor as a real run does
    whole = _best_of(5, args.repeats, it._invoke_all)
    print(f"{args.model}: whole model {whole:.1f} us")
    print(f"{'#':>3}  {'op':<18} {'input':<18} {'output':<18} {'us':>8} {'share':>6} {'MACs':>10}")
    for k, op in enumerate(m.operators):
        steps = it.steps[it.op_steps[k]]

        def run(steps=steps):
            for fn, fargs in steps:
                fn(*fargs)
        us = _best_of(5, args.repeats, run)
        x, y = m.tensors[int(op.inputs[0])], m.tensors[int(op.outputs[0])]
        shape = lambda t: "x".join(map(str, t.shape))  # noqa: E731
        print(f"{k:>3}  {m.opcode_name(op.opcode):<18} {shape(x):<18} {shape(y):<18} {us:>8.1f} "
              f"{us / whole:>6.1%} {m.op_info[k].macs:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
