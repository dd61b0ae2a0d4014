"""The C runtime on emulated ARM, bit-exact with the Python runtime on every zoo model.

Cortex-M: `microflat export-c`, then firmware_examples/cortex-m's Makefile
(arm-none-eabi-gcc, the startup that copies .data from flash; the model's
operators alone, as the Makefile builds by default), run under
qemu-system-arm; the firmware prints its outputs and checksum over
semihosting. aarch64 Linux: firmware_examples/aarch64-linux as a static
binary under qemu-aarch64. Both outputs are compared byte for byte with
the Numba runtime's, and the checksum with FNV-1a computed here.

Without the cross tools and QEMU these tests skip, naming the Debian
packages to install; under CI (.ci/run installs them) they fail instead.
"""

import pytest

from firmware import (EXAMPLES, as_input_files, assert_report_matches, build_firmware, exported, need, python_outputs,
                      run, run_firmware)
from op_models import OP_MODELS
from model_builders import stream_models
from zoo_files import COMPILED_STREAMS, VARIANTS, compiled_zoo
from microflat.compiler import zoo

MODELS = (sorted(zoo.ZOO) + sorted(VARIANTS) + sorted(OP_MODELS) + sorted(stream_models())
          + sorted(COMPILED_STREAMS))
LINUX = EXAMPLES / "aarch64-linux"


@pytest.mark.parametrize("path", ["dsp", "portable"])
@pytest.mark.parametrize("name", MODELS)
def test_cortex_m4_firmware_is_bit_exact_on_every_zoo_model(name, path, tmp_path):
    """The M4 has the DSP extension: by default its firmware runs the SMLAD kernels (kernels/arm/); built
    with -DMICROFLAT_PORTABLE, the portable C. Both must give the Python runtime's bytes."""
    data = compiled_zoo()[name]
    extra = "-DMICROFLAT_PORTABLE" if path == "portable" else ""
    elf = build_firmware(exported(data, tmp_path / "model"), tmp_path / "build", extra=extra)
    result = run_firmware(elf)
    assert_report_matches(result, data)
    assert "expected: match" in result.stderr
    assert f"kernel path {path}\n" in result.stderr


BOARD_MODELS = ["ds_cnn", "ds_cnn/int4", "ds_cnn/int16", "ops/activations16", "ops/lstm16", "streams/lstm",
                "streams/svdf"]
# The micro:bit's 16 KB of RAM hold the arena, .data, .bss and a 4 KB stack: ds_cnn/int16's 23 KB arena does not fit.
M0_MODELS = [name for name in BOARD_MODELS if name != "ds_cnn/int16"]


@pytest.mark.parametrize("board, path, name", [
    *[(board, path, name) for board, path in [("mps2-an385", "portable"), ("mps2-an500", "dsp"),
                                               ("mps2-an505", "dsp"), ("mps3-an547", "dsp")] for name in BOARD_MODELS],
    *[("microbit", "portable", name) for name in M0_MODELS]])
def test_every_board_runs_the_firmware(board, path, name, tmp_path):
    """The M0 (the micro:bit: ARMv6-M, no hardware divide, a fault on any unaligned access) and the M3 have no
    DSP extension and run the portable C; the M7, the M33 (secure, as QEMU's AN505 starts it) and the M55 run
    the SMLAD kernels (SMLALD for ds_cnn/int16's 16x8 conv, depthwise and FC layers); the int16 LOGISTIC, TANH
    and SOFTMAX, the 16x8 LSTM, and the LSTM and SVDF streams with their variables too."""
    data = compiled_zoo()[name]
    elf = build_firmware(exported(data, tmp_path / "model"), tmp_path / "build", board=board)
    result = run_firmware(elf, board)
    assert_report_matches(result, data)
    assert f"kernel path {path}\n" in result.stderr


def test_an_unoptimized_build_runs_the_portable_kernels(tmp_path):
    """At -O0 GCC keeps a frame pointer, and the DSP path's assembly needs that register: kernel_paths.h
    selects the portable C instead, and says so."""
    data = compiled_zoo()["ds_cnn"]
    elf = build_firmware(exported(data, tmp_path / "model"), tmp_path / "build", opt="-O0")
    result = run_firmware(elf)
    assert_report_matches(result, data)
    assert "kernel path portable\n" in result.stderr


def test_firmware_copies_initialized_data_from_flash(tmp_path):
    """QEMU loads each segment at its load address, as a board's flash holds it: without the startup's copy,
    .data in RAM would not hold its initial values, and the firmware says so (exit status 4)."""
    need("arm-none-eabi-readelf")
    elf = build_firmware(exported(compiled_zoo()["small_cnn"], tmp_path / "model"), tmp_path / "build")
    headers = run(["arm-none-eabi-readelf", "-lW", str(elf)]).stdout
    data_segment = [line.split() for line in headers.splitlines() if line.strip().startswith("LOAD") and " RW " in line][0]
    virt, phys = int(data_segment[2], 16), int(data_segment[3], 16)
    assert virt >= 0x20000000 > phys  # .data runs in RAM, loads from flash
    assert run_firmware(elf).returncode == 0


@pytest.fixture(scope="module")
def linux_program(tmp_path_factory):
    need("make", "aarch64-linux-gnu-gcc")
    out = tmp_path_factory.mktemp("aarch64")
    result = run(["make", "-s", "-C", str(LINUX), f"OUT={out}"])
    assert result.returncode == 0, result.stdout + result.stderr
    return out / "microflat_run"


@pytest.mark.parametrize("name", MODELS)
def test_aarch64_linux_program_is_bit_exact_on_every_zoo_model(name, linux_program, tmp_path):
    need("qemu-aarch64")
    data = compiled_zoo()[name]
    (tmp_path / "model.mfb").write_bytes(data)
    result = run(["qemu-aarch64", str(linux_program), str(tmp_path / "model.mfb"), *as_input_files(data, tmp_path)])
    assert_report_matches(result, data)
    assert "kernel path dotprod\n" in result.stdout  # built for ARMv8.2-A: the SDOT kernels


def test_aarch64_linux_program_refuses_a_damaged_model_in_one_line(linux_program, tmp_path):
    need("qemu-aarch64")
    data = bytearray(compiled_zoo()["small_cnn"])
    data[8] = 9  # the major version
    (tmp_path / "model.mfb").write_bytes(bytes(data))
    result = run(["qemu-aarch64", str(linux_program), str(tmp_path / "model.mfb"), str(tmp_path / "none.bin")])
    assert result.returncode == 2
    assert result.stdout.strip() == "error 2 at byte 8: the format's major version is not readable by this runtime"
    assert python_outputs(compiled_zoo()["small_cnn"])  # the undamaged model runs
