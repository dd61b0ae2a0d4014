"""`microflat compile` and `microflat inspect --compare`: real subprocesses, real files."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from microflat.compiler import save_program
from microflat.runtime import Interpreter

SCRIPT = Path(sys.executable).parent / "microflat"


def run(*args, cache=None):
    env = dict(os.environ, MICROFLAT_CACHE=str(cache)) if cache else None
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, env=env)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        x = torch.relu(self.conv(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class Unsupported(nn.Module):
    def forward(self, x):
        return torch.cumsum(x, dim=1)


def _saved(tmp_path, module, shape):
    torch.manual_seed(0)
    path = tmp_path / "model.pt2"
    save_program(module.eval(), (torch.randn(shape),), path)
    calib = tmp_path / "calib.npy"
    np.save(calib, torch.randn((32,) + shape[1:]).numpy())
    return path, calib


def test_compile_a_pt2_then_run_and_compare(tmp_path):
    pt2, calib = _saved(tmp_path, Net(), (1, 2, 6, 6))
    out = tmp_path / "model.mfb"
    r = run("compile", str(pt2), "-o", str(out), "--calib", str(calib), "--observer", "percentile")
    assert r.returncode == 0, r.stderr
    assert f"wrote {out}: {out.stat().st_size} bytes" in r.stdout
    x = np.load(calib)[:4]
    np.save(tmp_path / "x.npy", x)  # NCHW, as the PyTorch model takes it: run's default layout
    r = run("run", str(out), "--input", str(tmp_path / "x.npy"), "--raw", "--output", str(tmp_path / "y.npy"))
    assert r.returncode == 0, r.stderr
    assert np.array_equal(np.load(tmp_path / "y.npy"), Interpreter(str(out)).invoke(x.transpose(0, 2, 3, 1))[0])
    r = run("run", str(out), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "real.npy"))
    assert r.returncode == 0, r.stderr  # by default: the outputs dequantized to float32
    assert np.array_equal(np.load(tmp_path / "real.npy"),
                          Interpreter(str(out)).invoke(x.transpose(0, 2, 3, 1), dequantize=True)[0])

    r = run("inspect", str(out), "--compare", str(pt2), "--input", str(calib), "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [row["op"] for row in rows] == ["conv", "mean", "reshape", "fc"]
    assert all(row["sqnr_db"] > 20 for row in rows)
    r = run("inspect", str(out), "--compare", str(pt2), "--input", str(calib))
    assert "lowest SQNR" in r.stdout


def test_compile_a_zoo_model(tmp_path):
    out = tmp_path / "kws.mfb"
    r = run("compile", "zoo:ds_cnn", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "2656768 MACs" in r.stdout


def test_compile_errors_are_one_line(tmp_path):
    pt2, calib = _saved(tmp_path, Unsupported(), (1, 5))
    cases = {
        "unsupported op aten.cumsum.default at graph node 'cumsum'": ("compile", str(pt2), "-o", str(tmp_path / "a.mfb"),
                                                                      "--calib", str(calib)),
        "absent.pt2: no such file": ("compile", str(tmp_path / "absent.pt2"), "-o", str(tmp_path / "a.mfb"),
                                     "--calib", str(calib)),
        "needs --calib": ("compile", str(pt2), "-o", str(tmp_path / "a.mfb")),
        "no zoo model 'nope'": ("compile", "zoo:nope", "-o", str(tmp_path / "a.mfb")),
    }
    (tmp_path / "ok").mkdir()
    good, _ = _saved(tmp_path / "ok", Net(), (1, 2, 6, 6))
    bad_shape = tmp_path / "bad.npy"
    np.save(bad_shape, np.zeros((4, 2, 5, 6), np.float32))
    cases["shape (4, 2, 5, 6) does not fit [N, 2, 6, 6]"] = ("compile", str(good), "-o", str(tmp_path / "a.mfb"),
                                                             "--calib", str(bad_shape))
    for expected, args in cases.items():
        r = run(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr
        errors = [line for line in r.stderr.splitlines() if line.startswith("microflat: error:")]
        assert len(errors) == 1 and expected in errors[0], r.stderr
        if "unsupported" in expected:  # the user's source line
            assert f"{Path(__file__).name}:" in errors[0] and "torch.cumsum(x, dim=1)" in errors[0]
    assert not (tmp_path / "a.mfb").exists()


def test_compile_weight_bits_4_stores_packed_int4_and_inspect_shows_the_ledger(tmp_path):
    pt2, calib = _saved(tmp_path, Net(), (1, 2, 6, 6))
    dense, packed = tmp_path / "dense.mfb", tmp_path / "int4.mfb"
    r = run("compile", str(pt2), "-o", str(dense), "--calib", str(calib), "--weights", "dense")
    assert r.returncode == 0, r.stderr
    r = run("compile", str(pt2), "-o", str(packed), "--calib", str(calib), "--weight-bits", "4", "--weights", "int4")
    assert r.returncode == 0, r.stderr
    assert "constants: float32" in r.stdout
    r = run("inspect", str(packed), "--json")
    s = json.loads(r.stdout)
    weighted = [o for o in s["ops"] if o["op"] in ("CONV_2D", "FULLY_CONNECTED")]
    assert [o["encoding"] for o in weighted] == ["int4", "int4"]
    ledger = s["size_ledger"]
    assert ledger["stored_bytes"] < ledger["int8_dense_bytes"] < ledger["float32_bytes"]
    text = run("inspect", str(packed)).stdout
    assert "int4" in text and "stored" in text
    r = run("compile", str(pt2), "-o", str(tmp_path / "x.mfb"), "--calib", str(calib), "--weights", "int4")
    assert r.returncode == 2 and "int4 needs weights in [-8, 7]" in r.stderr and "Traceback" not in r.stderr


def test_compile_bias_correction_gives_the_api_s_file(tmp_path):
    """--bias-correction is compile_model(bias_correction=True): the same bytes, and other biases than without."""
    from microflat.compiler import compile_model

    pt2, calib = _saved(tmp_path, Net(), (1, 2, 6, 6))
    files = {}
    for flag in ((), ("--bias-correction",)):
        out = tmp_path / f"model{len(flag)}.mfb"
        r = run("compile", str(pt2), "-o", str(out), "--calib", str(calib), "--batch-size", "32", *flag)
        assert r.returncode == 0, r.stderr
        files[bool(flag)] = out.read_bytes()
    ep = torch.export.load(str(pt2))
    data = torch.from_numpy(np.load(calib))
    api = compile_model(ep, (data[:1],), [data], bias_correction=True, progress=False)
    assert files[True] == api.data
    assert files[True] != files[False]
