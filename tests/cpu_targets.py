"""The CPUs other than this host that the Numba runtime is checked and measured for.

x86 (TARGETS): Numba compiles for NUMBA_CPU_NAME with the features in NUMBA_CPU_FEATURES (the name alone keeps the host's
features, AVX-512 included), so a process started with Haswell's name and feature list compiles what an
AVX2 laptop would, and runs it here. AVX-VNNI cannot run here (an AVX-512 VNNI host has the EVEX VPDPBUSD, not
the VEX one, and QEMU 7.2 has neither): on such a host its path runs EVEX-encoded (a host without AVX-512 skips
it, naming the flags it lacks: host_lacks), and its Alder Lake code is read, not run. Each target gets its own NUMBA_CACHE_DIR: code compiled for one CPU
is never loaded for another. tests/test_cpu_targets.py and benchmarks/target_speed.py use these.

AArch64 (AARCH64_TARGETS): an arm64 Python (tests/arm/aarch64_python.sh, made into build/aarch64-python)
under qemu-aarch64, emulating the CPU (QEMU_CPU: which instructions are legal) and compiling for it
(NUMBA_CPU_NAME and NUMBA_CPU_FEATURES: QEMU shows the guest this host's /proc/cpuinfo, so LLVM cannot
find the features itself). The feature lists are what LLVM reads from /proc/cpuinfo on a Raspberry Pi 4
(Cortex-A72: no dot product) and a Pi 5 (Cortex-A76). tests/test_aarch64.py and
benchmarks/arm_instructions.py use these.
"""

import os
import shutil
from pathlib import Path

HASWELL = ("+avx,+avx2,+bmi,+bmi2,+cmov,+cx16,+f16c,+fma,+fsgsbase,+fxsr,+invpcid,+lzcnt,+mmx,+movbe,+pclmul,+popcnt,"
           "+rdrnd,+sahf,+sse,+sse2,+sse3,+sse4.1,+sse4.2,+ssse3,+x87,+xsave,+xsaveopt")
# Alder Lake (Intel's client CPUs since 2021: AVX-VNNI, AVX-512 fused off), as LLVM's alderlake CPU defines it.
ALDERLAKE = ("+adx,+aes,+avx,+avx2,+avxvnni,+bmi,+bmi2,+cldemote,+clflushopt,+clwb,+cmov,+cx16,+f16c,+fma,+fsgsbase,"
             "+fxsr,+gfni,+hreset,+invpcid,+kl,+lzcnt,+mmx,+movbe,+movdir64b,+movdiri,+pclmul,+pconfig,+pku,+popcnt,"
             "+prfchw,+ptwrite,+rdpid,+rdrnd,+rdseed,+sahf,+serialize,+sha,+shstk,+sse,+sse2,+sse3,+sse4.1,+sse4.2,"
             "+ssse3,+vaes,+vpclmulqdq,+waitpkg,+widekl,+x87,+xsave,+xsavec,+xsaveopt,+xsaves")

# Each target run here: (NUMBA_CPU_NAME, LLVM's feature list, the vector path kernels.vector_ir.TARGET must select).
TARGETS = {
    "haswell": ("haswell", HASWELL, "avx2"),
    # A CPU name without features: the portable LLVM IR every other target gets (vector_ir._target)
    "generic": ("generic", "", "portable"),
    # The AVX-VNNI path, run on this CPU: Alder Lake's features with AVX-VNNI swapped for the AVX-512 VNNI
    # and VL this host has (but not AVX-512 BW, which would select the vnni path). Either gives the 256-bit
    # VPDPBUSD that selects the path; LLVM encodes it in EVEX, which this CPU runs, where Alder Lake gets the
    # VEX form it does not. ("-avxvnni": the CPU name alone implies it, and LLVM would then compress the
    # EVEX form to VEX.) Same IR, so the same bytes; test_cpu_targets also compiles for Alder Lake itself and
    # reads its code.
    "alderlake-evex": ("alderlake", ALDERLAKE.replace("+avxvnni", "-avxvnni,+avx512f,+avx512vl,+avx512vnni"),
                       "avxvnni"),
}


def _host_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return set(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []))


# /proc/cpuinfo's name of each AVX-512 feature a target's code may hold: a host without one cannot run that target
# (it dies with SIGILL), and nothing here emulates it (QEMU 7.2 has no AVX-512).
_AVX512_FLAGS = {"+avx512f": "avx512f", "+avx512vl": "avx512vl", "+avx512vnni": "avx512_vnni", "+avx512bw": "avx512bw"}


def host_lacks(target: str) -> list[str]:
    """The CPU flags target's code needs that this host does not have."""
    needed = [flag for feature, flag in _AVX512_FLAGS.items() if feature in TARGETS[target][1].split(",")]
    host = _host_flags()
    return [flag for flag in needed if flag not in host]


def runnable(targets) -> list:
    """pytest parameters for `targets` (names of TARGETS, or None: the host), each one this host cannot execute
    marked skip, naming the flags it lacks."""
    import pytest

    return [pytest.param(t, marks=pytest.mark.skipif(bool(t and host_lacks(t)), reason=f"this host's CPU lacks "
                                                                                       f"{', '.join(host_lacks(t))}"
                                                     if t else "")) for t in targets]


def environment(target: str | None, cache: str, cpu: tuple | None = None) -> dict:
    """os.environ for a process compiling for `target` (a key of TARGETS; None: this host, unless `cpu` gives
    (NUMBA_CPU_NAME, feature list)), one thread, its own Numba cache."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1")
    env.pop("NUMBA_CPU_NAME", None)
    env.pop("NUMBA_CPU_FEATURES", None)
    if target is not None:
        cpu = TARGETS[target][:2]
    if cpu is not None:
        env["NUMBA_CPU_NAME"], env["NUMBA_CPU_FEATURES"] = cpu
    return env


AARCH64_TARGETS = {
    "cortex-a72": ("+crc,+fp-armv8,+neon", "neon"),
    "cortex-a76": ("+aes,+ccpp,+crc,+dotprod,+fp-armv8,+fullfp16,+lse,+neon,+rcpc,+rdm,+sha2", "sdot"),
}
AARCH64_PYTHON = Path(__file__).resolve().parents[1] / "build" / "aarch64-python"


def aarch64_command(cpu: str, cache, project, python=AARCH64_PYTHON) -> tuple[list, dict]:
    """(argv prefix, environment) that run the arm64 Python at `python` under qemu-aarch64 as `cpu`, compiling
    for it into its own Numba cache, with `project` (a folder holding microflat/) importable."""
    env = dict(os.environ, QEMU_CPU=cpu, QEMU_LD_PREFIX=str(Path(python) / "root"), NUMBA_CPU_NAME=cpu,
               NUMBA_CPU_FEATURES=AARCH64_TARGETS[cpu][0], NUMBA_CACHE_DIR=str(cache), NUMBA_NUM_THREADS="1",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=f"{project}{os.pathsep}{Path(python) / 'site'}")
    return ["qemu-aarch64", str(Path(python) / "root" / "usr" / "bin" / "python3.11")], env


def guest_project(folder) -> Path:
    """A copy of the runtime and kernels' Python sources in folder/microflat (no compiled modules: those
    built here are x86), for the guest's PYTHONPATH. Returns folder."""
    root = Path(__file__).resolve().parents[1]
    package = Path(folder) / "microflat"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    for part in ("runtime", "kernels"):
        shutil.copytree(root / part, package / part, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("*.so", "__pycache__", "*.o"))
    return Path(folder)


# A worker that traces every .mfb file in the folder argv[1] (example inputs) into FILE.npz beside it and
# prints the vector path it ran: the target tests run it under each target and compare with this host's trace.
TRACE_WORKER = r"""
import json, sys
from pathlib import Path
import numpy as np
from microflat.kernels import vector_ir
from microflat.runtime import Interpreter, load_bytes
from microflat.runtime.export_c import example_inputs
folder = Path(sys.argv[1])
for path in sorted(folder.glob("*.mfb")):
    data = path.read_bytes()
    trace = Interpreter(data).trace(*example_inputs(load_bytes(data), None))
    np.savez(path.with_suffix(".npz"), **trace)
print(json.dumps({"path": vector_ir.TARGET}))
"""
