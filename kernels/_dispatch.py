"""One call by name, two runtimes.

A public wrapper validates its input and passes the kernel's arguments here
by name; kernel_args.bind orders them by the kernel's signature (a missing or
unknown name is a TypeError), so two arguments of one type cannot be swapped
unnoticed. The Numba kernel and its C twin receive the same positional
arguments, and the C function is looked up by the Numba kernel's own name
(behind the C prefix, mf_), so the twins cannot drift apart.
"""

from __future__ import annotations

from .kernel_args import bind

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


def run_kernel(backend: str, kernel, **named) -> None:
    """Run ``kernel`` (an njit dispatcher) or the C function of the same name on its arguments by name."""
    args = bind(kernel, **named)
    if backend == "numba":
        kernel(*args)
    elif backend == "c":
        from . import native

        native.call(c_name(kernel), *args)
    else:
        raise ValueError(f"{kernel.py_func.__name__}: backend must be one of {BACKENDS}, got {backend!r}")
