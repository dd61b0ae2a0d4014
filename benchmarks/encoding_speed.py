"""Speed of each weight encoding against dense int8, per layer, on the Numba and C kernels.

    .venv/bin/python benchmarks/encoding_speed.py [--models lenet300 lenet5 ds_cnn] [--repeats 30]

Each model is pruned to 90% zeros (global magnitude, one shot) and clustered
to 16 values (linear init), then compiled five times from the same quantized
graph: dense int8; packed int4 (weights quantized to 4 bits); a palette
(dense layout); sparse; and auto (what the compiler picks). Every conv,
depthwise and fully connected op is timed alone on the arena (its kernel
calls repeated, the minimum of --repeats runs of the median-sized batch of
calls), and reported as a ratio to the dense kernel in the same run: below 1
is faster than dense. Ratios, not times: the machine is shared and noisy.
Nothing is asserted; the tests check that every encoding is bit-exact.
"""

from __future__ import annotations

import argparse
import time

import torch

from microflat.compiler import zoo
from microflat.compiler.api import compile_model
from microflat.compiler.compress import cluster, prune
from microflat.runtime import Interpreter

MODES = [("dense", dict(weight_encoding="dense")), ("int4", dict(weight_encoding="int4", weight_bits=4)),
         ("palette", dict(weight_encoding="palette")), ("sparse", dict(weight_encoding="sparse")),
         ("auto", dict(weight_encoding="auto"))]
WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def compressed(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = zoo.load(name, trained=False).eval()
    prune.magnitude(model, 0.9, scope="global")
    cluster.apply(model, 16)
    prune.finalize(model)
    return model


def op_seconds(interp: Interpreter, k: int, repeats: int) -> float:
    """The fastest of ``repeats`` timings of operator k's kernel calls (each timing runs them enough times)."""
    steps = interp.steps[interp.op_steps[k]]
    inner = 1
    while True:  # calibrate: at least ~2 ms per timing
        t = time.perf_counter()
        for _ in range(inner):
            for fn, args in steps:
                fn(*args)
        if time.perf_counter() - t > 2e-3 or inner > 1 << 16:
            break
        inner *= 2
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(inner):
            for fn, args in steps:
                fn(*args)
        best = min(best, (time.perf_counter() - t) / inner)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["lenet300", "lenet5", "ds_cnn"])
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args(argv)
    print("| model | op | layer | MACs | backend | dense µs | " + " | ".join(f"{m}" for m, _ in MODES[1:])
          + " | auto picks |")
    print("|" + "---|" * (7 + len(MODES) - 1))
    for name in args.models:
        model = compressed(name)
        x = zoo.inputs(name, 16, 0, "train")
        compiled = {m: compile_model(model, (x[:1],), [x], progress=False, **kw) for m, kw in MODES}
        files = {m: c.data for m, c in compiled.items()}
        xs = compiled["dense"].to_physical([x[:1]])[0].numpy()
        for backend in ("numba", "c"):
            interps = {m: Interpreter(d, backend=backend) for m, d in files.items()}
            for it in interps.values():
                it.invoke(xs)  # fills the arena with real activations; compiles nothing new
            ref = interps["dense"].model
            for k, op in enumerate(ref.operators):
                opname = ref.opcode_name(op.opcode)
                if opname not in WEIGHTED:
                    continue
                w = ref.tensors[int(op.inputs[1])]
                times = {m: op_seconds(it, k, args.repeats) for m, it in interps.items()}
                auto_w = interps["auto"].model.tensors[int(op.inputs[1])]
                pick = auto_w.encoding.kind if auto_w.encoding is not None else "dense"
                ratios = " | ".join(f"{times[m] / times['dense']:.2f}" for m, _ in MODES[1:])
                print(f"| {name} | {opname} | {w.name} | {ref.op_info[k].macs:,} | {backend} | "
                      f"{1e6 * times['dense']:.1f} | {ratios} | {pick} |")
        sizes = ", ".join(f"{m} {len(d):,} B" for m, d in files.items())
        print(f"\n{name} files: {sizes}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
