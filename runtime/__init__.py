"""microflat's runtime: load -> verify -> plan -> execute, and the `microflat` CLI.

Depends only on numpy, numba and cffi, so it installs on an ARM board without torch.
"""
