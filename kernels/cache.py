"""Where microflat keeps what it builds or trains once per machine: $MICROFLAT_CACHE, default ~/.cache/microflat.

One variable for everything: the C twins' cffi module when the installed one is missing or stale
(kernels/native.py), the step-program decoders generated per set of kernels (runtime/step_program.py) and the
zoo's trained weights (compiler/zoo.py), each in a folder of its own. Numba's compiled kernels stay where Numba
puts them ($NUMBA_CACHE_DIR, default each module's __pycache__).
"""

from __future__ import annotations

import os
from pathlib import Path

VARIABLE = "MICROFLAT_CACHE"


def cache_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "microflat"
    return Path(os.environ.get(VARIABLE) or default)
