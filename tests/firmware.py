"""Helpers of the tests that build and run the C runtime as programs: tools, export, Cortex-M firmware, output parsing.

The programs print their outputs in firmware_examples/common/report.h's
format; parse_report reads it back, and fnv1a is the checksum written here
from its definition (32-bit FNV-1a), not taken from the code under test.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from microflat.runtime import Interpreter, firmware, load_bytes
from microflat.runtime.export_c import example_inputs, export

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "firmware_examples"
APT = "apt-get install --no-install-recommends"
PACKAGES = {
    "arm-none-eabi-gcc": "gcc-arm-none-eabi libnewlib-arm-none-eabi",
    "arm-none-eabi-readelf": "binutils-arm-none-eabi",
    "gcc": "gcc libc6-dev",
    "qemu-system-arm": "qemu-system-arm",
    "aarch64-linux-gnu-gcc": "gcc-aarch64-linux-gnu libc6-dev-arm64-cross",
    "qemu-aarch64": "qemu-user",
    "clang": "clang libclang-rt-14-dev",
    "make": "make",
}


def need(*tools):
    """Skip (naming what to install) when a tool is missing; under CI, where .ci/run installs them, fail."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        message = f"needs {', '.join(missing)}: {APT} {' '.join(PACKAGES[t] for t in missing)}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def fnv1a(data: bytes, h: int = 2166136261) -> int:
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def parse_report(text: str):
    """([output bytes, ...], checksum) from a program's report."""
    outputs, current = [], None
    checksum = None
    for line in text.splitlines():
        if m := re.fullmatch(r"output (\d+) \((\d+) bytes\):", line.strip()):
            current = bytearray()
            outputs.append(current)
        elif m := re.fullmatch(r"checksum 0x([0-9a-f]{8})", line.strip()):
            checksum = int(m.group(1), 16)
            current = None
        elif current is not None and re.fullmatch(r"( [0-9a-f]{2})+", line):
            current += bytes.fromhex(line)
    return [bytes(o) for o in outputs], checksum


def python_outputs(data: bytes) -> list[bytes]:
    """The Numba runtime's outputs on export-c's example input."""
    model = load_bytes(data)
    return [y.tobytes() for y in Interpreter(model).invoke(*example_inputs(model, None))]


def exported(data: bytes, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.mfb").write_bytes(data)
    export(folder / "model.mfb", folder)
    return folder


def run(cmd, timeout=300, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def assert_report_matches(result, data: bytes):
    assert result.returncode == 0, result.stdout + result.stderr
    outputs, checksum = parse_report(result.stdout + result.stderr)
    expected = python_outputs(data)
    assert outputs == expected
    assert checksum == fnv1a(b"".join(expected))


def as_input_files(data: bytes, folder: Path) -> list[str]:
    model = load_bytes(data)
    paths = []
    for i, x in enumerate(example_inputs(model, None)):
        p = folder / f"input_{i}.bin"
        p.write_bytes(np.ascontiguousarray(x).tobytes())
        paths.append(str(p))
    return paths


def build_firmware(model_dir, out_dir, board="mps2-an386", opt="-O2", extra="", ops="model"):
    """firmware_examples/cortex-m's firmware.elf for an exported model (runtime/firmware.py's build); ops="all"
    links every operator."""
    need("make", "arm-none-eabi-gcc")
    return firmware.build(model_dir, out_dir, board=board, opt=opt, extra_cflags=extra, ops=ops)


def run_firmware(elf, board="mps2-an386"):
    """The ELF's run under qemu-system-arm (runtime/firmware.py's run_elf)."""
    need("qemu-system-arm")
    return firmware.run_elf(elf, board)
