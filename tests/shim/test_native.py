"""Smoke tests of the compiled module: it is the built one, and answers."""

from __future__ import annotations

import importlib.util
import pathlib
import re
import types

import tuntap_cffi
from tuntap_cffi._native import ffi, lib


def test_package_is_the_installed_build() -> None:
    # The source tree has no compiled _native: importing it proves we test the build.
    native = pathlib.Path(tuntap_cffi._native.__file__)  # type: ignore[attr-defined]
    assert native.suffix == ".so"


def test_constants_come_from_the_kernel_headers() -> None:
    assert lib.IFF_TUN == 0x0001
    assert lib.IFF_TAP == 0x0002
    assert lib.IFF_NO_PI == 0x1000
    assert lib.TT_KIND_TUN == tuntap_cffi.DevKind.TUN == 0
    assert lib.TT_KIND_TAP == tuntap_cffi.DevKind.TAP == 1


def test_one_call() -> None:
    packed = lib.tt_classify(b"\x60" + bytes(39), 40, lib.TT_KIND_TUN)
    assert packed >> lib.TT_PACK_VERDICT_SHIFT == lib.TT_PKT_OK
    assert (packed >> lib.TT_PACK_PROTO_SHIFT) & 0xFFFF == 0x86DD
    assert isinstance(ffi.sizeof("int64_t"), int)


TOOLS = pathlib.Path(__file__).resolve().parents[2] / "tools"


def _generator() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("gen_native_pyi", TOOLS / "gen_native_pyi.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_stub_is_the_one_generated_from_the_cdef() -> None:
    generator = _generator()
    expected = generator.render(*generator.load_cdef())
    assert generator.STUB.read_text() == expected, "run tools/gen_native_pyi.py"


def test_the_stub_types_every_name_of_the_compiled_module() -> None:
    stub = _generator().STUB.read_text()
    typed = set(re.findall(r"^    (?:def )?(\w+)[(:]", stub, re.M))
    assert set(dir(lib)) <= typed
