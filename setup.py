"""Only here because cffi_modules needs setup(); metadata lives in pyproject.toml.

On CPython the module uses the stable ABI (cffi's py_limited_api), so one
abi3 wheel built on 3.9 serves every later CPython; PyPy gets its own wheel.
"""

import platform

from setuptools import setup

# Always recompile: an in-tree build/ left by a sanitizer build (tox -e asan
# sets TUNTAP_EXTRA_CFLAGS) must never be reused by a plain one.
options = {"build_ext": {"force": True}}
if platform.python_implementation() == "CPython":
    options["bdist_wheel"] = {"py_limited_api": "cp39"}

setup(cffi_modules=["build_ffi.py:ffibuilder"], options=options)
