"""`microflat demo` end to end, through the console script, and its claims checked here on the files it wrote.

The demo runs once (about 30-45 s on two cores; 10 s more when the zoo's
small_cnn is not cached yet) into a temporary folder; the tests then re-run
its .mfb through both runtimes themselves, read its size ledger, and re-run one
of its Cortex-M ELFs under QEMU with the tests' own report parser.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from firmware import need, parse_report, run
from microflat.runtime import Interpreter, load_file
from microflat.runtime.inspect_model import summary

SCRIPT = Path(sys.executable).parent / "microflat"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """(the completed `microflat demo`, its output folder): TMPDIR points into pytest's folder, so the demo's
    temporary output folder lands there."""
    pytest.importorskip("torch")
    tmp = tmp_path_factory.mktemp("demo")
    result = subprocess.run([str(SCRIPT), "demo"], capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, TMPDIR=str(tmp)))
    m = re.search(r"^output folder: (.+)$", result.stdout, re.MULTILINE)
    assert m, result.stdout + result.stderr
    out = Path(m.group(1))
    assert out.parent == tmp, out
    return result, out


def test_demo_exits_0_and_writes_the_model_and_the_plot(demo):
    result, out = demo
    assert result.returncode == 0, result.stdout + result.stderr
    mfb, png = out / "small_cnn.mfb", out / "demo.png"
    assert f"[3/6] compiled: {mfb} ({mfb.stat().st_size:,} bytes)" in result.stdout
    assert f"plot: {png}" in result.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert "runtimes agree: Numba and C give the same bytes on all 360 held-out inputs" in result.stdout
    for step in ("baseline", "1:prune", "2:cluster", "3:qat"):
        assert re.search(rf"^  {re.escape(step)} ", result.stdout, re.MULTILINE)


def test_the_written_model_runs_the_same_on_both_runtimes(demo):
    """Independently of the demo: the file on the held-out digits (float, quantized at the boundary by each
    runtime) and on random int8 inputs gives the same bytes in Numba and in C, and its int8 top-1 is the
    one the demo printed."""
    torch = pytest.importorskip("torch")  # noqa: F841  (the held-out digits come through the compiler package)
    from microflat.compiler import datasets

    result, out = demo
    assert result.returncode == 0, result.stdout + result.stderr
    model = load_file(out / "small_cnn.mfb")
    numba, c = Interpreter(model, backend="numba"), Interpreter(model, backend="c")
    x, y = datasets.load("digits", "test")
    nhwc = np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy())
    a, b = numba.invoke(nhwc)[0], c.invoke(nhwc)[0]
    assert a.dtype == np.int8 and a.shape == (360, 10)
    assert a.tobytes() == b.tobytes()
    drawn = np.random.default_rng(1).integers(-128, 128, (64, 8, 8, 1)).astype(np.int8)
    assert numba.invoke(drawn)[0].tobytes() == c.invoke(drawn)[0].tobytes()
    top1 = 100 * float((a.argmax(-1) == y.numpy()).mean())
    assert f"-> int8 {top1:.2f}% (the .mfb, on the runtime)" in result.stdout
    assert top1 > 90


def test_the_file_is_smaller_than_its_float32_weights(demo):
    result, out = demo
    assert result.returncode == 0, result.stdout + result.stderr
    path = out / "small_cnn.mfb"
    s = summary(load_file(path))
    g = s["size_ledger"]
    assert s["file_bytes"] == path.stat().st_size
    assert s["file_bytes"] < g["float32_bytes"]
    assert g["stored_bytes"] < g["int8_dense_bytes"] < g["float32_bytes"]  # pruned and clustered: encoded below int8
    assert (f"float32 {g['float32_bytes']:,} B -> int8 {g['int8_dense_bytes']:,} B -> stored {g['stored_bytes']:,} B"
            in result.stdout)
    assert f"arena: {s['arena_bytes']:,} B planned at compile time" in result.stdout


def test_the_cortex_m4_firmware_gives_the_host_bytes(demo):
    """The demo's claim, then one of its ELFs run again under QEMU and read with the tests' own parser."""
    result, out = demo
    assert result.returncode == 0, result.stdout + result.stderr
    if "Cortex-M step skipped" in result.stdout:
        assert "apt-get install" in result.stdout
    need("make", "arm-none-eabi-gcc", "qemu-system-arm")
    assert "firmware agrees: the same bytes as the host on all 3 inputs" in result.stdout
    folder = out / "firmware" / "input_1"
    report = run(["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none", "-semihosting-config",
                  "enable=on,target=native", "-kernel", str(folder / "build" / "firmware.elf")])
    assert report.returncode == 0, report.stdout + report.stderr
    outputs, _ = parse_report(report.stdout + report.stderr)
    model = load_file(out / "small_cnn.mfb")
    x = np.frombuffer((folder / "model" / "input_0.bin").read_bytes(), np.int8).reshape(1, 8, 8, 1)
    assert outputs == [Interpreter(model).invoke(x)[0].tobytes()]


def test_without_torch_the_demo_says_to_install_the_compiler_extra():
    code = ("import sys; sys.modules['torch'] = None\n"
            "from microflat.runtime.cli import main\n"
            "rc = main(['demo'])\n"
            "assert not any(m == 'torch' or m.startswith('torch.') for m in sys.modules if sys.modules[m]), 'torch'\n"
            "sys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stderr.strip() == "microflat demo needs the compiler extra (PyTorch): pip install 'microflat[compiler]'"


def test_the_runtime_side_imports_no_torch():
    code = ("import sys, microflat.runtime.demo, microflat.runtime.firmware\n"
            "sys.exit(int(any(m == 'torch' or m.startswith('torch.') for m in sys.modules)))")
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0
