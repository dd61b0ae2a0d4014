"""The figures of the compression front end (issue 5), measured end to end on the bundled data.

    .venv/bin/python benchmarks/compress_report.py [--quick] [--only NAME ...]

1. deep_compression  LeNet-300-100, MNIST subset: prune 90% (global magnitude,
                     Zhu-Gupta schedule) -> 16 clusters -> int8 QAT, against the
                     float baseline; int8 accuracy from the Numba runtime.
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
import statistics

import torch

from microflat.compiler import datasets, training, zoo
from microflat.compiler.compress import recipe as R
from microflat.compiler.compress import pipeline, prune, report, structured
from microflat.compiler.compress.distill import Distiller


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
    print("## LeNet-300-100, MNIST subset: prune 91% -> 16 clusters -> int8 QAT\n")
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
          f"({100 * (last.int8_accuracy - acc_long):+.2f} points)\n")


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


EXPERIMENTS = {"deep_compression": deep_compression, "channels": channels, "distillation": distillation,
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
