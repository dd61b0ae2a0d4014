"""The Numba runtime on AArch64 (emulated) gives this host's bytes, tensor by tensor.

Each of tests/cpu_targets.py's AArch64 CPUs runs an arm64 Python under qemu-aarch64 (build/aarch64-python,
made by tests/arm/aarch64_python.sh) that compiles the kernels for that CPU: the Cortex-A72 takes the
widening-multiply path (SMULL, SADALP), the Cortex-A76 the dot-product path (SDOT). Every zoo model is
traced there, and every operator's output must equal this host's trace byte for byte: integer arithmetic
leaves no room for a tolerance. The guest also reports the vector path it selected, so a run that fell back
to the portable path fails. Under emulation each CPU's kernels compile in a few minutes; the zoo models
(not the op-coverage models, which the x86 targets run) keep this within CI's budget.
"""

import json
import os
import subprocess

import numpy as np
import pytest

from cpu_targets import AARCH64_PYTHON, AARCH64_TARGETS, aarch64_command, guest_project
from firmware import need
from microflat.compiler import zoo
from microflat.runtime import Interpreter, load_bytes
from microflat.runtime.export_c import example_inputs
from zoo_files import compiled_zoo

WORKER = r"""
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
def models(tmp_path_factory):
    files = compiled_zoo()
    return {name: files[name] for name in sorted(zoo.ZOO)}


@pytest.mark.parametrize("cpu", sorted(AARCH64_TARGETS))
def test_every_zoo_operator_output_equals_the_hosts(cpu, guest, models, tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    for k, data in enumerate(models.values()):
        (folder / f"{k:02d}.mfb").write_bytes(data)
    argv, env = aarch64_command(cpu, tmp_path / "numba-cache", guest)
    done = subprocess.run([*argv, "-c", WORKER, str(folder)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["path"] == AARCH64_TARGETS[cpu][1]
    for k, (name, data) in enumerate(models.items()):
        host = Interpreter(data).trace(*example_inputs(load_bytes(data), None))
        with np.load(folder / f"{k:02d}.npz") as theirs:
            assert sorted(theirs.files) == sorted(host), name
            for tensor, value in host.items():
                np.testing.assert_array_equal(theirs[tensor], value, err_msg=f"{name}: {tensor} on {cpu}")
