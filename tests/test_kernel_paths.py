"""The optimized ARM inner loops against the portable C, on random shapes, on emulated cores.

tests/arm/kernel_paths_check.c draws 4,000 random row-sum cases (one and
two columns; lengths 1..80, so every remainder of the SMLAD and SDOT block
widths; 1..11 rows from a random first; unaligned weight rows; random input
zero points; with and without bias) and 4,000 depthwise-tap cases (filters up
to 5 x 5 laid out by each path, 4..16 channels, unaligned inputs; a whole
window's folded run, or one row's run of a border window whose corner lies
outside the image), runs each through the path
kernels/kernel_paths.h selects for the core and through the portable C, and
counts the cases whose int32 sums differ. 4,000 more cases run the shared
requantization pass, as the core's compiler builds it, against one
requant_output at a time (per-tensor and per-channel multipliers, shifts
that take the fused and the unfused requantization, random zero points and
clamps, the int8 range's SSAT special case).
The 16x8 layers' loops (int16 activations, int8 weights, int64 sums) the
same way: 4,000 row-dot cases (one and two rows, lengths 1..80, unaligned
activations and rows, int16 edges, accumulators that start anywhere within
the 16x8 bound) and 4,000 depthwise tap-pair cases, against
row_dots_s16.h and depthwise_taps_s16.h; then 1,000 whole 16x8 layers
(mf_conv2d_s16, mf_depthwise_conv2d_s16, mf_fully_connected_s16 as the core's
path builds them: random padding, strides, dilations, groups, depth
multipliers, odd channel counts) against direct int64 loops written in the
check program.
The 8x8_16 LSTM's gate rows (an int8 vector read in place against four
int8 rows, int32 sums) the same way: 4,000 cases (lengths 1..80, unaligned
vectors and rows, int8 edges, accumulators that start anywhere within the
LSTM's bound) against row_dots_s8.h; then 1,000 whole LSTMs of each form,
mf_lstm_8x8_16 and mf_lstm_16x8 as the core's path builds them (1..4 steps,
1..20 inputs, 1..12 cells, random weights, biases up to the accumulator
bounds, multipliers and shifts within the kernels' contracts), against
references written in the check program (the per-cell arithmetic on the
shared numerics helpers, the gates' dot products as direct loops).
The Cortex-M4, M7 and M55 run the DSP path (SMLAD, SMLALD);
AArch64 the SDOT path for the int8 row sums, the portable C for 16x8 and
the LSTM's gate rows.
The portable C is held to int64 references by the host tests
(test_kernels_exact.py); the whole-model firmware tests (test_firmware.py)
add the zoo's real shapes.
"""

import pytest

from firmware import EXAMPLES, need, run

ROOT = EXAMPLES.parent
CHECK = ROOT / "tests" / "arm" / "kernel_paths_check.c"
NUMERICS = ROOT / "kernels" / "numerics.c"
REQUANTIZE = ROOT / "kernels" / "requantize.c"
LAYERS_16X8 = [str(ROOT / "kernels" / name) for name in ("conv2d.c", "depthwise_conv2d.c", "fully_connected.c")]
LSTMS = [str(ROOT / "kernels" / name) for name in ("lstm.c", "lstm_16x8.c", "activations_s16.c")]
CORTEX_M = EXAMPLES / "cortex-m"
STRICT = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Wconversion", "-Werror", f"-I{ROOT / 'kernels'}"]


def assert_agrees(result, path):
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert f"kernel path {path}\n" in out
    assert "cases 27000\nmismatches 0\n" in out


@pytest.mark.parametrize("board, cpu, flags", [
    ("mps2-an386", "cortex-m4", ["-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"]),
    ("mps2-an500", "cortex-m7", ["-mfpu=fpv5-d16", "-mfloat-abi=hard"]),
    ("mps2-an505", "cortex-m33", ["-mfloat-abi=soft"]),
    ("mps3-an547", "cortex-m55", ["-mfloat-abi=hard"]),
])
def test_cortex_m_dsp_kernels_agree_with_the_portable_c(board, cpu, flags, tmp_path):
    need("arm-none-eabi-gcc", "qemu-system-arm")
    elf = tmp_path / "check.elf"
    build = run(["arm-none-eabi-gcc", "-mthumb", f"-mcpu={cpu}", *flags, *STRICT, f"-I{CORTEX_M}",
                 str(CHECK), str(NUMERICS), str(REQUANTIZE), *LAYERS_16X8, *LSTMS, str(CORTEX_M / "startup.c"), "-nostartfiles", "--specs=nano.specs",
                 f"-L{CORTEX_M}", f"-T{CORTEX_M / 'boards' / (board + '.ld')}", "-o", str(elf)])
    assert build.returncode == 0, build.stderr
    result = run(["qemu-system-arm", "-M", board, "-nographic", "-monitor", "none", "-semihosting-config",
                  "enable=on,target=native", "-kernel", str(elf)], timeout=600)
    assert_agrees(result, "dsp")


def test_aarch64_dot_product_kernels_agree_with_the_portable_c(tmp_path):
    need("aarch64-linux-gnu-gcc", "qemu-aarch64")
    exe = tmp_path / "check"
    build = run(["aarch64-linux-gnu-gcc", "-march=armv8.2-a+dotprod", *STRICT, str(CHECK), str(NUMERICS), str(REQUANTIZE), *LAYERS_16X8, *LSTMS, "-static", "-o", str(exe)])
    assert build.returncode == 0, build.stderr
    assert_agrees(run(["qemu-aarch64", str(exe)], timeout=600), "dotprod")
