"""Measure a model after each compression step; render the table and the size-accuracy plot.

Every figure comes from the model as it is deployed: the step's model is
compiled (post-training quantization on the calibration data, or the QAT
model's own quantization), the .mfb's bytes and MACs are the compiled
file's, and the int8 accuracy is the Numba runtime's over the test set.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import asdict, dataclass

import numpy as np
import torch

from microflat.runtime import Interpreter
from microflat.runtime.inspect_model import summary

from .. import training
from ..api import compile_model
from .metrics import count_nonzero, count_params


@dataclass
class Row:
    step: str
    accuracy: float | None        # the PyTorch model (float; fake-quantized for QAT), top-1
    int8_accuracy: float | None   # the compiled .mfb on the Numba runtime, top-1
    params: int
    nonzero: int
    max_distinct: int             # most distinct values in one layer's weight
    macs: int
    file_bytes: int               # the .mfb as deployed: each weight in its smallest encoding, run in place
    dense_file_bytes: int         # the same model with dense int8 weights
    gzip_bytes: int               # the dense int8 .mfb gzipped (TensorFlow's clustering guide measures this)
    float32_bytes: int            # the weights and biases as float32
    weight_bytes: int             # the deployed file's constants (encoded weights, int32 biases)


def _top1(logits, labels) -> float:
    return float((np.asarray(logits).reshape(len(labels), -1).argmax(-1) == np.asarray(labels)).mean())


@torch.no_grad()
def _max_distinct(model) -> int:
    best = 0
    for m in model.modules():
        w = getattr(m, "weight", None)
        if isinstance(w, torch.Tensor) and w.dim() >= 2:
            best = max(best, int(torch.unique(w.detach()).numel()))
    return best


def compile_step(model, example_inputs, calibration_data, strip_names: bool = False):
    return compile_model(model.eval(), example_inputs, calibration_data, strip_names=strip_names, progress=False)


def measure(step: str, model, example_inputs, calibration_data, test=None, evaluate=None, strip_names: bool = False):
    """(Row, compiled model): accuracy from `evaluate(model)` or the test tensors (x, y); strip_names: the file
    keeps only its inputs' and outputs' tensor names (compile_model's)."""
    compiled = compile_step(model, example_inputs, calibration_data, strip_names)
    acc = int8 = None
    if evaluate is not None:
        acc = float(evaluate(model))
    elif test is not None:
        acc = training.accuracy(training.predict(model, test[0]), test[1])
    runtime = Interpreter(compiled.data)
    if test is not None:
        x = compiled.to_physical([test[0]])[0].numpy()
        out = runtime.invoke(x, dequantize=True)[0]
        int8 = _top1(out, test[1].numpy() if isinstance(test[1], torch.Tensor) else test[1])
    s = summary(runtime.model)
    params = count_params(model)
    dense = compiled.encoded("dense")
    row = Row(step, acc, int8, params, count_nonzero(model), _max_distinct(model), int(s["macs"]),
              len(compiled.data), len(dense), len(gzip.compress(dense, 9)), 4 * params, int(s["weight_bytes"]))
    return row, compiled


@torch.no_grad()
def lsb_agreement(model, compiled, x: torch.Tensor) -> tuple[float, float]:
    """(fraction of output values equal, fraction within 1 LSB): the .mfb on the Numba runtime against the
    PyTorch model's own outputs (a QAT model's are on the int8 grid) quantized with the file's output scale."""
    out = Interpreter(compiled.data).invoke(compiled.to_physical([x])[0].numpy())[0].astype(np.int64)
    ref = model.eval()(x).numpy().astype(np.float64)
    s, zp = compiled.output_quantization[0]
    want = np.clip(np.round(ref / s) + zp, -128, 127)
    d = np.abs(out.reshape(want.shape) - want)
    return float((d == 0).mean()), float((d <= 1).mean())


def render(rows: list[Row]) -> str:
    head = ["step", "float top-1", "int8 top-1", "params", "nonzero", "max values/layer", "MACs", "float32 B",
            "int8 dense .mfb B", "dense .mfb gzip B", "compressed .mfb B", "x vs float32"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def pct(v):
        return "-" if v is None else f"{100 * v:.2f}%"

    for r in rows:
        lines.append(f"| {r.step} | {pct(r.accuracy)} | {pct(r.int8_accuracy)} | {r.params:,} | {r.nonzero:,} | "
                     f"{r.max_distinct:,} | {r.macs:,} | {r.float32_bytes:,} | {r.dense_file_bytes:,} | "
                     f"{r.gzip_bytes:,} | **{r.file_bytes:,}** | {r.float32_bytes / r.file_bytes:.1f}x |")
    return "\n".join(lines)


def to_json(rows: list[Row]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=2)


def plot(rows: list[Row], path: str, title: str = "") -> None:
    """Size (the compressed .mfb, the dense one, and its gzip) against int8 top-1, one point per step, written
    atomically."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..writer import write_atomic

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    acc = [100 * (r.int8_accuracy if r.int8_accuracy is not None else (r.accuracy or 0)) for r in rows]
    ax.plot([r.file_bytes / 1024 for r in rows], acc, "o-", label=".mfb, compressed (executed as is)")
    ax.plot([r.dense_file_bytes / 1024 for r in rows], acc, "^:", label=".mfb, dense int8")
    ax.plot([r.gzip_bytes / 1024 for r in rows], acc, "s--", label=".mfb, dense int8, gzipped")
    for r, a in zip(rows, acc):
        ax.annotate(r.step, (r.file_bytes / 1024, a), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("compiled size (KiB, log scale)")
    ax.set_ylabel("int8 top-1 (%)")
    ax.set_title(title or "size vs accuracy after each compression step")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=path.rsplit(".", 1)[-1] if "." in path else "png", dpi=120)
    plt.close(fig)
    write_atomic(path, buf.getvalue())
