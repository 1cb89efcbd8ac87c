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
    # netlink.c
    IFF_UP: int
    IFA_F_NODAD: int
    IFA_F_TENTATIVE: int
    RTN_LOCAL: int
    TT_NL_EXPECT_ACK: int
    TT_NL_EXPECT_LINK: int
    TT_NL_EXPECT_ADDRS: int
    TT_NL_EXPECT_ROUTE: int
    TT_NL_GOT_LINK: int
    TT_NL_DUMP_INTR: int
    TT_NL_GOT_EXT_ACK: int
    TT_LINK_SET_MTU: int
    TT_LINK_SET_UP: int
    TT_LINK_SET_TXQLEN: int
    TT_LINK_SET_HWADDR: int
    TT_HWADDR_MAX: int
    TT_NL_EXT_ACK_MAX: int
    TT_NL_ADDR_DUMP_TRIES: int
    def tt_nl_open(self, nl: cffi.FFI.CData) -> int: ...
    def tt_nl_close(self, nl: cffi.FFI.CData) -> int: ...
    def tt_nl_link_get(
        self, nl: cffi.FFI.CData, ifindex: int, name: bytes, reply: cffi.FFI.CData
    ) -> int: ...
    def tt_nl_link_set(
        self, nl: cffi.FFI.CData, change: cffi.FFI.CData, reply: cffi.FFI.CData
    ) -> int: ...
    def tt_nl_addr_change(
        self,
        nl: cffi.FFI.CData,
        add: int,
        ifindex: int,
        family: int,
        addr: bytes,
        addr_len: int,
        prefixlen: int,
        flags: int,
        reply: cffi.FFI.CData,
    ) -> int: ...
    def tt_nl_addr_dump(self, nl: cffi.FFI.CData, ifindex: int, reply: cffi.FFI.CData) -> int: ...
    def tt_nl_route_get(
        self, nl: cffi.FFI.CData, family: int, addr: bytes, addr_len: int, reply: cffi.FFI.CData
    ) -> int: ...
    def tt_nl_parse_reply(self, buf: _Buffer, size: int, reply: cffi.FFI.CData) -> int: ...
    def tt_unshare_netns(self) -> int: ...
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
    # offload.c
    TT_VNET_HDR_LEN: int
    TT_GSO_MAX: int
    TT_TUN_F_USO4: int
    TT_TUN_F_USO6: int
    TT_RX_PENDING_SIZE: int
    TUN_F_CSUM: int
    TUN_F_TSO4: int
    TUN_F_TSO6: int
    def tt_set_offload(self, fd: int, wanted: int) -> int: ...
    def tt_segment(
        self,
        buf: _Buffer,
        size: int,
        skip: int,
        out: cffi.FFI.CData,
        slot_size: int,
        nslots: int,
        results: cffi.FFI.CData,
        total: cffi.FFI.CData,
    ) -> int: ...
    def tt_read_batch_vnet(
        self,
        fd: int,
        wakefd: int,
        batch: TTBatch,
        pending: cffi.FFI.CData,
        segment: int,
        timeout_ms: int,
    ) -> int: ...
    def tt_send_vnet(
        self, fd: int, wakefd: int, buf: _Buffer, size: int, timeout_ms: int
    ) -> int: ...
    def tt_write_batch_vnet(
        self,
        fd: int,
        wakefd: int,
        bufs: cffi.FFI.CData,
        lens: cffi.FFI.CData,
        start: int,
        count: int,
        write_limit: int,
        scratch: cffi.FFI.CData,
        scratch_len: int,
        timeout_ms: int,
        status: TTWriteStatus,
    ) -> int: ...
    def tt_write_slots_vnet(
        self,
        fd: int,
        wakefd: int,
        batch: TTBatch,
        start: int,
        raw: int,
        write_limit: int,
        scratch: cffi.FFI.CData,
        scratch_len: int,
        timeout_ms: int,
        status: TTWriteStatus,
    ) -> int: ...
    # devctl.c, netns.c and the link parser's IFLA_LINKINFO (operating devices)
    TT_MAX_QUEUES: int
    TT_ACCESS_READ: int
    TT_ACCESS_WRITE: int
    TT_ACCESS_READ_WRITE: int
    TT_TUN_INFO: int
    TT_TUN_PI: int
    TT_TUN_VNET_HDR: int
    TT_TUN_PERSIST: int
    TT_TUN_MULTI_QUEUE: int
    TT_TUN_HAS_OWNER: int
    TT_TUN_HAS_GROUP: int
    def tt_set_persist(self, fd: int, persist: int) -> int: ...
    def tt_set_owner(self, fd: int, uid: int) -> int: ...
    def tt_set_group(self, fd: int, gid: int) -> int: ...
    def tt_set_queue(self, fd: int, attach: int) -> int: ...
    def tt_netns_check(self, nsfd: int) -> int: ...
    def tt_netns_open(
        self,
        nsfd: int,
        path: bytes | cffi.FFI.CData,
        access: int,
        fds: cffi.FFI.CData,
        count: int,
        nl: cffi.FFI.CData,
        restore_err: cffi.FFI.CData,
    ) -> int: ...
    def tt_netns_create(self, run_dir: bytes, path: bytes, restore_err: cffi.FFI.CData) -> int: ...
    def tt_netns_delete(self, path: bytes) -> int: ...

ffi: cffi.FFI
lib: _Lib
