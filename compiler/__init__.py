"""microflat's compiler: PyTorch -> IR -> passes -> quantize -> serialize.

Empty for now: capture and lowering arrive with the compiler issue. Installing
this package requires the `compiler` extra (torch==2.13.0).
"""
