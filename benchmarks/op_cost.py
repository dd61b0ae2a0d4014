"""What each new operator costs on a Cortex-M4: instructions per element (per MAC for TRANSPOSE_CONV and
BATCH_MATMUL), counted under QEMU.

    .venv/bin/python benchmarks/op_cost.py                      # every op, DSP and portable paths; writes
                                                                # benchmarks/results/op_cost_m4.{json,md}
    .venv/bin/python benchmarks/op_cost.py --ops SUB,GELU --paths optimized

Each op alone, at op_speed.py's shape and quantization (single_ops.build(op, "speed"); every one fits the
mps2-an386's 4 MiB of RAM, so no shape is reduced), is exported with `microflat export-c` (its example input:
the benchmark's input 0), built for the board at -O3 with -DMICROFLAT_PROFILE and run under qemu-system-arm
with benchmarks/qemu/insn_count.c, which counts the instructions executed between the markers the firmware
calls before each operator (firmware_cost.per_op_instructions; the firmware also checks its outputs against
Python's). Paths: "optimized" is the default build (the DSP extension's SMLAD/SXTB16 kernels where a kernel
has them), "portable" adds -DMICROFLAT_PORTABLE.

Units: output elements for elementwise, table and data-movement ops (input and output have the same size
there, except RESIZE, which writes 4x what it reads, STRIDED_SLICE and GATHER); input elements for the
reductions (SUM, REDUCE_MAX, MEAN: each output sums or compares hundreds of inputs, and the work is one pass
over the input; per output element is in the JSON too); MACs for TRANSPOSE_CONV and BATCH_MATMUL (as
`microflat inspect` counts them). QEMU counts instructions, not cycles: on a Cortex-M4 most take one cycle,
loads two.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import single_ops as S  # noqa: E402
from firmware_cost import build_plugin, per_op_instructions  # noqa: E402

from microflat.runtime.export_c import export  # noqa: E402

REDUCTIONS = ("SUM", "REDUCE_MAX", "MEAN")


def measure(op: str, board: str, plugin_so: Path, work: Path, paths) -> dict:
    pair = S.build(op, "speed")
    model_dir = work / "model"
    export(pair.mfb, model_dir, pair.inputs[0])
    from microflat.runtime import load_bytes

    lm = load_bytes(pair.mfb)
    out = lm.tensors[lm.outputs[0]]
    inp = lm.tensors[lm.inputs[0]]
    row = dict(op=op, mfb_opcode=S.mfb_opcode(op), shape=pair.shape, board=board, units=pair.units, unit=pair.unit,
               output_elements=int(out.size), input_elements=int(inp.size), instructions={}, per_unit={},
               per_output_element={})
    if op in REDUCTIONS:
        row["unit"], row["units"] = "input element", int(inp.size)
    elif pair.unit == "element":
        row["unit"], row["units"] = "output element", int(out.size)
    for path in paths:
        extra = "-DMICROFLAT_PORTABLE" if path == "portable" else ""
        (insns,), _ = per_op_instructions(op, model_dir, work / path, board, plugin_so, extra, 1)
        row["instructions"][path] = insns
        row["per_unit"][path] = insns / row["units"]
        row["per_output_element"][path] = insns / int(out.size)
    return row


def render(rows, board, paths) -> str:
    head = ["op", "shape", "unit", "units"] + [f"instructions ({p})" for p in paths] + [f"per unit ({p})" for p in paths]
    lines = [f"# Cortex-M4 cost per operator ({board}, -O3, QEMU instruction counts)", "",
             "Each new operator alone at op_speed.py's shape (all fit the board's RAM; none reduced), exported with "
             "`microflat export-c` and counted with benchmarks/qemu/insn_count.c between the firmware's per-operator "
             "markers. optimized: the default build (DSP-extension kernels where a kernel has them); portable: "
             "-DMICROFLAT_PORTABLE. Unit: output element, input element for the reductions (one pass over the input), "
             "MAC for TRANSPOSE_CONV and BATCH_MATMUL. Reproduce: `.venv/bin/python benchmarks/op_cost.py`.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["op"], r["shape"], r["unit"], f"{r['units']:,}"]
        cells += [f"{r['instructions'][p]:,}" for p in paths] + [f"{r['per_unit'][p]:.2f}" for p in paths]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", default=",".join(S.NEW_OPS), help="comma-separated TFLite names")
    parser.add_argument("--board", default="mps2-an386")
    parser.add_argument("--paths", default="optimized,portable", help="optimized, portable or both")
    parser.add_argument("--out", default=str(HERE / "results"), help="folder for op_cost_m4.{json,md}")
    args = parser.parse_args(argv)
    wanted = [o for o in args.ops.split(",") if o]
    unknown = sorted(set(wanted) - set(S.NEW_OPS))
    if unknown:
        parser.error(f"unknown op(s) {unknown}; choose from {list(S.NEW_OPS)}")
    paths = [p for p in args.paths.split(",") if p]
    if set(paths) - {"optimized", "portable"}:
        parser.error("--paths: optimized and/or portable")
    missing = [o for o in wanted if o not in S.available(wanted)]
    if missing:
        print(f"{', '.join(missing)}: not in microflat's format yet (runtime.ops.OP_DEFS), skipped", file=sys.stderr)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        plugin_so = build_plugin(Path(tmp))
        for op in S.available(wanted):
            rows.append(measure(op, args.board, plugin_so, Path(tmp) / op, paths))
            r = rows[-1]
            print(f"{op}: " + ", ".join(f"{p} {r['per_unit'][p]:.2f}" for p in paths) + f" instructions / {r['unit']}",
                  file=sys.stderr, flush=True)
    text = render(rows, args.board, paths)
    if missing:
        text += f"\n{', '.join(missing)}: not in microflat's format yet, not measured.\n"
    os.makedirs(args.out, exist_ok=True)
    for name, data in (("op_cost_m4.json", json.dumps(dict(board=args.board, paths=paths, not_in_format=missing,
                                                           ops=rows), indent=2) + "\n"), ("op_cost_m4.md", text)):
        path = os.path.join(args.out, name)
        with open(path + ".tmp", "w") as f:
            f.write(data)
        os.replace(path + ".tmp", path)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
