# Types for the compiled cffi module built by build_ffi.py from csrc/tuntap.h.

from typing import Protocol

import cffi

_Buffer = bytes | cffi.FFI.CData

class TTBatch(Protocol):
    """``struct tt_batch *`` (csrc/tuntap.h)."""

    buf: cffi.FFI.CData
    buf_len: int
    slot_size: int
    results: cffi.FFI.CData
    capacity: int
    count: int
    bad: int
    kind: int
    drained: int

class TTWriteStatus(Protocol):
    """``struct tt_write_status *`` (csrc/tuntap.h)."""

    next: int
    written: int
    error: int
    partial: int
    refused: int

class _Lib:
    TT_KIND_TUN: int
    TT_KIND_TAP: int
    TT_PKT_OK: int
    TT_PKT_SHORT_READ: int
    TT_PKT_TRUNCATED: int
    TT_PKT_NOT_IP: int
    TT_IFNAME_MAX: int
    TT_PACK_PROTO_SHIFT: int
    TT_PACK_VERDICT_SHIFT: int
    IFF_TUN: int
    IFF_TAP: int
    IFF_NO_PI: int
    IFF_MULTI_QUEUE: int
    IFF_VNET_HDR: int
    def tt_open_clone(self, path: bytes) -> int: ...
    def tt_set_iff(
        self,
        fd: int,
        name: bytes,
        kind: int,
        extra_flags: int,
        name_out: cffi.FFI.CData,
        name_out_len: int,
    ) -> int: ...
    def tt_set_nonblocking(self, fd: int) -> int: ...
    def tt_eventfd(self) -> int: ...
    def tt_wake(self, wakefd: int) -> int: ...
    def tt_close(self, fd: int) -> int: ...
    def tt_wait(self, fd: int, wakefd: int, for_write: int, timeout_ms: int) -> int: ...
    def tt_recv_packet(
        self, fd: int, wakefd: int, buf: cffi.FFI.CData, size: int, kind: int, timeout_ms: int
    ) -> int: ...
    def tt_send(self, fd: int, wakefd: int, buf: _Buffer, size: int, timeout_ms: int) -> int: ...
    def tt_classify(self, buf: _Buffer, size: int, kind: int) -> int: ...
    # batch.c
    TT_BATCH_MAX_CAPACITY: int
    TT_BATCH_MAX_SLOT: int
    TT_ETH_HEADER_LEN: int
    def tt_read_batch(self, fd: int, wakefd: int, batch: TTBatch, timeout_ms: int) -> int: ...
    def tt_write_batch(
        self,
        fd: int,
        wakefd: int,
        bufs: cffi.FFI.CData,
        lens: cffi.FFI.CData,
        start: int,
        count: int,
        kind: int,
        write_limit: int,
        timeout_ms: int,
        status: TTWriteStatus,
    ) -> int: ...
    def tt_write_slots(
        self,
        fd: int,
        wakefd: int,
        batch: TTBatch,
        start: int,
        write_limit: int,
        timeout_ms: int,
        status: TTWriteStatus,
    ) -> int: ...

ffi: cffi.FFI
lib: _Lib
