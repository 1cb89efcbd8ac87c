"""Bindings of ``csrc/cdef/udp.h``: batched UDP on an ordinary socket (csrc/udp.c)."""

from __future__ import annotations

import socket
import struct
from typing import TYPE_CHECKING, NamedTuple, cast

from .._native import ffi, lib

if TYPE_CHECKING:
    from .._native import TTBatch, TTUdpAddr, TTUdpRx
    from .common import CData

UDP_GSO = lib.TT_UDP_GSO
UDP_GRO = lib.TT_UDP_GRO
UDP_MAX_MSGS = lib.TT_UDP_MAX_MSGS
UDP_MSG_MAX = lib.TT_UDP_MSG_MAX
UDP_MAX_PAYLOAD: dict[int, int] = {
    int(socket.AF_INET): lib.TT_UDP4_MAX_PAYLOAD,
    int(socket.AF_INET6): lib.TT_UDP6_MAX_PAYLOAD,
}
ORIGIN_UDP = lib.TT_ORIGIN_UDP

# (fd, wakefd, batch, addrs, rx, timeout_ms) -> slots filled, or -errno;
# (fd, wakefd, packets, start, to, family, flags, timeout_ms, status) ->
# datagrams sent, with where and why it stopped in ``status``.
udp_recv = lib.tt_udp_recv
udp_send = lib.tt_udp_send
# (fd, gro) -> UDP_GSO | UDP_GRO bits of what works, or -errno.
udp_setup = lib.tt_udp_setup

_ADDR = struct.Struct("=HHI16s")  # struct tt_udp_addr


class UdpRx(NamedTuple):
    """A batch's receive state (``struct tt_udp_rx``) and the memory it points at."""

    c: TTUdpRx
    addrs: CData  # struct tt_udp_addr[capacity]: each slot's source
    stage: CData
    msgs: CData
    view: memoryview  # of the stage, where a receive in place leaves the datagrams
    where: CData  # uint32_t[capacity]: the offset in the stage of each slot's datagram


def new_udp_rx(batch: TTBatch, capacity: int) -> UdpRx:
    """The receive state of a batch of ``capacity`` slots, allocated once; receives
    into ``batch`` then leave each datagram in place (``batch.where``)."""
    count = min(capacity, UDP_MAX_MSGS)
    stage = ffi.new("char[]", count * UDP_MSG_MAX)
    msgs = ffi.new("struct tt_udp_msg[]", count)
    rx = cast("TTUdpRx", ffi.new("struct tt_udp_rx *"))
    rx.stage, rx.stage_len = stage, count * UDP_MSG_MAX
    rx.msgs, rx.max_msgs = msgs, count
    rx.fd = -1
    where = ffi.new("uint32_t[]", capacity)
    batch.where = where
    addrs = ffi.new("struct tt_udp_addr[]", capacity)
    return UdpRx(rx, addrs, stage, msgs, memoryview(ffi.buffer(stage)), where)


def slot_address(addrs: CData, index: int) -> tuple[str, int]:
    """(host, port) of slot ``index``; an IPv6 scope shows as ``%scope_id``."""
    family, port, scope, raw = _ADDR.unpack(ffi.buffer(ffi.addressof(addrs, index))[:])
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, raw[:4]), port
    host = socket.inet_ntop(socket.AF_INET6, raw)
    return (f"{host}%{scope}" if scope else host), port


def new_udp_addr(family: int, packed: bytes, port: int, scope_id: int) -> CData:
    """A ``struct tt_udp_addr`` for a send (``packed``: inet_pton's bytes)."""
    addr = cast("TTUdpAddr", ffi.new("struct tt_udp_addr *"))
    addr.family = family
    addr.port = port
    addr.scope_id = scope_id
    ffi.memmove(addr.addr, packed, len(packed))
    return cast("CData", addr)


def new_flags(value: int) -> CData:
    """The in/out flags word of a send."""
    return ffi.new("uint32_t *", value)
