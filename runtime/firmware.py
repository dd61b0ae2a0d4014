"""A model built into the Cortex-M firmware example and run under QEMU, from Python.

The steps of firmware_examples/README.md: `export-c` the model with one
input, build firmware_examples/cortex-m with its Makefile
(arm-none-eabi-gcc), run the ELF under qemu-system-arm with semihosting, and
read back what the firmware prints (firmware_examples/common/report.h's
format: each output's bytes, their checksum, whether they match the outputs
the Python runtime computed at export time, the kernel path, the arena and
the stack peak). `microflat demo` runs its model this way, and the tests
build and run theirs through build and run_elf; they read the printout with
their own parser (tests/firmware.py), written independently of this one.

The firmware example ships with the source checkout, not with an installed
wheel: `example_folder()` says where it is, or None.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .export_c import export

CORTEX_M = Path(__file__).resolve().parents[1] / "firmware_examples" / "cortex-m"
BOARDS = {"microbit": "Cortex-M0", "mps2-an385": "Cortex-M3", "mps2-an386": "Cortex-M4F", "mps2-an500": "Cortex-M7", "mps2-an505": "Cortex-M33",
          "mps3-an547": "Cortex-M55"}
TOOLS = ("make", "arm-none-eabi-gcc", "qemu-system-arm")
APT = "apt-get install --no-install-recommends"
PACKAGES = {"make": "make", "arm-none-eabi-gcc": "gcc-arm-none-eabi libnewlib-arm-none-eabi",
            "qemu-system-arm": "qemu-system-arm"}


class FirmwareError(RuntimeError):
    """The firmware did not build, or did not run to the end under QEMU."""


@dataclass
class FirmwareRun:
    outputs: list[bytes]     # each model output's bytes, as the firmware printed them
    checksum: int | None     # the firmware's FNV-1a over the outputs
    expected_match: bool     # the firmware's own comparison with the outputs export-c stored beside the input
    kernel_path: str         # "dsp" (SMLAD) or "portable"
    arena_bytes: int | None
    stack_bytes: int | None
    text: str                # everything it printed


def missing_tools() -> list[str]:
    """The tools a Cortex-M build and run needs that are not on PATH."""
    return [t for t in TOOLS if shutil.which(t) is None]


def install_hint(missing) -> str:
    """The Debian/Ubuntu command that installs the given tools."""
    return f"{APT} {' '.join(PACKAGES[t] for t in missing)}"


def example_folder() -> Path | None:
    """firmware_examples/cortex-m of the source checkout, or None (an installed wheel does not carry it)."""
    return CORTEX_M if (CORTEX_M / "Makefile").is_file() else None


def _sh(cmd, timeout) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise FirmwareError(f"{cmd[0]} did not finish in {timeout} s") from None


def build(model_dir, out_dir, board: str = "mps2-an386", opt: str = "-O2", extra_cflags: str = "",
          ops: str = "model", timeout: float = 600) -> Path:
    """firmware_examples/cortex-m built for `board` around an export-c folder; returns the ELF's path. ops="model"
    links only the operators the folder's mf_ops_used.h enables, "all" every operator."""
    folder = example_folder()
    if folder is None:
        raise FirmwareError(f"{CORTEX_M} is missing: the firmware example ships with the source checkout")
    if board not in BOARDS:
        raise FirmwareError(f"unknown board {board!r}: use one of {', '.join(BOARDS)}")
    result = _sh(["make", "-s", "-C", folder, f"BOARD={board}", f"MODEL_DIR={Path(model_dir).resolve()}",
                  f"OUT={Path(out_dir).resolve()}", f"OPT={opt}", f"EXTRA_CFLAGS={extra_cflags}", f"OPS={ops}"], timeout)
    if result.returncode != 0:
        raise FirmwareError(f"the firmware did not build:\n{result.stdout}{result.stderr}")
    return Path(out_dir) / "firmware.elf"


def run_elf(elf, board: str = "mps2-an386", timeout: float = 600) -> subprocess.CompletedProcess:
    """The firmware under qemu-system-arm, semihosting on: its exit status, and what it printed (the UART on
    stdout, semihosting's stderr on stderr)."""
    return _sh(["qemu-system-arm", "-M", board, "-nographic", "-monitor", "none", "-semihosting-config",
                "enable=on,target=native", "-kernel", elf], timeout)


def parse_report(text: str) -> FirmwareRun:
    """What the firmware printed (report.h's lines, then main.c's), as a FirmwareRun."""
    outputs, current, checksum = [], None, None
    for line in text.splitlines():
        s = line.strip()
        if re.fullmatch(r"output \d+ \(\d+ bytes\):", s):
            current = bytearray()
            outputs.append(current)
        elif m := re.fullmatch(r"checksum 0x([0-9a-f]{8})", s):
            checksum, current = int(m.group(1), 16), None
        elif current is not None and re.fullmatch(r"( [0-9a-f]{2})+", line):
            current += bytes.fromhex(line)
        else:
            current = None

    def value(label):
        m = re.search(rf"^{label} (\S+)$", text, re.MULTILINE)
        return m.group(1) if m else None

    arena, stack = value("arena bytes"), value("stack bytes")
    return FirmwareRun([bytes(o) for o in outputs], checksum, "expected: match" in text, value("kernel path") or "",
                       int(arena) if arena else None, int(stack) if stack else None, text)


def run_model(data: bytes, inputs, work, board: str = "mps2-an386", opt: str = "-O2", workers: int = 2,
              progress: bool = False) -> list[FirmwareRun]:
    """The model (.mfb bytes) run by the firmware on each input: one sample each, the model's input dtype and
    layout (NHWC). Each input gets its own export-c folder and build under `work` (the input is compiled into
    the firmware); `workers` builds run at once. Raises FirmwareError when a build or a run fails."""
    work = Path(work)
    folders = []
    for i, x in enumerate(inputs):
        folder = work / f"input_{i}"
        export(bytes(data), folder / "model", np.asarray(x))
        folders.append(folder)

    def one(folder):
        elf = build(folder / "model", folder / "build", board, opt)
        result = run_elf(elf, board)
        status, text = result.returncode, result.stdout + result.stderr
        report = parse_report(text)
        if status not in (0, 1) or not report.outputs:  # 1: ran, outputs differ from export-c's; the caller says so
            raise FirmwareError(f"the firmware failed under QEMU (exit status {status}):\n{text}")
        return report

    with ThreadPoolExecutor(max(1, workers)) as pool:
        runs = pool.map(one, folders)
        if progress:
            from tqdm.auto import tqdm  # the compiler extra's; the runtime alone runs without a bar

            runs = tqdm(runs, total=len(folders), desc=f"firmware ({board})", unit="input")
        return list(runs)
