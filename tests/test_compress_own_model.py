"""`microflat compress MODEL.pt2 --data TRAIN.npz`: a user's own model (not from the zoo), saved with
torch.export.save, compressed through compress.command's add_arguments/run on scikit-learn's digits; the .mfb
it writes loads, runs and is smaller than the uncompressed compile; every bad input is one documented error
naming the user's argument or file. Also compress.program's rebuild of a .pt2 as a trainable module."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from microflat.compiler import api, training  # noqa: E402
from microflat.compiler.compress import command, program, qat, recipe  # noqa: E402
from microflat.runtime import Interpreter  # noqa: E402
from microflat.runtime.errors import CompileError, InputError  # noqa: E402

TOML = """
batch_size = 32
[[step]]
kind = "prune"
sparsity = 0.6
epochs = 2
[[step]]
kind = "cluster"
clusters = 8
epochs = 1
[[step]]
kind = "qat"
epochs = 1
"""


class DigitNet(nn.Module):
    """A user's model: conv, batch norm, pools, a flatten with the batch taken from the input, two linears."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.head = nn.Sequential(nn.Dropout(0.1), nn.Linear(8 * 4 * 4, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)
        return self.head(x.view(x.size(0), -1))


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """model.pt2 (exported with batch 1), dynamic.pt2 (a dynamic batch), train.npz, val.npz and the arrays."""
    from sklearn.datasets import load_digits

    torch.set_num_threads(1)
    d = load_digits()
    x = (d.images[:, None] / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    root = tmp_path_factory.mktemp("own")
    np.savez(root / "train.npz", x=x[:1500], y=y[:1500])
    np.savez(root / "val.npz", x=x[1500:], y=y[1500:])
    torch.manual_seed(0)
    model = DigitNet()
    training.fit(model, torch.from_numpy(x[:1500]), torch.from_numpy(y[:1500]), epochs=4, lr=1e-2)
    example = torch.from_numpy(x[:1])
    torch.export.save(torch.export.export(model.eval(), (example,)), root / "model.pt2")
    torch.export.save(torch.export.export(model.eval(), (torch.from_numpy(x[:2]),),
                                          dynamic_shapes=({0: torch.export.Dim("batch")},)), root / "dynamic.pt2")
    uncompressed = api.compile(root / "model.pt2", (example,), [torch.from_numpy(x[:512])], progress=False)
    return dict(root=root, x=x, y=y, model=model, uncompressed=uncompressed)


def _parse(argv):
    return command.add_arguments(argparse.ArgumentParser(prog="microflat compress")).parse_args([str(a) for a in argv])


def _run(argv):
    return command.run(_parse(argv), progress=False, log=lambda line: None)


def _int8_top1(path, x, y):
    logits = Interpreter(str(path)).invoke(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), dequantize=True)[0]
    assert logits.shape == (len(x), 10)
    return float((logits.argmax(-1) == y).mean())


def test_builtin_recipe_on_a_saved_program(files, tmp_path, capsys):
    root, out, js = files["root"], tmp_path / "m.mfb", tmp_path / "r.json"
    assert _run([root / "model.pt2", "--data", root / "train.npz", "--recipe", "deep_compression", "-o", out,
                 "--json", js]) == 0
    text = capsys.readouterr().out
    assert "| baseline |" in text and "| 3:qat |" in text and f"wrote {out}" in text
    rows = json.loads(js.read_text())
    assert [r["step"] for r in rows] == ["baseline", "1:prune", "2:cluster", "3:qat"]
    assert rows[1]["nonzero"] < 0.1 * rows[0]["nonzero"] and rows[2]["max_distinct"] <= 16
    data = out.read_bytes()
    assert len(data) == rows[-1]["file_bytes"] < 0.6 * len(files["uncompressed"])
    assert rows[0]["file_bytes"] == len(files["uncompressed"])  # the rebuilt module compiles as the program does
    # without --val, 10% of --data (150 digits) is held out: the int8 figure is the file's own on them
    (_, _), (xv, yv) = command.split(torch.from_numpy(files["x"][:1500]), torch.from_numpy(files["y"][:1500]))
    assert len(xv) == 150
    assert _int8_top1(out, xv.numpy(), yv.numpy()) == pytest.approx(rows[-1]["int8_accuracy"])
    assert rows[-1]["int8_accuracy"] > 0.5


def test_toml_recipe_with_val_and_a_dynamic_batch_program(files, tmp_path, capsys):
    root, out, plot = files["root"], tmp_path / "m.mfb", tmp_path / "p.png"
    (tmp_path / "r.toml").write_text(TOML)
    assert _run([root / "dynamic.pt2", "--data", root / "train.npz", "--val", root / "val.npz", "--recipe",
                 tmp_path / "r.toml", "-o", out, "--plot", plot]) == 0
    assert "| 3:qat |" in capsys.readouterr().out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = out.read_bytes()
    assert len(data) < 0.8 * len(files["uncompressed"])
    acc = _int8_top1(out, files["x"][1500:], files["y"][1500:])
    assert acc > 0.5


def test_zoo_models_run_through_the_same_function(files, tmp_path, capsys):
    (tmp_path / "r.toml").write_text('[[step]]\nkind = "cluster"\nclusters = 16\nepochs = 0\n')
    out = tmp_path / "z.mfb"
    assert _run(["zoo:small_cnn", "--recipe", tmp_path / "r.toml", "-o", out]) == 0
    assert "| 1:cluster |" in capsys.readouterr().out and Interpreter(str(out)).model.operators
    with pytest.raises(CompileError, match="no bundled dataset.*--data"):
        _run(["zoo:resnet8", "-o", out])
    assert set(command.BUILTIN_RECIPES) == set(recipe.BUILTIN)


def _bad_npz(root, name, **arrays):
    path = root / name
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("case", ["missing_key", "x_shape", "x_dtype", "labels", "y_length", "not_npz"])
def test_bad_data_is_an_input_error_naming_file_and_key(files, tmp_path, case):
    x, y = files["x"][:200], files["y"][:200]
    path, message = {
        "missing_key": (_bad_npz(tmp_path, "a.npz", inputs=x, y=y), "no array 'x'"),
        "x_shape": (_bad_npz(tmp_path, "b.npz", x=x[:, 0], y=y), r"x has shape \[200, 8, 8\].*\[N, 1, 8, 8\]"),
        "x_dtype": (_bad_npz(tmp_path, "c.npz", x=(16 * x).astype(np.int64), y=y), "x must be floating point"),
        "labels": (_bad_npz(tmp_path, "d.npz", x=x, y=y + 1), r"y holds labels 1\.\.10.*0\.\.9"),
        "y_length": (_bad_npz(tmp_path, "e.npz", x=x, y=y[:-1]), r"y has shape \[199\]"),
        "not_npz": (tmp_path / "f.npy", "a single array"),
    }[case]
    if case == "not_npz":
        np.save(path, x)
    with pytest.raises(InputError, match=message) as info:
        _run([files["root"] / "model.pt2", "--data", path, "-o", tmp_path / "x.mfb"])
    assert f"--data {path}:" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(InputError, match=f"--val {path}:"):
        _run([files["root"] / "model.pt2", "--data", files["root"] / "train.npz", "--val", path,
              "-o", tmp_path / "x.mfb"])
    assert not (tmp_path / "x.mfb").exists()


@pytest.mark.parametrize("text, message", [
    ('[[step]]\nkind = "prune"\nspars = 0.5\n', r"step 1 \(prune\): unknown field\(s\) \['spars'\]"),
    ('[[step]]\nkind = "prune"\nepochs = 1.5\n', "epochs must be an integer"),
    ('distil = true\n', r"unknown field\(s\) \['distil'\]"),
    ('[[step\n', "not valid TOML"),
])
def test_bad_toml_is_a_compile_error_naming_the_file(files, tmp_path, text, message):
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(CompileError, match=message) as info:
        _run([files["root"] / "model.pt2", "--data", files["root"] / "train.npz", "--recipe", bad,
              "-o", tmp_path / "x.mfb"])
    assert str(info.value).startswith(f"{bad}: ")


def test_bad_options_and_models(files, tmp_path, capsys):
    root, out = files["root"], tmp_path / "x.mfb"
    for flag in ("--target-bytes", "--batch-size"):
        with pytest.raises(SystemExit) as info:
            _parse([root / "model.pt2", "--data", root / "train.npz", flag, "-5", "-o", out])
        assert info.value.code == 2 and f"argument {flag}: must be an integer >= 1, got '-5'" in capsys.readouterr().err
    args = _parse([root / "model.pt2", "--data", root / "train.npz", "-o", out])
    args.target_bytes = -5  # a Namespace built without the parser's types
    with pytest.raises(CompileError, match="--target-bytes must be an integer >= 1, got -5"):
        command.run(args)
    cases = [
        ([root / "model.pt2", "-o", out], CompileError, f"{root / 'model.pt2'}: .*needs --data"),
        ([tmp_path / "none.pt2", "--data", root / "train.npz", "-o", out], CompileError, "none.pt2: no such file"),
        ([root / "train.npz", "--data", root / "train.npz", "-o", out], CompileError, "train.npz: a zip archive torch.export.load cannot read"),
        ([root / "model.pt2", "--data", tmp_path / "none.npz", "-o", out], InputError, "none.npz: no such file"),
        ([root / "model.pt2", "--data", root / "train.npz", "--recipe", "nope", "-o", out], CompileError,
         "--recipe nope: neither a built-in"),
        ([root / "model.pt2", "--data", root / "train.npz", "--recipe", "channels_half", "--target-bytes", "900",
          "-o", out], CompileError, "not both"),
        (["zoo:small_cnn", "--val", root / "val.npz", "-o", out], CompileError, "--val .* needs --data"),
    ]
    for argv, error, message in cases:
        with pytest.raises(error, match=message):
            _run(argv)
    assert "Traceback" not in capsys.readouterr().err and not out.exists()


def test_a_program_that_mixes_the_batch_is_refused(files, tmp_path):
    class Mix(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            h = self.fc(x.flatten(1))
            return h - h.mean(0, keepdim=True)

    path = tmp_path / "mix.pt2"
    torch.export.save(torch.export.export(Mix().eval(), (torch.from_numpy(files["x"][:1]),)), path)
    with pytest.raises(CompileError, match=f"{path}: rebuilt for training, it does not give the program's outputs"):
        _run([path, "--data", files["root"] / "train.npz", "-o", tmp_path / "x.mfb"])


def test_rebuilt_program_has_the_users_layers_and_trains(files):
    model, x = files["model"].eval(), torch.from_numpy(files["x"][:40])
    for name in ("model.pt2", "dynamic.pt2"):
        ep = api.load_program(files["root"] / name)
        gm = program.module_from_program(ep, name)
        kinds = {n: type(m).__name__ for n, m in gm.named_modules() if n}
        assert {k: v for k, v in kinds.items() if v != "Module"} == {
            "conv": "Conv2d", "bn": "BatchNorm2d", "head.1": "Linear", "head.3": "Linear", "dropout": "Dropout"}
        assert program.layers(gm) == ["conv", "head.1", "head.3"]
        torch.testing.assert_close(gm.eval()(x), model(x), rtol=1e-4, atol=1e-5)
        gm.train()(x).sum().backward()  # batch statistics, dropout on, gradients reach the parameters
        assert gm.bn.num_batches_tracked.item() == model.bn.num_batches_tracked.item() + 1
        assert gm.conv.weight.grad is not None and gm.get_submodule("head.3").weight.grad is not None
        # QAT on the rebuilt graph (aten ops): a FakeQuant after each relu, none between a layer and its relu,
        # and the compiled file keeps every one of them
        q = qat.prepare(program.module_from_program(ep, name), [x])
        relus = [n for n in q.graph.nodes if n.target is torch.ops.aten.relu.default]
        assert len(relus) == 2
        assert all(n.args[0].op == "call_module" and n.args[0].target.endswith("_qat") for n in relus)
        assert all(next(iter(n.users)).target.startswith("fake_quant") for n in relus)
        cm = api.compile_model(q.eval(), (x[:1],), [x], progress=False)
        kept = [v for v in cm.graph.values() if v.fake_quant is not None]
        assert kept and all((v.scale, v.zero_point) == v.fake_quant for v in kept)


def test_fit_skips_a_last_batch_of_one_sample():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    x, y = torch.randn(65, 4), torch.randint(0, 3, (65,))
    steps = []
    training.fit(model, x, y, epochs=2, batch_size=64, on_step=lambda: steps.append(1))  # 64 + 1: no BN error
    assert len(steps) == 2 * training.steps_per_epoch(65, 64) == 2
    assert [training.steps_per_epoch(n, 64) for n in (1, 64, 65, 66, 1437)] == [1, 1, 1, 2, 23]
    assert recipe.default_trainer(x, y, batch_size=64).steps_per_epoch == 1


def test_the_console_script_compresses_a_saved_program(files, tmp_path):
    """`microflat compress MODEL.pt2 --data ... --recipe FILE.toml -o OUT.mfb` through the installed script: exit 0
    and a file that loads; a bad option is refused by argparse before any work, one line, nothing written."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).parent / "microflat"
    root, out = files["root"], tmp_path / "m.mfb"
    (tmp_path / "r.toml").write_text('[[step]]\nkind = "prune"\nsparsity = 0.5\nepochs = 1\n')
    done = subprocess.run([str(script), "compress", str(root / "model.pt2"), "--data", str(root / "train.npz"),
                           "--recipe", str(tmp_path / "r.toml"), "-o", str(out)], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    assert Interpreter(str(out)).input_details[0]["shape"][0] >= 1
    bad = subprocess.run([str(script), "compress", str(root / "model.pt2"), "--target-bytes", "-5", "-o",
                          str(tmp_path / "n.mfb")], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--target-bytes" in bad.stderr
    assert "Traceback" not in bad.stderr and not (tmp_path / "n.mfb").exists()
