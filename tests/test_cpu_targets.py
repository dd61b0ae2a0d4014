"""The Numba runtime compiled for an AVX2 CPU (Haswell) gives this host's bytes, tensor by tensor.

Integer arithmetic leaves no room for a tolerance: every operator's output of every zoo and op-coverage
model (zoo_files), traced in a process compiling for the target, must equal the host's trace byte for
byte. The target's process also reports the vector path it selected, so a run that silently fell back to
the host's (or the portable) path fails.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from cpu_targets import TARGETS, TRACE_WORKER, environment
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


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_every_operator_output_equals_the_hosts(target, models, tmp_path):
    folder, names = models
    done = subprocess.run([sys.executable, "-c", TRACE_WORKER, str(folder)], capture_output=True, text=True,
                          env=environment(target, tmp_path / "numba-cache"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["path"] == TARGETS[target][1]
    for k, name in enumerate(names):
        data = (folder / f"{k:02d}.mfb").read_bytes()
        host = Interpreter(data).trace(*example_inputs(load_bytes(data), None))
        with np.load(folder / f"{k:02d}.npz") as theirs:
            assert sorted(theirs.files) == sorted(host), name
            for tensor, value in host.items():
                np.testing.assert_array_equal(theirs[tensor], value, err_msg=f"{name}: {tensor} on {target}")
