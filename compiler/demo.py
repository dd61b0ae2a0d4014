"""`microflat demo`: the whole pipeline on a built-in default, in about half a minute on two cores.

1. The zoo's small_cnn (3 conv + batch norm + ReLU, 2 max pools, global average pool, FC 10;
   14,538 parameters) on scikit-learn's bundled 8x8 digits, nothing downloaded: trained once
   (40 epochs, about 10 s) and cached where zoo.load caches it ($MICROFLAT_CACHE), loaded after.
2. Compressed by a recipe through compress.pipeline.run: global magnitude pruning to 80% zeros,
   k-means clustering to 16 values per layer, then int8 quantization-aware training, each
   fine-tuned for an epoch or two; every step compiled and measured.
3. Compiled to OUT/small_cnn.mfb (OUT: a new temporary folder unless given, printed).
4. Printed: each step's accuracy and bytes, the size ledger of the final file (weights and biases
   as float32 -> dense int8 -> as stored), the arena planned at compile time, and top-1 of the
   float model against the int8 file on the 360 held-out digits.
5. The Numba and the C runtime run the file on all 360 held-out digits (the same int8 inputs);
   their outputs must be the same bytes.
6. Where arm-none-eabi-gcc, qemu-system-arm and make are installed, the file is built into the
   Cortex-M4 firmware (firmware_examples/cortex-m, board mps2-an386) once per input for a few
   held-out digits, run under QEMU, and its printed outputs must be the host's bytes; without the
   tools, one line says what to install.
7. A plot, OUT/demo.png: the bytes after each step, and float against int8 top-1.

Any disagreement between runtimes raises DemoFailure. Torch runs on one thread here: the model
is so small that a second thread costs more than it gives, and far more on a busy machine.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from microflat.kernels import quantize
from microflat.runtime import Interpreter, load_file
from microflat.runtime import firmware
from microflat.runtime.inspect_model import summary

from . import datasets, zoo
from .compress import pipeline, recipe
from .compress.report import Row
from .writer import write_atomic

MODEL = "small_cnn"
RECIPE = recipe.Recipe(steps=[recipe.Prune(sparsity=0.8, scope="global", epochs=2),
                              recipe.Cluster(clusters=16, epochs=1),
                              recipe.QAT(epochs=2)])
CALIBRATION_IMAGES = 512
FIRMWARE_INPUTS = 3
BOARD = "mps2-an386"
AGREE = "Numba and C give the same bytes"


class DemoFailure(RuntimeError):
    """Two runtimes gave different bytes on the same input, or the firmware did not run."""


@dataclass
class DemoResult:
    out_dir: Path
    model_path: Path
    plot_path: Path
    rows: list[Row]
    summary: dict
    float_accuracy: float         # the uncompressed float model, PyTorch
    int8_accuracy: float          # the .mfb on the runtimes
    held_out: int                 # inputs both runtimes ran
    firmware_inputs: int = 0      # inputs the Cortex-M firmware ran (0: skipped)
    firmware_skipped: str = ""    # why, when it was
    seconds: dict = field(default_factory=dict)


@contextlib.contextmanager
def _torch_threads(n: int):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def describe(r: recipe.Recipe) -> str:
    parts = []
    for s in r.steps:
        epochs = f"{s.epochs} epoch{'s' if s.epochs != 1 else ''}"
        if isinstance(s, recipe.Prune):
            parts.append(f"prune to {s.sparsity:.0%} zeros ({s.scope}, {epochs})")
        elif isinstance(s, recipe.Cluster):
            parts.append(f"cluster to {s.clusters} values per layer ({epochs})")
        elif isinstance(s, recipe.QAT):
            parts.append(f"int8 QAT ({epochs})")
        else:
            parts.append(f"{s.kind} ({epochs})")
    return " -> ".join(parts)


def step_table(rows: list[Row]) -> str:
    def pct(v):
        return "-" if v is None else f"{100 * v:.2f}%"

    lines = [f"  {'step':<10} {'float top-1':>11} {'int8 top-1':>10} {'nonzero':>8} {'values/layer':>12} "
             f"{'.mfb bytes':>10} {'vs float32':>10}"]
    for r in rows:
        lines.append(f"  {r.step:<10} {pct(r.accuracy):>11} {pct(r.int8_accuracy):>10} {r.nonzero:>8,} "
                     f"{r.max_distinct:>12,} {r.file_bytes:>10,} {r.float32_bytes / r.file_bytes:>9.1f}x")
    return "\n".join(lines)


def plot(rows: list[Row], path, title: str) -> None:
    """Two panels, one group per step: the bytes (float32 weights, dense int8 .mfb, the .mfb as compiled), and
    float against int8 top-1. Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r.step for r in rows]
    x = np.arange(len(rows))
    fig, (sizes, accs) = plt.subplots(1, 2, figsize=(11, 4.2))
    bars = [("parameters as float32", [r.float32_bytes for r in rows]),
            (".mfb, dense int8 weights", [r.dense_file_bytes for r in rows]),
            (".mfb as compiled (run in place)", [r.file_bytes for r in rows])]
    width = 0.8 / len(bars)
    for k, (label, values) in enumerate(bars):
        b = sizes.bar(x + (k - 1) * width, [v / 1024 for v in values], width, label=label)
        sizes.bar_label(b, [f"{v / 1024:.1f}" for v in values], fontsize=7)
    sizes.set_xticks(x, steps)
    sizes.set_ylabel("KiB")
    sizes.set_title("size after each compression step")
    sizes.legend(fontsize=8)
    floats = [100 * (r.accuracy or 0) for r in rows]
    ints = [100 * (r.int8_accuracy or 0) for r in rows]
    for k, (label, values) in enumerate([("PyTorch (float; fake-quant after QAT)", floats),
                                         ("int8 .mfb on the runtime", ints)]):
        b = accs.bar(x + (k - 0.5) * 0.4, values, 0.4, label=label)
        accs.bar_label(b, [f"{v:.1f}" for v in values], fontsize=7)
    accs.set_xticks(x, steps)
    accs.set_ylim(max(0.0, min(floats + ints) - 4), 100.5)
    accs.set_ylabel("top-1 on held-out digits (%)")
    accs.set_title("float vs int8 accuracy")
    accs.legend(fontsize=8, loc="lower left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    write_atomic(os.fspath(path), buf.getvalue())


def _first_difference(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.flatnonzero((a.reshape(len(a), -1) != b.reshape(len(b), -1)).any(axis=1))[0])


def run(out_dir=None, *, firmware_inputs: int = FIRMWARE_INPUTS, board: str = BOARD, progress: bool = True,
        log=print) -> DemoResult:
    """The demo of the module docstring; raises DemoFailure when two runtimes disagree."""
    start = time.perf_counter()
    seconds = {}
    clock = [start]

    def lap(name):
        now = time.perf_counter()
        seconds[name] = now - clock[0]
        clock[0] = now
        return f"({seconds[name]:.1f} s)"

    out = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="microflat-demo-"))
    out.mkdir(parents=True, exist_ok=True)
    model_path, plot_path = out / f"{MODEL}.mfb", out / "demo.png"
    entry = zoo.entry(MODEL)
    log("microflat demo: a small CNN on scikit-learn's 8x8 digits, compressed, compiled to one int8 .mfb, and run "
        "by the Numba and C runtimes and a Cortex-M4 firmware")
    log(f"output folder: {out}")

    with _torch_threads(1):
        # 1. the float model
        cache = zoo.cache_path(MODEL)
        how = f"loaded from the cache {cache}" if os.path.exists(cache) else \
            f"not cached yet: training it once ({entry.epochs} epochs), then cached in {cache}"
        log(f"\n[1/6] model: {MODEL}, {entry.summary}; {how}")
        model = zoo.load(MODEL, progress=progress)
        x, y = datasets.load(entry.dataset, "train", entry.image_size)
        x_test, y_test = datasets.load(entry.dataset, "test", entry.image_size)
        params = sum(p.numel() for p in model.parameters())
        log(f"      {params:,} parameters; {len(x):,} training and {len(x_test):,} held-out digits {lap('model')}")

        # 2. compression, each step compiled and measured (3: the final step's file)
        log(f"\n[2/6] compress: {describe(RECIPE)}")
        example = (zoo.example_input(MODEL),)
        model, rows, data = pipeline.run(RECIPE, model, example, calibration_data=[x[:CALIBRATION_IMAGES]],
                                         data=(x, y), test=(x_test, y_test), progress=progress,
                                         log=lambda line: None)
        log(step_table(rows) + f"\n  {lap('compress')}")
    write_atomic(os.fspath(model_path), data)
    log(f"\n[3/6] compiled: {model_path} ({len(data):,} bytes)")

    # 4. what the file holds, and what it costs
    s = summary(load_file(model_path))
    g = s["size_ledger"]
    log(f"\n[4/6] size:  the file's weights and biases (batch norm folded in): float32 {g['float32_bytes']:,} B -> "
        f"int8 {g['int8_dense_bytes']:,} B -> stored {g['stored_bytes']:,} B "
        f"({g['float32_bytes'] / max(g['stored_bytes'], 1):.1f}x smaller); the whole .mfb {s['file_bytes']:,} B")
    log(f"      arena: {s['arena_bytes']:,} B planned at compile time (liveness lower bound "
        f"{s['liveness_lower_bound_bytes']:,} B): all the RAM the model needs besides the stack")

    # 5. Numba and C on every held-out digit, the same int8 inputs
    numba, c = Interpreter(model_path, backend="numba"), Interpreter(model_path, backend="c")
    t_in = numba.model.tensors[numba.model.inputs[0]]
    q = quantize(x_test.permute(0, 2, 3, 1).numpy(), t_in.scale_value, t_in.zero_point)  # NCHW -> NHWC, int8
    y_numba, y_c = numba.invoke(q)[0], c.invoke(q)[0]
    int8_acc = float((y_numba.reshape(len(q), -1).argmax(-1) == y_test.numpy()).mean())
    float_acc = rows[0].accuracy
    log(f"      top-1 on the {len(q)} held-out digits: float {100 * float_acc:.2f}% (the uncompressed model, "
        f"PyTorch) -> int8 {100 * int8_acc:.2f}% (the .mfb, on the runtime)")
    if y_numba.shape != y_c.shape or y_numba.tobytes() != y_c.tobytes():
        raise DemoFailure(f"the Numba and C runtimes disagree on {model_path}: first on held-out input "
                          f"{_first_difference(y_numba, y_c)}")
    log(f"\n[5/6] runtimes agree: {AGREE} on all {len(q)} held-out inputs ({y_numba.nbytes:,} output bytes) "
        f"{lap('runtimes')}")

    # 6. the same file in Cortex-M firmware under QEMU
    result = DemoResult(out, model_path, plot_path, rows, s, float_acc, int8_acc, len(q), seconds=seconds)
    core = firmware.BOARDS.get(board, board)
    missing = firmware.missing_tools()
    if firmware_inputs <= 0:
        result.firmware_skipped = "not asked for"
    elif missing:
        result.firmware_skipped = f"{', '.join(missing)} not found"
    elif firmware.example_folder() is None:
        result.firmware_skipped = "firmware_examples/cortex-m is not here (it ships with the source checkout)"
    if result.firmware_skipped:
        hint = f"; to run it: {firmware.install_hint(missing)}" if missing and firmware_inputs > 0 else ""
        log(f"\n[6/6] Cortex-M step skipped: {result.firmware_skipped}{hint}")
    else:
        n = min(firmware_inputs, len(q))
        log(f"\n[6/6] {core} firmware ({board}) under QEMU, one build per input, {n} held-out digits: "
            f"{out / 'firmware'}")
        try:
            runs = firmware.run_model(data, list(q[:n]), out / "firmware", board, workers=os.cpu_count() or 1,
                                      progress=progress)
        except firmware.FirmwareError as exc:
            raise DemoFailure(str(exc)) from None
        for i, r in enumerate(runs):
            if r.outputs != [y_numba[i].tobytes()] or not r.expected_match:
                raise DemoFailure(f"the {core} firmware's outputs differ from the host's on held-out input {i}:\n"
                                  f"{r.text}")
        result.firmware_inputs = n
        log(f"      firmware agrees: the same bytes as the host on all {n} inputs (kernel path {runs[0].kernel_path}, "
            f"arena {runs[0].arena_bytes:,} B, stack peak {runs[0].stack_bytes:,} B) {lap('firmware')}")

    # 7. the plot
    plot(rows, plot_path, f"microflat demo: {MODEL} on 8x8 digits\n{describe(RECIPE)}")
    log(f"\nplot: {plot_path}")
    seconds["total"] = time.perf_counter() - start
    log(f"done in {seconds['total']:.1f} s")
    return result
