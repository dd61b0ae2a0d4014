"""Each kernel's arguments, declared once: its explicit Numba signature, read with its parameter names.

A kernel is declared with one signature (`@kernel(types.void(...))`, kernels/_jit.py), and its Python
definition names each argument; together they are the kernel's argument schema, and the C twin takes the
same names in the same order. Everything that builds or decodes a call reads the schema from here instead of restating it:

    bind(kernel, input_zp=..., output=..., ...)   the positional argument tuple, from names; a missing or
                                                  unknown name raises TypeError
    parameters(kernel)                            [Parameter(name, kind)], kind a numpy dtype for a 1-D
                                                  array, or "int32" / "int64" / "float32" / "bool" for a scalar

The runtime's step programs (runtime/step_program.py) encode and decode rows from the same schema.
"""

from __future__ import annotations

import functools
import inspect
from typing import NamedTuple

import numpy as np
from numba import types


class Parameter(NamedTuple):
    name: str
    kind: object  # np.dtype for an array argument; "int32", "int64", "float32" or "bool" for a scalar

    @property
    def is_array(self) -> bool:
        return isinstance(self.kind, np.dtype)


def _kind(t):
    if isinstance(t, types.Array):
        if t.ndim != 1:
            raise TypeError(f"argument type {t}: kernels take flat (1-D) arrays")
        return np.dtype(str(t.dtype))
    if isinstance(t, types.Boolean):
        return "bool"
    if isinstance(t, types.Integer) and t.bitwidth in (32, 64) and t.signed:
        return f"int{t.bitwidth}"
    if t == types.float32:
        return "float32"
    raise TypeError(f"argument type {t} has no schema kind")


@functools.cache
def parameters(kernel) -> tuple[Parameter, ...]:
    """The kernel's arguments in order: names from its definition, kinds from its one declared signature
    (kernels._jit.kernel), read without compiling it."""
    sig = getattr(kernel, "declared_signature", None)
    if sig is None:
        raise TypeError(f"{kernel.__name__}: not a @kernel with one declared signature (kernels._jit)")
    sig = sig.args
    names = list(inspect.signature(kernel.py_func).parameters)
    if len(names) != len(sig):
        raise TypeError(f"{kernel.__name__}: {len(names)} parameters, {len(sig)} types in its signature")
    return tuple(Parameter(n, _kind(t)) for n, t in zip(names, sig))


def bind(kernel, **named) -> tuple:
    """The kernel's positional arguments from their names (every name given once, none unknown)."""
    params = parameters(kernel)
    want = [p.name for p in params]
    missing = [n for n in want if n not in named]
    unknown = sorted(set(named) - set(want))
    if missing or unknown:
        raise TypeError(f"{kernel.__name__}: missing {missing}, unknown {unknown}")
    return tuple(named[n] for n in want)
