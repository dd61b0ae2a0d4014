"""Per-operator speed: each new microflat operator alone, on one realistic shape, against LiteRT's kernel for it.

    .venv/bin/python benchmarks/op_speed.py                    # every op; writes benchmarks/results/op_speed.{json,md}
    .venv/bin/python benchmarks/op_speed.py --ops SUB,GELU     # some of them
    .venv/bin/python benchmarks/op_speed.py --smoke            # one op, a few calls: checks the harness (writes to a
                                                               # temporary folder unless --out is given)

Each op is built twice at the same quantization (single_ops.py): a .mfb through microflat's ModelWriter and a
.tflite through tflite_builder.py, int8 in and out (no QUANTIZE / DEQUANTIZE). On the same random int8 input,
microflat's output is compared with LiteRT's reference kernels (the definition), its built-in kernels and
XNNPACK: equal, or how many elements differ and by how much at most. Then batch-1 invoke is timed for
microflat Numba, microflat C, LiteRT's built-in kernels (BUILTIN_WITHOUT_DEFAULT_DELEGATES) and LiteRT with
XNNPACK (its default), where XNNPACK takes the op (the DELEGATE node replaces it; where it does not, LiteRT
runs its built-in kernel and the column says so). One thread each.

Fairness, as benchmarks/peers.py: inputs are set once, before timing, each runtime's fastest way (microflat:
copied into the arena views, then Interpreter._invoke_all, the one call invoke makes; LiteRT: set_tensor, then
invoke); only the invoke is timed; the runtimes take turns in blocks of calls (peers.interleaved_medians, the
first call of each block untimed) and the median is reported. Ratios are microflat's time over LiteRT's best
(built-in or XNNPACK): below 1, microflat is faster. Times are only comparable within one run: the machine is
shared.
"""

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy or numba is imported

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import peer_report  # noqa: E402
import single_ops as S  # noqa: E402
from peers import interleaved_medians  # noqa: E402

NUMBA, C, BUILTIN, XNNPACK = "microflat Numba", "microflat C", "LiteRT built-in", "LiteRT XNNPACK"


class Session:
    """One runtime with its inputs already set: run(_) invokes, output() reads the result."""

    def __init__(self, run, output):
        self.run, self.output, self.inputs = (lambda _: run()), output, None


def microflat_session(pair, backend):
    from microflat.runtime import Interpreter

    it = Interpreter(pair.mfb, backend=backend)
    m = it.model
    for a, i in zip(pair.inputs, m.inputs):
        np.copyto(it.view(m.tensors[i]), a.reshape(-1))
    out = m.tensors[m.outputs[0]]
    return Session(it._invoke_all, lambda: it.view(out).reshape(out.shape).copy())


def litert_interpreter(data, kind):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=data, num_threads=1, experimental_op_resolver_type=kind)
    it.allocate_tensors()
    return it


def litert_session(pair, kind):
    """(session, whether a delegate took the op)."""
    it = litert_interpreter(pair.tflite, kind)
    for d, a in zip(it.get_input_details(), pair.inputs):
        it.set_tensor(d["index"], a)
    delegated = any(o["op_name"] == "DELEGATE" for o in it._get_ops_details())
    index = it.get_output_details()[0]["index"]
    return Session(it.invoke, lambda: it.get_tensor(index)), delegated


def litert_reference(pair):
    """LiteRT's reference kernels on the pair's inputs; None (and why) where the reference resolver lacks the op."""
    from ai_edge_litert.interpreter import OpResolverType

    try:
        s, _ = litert_session(pair, OpResolverType.BUILTIN_REF)
    except (ValueError, RuntimeError) as exc:
        return None, str(exc).strip().splitlines()[0]
    s.run(None)
    return s.output(), None


def compare(mine, theirs) -> dict:
    a, b = mine.astype(np.int64), theirs.reshape(mine.shape).astype(np.int64)
    d = np.abs(a - b)
    return dict(equal=bool(not d.any()), differ=int((d > 0).sum()), of=int(d.size), max_diff=int(d.max()))


def measure(op, calls, block):
    from ai_edge_litert.interpreter import OpResolverType

    pair = S.build(op, "speed")
    sessions = {NUMBA: microflat_session(pair, "numba"), C: microflat_session(pair, "c")}
    sessions[BUILTIN], _ = litert_session(pair, OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    xnn, taken = litert_session(pair, OpResolverType.AUTO)
    if taken:
        sessions[XNNPACK] = xnn
    outs = {}
    for name, s in sessions.items():
        s.run(None)
        outs[name] = s.output()
    reference, missing = litert_reference(pair)
    mine = outs[NUMBA]
    exact = {"microflat C vs Numba": compare(mine, outs[C])}
    exact["LiteRT reference"] = compare(mine, reference) if reference is not None else dict(missing=missing)
    exact[BUILTIN] = compare(mine, outs[BUILTIN])
    if taken:
        exact[XNNPACK] = compare(mine, outs[XNNPACK])
    seconds = interleaved_medians(sessions, "inputs", calls, block)
    us = {name: seconds[name] * 1e6 for name in sessions}
    best = min(us[BUILTIN], us.get(XNNPACK, float("inf")))
    return dict(shape=pair.shape, why=S.why(op), tflite_ops=pair.tflite_ops, units=pair.units, unit=pair.unit,
                latency_us=us, xnnpack_takes_op=taken, litert_best_us=best,
                ratio_numba=us[NUMBA] / best, ratio_c=us[C] / best, exactness=exact,
                mfb_bytes=len(pair.mfb), tflite_bytes=len(pair.tflite))


# --- report ------------------------------------------------------------------------------------------------------

def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def _exact_cell(e):
    if e is None:
        return "-"
    if "missing" in e:
        return "no kernel"
    return "equal" if e["equal"] else f"{e['differ']}/{e['of']} differ, max {e['max_diff']}"


NOTES = {
    "SILU": "TFLite has no SILU builtin: its column is LOGISTIC + MUL (two kernels, two roundings)",
    "ELU": "LiteRT's reference resolver has no ELU kernel",
    "SUM": "LiteRT's reference SUM (with rescaling) reads int8 tensors as uint8 (reduce.cc passes "
           "GetTensorData<uint8_t>); its built-in kernel rescales in float",
    "MEAN": "LiteRT's built-in MEAN rescales in float; its reference kernel is integer",
    "LEAKY_RELU": "TFLite's LEAKY_RELU rounds twice (MultiplyByQuantizedMultiplier); microflat's table once, so "
                  "values within 2^-(rs+1) of a step below a half differ by one",
    "RSQRT": "TFLite's RSQRT is fixed point (GetInvSqrtQuantizedMultiplierExp, two requantizations); microflat's "
             "table is correctly rounded: they differ by one at rounding ties",
    "TRANSPOSE_CONV": "LiteRT's optimized kernel (built-in and XNNPACK) rounds differently from its reference",
    "RESIZE_BILINEAR": "XNNPACK's resize is its own arithmetic; the reference and built-in kernels agree with microflat",
}


def render(results) -> str:
    r = results
    ops = r["ops"]
    out = ["# Per-operator speed: microflat against LiteRT's kernel for the same op", "",
           f"One run on {r['machine']['cpu']}, one thread, Python {r['machine']['python']}, ai-edge-litert "
           f"{r['machine']['litert']}; {r['settings']['calls']} timed batch-1 invokes per runtime and op "
           f"(median, runtimes interleaved in blocks of {r['settings']['block']}). The machine is shared: "
           "times are noisy and only comparable within one run. Reproduce: "
           "`.venv/bin/python benchmarks/op_speed.py`.", ""]
    if r.get("not_in_format"):
        out += [f"{', '.join(r['not_in_format'])}: not in microflat's format yet, not measured.", ""]
    out += ["## Shapes", "", _table(["op", "shape", "why this shape", "work"],
                                   [[op, v["shape"], v["why"], f"{v['units']:,} {v['unit']}s"] for op, v in ops.items()]),
            "", "## Batch-1 invoke, median (µs)", "",
            "Ratios: microflat's time / LiteRT's best (built-in or XNNPACK); below 1, microflat is faster. "
            "XNNPACK: `-` where it does not take the op (LiteRT then runs its built-in kernel).", ""]
    rows = []
    for op, v in ops.items():
        us = v["latency_us"]
        rows.append([op, f"{us[NUMBA]:.1f}", f"{us[C]:.1f}", f"{us[BUILTIN]:.1f}",
                     f"{us[XNNPACK]:.1f}" if XNNPACK in us else "-", f"{v['ratio_numba']:.2f}", f"{v['ratio_c']:.2f}",
                     f"{1e3 * us[NUMBA] / v['units']:.2f}", f"{1e3 * us[C] / v['units']:.2f}"])
    out += [_table(["op", NUMBA, C, BUILTIN, XNNPACK, "Numba / LiteRT best", "C / LiteRT best",
                    "Numba ns / unit", "C ns / unit"], rows), "",
            "## microflat's output against LiteRT's, same random input", "",
            "`equal`: every byte; otherwise how many elements differ and the largest difference (in output "
            "steps). LiteRT's reference kernels define TFLite's arithmetic; its built-in kernels and XNNPACK may "
            "round differently.", ""]
    rows = [[op, _exact_cell(v["exactness"]["LiteRT reference"]), _exact_cell(v["exactness"][BUILTIN]),
             _exact_cell(v["exactness"].get(XNNPACK)), _exact_cell(v["exactness"]["microflat C vs Numba"]),
             NOTES.get(op, "")] for op, v in ops.items()]
    out += [_table(["op", "LiteRT reference", BUILTIN, XNNPACK, "C vs Numba", "note"], rows), ""]
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", default=",".join(S.NEW_OPS), help="comma-separated TFLite names: " + ", ".join(S.NEW_OPS))
    parser.add_argument("--out", default=None, help="folder for op_speed.json and op_speed.md "
                        "(default benchmarks/results; with --smoke a temporary folder)")
    parser.add_argument("--calls", type=int, default=1000, help="timed invokes per runtime and op")
    parser.add_argument("--block", type=int, default=25, help="consecutive invokes of one runtime in its turn")
    parser.add_argument("--smoke", action="store_true", help="TRANSPOSE only, 20 calls: the harness works, no figures")
    args = parser.parse_args(argv)
    if args.smoke:
        args.ops, args.calls, args.block = "TRANSPOSE", 20, 5
    wanted = [o for o in args.ops.split(",") if o]
    unknown = sorted(set(wanted) - set(S.NEW_OPS))
    if unknown:
        parser.error(f"unknown op(s) {unknown}; choose from {list(S.NEW_OPS)}")
    missing = [o for o in wanted if o not in S.available(wanted)]
    if missing:
        print(f"{', '.join(missing)}: not in microflat's format yet (runtime.ops.OP_DEFS), skipped", file=sys.stderr)
    try:
        import ai_edge_litert
    except ImportError:
        print("op_speed: ai-edge-litert is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    warnings.filterwarnings("ignore")
    from importlib.metadata import version

    results = dict(machine=dict(cpu=peer_report.cpu_name(), python=platform.python_version(), threads=1,
                                litert=version("ai-edge-litert"), numpy=np.__version__),
                   settings=dict(calls=args.calls, block=args.block), not_in_format=missing, ops={})
    del ai_edge_litert
    for op in S.available(wanted):
        print(f"{op} ...", file=sys.stderr, flush=True)
        results["ops"][op] = measure(op, args.calls, args.block)
    out = args.out or (tempfile.mkdtemp(prefix="op_speed-") if args.smoke else os.path.join(HERE, "results"))
    os.makedirs(out, exist_ok=True)
    text = render(results)
    for name, data in (("op_speed.json", json.dumps(results, indent=2)), ("op_speed.md", text)):
        path = os.path.join(out, name)
        with open(path + ".tmp", "w") as f:
            f.write(data + "\n")
        os.replace(path + ".tmp", path)
    print(text)
    print(f"written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
