"""Batch-1 latency of the Numba and C runtimes at two git revisions, on the same .mfb files.

A refactoring of the runtime must not slow it down; this measures that. The zoo files are compiled
once, by this checkout (tests/zoo_files.py, the files the tests use); each revision's runtime then
runs them in its own fresh process (the older one from a `git worktree` of that revision, imported
ahead of the installed package), the two alternating round by round so that the machine's drift
falls on both. Per model and backend: the median over rounds of each round's median invoke time
(inputs set once, as a user's loop does), and the ratio this checkout / the other revision.

    .venv/bin/python benchmarks/compare_revisions.py b997b37 [--rounds 5] [--models ds_cnn resnet8]

Times are only comparable within one run; the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MLPERF = ["ds_cnn", "mobilenet_v1_025", "resnet8", "fc_autoencoder"]
TIMER = r"""
import json, sys, time
import numpy as np
from microflat.runtime import Interpreter
from microflat.runtime.export_c import example_inputs
from microflat.runtime import load_bytes
out = {}
for path in sys.argv[2:]:
    data = open(path, "rb").read()
    xs = example_inputs(load_bytes(data), None)
    for backend in ("numba", "c"):
        it = Interpreter(data, backend=backend)
        for _ in range(20):
            it.invoke(*xs)
        times = []
        for _ in range(int(sys.argv[1])):
            t = time.perf_counter()
            it.invoke(*xs)
            times.append(time.perf_counter() - t)
        out[f"{path.rsplit('/', 1)[-1][:-4]}/{backend}"] = float(np.median(times))
print(json.dumps(out))
"""


def shim_for(rev: str, work: Path) -> Path:
    """A folder whose microflat package is `rev`'s checkout (a git worktree), for PYTHONPATH."""
    tree = work / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-f", "--detach", str(tree), rev], check=True,
                   capture_output=True)
    pkg = work / "shim" / "microflat"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for sub in ("compiler", "runtime", "kernels"):
        (pkg / sub).symlink_to(tree / sub)
    return work / "shim"


def timings(files, calls, shim: Path | None) -> dict:
    env = dict(os.environ, NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1")
    if shim is not None:
        env["PYTHONPATH"] = str(shim)
    r = subprocess.run([sys.executable, "-c", TIMER, str(calls), *map(str, files)], capture_output=True, text=True,
                       env=env, cwd=tempfile.gettempdir())
    if r.returncode:
        raise SystemExit(r.stderr)
    return json.loads(r.stdout.splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("rev", help="the other revision (a commit, tag or branch)")
    p.add_argument("--models", nargs="+", default=MLPERF)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--calls", type=int, default=200, help="timed invokes per model, backend and round")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT / "tests"))
    from zoo_files import compiled_zoo

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        files = []
        for name in args.models:
            path = work / f"{name}.mfb"
            path.write_bytes(compiled_zoo()[name])
            files.append(path)
        shim = shim_for(args.rev, work / "rev")
        try:
            runs = {"this": [], args.rev: []}
            for r in range(args.rounds):
                for key, s in ([("this", None), (args.rev, shim)] if r % 2 == 0 else [(args.rev, shim), ("this", None)]):
                    runs[key].append(timings(files, args.calls, s))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(work / "rev" / "tree")],
                           capture_output=True)
    print(f"| model / backend | {args.rev} (us) | this (us) | this / {args.rev} |")
    print("|---|---|---|---|")
    for key in runs["this"][0]:
        old = statistics.median(run[key] for run in runs[args.rev]) * 1e6
        new = statistics.median(run[key] for run in runs["this"]) * 1e6
        print(f"| {key} | {old:.1f} | {new:.1f} | {new / old:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
