"""Recipes: compression steps chained on one model, each fine-tuned, each measured.

A recipe is a list of steps (dataclasses below), written in Python or in a
TOML file:

    distill = false           # true: fine-tune every step against the uncompressed model (Hinton loss)
    shift = 0                 # > 0: augment training batches with random shifts of up to that many pixels
    [[step]]
    kind = "prune"            # magnitude pruning on Zhu & Gupta's schedule
    sparsity = 0.91
    scope = "global"
    epochs = 30
    [[step]]
    kind = "cluster"          # k-means weight sharing, centroids fine-tuned
    clusters = 16
    epochs = 4
    [[step]]
    kind = "qat"              # quantization-aware training; the compiled model is the QAT model
    epochs = 3
    activations = "int8"      # or "int16": 16-bit fake quantization where a layer has a 16x8 kernel

Steps run in order on the model, in place. `run` fine-tunes each with the
default loop (training.fit) on the given data, or with the caller's own
`train(model, loss_fn, on_step, on_epoch, epochs, lr)`; after each step it
records accuracy, parameters, MACs and compiled bytes (report.py).
"""

from __future__ import annotations

import copy
import dataclasses
import os
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from microflat.runtime.errors import CompileError

from .. import training
from . import cluster, lowrank, prune, qat, structured
from .distill import Distiller


@dataclass
class Prune:
    """Unstructured magnitude pruning, ramped from 0 to `sparsity` over the first 3/4 of the epochs (Zhu & Gupta),
    or N:M (n_m = [2, 4]) at once."""
    sparsity: float = 0.9
    scope: str = "layer"
    n_m: tuple[int, int] | None = None
    per_layer: dict[str, float] | None = None  # {layer: sparsity}, e.g. from sensitivity.plan; replaces sparsity
    epochs: int = 10
    lr: float = 1e-3
    kind: str = "prune"


@dataclass
class Channels:
    """Structured pruning: remove channels until the MACs are at most mac_fraction of the step's input."""
    mac_fraction: float = 0.5
    epochs: int = 10
    lr: float = 1e-3
    kind: str = "channels"


@dataclass
class Cluster:
    clusters: int = 16
    per_layer: dict[str, int] | None = None  # {layer: clusters} (256: left unclustered); replaces clusters
    per_channel: bool = False
    init: str = "linear"
    epochs: int = 4
    lr: float = 1e-4
    kind: str = "cluster"


@dataclass
class LowRank:
    """SVD factorization at a retained energy, or to a parameter budget (a fraction)."""
    energy: float | None = None
    budget: float | None = 0.5
    epochs: int = 10
    lr: float = 1e-3
    kind: str = "lowrank"


@dataclass
class QAT:
    """Quantization-aware training; batch-norm statistics and activation ranges freeze for the last epoch.
    activations: "int8", or "int16" (TFLite's 16x8 mode simulated: qat.prepare; the compiled file follows it)."""
    epochs: int = 3
    lr: float = 1e-4
    activations: str = "int8"
    kind: str = "qat"


STEPS = {c.__dataclass_fields__["kind"].default: c for c in (Prune, Channels, Cluster, LowRank, QAT)}


@dataclass
class Recipe:
    steps: list = field(default_factory=list)
    # Off by default: on the bundled datasets the uncompressed teacher has memorized its training set, and
    # plain fine-tuning does as well or better (docs/COMPRESS.md has the measurements).
    distill: bool = False
    temperature: float = 4.0
    alpha: float = 0.7
    shift: int = 0
    seed: int = 0
    batch_size: int = 64


def _check(where: str, cls, name: str, value) -> None:
    """A field's value has its dataclass type (as annotated: float, int, str, bool, tuple[int, int], dict, | None)."""
    annotation = str(next(f.type for f in dataclasses.fields(cls) if f.name == name))
    if value is None and "None" in annotation:
        return
    base = annotation.split("|")[0].strip()
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = {"float": number, "int": isinstance(value, int) and not isinstance(value, bool),
          "str": isinstance(value, str), "bool": isinstance(value, bool),
          "tuple[int, int]": isinstance(value, (list, tuple)) and len(value) == 2
          and all(isinstance(v, int) and not isinstance(v, bool) for v in value)}.get(base)
    if base.startswith("dict["):
        ok = isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, (int, float))
                                             and not isinstance(v, bool) for k, v in value.items())
    if ok is None or ok:
        return
    words = {"float": "a number", "int": "an integer", "str": "a string", "bool": "true or false",
             "tuple[int, int]": "a pair of integers"}.get(base, "a table of layer names to numbers")
    raise CompileError(f"{where}: {name} must be {words}{' or absent' if 'None' in annotation else ''}, "
                       f"got {value!r}")


def from_dict(d: dict) -> Recipe:
    """A recipe from a TOML file's table: top-level Recipe fields and a list of `step` tables. Raises CompileError
    naming the step and field of an unknown kind, an unknown field or a value of the wrong type."""
    d = dict(d)
    steps = []
    for i, s in enumerate(d.pop("step", d.pop("steps", []))):
        if not isinstance(s, dict):
            raise CompileError(f"recipe step {i + 1}: a [[step]] table, got {s!r}")
        s = dict(s)
        kind = s.get("kind")
        if kind not in STEPS:
            raise CompileError(f"recipe step {i + 1}: kind must be one of {sorted(STEPS)}, got {kind!r}")
        cls = STEPS[kind]
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(s) - names)
        if unknown:
            raise CompileError(f"recipe step {i + 1} ({kind}): unknown field(s) {unknown}; it takes {sorted(names)}")
        for name, value in s.items():
            _check(f"recipe step {i + 1} ({kind})", cls, name, value)
        if s.get("epochs", 0) < 0:
            raise CompileError(f"recipe step {i + 1} ({kind}): epochs must be >= 0, got {s['epochs']}")
        if s.get("lr", 1) <= 0:
            raise CompileError(f"recipe step {i + 1} ({kind}): lr must be > 0, got {s['lr']}")
        if s.get("n_m") is not None:
            s["n_m"] = tuple(s["n_m"])
        steps.append(cls(**s))
    names = {f.name for f in dataclasses.fields(Recipe)} - {"steps"}
    unknown = sorted(set(d) - names)
    if unknown:
        raise CompileError(f"recipe: unknown field(s) {unknown}; it takes {sorted(names)} and [[step]] tables")
    for name, value in d.items():
        _check("recipe", Recipe, name, value)
    if d.get("batch_size", 1) <= 0:
        raise CompileError(f"recipe: batch_size must be > 0, got {d['batch_size']}")
    return Recipe(steps=steps, **d)


def load(path) -> Recipe:
    """A recipe from a TOML file; every error names the file (CompileError)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CompileError(f"{path}: no such file")
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise CompileError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise CompileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return from_dict(data)
    except CompileError as exc:
        raise CompileError(f"{path}: {exc}") from None


BUILTIN = {
    # Deep Compression's pipeline, with int8 QAT in place of its fine-tuned quantization
    # (0.91 of the weights, so that >= 90% of all parameters, biases included, are zero)
    "deep_compression": Recipe(steps=[Prune(sparsity=0.95, scope="global", epochs=30), Cluster(clusters=16, epochs=4),
                                      QAT(epochs=3)]),
    "channels_half": Recipe(steps=[Channels(mac_fraction=0.5, epochs=10)]),
    "lowrank_half": Recipe(steps=[LowRank(budget=0.5, epochs=10)]),
}


def default_trainer(x: torch.Tensor, y: torch.Tensor, batch_size: int = 64, seed: int = 0, progress: bool = False,
                    shift: int = 0):
    """train(model, loss_fn, on_step, on_epoch, epochs, lr) with the default loop on tensors x, y."""
    def train(model, loss_fn, on_step, on_epoch, epochs, lr):
        training.fit(model, x, y, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, progress=progress,
                     loss_fn=loss_fn, on_step=on_step, on_epoch=on_epoch, shift=shift)
    train.steps_per_epoch = training.steps_per_epoch(len(x), batch_size)
    return train


def apply_step(step, model: nn.Module, example_inputs, train, loss_fn, steps_per_epoch: int,
               calibration_data=None) -> nn.Module:
    """Apply one step to the model and fine-tune it; returns the model (a new one for QAT)."""
    on_step, on_epoch = None, None
    if isinstance(step, Prune):
        if step.n_m is not None:
            prune.n_m(model, *step.n_m)
        else:
            end = max(1, int(0.75 * step.epochs * steps_per_epoch))
            targets = [(step.sparsity, None)] if step.per_layer is None else \
                [(s, [name]) for name, s in step.per_layer.items() if s > 0]
            schedules = [prune.PolynomialDecay(model, s, begin_step=0, end_step=end, layers=layers,
                                               frequency=max(1, steps_per_epoch // 4), scope=step.scope)
                         for s, layers in targets]

            def on_step():
                for schedule in schedules:
                    schedule.step()
    elif isinstance(step, Channels):
        prune.finalize(model)
        structured.remove_channels_to_macs(model, example_inputs, step.mac_fraction)
    elif isinstance(step, Cluster):
        for k, layers in ([(step.clusters, None)] if step.per_layer is None else
                          [(k, [name]) for name, k in step.per_layer.items() if k < 256]):
            cluster.apply(model, k, per_channel=step.per_channel, init=step.init, layers=layers)
    elif isinstance(step, LowRank):
        prune.finalize(model)
        lowrank.factorize(model, energy=step.energy, budget=step.budget if step.energy is None else None)
    elif isinstance(step, QAT):
        model = qat.prepare(model, calibration_data, activations=step.activations)
        last = step.epochs - 1

        def on_epoch(epoch):
            if epoch == last - 1:
                qat.freeze_bn_stats(model)
                qat.freeze_observers(model)
    else:
        raise CompileError(f"unknown recipe step {step!r}")
    if step.epochs > 0:
        train(model, loss_fn, on_step, on_epoch, step.epochs, step.lr)
    model.eval()
    return model


def make_loss(recipe: Recipe, teacher: nn.Module | None):
    if not recipe.distill or teacher is None:
        return None
    return Distiller(copy.deepcopy(teacher), recipe.temperature, recipe.alpha)
