"""Where a .mfb's bytes go: the flatbuffer's bytes per operator, and the file against its stored constants.

    python benchmarks/file_bytes.py [--out results/file_bytes.md] [--compress]

For every zoo model (untrained: seeded and calibrated on 64 samples of its input distribution, as the tests
compile them; the file's size does not depend on training) and for a 3,106-parameter digits CNN, dense and
with 4-bit weights, it prints: operators, the flatbuffer's bytes (the file less the 32-byte header, the
constant segment and its alignment), bytes per operator, the stored constants, and the file over the
constants; with every tensor name kept (the default) and with --strip-names (the inputs' and outputs'
names only).

--compress also trains the digits CNN on scikit-learn's digits and compresses it through compress.pipeline
(80% pruned, 16 clusters, QAT: deep_compression's steps at a sparsity a 3,000-parameter model survives; at
its 95% the CNN falls to chance), and prints how much each step shrank the file against how much it shrank
the stored constants.

Run from a checkout of an earlier revision (PYTHONPATH at its folders), it measures that revision: a
revision without strip_names prints "-" in those columns.
"""

from __future__ import annotations

import argparse
import inspect

import os
import sys

import torch

from microflat.compiler import compile_model, zoo
from microflat.runtime.inspect_model import summary
from microflat.runtime.loader import load_bytes

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
from model_builders import digits_cnn  # noqa: E402  (the small model, written once)
from zoo_files import compile_zoo_model  # noqa: E402  (the zoo compiled as the tests compile it)

CAN_STRIP = "strip_names" in inspect.signature(compile_model).parameters


def cases():
    """(label, compile(**options) -> .mfb bytes, compile options)."""
    for name in zoo.ZOO:
        yield name, lambda name=name, **o: compile_zoo_model(name, **o), {}
    torch.manual_seed(0)
    x = torch.rand(64, 1, 8, 8)

    def digits(**o):
        return compile_model(digits_cnn(), (x[:1],), [x[i:i + 16] for i in range(0, 64, 16)], progress=False,
                             **o).data

    yield "digits_cnn (3,106 parameters)", digits, {}
    yield "digits_cnn, 4-bit weights", digits, dict(weight_bits=4)


def measure(compile_file, options, strip: bool):
    if strip and not CAN_STRIP:
        return None
    data = compile_file(**options, **(dict(strip_names=True) if strip else {}))
    s = summary(load_bytes(data))
    fb, ops = s["file_breakdown"]["flatbuffer"], len(s["ops"])
    return dict(ops=ops, flatbuffer=fb, per_op=fb / ops, constants=s["weight_bytes"], file=s["file_bytes"])


def compress_rows(strip: bool):
    """The digits CNN, trained, then pruned, clustered and QAT-trained: pipeline's Rows, the baseline first."""
    from microflat.compiler import datasets, training
    from microflat.compiler.compress import pipeline, recipe

    train, test = datasets.load("digits", "train"), datasets.load("digits", "test")
    torch.manual_seed(0)
    model = digits_cnn().train()
    training.fit(model, *train, epochs=20, lr=3e-3, progress=False)
    extra = dict(strip_names=True) if strip else {}
    steps = recipe.Recipe(steps=[recipe.Prune(sparsity=0.8, scope="global", epochs=10),
                                 recipe.Cluster(clusters=16, epochs=3), recipe.QAT(epochs=2)])
    _, rows, _ = pipeline.compress_arrays(model.eval(), (train[0][:1],), train, test, steps, progress=False,
                                          log=lambda *_: None, **extra)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", metavar="FILE.md", help="also write the table here")
    parser.add_argument("--compress", action="store_true", help="also the default compress recipe's steps")
    args = parser.parse_args(argv)
    lines = ["| model | ops | flatbuffer B | B/op | stripped: flatbuffer B | B/op | constants B | file / constants "
             "| stripped |", "|---|---|---|---|---|---|---|---|---|"]
    for label, compile_file, options in cases():
        kept, stripped = measure(compile_file, options, False), measure(compile_file, options, True)
        s = stripped or {}
        dash = "-"
        lines.append(f"| {label} | {kept['ops']} | {kept['flatbuffer']:,} | {kept['per_op']:.0f} | "
                     f"{s.get('flatbuffer', dash):{',' if s else ''}} | "
                     f"{format(s['per_op'], '.0f') if s else dash} | {kept['constants']:,} | "
                     f"{kept['file'] / kept['constants']:.2f} | "
                     f"{format(s['file'] / s['constants'], '.2f') if s else dash} |")
        print(lines[-1], flush=True)
    if args.compress:
        lines += ["", "| digits CNN, compressed | int8 top-1 | file B | constants B | file shrunk | "
                  "constants shrunk |", "|---|---|---|---|---|---|"]
        for strip in (False, True) if CAN_STRIP else (False,):
            rows = compress_rows(strip)
            for r in rows:
                lines.append(f"| {r.step}{' (stripped)' if strip else ''} | {r.int8_accuracy:.3f} | "
                             f"{r.file_bytes:,} | {r.weight_bytes:,} | {rows[0].file_bytes / r.file_bytes:.2f}x | "
                             f"{rows[0].weight_bytes / r.weight_bytes:.2f}x |")
                print(lines[-1], flush=True)
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
