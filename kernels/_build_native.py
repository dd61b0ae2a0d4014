"""Compile the C kernels and the C runtime into a cffi extension module (API mode).

Used twice: by setup.py (``cffi_modules``) when the package is installed,
and by native.py on first use when no installed module matches the current
sources. The prototypes are read from the headers' ``cffi-begin``/``cffi-end``
blocks, so they are written once, in C.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
# The C runtime (runtime/c) ships inside the runtime package; in a checkout it lies beside kernels/.
RUNTIME_C = HERE.parent / "runtime" / "c"
HEADERS = (HERE / "numerics.h", HERE / "weight_encoding.h", HERE / "microflat_kernels.h", RUNTIME_C / "microflat.h")
SOURCES = tuple(sorted(HERE.glob("*.c")) + sorted(RUNTIME_C.glob("*.c")))
DEPENDENCIES = HEADERS + SOURCES + tuple(sorted(HERE.glob("*.h")) + sorted(HERE.glob("arm/*.h")) + sorted(RUNTIME_C.glob("*.h"))) + (
    HERE / "_build_native.py",
)
INSTALLED_MODULE = "microflat.kernels._native"
COMPILE_ARGS = ["-std=c99", "-O3"]


def cdef_text() -> str:
    """The declarations cffi exposes: every prototype between the header markers."""
    blocks = []
    for header in HEADERS:
        text = header.read_text()
        after_begin = text.split("/* cffi-begin", 1)[1].split("*/", 1)[1]
        block = after_begin.split("/* cffi-end */", 1)[0]
        blocks.append(block.replace("static inline ", ""))
    blocks.append("const char *microflat_native_source_hash(void);")
    return "\n".join(blocks)


def source_hash() -> str:
    """A digest of everything that determines the compiled module."""
    digest = hashlib.sha256()
    for path in sorted(set(DEPENDENCIES)):
        digest.update(f"{path.parent.name}/{path.name}".encode())
        digest.update(path.read_bytes())
    digest.update(" ".join(COMPILE_ARGS).encode())
    return digest.hexdigest()[:16]


def make_ffibuilder(module_name: str = INSTALLED_MODULE, relative_to: Path | None = None) -> FFI:
    """The cffi builder. ``relative_to``: give source paths relative to it (setup.py wants that)."""
    ffi = FFI()
    ffi.cdef(cdef_text())
    sources = [str(s) for s in SOURCES]
    if relative_to is not None:
        sources = [os.path.relpath(s, relative_to) for s in sources]
    ffi.set_source(
        module_name,
        '#include "numerics.h"\n'
        '#include "weight_encoding.h"\n'
        '#include "microflat_kernels.h"\n'
        '#include "microflat.h"\n'
        f'const char *microflat_native_source_hash(void) {{ return "{source_hash()}"; }}\n',
        sources=sources,
        include_dirs=[str(HERE), str(RUNTIME_C)],
        extra_compile_args=COMPILE_ARGS,
    )
    return ffi


# For setup.py's cffi_modules, which runs from the project root.
ffibuilder = make_ffibuilder(relative_to=Path.cwd())

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
