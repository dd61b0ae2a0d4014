"""The x86 CPUs other than this host that the Numba runtime is checked and timed for.

Numba compiles for NUMBA_CPU_NAME with the features in NUMBA_CPU_FEATURES (the name alone keeps the host's
features, AVX-512 included), so a process started with Haswell's name and feature list compiles what an
AVX2 laptop would, and runs it here. Each target gets its own NUMBA_CACHE_DIR: code compiled for one CPU
is never loaded for another. tests/test_cpu_targets.py and benchmarks/target_speed.py use these.
"""

import os

# LLVM's feature list of each CPU, and the vector path (kernels.vector_ir.TARGET) it must select.
TARGETS = {
    "haswell": ("+avx,+avx2,+bmi,+bmi2,+cmov,+cx16,+f16c,+fma,+fsgsbase,+fxsr,+invpcid,+lzcnt,+mmx,+movbe,+pclmul,"
                "+popcnt,+rdrnd,+sahf,+sse,+sse2,+sse3,+sse4.1,+sse4.2,+ssse3,+x87,+xsave,+xsaveopt", "avx2"),
}


def environment(target: str | None, cache: str) -> dict:
    """os.environ for a process compiling for `target` (None: this host), one thread, its own Numba cache."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1")
    env.pop("NUMBA_CPU_NAME", None)
    env.pop("NUMBA_CPU_FEATURES", None)
    if target is not None:
        env["NUMBA_CPU_NAME"], env["NUMBA_CPU_FEATURES"] = target, TARGETS[target][0]
    return env
