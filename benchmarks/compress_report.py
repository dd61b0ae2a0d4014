"""The figures of the compression front end (issue 5), measured end to end on the bundled data.

    .venv/bin/python benchmarks/compress_report.py [--quick] [--only NAME ...]

1. deep_compression  LeNet-300-100, MNIST subset: prune 90% (global magnitude,
                     Zhu-Gupta schedule) -> 16 clusters -> int8 QAT, against the
                     float baseline; int8 accuracy from the Numba runtime.
2. channels          the small CNN on digits: structured pruning to half the MACs,
                     fine-tuned; MACs from the compiled file.
3. distillation      a pruned student fine-tuned with and without the Hinton loss,
                     same seeds, same data, same epochs.
4. lowrank           LeNet-300-100 factorized to half the parameters, fine-tuned.

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
from microflat.compiler.compress import pipeline, report, structured
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
    rows = _run("lenet300", recipe)
    print("## LeNet-300-100, MNIST subset: prune 90% -> 16 clusters -> int8 QAT\n")
    print(report.render(rows))
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


def channels(quick):
    recipe = R.Recipe(steps=[R.Channels(mac_fraction=0.5, epochs=4 if quick else 10)], distill=False)
    rows = _run("small_cnn", recipe)
    print("## small CNN, digits: structured pruning to half the MACs\n")
    print(report.render(rows))
    print(f"\nMACs {rows[-1].macs:,} / {rows[0].macs:,} = {rows[-1].macs / rows[0].macs:.3f}\n")


def distillation(quick):
    """LeNet-5 with 75% of its MACs removed, fine-tuned on 1,000 labeled images; teacher: the uncompressed LeNet-5
    (trained on all 4,000). Three seeds each, identical but for the loss."""
    name = "lenet5"
    (x, y), (xt, yt) = _data(name)
    x, y = x[:1000], y[:1000]
    teacher = zoo.load(name)
    seeds = (0, 1) if quick else (0, 1, 2, 3, 4)
    results = {}
    for distill in (False, True):
        accs = []
        for seed in seeds:
            student = zoo.load(name)
            structured.remove_channels_to_macs(student, (zoo.example_input(name),), 0.25)
            loss = Distiller(copy.deepcopy(teacher), 4.0, 0.7) if distill else None
            training.fit(student, x, y, epochs=3, seed=seed, loss_fn=loss)
            accs.append(training.accuracy(training.predict(student, xt), yt))
        results[distill] = accs
    print("## distillation: LeNet-5 at 25% of its MACs, fine-tuned 3 epochs on 1,000 labeled MNIST images\n")
    print("| fine-tuning | seeds | top-1 per seed | mean |\n|---|---|---|---|")
    for distill, accs in results.items():
        print(f"| {'Hinton loss (T=4, alpha=0.7)' if distill else 'cross-entropy only'} | {list(seeds)} | "
              f"{', '.join(f'{100 * a:.2f}%' for a in accs)} | {100 * statistics.mean(accs):.2f}% |")
    print()


def lowrank(quick):
    recipe = R.Recipe(steps=[R.LowRank(budget=0.5, epochs=4 if quick else 10)], distill=False)
    rows = _run("lenet300", recipe)
    print("## LeNet-300-100, MNIST subset: low-rank SVD to half the parameters\n")
    print(report.render(rows))
    print(f"\nparams {rows[-1].params:,} / {rows[0].params:,} = {rows[-1].params / rows[0].params:.3f}\n")


EXPERIMENTS = {"deep_compression": deep_compression, "channels": channels, "distillation": distillation,
               "lowrank": lowrank}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer epochs and seeds (a smoke run)")
    p.add_argument("--only", nargs="+", choices=sorted(EXPERIMENTS))
    args = p.parse_args()
    for name in args.only or EXPERIMENTS:
        EXPERIMENTS[name](args.quick)


if __name__ == "__main__":
    main()
