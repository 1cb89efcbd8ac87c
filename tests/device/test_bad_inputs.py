"""Every public entry point against the bad inputs of its kind: the exception
type and its message, and nothing left behind (no fd, no device).

One table, so a new entry point gets its row here; the per-area test modules
test the same calls in depth.
"""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Callable

import pytest
from helpers.ip import link_names
from helpers.processes import open_fds

import tuntap_cffi as tuntap
from tuntap_cffi import DevKind, Packet, PacketBatch, PcapWriter

pytestmark = pytest.mark.privileged

IPV4 = bytes([0x45, 0, 0, 20]) + bytes(16)


@dataclass
class Devices:
    tun: tuntap.Interface
    tap: tuntap.Interface
    closed: tuntap.Interface
    batch: PacketBatch
    unix: socket.socket  # one end of a socketpair, for the handoff calls


@pytest.fixture
def dev() -> Iterator[Devices]:
    closed = tuntap.open("bad%d", DevKind.TUN)
    closed.close()
    with tuntap.open("bad%d", DevKind.TUN) as tun, tuntap.open("bad%d", DevKind.TAP) as tap:
        # Open the netlink sockets now (they are opened on first use and kept),
        # so they are part of the fds counted before each call.
        assert tun.mtu and tap.mtu
        ours, theirs = socket.socketpair()
        with ours, theirs:
            yield Devices(tun, tap, closed, PacketBatch(capacity=4), ours)


Call = Callable[[Devices], Any]
ROWS: list[tuple[str, Call, type[BaseException], str]] = [
    # open
    ("open: name not a str", lambda d: tuntap.open(b"tun0"), TypeError, "must be a str"),
    ("open: empty name", lambda d: tuntap.open(""), ValueError, "empty"),
    ("open: name too long", lambda d: tuntap.open("x" * 16), ValueError, "longer than 15"),
    ("open: slash", lambda d: tuntap.open("a/b"), ValueError, "contains '/'"),
    ("open: whitespace", lambda d: tuntap.open("a b"), ValueError, "whitespace"),
    ("open: NUL", lambda d: tuntap.open("a\0b"), ValueError, "printable ASCII"),
    ("open: bad pattern", lambda d: tuntap.open("t%s"), ValueError, "single %d"),
    ("open: two patterns", lambda d: tuntap.open("t%d%d"), ValueError, "single %d"),
    ("open: bad kind", lambda d: tuntap.open("t%d", 2), ValueError, "kind must be"),
    ("open: kind a str", lambda d: tuntap.open("t%d", "tun"), ValueError, "kind must be"),
    (
        "open: other kind",
        lambda d: tuntap.open(d.tun.name, DevKind.TAP),
        tuntap.DeviceMismatchError,
        "not a TAP",
    ),
    ("open: device held", lambda d: tuntap.open(d.tun.name), tuntap.DeviceBusyError, "already"),
    # read_packet
    ("read_packet: empty buffer", lambda d: d.tun.read_packet(bytearray()), ValueError, "empty"),
    (
        "read_packet: read-only buffer",
        lambda d: d.tun.read_packet(b"x" * 64),
        TypeError,
        "writable",
    ),
    (
        "read_packet: str buffer",
        lambda d: d.tun.read_packet("x"),
        TypeError,
        "read_packet takes a bytes-like",
    ),
    (
        "read_packet: negative timeout",
        lambda d: d.tun.read_packet(timeout=-1),
        ValueError,
        "timeout",
    ),
    (
        "read_packet: NaN timeout",
        lambda d: d.tun.read_packet(timeout=float("nan")),
        ValueError,
        "timeout",
    ),
    ("read_packet: str timeout", lambda d: d.tun.read_packet(timeout="1"), TypeError, "timeout"),
    (
        "read_packet: nothing came",
        lambda d: d.tun.read_packet(timeout=0),
        TimeoutError,
        "timed out",
    ),
    (
        "read_packet: closed",
        lambda d: d.closed.read_packet(),
        tuntap.InterfaceClosedError,
        "closed interface",
    ),
    # write_packet
    ("write_packet: str", lambda d: d.tun.write_packet("x"), TypeError, "write_packet takes"),
    ("write_packet: None", lambda d: d.tun.write_packet(None), TypeError, "write_packet takes"),
    ("write_packet: list", lambda d: d.tun.write_packet([0x45]), TypeError, "write_packet takes"),
    ("write_packet: empty", lambda d: d.tun.write_packet(b""), tuntap.NotIPPacketError, "not IPv4"),
    (
        "write_packet: not IP",
        lambda d: d.tun.write_packet(b"\x12" * 30),
        tuntap.NotIPPacketError,
        "not IPv4",
    ),
    (
        "write_packet: jumbo",
        lambda d: d.tun.write_packet(b"\x45" + bytes(70000)),
        tuntap.JumboPacketError,
        "jumbo packet too large",
    ),
    (
        "write_packet: short frame",
        lambda d: d.tap.write_packet(b"\xff" * 13),
        tuntap.TruncatedPacketError,
        "Ethernet frame is truncated",
    ),
    (
        "write_packet: closed",
        lambda d: d.closed.write_packet(IPV4),
        tuntap.InterfaceClosedError,
        "closed interface",
    ),
    # batches
    ("PacketBatch: capacity 0", lambda d: PacketBatch(0), ValueError, "capacity"),
    ("PacketBatch: capacity huge", lambda d: PacketBatch(10**9), ValueError, "capacity"),
    ("PacketBatch: capacity str", lambda d: PacketBatch("4"), TypeError, "capacity"),
    ("PacketBatch: slot too small", lambda d: PacketBatch(4, 1), ValueError, "slot_size"),
    ("PacketBatch: slot too big", lambda d: PacketBatch(4, 10**9), ValueError, "slot_size"),
    ("PacketBatch: index", lambda d: d.batch[4], IndexError, "out of range"),
    ("PacketBatch: packet index", lambda d: d.batch.packet(-9), IndexError, "out of range"),
    ("read_batch: not a batch", lambda d: d.tun.read_batch([]), TypeError, "takes a PacketBatch"),
    (
        "read_batch: closed",
        lambda d: d.closed.read_batch(d.batch),
        tuntap.InterfaceClosedError,
        "closed",
    ),
    ("read_packets: 0", lambda d: d.tun.read_packets(0), ValueError, "max_packets"),
    (
        "write_batch: str items",
        lambda d: d.tun.write_batch(["x"]),
        TypeError,
        r"not str \(item 0\)",
    ),
    ("write_batch: not iterable", lambda d: d.tun.write_batch(5), TypeError, "iterable of packets"),
    (
        "write_batch: closed",
        lambda d: d.closed.write_batch([IPV4]),
        tuntap.InterfaceClosedError,
        "closed",
    ),
    # configuration
    (
        "add_address: garbage",
        lambda d: d.tun.add_address("not an address"),
        ValueError,
        "bad address",
    ),
    (
        "add_address: prefix 33",
        lambda d: d.tun.add_address("192.0.2.1/33"),
        ValueError,
        "bad address",
    ),
    (
        "add_address: bad mask",
        lambda d: d.tun.add_address("192.0.2.1", "255.0.255.0"),
        ValueError,
        "not contiguous",
    ),
    ("add_address: int", lambda d: d.tun.add_address(42), TypeError, "must be a str"),
    (
        "add_address: nodad not bool",
        lambda d: d.tun.add_address("192.0.2.1/24", nodad=1),
        TypeError,
        "nodad",
    ),
    ("del_address: absent", lambda d: d.tun.del_address("192.0.2.77/24"), OSError, "del_address"),
    (
        "add_address: peer of IPv6",
        lambda d: d.tun.add_address("192.0.2.1/32", peer="2001:db8::2"),
        ValueError,
        "is IPv6",
    ),
    (
        "add_address: peer an int",
        lambda d: d.tun.add_address("192.0.2.1/32", peer=7),
        TypeError,
        "peer must be",
    ),
    (
        "add_route: host bits",
        lambda d: d.tun.add_route("198.51.100.1/24"),
        ValueError,
        "host bits set",
    ),
    (
        "add_route: IPv4 gateway, IPv6 route",
        lambda d: d.tun.add_route("2001:db8:1::/48", via="192.0.2.2"),
        ValueError,
        "is IPv4",
    ),
    (
        "add_route: gateway not an address",
        lambda d: d.tun.add_route("198.51.100.0/24", via="x"),
        ValueError,
        "not an IP address",
    ),
    (
        "add_route: metric 2**32",
        lambda d: d.tun.add_route("198.51.100.0/24", metric=2**32),
        ValueError,
        "metric",
    ),
    (
        "add_route: table 0",
        lambda d: d.tun.add_route("198.51.100.0/24", table=0),
        ValueError,
        "table 0",
    ),
    (
        "add_route: destination an int",
        lambda d: d.tun.add_route(42),
        TypeError,
        "destination must be",
    ),
    (
        "del_route: absent",
        lambda d: d.tun.del_route("198.51.100.0/24"),
        ProcessLookupError,
        "no such route",
    ),
    (
        "routes: closed",
        lambda d: d.closed.routes(),
        tuntap.InterfaceClosedError,
        "closed interface",
    ),
    ("stats: closed", lambda d: d.closed.stats, tuntap.InterfaceClosedError, "closed interface"),
    (
        "set_ipv4_forwarding: not bool",
        lambda d: d.tun.set_ipv4_forwarding(1),
        TypeError,
        "True or False",
    ),
    ("set_mtu: 67", lambda d: d.tun.set_mtu(67), ValueError, "MTU 67"),
    ("set_mtu: 65536", lambda d: d.tun.set_mtu(65536), ValueError, "MTU 65536"),
    ("set_mtu: str", lambda d: d.tun.set_mtu("1500"), TypeError, "mtu"),
    ("set_mtu: bool", lambda d: d.tun.set_mtu(True), TypeError, "mtu"),
    ("set_txqueuelen: negative", lambda d: d.tun.set_txqueuelen(-1), ValueError, "outside"),
    ("set_hwaddr: on a TUN", lambda d: d.tun.set_hwaddr("02:00:00:00:00:01"), ValueError, "TAP"),
    ("set_hwaddr: bad MAC", lambda d: d.tap.set_hwaddr("02:00:00:00:00"), ValueError, "bad MAC"),
    (
        "set_hwaddr: multicast MAC",
        lambda d: d.tap.set_hwaddr("01:00:00:00:00:01"),
        ValueError,
        "multicast",
    ),
    ("set_ipv6: not bool", lambda d: d.tun.set_ipv6("yes"), TypeError, "True or False"),
    ("config on closed: mtu", lambda d: d.closed.mtu, tuntap.InterfaceClosedError, "closed"),
    ("config on closed: up", lambda d: d.closed.up(), tuntap.InterfaceClosedError, "closed"),
    (
        "config on closed: add_address",
        lambda d: d.closed.add_address("192.0.2.1/24"),
        tuntap.InterfaceClosedError,
        "closed",
    ),
    # packets
    ("parse_packet: str", lambda d: tuntap.parse_packet("x"), TypeError, "parse_packet takes"),
    (
        "parse_packet: empty",
        lambda d: tuntap.parse_packet(b""),
        tuntap.ShortReadError,
        "truncated /dev/tun read",
    ),
    ("parse_packet: bad kind", lambda d: tuntap.parse_packet(IPV4, 9), ValueError, "kind"),
    # handing a device to another process
    ("from_fd: not an int", lambda d: tuntap.from_fd("3"), TypeError, "must be an int"),
    ("from_fd: negative", lambda d: tuntap.from_fd(-2), ValueError, ">= 0"),
    ("from_fd: a socket", lambda d: tuntap.from_fd(d.unix.fileno()), OSError, "is socket:"),
    (
        "send_interface: not an Interface",
        lambda d: tuntap.send_interface(d.unix, d.batch),
        TypeError,
        "not PacketBatch",
    ),
    (
        "send_interface: closed",
        lambda d: tuntap.send_interface(d.unix, d.closed),
        tuntap.InterfaceClosedError,
        "closed",
    ),
    ("receive_interface: not a socket", lambda d: tuntap.receive_interface(0), TypeError, "int"),
    (
        "receive_interface: bad timeout",
        lambda d: tuntap.receive_interface(d.unix, timeout=-1),
        ValueError,
        ">= 0",
    ),
    # capture and asyncio
    ("PcapWriter: bad target", lambda d: PcapWriter(3.5, DevKind.TUN), TypeError, "path"),
    (
        "PcapWriter: bad snaplen",
        lambda d: PcapWriter(io.BytesIO(), DevKind.TUN, snaplen=0),
        ValueError,
        "snaplen",
    ),
    (
        "PcapWriter.write: str",
        lambda d: PcapWriter(io.BytesIO(), DevKind.TUN).write("x"),
        TypeError,
        "Packet or bytes",
    ),
    (
        "AsyncInterface.open: bad name",
        lambda d: tuntap.AsyncInterface.open("x" * 40),
        ValueError,
        "longer",
    ),
]


@pytest.mark.parametrize("name,call,exc,match", ROWS, ids=[row[0] for row in ROWS])
def test_bad_input(
    dev: Devices, name: str, call: Call, exc: type[BaseException], match: str
) -> None:
    fds = open_fds()
    links = sorted(link_names())
    with pytest.raises(exc, match=match):
        call(dev)
    assert open_fds() == fds, f"{name}: an fd was left open"
    assert sorted(link_names()) == links, f"{name}: a device was left behind"


def test_the_packet_value_takes_anything_and_its_helpers_never_raise() -> None:
    for body in (b"", b"\x45", bytes(100)):
        packet = Packet(body, 0x0800)
        assert packet.sip is None or packet.sip is not None
        packet.ip_proto()
        packet.icmp_type()
        str(packet)
