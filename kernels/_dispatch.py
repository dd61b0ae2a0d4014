"""One argument list, two runtimes.

A public wrapper validates its input, builds the kernel's argument tuple once
and passes it here. The Numba kernel and its C twin receive the same
arguments in the same order, and the C function is looked up by the Numba
kernel's own name (behind the C prefix, mf_), so the twins cannot drift apart.
"""

from __future__ import annotations

BACKENDS = ("numba", "c")
# Every global C symbol of the kernels and the runtime carries this prefix (firmware links microflat beside
# CMSIS-NN or TFLite Micro); a kernel's C twin is its Numba name behind it.
C_PREFIX = "mf_"


def c_name(kernel) -> str:
    """The C twin's name of a jitted kernel."""
    return C_PREFIX + kernel.py_func.__name__


def check_backend(fn: str, backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"{fn}: backend must be one of {BACKENDS}, got {backend!r}")
    return backend


def run_kernel(backend: str, kernel, *args) -> None:
    """Run ``kernel`` (an njit dispatcher) or the C function of the same name."""
    if backend == "numba":
        kernel(*args)
    elif backend == "c":
        from . import native

        native.call(c_name(kernel), *args)
    else:
        raise ValueError(f"{kernel.py_func.__name__}: backend must be one of {BACKENDS}, got {backend!r}")
