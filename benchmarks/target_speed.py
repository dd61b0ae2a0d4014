"""The Numba runtime compiled for other x86 CPUs than this one, timed on this one, against the host's path.

    python benchmarks/target_speed.py [--models ds_cnn,mobilenet_v1_025,resnet8]
                                      [--targets host,haswell,alderlake-evex]
                                      [--calls 200] [--rounds 3]

Most users' machines have no AVX-512: a laptop is AVX2. Numba compiles for the CPU named by NUMBA_CPU_NAME,
with the features in NUMBA_CPU_FEATURES (the name alone keeps the host's features, AVX-512 included), so a
process started with Haswell's name and feature list runs the code an AVX2 machine would, on this machine.
The AVX-VNNI path (Alder Lake and later client CPUs) runs as alderlake-evex: the same instructions in the
EVEX encoding this CPU has (tests/cpu_targets.py says why), so its times are this CPU's, not Alder Lake's.
Each target runs in a process of its own with its own NUMBA_CACHE_DIR (a cache filled for one CPU is never
read for another) and reports its vector path (kernels.vector_ir.TARGET); the targets take turns in rounds,
so the machine's load falls on all alike. Printed: each model's batch-1 latency per target (the least of
the rounds' medians) with the path it ran, and its ratio to the host's. Times only compare within one run.
The CPUs' feature lists are tests/cpu_targets.py's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
from cpu_targets import TARGETS, environment  # noqa: E402  (the CPUs' feature lists, written once)
from zoo_files import compile_zoo_model  # noqa: E402  (the zoo compiled as the tests compile it)

WORKER = r"""
import json, statistics, sys, time
import numpy as np
from microflat.kernels import vector_ir
from microflat.runtime import Interpreter
path, calls = sys.argv[1], int(sys.argv[2])
it = Interpreter(path)
d = it.input_details[0]
x = np.random.default_rng(0).integers(-128, 128, size=d["shape"]).astype(np.int8)
for _ in range(20):
    it.invoke(x)
times = []
for _ in range(calls):
    t = time.perf_counter()
    it.invoke(x)
    times.append(time.perf_counter() - t)
print(json.dumps({"path": vector_ir.TARGET, "median": statistics.median(times)}))
"""


def compile_zoo(name: str, folder: str) -> str:
    path = os.path.join(folder, f"{name}.mfb")
    with open(path, "wb") as f:
        f.write(compile_zoo_model(name))
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="ds_cnn,mobilenet_v1_025,resnet8")
    parser.add_argument("--targets", default="host,haswell,alderlake-evex")
    parser.add_argument("--calls", type=int, default=200, help="timed calls per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    targets = args.targets.split(",")
    unknown = [t for t in targets if t != "host" and t not in TARGETS]
    if unknown or targets[0] != "host":
        parser.error(f"--targets: host first, then any of {', '.join(TARGETS)}")
    with tempfile.TemporaryDirectory() as work:
        caches = {t: os.path.join(work, f"numba-{t}") for t in targets}
        times, ratios = (" | ".join(f"{t} (ms)" for t in targets), " | ".join(f"{t} / host" for t in targets[1:]))
        print(f"| model | {times} | {ratios} |")
        print("|---" * (1 + 2 * len(targets) - 1) + "|")
        for name in args.models.split(","):
            path = compile_zoo(name, work)
            medians = {t: [] for t in targets}
            paths = {}
            for _ in range(args.rounds):
                for t in targets:
                    done = subprocess.run([sys.executable, "-c", WORKER, path, str(args.calls)], capture_output=True,
                                          text=True, env=environment(None if t == "host" else t, caches[t]))
                    if done.returncode != 0:
                        raise SystemExit(f"{name} on {t}: {done.stderr.strip().splitlines()[-1]}")
                    r = json.loads(done.stdout.strip().splitlines()[-1])
                    medians[t].append(r["median"])
                    paths[t] = r["path"]
            best = {t: min(v) * 1e3 for t, v in medians.items()}
            print(f"| {name} | {' | '.join(f'{best[t]:.3f} ({paths[t]})' for t in targets)} | "
                  f"{' | '.join(f'{best[t] / best[targets[0]]:.2f}' for t in targets[1:])} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
