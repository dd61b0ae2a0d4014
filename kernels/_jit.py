"""@kernel(signature): a Numba kernel compiled for its one declared signature when first used, not at import.

`@njit(signature, cache=True)` compiles (or loads from Numba's on-disk cache) at decoration, so importing the
kernels compiled every one of them: 25 s of CPU on a fresh install before the first inference, most of it on
kernels the model never calls. A kernel made here is a lazy Numba dispatcher whose `compile` always builds the
declared signature and then closes the dispatcher to further compilation, which is exactly what an explicit
signature does, only later:

  - called from Python, the dispatcher finds no overload and compiles: the declared one, then matches the
    arguments against it with the explicit-signature conversions (a Python int into an int32 argument) and
    refuses other types with Numba's TypeError;
  - typed inside another jitted function (the step-program decoder), it compiles the same way and the caller
    resolves against that one overload;
  - with `cache=True` the declared overload is written to and read from Numba's cache, so a second process
    loads it instead of compiling.

`declared_signature` is the kernel's argument schema before it is compiled (kernels/kernel_args.py).

Numba's on-disk cache judges a cached function fresh by a hash of the one file that defines it. The kernels
inline helpers from other files (vector_ir's intrinsics, numerics' rounding), and which code those emit
follows the target; a change to a helper alone would leave every caller's cached code stale. So a function
defined in this folder is cached under a stamp that also covers every source file here
(kernel_sources_digest): Numba's own locator, asked first by CacheImpl, with that digest added.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from numba import njit
from numba.core import caching

KERNELS = Path(__file__).resolve().parent


@functools.lru_cache(maxsize=None)
def kernel_sources_digest() -> str:
    """sha256 of every kernels/*.py file, names and bytes, in name order."""
    digest = hashlib.sha256()
    for path in sorted(KERNELS.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


class KernelSourcesLocator:
    """The cache locator Numba would use for a function in kernels/, whose source stamp also covers every
    kernels source (module docstring). Numba's locator protocol: from_function returns None for a function
    it does not take."""

    def __init__(self, inner):
        self._inner = inner

    @classmethod
    def from_function(cls, py_func, py_file):
        if Path(py_file).resolve().parent != KERNELS:
            return None
        for locator_class in caching.CacheImpl._locator_classes:
            if locator_class is not cls and (inner := locator_class.from_function(py_func, py_file)) is not None:
                return cls(inner)
        return None

    def get_source_stamp(self):
        return self._inner.get_source_stamp(), kernel_sources_digest()

    def __getattr__(self, name):  # get_cache_path, get_disambiguator, ensure_cache_path: Numba's own
        return getattr(self._inner, name)


if KernelSourcesLocator not in caching.CacheImpl._locator_classes:
    caching.CacheImpl._locator_classes.insert(0, KernelSourcesLocator)


def kernel(signature):
    """Decorate a kernel with its one explicit Numba signature (types.void(...)), compiled on first use."""

    def wrap(py_func):
        dispatcher = njit(cache=True, nogil=True)(py_func)
        compile_for = dispatcher.compile

        def compile_declared(_requested=None):
            # Whatever the argument types asked for, build the declared overload and accept no other:
            # the caller's arguments then convert to it or fail to match, as under an explicit signature.
            entry = compile_for(signature)
            dispatcher.disable_compile()
            return entry

        dispatcher.compile = compile_declared
        dispatcher.declared_signature = signature
        return dispatcher

    return wrap
