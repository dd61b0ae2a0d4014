"""The `microflat` command: the demo runs; user errors are one line and a non-zero exit."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(sys.executable).parent / "microflat"


def run(*args):
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True)


def test_demo_passes_its_out_folder_to_the_demo(monkeypatch):
    """`microflat demo [--out DIR]` calls runtime/demo.py's main with those options (tests/test_demo.py runs the
    demo itself through the console script)."""
    from microflat.runtime import cli, demo

    calls = []
    monkeypatch.setattr(demo, "main", lambda argv=None: calls.append(argv) or 0)
    assert cli.main(["demo"]) == 0 and cli.main(["demo", "--out", "somewhere"]) == 0
    assert calls == [[], ["--out", "somewhere"]]


def test_unknown_command_is_one_line_and_exit_2():
    result = run("frobnicate")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "invalid choice: 'frobnicate'" in result.stderr


def _model(tmp_path):
    from model_builders import conv_pool_fc_softmax

    data, reference = conv_pool_fc_softmax()
    path = tmp_path / "m.mfb"
    path.write_bytes(data)
    return path, reference


def test_run_writes_the_interpreters_output_atomically(tmp_path):
    import numpy as np

    path, reference = _model(tmp_path)
    x = np.random.default_rng(1).normal(size=(2, 3, 8, 8)).astype(np.float32)  # NCHW: the CLI's default layout
    np.save(tmp_path / "x.npy", x)
    result = run("run", str(path), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy"))
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), reference(x.transpose(0, 2, 3, 1)))  # the file: NHWC
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.mfb", "x.npy", "y.npy"]  # no temporary left behind


def test_inspect_json_reports_bytes_macs_arena_and_ops(tmp_path):
    import json

    path, _ = _model(tmp_path)
    result = run("inspect", str(path), "--json")
    assert result.returncode == 0, result.stderr
    s = json.loads(result.stdout)
    assert s["file_bytes"] == path.stat().st_size
    assert s["weight_bytes"] == 3 * 3 * 3 * 8 + 8 * 4 + 3 * 3 * 8 + 10 * 128  # conv w + b, depthwise w, fc w
    assert s["macs"] == 8 * 8 * 8 * 27 + 8 * 8 * 8 * 9 + 10 * 128
    assert s["arena_bytes"] >= s["overlap_lower_bound_bytes"] > 0
    assert s["overlap_lower_bound_bytes"] <= s["liveness_lower_bound_bytes"]
    assert [o["op"] for o in s["ops"]][:3] == ["QUANTIZE", "CONV_2D", "DEPTHWISE_CONV_2D"]
    assert sum(s["file_breakdown"].values()) == s["file_bytes"]


def test_user_errors_are_one_line_without_traceback(tmp_path):
    import numpy as np

    path, _ = _model(tmp_path)
    bad = tmp_path / "bad.mfb"
    bad.write_bytes(path.read_bytes()[:200])
    np.save(tmp_path / "wrong.npy", np.zeros((8, 8), np.float32))
    cases = [
        (("inspect", str(tmp_path / "missing.mfb")), "cannot read"),
        (("inspect", str(bad)), "header.file_bytes at byte 24"),
        (("run", str(path), "--input", str(tmp_path / "missing.npy")), "cannot read input"),
        (("run", str(path), "--input", str(tmp_path / "wrong.npy")), "must have shape"),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.returncode == 2, result
        assert "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], result.stderr
