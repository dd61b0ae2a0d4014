"""Structured pruning removes channels and rewrites every consumer: checked by function, not by structure.

The test makes chosen channels dead: their producing filters tiny (so they
are the least important) and every consumer's weights on them zero (so they
contribute nothing). Removing them must then leave the model's output
unchanged, which fails if any consumer, batch norm, depthwise conv or
residual partner is missed or sliced wrongly. MACs are checked against the
compiled file's own count.
"""

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402

from microflat.compiler import compile_model, zoo  # noqa: E402
from microflat.compiler.compress import metrics, structured  # noqa: E402
from microflat.runtime import Interpreter  # noqa: E402
from microflat.runtime.inspect_model import summary  # noqa: E402

MODELS = ["small_cnn", "lenet5", "resnet8", "mobilenet_v2_tiny", "ds_cnn", "fc_autoencoder"]


@torch.no_grad()
def _kill(model, groups, amount, rng):
    """Make round(amount * C) random channels of each prunable group dead; return {group index: dead}."""
    dead = {}
    for gi, g in enumerate(groups):
        if not g.prunable:
            continue
        k = int(round(amount * g.channels))
        if k == 0 or k >= g.channels:
            continue
        d = torch.from_numpy(rng.choice(g.channels, k, replace=False))
        dead[gi] = d
        for m in g.members:
            mod = model.get_submodule(m.module)
            if m.role == "out":
                mod.weight[d] *= 1e-6
                if mod.bias is not None:
                    mod.bias[d] *= 1e-6
            elif m.role == "in":
                if isinstance(mod, nn.Linear):
                    cols = (d[:, None] * m.factor + torch.arange(m.factor)).reshape(-1)
                    mod.weight[:, cols] = 0
                else:
                    mod.weight[:, d] = 0
    return dead


@pytest.mark.parametrize("name", MODELS)
def test_removing_dead_channels_leaves_the_output_unchanged(name):
    torch.manual_seed(0)
    model = zoo.load(name, trained=False)
    example = zoo.example_input(name)
    x = zoo.inputs(name, 8, seed=5)
    groups = structured.analyze(model, (example,))
    assert any(g.prunable for g in groups)
    _kill(model, groups, 0.25, np.random.default_rng(0))
    before = model(x)
    original = copy.deepcopy(model)
    report = structured.remove_channels(model, (example,), 0.25)
    assert report, "nothing was removed"
    after = model(x)
    assert after.shape == before.shape
    scale = before.abs().max().item()
    # dead channels reach nothing, so only float32 summation order differs
    assert (after - before).abs().max().item() <= 1e-5 * max(scale, 1.0)
    assert metrics.count_params(model) < metrics.count_params(original)


def test_residual_partners_lose_the_same_channels():
    model = zoo.load("resnet8", trained=False)
    groups = structured.analyze(model, (zoo.example_input("resnet8"),))
    stem = next(g for g in groups if any(m.module == "stem.0" and m.role == "out" for m in g.members))
    producers = {m.module for m in stem.members if m.role == "out"}
    assert producers == {"stem.0", "stacks.0.conv2.0"}  # the identity shortcut ties them
    fixed = [g for g in groups if not g.prunable]
    assert any("model input" in g.fixed for g in fixed)


@pytest.mark.parametrize("name", ["small_cnn", "resnet8"])
def test_mac_target_is_met_and_matches_the_compiled_file(name):
    model = zoo.load(name, trained=False)
    example = (zoo.example_input(name),)
    base = metrics.count_macs(model, example)
    structured.remove_channels_to_macs(model, example, 0.5)
    macs = metrics.count_macs(model, example)
    assert 0.4 * base <= macs <= 0.5 * base
    cm = compile_model(model, example, [zoo.inputs(name, 16)], progress=False)
    assert summary(Interpreter(cm.data).model)["macs"] == macs


def test_a_model_still_parametrized_is_refused():
    from microflat.compiler.compress import prune
    from microflat.runtime.errors import CompileError

    model = zoo.load("small_cnn", trained=False)
    prune.magnitude(model, 0.5)
    with pytest.raises(CompileError, match="finalize"):
        structured.analyze(model, (zoo.example_input("small_cnn"),))
