"""Compile every zoo model and report what issue 4 asks: parameters and MACs against the MLPerf Tiny
reference files, file and arena bytes, and int8 accuracy against float (SQNR of the output, and the
share of int8 outputs within +-1 LSB of the fake-quant simulation).

    .venv/bin/python benchmarks/zoo_report.py            # markdown table on stdout

Untrained architectures (no dataset here) are seeded and BN-re-estimated (zoo.load); they are
calibrated on 64 inputs from their input distribution and measured on 64 others.
"""

import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
import tflite_reference  # noqa: E402

from microflat.compiler import compile_model, zoo  # noqa: E402
from microflat.compiler.simulate import run_op  # noqa: E402
from microflat.runtime import Interpreter, load_bytes  # noqa: E402
from microflat.runtime.inspect_model import summary  # noqa: E402

REF = tflite_reference.reference_dir()
MLPERF = {"ds_cnn": "kws_ref_model.tflite", "mobilenet_v1_025": "vww_96_int8.tflite",
          "resnet8": "pretrainedResnet_quant.tflite", "fc_autoencoder": "ad01_int8.tflite"}


def params(lm):
    ws = {int(i) for op in lm.operators if op.opcode in (0, 1, 2) for i in op.inputs[1:] if i >= 0}
    return sum(int(np.prod(lm.tensors[i].shape)) for i in ws)


def per_op_agreement(cm, x):
    """Share of every op's int8 outputs within +-1 LSB of that op simulated in fake-quant PyTorch
    on the same (dequantized) int8 inputs: each op's own error, without the drift that a
    free-running simulation of a deep network accumulates."""
    phys = cm.to_physical([x])[0]
    traced = Interpreter(cm.data).trace(phys.numpy())
    g = cm.graph
    env = {v: torch.fake_quantize_per_tensor_affine(phys, v.scale, v.zero_point, -128, 127) for v in g.inputs}
    for node in g.nodes:
        v = node.output
        env[v] = torch.from_numpy((traced[v.name].astype(np.float32) - v.zero_point) * np.float32(v.scale))
    ok = total = 0
    for node in g.nodes:
        v = node.output
        y = run_op(node, [env[i].reshape((len(x),) + tuple(i.shape[1:])) for i in node.inputs], True)
        want = torch.fake_quantize_per_tensor_affine(y, v.scale, v.zero_point, -128, 127).numpy()
        want = np.round(want / v.scale) + v.zero_point
        d = np.abs(traced[v.name].reshape(want.shape).astype(np.int64) - want)
        ok += int((d <= 1).sum())
        total += d.size
    return ok / total


def main():
    print("| model | params | ref params | MACs | ref MACs | .mfb bytes | ref .tflite bytes | arena B | "
          "SQNR vs float dB | within +-1 LSB of fake-quant | per op, same int8 inputs |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in zoo.ZOO:
        model = zoo.load(name, trained=True)
        if zoo.ZOO[name].dataset:
            calib, x = zoo.inputs(name, 512, split="train")[:64], zoo.inputs(name, 64, split="test")
        else:
            calib, x = zoo.inputs(name, 64, seed=10), zoo.inputs(name, 64, seed=11)
        cm = compile_model(model, (x[:1],), [calib[i:i + 16] for i in range(0, 64, 16)], progress=False)
        lm = load_bytes(cm.data)
        s = summary(lm)
        (q,) = Interpreter(cm.data).invoke(cm.to_physical([x])[0].numpy())
        sc, zp = cm.output_quantization[0]
        y = (q.astype(np.float64) - zp) * sc
        with torch.no_grad():
            ref = model(x).double().numpy()
        ref = ref.transpose(0, 2, 3, 1) if ref.ndim == 4 else ref
        sqnr = 10 * np.log10((ref ** 2).sum() / ((ref - y) ** 2).sum())
        (sim,) = cm.simulate(x)
        within = np.mean(np.abs(q.astype(np.int64) - np.clip(np.round(sim / sc) + zp, -128, 127)) <= 1)
        per_op = per_op_agreement(cm, x[:16])
        r = tflite_reference.read(os.path.join(REF, MLPERF[name])) if name in MLPERF else None
        rb = os.path.getsize(os.path.join(REF, MLPERF[name])) if name in MLPERF else None
        def n(v):
            return "-" if v is None else f"{v:,}"

        print(f"| {name} | {n(params(lm))} | {n(r and r['params'])} | {n(s['macs'])} | {n(r and r['macs'])} | "
              f"{n(len(cm.data))} | {n(rb)} | {n(s['arena_bytes'])} | {sqnr:.1f} | {100 * within:.2f}% | {100 * per_op:.3f}% |")


if __name__ == "__main__":
    main()
