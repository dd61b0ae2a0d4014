"""The figures of the compression front end (issue 5), measured end to end on the bundled data.

    .venv/bin/python benchmarks/compress_report.py [--quick] [--only NAME ...]

1. deep_compression  LeNet-300-100, MNIST subset: prune 95% (global magnitude,
                     Zhu-Gupta schedule) -> 16 clusters -> int8 QAT, against the
                     float baseline; int8 accuracy from the Numba runtime; the
                     .mfb as executed (each weight in its smallest encoding)
                     against the float32 weights (Han et al. 2016: 40x).
   lenet5            the same recipe on Caffe's LeNet-5 (Han et al.: 39x).
   mlperf            ds_cnn and resnet8 with the MLPerf Tiny reference weights
                     (read from the reference .tflite files), pruned and
                     clustered in one shot (no dataset to fine-tune on): .mfb
                     bytes against the reference .tflite, SQNR against float.
2. channels          the small CNN on digits: structured pruning to half the MACs,
                     fine-tuned; MACs from the compiled file.
3. distillation      pruned students fine-tuned with and without the Hinton loss,
                     same seeds, same data, same epochs and augmentation.
4. lowrank           LeNet-300-100 factorized to half the parameters, fine-tuned.
5. qat               every zoo model through QAT, compiled, against the QAT model's outputs.

Each prints a markdown table (report.render) or its own lines. Nothing here
is asserted: tests/test_compress_*.py hold the checks.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys

import numpy as np
import torch

from microflat.compiler import datasets, training, zoo
from microflat.compiler.compress import recipe as R
from microflat.compiler.compress import pipeline, prune, report, structured
from microflat.compiler.compress.distill import Distiller

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import tflite_reference  # noqa: E402  (reads the reference .tflite files; no TFLite runtime needed)


def _data(name):
    e = zoo.entry(name)
    return datasets.load(e.dataset, "train", e.image_size), datasets.load(e.dataset, "test", e.image_size)


def _run(name, recipe, teacher=None):
    (x, y), test = _data(name)
    model = zoo.load(name)
    _, rows, _ = pipeline.run(recipe, model, (zoo.example_input(name),), calibration_data=[x[:512]], data=(x, y),
                              test=test, teacher=teacher, progress=False, log=lambda s: None)
    return rows


def deep_compression(quick):
    epochs = 6 if quick else 30
    recipe = R.BUILTIN["deep_compression"]
    if quick:
        recipe = R.Recipe(steps=[R.Prune(sparsity=0.91, scope="global", epochs=epochs), R.Cluster(clusters=16, epochs=4),
                                 R.QAT(epochs=3)])
    (x, y), test = _data("lenet300")
    model, rows, _ = pipeline.run(recipe, zoo.load("lenet300"), (zoo.example_input("lenet300"),),
                                  calibration_data=[x[:512]], data=(x, y), test=test, progress=False,
                                  log=lambda s: None)
    sparsity = recipe.steps[0].sparsity
    print(f"## LeNet-300-100, MNIST subset: prune {sparsity:.0%} -> 16 clusters -> int8 QAT\n")
    print(report.render(rows))
    compiled = report.compile_step(model, (zoo.example_input("lenet300"),), [x[:512]])
    exact, within = report.lsb_agreement(model, compiled, test[0])
    print(f"\nthe compiled .mfb against the QAT model's fake-quant outputs, {test[0].shape[0] * 10:,} values: "
          f"{100 * exact:.2f}% equal, {100 * within:.2f}% within 1 LSB")
    # the float baseline trained as long as the compressed model was in all (15 + epochs + 7)
    (x, y), (xt, yt) = _data("lenet300")
    torch.manual_seed(0)
    longer = training.fit(zoo.LeNet300(), x, y, epochs=15 + epochs + 7, seed=0)
    acc_long = training.accuracy(training.predict(longer, xt), yt)
    base, last = rows[0], rows[-1]
    print(f"\nsparsity {1 - last.nonzero / last.params:.2%} of all parameters; int8 top-1 {100 * last.int8_accuracy:.2f}% vs float "
          f"baseline {100 * base.accuracy:.2f}% ({100 * (last.int8_accuracy - base.accuracy):+.2f} points); vs a float "
          f"baseline trained {15 + epochs + 7} epochs, {100 * acc_long:.2f}% "
          f"({100 * (last.int8_accuracy - acc_long):+.2f} points)")
    print(f"the executed .mfb: {last.file_bytes:,} B, {last.float32_bytes / last.file_bytes:.1f}x smaller than the "
          f"{last.float32_bytes:,} float32 bytes of the weights and biases (Han et al. 2016: 40x)\n")


def lenet5(quick):
    """Caffe's LeNet-5 (Han et al. 2016, Table 1: 1720 KB -> 44 KB, 39x, at 0.74% error) with the same recipe."""
    epochs = 4 if quick else 20
    recipe = R.Recipe(steps=[R.Prune(sparsity=0.95, scope="global", epochs=epochs), R.Cluster(clusters=16, epochs=3),
                             R.QAT(epochs=2)])
    rows = _run("lenet5", recipe)
    print("## LeNet-5, MNIST subset: prune 95% -> 16 clusters -> int8 QAT\n")
    print(report.render(rows))
    base, last = rows[0], rows[-1]
    print(f"\nint8 top-1 {100 * last.int8_accuracy:.2f}% vs float baseline {100 * base.accuracy:.2f}% "
          f"({100 * (last.int8_accuracy - base.accuracy):+.2f} points); the executed .mfb {last.file_bytes:,} B, "
          f"{last.float32_bytes / last.file_bytes:.1f}x smaller than the float32 weights (Han et al.: 39x)\n")


MLPERF = {"ds_cnn": ("kws_ref_model.tflite", "kws_input_int8_1x49x10x1.npy"),
          "resnet8": ("pretrainedResnet_quant.tflite", "ic_input_uint8_1x32x32x3.npy")}


def with_reference_weights(name):
    """The zoo architecture with the MLPerf Tiny reference weights: each conv/depthwise/FC of the .tflite (op
    order equals our module order) dequantized into its layer; the BN after it set to the identity (the
    .tflite has it folded already)."""
    model = zoo.load(name, trained=False)
    layers = tflite_reference.layers(os.path.join(tflite_reference.reference_dir(), MLPERF[name][0]))
    mods = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(mods) == len(layers), (len(mods), len(layers))
    with torch.no_grad():
        for m, ref in zip(mods, layers):
            q = ref["weight"].astype(np.float32)
            s = ref["weight_scale"].reshape((-1,) + (1,) * (q.ndim - 1))
            w = q * s
            if ref["code"] == tflite_reference.DEPTHWISE_CONV_2D:
                w = w[0].transpose(2, 0, 1)[:, None]          # [1, H, W, C] -> [C, 1, H, W]
            elif ref["code"] == tflite_reference.CONV_2D:
                w = w.transpose(0, 3, 1, 2)                   # OHWI -> OIHW
            assert tuple(w.shape) == tuple(m.weight.shape), (w.shape, m.weight.shape)
            m.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
            bias = ref["bias"].astype(np.float64) * ref["input_scale"] * ref["weight_scale"].astype(np.float64)
            m.bias.copy_(torch.from_numpy(bias.astype(np.float32)))
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.fill_(1.0), m.bias.zero_(), m.running_mean.zero_(), m.running_var.fill_(1.0 - m.eps)
    return model.eval()


def _sqnr_db(ref, out):
    ref, out = np.asarray(ref, np.float64), np.asarray(out, np.float64)
    return 10 * np.log10((ref ** 2).sum() / max(((out - ref) ** 2).sum(), 1e-30))


def mlperf(quick):
    """ds_cnn and resnet8 with the reference weights: .mfb bytes against the reference .tflite, SQNR against float."""
    from microflat.compiler.api import compile_model
    from microflat.compiler.compress import cluster
    from microflat.runtime import Interpreter

    print("## MLPerf Tiny ds_cnn and resnet8, reference weights, compressed in one shot (no data to fine-tune on)\n")
    print("- calibration and SQNR inputs: the reference sample input plus 63 samples of the zoo's input "
          "distribution; SQNR = 10 log10(sum f^2 / sum (q - f)^2) over the softmax outputs, q the .mfb on the "
          "Numba runtime, f the uncompressed float model; top-1 agreement with f over the same 64 inputs\n")
    print("| model | weights | reference .tflite B | .mfb B | .mfb / .tflite | SQNR vs float (dB) | top-1 = float |")
    print("|---|---|---|---|---|---|---|")
    levels = [("int8, dense", None, None), ("32 clusters/channel", 0.0, 32), ("16 clusters/channel", 0.0, 16),
              ("30% pruned, 32 clusters/channel", 0.3, 32), ("50% pruned, 16 clusters/channel", 0.5, 16)]
    for name, (tfl, sample) in MLPERF.items():
        ref_path = os.path.join(tflite_reference.reference_dir(), tfl)
        x0 = np.load(os.path.join(tflite_reference.reference_dir(), "samples", sample))
        info = tflite_reference.read(ref_path)
        if x0.dtype == np.uint8:  # IC: pixels; int8 q = u8 - 128 at scale 1, zero point -128, so real = u8
            x0 = x0.astype(np.float32)
        else:
            x0 = (x0.astype(np.float32) - info["input_zero_point"]) * info["input_scale"]
        x0 = torch.from_numpy(np.ascontiguousarray(x0.transpose(0, 3, 1, 2)))
        x = torch.cat([x0, zoo.inputs(name, 63, seed=1)])
        base = with_reference_weights(name)
        with torch.no_grad():
            f = base(x).numpy()
        for label, sparsity, k in levels:
            model = copy.deepcopy(base)
            if sparsity is not None:
                if sparsity:
                    prune.magnitude(model, sparsity)
                cluster.apply(model, k, per_channel=True)  # the reference weights are per-channel int8
                prune.finalize(model)
            compiled = compile_model(model, (x[:1],), [x], weight_encoding="dense" if k is None else "auto",
                                     progress=False)
            q = Interpreter(compiled.data).invoke(compiled.to_physical([x])[0].numpy(), dequantize=True)[0]
            q = q.reshape(f.shape)
            agree = float((q.argmax(-1) == f.argmax(-1)).mean())
            size = len(compiled.data)
            print(f"| {name} | {label} | {os.path.getsize(ref_path):,} | {size:,} | "
                  f"{size / os.path.getsize(ref_path):.2f} | {_sqnr_db(f, q):.1f} | {100 * agree:.1f}% |", flush=True)
    print()


def _one_step(name, step, title, figure):
    rows = _run(name, R.Recipe(steps=[step]))
    print(f"## {title}\n")
    print(report.render(rows))
    before, after = getattr(rows[0], figure), getattr(rows[-1], figure)
    print(f"\n{figure} {after:,} / {before:,} = {after / before:.3f}\n")


def channels(quick):
    _one_step("small_cnn", R.Channels(mac_fraction=0.5, epochs=4 if quick else 10),
              "small CNN, digits: structured pruning to half the MACs", "macs")


def _student(kind):
    if kind == "small_cnn":
        s = zoo.load("small_cnn")
        structured.remove_channels_to_macs(s, (zoo.example_input("small_cnn"),), 0.25)
    else:
        s = zoo.load("lenet300")
        prune.magnitude(s, 0.95, scope="global")
    return s


DISTILL_CASES = [
    # (student, dataset model, epochs, shift): every case run with cross-entropy and with the Hinton loss
    ("small_cnn", "small_cnn", 10, 1),
    ("small_cnn", "small_cnn", 10, 0),
    ("lenet300", "lenet300", 3, 0),
]


def distillation(quick):
    """Pruned students fine-tuned with and without the Hinton loss: same seeds, same data, same epochs and
    augmentation; the teacher is the uncompressed model."""
    seeds = (0, 1) if quick else (0, 1, 2, 3, 4)
    losses = [("cross-entropy", None), ("Hinton T=4, alpha=0.7", (4.0, 0.7)), ("Hinton T=1, alpha=1", (1.0, 1.0))]
    print("## distillation: pruned students, fine-tuned with and without the Hinton loss\n")
    print("- small_cnn: digits, channels removed to 25% of the MACs; lenet300: MNIST subset, 95% of the weights "
          "pruned (global magnitude, one shot, masks kept)\n")
    print("| student | epochs | shifts (px) | loss | top-1 per seed | mean |\n|---|---|---|---|---|---|")
    for kind, name, epochs, shift in DISTILL_CASES:
        (x, y), (xt, yt) = _data(name)
        teacher = zoo.load(name)
        for label, hinton in losses:
            accs = []
            for seed in seeds:
                student = _student(kind)
                loss = None if hinton is None else Distiller(copy.deepcopy(teacher), *hinton)
                training.fit(student, x, y, epochs=epochs, seed=seed, loss_fn=loss, shift=shift)
                accs.append(training.accuracy(training.predict(student, xt), yt))
            print(f"| {kind} | {epochs} | {shift} | {label} | {', '.join(f'{100 * a:.2f}' for a in accs)} | "
                  f"{100 * statistics.mean(accs):.2f}% |", flush=True)
    print()


def lowrank(quick):
    _one_step("lenet300", R.LowRank(budget=0.5, epochs=4 if quick else 10),
              "LeNet-300-100, MNIST subset: low-rank SVD to half the parameters", "params")


def qat_agreement(quick):
    """Each zoo model through QAT (trained models: 2 epochs on their data; the others: ranges calibrated on 32
    inputs and one training step), compiled, and compared with the QAT model's own outputs."""
    from microflat.compiler.compress import qat

    print("## QAT: the compiled int8 model against the QAT model's fake-quant outputs\n")
    print("| model | QAT | output values | equal | within 1 LSB |\n|---|---|---|---|---|")
    for name, e in zoo.ZOO.items():
        model = zoo.load(name)
        if e.dataset:
            (x, y), (xt, _) = _data(name)
            q = qat.prepare(model, [x[:256]])
            training.fit(q, x, y, epochs=1 if quick else 2, lr=1e-4)
            how = "2 epochs" if not quick else "1 epoch"
        else:
            xt = zoo.inputs(name, 96, seed=3)
            x, xt = xt[:64], xt[64:]
            q = qat.prepare(model, [x[:32]])
            q.train()
            q(x[:16]).float().pow(2).mean().backward()
            how = "calibrated, 1 step"
        compiled = report.compile_step(q, (zoo.example_input(name),), [x[:32]])
        exact, within = report.lsb_agreement(q, compiled, xt)
        n = compiled.graph.outputs[0].shape
        count = len(xt) * int(torch.tensor(n[1:]).prod())
        print(f"| {name} | {how} | {count:,} | {100 * exact:.2f}% | {100 * within:.2f}% |", flush=True)
    print()


EXPERIMENTS = {"deep_compression": deep_compression, "lenet5": lenet5, "mlperf": mlperf, "channels": channels, "distillation": distillation,
               "lowrank": lowrank, "qat": qat_agreement}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer epochs and seeds (a smoke run)")
    p.add_argument("--only", nargs="+", choices=sorted(EXPERIMENTS))
    args = p.parse_args()
    for name in args.only or EXPERIMENTS:
        EXPERIMENTS[name](args.quick)


if __name__ == "__main__":
    main()
