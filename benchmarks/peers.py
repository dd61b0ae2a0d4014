"""microflat against its peers, side by side in one run on this machine, single-threaded.

    .venv/bin/python benchmarks/peers.py                  # all models, every installed runtime
    .venv/bin/python benchmarks/peers.py --smoke          # one model, a few runs: checks the harness only

Needs the benchmark extra (pip install -e '.[bench]': onnxruntime, onnx, ai-edge-litert, tflite-micro);
a runtime that is not installed is reported as such, never silently left out. Writes to --out
(default benchmarks/results/): peers.json (every figure), peers.md (the tables) and peers.png (the plot).

Per model and runtime: median batch-1 latency (each call timed on its own, inputs set and outputs
fetched; the runtimes take turns in blocks of calls), batch-64 throughput (median of whole batch-64 calls), file bytes, and the planned arena where
the runtime has one. Per runtime: cold start on one model, in a fresh process (import + load + JIT +
first inference), for the Numba runtime with an empty on-disk cache and with a filled one. Ratios are
microflat Numba's latency over each peer's (below 1: microflat is faster). Times are only comparable
within one run: the machine is shared.
"""

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy, torch or numba is imported

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_report  # noqa: E402
import peer_runtimes as R  # noqa: E402

COLD_START_KEYS = {"microflat Numba": "numba", "microflat C (-O3)": "c", "ONNX Runtime int8 (QDQ)": "onnxruntime",
                   "LiteRT XNNPACK": "litert-xnnpack", "LiteRT built-in kernels": "litert-builtin",
                   "TFLite Micro": "tflite-micro", "PyTorch float (eager)": "torch"}


def interleaved_medians(sessions, field, calls, block):
    """Median seconds of one call per session. The sessions take turns, a block of consecutive calls
    each, so that a change in the machine's load falls on all of them alike while every timed call
    finds its runtime's caches warm: the first call of each block is not timed. TFLite Micro (reference
    kernels, some 20x slower) times a tenth as many calls."""
    times = {name: [] for name in sessions}
    for _ in range(max(calls // block, 1)):
        for name, s in sessions.items():
            n = max(block // 10, 2) if name == "TFLite Micro" else block + 1
            x = getattr(s, field)
            s.run(x)
            for _ in range(n - 1):
                t = time.perf_counter()
                s.run(x)
                times[name].append(time.perf_counter() - t)
    return {name: statistics.median(v) for name, v in times.items()}


def measure(model, work, repeats, batch_repeats):
    """{runtime: figures} of every installed runtime that has a file for this model."""
    sessions = {}
    for runtime, missing in R.runtimes():
        if not missing:
            print(f"{model.key:8s} {runtime.name} ...", file=sys.stderr, flush=True)
            session = runtime.prepare(model, work)
            if session is not None:
                sessions[runtime.name] = session
    latency = interleaved_medians(sessions, "batch1", repeats, 25)
    batch = interleaved_medians(sessions, "batch64", batch_repeats, 2)
    return {name: dict(latency_ms=latency[name] * 1e3, throughput_per_s=R.BATCH / batch[name],
                       file_bytes=s.file_bytes, arena_bytes=s.arena_bytes) for name, s in sessions.items()}


def cold_start_file(key, model, work):
    """The file a cold start loads: what the warm measurement already wrote, or (PyTorch) an exported program."""
    if key in ("numba", "c"):
        return os.path.join(work, f"{model.zoo}.mfb")
    if key == "onnxruntime":
        return os.path.join(work, f"{model.zoo}.qdq.onnx")
    if key == "torch":
        path = os.path.join(work, f"{model.zoo}.pt2")
        if not os.path.exists(path):
            import torch

            net, x = R.zoo_float_model(model)
            torch.export.save(torch.export.export(net, (x[:1],)), path)
        return path
    return model.tflite_path


def cold_start(key, path, cache_dir, repeats):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cold_start.py")
    out = []
    for _ in range(repeats):
        done = subprocess.run([sys.executable, script, key, path], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"cold start of {key} failed: {done.stderr.strip().splitlines()[-1:]}")
        out.append(float(done.stdout.strip().splitlines()[-1]))
    return statistics.median(out)


def cold_starts(results, model, work, repeats):
    """Seconds per runtime. The Numba runtime twice: with an empty cache folder (it compiles every kernel)
    and with one that run filled. The C runtime's process imports microflat, and so its Numba kernels,
    from that filled cache too."""
    figures = {}
    filled = os.path.join(work, "numba-cache")
    with tempfile.TemporaryDirectory() as empty:
        mfb = cold_start_file("numba", model, work)
        figures["microflat Numba, no on-disk cache"] = cold_start("numba", mfb, empty, 1)
    cold_start("numba", mfb, filled, 1)  # fills it
    for name, key in COLD_START_KEYS.items():
        if results["runtimes"].get(name, {}).get("missing"):
            continue
        if key not in ("numba", "c", "onnxruntime", "torch") and model.tflite is None:
            continue
        label = "microflat Numba, on-disk cache" if key == "numba" else name
        figures[label] = cold_start(key, cold_start_file(key, model, work), filled, repeats)
    return figures


def memory(model, work, tflm_arena):
    """microflat's planned arena against its liveness lower bound (and the lower bound with overlap) and TFLite
    Micro's arena."""
    from microflat.runtime import load_file

    m = load_file(os.path.join(work, f"{model.zoo}.mfb"))
    return dict(arena_bytes=m.arena_bytes, liveness_lower_bound_bytes=m.liveness_bound(),
                overlap_lower_bound_bytes=m.overlap_bound(), tflite_micro_arena_bytes=tflm_arena)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(m.key for m in R.MODELS),
                        help="comma-separated: " + ", ".join(m.key for m in R.MODELS))
    parser.add_argument("--out", default=os.path.join(R.ROOT, "benchmarks", "results"))
    parser.add_argument("--repeats", type=int, default=500, help="batch-1 calls timed per model and runtime")
    parser.add_argument("--batch-repeats", type=int, default=20, help="batch-64 calls timed")
    parser.add_argument("--cold-start-model", default="KWS", help="the model of the cold-start measurement")
    parser.add_argument("--cold-repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="KWS only, 5 calls each: the harness works, no figures")
    args = parser.parse_args(argv)
    if args.smoke:
        args.models, args.repeats, args.batch_repeats, args.cold_repeats = "KWS", 25, 2, 1
    chosen = [m for m in R.MODELS if m.key in args.models.split(",")]
    unknown = set(args.models.split(",")) - {m.key for m in R.MODELS}
    if unknown:
        parser.error(f"unknown model(s) {sorted(unknown)}; choose from {[m.key for m in R.MODELS]}")
    os.makedirs(args.out, exist_ok=True)
    work = os.path.join(args.out, "files")
    os.makedirs(work, exist_ok=True)
    warnings.filterwarnings("ignore")

    import torch

    torch.set_num_threads(1)
    results = dict(machine=dict(cpu=peer_report.cpu_name(), python=platform.python_version(), threads=1),
                   models=[m.key for m in chosen], runtimes={}, latency={}, memory={}, cold_start={})
    for runtime, missing in R.runtimes():
        results["runtimes"][runtime.name] = dict(missing=missing) if missing else {}
    for model in chosen:
        row = results["latency"][model.key] = measure(model, work, args.repeats, args.batch_repeats)
        results["memory"][model.key] = memory(model, work, row.get("TFLite Micro", {}).get("arena_bytes"))
    cold = next((m for m in chosen if m.key == args.cold_start_model), chosen[0])
    print(f"cold starts on {cold.key} ...", file=sys.stderr, flush=True)
    results["cold_start"] = dict(model=cold.key, seconds=cold_starts(results, cold, work, args.cold_repeats))
    peer_report.write(results, args.out)
    print(open(os.path.join(args.out, "peers.md")).read())
    return 0


if __name__ == "__main__":
    sys.exit(main())
