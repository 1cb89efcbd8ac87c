"""Canary for the asan tox env: proves the shim really is instrumented there.

Elsewhere it skips: the normal build has no sanitizer to prove.
"""

from __future__ import annotations

import os
import subprocess
import sys

from helpers.skips import skip_or_fail

SANITIZED = os.environ.get("TUNTAP_SANITIZED") == "1"

LYING_CALLER = """
from tuntap_cffi._native import ffi, lib
buf = ffi.new("char[]", b"\\x60\\x00\\x00")   # 4 bytes, but an IPv6 first nibble
lib.tt_classify(buf, 64, 0)                  # told 64: reads the payload length past the end
"""


def test_an_out_of_bounds_read_in_the_shim_is_caught() -> None:
    if not SANITIZED:
        skip_or_fail("only meaningful in a sanitized build", runs_in="tox -e asan")
    result = subprocess.run(
        [sys.executable, "-c", LYING_CALLER], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "AddressSanitizer: heap-buffer-overflow" in result.stderr
    assert "classify.c" in result.stderr
