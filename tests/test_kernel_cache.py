"""Numba's on-disk cache of a kernel is refreshed when any kernels source changes, not only its own file.

Numba judges a cached function by a hash of the file that defines it, but the kernels inline helpers from
other files (vector_ir's intrinsics, numerics' rounding). kernels/_jit.py's locator adds a digest of every
kernels source to the stamp. Here, in a copy of the package: a cached kernel is loaded from the cache by a
second process (the cache works), and recompiled by a third after an edit to another kernels file only.
"""

import json
import os
import subprocess
import sys

from cpu_targets import guest_project

WORKER = r"""
import json
import numpy as np
from microflat.kernels._copy import copy_elements
copy_elements(np.zeros(4, np.int8), np.arange(4, dtype=np.int8))
stats = copy_elements.stats
print(json.dumps({"hits": sum(stats.cache_hits.values()), "misses": sum(stats.cache_misses.values())}))
"""


def test_an_edit_to_another_kernels_file_recompiles_a_cached_kernel(tmp_path):
    project = guest_project(tmp_path / "project")
    env = dict(os.environ, PYTHONPATH=str(project), NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))

    def run():
        done = subprocess.run([sys.executable, "-c", WORKER], capture_output=True, text=True, env=env,
                              cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    assert run() == {"hits": 0, "misses": 1}
    assert run() == {"hits": 1, "misses": 0}
    helper = project / "microflat" / "kernels" / "numerics.py"
    helper.write_text(helper.read_text() + "\n# an edit to a helper another kernel may inline\n")
    assert run() == {"hits": 0, "misses": 1}
