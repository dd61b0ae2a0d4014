"""Everything but the C extension is declared in pyproject.toml.

cffi's setuptools hook builds kernels/*.c into microflat.kernels._native.
"""

from setuptools import setup

setup(cffi_modules=["kernels/_build_native.py:ffibuilder"])
