"""Offloads: virtio-net headers, segmentation in C, coalescing in C.

The segmenter is checked on bytes through its test entry point
(``_lowlevel.segment``) against an independent parser (dpkt), with
hypothesis for both well-formed and hostile input; the device paths run
through the kernel, and the relays between two namespaces of their own
(``ip netns add``, unique names, deleted afterwards) carry 50 MB of TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import dpkt
import pytest
from helpers.ip import disable_ipv6, ip, netns
from helpers.packets import (
    DST4,
    DST6,
    GSO_NONE,
    GSO_TCPV4,
    GSO_TCPV6,
    GSO_UDP,
    GSO_UDP_L4,
    SRC4,
    SRC6,
    check_packet,
    super_packet,
    tcp4,
    vnet_header,
)
from helpers.relay import CLIENT, SERVER, check_transfer, join_namespaces
from helpers.skips import skip_or_fail
from hypothesis import HealthCheck, given, settings, strategies as st

import tuntap_cffi as tuntap
from tuntap_cffi import DevKind, Offload, PacketBatch, _lowlevel
from tuntap_cffi._native import ffi, lib

pytestmark = pytest.mark.privileged

VNET = _lowlevel.VNET_HDR_LEN
NEEDS_CSUM = 1
DOCUMENTED = {-errno.EBADMSG, -errno.EMSGSIZE, -errno.EPROTONOSUPPORT}


# -- virtio-net headers, and the segmenter on bytes (helpers.packets builds and checks) --


def segments(data: bytes, slot_size: int = 2048, nslots: int = 64) -> tuple[int, int, list[bytes]]:
    filled, total, out, results = _lowlevel.segment(data, slot_size, nslots)
    packets = []
    for index in range(max(filled, 0)):
        verdict, _, length = _lowlevel.unpack(results[index])
        assert verdict == _lowlevel.PKT_OK
        packets.append(out[index * slot_size : index * slot_size + length])
    return filled, total, packets


# -- segmentation on bytes ----------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    v6=st.booleans(),
    udp=st.booleans(),
    size=st.integers(1, 16000),
    gso_size=st.integers(8, 1400),
    flags=st.sampled_from([0x10, 0x18, 0x19, 0x90, 0x98, 0xD9]),
    options=st.sampled_from([b"", b"\x01\x01\x08\x0a" + b"\0" * 8]),
)
def test_segments_have_correct_lengths_checksums_and_sequence_numbers(
    v6: bool, udp: bool, size: int, gso_size: int, flags: int, options: bytes
) -> None:
    payload = os.urandom(size)
    packet, hdr_len = super_packet(v6, udp, payload, flags, b"" if udp else options)
    l3 = 40 if v6 else 20
    gso = GSO_UDP_L4 if udp else (GSO_TCPV6 if v6 else GSO_TCPV4)
    header = vnet_header(gso, hdr_len, gso_size, l3, 6 if udp else 16)
    need = -(-size // gso_size)
    filled, total, packets = segments(header + packet, nslots=need)
    assert filled == total == need
    joined = b""
    for k, raw in enumerate(packets):
        l4 = check_packet(raw)
        joined += l4.data
        assert len(l4.data) == min(gso_size, size - k * gso_size)
        if not v6:
            assert dpkt.ip.IP(raw).id == 7 + k
        if not udp:
            assert l4.seq == (1000 + k * gso_size) & 0xFFFFFFFF
            last, first = k == need - 1, k == 0
            assert bool(l4.flags & 0x01) == (last and bool(flags & 0x01)), "FIN only on the last"
            assert bool(l4.flags & 0x08) == (last and bool(flags & 0x08)), "PSH only on the last"
            assert bool(l4.flags & 0x80) == (first and bool(flags & 0x80)), "CWR only first"
            assert l4.opts == options
    assert joined == payload


def test_more_segments_than_slots_are_reported_and_continue() -> None:
    packet, hdr_len = super_packet(False, False, os.urandom(10000))
    data = vnet_header(GSO_TCPV4, hdr_len, 1000, 20, 16) + packet
    filled, total, out, _ = _lowlevel.segment(data, 2048, 3)
    assert (filled, total) == (3, 10)
    filled, total, out, results = _lowlevel.segment(data, 2048, 16, skip=8)
    assert (filled, total) == (2, 10)
    assert dpkt.ip.IP(out[: results[0] & _lowlevel.BODY_MASK]).data.seq == 1000 + 8000


@pytest.mark.parametrize("v6", [False, True])
@pytest.mark.parametrize("udp", [False, True])
def test_needs_csum_without_gso_is_completed(v6: bool, udp: bool) -> None:
    packet, _ = super_packet(v6, udp, os.urandom(333))
    l3 = 40 if v6 else 20
    offset = 6 if udp else 16
    # The field holds the pseudo-header sum, as the kernel leaves it.
    pseudo = (SRC6 + DST6 if v6 else SRC4 + DST4) + struct.pack(
        "!HH", 17 if udp else 6, len(packet) - l3
    )
    partial = (~dpkt.in_cksum(pseudo)) & 0xFFFF
    packet = packet[: l3 + offset] + struct.pack("!H", partial) + packet[l3 + offset + 2 :]
    filled, total, packets = segments(vnet_header(GSO_NONE, 0, 0, l3, offset) + packet)
    assert (filled, total) == (1, 1)
    check_packet(packets[0])


def test_a_plain_packet_passes_unchanged() -> None:
    packet, _ = super_packet(False, True, b"hello")
    filled, _, packets = segments(bytes(VNET) + packet)
    assert filled == 1 and packets == [packet]


@pytest.mark.parametrize(
    "header,cut,error",
    [
        (vnet_header(GSO_TCPV4, 40, 0, 20, 16), 0, errno.EBADMSG),  # gso_size 0
        (vnet_header(GSO_TCPV4, 9000, 100, 20, 16), 0, errno.EBADMSG),  # hdr_len past the end
        (vnet_header(GSO_TCPV4, 40, 100, 4000, 16), 0, errno.EBADMSG),  # csum_start past
        (vnet_header(GSO_TCPV4, 40, 100, 20, 4000), 0, errno.EBADMSG),  # csum_offset past
        (vnet_header(GSO_NONE, 0, 0, 4000, 16), 0, errno.EBADMSG),  # plain, csum_start past
        (vnet_header(GSO_TCPV6, 40, 100, 20, 16), 0, errno.EBADMSG),  # IPv4 under a v6 type
        (vnet_header(GSO_UDP, 40, 100, 20, 16), 0, errno.EPROTONOSUPPORT),  # UFO
        (vnet_header(GSO_UDP_L4, 40, 100, 20, 6), 0, errno.EBADMSG),  # TCP under a UDP type
        (vnet_header(GSO_TCPV4, 40, 100, 20, 16), 1, errno.EBADMSG),  # IP length disagrees
        (vnet_header(GSO_TCPV4, 40, 1900, 20, 16), 0, errno.EMSGSIZE),  # segment > slot
        (bytes(VNET), 0, errno.EMSGSIZE),  # a plain packet > slot
    ],
)
def test_hostile_headers_are_reported(header: bytes, cut: int, error: int) -> None:
    packet, _ = super_packet(False, False, os.urandom(3000))
    data = header + packet[: len(packet) - cut]
    slot = 1920 if error == errno.EMSGSIZE else 4096
    filled, _, _, _ = _lowlevel.segment(data, slot, 64)
    assert filled == -error


@settings(max_examples=500, deadline=None)
@given(
    header=st.binary(min_size=0, max_size=12),
    packet=st.binary(max_size=300),
    gso=st.sampled_from([GSO_NONE, GSO_TCPV4, GSO_UDP, GSO_TCPV6, GSO_UDP_L4, 0x81, 0x7F]),
    fields=st.tuples(*[st.integers(0, 0xFFFF)] * 4),
    slot=st.integers(64, 512),
    nslots=st.integers(1, 8),
)
def test_hostile_input_gives_only_documented_errors(
    header: bytes,
    packet: bytes,
    gso: int,
    fields: tuple[int, int, int, int],
    slot: int,
    nslots: int,
) -> None:
    for data in (header + packet, vnet_header(gso, *fields) + packet):
        filled, total, _, results = _lowlevel.segment(data, slot, nslots)
        assert filled in DOCUMENTED or 0 <= filled <= min(nslots, total)
        for index in range(max(filled, 0)):
            assert results[index] >= 0


@settings(max_examples=200, deadline=None)
@given(
    v6=st.booleans(),
    udp=st.booleans(),
    size=st.integers(1, 3000),
    fields=st.tuples(*[st.integers(0, 0xFFFF)] * 4),
    flip=st.integers(0, 80),
    value=st.integers(0, 255),
)
def test_mutated_super_packets_give_only_documented_errors(
    v6: bool, udp: bool, size: int, fields: tuple[int, int, int, int], flip: int, value: int
) -> None:
    packet, _ = super_packet(v6, udp, bytes(size))
    packet = bytearray(packet)
    packet[flip % len(packet)] = value
    gso = GSO_UDP_L4 if udp else (GSO_TCPV6 if v6 else GSO_TCPV4)
    filled, _, out, results = _lowlevel.segment(vnet_header(gso, *fields) + packet, 1600, 4)
    assert filled in DOCUMENTED or 0 <= filled <= 4
    for index in range(max(filled, 0)):
        length = results[index] & _lowlevel.BODY_MASK
        if results[index] >> _lowlevel.VERDICT_SHIFT == _lowlevel.PKT_OK:
            check_packet(out[index * 1600 : index * 1600 + length])


def test_c_segment_checks_its_arguments() -> None:
    packet, _ = super_packet(False, True, b"x")
    data = bytes(VNET) + packet
    assert _lowlevel.segment(data, 0, 1)[0] == -errno.EINVAL
    assert _lowlevel.segment(data, 70000, 1)[0] == -errno.EINVAL
    assert _lowlevel.segment(b"\0" * 5, 128, 1)[0] == -errno.EBADMSG


# -- the device --------------------------------------------------------------------


@pytest.fixture
def off() -> Iterator[tuntap.Interface]:
    with tuntap.open("off%d", offload=True) as iface:
        yield iface


def test_offload_device_says_what_the_kernel_accepted(off: tuntap.Interface) -> None:
    assert isinstance(off.offload, Offload)
    assert Offload.CSUM | Offload.TSO4 | Offload.TSO6 in off.offload
    with tuntap.open("tun%d") as plain:
        assert not plain.offload


def test_bad_offload_arguments(off: tuntap.Interface) -> None:
    with pytest.raises(ValueError, match="TUN devices only"):
        tuntap.open("tap%d", DevKind.TAP, offload=True)
    with pytest.raises(TypeError, match="offload must be a bool"):
        tuntap.open("tun%d", offload=1)  # type: ignore[arg-type]
    batch = PacketBatch(4)
    with tuntap.open("tun%d") as plain:
        with pytest.raises(ValueError, match="segment= applies only"):
            plain.read_batch(batch, segment=True, timeout=0)
        with pytest.raises(ValueError, match="coalesce= applies only"):
            plain.write_batch([], coalesce=True)
        off_batch = PacketBatch(2)
        off.read_batch(off_batch, segment=False, timeout=0)
        with pytest.raises(ValueError, match="holds virtio-net headers"):
            plain.write_batch(off_batch)
    with pytest.raises(TypeError, match="segment must be a bool"):
        off.read_batch(batch, segment=1, timeout=0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="coalesce must be a bool"):
        off.write_batch([], coalesce="yes")  # type: ignore[arg-type]
    small = PacketBatch(2, slot_size=2048)
    with pytest.raises(ValueError, match="cannot hold"):
        off.read_batch(small, segment=False, timeout=0)


def udp4(payload: bytes) -> bytes:
    packet, _ = super_packet(False, True, payload)
    return packet


def up(iface: tuntap.Interface, address: str) -> None:
    disable_ipv6(iface.name)
    ip("addr", "add", f"{address}/24", "dev", iface.name)
    ip("link", "set", iface.name, "up")


def test_read_packet_and_read_batch_on_an_offload_device(off: tuntap.Interface) -> None:
    up(off, "192.0.2.1")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.sendto(b"a" * 100, ("192.0.2.2", 9))
        packet = off.read_packet(timeout=5)
        assert packet.body[-100:] == b"a" * 100
        check_packet(bytes(packet.body))
        batch = PacketBatch(4)
        sock.sendto(b"d" * 100, ("192.0.2.2", 9))
        assert off.read_batch(batch, timeout=5) == 1
        with pytest.raises(ValueError, match="holds no virtio-net headers"):
            batch.vnet_header(0)
        sock.sendto(b"b" * 100, ("192.0.2.2", 9))
        assert off.read_batch(batch, segment=False, timeout=5) == 1
        assert batch.raw and len(batch.vnet_header(0)) == VNET
        assert bytes(batch[0])[-100:] == b"b" * 100
        with pytest.raises(TimeoutError):
            off.read_packet(timeout=0.05)
        buf = bytearray(2048)
        sock.sendto(b"c" * 100, ("192.0.2.2", 9))
        assert bytes(off.read_packet(buf, timeout=5).body)[-100:] == b"c" * 100
    finally:
        sock.close()


def next_packets(off: tuntap.Interface, batch: PacketBatch, how: str) -> list[bytes]:
    """What one read gives: a batch (small: super-packets continue in the next read),
    or one read_packet (the rest waits inside the interface)."""
    if how == "read_packet":
        try:
            return [bytes(off.read_packet(timeout=0.2).body)]
        except TimeoutError:
            return []
    return [bytes(batch[index]) for index in range(off.read_batch(batch, timeout=0.2))]


def find_syn(off: tuntap.Interface, batch: PacketBatch, sport: int) -> dpkt.tcp.TCP:
    """The SYN that the local socket bound to ``sport`` sent out of ``off``."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for index in range(off.read_batch(batch, timeout=1)):
            segment = dpkt.ip.IP(bytes(batch[index])).data
            if isinstance(segment, dpkt.tcp.TCP) and segment.sport == sport and segment.flags & 2:
                return segment
    raise AssertionError(f"no SYN from port {sport} within 5 s")


@pytest.mark.parametrize("how", ["read_batch", "small read_batch", "read_packet"])
def test_a_tcp_super_packet_is_segmented_on_read(off: tuntap.Interface, how: str) -> None:
    """The kernel's own TSO super-packets (from a local TCP socket) come out as
    segments, none lost however few fit in one read."""
    up(off, "192.0.2.1")
    ip("link", "set", off.name, "mtu", "1500")
    seen = 0
    # Closed here with a reset (SO_LINGER 0), not left to the garbage collector
    # (PyPy's is late) or to FIN retransmissions: either would send packets of
    # this connection into later tests' devices.
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            sock.connect(("192.0.2.2", 5001))
        batch = PacketBatch(256)
        # Answer our SYN (not a stray packet of an older connection) so the
        # connection opens, then let the kernel send a burst.
        syn = find_syn(off, batch, sock.getsockname()[1])
        synack = tcp4(DST4, SRC4, 5001, syn.sport, 9000, syn.seq + 1, 0x12, b"")
        off.write_packet(synack)
        # Connected once writable with no error (the SYN-ACK was taken).
        _, writable, _ = select.select([], [sock], [], 5)
        assert writable and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
        assert sock.send(b"z") == 1
        off.write_packet(tcp4(DST4, SRC4, 5001, syn.sport, 9001, syn.seq + 1, 0x10, b"", 65535))
        data = os.urandom(60000)
        select.select([], [sock], [], 5)
        data = data[: sock.send(data)]
        # Unacknowledged, the kernel sends its initial window (10 segments), in super-packets.
        deadline = time.monotonic() + 5
        expected, end = b"z" + data, 0
        if how == "small read_batch":
            batch = PacketBatch(3)
        while time.monotonic() < deadline and end < 9 * 1460 + 1:
            for raw in next_packets(off, batch, how):
                assert len(raw) <= 1500
                segment = check_packet(raw)
                if isinstance(segment, dpkt.tcp.TCP) and segment.data:
                    offset = segment.seq - syn.seq - 1  # retransmissions included
                    assert offset <= end, "a segment was lost"
                    assert segment.data == expected[offset : offset + len(segment.data)]
                    end = max(end, offset + len(segment.data))
                    seen += 1
    assert seen >= 3 and end >= 9 * 1460 + 1


def test_coalesced_segments_reach_the_kernel_as_one_super_packet() -> None:
    """Segments written to one offload TUN are forwarded to another as one super-packet."""
    with tuntap.open("ina%d", offload=True) as a, tuntap.open("outb%d", offload=True) as b:
        up(a, "192.0.2.1")
        up(b, "198.51.100.1")
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write("1")
        src, dst = socket.inet_aton("192.0.2.9"), socket.inet_aton("198.51.100.9")
        segments_in = [
            tcp4(src, dst, 4000, 5000, 1000 + k * 1000, 1, 0x10, os.urandom(1000), ip_id=k)
            for k in range(8)
        ]
        odd = udp4(b"not tcp")
        assert a.write_batch([*segments_in, odd]) == 9
        batch = PacketBatch(16)
        got: list[tuple[bytes, bytes]] = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(got) < 1:
            for index in range(b.read_batch(batch, segment=False, timeout=0.2)):
                got.append((bytes(batch.vnet_header(index)), bytes(batch[index])))
        flags, gso_type, hdr_len, gso_size, csum_start, csum_offset = struct.unpack(
            "<BBHHHH", got[0][0]
        )
        assert (gso_type, hdr_len, gso_size) == (GSO_TCPV4, 40, 1000)
        assert (flags, csum_start, csum_offset) == (NEEDS_CSUM, 20, 16)
        merged = dpkt.ip.IP(got[0][1]).data
        assert merged.data == b"".join(dpkt.ip.IP(s).data.data for s in segments_in)


def tcp6(src: bytes, dst: bytes, seq: int, flags: int, payload: bytes) -> bytes:
    """A TCP/IPv6 packet with a correct checksum (computed here, independently)."""
    tcp = dpkt.tcp.TCP(sport=4000, dport=5000, seq=seq, ack=1, flags=flags, win=512, data=payload)
    body = bytes(tcp)
    pseudo = src + dst + struct.pack("!IxxxB", len(body), 6)
    body = body[:16] + struct.pack("!H", dpkt.in_cksum(pseudo + body)) + body[18:]
    return struct.pack("!IHBB", 6 << 28, len(body), 6, 64) + src + dst + body


@pytest.mark.parametrize("v6", [False, True], ids=["ipv4", "ipv6"])
def test_coalesced_super_packets_get_correct_checksums_from_the_kernel(v6: bool) -> None:
    """Forwarded to a device without offloads, the kernel splits and checksums them:
    the checksums are right only if the pseudo-header sum we left was."""
    with tuntap.open("ina%d", offload=True) as a, tuntap.open("plc%d") as c:
        up(a, "192.0.2.1")
        up(c, "203.0.113.1")
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write("1")
        src, dst = socket.inet_aton("192.0.2.9"), socket.inet_aton("203.0.113.9")
        if v6:
            for iface, net in ((a, "2001:db8:1::1/64"), (c, "2001:db8:2::1/64")):
                with open(f"/proc/sys/net/ipv6/conf/{iface.name}/disable_ipv6", "w") as f:
                    f.write("0")
                ip("addr", "add", net, "dev", iface.name, "nodad")
            with open("/proc/sys/net/ipv6/conf/all/forwarding", "w") as f:
                f.write("1")
            src = socket.inet_pton(socket.AF_INET6, "2001:db8:1::9")
            dst = socket.inet_pton(socket.AF_INET6, "2001:db8:2::9")
        payloads = [os.urandom(1200) for _ in range(6)] + [os.urandom(700)]
        segments_in = [
            tcp6(src, dst, 7 + k * 1200, 0x18 if k == 6 else 0x10, payload)
            if v6
            else tcp4(
                src, dst, 4000, 5000, 7 + k * 1200, 1, 0x18 if k == 6 else 0x10, payload, ip_id=k
            )
            for k, payload in enumerate(payloads)
        ]
        assert a.write_batch(segments_in) == 7
        received: list[dpkt.tcp.TCP] = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(received) < 7:
            for packet in c.read_packets(16, timeout=0.2):
                if packet.body[0] >> 4 == (6 if v6 else 4) and packet.body[6 if v6 else 9] == 6:
                    received.append(check_packet(bytes(packet.body)))
        assert [segment.data for segment in received] == payloads
        assert [segment.seq for segment in received] == [7 + k * 1200 for k in range(7)]
        assert [segment.flags for segment in received] == [0x10] * 6 + [0x18]


# -- relays between two namespaces ------------------------------------------------


# UDP with UDP_SEGMENT: every datagram of 1400 bytes starts with (chunk, piece);
# a chunk of 32 goes out in one sendmsg (a GSO super-packet when the TUN has
# USO) and is sent again until the server acknowledges it, so losses in the
# TUN queues cost time, not bytes.
UDP_SERVER = """
import hashlib, socket, struct, sys
chunks = int(sys.argv[1])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
sock.bind(("192.0.2.2", 5002))
sock.settimeout(60)
print("listening", flush=True)
digest, total, current, pieces = hashlib.sha256(), 0, 0, {}
while current < chunks:
    data, peer = sock.recvfrom(2048)
    chunk, piece, count = struct.unpack("!IHH", data[:8])
    if chunk == current:
        pieces[piece] = data[8:]
        if len(pieces) == count:
            for index in range(count):
                digest.update(pieces[index])
                total += len(pieces[index])
            pieces, current = {}, current + 1
    if chunk < current:
        sock.sendto(struct.pack("!I", chunk), peer)
print(total, digest.hexdigest(), flush=True)
"""

UDP_CLIENT = """
import socket, struct, sys, time
data = bytes.fromhex(sys.stdin.readline().strip()) * int(sys.argv[1])
piece, per_chunk = 1392, 32
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_UDP, 103, 1400)  # UDP_SEGMENT
sock.connect(("192.0.2.2", 5002))
sock.settimeout(0.2)
step = piece * per_chunk
deadline = time.monotonic() + 100
for chunk, start in enumerate(range(0, len(data), step)):
    part = data[start : start + step]
    count = -(-len(part) // piece)
    message = b"".join(
        struct.pack("!IHH", chunk, k, count) + part[k * piece : (k + 1) * piece]
        for k in range(count)
    )
    while time.monotonic() < deadline:
        sock.send(message)
        try:
            while struct.unpack("!I", sock.recv(64))[0] != chunk:
                pass
            break
        except socket.timeout:
            continue
    else:
        sys.exit("no acknowledgement")
"""


class Relay(threading.Thread):
    """Forwards batches from src to dst until stopped (at most two minutes)."""

    def __init__(self, src: tuntap.Interface, dst: tuntap.Interface, segment: bool) -> None:
        super().__init__()
        self.src, self.dst, self.segment = src, dst, segment
        self.stop = threading.Event()
        self.checked = 0
        self.gso_types: set[int] = set()
        self.error: BaseException | None = None

    def run(self) -> None:
        batch = PacketBatch(64)
        deadline = time.monotonic() + 120
        try:
            while not self.stop.is_set() and time.monotonic() < deadline:
                if self.src.offload:
                    count = self.src.read_batch(batch, segment=self.segment, timeout=0.1)
                else:
                    count = self.src.read_batch(batch, timeout=0.1)
                if not count:
                    continue
                if self.src.offload and self.checked < 5000:
                    for index in range(count):
                        if self.segment:
                            check_packet(bytes(batch[index]))
                        else:
                            self.gso_types.add(batch.vnet_header(index)[1])
                    self.checked += count
                self.dst.write_batch(batch)
        except BaseException as exc:  # reported by the test
            self.error = exc


@pytest.mark.parametrize("udp", [False, True], ids=["tcp", "udp-gso"])
@pytest.mark.parametrize(
    "a_offload,b_offload,segment",
    [
        pytest.param(True, True, False, id="offload-to-offload-raw"),
        pytest.param(True, False, True, id="offload-segmenting-to-plain"),
        pytest.param(False, True, True, id="plain-to-offload-coalescing"),
        pytest.param(True, True, True, id="segmenting-to-coalescing"),
    ],
)
def test_a_relay_carries_50_mb_byte_exact(
    a_offload: bool, b_offload: bool, segment: bool, udp: bool
) -> None:
    tag = uuid.uuid4().hex[:8]
    ns_a, ns_b = f"tt-off-a-{tag}", f"tt-off-b-{tag}"
    relays: list[Relay] = []
    procs: list[subprocess.Popen[str]] = []
    ip("netns", "add", ns_a)
    try:
        ip("netns", "add", ns_b)
        with (
            tuntap.open("ofa%d", offload=a_offload) as tun_a,
            tuntap.open("ofb%d", offload=b_offload) as tun_b,
        ):
            offloaded = tun_a.offload | tun_b.offload
            if udp and offloaded and Offload.USO4 not in offloaded:
                skip_or_fail("this kernel does not take TUN_F_USO4 (Linux 6.2+): no UDP GSO")
            join_namespaces(ns_a, ns_b, tun_a, tun_b)
            relays = [Relay(tun_a, tun_b, segment), Relay(tun_b, tun_a, segment)]
            for relay in relays:
                relay.start()
            block = os.urandom(4096)
            repeat = 12800  # 50 MiB
            chunks = -(-len(block) * repeat // (1392 * 32))
            server = subprocess.Popen(
                netns(ns_b, sys.executable, "-c", UDP_SERVER if udp else SERVER, str(chunks)),
                stdout=subprocess.PIPE,
                text=True,
            )
            procs.append(server)
            assert server.stdout is not None
            assert server.stdout.readline().strip() == "listening"
            client = netns(ns_a, sys.executable, "-c", UDP_CLIENT if udp else CLIENT, str(repeat))
            check_transfer(server, client, block, repeat, (120, 60))
            for relay in relays:
                relay.stop.set()
                relay.join(5)
                assert relay.error is None, relay.error
            if a_offload and segment:
                assert relays[0].checked > 0
            if a_offload and not segment:  # the kernel did send super-packets
                assert (GSO_UDP_L4 if udp else GSO_TCPV4) in relays[0].gso_types
    finally:
        for relay in relays:
            relay.stop.set()
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for relay in relays:
            relay.join(5)
        subprocess.run(["ip", "netns", "del", ns_a], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns_b], capture_output=True)


def test_asyncio_reads_every_packet_of_an_offload_device() -> None:
    """Packets an earlier read left inside the interface come out without new readiness."""

    async def main() -> list[bytes]:
        async with tuntap.AsyncInterface.open("aoff%d", offload=True) as aiface:
            up(aiface.interface, "192.0.2.1")
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                for k in range(5):
                    sock.sendto(bytes([65 + k]) * 50, ("192.0.2.2", 9))
                return [
                    bytes((await asyncio.wait_for(aiface.read_packet(), 5)).body)[-50:]
                    for _ in range(5)
                ]
            finally:
                sock.close()

    assert asyncio.run(main()) == [bytes([65 + k]) * 50 for k in range(5)]


def test_a_coalescing_write_stops_at_the_bad_packet_with_the_exact_count(
    off: tuntap.Interface,
) -> None:
    up(off, "192.0.2.1")
    src, dst = socket.inet_aton("192.0.2.9"), socket.inet_aton("192.0.2.1")
    run = [tcp4(src, dst, 4000, 5000, 1 + k * 100, 1, 0x10, bytes(100), ip_id=k) for k in range(3)]
    with pytest.raises(tuntap.NotIPPacketError) as caught:
        off.write_batch([*run, b"\x00not ip", *run])
    assert (caught.value.written, caught.value.index) == (3, 3)  # type: ignore[attr-defined]
    with pytest.raises(tuntap.JumboPacketError) as jumbo:
        off.write_batch([*run, bytes([0x45]) + bytes(off.write_limit)])
    assert (jumbo.value.written, jumbo.value.index) == (3, 3)  # type: ignore[attr-defined]
    assert off.write_batch(run, coalesce=False) == 3
    off.write_packet(run[0])
    with pytest.raises(tuntap.NotIPPacketError):
        off.write_packet(b"\x00not ip")


def test_raw_batch_indexes(off: tuntap.Interface) -> None:
    up(off, "192.0.2.1")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.sendto(b"x" * 10, ("192.0.2.2", 9))
        batch = PacketBatch(4)
        assert off.read_batch(batch, segment=False, timeout=5) == 1
    finally:
        sock.close()
    assert bytes(batch.vnet_header(-1)) == bytes(batch.vnet_header(0))
    with pytest.raises(IndexError):
        batch.vnet_header(1)
    with pytest.raises(TypeError):
        batch.vnet_header("0")  # type: ignore[arg-type]


def test_c_offload_calls_check_their_arguments() -> None:
    queue = _lowlevel.new_queue(-1, -1, _lowlevel.KIND_TUN, _lowlevel.TUN_F_CSUM, 1600).c
    batch, _buf, _results = _lowlevel.new_batch(4, 2048, _lowlevel.KIND_TUN)
    status = _lowlevel.new_write_status()
    assert lib.tt_queue_read(queue, ffi.NULL, 0, 0) == -errno.EINVAL
    batch.slot_size = lib.TT_VNET_HDR_LEN  # a raw slot must hold more than the header
    assert lib.tt_queue_read(queue, batch, 1, 0) == -errno.EINVAL
    batch.slot_size = 2048
    queue.rx_len = queue.rx_buf_len + 1
    assert lib.tt_queue_read(queue, batch, 0, 0) == -errno.EINVAL
    queue.rx_len = 0
    batch.kind = _lowlevel.KIND_TAP
    assert lib.tt_queue_read(queue, batch, 1, 0) == -errno.EINVAL
    batch.kind = _lowlevel.KIND_TUN
    slots = _lowlevel.batch_packets(batch)
    assert lib.tt_queue_write(queue, slots, 1, 0, 0, status) == -errno.EINVAL  # past count
    assert lib.tt_queue_write(queue, slots, 0, 0, 0, ffi.NULL) == -errno.EINVAL
    packets, bufs, _lens = _lowlevel.packet_arrays([ffi.from_buffer(b"\x45" * 5)])
    bufs[0] = ffi.NULL
    assert lib.tt_queue_write(queue, packets, 0, 1, 0, status) == 0
    assert (status.next, status.error) == (0, -errno.EINVAL)  # NULL with a length
    assert lib.tt_queue_send(queue, ffi.NULL, 5, 0) == -errno.EINVAL
    assert lib.tt_set_offload(-1, 0x8000) == -errno.EINVAL
    assert lib.tt_set_offload(-1, 1) == -errno.EBADF


def test_c_offload_recv_segments_one_packet_per_call() -> None:
    """tt_queue_recv over a pipe holding one super-packet: its segments one by
    one, the next read only when they are all out; a buffer too small for a
    segment leaves the super-packet pending (-ENOBUFS)."""
    packet, hlen = super_packet(False, False, b"a" * 1000 + b"b" * 1000 + b"c" * 500)
    data = vnet_header(GSO_TCPV4, hlen, 1000, 20, 16) + packet
    r, w = os.pipe()
    os.set_blocking(r, False)
    try:
        queue = _lowlevel.new_queue(r, w, _lowlevel.KIND_TUN, _lowlevel.TUN_F_CSUM, 1600)
        os.write(w, data)
        small, buf = ffi.new("char[]", 100), ffi.new("char[]", 2048)
        assert lib.tt_queue_recv(queue.c, small, 100, 0) == -errno.ENOBUFS
        assert (queue.c.rx_len, queue.c.rx_next) == (len(data), 0)
        got = []
        for _ in range(3):
            verdict, _, length = _lowlevel.unpack(lib.tt_queue_recv(queue.c, buf, 2048, 0))
            assert verdict == _lowlevel.PKT_OK
            got.append(check_packet(ffi.unpack(buf, length)).data)
        assert got == [b"a" * 1000, b"b" * 1000, b"c" * 500]
        assert queue.c.rx_len == 0
        assert lib.tt_queue_recv(queue.c, buf, 2048, 0) == -errno.EAGAIN
        os.write(w, data[:30])  # a cut super-packet is dropped and reported
        assert lib.tt_queue_recv(queue.c, buf, 2048, 0) == -errno.EBADMSG
        assert queue.c.rx_len == 0
        os.write(w, data)
        assert lib.tt_queue_recv(queue.c, buf, 2048, 0) >= 0
        queue.c.rx_next = 99  # past its last segment: dropped, never read past
        assert lib.tt_queue_recv(queue.c, buf, 2048, 0) == -errno.EBADMSG
        assert queue.c.rx_len == 0
    finally:
        os.close(r)
        os.close(w)
