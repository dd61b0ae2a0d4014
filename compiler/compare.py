"""Where does a compiled model lose accuracy? Each layer of the int8 model against its float model.

    rows = compare("model.mfb", "model.pt2", x)       # x: float32, PyTorch layout, batch first
    print(render(rows))

The float side is the model's own IR run in PyTorch (the same lowering the
compiler used, so every .mfb tensor has a float twin of the same name); the
int8 side is the runtime's Interpreter, keeping every operator's output
(Interpreter.trace). Both run on the same input. For each op output:

    SQNR (dB) = 10 log10( sum f^2 / sum (f - d)^2 ),  d = s * (q - zp), the dequantized int8
    max error = max |f - d|, in real units and in steps of s (LSB)

A healthy int8 layer has an SQNR of 30-40 dB (one quantization step is about
1/255 of the range: 20 log10(255 * sqrt(12) / 2) ~ 45 dB for uniform data);
the layer where the SQNR falls is where accuracy is lost.
"""

from __future__ import annotations

import math

import numpy as np

from microflat.runtime import Interpreter, load_bytes, load_file
from microflat.runtime.errors import CompileError

from .api import lower_program
from .quantize import physical_batches
from .simulate import run_graph


def compare(mfb, model, inputs, *, backend: str = "numba") -> list[dict]:
    """Per-layer SQNR and max error of the .mfb (path or bytes) against the float model (nn.Module, ExportedProgram or .pt2)."""
    import torch

    loaded = load_bytes(bytes(mfb)) if isinstance(mfb, (bytes, bytearray)) else load_file(mfb)
    if not all(t.name for t in loaded.tensors):  # layers are matched to the float model's by tensor name
        where = "the model" if isinstance(mfb, (bytes, bytearray)) else str(mfb)
        raise CompileError(f"{where}: its tensor names were stripped (--strip-names), and a per-layer comparison "
                           "matches layers by name: compare a file compiled without --strip-names")
    items = inputs if isinstance(inputs, (tuple, list)) else [inputs]
    example = tuple(torch.as_tensor(np.asarray(x[:1], np.float32)) for x in items)
    graph = lower_program(model, example)
    physical = next(physical_batches(graph, [tuple(torch.as_tensor(np.asarray(x, np.float32)) for x in items)]))
    _, env = run_graph(graph, physical, record=True)
    floats = {v.name: t.numpy().astype(np.float64) for v, t in env.items()}
    tensors = {t.name: t for t in loaded.tensors}
    traced = Interpreter(loaded, backend).trace(*[p.numpy() for p in physical])
    ops = {n.output.name: n.op for n in graph.nodes}
    rows = []
    for name, q in traced.items():
        t = tensors[name]
        if name not in floats or t.dtype != "int8" or t.scale_value is None:
            continue
        f = floats[name].reshape(q.shape)
        d = t.scale_value * (q.astype(np.float64) - t.zero_point)
        noise = float(((f - d) ** 2).sum())
        signal = float((f ** 2).sum())
        sqnr = math.inf if noise == 0 else (10 * math.log10(signal / noise) if signal > 0 else -math.inf)
        err = float(np.abs(f - d).max())
        rows.append(dict(name=name, op=ops.get(name, ""), shape=list(t.shape), scale=t.scale_value,
                         zero_point=t.zero_point, sqnr_db=sqnr, max_abs_error=err, max_error_lsb=err / t.scale_value))
    return rows


def render(rows: list[dict]) -> str:
    head = f"{'tensor':<28} {'op':<10} {'shape':<18} {'SQNR dB':>8} {'max err':>10} {'LSB':>7}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['name'][:28]:<28} {r['op']:<10} {'x'.join(map(str, r['shape'])):<18} "
                     f"{r['sqnr_db']:>8.1f} {r['max_abs_error']:>10.4g} {r['max_error_lsb']:>7.1f}")
    worst = min(rows, key=lambda r: r["sqnr_db"]) if rows else None
    if worst:
        lines.append(f"lowest SQNR: {worst['name']} ({worst['sqnr_db']:.1f} dB)")
    return "\n".join(lines)
