"""Instructions per inference on AArch64, microflat's Numba runtime against LiteRT XNNPACK, counted under QEMU.

    python benchmarks/arm_instructions.py [--models KWS,VWW,IC,AD] [--cpus cortex-a72,cortex-a76] [--calls 3]

Times under emulation mean nothing; executed instructions do. Each runtime runs in an arm64 Python under
qemu-aarch64 (build/aarch64-python, with ai-edge-litert's aarch64 wheel: `make build/aarch64-python-bench`)
emulating the CPU, with benchmarks/qemu/insn_count.c counting every guest instruction. The worker makes a
marker system call (sched_get_priority_max with an argument no scheduler has) before and after `--calls`
calls of each model, after two warm-up calls, so start-up, loading and JIT compilation fall outside the
count; the figure is the instructions between the markers over the calls, Python's per-call overhead
included, as a user pays it.

microflat compiles the kernels for the CPU (NUMBA_CPU_NAME, NUMBA_CPU_FEATURES: tests/cpu_targets.py) and
runs the zoo model (the MLPerf Tiny architecture, the same layers and MACs); LiteRT runs the reference int8
.tflite file with XNNPACK (its default delegate, one thread; XNNPACK picks its kernels from the hardware
capabilities QEMU gives the emulated CPU), tensor indices looked up once. Both get the same random int8
input. Printed: a markdown table of instructions per inference and their ratio, per model and CPU, then the
counts as JSON; with --out FILE.md the table is also written there, under a line naming what ran.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from cpu_targets import AARCH64_TARGETS, aarch64_command, guest_project  # noqa: E402
from firmware_cost import build_plugin  # noqa: E402  (benchmarks/qemu/insn_count.c, compiled)
from peer_runtimes import MODELS, _random_int8  # noqa: E402  (the models, their files, the inputs)
from zoo_files import compile_zoo_model  # noqa: E402

SYSROOT = ROOT / "build" / "aarch64-python-bench"
SCHED_GET_PRIORITY_MAX = 125  # AArch64's system call number (asm-generic/unistd.h)
MARK = 0x6D66  # its argument: no scheduling policy has this number, so the call does nothing but fail

WORKER = r"""
import os, sys
import numpy as np
runtime, calls, jobs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]

def mark():
    try:
        os.sched_get_priority_max(MARK)
    except OSError:
        pass

def session(path):
    if runtime == "microflat":
        from microflat.runtime import Interpreter
        it = Interpreter(path)
        return lambda x: it.invoke(x)
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    it = Interpreter(model_path=path, num_threads=1, experimental_op_resolver_type=OpResolverType.AUTO)
    it.allocate_tensors()
    i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    def run(x):
        it.set_tensor(i, x)
        it.invoke()
        return it.get_tensor(o)
    return run

for path, x_path in zip(jobs[::2], jobs[1::2]):
    run, x = session(path), np.load(x_path)
    run(x), run(x)
    mark()
    for _ in range(calls):
        run(x)
    mark()
print("done")
""".replace("MARK", str(MARK))


def count(runtime: str, cpu: str, jobs: list, calls: int, plugin: Path, work: Path) -> list:
    """Instructions per call of each (model file, input file) in `jobs`, one guest process for all."""
    out = work / f"{runtime}-{cpu}.counts"
    argv, env = aarch64_command(cpu, work / f"numba-{cpu}", work / "guest", python=SYSROOT)
    plugin_arg = f"{plugin},syscall={SCHED_GET_PRIORITY_MAX},sysarg={MARK},out={out}"
    done = subprocess.run([argv[0], "-plugin", plugin_arg, *argv[1:], "-c", WORKER, runtime, str(calls),
                           *[str(p) for job in jobs for p in job]], capture_output=True, text=True, env=env)
    if done.returncode != 0 or "done" not in done.stdout:
        raise RuntimeError(f"{runtime} on {cpu}: {done.stderr[-2000:]}")
    marks = [int(line) for line in out.read_text().splitlines() if not line.startswith("total")]
    if len(marks) != 2 * len(jobs):
        raise RuntimeError(f"{runtime} on {cpu}: {len(marks)} markers for {len(jobs)} models")
    return [(marks[2 * k + 1] - marks[2 * k]) / calls for k in range(len(jobs))]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="KWS,VWW,IC,AD")
    parser.add_argument("--cpus", default=",".join(AARCH64_TARGETS))
    parser.add_argument("--calls", type=int, default=3, help="counted calls per model, after two warm-up calls")
    parser.add_argument("--out", help="also write the table to this markdown file")
    args = parser.parse_args(argv)
    models = [m for m in MODELS if m.key in args.models.split(",") and m.tflite]
    cpus = args.cpus.split(",")
    if not (SYSROOT / "root").is_dir():
        parser.error(f"needs {SYSROOT}: make {SYSROOT.relative_to(ROOT)}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        plugin = build_plugin(work)
        guest_project(work / "guest")
        mine, theirs = [], []
        for m in models:
            from ai_edge_litert.interpreter import Interpreter

            shape = Interpreter(model_path=m.tflite_path).get_input_details()[0]["shape"]
            x = work / f"{m.key}.npy"
            np.save(x, _random_int8(shape, 1))
            (work / f"{m.key}.mfb").write_bytes(compile_zoo_model(m.zoo))
            mine.append((work / f"{m.key}.mfb", x))
            theirs.append((m.tflite_path, x))
        rows = {}
        for cpu in cpus:
            rows[cpu] = (count("microflat", cpu, mine, args.calls, plugin, work),
                         count("litert", cpu, theirs, args.calls, plugin, work))
        lines = ["| model | " + " | ".join(f"{c}: microflat / XNNPACK (M instructions)" for c in cpus) + " |",
                 "|---" * (1 + len(cpus)) + "|"]
        for k, m in enumerate(models):
            cells = [f"{rows[c][0][k] / 1e6:.2f} / {rows[c][1][k] / 1e6:.2f} = {rows[c][0][k] / rows[c][1][k]:.2f}"
                     for c in cpus]
            lines.append(f"| {m.key} | " + " | ".join(cells) + " |")
        print("\n".join(lines))
        if args.out:
            qemu = subprocess.run(["qemu-aarch64", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
            argv, env = aarch64_command(cpus[0], work / "numba-versions", work / "guest", python=SYSROOT)
            versions = subprocess.run([*argv, "-c", "import ai_edge_litert, numba; "
                                       "print(numba.__version__, ai_edge_litert.__version__)"],
                                      env=env, capture_output=True, text=True).stdout.split()
            Path(args.out).write_text(
                f"Instructions executed per inference under {qemu}, batch 1, one thread, after two warm-up calls "
                f"(mean of {args.calls}): microflat's Numba runtime (Numba {versions[0]}) on the zoo model, LiteRT "
                f"{versions[1]} with XNNPACK on the MLPerf Tiny reference .tflite file, the same int8 input. "
                f"`python benchmarks/arm_instructions.py --out {args.out}`\n\n" + "\n".join(lines) + "\n")
        print(json.dumps({c: {m.key: [rows[c][0][k], rows[c][1][k]] for k, m in enumerate(models)} for c in cpus}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
