"""Bindings of ``csrc/cdef/events.h``: the link and address notifications of one
device (csrc/events.c)."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, NamedTuple, cast

from .._native import ffi, lib
from .common import StructPtr

if TYPE_CHECKING:
    from .._native import TTEvents
    from .common import CData

IFF_LOWER_UP = lib.IFF_LOWER_UP
EVENT_LINK = lib.TT_EVENT_LINK
EVENT_LINK_GONE = lib.TT_EVENT_LINK_GONE
EVENT_ADDR_NEW = lib.TT_EVENT_ADDR_NEW
EVENT_ADDR_DEL = lib.TT_EVENT_ADDR_DEL
EVENTS_BUF_SIZE = lib.TT_EVENTS_BUF_SIZE
EVENTS_MIN_MESSAGE = lib.TT_EVENTS_MIN_MESSAGE


class EventRecord(NamedTuple):
    """One message about the device, as ``struct tt_event`` holds it."""

    kind: int  # EVENT_*
    ifindex: int
    flags: int  # IFF_* for a link record, IFA_F_* for an address record
    mtu: int  # link records; 0 when the message had none
    family: int  # address records: AF_INET or AF_INET6
    prefixlen: int
    scope: int
    address: bytes  # 4 or 16 bytes (address records), else empty
    name: str  # link records; "" when the message had none


class EventSocket:
    """A ``struct tt_events`` with its receive buffer and record array, allocated once.

    The record array has room for every record a full buffer can make, so
    ``recv`` never leaves one out.
    """

    def __init__(self, ifindex: int, wakefd: int, buf_size: int = EVENTS_BUF_SIZE) -> None:
        self.c = cast("TTEvents", ffi.new("struct tt_events *"))
        self.c.fd = -1
        self.c.wakefd = wakefd
        self.c.ifindex = ifindex
        self._buf: CData = ffi.new("uint8_t[]", buf_size)
        self._room = buf_size // EVENTS_MIN_MESSAGE
        self._records: CData = ffi.new("struct tt_event[]", self._room)

    @property
    def fd(self) -> int:
        """The socket's fd (-1 while closed)."""
        return int(self.c.fd)

    def open(self) -> int:
        """Open and subscribe the socket in the caller's namespace; 0 or -errno."""
        return lib.tt_events_open(self.c)

    def adopt(self, nl: CData) -> int:
        """Take the open socket of a ``struct tt_nl`` (made in another namespace); 0 or -errno."""
        return lib.tt_events_adopt(self.c, nl)

    def recv(self, timeout_ms: int) -> int:
        """Read one datagram: the number of records made, or -errno (see events.h)."""
        return lib.tt_events_recv(
            self.c, self._buf, len(self._buf), self._records, self._room, timeout_ms
        )

    def records(self, count: int) -> list[EventRecord]:
        """The first ``count`` records of the last :meth:`recv`."""
        return [record_of(self._records[i]) for i in range(count)]

    def close(self) -> int:
        """Close the socket (harmless when closed); 0 or -errno."""
        return lib.tt_events_close(self.c)


def record_of(record: StructPtr) -> EventRecord:
    """A ``struct tt_event`` as Python values."""
    size = 0
    if record.kind in (EVENT_ADDR_NEW, EVENT_ADDR_DEL):
        size = 4 if record.family == socket.AF_INET else 16
    name = ffi.string(record.name)
    assert isinstance(name, bytes)
    return EventRecord(
        record.kind,
        record.ifindex,
        record.flags,
        record.mtu,
        record.family,
        record.prefixlen,
        record.scope,
        bytes(ffi.buffer(record.addr))[:size],
        name.decode("ascii", "replace"),
    )


def events_parse(data: bytes, ifindex: int, room: int) -> tuple[int, list[EventRecord]]:
    """The event parser on raw bytes: (count or -errno, the records)."""
    records = ffi.new("struct tt_event[]", max(room, 1))
    result = lib.tt_events_parse(data, len(data), ifindex, records, room)
    return result, [record_of(records[i]) for i in range(max(result, 0))]
