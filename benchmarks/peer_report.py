"""The figures of benchmarks/peers.py as JSON, markdown tables and a matplotlib plot (written atomically)."""

from __future__ import annotations

import json
import os

NUMBA = "microflat Numba"
BUILTIN, ORT, XNNPACK = "LiteRT built-in kernels", "ONNX Runtime int8 (QDQ)", "LiteRT XNNPACK"
MLPERF = ("KWS", "VWW", "IC", "AD")


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def _atomic(path: str, data: bytes) -> None:
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _runtimes(results):
    return [name for name, info in results["runtimes"].items() if not info.get("missing")]


def _cell(results, model, runtime, field, fmt):
    v = results["latency"].get(model, {}).get(runtime, {}).get(field)
    return "-" if v is None else fmt(v)


def _ratio(results, model, peer, field="latency_ms", invert=False):
    row = results["latency"].get(model, {})
    if NUMBA not in row or peer not in row:
        return None
    a, b = row[NUMBA][field], row[peer][field]
    return b / a if invert else a / b


def targets(results) -> list[tuple[str, str]]:
    """Issue 8's latency and memory targets on the MLPerf Tiny models measured in this run: (target, verdict)."""
    models = [m for m in MLPERF if m in results["models"]]
    out = []
    for peer, need, label in ((BUILTIN, len(models), "all"), (ORT, min(2, len(models)), "at least two")):
        ratios = {m: _ratio(results, m, peer) for m in models}
        known = {m: r for m, r in ratios.items() if r is not None}
        met = [m for m, r in known.items() if r <= 1.0]
        if len(known) < len(models):
            verdict = f"not measured on {', '.join(m for m in models if m not in known)}"
        else:
            verdict = ("met" if len(met) >= need else "not met") + f" ({len(met)} of {len(models)}: " + ", ".join(
                f"{m} {r:.2f}" for m, r in known.items()) + ")"
        out.append((f"batch-1 latency <= {peer} on {label} of {', '.join(models)}", verdict))
    mem = {m: results["memory"][m] for m in models if m in results.get("memory", {})}
    if mem:
        tflm = {m: v["arena_bytes"] / v["tflite_micro_arena_bytes"] for m, v in mem.items()
                if v.get("tflite_micro_arena_bytes")}
        met = [m for m, r in tflm.items() if r <= 1.0]
        out.append(("peak arena <= TFLite Micro's on each model", ("met" if len(met) == len(mem) else "not met") +
                    " (" + ", ".join(f"{m} {r:.2f}" for m, r in tflm.items()) + ")"))
        below = {m: v["arena_bytes"] / v["liveness_lower_bound_bytes"] for m, v in mem.items()}
        out.append(("peak arena below the liveness lower bound", f"on {sum(r < 1.0 for r in below.values())} of "
                    f"{len(below)} (" + ", ".join(f"{m} {r:.2f}" for m, r in below.items()) + ")"))
    return out


def markdown(results) -> str:
    models, runtimes = results["models"], _runtimes(results)
    ms = lambda v: f"{v:.3f}"  # noqa: E731
    parts = [f"# microflat against its peers\n\nOne run on {results['machine']['cpu']}, one thread, Python "
             f"{results['machine']['python']}. microflat, ONNX Runtime and PyTorch run the zoo's models (the MLPerf "
             "Tiny architectures with the reference files' parameters and MACs); LiteRT and TFLite Micro run the "
             "reference .tflite files.\n"]
    parts.append("## Batch-1 latency, median (ms)\n")
    parts.append(_table(["runtime", *models], [[r, *(_cell(results, m, r, "latency_ms", ms) for m in models)]
                                                 for r in runtimes]))
    parts.append("\n## microflat Numba's latency / the peer's (below 1: microflat is faster)\n")
    rows = []
    for r in runtimes:
        if r == NUMBA:
            continue
        rows.append([r, *("-" if _ratio(results, m, r) is None else f"{_ratio(results, m, r):.2f}" for m in models)])
    parts.append(_table(["peer", *models], rows))
    parts.append("\n## Batch-64 throughput (inferences/s)\n")
    parts.append(_table(["runtime", *models], [[r, *(_cell(results, m, r, "throughput_per_s", lambda v: f"{v:,.0f}")
                                                     for m in models)] for r in runtimes]))
    parts.append("\n## File bytes\n")
    parts.append(_table(["runtime", *models], [[r, *(_cell(results, m, r, "file_bytes", lambda v: f"{v:,}")
                                                     for m in models)] for r in runtimes]))
    parts.append("\n## Peak RAM: the planned arena (bytes)\n")
    rows = []
    for m in models:
        mem = results["memory"].get(m)
        if not mem:
            continue
        tflm = mem.get("tflite_micro_arena_bytes")
        live = mem["liveness_lower_bound_bytes"]
        rows.append([m, f"{mem['arena_bytes']:,}", f"{live:,}", f"{mem['arena_bytes'] / live:.2f}",
                     f"{mem.get('overlap_lower_bound_bytes', live):,}",
                     "-" if tflm is None else f"{tflm:,}",
                     "-" if tflm is None else f"{mem['arena_bytes'] / tflm:.2f}"])
    parts.append(_table(["model", "microflat arena", "liveness lower bound", "arena / liveness bound",
                         "lower bound with overlap", "TFLite Micro arena", "microflat / TFLite Micro"], rows))
    cold = results.get("cold_start") or {}
    if cold.get("seconds"):
        parts.append(f"\n## Cold start on {cold['model']}: import + load + JIT + first inference, fresh process (s)\n")
        parts.append(_table(["runtime", "seconds"], [[k, f"{v:.2f}"] for k, v in cold["seconds"].items()]))
    parts.append("\n## Issue 8's targets, in this run\n")
    parts.append(_table(["target", "verdict"], targets(results)))
    missing = {r: i["missing"] for r, i in results["runtimes"].items() if i.get("missing")}
    if missing:
        parts.append("\nNot measured: " + "; ".join(f"{r}: {why}" for r, why in missing.items()))
    return "\n".join(parts) + "\n"


def plot(results, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models, runtimes = results["models"], _runtimes(results)
    fig, axes = plt.subplots(1, 2, figsize=(14, 5))
    width = 0.8 / max(len(runtimes), 1)
    for j, (field, title, ax) in enumerate((("latency_ms", "batch-1 latency (ms, log scale)", axes[0]),
                                            ("throughput_per_s", "batch-64 throughput (inferences/s, log scale)",
                                             axes[1]))):
        for i, r in enumerate(runtimes):
            xs, ys = [], []
            for k, m in enumerate(models):
                v = results["latency"].get(m, {}).get(r, {}).get(field)
                if v is not None:
                    xs.append(k + (i - (len(runtimes) - 1) / 2) * width)
                    ys.append(v)
            ax.bar(xs, ys, width, label=r)
        ax.set_yscale("log")
        ax.set_xticks(range(len(models)), models)
        ax.set_title(title)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"microflat against its peers, one thread ({results['machine']['cpu']})")
    fig.tight_layout()
    fig.savefig(path + ".tmp.png", dpi=110)
    plt.close(fig)
    os.replace(path + ".tmp.png", path)


def write(results, out: str) -> None:
    _atomic(os.path.join(out, "peers.json"), json.dumps(results, indent=1).encode())
    _atomic(os.path.join(out, "peers.md"), markdown(results).encode())
    plot(results, os.path.join(out, "peers.png"))
