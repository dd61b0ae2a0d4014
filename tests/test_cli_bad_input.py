"""The `microflat` console script on bad input, on the layout rule, and on what it leaves on disk.

Every bad input is answered by exit status 2 and exactly one line on stderr
naming the user's argument or file, never a traceback; the files left behind
are checked each time (no temporary, no half-written output, the user's own
files unchanged). Real subprocesses, small models.
"""

import importlib.metadata
import io
import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from model_builders import conv_pool_fc_softmax

SCRIPT = Path(sys.executable).parent / "microflat"


def run(*args, cwd=None, umask=None, timeout=300):
    preexec = (lambda: os.umask(umask)) if umask is not None else None
    return subprocess.run([str(SCRIPT), *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          preexec_fn=preexec, timeout=timeout)


def one_line(r, *expected, status=2):
    """r failed with `status` and one line on stderr holding every expected piece, no traceback."""
    assert r.returncode == status, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    for piece in expected:
        assert str(piece) in lines[0], (piece, lines[0])
    assert ".tmp-" not in lines[0]
    return lines[0]


def listing(folder: Path) -> dict:
    """{relative path: bytes} of every file under folder, hidden ones included."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def hidden(folder: Path) -> list:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture
def fmodel(tmp_path):
    """A float-facing model (QUANTIZE ... DEQUANTIZE): input [1, 8, 8, 3] NHWC float32, output [1, 10] float32."""
    data, reference = conv_pool_fc_softmax()
    path = tmp_path / "m.mfb"
    path.write_bytes(data)
    return path, reference


@pytest.fixture(scope="module")
def conv(tmp_path_factory):
    """An int8 model compiled from PyTorch: Conv2d(2, 4) + ReLU, input and output 4-D images. (folder, .pt2, .mfb,
    NCHW calibration data, the PyTorch module)."""
    torch = pytest.importorskip("torch")
    from microflat.compiler import compile as compile_model, save_program

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(2, 4, 3, padding=1)

        def forward(self, x):
            return torch.relu(self.conv(x))

    folder = tmp_path_factory.mktemp("conv")
    torch.manual_seed(0)
    net = Net().eval()
    calib = torch.randn(16, 2, 6, 6)
    save_program(net, (calib[:1],), folder / "net.pt2")
    compile_model(net, (calib[:1],), [calib[i:i + 8] for i in range(0, 16, 8)], output=folder / "net.mfb",
                  progress=False)
    np.save(folder / "calib.npy", calib.numpy())
    return folder, folder / "net.pt2", folder / "net.mfb", calib.numpy(), net


# --- --version, help -------------------------------------------------------------------------------------------


def test_version_is_the_installed_distributions():
    r = run("--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"microflat {importlib.metadata.version('microflat')}"


def test_every_command_states_the_layout_rule_in_its_help():
    for command in ("run", "export-c", "inspect", "compile"):
        r = run(command, "--help")
        assert r.returncode == 0, r.stderr
        text = " ".join(r.stdout.split())
        assert "--layout {nchw,nhwc}" in text and "NCHW" in text and "channels-last" in text, command
    text = " ".join(run("run", "--help").stdout.split())
    assert "--raw" in text and "dequantized" in text and "--dequantize" not in text
    demo = "the whole pipeline on a built-in default: train, compress, compile, run on Numba, C and Cortex-M4"
    assert demo in " ".join(run("--help").stdout.split())
    assert "--out DIR" in run("demo", "--help").stdout


# --- the layout rule and dequantized output --------------------------------------------------------------------


def test_run_takes_and_gives_pytorch_layout_and_real_values_by_default(conv, tmp_path):
    """Default: NCHW in, NCHW float32 out, within a few output steps of the PyTorch model; --raw: the int8 the model
    computes; --layout nhwc: the file's own NHWC both ways. All three agree with the Interpreter."""
    torch = pytest.importorskip("torch")
    from microflat.runtime import Interpreter

    _, _, mfb, calib, net = conv
    x = calib[:5]
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "x_nhwc.npy", x.transpose(0, 2, 3, 1))
    for args, name in ((("--input", tmp_path / "x.npy"), "real"), (("--input", tmp_path / "x.npy", "--raw"), "raw"),
                       (("--input", tmp_path / "x_nhwc.npy", "--layout", "nhwc"), "nhwc")):
        r = run("run", mfb, *args, "--output", tmp_path / f"{name}.npy")
        assert r.returncode == 0, r.stderr
    real, raw, nhwc = (np.load(tmp_path / f"{n}.npy") for n in ("real", "raw", "nhwc"))
    it = Interpreter(str(mfb))
    out = it.output_details[0]
    assert real.dtype == np.float32 and real.shape == (5, 4, 6, 6)
    assert raw.dtype == np.int8 and raw.shape == (5, 4, 6, 6)
    assert np.array_equal(raw.transpose(0, 2, 3, 1), it.invoke(x.transpose(0, 2, 3, 1))[0])
    assert np.array_equal(real.transpose(0, 2, 3, 1), it.invoke(x.transpose(0, 2, 3, 1), dequantize=True)[0])
    np.testing.assert_allclose(real, out["scale"] * (raw.astype(np.float64) - out["zero_point"]), rtol=1e-6)
    assert np.array_equal(nhwc, real.transpose(0, 2, 3, 1))
    with torch.no_grad():
        reference = net(torch.from_numpy(x)).numpy()
    assert np.abs(real - reference).max() <= 3 * out["scale"]


def test_compile_layout_nhwc_gives_the_same_file_as_pytorch_layout(conv, tmp_path):
    folder, pt2, _, calib, _ = conv
    np.save(tmp_path / "nchw.npy", calib)
    np.save(tmp_path / "nhwc.npy", calib.transpose(0, 2, 3, 1))
    r = run("compile", pt2, "-o", tmp_path / "a.mfb", "--calib", tmp_path / "nchw.npy", umask=0o027)
    assert r.returncode == 0, r.stderr
    r = run("compile", pt2, "-o", tmp_path / "b.mfb", "--calib", tmp_path / "nhwc.npy", "--layout", "nhwc")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "a.mfb").read_bytes() == (tmp_path / "b.mfb").read_bytes()
    assert (tmp_path / "a.mfb").stat().st_mode & 0o777 == 0o640  # the umask's, not mkstemp's 0600
    r = run("compile", pt2, "-o", tmp_path / "c.mfb", "--calib", tmp_path / "nhwc.npy")
    one_line(r, "calibration data", "nhwc.npy", "shape (16, 6, 6, 2) does not fit [N, 2, 6, 6] (NCHW")
    np.save(tmp_path / "short.npy", calib[:, :, :5].transpose(0, 2, 3, 1))
    r = run("compile", pt2, "-o", tmp_path / "c.mfb", "--calib", tmp_path / "short.npy", "--layout", "nhwc")
    one_line(r, "short.npy", "shape (16, 5, 6, 2) does not fit [N, 6, 6, 2] (channels-last")
    assert not (tmp_path / "c.mfb").exists() and hidden(tmp_path) == []


def test_export_c_quantizes_float_input_as_run_does(conv, tmp_path):
    """export-c --input float32 (NCHW, one sample) is quantized with the input's scale and zero point, not cast;
    the expected outputs it stores are `run --raw`'s on the same file."""
    from microflat.kernels import quantize
    from microflat.runtime import Interpreter

    _, _, mfb, calib, _ = conv
    x = calib[:1] * 3
    np.save(tmp_path / "x.npy", x)
    r = run("export-c", mfb, "-o", tmp_path / "out", "--input", tmp_path / "x.npy")
    assert r.returncode == 0, r.stderr
    inp = Interpreter(str(mfb)).input_details[0]
    want = quantize(x.transpose(0, 2, 3, 1), inp["scale"], inp["zero_point"])
    got = np.frombuffer((tmp_path / "out" / "input_0.bin").read_bytes(), np.int8).reshape(1, 6, 6, 2)
    assert np.array_equal(got, want) and not np.array_equal(got, x.transpose(0, 2, 3, 1).astype(np.int8))
    np.save(tmp_path / "x3.npy", x[0])  # one sample without its batch: the same export
    r = run("export-c", mfb, "-o", tmp_path / "out3", "--input", tmp_path / "x3.npy")
    assert r.returncode == 0, r.stderr
    assert listing(tmp_path / "out3") == listing(tmp_path / "out")
    r = run("run", mfb, "--input", tmp_path / "x.npy", "--raw", "--layout", "nchw", "--output", tmp_path / "y.npy")
    assert r.returncode == 0, r.stderr
    y = np.load(tmp_path / "y.npy").transpose(0, 2, 3, 1)
    text = (tmp_path / "out" / "model_data.c").read_text()
    body = text.split("expected_0[")[1].split("{", 1)[1].split("}", 1)[0]
    assert bytes(int(v, 16) for v in body.replace(",", " ").split()) == y.tobytes()


# --- bad input files ---------------------------------------------------------------------------------------------


def _bad_npys(folder: Path) -> dict:
    files = {"empty.npy": b"", "random.npy": np.random.default_rng(0).bytes(200)}
    buf = io.BytesIO()
    np.save(buf, np.zeros((1, 3, 8, 8), np.float32))
    files["truncated.npy"] = buf.getvalue()[:300]
    buf = io.BytesIO()
    np.savez(buf, a=np.zeros(3))
    files["archive.npy"] = buf.getvalue()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (folder / "folder.npy").mkdir()
    return {"empty.npy": "empty", "random.npy": "not a .npy file", "truncated.npy": "damaged",
            "archive.npy": ".npz archive", "folder.npy": "folder"}


def test_bad_npy_files_to_run_and_export_c(fmodel, tmp_path):
    path, _ = fmodel
    data = tmp_path / "data"
    data.mkdir()
    cases = _bad_npys(data)
    np.save(data / "objects.npy", np.array([1, "a"], dtype=object), allow_pickle=True)
    cases["objects.npy"] = "Python objects"
    before = listing(tmp_path)
    for name, reason in cases.items():
        line = one_line(run("run", path, "--input", data / name, "--output", tmp_path / "y.npy"), data / name, reason)
        assert "pickled" not in line
        one_line(run("export-c", path, "-o", tmp_path / "out", "--input", data / name), data / name, reason)
    assert listing(tmp_path) == before and hidden(tmp_path) == []


def _bad_programs(folder: Path, mfb: Path) -> dict:
    good = (folder / "net.pt2").read_bytes()
    damaged = bytearray(good)
    for k in range(len(good) // 3, len(good) // 3 + 400):  # inside the archive's members: torch cannot read it
        damaged[k] ^= 0xFF
    (folder / "damaged.pt2").write_bytes(bytes(damaged))
    with zipfile.ZipFile(folder / "garbage.pt2", "w") as z:
        z.writestr("archive/data.bin", np.random.default_rng(1).bytes(500))
    (folder / "folder.pt2").mkdir()
    return {"damaged.pt2": "torch.export.load cannot read", "garbage.pt2": "torch.export.load cannot read",
            "folder.pt2": "is a folder", str(mfb): "is a compiled .mfb"}


def test_damaged_programs_to_compile_and_inspect_compare(conv, tmp_path):
    """torch's own logged traceback is silenced: one line, naming the file. inspect --compare loads through the same
    function (compiler.api.load_program): two of the four cases there."""
    folder, pt2, mfb, _, _ = conv
    (tmp_path / "net.pt2").write_bytes(pt2.read_bytes())
    cases = _bad_programs(tmp_path, mfb)
    before = listing(tmp_path)
    for name, reason in cases.items():
        source = tmp_path / name if "/" not in name else Path(name)
        one_line(run("compile", source, "-o", tmp_path / "out.mfb", "--calib", folder / "calib.npy"), source, reason)
        if name in ("damaged.pt2", str(mfb)):
            one_line(run("inspect", mfb, "--compare", source, "--input", folder / "calib.npy"), source, reason)
    assert listing(tmp_path) == before and hidden(tmp_path) == []


def test_compile_never_writes_over_its_inputs(conv, tmp_path):
    folder, pt2, _, _, _ = conv
    model = tmp_path / "same.pt2"
    model.write_bytes(pt2.read_bytes())
    calib = tmp_path / "calib.npy"
    calib.write_bytes((folder / "calib.npy").read_bytes())
    os.link(model, tmp_path / "linked.pt2")
    before = listing(tmp_path)
    for out, given in ((model, model), (f"{tmp_path}/./same.pt2", model), (tmp_path / "linked.pt2", model),
                       (calib, calib)):
        one_line(run("compile", model, "-o", out, "--calib", calib), f"-o {out} is the input {given}")
    r = run("compile", "same.pt2", "-o", "same.pt2", "--calib", "calib.npy", cwd=tmp_path)
    one_line(r, "-o same.pt2 is the input same.pt2", "never writes over")
    np.save(tmp_path / "x.npy", np.zeros((1, 2, 6, 6), np.float32))
    before = listing(tmp_path)
    one_line(run("run", conv[2], "--input", tmp_path / "x.npy", "--output", tmp_path / "x.npy"), "is the input")
    assert listing(tmp_path) == before and hidden(tmp_path) == []


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nan_and_infinity_are_refused_everywhere(conv, tmp_path, value):
    folder, pt2, mfb, calib, _ = conv
    bad = calib.copy()
    bad[3, 1, 2, 4] = value
    np.save(tmp_path / "bad.npy", bad)
    np.save(tmp_path / "bad1.npy", bad[3:4])
    before = listing(tmp_path)
    index = "(3, 1, 2, 4)"
    one_line(run("run", mfb, "--input", tmp_path / "bad.npy", "--output", tmp_path / "y.npy"),
             "bad.npy", "NaN or infinite", index)
    one_line(run("export-c", mfb, "-o", tmp_path / "out", "--input", tmp_path / "bad1.npy"),
             "bad1.npy", "NaN or infinite", "(0, 1, 2, 4)")
    if value is np.nan:  # the two commands that start torch, once
        one_line(run("compile", pt2, "-o", tmp_path / "m.mfb", "--calib", tmp_path / "bad.npy"),
                 "calibration data", "bad.npy", "NaN or infinite", index)
        one_line(run("inspect", mfb, "--compare", pt2, "--input", tmp_path / "bad.npy"), "bad.npy", "NaN or infinite")
    assert listing(tmp_path) == before and hidden(tmp_path) == []


# --- weak messages made clear ------------------------------------------------------------------------------------


def test_outputs_in_a_missing_folder_name_the_users_path(fmodel, tmp_path, conv):
    path, _ = fmodel
    np.save(tmp_path / "x.npy", np.zeros((1, 3, 8, 8), np.float32))
    one_line(run("run", path, "--input", tmp_path / "x.npy", "--output", tmp_path / "no" / "y.npy"),
             f"cannot write --output {tmp_path / 'no' / 'y.npy'}", "does not exist")
    one_line(run("compile", conv[1], "-o", tmp_path / "no" / "m.mfb", "--calib", conv[0] / "calib.npy"),
             f"cannot write -o {tmp_path / 'no' / 'm.mfb'}", "does not exist")
    one_line(run("run", path, "--input", tmp_path / "x.npy", "--output", tmp_path), "is a folder")
    assert not (tmp_path / "no").exists() and hidden(tmp_path) == []


def test_write_atomic_names_the_users_path_not_its_temporary(tmp_path):
    from microflat.runtime.atomic import write_atomic

    with pytest.raises(FileNotFoundError) as info:
        write_atomic(tmp_path / "no" / "m.mfb", b"x")
    assert f"cannot write {tmp_path / 'no' / 'm.mfb'}" in str(info.value) and ".tmp-" not in str(info.value)


def test_argument_ranges_are_checked_by_argparse_before_any_work(tmp_path):
    one_line(run("compile", "zoo:lenet5", "-o", tmp_path / "m.mfb", "--batch-size", "0"),
             "argument --batch-size: must be an integer >= 1, got '0'")
    r = run("compress", "zoo:lenet300", "-o", tmp_path / "m.mfb", "--target-bytes", "-5", timeout=20)
    one_line(r, "argument --target-bytes: must be an integer >= 1, got '-5'")
    assert list(tmp_path.iterdir()) == []


def test_export_c_wrong_shape_says_expected_and_given(fmodel, tmp_path):
    path, _ = fmodel
    np.save(tmp_path / "x.npy", np.zeros((2, 3, 8, 8), np.float32))
    np.save(tmp_path / "flat.npy", np.zeros(192, np.float32))  # the right size, not the right shape: refused
    before = listing(tmp_path)
    one_line(run("export-c", path, "-o", tmp_path / "out", "--input", tmp_path / "x.npy"),
             "x.npy", "[1, 3, 8, 8] or [3, 8, 8]", "got (2, 3, 8, 8)")
    one_line(run("export-c", path, "-o", tmp_path / "out", "--input", tmp_path / "flat.npy", "--layout", "nhwc"),
             "flat.npy", "(1, 8, 8, 3)", "(192,)")
    one_line(run("run", path, "--input", tmp_path / "flat.npy"), "flat.npy", "[N, 3, 8, 8]", "got (192,)")
    assert listing(tmp_path) == before and hidden(tmp_path) == []


# --- export-c replaces a folder whole -----------------------------------------------------------------------------


def test_export_c_over_an_earlier_export_replaces_it_whole_and_keeps_your_files(fmodel, tmp_path):
    path, _ = fmodel
    other = tmp_path / "other.mfb"
    other.write_bytes(conv_pool_fc_softmax(seed=3)[0])
    out = tmp_path / "out"
    r = run("export-c", other, "-o", out)
    assert r.returncode == 0, r.stderr
    (out / "input_5.bin").write_bytes(b"stale")  # export-c's name: an old export's, dropped
    (out / "notes.txt").write_text("mine")
    r = run("export-c", path, "-o", out, umask=0o027)
    assert r.returncode == 0, r.stderr
    fresh = tmp_path / "fresh"
    assert run("export-c", path, "-o", fresh).returncode == 0
    files = listing(out)
    assert files.pop("notes.txt") == b"mine"
    assert files == listing(fresh)
    assert out.stat().st_mode & 0o777 == 0o750 and (out / "model_data.c").stat().st_mode & 0o777 == 0o640
    assert hidden(tmp_path) == []


def test_export_c_refuses_a_file_or_a_folder_of_folders(fmodel, tmp_path):
    path, _ = fmodel
    (tmp_path / "project" / "src").mkdir(parents=True)
    (tmp_path / "project" / "main.c").write_text("int main(void) { return 0; }\n")
    before = listing(tmp_path)
    one_line(run("export-c", path, "-o", tmp_path / "project"), "project holds folders export-c did not write (src/)")
    one_line(run("export-c", path, "-o", path), f"cannot write -o {path}", "not a folder")
    assert listing(tmp_path) == before and hidden(tmp_path) == []
    assert hidden(tmp_path / "project") == []


KILL = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # a shell's background job starts with SIGINT ignored
{patch}
from microflat.runtime.cli import main
sys.exit(main(sys.argv[1:]))
"""
# The n-th call of `target` sends the process `sig` first: a kill at that exact point of the write.
PATCH = """
import {module}
_real, _calls = {module}.{name}, [0]
def _killing(*args, **kwargs):
    _calls[0] += 1
    if _calls[0] == {nth}:
        os.kill(os.getpid(), signal.{sig})
    return _real(*args, **kwargs)
{module}.{name} = _killing
"""


def killed_run(args, module, name, nth, sig="SIGTERM"):
    code = KILL.format(patch=PATCH.format(module=module, name=name, nth=nth, sig=sig))
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=300)


def test_export_c_killed_midway_leaves_the_old_export(fmodel, tmp_path):
    """SIGTERM while the C sources are copied, and again after the old folder was renamed away: the old export stays
    whole at DIR, with no temporary beside it."""
    path, _ = fmodel
    other = tmp_path / "other.mfb"
    other.write_bytes(conv_pool_fc_softmax(seed=3)[0])
    out = tmp_path / "out"
    assert run("export-c", other, "-o", out).returncode == 0
    old = listing(out)
    r = killed_run(["export-c", path, "-o", out], "shutil", "copyfile", 5)
    one_line(r, "terminated (SIGTERM)", status=143)
    assert listing(out) == old and hidden(tmp_path) == []
    for nth in (1, 2):  # before the old folder is renamed away; after it, before the new one is renamed in
        r = killed_run(["export-c", path, "-o", out], "os", "rename", nth)
        one_line(r, "terminated (SIGTERM)", status=143)
        assert listing(out) == old and hidden(tmp_path) == []
    r = killed_run(["export-c", path, "-o", out], "shutil", "copyfile", 3, sig="SIGINT")
    assert r.returncode == 130 and "interrupted" in r.stderr and "Traceback" not in r.stderr


def test_a_killed_compile_leaves_no_temporary(conv, tmp_path):
    folder, pt2, _, _, _ = conv
    out = tmp_path / "m.mfb"
    r = killed_run(["compile", pt2, "-o", out, "--calib", folder / "calib.npy"], "os", "fsync", 1)
    assert r.returncode == 143, r.stderr
    assert "microflat: terminated (SIGTERM)" in r.stderr and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []
    out.write_bytes(b"an older model")
    r = killed_run(["compile", pt2, "-o", out, "--calib", folder / "calib.npy"], "os", "fsync", 1, sig="SIGINT")
    assert r.returncode == 130, r.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["m.mfb"] and out.read_bytes() == b"an older model"


def test_a_sigterm_during_a_real_compile_leaves_no_temporary(conv, tmp_path):
    """The console script itself, terminated while it works (after torch is up: its stderr shows progress)."""
    folder, pt2, _, _, _ = conv
    calib = tmp_path / "calib.npy"
    np.save(calib, np.random.default_rng(0).normal(size=(4096, 2, 6, 6)).astype(np.float32))
    out = tmp_path / "m.mfb"
    p = subprocess.Popen([str(SCRIPT), "compile", str(pt2), "-o", str(out), "--calib", str(calib), "--batch-size", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = p.stderr.read(1)  # the calibration's progress bar: torch is loaded, the work has begun
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert first and p.returncode == 143, (p.returncode, err)
    assert "Traceback" not in err and "microflat: terminated (SIGTERM)" in err.splitlines()[-1]
    assert sorted(q.name for q in tmp_path.iterdir()) == ["calib.npy"]
