"""udp_send_batch of a raw offload batch: each super-packet segmented in C as
iovecs [headers k, payload slice k] (no payload copied), compared at a real
receiving socket with the copying path (the segmenter, then a send of the
segments); and the bad raw slots that stop it with nothing sent."""

from __future__ import annotations

import asyncio
import os
import select
import socket
import struct
import time
from collections.abc import Iterator

import pytest
from helpers.ip import shape
from helpers.packets import DST4, DST6, SRC4, SRC6, check_packet, super_packet, tcp4
from helpers.skips import require_tool
from hypothesis import HealthCheck, example, given, settings, strategies as st

import tuntap_cffi as tuntap
from tuntap_cffi import _lowlevel, aio

pytestmark = pytest.mark.privileged

VNET = _lowlevel.VNET_HDR_LEN
GSO_NONE, GSO_TCPV4, GSO_UDP, GSO_TCPV6, GSO_UDP_L4 = 0, 1, 3, 4, 5
# The largest payload a super-packet of each family and L4 header can carry.
ROOM = {(False, False): 65535 - 40, (False, True): 65535 - 28, (True, False): 65535 - 60}
ROOM[True, True] = 65535 - 48


def vnet_header(
    gso_type: int, hdr_len: int, gso_size: int, csum_start: int, csum_offset: int
) -> bytes:
    return struct.pack("<BBHHHH", 1, gso_type, hdr_len, gso_size, csum_start, csum_offset)


def raw_item(v6: bool, udp: bool, size: int, gso_size: int, flags: int = 0x19) -> bytes:
    """A virtio-net header and a super-packet of ``size`` payload bytes, as an
    offload TUN's raw read gives it (L4 checksum partial)."""
    packet, hdr_len = super_packet(v6, udp, os.urandom(size), flags)
    l3 = 40 if v6 else 20
    gso = GSO_UDP_L4 if udp else (GSO_TCPV6 if v6 else GSO_TCPV4)
    return vnet_header(gso, hdr_len, gso_size, l3, 6 if udp else 16) + packet


def plain_item(v6: bool, udp: bool, size: int) -> bytes:
    """A packet without GSO whose L4 checksum the header says to complete."""
    packet, _ = super_packet(v6, udp, os.urandom(size))
    l3 = 40 if v6 else 20
    offset = 6 if udp else 16
    pseudo = (SRC6 + DST6 if v6 else SRC4 + DST4) + struct.pack(
        "!HH", 17 if udp else 6, len(packet) - l3
    )
    total = sum(struct.unpack(f"!{len(pseudo) // 2}H", pseudo))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    field = struct.pack("!H", total)  # the pseudo-header's sum, as the kernel leaves it
    packet = packet[: l3 + offset] + field + packet[l3 + offset + 2 :]
    return vnet_header(GSO_NONE, 0, 0, l3, offset) + packet


def raw_batch(items: list[bytes]) -> tuntap.PacketBatch:
    """A batch holding ``items`` (header + packet each) as a raw offload read leaves them."""
    batch = tuntap.PacketBatch(len(items))
    c = batch.slots_for_reading(tuntap.DevKind.TUN, 0, "test", 1)
    for index, item in enumerate(items):
        c.results[index] = _lowlevel.classify_raw(item[VNET:], len(item) - VNET, c.kind)
    c.count = len(items)
    for index, item in enumerate(items):
        batch.vnet_header(index)[:] = item[:VNET]
        batch[index][:] = item[VNET:]
    return batch


def copied(item: bytes) -> list[bytes]:
    """The packets the segmenting read makes of ``item`` (the copying path)."""
    gso_type, hdr_len, gso_size = struct.unpack("<xBHH", item[:6])
    slot = min(hdr_len + gso_size + 1, 65600) if gso_type != GSO_NONE else 65600
    filled, total, out, results = _lowlevel.segment(item, slot, 1)
    assert filled > 0
    filled, total, out, results = _lowlevel.segment(item, slot, total)
    assert filled == total
    return [out[k * slot : k * slot + (results[k] & _lowlevel.BODY_MASK)] for k in range(total)]


@pytest.fixture(params=[socket.AF_INET, socket.AF_INET6], ids=["udp4", "udp6"])
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[socket.socket, socket.socket]]:
    """a connected to b over loopback, b non-blocking with room for every datagram."""
    family = request.param
    host = "127.0.0.1" if family == socket.AF_INET else "::1"
    a, b = socket.socket(family, socket.SOCK_DGRAM), socket.socket(family, socket.SOCK_DGRAM)
    with a, b:
        b.setsockopt(socket.SOL_SOCKET, 33, 32 * 1024 * 1024)
        b.bind((host, 0))
        a.connect(b.getsockname())
        b.setblocking(False)
        yield a, b


def drain(sock: socket.socket, expected: int) -> list[bytes]:
    """The datagrams that arrive, until ``expected`` did or a quiet 0.3 s (at most 10 s)."""
    got: list[bytes] = []
    end = time.monotonic() + 10
    while len(got) < expected and time.monotonic() < end:
        if not select.select([sock], [], [], 0.3)[0]:
            break
        while True:
            try:
                got.append(sock.recv(70000))
            except BlockingIOError:
                break
    return got


def both_ways(pair: tuple[socket.socket, socket.socket], items: list[bytes]) -> list[bytes]:
    """What b receives of ``items`` sent raw (iovecs), checked against the copying path."""
    a, b = pair
    expected = [packet for item in items for packet in copied(item)]
    assert tuntap.udp_send_batch(a, expected, timeout=5) == len(expected)
    by_copy = drain(b, len(expected))
    batch = raw_batch(items)
    assert batch.segments() == len(expected)
    assert tuntap.udp_send_batch(a, batch, timeout=5) == len(items)
    by_iovecs = drain(b, len(expected))
    assert by_copy == expected
    assert by_iovecs == expected
    for datagram in by_iovecs:
        check_packet(datagram)
    return by_iovecs


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    v6=st.booleans(),
    udp=st.booleans(),
    gso_size=st.integers(500, 1460),
    segments=st.integers(1, 70),
    remainder=st.integers(0, 1459),
)
@example(v6=False, udp=False, gso_size=1000, segments=64, remainder=0)  # 64 segments, whole
@example(v6=True, udp=True, gso_size=1000, segments=65, remainder=0)  # 65: two messages
@example(v6=False, udp=True, gso_size=1200, segments=1, remainder=0)  # one segment
@example(v6=False, udp=False, gso_size=1448, segments=200, remainder=0)  # the most (>64 KiB)
@example(v6=True, udp=False, gso_size=1000, segments=200, remainder=0)
def test_a_super_packet_arrives_as_the_copying_path_sends_it(
    pair: tuple[socket.socket, socket.socket],
    v6: bool,
    udp: bool,
    gso_size: int,
    segments: int,
    remainder: int,
) -> None:
    size = min((segments - 1) * gso_size + remainder % gso_size + 1, ROOM[v6, udp])
    got = both_ways(pair, [raw_item(v6, udp, size, gso_size)])
    assert len(got) == -(-size // gso_size)


def test_a_batch_of_many_super_packets_and_plain_packets(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    """More segments than one sendmmsg carries, plain packets between them."""
    items = []
    for k in range(10):
        v6, udp = bool(k & 1), bool(k & 2)
        items.append(raw_item(v6, udp, 45000 + 997 * k, 1300 + k))
        items.append(plain_item(v6, udp, 100 + k))
    items.append(bytes(VNET) + tcp4(SRC4, DST4, 1, 2, 3, 4, 0x10, b"as it is"))
    both_ways(pair, items)


def test_runs_of_equal_datagrams_across_slots(pair: tuple[socket.socket, socket.socket]) -> None:
    """Small packets of one size, and super-packets whose segments are all full,
    go as runs across slots (one UDP_SEGMENT message each): the same datagrams."""
    small = [plain_item(False, True, 36) for _ in range(150)]
    whole = [raw_item(True, False, 3000, 1000) for _ in range(30)]
    both_ways(pair, small + whole + small[:7] + [raw_item(True, False, 2999, 1000)] + whole[:3])


def test_without_udp_segment_each_segment_is_a_message(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    """The path a kernel that refuses UDP_SEGMENT takes: one datagram per message."""
    a, b = pair
    items = [raw_item(True, False, 9000, 1000), plain_item(False, True, 50)]
    batch = raw_batch(items)
    packets = batch.slots_for_writing(tuntap.DevKind.TUN, tuntap.Offload.CSUM, "test")
    assert packets is not None and packets.raw
    status = _lowlevel.new_write_status()
    flags = _lowlevel.new_flags(0)
    sent = _lowlevel.udp_send(
        a.fileno(), -1, packets, 0, _lowlevel.NULL, a.family, flags, 5000, status
    )
    assert (sent, status.error, status.next) == (2, 0, 2)
    assert drain(b, 10) == copied(items[0]) + copied(items[1])


def test_a_segment_larger_than_the_packet_is_one_datagram(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    """gso_size over the payload: one segment, as the segmenting read makes it."""
    got = both_ways(pair, [raw_item(False, False, 700, 1400), raw_item(True, True, 0, 1000)])
    assert len(got) == 2


def test_a_raw_read_of_the_kernels_super_packet(pair: tuple[socket.socket, socket.socket]) -> None:
    """A real offload TUN's super-packet, read raw, goes as the segmenting read's packets."""
    a, b = pair
    with tuntap.open("ttrawsend%d", tuntap.DevKind.TUN, offload=True) as tun:
        tun.set_ipv6(False)
        tun.add_address("192.0.2.1/24")
        tun.up()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
            out.setsockopt(socket.SOL_UDP, 103, 1200)  # UDP_SEGMENT: a USO super-packet
            out.sendto(os.urandom(30000), ("192.0.2.9", 9))
        batch = tuntap.PacketBatch(4)
        assert tun.read_batch(batch, segment=False, timeout=2) == 1
        item = bytes(batch.vnet_header(0)) + bytes(batch[0])
        assert item[1] == GSO_UDP_L4, "the kernel handed over a super-packet"
        expected = copied(item)
        assert len(expected) == 25
        assert tuntap.udp_send_batch(a, batch) == 1
        assert drain(b, 25) == expected


# -- bad raw slots: a ValueError, nothing sent, and the batch as it was ---------


BASE = raw_item(False, False, 5000, 1000)


def _broken(cut: int = 0, **fields: int) -> bytes:
    """BASE with some fields of its virtio-net header changed, or its last byte cut."""
    flags, gso_type, hdr_len, gso_size, start, offset = struct.unpack("<BBHHHH", BASE[:VNET])
    values = dict(gso_type=gso_type, hdr_len=hdr_len, gso_size=gso_size, start=start)
    values.update(fields)
    header = struct.pack(
        "<BBHHHH",
        flags,
        values["gso_type"],
        values["hdr_len"],
        values["gso_size"],
        values["start"],
        offset,
    )
    return header + BASE[VNET : len(BASE) - cut]


@pytest.mark.parametrize(
    "bad,why",
    [
        (_broken(gso_size=0), "malformed"),
        (_broken(hdr_len=9000), "malformed"),  # past the end
        (_broken(start=6000), "malformed"),  # the checksum past the end
        (_broken(gso_type=GSO_UDP), "of a kind"),  # UFO: not TCP or UDP_L4
        (_broken(gso_type=GSO_TCPV6), "malformed"),  # IPv4 under an IPv6 type
        (_broken(gso_type=GSO_UDP_L4), "malformed"),  # TCP under a UDP type
        (_broken(gso_type=GSO_NONE, start=6000), "malformed"),  # plain, checksum past
    ],
)
def test_a_bad_raw_slot_stops_the_send_with_nothing_sent(
    pair: tuple[socket.socket, socket.socket], bad: bytes, why: str
) -> None:
    a, b = pair
    good = raw_item(a.family == socket.AF_INET6, True, 3000, 1000)
    batch = raw_batch([good, bad, good])
    with pytest.raises(ValueError, match=rf"slot 1 \(virtio-net header .*\) .*{why}.*nothing sent"):
        tuntap.udp_send_batch(a, batch)
    assert drain(b, 1) == []
    assert bytes(batch.vnet_header(1)) + bytes(batch[1]) == bad  # the batch as it was
    batch.vnet_header(1)[:] = BASE[:VNET]
    assert tuntap.udp_send_batch(a, batch) == 3
    assert drain(b, 9) == copied(good) + copied(BASE) + copied(good)


def test_segments_over_the_datagram_maximum_are_refused(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    bad = raw_item(False, True, 65500, 65500)  # one 65528-byte datagram of IPv4 + UDP
    with pytest.raises(ValueError, match=r"slot 0 .* over the 655.. bytes .*nothing sent"):
        tuntap.udp_send_batch(a, raw_batch([bad]))
    assert drain(b, 1) == []


def test_segments_counts_what_the_slots_carry() -> None:
    items = [
        raw_item(False, False, 5000, 1000),
        plain_item(True, True, 10),
        raw_item(True, True, 0, 9),
    ]
    batch = raw_batch(items)
    assert [batch.segments(k, k + 1) for k in range(3)] == [5, 1, 1]
    assert (batch.segments(), batch.segments(1), batch.segments(0, 0)) == (7, 2, 0)
    for start, stop in ((0, 4), (2, 1), (-1, 2)):
        with pytest.raises(IndexError, match=r"outside the batch's 0\.\.3 packets"):
            batch.segments(start, stop)
    with pytest.raises(TypeError, match="stop must be an int"):
        batch.segments(0, 1.5)  # type: ignore[arg-type]
    assert tuntap.PacketBatch(4).segments() == 0


# -- a send that stops inside a super-packet, resumed by the caller --------------

SLOW_PORT = 5998
SLOW_TO = {
    socket.AF_INET: ("192.0.2.200", SLOW_PORT),
    socket.AF_INET6: ("2001:db8:e2::9", SLOW_PORT),
}


@pytest.fixture(scope="module")
def slow_path() -> Iterator[tuntap.Interface]:
    """A plain TUN that takes the datagrams through a slow qdisc: a socket with a
    small send buffer finds it full after one UDP_SEGMENT message."""
    tc = require_tool("tc")
    with tuntap.open("ttslow%d") as out:
        out.set_ipv6(True)
        out.add_address("192.0.2.129/25")
        out.add_address("2001:db8:e2::1/64", nodad=True)
        shape(tc, out.name, "200mbit")
        yield out


def datagrams_out_of(out: tuntap.Interface, expected: int) -> list[bytes]:
    """The UDP payloads to SLOW_PORT that leave ``out``: until ``expected`` came, then
    what follows in 0.2 s (one sent twice), all within 10 s."""
    got: list[bytes] = []
    deadline = time.monotonic() + 10
    quiet_from: float | None = None
    while time.monotonic() < deadline:
        if quiet_from is None and len(got) >= expected:
            quiet_from = time.monotonic()
        if quiet_from is not None and time.monotonic() - quiet_from >= 0.2:
            break
        for packet in out.read_packets(64, timeout=0.02):
            body = bytes(packet.body)
            v6 = body[0] >> 4 == 6
            l3, proto = (40, body[6]) if v6 else ((body[0] & 15) * 4, body[9])
            if proto == 17 and body[l3 + 2 : l3 + 4] == struct.pack("!H", SLOW_PORT):
                got.append(body[l3 + 8 :])
    return got


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["udp4", "udp6"])
def test_a_send_resumed_inside_a_super_packet_sends_each_segment_once(
    slow_path: tuntap.Interface, family: int, mode: str
) -> None:
    """A super-packet of 130 segments goes as three UDP_SEGMENT messages; the send
    stops after one or two (the buffer is full), and the batch keeps which of its
    segments went: a send resumed at .index sends only the others."""
    v6 = family == socket.AF_INET6
    items = [raw_item(v6, False, 130 * 500, 500), raw_item(v6, True, 20 * 700, 700)]
    expected = [packet for item in items for packet in copied(item)]
    batch = raw_batch(items)
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1)  # the kernel's least
        if mode == "sync":
            with pytest.raises(tuntap.BatchWriteError) as stop:
                tuntap.udp_send_batch(sock, batch, SLOW_TO[family], timeout=0)
            assert isinstance(stop.value, TimeoutError)
            assert (stop.value.index, stop.value.written) == (0, 0), "it stopped in slot 0"
            # After one message or two (the qdisc lets the first through at once).
            assert batch.sent_segments(0) in (64, 128), "it stopped inside slot 0"
            assert tuntap.udp_send_batch(sock, batch, SLOW_TO[family], timeout=5, start=0) == 2
        else:
            assert asyncio.run(aio.udp_send_batch(sock, batch, SLOW_TO[family])) == 2
        assert batch.sent_segments(0) == 0, "a send that finished forgets it"
    got = datagrams_out_of(slow_path, len(expected))
    assert len(got) == len(expected)
    assert got == expected


def test_a_read_into_the_batch_forgets_a_stopped_send(slow_path: tuntap.Interface) -> None:
    """What a stopped send leaves in the batch is of its slots' contents: a send
    after a new read starts each slot from its first segment."""
    batch = raw_batch([raw_item(False, False, 130 * 500, 500)])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1)
        with pytest.raises(tuntap.BatchWriteError):
            tuntap.udp_send_batch(sock, batch, SLOW_TO[socket.AF_INET], timeout=0)
        assert batch.sent_segments(0) in (64, 128)
        assert batch.sent_segments(1) == 0, "another slot: from its start"
        batch.slots_for_reading(tuntap.DevKind.TUN, 0, "test", 1)  # what every read does
        assert batch.sent_segments(0) == 0
        for bad in (-1, 2):
            with pytest.raises(IndexError, match=r"slot .* outside the batch's 0\.\.1"):
                batch.sent_segments(bad)
        with pytest.raises(TypeError, match="slot must be an int"):
            batch.sent_segments(0.0)  # type: ignore[arg-type]
    datagrams_out_of(slow_path, 128)
