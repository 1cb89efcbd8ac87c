"""Only here because cffi_modules needs setup(); metadata lives in pyproject.toml."""

from setuptools import setup

setup(cffi_modules=["build_ffi.py:ffibuilder"])
