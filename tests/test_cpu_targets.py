"""The Numba runtime compiled for other x86 CPUs (cpu_targets.TARGETS: Haswell's AVX2, the portable IR, the
AVX-VNNI path) gives this host's bytes, tensor by tensor; for Alder Lake it emits AVX-VNNI's VEX code.

Integer arithmetic leaves no room for a tolerance: every operator's output of every zoo and op-coverage
model (zoo_files), traced in a process compiling for the target, must equal the host's trace byte for
byte. The target's process also reports the vector path it selected, so a run that silently fell back to
the host's (or the portable) path fails.
"""

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from cpu_targets import ALDERLAKE, TARGETS, TRACE_WORKER, environment, runnable
from output_stage_cases import NUMERICS, check_results, write_cases
from microflat.runtime import Interpreter, load_bytes
from microflat.runtime.export_c import example_inputs
from zoo_files import compiled_zoo


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    files = compiled_zoo()
    for k, (name, data) in enumerate(sorted(files.items())):
        (folder / f"{k:02d}.mfb").write_bytes(data)
    return folder, sorted(files)


@pytest.mark.parametrize("target", runnable(sorted(TARGETS)))
def test_every_operator_output_equals_the_hosts(target, models, tmp_path):
    folder, names = models
    done = subprocess.run([sys.executable, "-c", TRACE_WORKER, str(folder)], capture_output=True, text=True,
                          env=environment(target, tmp_path / "numba-cache"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["path"] == TARGETS[target][2]
    for k, name in enumerate(names):
        data = (folder / f"{k:02d}.mfb").read_bytes()
        host = Interpreter(data).trace(*example_inputs(load_bytes(data), None))
        with np.load(folder / f"{k:02d}.npz") as theirs:
            assert sorted(theirs.files) == sorted(host), name
            for tensor, value in host.items():
                np.testing.assert_array_equal(theirs[tensor], value, err_msg=f"{name}: {tensor} on {target}")


# Compiles the step program's kernels for the CPU of its environment and prints each one's assembly, running
# none of it (this host cannot run the VEX VPDPBUSD).
ASSEMBLY_WORKER = r"""
import json
from microflat.kernels import vector_ir
from microflat.runtime.step_program import KERNELS
code = {}
for k in KERNELS:
    k.compile(None)
    code[k.__name__] = k.inspect_asm(k.signatures[0])
print(json.dumps({"path": vector_ir.TARGET, "asm": code}))
"""


def test_alder_lake_gets_vex_vpdpbusd_on_sixteen_ymm_registers(tmp_path):
    """What an Alder Lake laptop would run: the dense layers' VPDPBUSD in its VEX form, and no instruction
    that needs AVX-512 (zmm registers, ymm16-31, mask registers), which these CPUs do not have."""
    done = subprocess.run([sys.executable, "-c", ASSEMBLY_WORKER], capture_output=True, text=True,
                          env=environment(None, tmp_path / "numba-cache", cpu=("alderlake", ALDERLAKE)))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["path"] == "avxvnni"
    for name, asm in report["asm"].items():
        assert not re.search(r"%zmm|%[xy]mm(1[6-9]|2\d|3[01])\b|%k[1-7]\b|\{%k", asm), name
        assert len(re.findall(r"vpdpbusd", asm)) == len(re.findall(r"\{vex\}\s+vpdpbusd", asm)), name
    assert len(re.findall(r"\{vex\}\s+vpdpbusd", report["asm"]["conv2d_s8_packed"])) >= 12


@pytest.mark.parametrize("target", runnable([None, *sorted(TARGETS)]))
def test_output_stage_and_add_equal_tflites_double_rounding(target, tmp_path):
    """The output stage (requantize_span: vector_ir.requant_lanes on AVX-512's int64 lanes, Numba's loop on the
    other paths) on 4,000 edge-heavy spans, and ADD / SUB (add_lanes on every x86 path but the portable one) on
    2,000 vectors, compiled for this host (None) and each target, against the int64 references of TFLite's
    arithmetic (output_stage_cases)."""
    paths = write_cases(tmp_path)
    done = subprocess.run([sys.executable, "-c", NUMERICS, *paths], capture_output=True, text=True,
                          env=environment(target, tmp_path / "numba-cache"))
    assert done.returncode == 0, done.stderr[-3000:]
    check_results(tmp_path)
