"""The C twins, loaded through cffi, and a call that takes numpy arrays without copying.

The module is built when the package is installed (setup.py runs
_build_native.py). If it is missing, or was built from other sources (an
editable checkout whose C files changed since), it is built on first use into
the cache folder (kernels/cache.py: $MICROFLAT_CACHE, default ~/.cache/microflat), keyed by a
digest of the sources, and written there atomically.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from . import _build_native
from .cache import cache_dir

_C_ARRAY_TYPES = {
    np.dtype(np.int8): "int8_t[]",
    np.dtype(np.uint8): "uint8_t[]",
    np.dtype(np.int16): "int16_t[]",
    np.dtype(np.int32): "int32_t[]",
    np.dtype(np.int64): "int64_t[]",
    np.dtype(np.float32): "float[]",
}

_lock = threading.Lock()
_loaded = None


class NativeBuildError(RuntimeError):
    """The C kernels could not be compiled (no C compiler or no setuptools)."""


def load():
    """(ffi, lib) of the compiled C kernels, building them on first use if needed."""
    global _loaded
    with _lock:
        if _loaded is None:
            _loaded = _load_installed() or _load_or_build_cached()
        return _loaded


def call(name: str, *args):
    """Call C function ``name``; numpy arrays pass as pointers to their data, empty ones as NULL."""
    ffi, lib = load()
    c_args = []
    for a in args:
        if isinstance(a, np.ndarray):
            if a.size == 0:
                c_args.append(ffi.NULL)
            else:
                if not a.flags.c_contiguous:
                    raise ValueError(f"{name}: array arguments must be C-contiguous")
                c_args.append(ffi.from_buffer(_C_ARRAY_TYPES[a.dtype], a))
        elif isinstance(a, (float, np.floating)):
            c_args.append(float(a))
        else:
            c_args.append(int(a))
    return getattr(lib, name)(*c_args)


def _load_installed():
    try:
        from . import _native  # built by setup.py at install time
    except ImportError:
        return None
    built_from = _native.ffi.string(_native.lib.microflat_native_source_hash()).decode()
    if built_from != _build_native.source_hash():
        return None
    return _native.ffi, _native.lib


def _load_or_build_cached():
    digest = _build_native.source_hash()
    tag = f"{sys.implementation.cache_tag.replace('-', '_')}_{digest}"
    module_name = f"_microflat_native_{tag}"
    cache = cache_dir()
    built = sorted(cache.glob(f"{module_name}.*.so")) + sorted(cache.glob(f"{module_name}.so"))
    if not built:
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            try:
                ffibuilder = _build_native.make_ffibuilder(module_name)
                so_path = Path(ffibuilder.compile(tmpdir=tmp))
            except Exception as exc:  # cffi raises several distutils/setuptools error types
                raise NativeBuildError(
                    f"could not compile microflat's C kernels ({exc}); the C backend needs a C compiler "
                    "and setuptools (pip install setuptools)"
                ) from exc
            target = cache / so_path.name
            os.replace(so_path, target)  # atomic: a concurrent process sees all or nothing
        built = [target]
    spec = importlib.util.spec_from_file_location(module_name, built[0])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ffi, module.lib
