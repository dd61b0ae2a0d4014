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
"""

from __future__ import annotations

from numba import njit


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
