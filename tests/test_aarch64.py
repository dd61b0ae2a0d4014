"""The Numba runtime on AArch64 (emulated) gives this host's bytes, tensor by tensor.

Each of tests/cpu_targets.py's AArch64 CPUs runs an arm64 Python under qemu-aarch64 (build/aarch64-python,
made by tests/arm/aarch64_python.sh) that compiles the kernels for that CPU: the Cortex-A72 takes the
widening-multiply path (SMULL, SADALP), the Cortex-A76 the dot-product path (SDOT). Every zoo model is
traced there, and every operator's output must equal this host's trace byte for byte: integer arithmetic
leaves no room for a tolerance. The guest also reports the vector path it selected, so a run that fell back
to the portable path fails. Under emulation each CPU's kernels compile in a few minutes; the zoo models
(not the op-coverage models, which the x86 targets run) keep this within CI's budget. The output stage and
ADD, which AArch64 runs in its own instructions (vector_ir.requant_lanes, add_lanes), are also checked on
the guest against the int64 references on thousands of edge-heavy cases.
"""

import json
import os
import subprocess

import numpy as np
import pytest

from cpu_targets import AARCH64_PYTHON, AARCH64_TARGETS, TRACE_WORKER, aarch64_command, guest_project
from firmware import need
from output_stage_cases import NUMERICS, check_results, write_cases
from microflat.compiler import zoo
from microflat.runtime import Interpreter, load_bytes
from microflat.runtime.export_c import example_inputs
from zoo_files import compiled_zoo


@pytest.fixture(scope="module")
def guest(tmp_path_factory):
    need("qemu-aarch64")
    if not (AARCH64_PYTHON / "root").is_dir():
        message = (f"needs {AARCH64_PYTHON} (make {AARCH64_PYTHON.relative_to(AARCH64_PYTHON.parents[1])}, after "
                   "dpkg --add-architecture arm64 && apt-get update)")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return guest_project(tmp_path_factory.mktemp("guest"))


@pytest.fixture(scope="module")
def numba_caches(tmp_path_factory):
    """One Numba cache per CPU for this module's tests: what one test compiled for a CPU, the next loads."""
    folder = tmp_path_factory.mktemp("numba-caches")
    return {cpu: folder / cpu for cpu in AARCH64_TARGETS}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    files = compiled_zoo()
    return {name: files[name] for name in sorted(zoo.ZOO)}


@pytest.mark.parametrize("cpu", sorted(AARCH64_TARGETS))
def test_every_zoo_operator_output_equals_the_hosts(cpu, guest, models, numba_caches, tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    for k, data in enumerate(models.values()):
        (folder / f"{k:02d}.mfb").write_bytes(data)
    argv, env = aarch64_command(cpu, numba_caches[cpu], guest)
    done = subprocess.run([*argv, "-c", TRACE_WORKER, str(folder)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["path"] == AARCH64_TARGETS[cpu][1]
    for k, (name, data) in enumerate(models.items()):
        host = Interpreter(data).trace(*example_inputs(load_bytes(data), None))
        with np.load(folder / f"{k:02d}.npz") as theirs:
            assert sorted(theirs.files) == sorted(host), name
            for tensor, value in host.items():
                np.testing.assert_array_equal(theirs[tensor], value, err_msg=f"{name}: {tensor} on {cpu}")


@pytest.mark.parametrize("cpu", sorted(AARCH64_TARGETS))
def test_output_stage_and_add_equal_tflites_double_rounding(cpu, guest, numba_caches, tmp_path):
    """On the guest, the output stage (requantize_span: SQRDMULH, SRSHL and saturating narrows on AArch64)
    on 4,000 edge-heavy spans, and ADD / SUB (add_s8_same_shape: three such rescales an element) on 2,000
    vectors, against the int64 references of TFLite's arithmetic (output_stage_cases)."""
    paths = write_cases(tmp_path)
    argv, env = aarch64_command(cpu, numba_caches[cpu], guest)
    done = subprocess.run([*argv, "-c", NUMERICS, *paths], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    check_results(tmp_path)
