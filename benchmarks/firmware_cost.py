"""What a model costs on a Cortex-M: flash, RAM and instructions per MAC, for the MLPerf Tiny architectures.

For each model (compiled from the zoo, untrained: the cost does not depend
on the weights' values, only on their shapes and encodings):

* size: `microflat export-c`, the Cortex-M firmware built for the board at
  -Os, then `arm-none-eabi-size -A`. Flash = .isr_vector + .text + .rodata
  + .ARM.exidx + .data (its initial values); the model file lies in .rodata.
  The firmware links the model's operators alone (the Makefile's OPS=model);
  "all ops" is the .text of the same firmware linking every one (OPS=all).
  RAM = .data + .bss (the arena lies in .bss) + the stack the run used
  (measured: startup.c paints the stack, the firmware reports its peak).
* cost: the firmware built at -O3 with -DMICROFLAT_PROFILE (operators run
  one by one, a marker call before each), run under qemu-system-arm with
  benchmarks/qemu/insn_count.c, a TCG plugin that counts executed
  instructions at each marker. Instructions per MAC, whole network and by
  layer kind (1x1 pointwise conv, depthwise conv, other conv, FC), against
  the MACs `microflat inspect` reports.

QEMU counts instructions, not cycles: on a Cortex-M4 most integer
instructions take one cycle, loads two, so cycles per MAC are somewhat
higher than instructions per MAC.

    .venv/bin/python benchmarks/firmware_cost.py [--board mps2-an386] [--models ds_cnn ...] [--json out.json]
        [--profile N]   # and the N source lines that execute the most instructions

With --layers, one layer at a time instead (LAYERS: DS-CNN's shapes), each
compiled from PyTorch with int8 and with int16 activations (TFLite's 16x8
mode), dense weights, and counted on both paths; the table gives the layer
kernel's instructions per MAC (its operator alone, between the markers):

    .venv/bin/python benchmarks/firmware_cost.py --layers [conv3x3 depthwise3x3 pointwise fc]
        [--widths int8 int16] [--out benchmarks/results/firmware_cost_16x8.md]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from zoo_files import compile_zoo_model  # noqa: E402  (the zoo as the tests compile it)
from microflat.runtime import load_bytes  # noqa: E402
from microflat.runtime.export_c import export  # noqa: E402
from microflat.runtime.inspect_model import summary  # noqa: E402

MLPERF = ["ds_cnn", "mobilenet_v1_025", "resnet8", "fc_autoencoder"]
CORTEX_M = ROOT / "firmware_examples" / "cortex-m"
PLUGIN_SOURCE = ROOT / "benchmarks" / "qemu" / "insn_count.c"
FLASH_SECTIONS = (".isr_vector", ".text", ".rodata", ".ARM.exidx", ".data")


def sh(cmd, **kw) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout + result.stderr


def build(model_dir: Path, out: Path, board: str, opt: str, extra: str = "", ops: str = "model") -> Path:
    sh(["make", "-s", "-C", str(CORTEX_M), f"BOARD={board}", f"MODEL_DIR={model_dir}", f"OUT={out}", f"OPT={opt}",
        f"EXTRA_CFLAGS={extra}", f"OPS={ops}"])
    return out / "firmware.elf"


def qemu(elf: Path, board: str, plugin: str | None = None) -> str:
    cmd = ["qemu-system-arm", "-M", board, "-nographic", "-monitor", "none", "-semihosting-config",
           "enable=on,target=native", "-kernel", str(elf)]
    if plugin:
        cmd += ["-plugin", plugin]
    return sh(cmd, timeout=3600)


def sections(elf: Path) -> dict:
    out = {}
    for line in sh(["arm-none-eabi-size", "-A", str(elf)]).splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out


def layer_kind(lm, op) -> str:
    name = lm.opcode_name(op.opcode)
    if name == "FULLY_CONNECTED":
        return "fc"
    if name == "DEPTHWISE_CONV_2D":
        return "depthwise"
    if name == "CONV_2D":
        w = lm.tensors[int(op.inputs[1])]
        return "pointwise 1x1" if w.shape[1] == w.shape[2] == 1 else "conv"
    if name == "UNIDIRECTIONAL_SEQUENCE_LSTM":
        return "lstm"
    if name == "SVDF":
        return "svdf"
    return "other"


def hot_spots(elf: Path, blocks_path: Path, top: int) -> list[tuple[int, str]]:
    """Executed instructions by source line (the line of each translated block's first instruction; with
    inlining, the innermost inlined one), most first."""
    by_addr = defaultdict(int)
    for line in blocks_path.read_text().splitlines():
        addr, n, runs = line.split()
        by_addr[int(addr, 16)] += int(n) * int(runs)
    addrs = sorted(by_addr)
    where = [w.split()[0] for w in sh(["arm-none-eabi-addr2line", "-e", str(elf)] + [hex(a) for a in addrs]).splitlines()]
    by_line = defaultdict(int)
    for a, w in zip(addrs, where):
        by_line[w.split("/")[-1]] += by_addr[a]
    return sorted(((v, k) for k, v in by_line.items()), reverse=True)[:top]


def build_plugin(folder: Path) -> Path:
    """benchmarks/qemu/insn_count.c compiled into folder: the TCG plugin that counts instructions at each marker."""
    plugin_so = Path(folder) / "insn_count.so"
    sh(["gcc", "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", str(PLUGIN_SOURCE), "-o", str(plugin_so)])
    return plugin_so


def per_op_instructions(name: str, model_dir: Path, work: Path, board: str, plugin_so: Path, extra: str,
                        operators: int, profile: int = 0) -> tuple[list[int], Path]:
    """The exported model in model_dir built at -O3 with -DMICROFLAT_PROFILE (and extra) and run under QEMU with
    the plugin: (instructions executed by each operator, in order; the ELF). Raises RuntimeError when the firmware's
    outputs differ from Python's or the markers do not match the operators."""
    elf3 = build(model_dir, work / "o3", board, "-O3", f"-DMICROFLAT_PROFILE {extra}" + (" -g" if profile else ""))
    marker = next(line.split()[0] for line in sh(["arm-none-eabi-nm", str(elf3)]).splitlines()
                  if line.endswith(" profile_mark"))
    counts_path = work / "counts.txt"
    blocks_path = work / "blocks.txt"
    plugin = f"{plugin_so},marker=0x{marker},out={counts_path}" + (f",blocks={blocks_path}" if profile else "")
    run3 = qemu(elf3, board, plugin)
    if "expected: match" not in run3:
        raise RuntimeError(f"{name}: the profiled firmware's outputs differ from Python's:\n{run3}")
    marks = [int(v) for v in counts_path.read_text().split("\n") if v and not v.startswith("total")]
    per_op = [b - a for a, b in zip(marks, marks[1:])]
    if len(per_op) != operators:
        raise RuntimeError(f"{name}: {len(marks)} markers for {operators} operators")
    return per_op, elf3


def measure(name: str, data: bytes, board: str, plugin_so: Path, work: Path, portable: bool,
            profile: int = 0) -> dict:
    model_dir = work / "model"
    export(bytes(data), model_dir)
    lm = load_bytes(data)
    s = summary(lm)
    extra = "-DMICROFLAT_PORTABLE" if portable else ""
    # size, at -Os
    elf = build(model_dir, work / "os", board, "-Os", extra)
    sec = sections(elf)
    run = qemu(elf, board)
    if "expected: match" not in run:
        raise RuntimeError(f"{name}: the firmware's outputs differ from Python's:\n{run}")
    code_all_ops = sections(build(model_dir, work / "os_all_ops", board, "-Os", extra, ops="all")).get(".text", 0)
    stack = int(re.search(r"stack bytes (\d+)", run).group(1))
    arena = int(re.search(r"arena bytes (\d+)", run).group(1))
    # cost, at -O3
    per_op, elf3 = per_op_instructions(name, model_dir, work, board, plugin_so, extra, len(lm.operators), profile)
    blocks_path = work / "blocks.txt"
    by_kind = defaultdict(lambda: [0, 0])
    for k, op in enumerate(lm.operators):
        kind = layer_kind(lm, op)
        by_kind[kind][0] += per_op[k]
        by_kind[kind][1] += s["ops"][k]["macs"]
    insns = sum(per_op)
    if profile:
        print(f"{name} ({'portable' if portable else 'optimized'}): where the instructions go", file=sys.stderr)
        for n, line in hot_spots(elf3, blocks_path, profile):
            print(f"  {n / s['macs']:6.3f} per MAC  {line}", file=sys.stderr)
    return {
        "model": name, "board": board, "path": "portable" if portable else "optimized",
        "macs": s["macs"], "instructions": insns, "instructions_per_mac": insns / s["macs"],
        "by_kind": {k: {"instructions": v[0], "macs": v[1], "per_mac": (v[0] / v[1]) if v[1] else None}
                    for k, v in sorted(by_kind.items())},
        "model_bytes": len(data), "arena_bytes": arena, "stack_bytes": stack,
        "flash_bytes": sum(sec.get(k, 0) for k in FLASH_SECTIONS),
        "code_bytes": sec.get(".text", 0), "code_bytes_all_ops": code_all_ops, "rodata_bytes": sec.get(".rodata", 0),
        "ram_bytes": sec.get(".data", 0) + sec.get(".bss", 0) + stack,
        "sections": sec,
    }


# One-layer models (--layers): PyTorch module, input shape (NCHW), what the table calls it.
LAYERS = {
    "conv3x3": (lambda nn: nn.Conv2d(64, 64, 3, padding=1), (1, 64, 25, 5), "conv 3x3, 64 -> 64, 25x5, pad 1"),
    "depthwise3x3": (lambda nn: nn.Conv2d(64, 64, 3, padding=1, groups=64), (1, 64, 25, 5),
                     "depthwise 3x3, 64 ch, 25x5, pad 1"),
    "pointwise": (lambda nn: nn.Conv2d(64, 64, 1), (1, 64, 25, 5), "pointwise 1x1, 64 -> 64, 25x5"),
    "fc": (lambda nn: nn.Linear(256, 64), (1, 256), "fully connected 256 -> 64"),
    # a keyword spotter's recurrent layer: 40 MFCC features a frame, 64 cells, 10 frames (batch_first)
    "lstm": (lambda nn: _SequenceOutput(nn.LSTM(40, 64, batch_first=True)), (1, 10, 40),
             "LSTM 40 -> 64, 10 steps (int8: 8x8_16; int16: 16x8)"),
    # the first layer of TFLite Micro's micro_speech SVDF model: one 40-feature frame, 64 filters of rank 1 and
    # memory 8 (int8 only: TFLite's SVDF has no 16x8 form)
    "svdf": (lambda nn: _streaming_svdf(40, 64, 1, 8), (1, 40), "SVDF 40 -> 64, rank 1, memory 8, one frame"),
}
LSTM_STEPS = 10


def _streaming_svdf(inputs, units, rank, memory):
    """compiler/streaming.py's SVDF, one frame a call."""
    from microflat.compiler.streaming import SVDF

    return SVDF(inputs, units, rank=rank, memory=memory).set_streaming(True)


def _SequenceOutput(lstm):
    """nn.LSTM's output sequence alone, as a module (its forward returns (y, (h, c)))."""
    import torch

    class SequenceOutput(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = lstm

        def forward(self, x):
            return self.lstm(x)[0]

    return SequenceOutput()
WIDTHS = {"int8": "int8", "int16": "16x8"}


def compile_layer(name: str, width: str) -> bytes:
    """LAYERS[name] as a .mfb with `width` activations ("int8" or "int16"), seeded, calibrated on 64 normal
    samples, dense weights (the kernels' plain layout, whatever "auto" would choose)."""
    import torch
    from torch import nn

    from microflat.compiler import compile_model

    make, shape, _ = LAYERS[name]
    torch.manual_seed(0)
    model = make(nn).eval()
    x = torch.randn(64, *shape[1:])
    return compile_model(model, (x[:1],), [x[i:i + 16] for i in range(0, 64, 16)], activations=width,
                         weight_encoding="dense", progress=False).data


def measure_layer(name: str, width: str, data: bytes, board: str, plugin_so: Path, work: Path,
                  portable: bool) -> dict:
    """The layer's operator alone: instructions (between its markers, -O3, per_op_instructions) and MACs."""
    model_dir = work / "model"
    export(bytes(data), model_dir)
    lm = load_bytes(data)
    s = summary(lm)
    extra = "-DMICROFLAT_PORTABLE" if portable else ""
    per_op, _ = per_op_instructions(f"{name}/{width}", model_dir, work, board, plugin_so, extra, len(lm.operators))
    k = next(i for i, op in enumerate(lm.operators) if layer_kind(lm, op) != "other")
    return {"layer": name, "width": width, "board": board, "path": "portable" if portable else "optimized",
            "opcode": lm.opcode_name(lm.operators[k].opcode), "macs": s["ops"][k]["macs"],
            "instructions": per_op[k], "instructions_per_mac": per_op[k] / s["ops"][k]["macs"]}


def render_layers(rows: list[dict]) -> str:
    """Instructions per MAC of each layer: by width and path, with the DSP path's gain and 16x8 against int8."""
    cell = {(r["layer"], r["width"], r["path"]): r for r in rows}
    layers = list(dict.fromkeys(r["layer"] for r in rows))
    widths = [w for w in WIDTHS if any(r["width"] == w for r in rows)]
    columns = [(w, p) for w in widths for p in ("optimized", "portable")]
    head = ["layer", "MACs"] + [f"{WIDTHS[w]} {'DSP' if p == 'optimized' else 'portable'}" for w, p in columns]
    head += [f"{WIDTHS[w]} portable / DSP" for w in widths]
    if len(widths) == 2:
        head.append("16x8 DSP / int8 DSP")
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def per(layer, w, p):
        r = cell.get((layer, w, p))
        return r["instructions_per_mac"] if r else None

    def fmt(v, suffix=""):
        return f"{v:.2f}{suffix}" if v is not None else "-"

    for layer in layers:
        macs = next(r["macs"] for r in rows if r["layer"] == layer)
        line = [LAYERS[layer][2], f"{macs:,}"] + [fmt(per(layer, w, p)) for w, p in columns]
        for w in widths:
            d, q = per(layer, w, "optimized"), per(layer, w, "portable")
            line.append(fmt(q / d if d and q else None, "x"))
        if len(widths) == 2:
            a, b = per(layer, "int16", "optimized"), per(layer, "int8", "optimized")
            line.append(fmt(a / b if a and b else None, "x"))
        out.append("| " + " | ".join(line) + " |")
    return "\n".join(out)


def main_layers(args) -> int:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        plugin_so = build_plugin(Path(tmp))
        for name in args.layers:
            for width in args.widths:
                data = compile_layer(name, width)
                for path in args.paths:
                    work = Path(tmp) / name / width / path
                    rows.append(measure_layer(name, width, data, args.board, plugin_so, work, path == "portable"))
                    r = rows[-1]
                    print(f"{name} {width} {path}: {r['opcode']} {r['instructions']:,} instructions, "
                          f"{r['instructions_per_mac']:.2f}/MAC", file=sys.stderr)
    table = render_layers(rows)
    for r in rows:  # the LSTM's cost per time step: the figure for recurrent layers
        if r["layer"] == "lstm":
            table += (f"\n\nLSTM ({r['width']} activations, {'DSP' if r['path'] == 'optimized' else 'portable'} "
                      f"build): {r['instructions'] / LSTM_STEPS:,.0f} instructions per time step.")
    print(table)
    if args.out:
        command = ["benchmarks/firmware_cost.py", "--layers", *args.layers, "--widths", *args.widths, "--paths",
                   *args.paths, "--board", args.board, "--out", args.out]
        Path(args.out).write_text(LAYERS_HEADER.format(board=args.board, command=" ".join(command)) + table + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


LAYERS_HEADER = """# Instructions per MAC of the conv, depthwise and FC kernels, int8 and 16x8 ({board}, -O3, QEMU)

Each layer alone (DS-CNN's shapes), compiled from PyTorch with int8 activations and with int16 activations
(TFLite's 16x8 mode: int16 activations, int8 weights, int64 accumulators), dense weights; the layer's
operator counted between the firmware's markers (benchmarks/qemu/insn_count.c), its outputs checked against
the Python runtime's. DSP: the default build, the Cortex-M DSP extension's inner loops (kernels/kernel_paths.h:
SMLAD for int8, SMLALD for 16x8); portable: -DMICROFLAT_PORTABLE. QEMU counts instructions, not cycles.
Reproduce: `.venv/bin/python {command}`.

"""


def render(rows: list[dict]) -> str:
    out = ["| model | path | MACs | instructions / MAC | 1x1 | depthwise | conv | FC | flash B (code + model) "
           "| code B, all ops | RAM B (arena + stack + other) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        kinds = r["by_kind"]

        def per(k):
            v = kinds.get(k, {}).get("per_mac")
            return f"{v:.2f}" if v else "-"
        other = r["ram_bytes"] - r["arena_bytes"] - r["stack_bytes"]
        out.append(f"| {r['model']} | {r['path']} | {r['macs']:,} | {r['instructions_per_mac']:.2f} | {per('pointwise 1x1')} "
                   f"| {per('depthwise')} | {per('conv')} | {per('fc')} | {r['flash_bytes']:,} ({r['code_bytes']:,} + "
                   f"{r['model_bytes']:,}) | {r['code_bytes_all_ops']:,} "
                   f"| {r['ram_bytes']:,} ({r['arena_bytes']:,} + {r['stack_bytes']:,} + {other:,}) |")
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--board", default="mps2-an386")
    parser.add_argument("--models", nargs="+", default=MLPERF)
    parser.add_argument("--paths", nargs="+", default=["portable", "optimized"], choices=("portable", "optimized"))
    parser.add_argument("--json", metavar="OUT.json")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="also print the N source lines that execute the most instructions")
    parser.add_argument("--layers", nargs="*", choices=sorted(LAYERS), metavar="LAYER",
                        help=f"one-layer models instead of --models ({', '.join(LAYERS)}; none named: all)")
    parser.add_argument("--widths", nargs="+", default=list(WIDTHS), choices=list(WIDTHS),
                        help="--layers: activation widths")
    parser.add_argument("--out", metavar="OUT.md", help="--layers: also write the table, with its header, here")
    args = parser.parse_args(argv)
    if args.layers is not None:
        args.layers = args.layers or list(LAYERS)
        return main_layers(args)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        plugin_so = build_plugin(Path(tmp))
        for name in args.models:
            data = compile_zoo_model(name)
            for path in args.paths:
                work = Path(tmp) / name / path
                rows.append(measure(name, data, args.board, plugin_so, work, path == "portable", args.profile))
                r = rows[-1]
                print(f"{name} {path}: {r['instructions_per_mac']:.2f} instructions/MAC, flash {r['flash_bytes']}, "
                      f"RAM {r['ram_bytes']}", file=sys.stderr)
    print(render(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
