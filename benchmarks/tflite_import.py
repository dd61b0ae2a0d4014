"""The MLPerf Tiny reference .tflite files compiled by microflat: file bytes and RAM beside TFLite Micro's.

    python benchmarks/tflite_import.py [--out benchmarks/results]

For each of the four reference models (../shared/models/mlperf_tiny): the .tflite's bytes; the .mfb that
`microflat compile MODEL.tflite` writes (weights in the smallest lossless encoding the kernels run in place) and
the same with every weight dense; microflat's arena (activations and scratch, planned at compile time: the one
buffer a board allocates); and TFLite Micro's arena for the same file, as its RecordingMicroAllocator reports it
after AllocateTensors (the tflite-micro package's print_allocations): the head (activations and scratch, its own
planner's) and the tail (what TFLM keeps per model at run time: tensor and node structs, per-channel quantization
multipliers), whose sum is the arena a TFLM user must provide. microflat keeps those multipliers in the file
(flash), so its arena is compared with TFLM's head and with its total. Each model's outputs are checked equal to
TFLite Micro's on one random input before anything is reported.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from tflite_reference import reference_dir  # noqa: E402

from microflat.compiler.tflite_import import compile_tflite  # noqa: E402
from microflat.runtime import Interpreter, load_bytes  # noqa: E402
from microflat.runtime.atomic import write_atomic  # noqa: E402

MODELS = {"ad01_int8.tflite": "anomaly detection (fc_autoencoder)", "kws_ref_model.tflite": "keyword spotting (ds_cnn)",
          "pretrainedResnet_quant.tflite": "image classification (resnet8)",
          "vww_96_int8.tflite": "visual wake words (mobilenet_v1_025)"}
_PROBE = """
import sys
from tflite_micro.python.tflite_micro import runtime
runtime.Interpreter.from_bytes(open(sys.argv[1], "rb").read(), arena_size=1 << 22).print_allocations()
"""


def tflm_arena(path: str) -> dict:
    """TFLite Micro's arena for the file: head, tail and total bytes (its allocator's own report, which its C++
    prints to the process's standard streams, so read from a child process)."""
    run = subprocess.run([sys.executable, "-c", _PROBE, path], capture_output=True, text=True, check=True)
    out = run.stdout + run.stderr
    return {k: int(re.search(rf"Arena allocation {k} (\d+) bytes", out).group(1)) for k in ("total", "head", "tail")}


def measure(name: str) -> dict:
    from tflite_micro.python.tflite_micro import runtime

    path = os.path.join(reference_dir(), name)
    data = open(path, "rb").read()
    mfb, dense = compile_tflite(data), compile_tflite(data, weight_encoding="dense")
    tflm = runtime.Interpreter.from_bytes(data, arena_size=1 << 22)
    shape = tflm.get_input_details(0)["shape"]
    x = np.random.default_rng(0).integers(-128, 128, shape, dtype=np.int8)
    tflm.set_input(x, 0)
    tflm.invoke()
    if not np.array_equal(Interpreter(mfb).invoke(x)[0], tflm.get_output(0)):
        raise SystemExit(f"{name}: microflat's output differs from TFLite Micro's")
    return dict(name=name, task=MODELS[name], tflite=len(data), mfb=len(mfb), dense=len(dense),
                arena=load_bytes(mfb).arena_bytes, tflm=tflm_arena(path))


def table(rows: list[dict]) -> str:
    lines = ["| model | .tflite (bytes) | .mfb (bytes) | .mfb, weights dense | .mfb / .tflite | microflat arena | "
             "TFLM arena head | TFLM tail | TFLM total | microflat / TFLM head | microflat / TFLM total |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t = r["tflm"]
        lines.append(f"| {r['name']} ({r['task']}) | {r['tflite']:,} | {r['mfb']:,} | {r['dense']:,} | "
                     f"{r['mfb'] / r['tflite']:.2f} | {r['arena']:,} | {t['head']:,} | {t['tail']:,} | "
                     f"{t['total']:,} | {r['arena'] / t['head']:.2f} | {r['arena'] / t['total']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = parser.parse_args(argv)
    rows = [measure(name) for name in MODELS]
    text = "\n".join(["# MLPerf Tiny .tflite files compiled by microflat: bytes and arena beside TFLite Micro", "",
                      "`python benchmarks/tflite_import.py`", "", __doc__.split("\n\n", 2)[2].strip(), "",
                      table(rows), ""])
    os.makedirs(args.out, exist_ok=True)
    write_atomic(os.path.join(args.out, "tflite_import.md"), text.encode())
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
