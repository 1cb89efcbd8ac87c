"""Memory that ends right before an inaccessible page: a C read or write past a
buffer placed there crashes the test run instead of passing unnoticed."""

from __future__ import annotations

import mmap
from typing import Any

import cffi

from tuntap_cffi._native import ffi

PAGE = mmap.PAGESIZE


class Guarded:
    """Two buffers that each end right before a PROT_NONE page."""

    def __init__(self) -> None:
        abi = cffi.FFI()
        abi.cdef("int mprotect(void *addr, size_t len, int prot);")
        libc = abi.dlopen(None)
        self.region = mmap.mmap(-1, 4 * PAGE)
        self.base = ffi.from_buffer(self.region, require_writable=True)
        start = int(ffi.cast("uintptr_t", self.base))
        assert start % PAGE == 0
        for page in (1, 3):
            assert libc.mprotect(abi.cast("void *", start + page * PAGE), PAGE, 0) == 0

    def data(self, raw: bytes) -> Any:
        """``raw`` copied to end exactly at the first guard page."""
        assert len(raw) <= PAGE
        offset = PAGE - len(raw)
        self.region[offset:PAGE] = raw
        return self.base + offset

    def addrs(self, count: int) -> Any:
        """Room for ``count`` struct tt_addr ending exactly at the second guard page."""
        size = ffi.sizeof("struct tt_addr") * count
        return ffi.cast("struct tt_addr *", self.base + 3 * PAGE - size)


GUARD = Guarded()
