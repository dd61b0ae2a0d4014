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

Then batch-1 latency on the same file and the same random int8 input, single-threaded, in one run: the .mfb on
microflat's Numba runtime, as compiled and with every weight dense (the encoded kernels read sparse and palette
streams in place, which pays in flash, not in host speed), the dense .mfb on the C runtime (-O3), the .tflite on LiteRT's built-in kernels
(BUILTIN_WITHOUT_DEFAULT_DELEGATES) and on LiteRT with XNNPACK (its default delegate). Each peer looks its tensor
indices up once, as its users do (benchmarks/peer_runtimes.py), and the runtimes take turns in blocks of calls
(benchmarks/peers.py's interleaved_medians): the medians are comparable within one run only. LiteRT's built-in
and XNNPACK kernels are its fast ones, not its reference: the table says whether their outputs equal microflat's
(which equal TFLite Micro's, checked above), and on how many of 1,000 random inputs LiteRT's reference kernels
(BUILTIN_REF) give outputs other than TFLite Micro's (its FULLY_CONNECTED rounds once where TFLite Micro rounds
twice, and every one of these models has one), and other than the .mfb compiled with reference="litert".
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy or numba is imported

import argparse  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import peer_report  # noqa: E402
import peer_runtimes  # noqa: E402
import peers  # noqa: E402
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


def latency(path: str, files: dict, x: np.ndarray, calls: int) -> tuple[dict, dict]:
    """Median batch-1 seconds per runtime on x (the .mfb files on microflat's two runtimes, the .tflite on
    LiteRT's), and whether each LiteRT's output equals microflat's."""
    sessions = {}
    for label, backend, mfb in (("microflat Numba", "numba", files["auto"]),
                                ("microflat Numba, dense", "numba", files["dense"]),
                                ("microflat C, dense", "c", files["dense"])):
        it = Interpreter(mfb, backend=backend)
        sessions[label] = peer_runtimes.Session(lambda x, it=it: it.invoke(x), x, x, len(mfb))
    model = peer_runtimes.Model(os.path.basename(path), "", os.path.basename(path))
    for xnnpack in (False, True):
        runtime = peer_runtimes.LiteRT(xnnpack)
        session = runtime.prepare(model, "")
        sessions[runtime.name] = peer_runtimes.Session(session.run, x, x, session.file_bytes)
    mine = np.asarray(sessions["microflat Numba"].run(x)[0])
    equal = {name: bool(np.array_equal(np.asarray(s.run(x)).reshape(mine.shape), mine))
             for name, s in sessions.items() if name.startswith("LiteRT")}
    return peers.interleaved_medians(sessions, "batch1", calls, 25), equal


def litert_reference_differences(data: bytes, mfb: bytes, n: int = 1000) -> int:
    """How many of n random inputs' outputs LiteRT's reference kernels (BUILTIN_REF, one input at a time) give
    differently from the .mfb's on microflat's C runtime."""
    from ai_edge_litert.interpreter import Interpreter as LiteRT
    from ai_edge_litert.interpreter import OpResolverType

    lite = LiteRT(model_content=data, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    lite.allocate_tensors()
    i, o = lite.get_input_details()[0], lite.get_output_details()[0]["index"]
    xs = np.random.default_rng(1).integers(-128, 128, (n,) + tuple(i["shape"][1:]), dtype=np.int8)
    mine = Interpreter(mfb, backend="c").invoke(xs)[0]
    differ = 0
    for x, y in zip(xs, mine):
        lite.set_tensor(i["index"], x[None])
        lite.invoke()
        differ += int(not np.array_equal(lite.get_tensor(o)[0], y))
    return differ


def measure(name: str, calls: int) -> dict:
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
                arena=load_bytes(mfb).arena_bytes, tflm=tflm_arena(path),
                litert_ref_differ=litert_reference_differences(data, dense),
                litert_ref_differ_litert=litert_reference_differences(data, compile_tflite(data, reference="litert")),
                **dict(zip(("latency", "peer_equal"), latency(path, dict(auto=mfb, dense=dense), x, calls))))


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


def latency_table(rows: list[dict]) -> str:
    names = list(rows[0]["latency"])
    ratios = [(mine, peer) for mine in ("microflat Numba", "microflat Numba, dense")
              for peer in ("LiteRT built-in kernels", "LiteRT XNNPACK")]
    lines = ["| model | " + " | ".join(f"{n} (ms)" for n in names) + " | " +
             " | ".join(f"{m[10:]} / {p}" for m, p in ratios) + " | LiteRT's outputs equal microflat's | LiteRT reference's outputs differing from TFLM's, of 1,000 inputs |"
             " the same, from microflat's with reference=\"litert\" |",
             "|---" * (len(names) + len(ratios) + 4) + "|"]
    for r in rows:
        t = r["latency"]
        lines.append(f"| {r['name']} | " + " | ".join(f"{t[n] * 1e3:.3f}" for n in names) + " | " +
                     " | ".join(f"{t[m] / t[p]:.2f}" for m, p in ratios) + " | " +
                     ", ".join(f"{n[7:]}: {'yes' if e else 'no'}" for n, e in r["peer_equal"].items()) +
                     f" | {r['litert_ref_differ']} | {r['litert_ref_differ_litert']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    parser.add_argument("--calls", type=int, default=500, help="timed batch-1 calls per runtime and model")
    args = parser.parse_args(argv)
    rows = [measure(name, args.calls) for name in MODELS]
    text = "\n".join(["# MLPerf Tiny .tflite files compiled by microflat: bytes and arena beside TFLite Micro", "",
                      "`python benchmarks/tflite_import.py`", "", __doc__.split("\n\n", 2)[2].strip(), "",
                      table(rows), "", f"Batch-1 latency, median of {args.calls} calls (below 1: microflat is "
                      "faster):", "", latency_table(rows), "", f"Machine: {peer_report.cpu_name()}, one thread.", ""])
    os.makedirs(args.out, exist_ok=True)
    write_atomic(os.path.join(args.out, "tflite_import.md"), text.encode())
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
