"""The link-event parser (``tt_events_parse``) on bytes we make: exact records, no stray reads.

The messages come from the encoder of ``helpers.netlink`` (the kernel's
documented layout), and every parse runs on bytes that end right before an
inaccessible page, with the record array also ending right before one: a
read past the datagram, or a write past the array, crashes the run.
"""

from __future__ import annotations

import errno
import socket
import struct
from typing import Any

import pytest
from helpers.guard import GUARD, PAGE
from helpers.netlink import (
    AF_INET6,
    IFA_ADDRESS,
    IFA_LOCAL,
    IFLA_IFNAME,
    IFLA_MTU,
    INDEX,
    NLMSG_DONE,
    NLMSG_NOOP,
    RTM_NEWADDR,
    RTM_NEWLINK,
    address,
    attr,
    datagrams,
    link,
    message,
)
from hypothesis import HealthCheck, given, settings, strategies as st

from tuntap_cffi import EventKind, _lowlevel
from tuntap_cffi._native import ffi, lib
from tuntap_cffi.link.events import LinkState, link_changes

RTM_DELLINK, RTM_DELADDR = 17, 21
AF_BRIDGE = 7
IFF_UP_RUNNING = 0x41
V4 = socket.inet_aton("192.0.2.9")
V6 = socket.inet_pton(AF_INET6, "2001:db8::9")
RECORD = ffi.sizeof("struct tt_event")


def retyped(raw: bytes, kind: int) -> bytes:
    """The same message with another nlmsg_type (RTM_DELLINK, RTM_DELADDR)."""
    return raw[:4] + struct.pack("=H", kind) + raw[6:]


def parse(raw: bytes, room: int = 8, index: int = INDEX) -> tuple[int, list[Any]]:
    """Parse on guarded memory: (result, the records made)."""
    records = ffi.cast("struct tt_event *", GUARD.base + 3 * PAGE - RECORD * room)
    result: int = lib.tt_events_parse(GUARD.data(raw), len(raw), index, records, room)
    made = [_lowlevel.record_of(records[i]) for i in range(max(result, 0))]
    return result, made


# -- exact behaviour ----------------------------------------------------------------------


def test_a_link_message_is_its_state() -> None:
    result, (record,) = parse(link(flags=IFF_UP_RUNNING, mtu=1400, name=b"tun7"))
    assert result == 1
    assert record.kind == _lowlevel.EVENT_LINK and record.ifindex == INDEX
    assert (record.flags, record.mtu, record.name) == (IFF_UP_RUNNING, 1400, "tun7")
    assert record.address == b""


def test_a_dellink_is_the_device_gone() -> None:
    result, (record,) = parse(retyped(link(), RTM_DELLINK))
    assert result == 1 and record.kind == _lowlevel.EVENT_LINK_GONE


@pytest.mark.parametrize("raw, size", [(V4, 4), (V6, 16)])
def test_address_messages_are_added_and_removed(raw: bytes, size: int) -> None:
    new = address(raw, size * 8 - 8, flags=0x80 | 0x100)
    result, records = parse(new + retyped(new, RTM_DELADDR))
    assert result == 2
    assert [r.kind for r in records] == [_lowlevel.EVENT_ADDR_NEW, _lowlevel.EVENT_ADDR_DEL]
    for record in records:
        assert (record.address, record.prefixlen, record.flags) == (raw, size * 8 - 8, 0x180)
        assert record.family == (socket.AF_INET if size == 4 else AF_INET6)


def test_the_local_address_is_the_devices_own() -> None:
    peer = socket.inet_aton("192.0.2.10")
    _, (record,) = parse(address(peer, 32, local=V4))
    assert record.address == V4


def test_several_messages_in_order() -> None:
    raw = link(mtu=1300) + address(V4, 24) + link(mtu=1301) + retyped(link(), RTM_DELLINK)
    result, records = parse(raw)
    assert result == 4
    assert [r.mtu for r in records] == [1300, 0, 1301, 1500]


def test_other_devices_are_skipped_unparsed() -> None:
    # Another device's message is skipped on its header alone, even when its
    # attributes are malformed: its errors are not this device's.
    broken = attr(IFLA_MTU, b"\1\2")
    raw = link(index=INDEX + 1, extra=broken) + address(V4, 24, index=INDEX + 1)
    raw += retyped(link(index=INDEX + 1), RTM_DELLINK)
    assert parse(raw) == (0, [])
    assert parse(link(extra=broken))[0] == -errno.EBADMSG


def test_bridge_port_messages_are_not_the_device() -> None:
    bridge = bytearray(link())
    bridge[16] = AF_BRIDGE  # ifi_family
    assert parse(bytes(bridge) + retyped(bytes(bridge), RTM_DELLINK)) == (0, [])


def test_other_messages_are_skipped() -> None:
    raw = message(NLMSG_NOOP, b"") + message(NLMSG_DONE, b"\0\0\0\0") + message(24, bytes(12))
    assert parse(raw) == (0, [])
    assert parse(b"") == (0, [])


def test_addresses_of_other_families_are_skipped() -> None:
    payload = struct.pack("=BBBBI", 17, 0, 0, 0, INDEX) + attr(IFA_ADDRESS, bytes(6))
    assert parse(message(RTM_NEWADDR, payload)) == (0, [])


def test_more_records_than_room_is_refused() -> None:
    raw = link() * 3
    assert parse(raw, room=3)[0] == 3
    assert parse(raw, room=2)[0] == -errno.ENOSPC
    assert parse(link(index=INDEX + 1) * 3, room=0) == (0, [])


MALFORMED = {
    "short header": link()[:15],
    "length past the end": link()[:-4],
    "length below a header": struct.pack("=IHHII", 15, RTM_NEWLINK, 0, 0, 0),
    "short ifinfomsg": message(RTM_NEWLINK, bytes(15)),
    "short ifaddrmsg": message(RTM_NEWADDR, bytes(7)),
    "mtu of 2 bytes": link(extra=attr(IFLA_MTU, b"\1\2")),
    "attribute past the end": message(
        RTM_NEWLINK, struct.pack("=BxHiII", 0, 1, INDEX, 0, 0) + struct.pack("=HH", 40, IFLA_MTU)
    ),
    "attribute below its header": message(
        RTM_NEWLINK, struct.pack("=BxHiII", 0, 1, INDEX, 0, 0) + struct.pack("=HH", 3, IFLA_MTU)
    ),
    "stray bytes after attributes": message(
        RTM_NEWLINK, struct.pack("=BxHiII", 0, 1, INDEX, 0, 0) + b"\1\0"
    ),
    "name of 16 letters": link(name=b"sixteen-letters!"),
    "unterminated long name": link(extra=attr(IFLA_IFNAME, b"x" * 20)),
    "address of 3 bytes": address(V4[:3], 24),
    "prefix past 32": address(V4, 33),
    "local of another family": address(V4, 24, local=V6),
    "no address at all": message(RTM_NEWADDR, struct.pack("=BBBBI", 2, 24, 0, 0, INDEX)),
    "local of 5 bytes": message(
        RTM_NEWADDR, struct.pack("=BBBBI", 2, 24, 0, 0, INDEX) + attr(IFA_LOCAL, bytes(5))
    ),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_datagrams_are_errors(name: str) -> None:
    assert parse(MALFORMED[name]) == (-errno.EBADMSG, [])
    # ... even after a good message: the datagram is refused whole.
    assert parse(link() + MALFORMED[name])[0] == -errno.EBADMSG


def test_bad_arguments_are_refused_in_c() -> None:
    records = ffi.new("struct tt_event[]", 1)
    assert lib.tt_events_parse(ffi.NULL, 4, INDEX, records, 1) == -errno.EINVAL
    assert lib.tt_events_parse(b"", 0, INDEX, ffi.NULL, 1) == -errno.EINVAL
    assert lib.tt_events_parse(b"", 0, 0, records, 1) == -errno.EINVAL
    assert lib.tt_events_parse(b"", 0, -1, records, 1) == -errno.EINVAL


def test_bad_arguments_of_the_socket_calls() -> None:
    sock = _lowlevel.EventSocket(INDEX, -1)
    assert sock.recv(0) == -errno.EINVAL  # not open
    assert sock.close() == 0  # closing a closed one is harmless
    assert lib.tt_events_open(ffi.NULL) == -errno.EINVAL
    assert lib.tt_events_adopt(sock.c, _lowlevel.nl_new()) == -errno.EINVAL  # nl not open
    assert sock.open() == 0
    try:
        assert sock.open() == -errno.EINVAL  # open already
        buf = ffi.new("uint8_t[]", 4096)
        records = ffi.new("struct tt_event[]", 4096 // 32)
        assert lib.tt_events_recv(sock.c, buf, 4096, records, 4096 // 32 - 1, 0) == -errno.EINVAL
        assert lib.tt_events_recv(sock.c, buf, 4096, records, 4096 // 32, 0) == -errno.EAGAIN
        sock.c.ifindex = 0
        assert lib.tt_events_recv(sock.c, buf, 4096, records, 4096 // 32, 0) == -errno.EINVAL
    finally:
        assert sock.close() == 0


# -- properties ----------------------------------------------------------------------------


def check_records(result: int, records: list[Any], room: int) -> None:
    assert -4095 <= result <= room
    for record in records:
        assert record.ifindex == INDEX
        assert record.kind in (
            _lowlevel.EVENT_LINK,
            _lowlevel.EVENT_LINK_GONE,
            _lowlevel.EVENT_ADDR_NEW,
            _lowlevel.EVENT_ADDR_DEL,
        )
        if record.kind in (_lowlevel.EVENT_ADDR_NEW, _lowlevel.EVENT_ADDR_DEL):
            assert record.prefixlen <= len(record.address) * 8
        assert len(record.name) < 16


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512), st.integers(0, 4))
def test_arbitrary_bytes_never_misbehave(raw: bytes, room: int) -> None:
    check_records(*parse(raw, room), room)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datagrams(), st.integers(0, 8))
def test_mutated_datagrams_never_misbehave(raw: bytes, room: int) -> None:
    check_records(*parse(raw, room), room)


# -- what a link message changes ----------------------------------------------------------


def test_link_changes_come_in_the_documented_order() -> None:
    up = _lowlevel.IFF_UP | _lowlevel.IFF_LOWER_UP
    before, after = LinkState(0, 1500, "tun0"), LinkState(up, 1400, "vpn0")
    assert link_changes(before, after) == [
        EventKind.UP,
        EventKind.CARRIER_UP,
        EventKind.MTU,
        EventKind.RENAMED,
    ]
    assert link_changes(after, before) == [
        EventKind.DOWN,
        EventKind.CARRIER_DOWN,
        EventKind.MTU,
        EventKind.RENAMED,
    ]
    running = 0x40  # IFF_RUNNING alone is no carrier change: it follows IFF_LOWER_UP
    assert link_changes(after, after._replace(flags=up | running)) == []
