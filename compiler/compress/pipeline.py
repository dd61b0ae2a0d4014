"""Run a recipe on a model: apply each step, fine-tune it, measure it (the engine of `microflat compress`)."""

from __future__ import annotations

import copy
import dataclasses

import torch.nn as nn
from tqdm.auto import tqdm

from microflat.runtime.errors import CompileError

from . import recipe as recipes
from .report import Row, measure


def run(recipe: recipes.Recipe, model: nn.Module, example_inputs, *, calibration_data, train=None,
        data=None, test=None, evaluate=None, teacher: nn.Module | None = None, strip_names: bool = False,
        progress: bool = True, log=print) -> tuple[nn.Module, list[Row], bytes]:
    """Apply the recipe's steps to `model` (in place; QAT returns a new GraphModule).

    train: train(model, loss_fn, on_step, on_epoch, epochs, lr), with train.steps_per_epoch; or data=(x, y) for
    the default loop. test=(x, y) gives the float and int8 accuracy; evaluate(model) -> top-1 replaces the float
    one. teacher: the model to distill from (recipe.distill), by default a copy of the uncompressed model. Returns (the compressed model, one Row per step with the baseline first, the final .mfb bytes).
    """
    if train is None:
        if data is None:
            raise CompileError("give train=... (your training function) or data=(x, y) for the default loop")
        train = recipes.default_trainer(*data, batch_size=recipe.batch_size, seed=recipe.seed, progress=progress,
                                        shift=recipe.shift)
    steps_per_epoch = getattr(train, "steps_per_epoch", 100)
    teacher = copy.deepcopy(model if teacher is None else teacher).eval()
    loss_fn = recipes.make_loss(recipe, teacher)
    row, compiled = measure("baseline", model, example_inputs, calibration_data, test, evaluate, strip_names)
    rows = [row]
    log(f"baseline: float {row.accuracy}, int8 {row.int8_accuracy}, {row.file_bytes:,} B")
    for i, step in enumerate(tqdm(recipe.steps, desc="recipe", unit="step", disable=not progress)):
        model = recipes.apply_step(step, model, example_inputs, train, loss_fn, steps_per_epoch, calibration_data)
        row, compiled = measure(f"{i + 1}:{step.kind}", model, example_inputs, calibration_data, test, evaluate,
                                strip_names)
        rows.append(row)
        log(f"{row.step}: float {row.accuracy}, int8 {row.int8_accuracy}, {row.nonzero:,} nonzero, "
            f"{row.max_distinct} values/layer, {row.file_bytes:,} B")
    return model, rows, compiled.data


def planned_recipe(model: nn.Module, evaluate, target_bytes: int, *, prune_epochs: int = 30, cluster_epochs: int = 4,
                   qat_epochs: int = 3, progress: bool = True, log=print) -> recipes.Recipe:
    """Per-layer sensitivity, then a plan for target_bytes of weights, as a prune -> cluster -> QAT recipe."""
    from . import sensitivity

    sens = sensitivity.analyze(model, evaluate, progress=progress)
    p = sensitivity.plan(sens, target_bytes)
    log(f"plan for {target_bytes:,} B of weights: " + ", ".join(f"{n}: {s:.0%} sparse, {k} values"
                                                             for n, (s, k) in p.rates.items())
        + f"; estimated {p.bytes:,} B, predicted drop {100 * p.predicted_drop:.1f} points before fine-tuning")
    return recipes.Recipe(steps=[
        recipes.Prune(per_layer={n: s for n, (s, _) in p.rates.items()}, epochs=prune_epochs),
        recipes.Cluster(per_layer={n: k for n, (_, k) in p.rates.items()}, epochs=cluster_epochs),
        recipes.QAT(epochs=qat_epochs)], distill=False)


def compress_arrays(model: nn.Module, example_inputs, train, test, recipe: recipes.Recipe | None, *,
                    target_bytes: int | None = None, batch_size: int | None = None, output: str | None = None,
                    plot_path: str | None = None, title: str = "", calibration_images: int = 512,
                    strip_names: bool = False, progress: bool = True, log=print):
    """The recipe on a model, fine-tuned on train=(x, y) with the default loop (training.fit: Adam, cross-entropy,
    each step's epochs and learning rate) and measured on test=(x, y) (float and int8 top-1); or, with target_bytes,
    a recipe planned from per-layer sensitivity on test. Calibrates on the first calibration_images training
    inputs. batch_size replaces the recipe's. Writes the .mfb to output and the plot to plot_path.
    Returns (the compressed model, one Row per step with the baseline first, the final .mfb bytes)."""
    from ..writer import write_atomic
    from .report import plot

    x, y = train
    if target_bytes is not None:
        from .. import training

        recipe = planned_recipe(model, lambda m: training.accuracy(training.predict(m, test[0]), test[1]),
                                target_bytes, progress=progress, log=log)
    if batch_size is not None:
        recipe = dataclasses.replace(recipe, batch_size=batch_size)
    model, rows, data = run(recipe, model, example_inputs, calibration_data=[x[:calibration_images]], data=(x, y),
                            test=test, strip_names=strip_names, progress=progress, log=log)
    if output is not None:
        write_atomic(output, data)
    if plot_path is not None:
        plot(rows, plot_path, title)
    return model, rows, data


def compress_zoo(name: str, recipe: recipes.Recipe | None, *, target_bytes: int | None = None, output: str | None = None,
                 plot_path: str | None = None, calibration_images: int = 512, batch_size: int | None = None,
                 strip_names: bool = False, progress: bool = True, log=print):
    """`microflat compress zoo:NAME`: the recipe on a zoo model, trained and tested on its bundled dataset."""
    from .. import datasets, zoo

    entry = zoo.entry(name)
    if entry.dataset is None:
        with_data = sorted(n for n, e in zoo.ZOO.items() if e.dataset)
        raise CompileError(f"zoo model {name!r} has no bundled dataset to fine-tune on; give --data TRAIN.npz, or "
                           f"use {', '.join(with_data[:-1])} or {with_data[-1]}")
    model = zoo.load(name, progress=progress)
    train = datasets.load(entry.dataset, "train", entry.image_size)
    test = datasets.load(entry.dataset, "test", entry.image_size)
    return compress_arrays(model, (zoo.example_input(name),), train, test, recipe, target_bytes=target_bytes,
                           batch_size=batch_size, output=output, plot_path=plot_path,
                           title=f"{name}: size vs int8 top-1 after each step", calibration_images=calibration_images,
                           strip_names=strip_names, progress=progress, log=log)
