"""Coalescing never changes what arrives.

The oracle is the kernel itself: the same packets written one by one
(``write_packet``, nothing merged) into an offload TUN and forwarded to a
plain TUN are what the receiving side must see when ``write_batch`` merges
them into super-packets, which the kernel splits again on the way out. So
a corrupt checksum must stay corrupt (not be replaced by a fresh one over
corrupt bytes), and IPv4 IDs must come out as they were sent.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import time
from collections.abc import Iterator

import dpkt
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from netutil import disable_ipv6, ip

import tuntap_cffi as tuntap
from tuntap_cffi import PacketBatch

pytestmark = pytest.mark.privileged

# A subnet of this module's own on each side, so that no socket of another
# test module can send into these devices.
IN_NET, OUT_NET = "198.51.100.129/25", "203.0.113.129/25"
PEER_IN, PEER_OUT = "198.51.100.200", "203.0.113.200"
IN6_NET, OUT6_NET = "2001:db8:c0::1/64", "2001:db8:c1::1/64"
PEER6_IN, PEER6_OUT = "2001:db8:c0::9", "2001:db8:c1::9"


def tcp_packet(
    v6: bool,
    seq: int,
    payload: bytes,
    *,
    sport: int = 4000,
    flags: int = 0x10,
    ack: int = 1,
    ip_id: int = 0,
    df: bool = True,
    corrupt: bool = False,
    src: str | None = None,
    dst: str | None = None,
) -> bytes:
    """A TCP segment with correct checksums, or with one payload byte flipped after them."""
    src = src or (PEER6_IN if v6 else PEER_IN)
    dst = dst or (PEER6_OUT if v6 else PEER_OUT)
    family = socket.AF_INET6 if v6 else socket.AF_INET
    s, d = socket.inet_pton(family, src), socket.inet_pton(family, dst)
    tcp = dpkt.tcp.TCP(sport=sport, dport=5000, seq=seq, ack=ack, flags=flags, win=512)
    tcp.data = payload
    body = bytes(tcp)
    if v6:
        pseudo = s + d + struct.pack("!IxxxB", len(body), 6)
    else:
        pseudo = s + d + struct.pack("!BBH", 0, 6, len(body))
    body = body[:16] + struct.pack("!H", dpkt.in_cksum(pseudo + body)) + body[18:]
    if corrupt and payload:
        body = body[:-1] + bytes([body[-1] ^ 0x5A])
    if v6:
        return struct.pack("!IHBB", 6 << 28, len(body), 6, 64) + s + d + body
    head = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(body), ip_id, 0x4000 if df else 0, 64, 6, 0)
    head += s + d
    head = head[:10] + struct.pack("!H", dpkt.in_cksum(head)) + head[12:]
    return head + body


def udp_packet(
    v6: bool,
    payload: bytes,
    *,
    sport: int = 4000,
    ip_id: int = 0,
    df: bool = True,
    corrupt: bool = False,
    no_checksum: bool = False,
) -> bytes:
    """A UDP datagram (PEER_IN -> PEER_OUT, port 5000) with correct checksums, or with one
    payload byte flipped after them, or (IPv4) with no UDP checksum at all (0)."""
    src, dst = (PEER6_IN, PEER6_OUT) if v6 else (PEER_IN, PEER_OUT)
    family = socket.AF_INET6 if v6 else socket.AF_INET
    s, d = socket.inet_pton(family, src), socket.inet_pton(family, dst)
    body = struct.pack("!HHHH", sport, 5000, 8 + len(payload), 0) + payload
    if v6:
        pseudo = s + d + struct.pack("!IxxxB", len(body), 17)
    else:
        pseudo = s + d + struct.pack("!BBH", 0, 17, len(body))
    check = 0 if no_checksum else (dpkt.in_cksum(pseudo + body) or 0xFFFF)
    body = body[:6] + struct.pack("!H", check) + body[8:]
    if corrupt and payload:
        body = body[:-1] + bytes([body[-1] ^ 0x5A])
    if v6:
        return struct.pack("!IHBB", 6 << 28, len(body), 17, 64) + s + d + body
    head = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(body), ip_id, 0x4000 if df else 0, 64, 17, 0)
    head += s + d
    head = head[:10] + struct.pack("!H", dpkt.in_cksum(head)) + head[12:]
    return head + body


@contextlib.contextmanager
def forward_path() -> Iterator[tuple[tuntap.Interface, tuntap.Interface]]:
    """An offload TUN whose packets the kernel forwards out of a plain TUN."""
    with tuntap.open("cin%d", offload=True) as a, tuntap.open("cout%d") as c:
        for iface, net, net6 in ((a, IN_NET, IN6_NET), (c, OUT_NET, OUT6_NET)):
            disable_ipv6(iface.name)
            with open(f"/proc/sys/net/ipv6/conf/{iface.name}/disable_ipv6", "w") as f:
                f.write("0")
            ip("addr", "add", net, "dev", iface.name)
            ip("addr", "add", net6, "dev", iface.name, "nodad")
            ip("link", "set", iface.name, "up")
        for path in ("/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"):
            with open(path, "w") as f:
                f.write("1")
        yield a, c


def collect(
    c: tuntap.Interface, expected: int, seconds: float = 3.0, proto: int = 6
) -> list[bytes]:
    """The TCP (or ``proto``) packets that come out of ``c`` until ``expected`` arrived
    or time ran out, and any that follow within 50 ms (a packet duplicated or split
    further)."""
    got: list[bytes] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for packet in c.read_packets(64, timeout=0.05 if len(got) >= expected else 0.1):
            body = bytes(packet.body)
            if body[6 if body[0] >> 4 == 6 else 9] == proto:
                got.append(body)
        if len(got) >= expected:
            extra = [bytes(p.body) for p in c.read_packets(64, timeout=0.05)]
            got += [b for b in extra if b[6 if b[0] >> 4 == 6 else 9] == proto]
            break
    return got


def as_sent_alone(
    a: tuntap.Interface, c: tuntap.Interface, packets: list[bytes], proto: int = 6
) -> list[bytes]:
    """What comes out when every packet is written by itself: nothing can be merged."""
    for packet in packets:
        a.write_packet(packet)
    return collect(c, len(packets), proto=proto)


def flows(packets: list[bytes]) -> dict[bytes, list[bytes]]:
    """Packets grouped by flow (addresses and ports), in order within each flow."""
    out: dict[bytes, list[bytes]] = {}
    for packet in packets:
        v6 = packet[0] >> 4 == 6
        l3 = 40 if v6 else (packet[0] & 0xF) * 4
        key = (packet[8:40] if v6 else packet[12:20]) + packet[l3 : l3 + 4]
        out.setdefault(key, []).append(packet)
    return out


def merged_into_super_packets(packets: list[bytes], proto: int = 6) -> int:
    """How many super-packets ``write_batch`` makes of ``packets`` (IPv4 without options,
    TCP without options or UDP), read raw by an offload TUN."""
    with tuntap.open("cra%d", offload=True) as a, tuntap.open("crb%d", offload=True) as b:
        for iface, net in ((a, IN_NET), (b, OUT_NET)):
            disable_ipv6(iface.name)
            ip("addr", "add", net, "dev", iface.name)
            ip("link", "set", iface.name, "up")
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write("1")
        assert a.write_batch(packets) == len(packets)
        batch = PacketBatch(64)
        headers = 40 if proto == 6 else 28
        expected = sum(len(p) - headers for p in packets)
        seen, payload = 0, 0
        deadline = time.monotonic() + 3
        while payload < expected and time.monotonic() < deadline:
            for index in range(b.read_batch(batch, segment=False, timeout=0.1)):
                if batch[index][9] == proto:
                    seen += 1
                    payload += len(batch[index]) - headers
        return seen


# -- the two defects -----------------------------------------------------------------


@pytest.mark.parametrize("v6", [False, True], ids=["ipv4", "ipv6"])
def test_a_segment_with_a_bad_checksum_goes_out_alone_and_unchanged(v6: bool) -> None:
    payloads = [os.urandom(1000) for _ in range(5)]
    packets = [
        tcp_packet(v6, 1 + k * 1000, p, ip_id=100 + k, corrupt=k == 2)
        for k, p in enumerate(payloads)
    ]
    with forward_path() as (a, c):
        alone = as_sent_alone(a, c, packets)
        assert len(alone) == 5
        assert a.write_batch(packets) == 5
        coalesced = collect(c, 5)
    assert [ttl_free(p) for p in coalesced] == [ttl_free(p) for p in alone]
    bad = dpkt.ip6.IP6(coalesced[2]) if v6 else dpkt.ip.IP(coalesced[2])
    assert bad.data.data == payloads[2][:-1] + bytes([payloads[2][-1] ^ 0x5A])


def ttl_free(packet: bytes) -> bytes:
    """The packet as the receiver sees it, but for what a forward changes (TTL, hop limit,
    and the IPv4 header checksum that covers the TTL)."""
    if packet[0] >> 4 == 6:
        return packet[:7] + b"\0" + packet[8:]
    return packet[:8] + b"\0" + packet[9:10] + b"\0\0" + packet[12:]


def atomic_id_free(packet: bytes) -> bytes:
    """ttl_free, and for an IPv4 packet with DF set its ID too: the ID of an atomic
    datagram means nothing (RFC 6864), and the kernel numbers the segments of a
    super-packet whose packets all had one ID."""
    packet = ttl_free(packet)
    if packet[0] >> 4 == 4 and packet[6] & 0x40:
        packet = packet[:4] + b"\0\0" + packet[6:]
    return packet


def test_a_corrupt_segment_never_reaches_a_socket_as_good_data() -> None:
    """Delivered locally: the kernel drops the bad segment (Tcp InCsumErrors) and the
    socket receives only the bytes before it."""
    with tuntap.open("csk%d", offload=True) as a:
        disable_ipv6(a.name)
        ip("addr", "add", "198.51.100.1/25", "dev", a.name)
        ip("link", "set", a.name, "up")
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("198.51.100.1", 5000))
        listener.listen(1)
        conn = None
        try:
            peer, local = "198.51.100.100", "198.51.100.1"
            a.write_packet(tcp_packet(False, 1000, b"", flags=0x02, src=peer, dst=local, ip_id=1))
            isn = handshake_reply(a)
            a.write_packet(tcp_packet(False, 1001, b"", src=peer, dst=local, ack=isn + 1))
            listener.settimeout(3)
            conn, _ = listener.accept()
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            before = in_csum_errors()
            payloads = [os.urandom(1000) for _ in range(4)]
            segments = [
                tcp_packet(
                    False,
                    1001 + k * 1000,
                    p,
                    src=peer,
                    dst=local,
                    ack=isn + 1,
                    ip_id=2 + k,
                    corrupt=k == 1,
                )
                for k, p in enumerate(payloads)
            ]
            assert a.write_batch(segments) == 4
            conn.settimeout(0.5)
            received = b""
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                try:
                    chunk = conn.recv(65536)
                except socket.timeout:
                    break
                if not chunk:
                    break
                received += chunk
            assert received == payloads[0]
            assert in_csum_errors() == before + 1
        finally:
            if conn is not None:
                conn.close()
            listener.close()


def handshake_reply(a: tuntap.Interface) -> int:
    """The server's initial sequence number, from its SYN-ACK read off the TUN."""
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        packet = a.read_packet(timeout=1)
        body = bytes(packet.body)
        if body[0] >> 4 == 4 and body[9] == 6:
            tcp = dpkt.ip.IP(body).data
            if tcp.flags & 0x12 == 0x12:
                return int(tcp.seq)
    raise AssertionError("no SYN-ACK")


def in_csum_errors() -> int:
    """Tcp InCsumErrors of this namespace (/proc/net/snmp)."""
    with open("/proc/net/snmp") as f:
        lines = [line.split() for line in f if line.startswith("Tcp:")]
    return int(lines[1][lines[0].index("InCsumErrors")])


@pytest.mark.parametrize(
    "ids,df,out",
    [
        ([0, 0, 0, 0], False, [0, 0, 0, 0]),
        ([5, 9, 10, 11], False, [5, 9, 10, 11]),
        # Atomic datagrams with one ID merge, and the kernel numbers the segments
        # (RFC 6864: their ID means nothing; test_coalesce_atomic_ids.py).
        ([7, 7, 7, 7], True, [7, 8, 9, 10]),
        ([3, 2, 1, 0], True, [3, 2, 1, 0]),
    ],
    ids=["df0-fixed", "df0-gap", "df1-fixed", "df1-descending"],
)
def test_ipv4_ids_come_out_as_they_were_sent(ids: list[int], df: bool, out: list[int]) -> None:
    payloads = [os.urandom(800) for _ in ids]
    packets = [
        tcp_packet(False, 1 + k * 800, p, ip_id=ip_id, df=df)
        for k, (p, ip_id) in enumerate(zip(payloads, ids))
    ]
    with forward_path() as (a, c):
        assert a.write_batch(packets) == len(packets)
        got = collect(c, len(packets))
    assert [struct.unpack("!H", p[4:6])[0] for p in got] == out
    assert [atomic_id_free(p) for p in got] == [atomic_id_free(p) for p in packets]


@pytest.mark.parametrize("df", [False, True], ids=["df0", "df1"])
def test_incrementing_ipv4_ids_still_merge(df: bool) -> None:
    packets = [
        tcp_packet(False, 1 + k * 800, os.urandom(800), ip_id=(0xFFFE + k) & 0xFFFF, df=df)
        for k in range(4)
    ]
    assert merged_into_super_packets(packets) == 1


def test_a_bad_ipv4_header_checksum_is_not_merged() -> None:
    packets = [tcp_packet(False, 1 + k * 800, os.urandom(800), ip_id=k) for k in range(3)]
    packets[1] = packets[1][:10] + bytes([packets[1][10] ^ 1]) + packets[1][11:]
    # The kernel drops an IPv4 packet with a bad header checksum on input, so
    # the forward shows the two good ones, each as sent.
    with forward_path() as (a, c):
        assert a.write_batch(packets) == 3
        out = collect(c, 2)
    assert [ttl_free(p) for p in out] == [ttl_free(packets[0]), ttl_free(packets[2])]


# -- the property: coalesced == written alone ----------------------------------------

# Weighted so that runs the kernel would merge are common, and each way of
# spoiling one (another flow between, a gap, an overlap, a flag, a corrupt
# checksum, an ID that does not follow, DF changing) comes up often.
segment_spec = st.tuples(
    st.sampled_from([0, 0, 0, 1, 2]),  # flow
    st.sampled_from([1, 1, 1, 1, 1, 0, 2]),  # 1: contiguous, 0: a gap before it, 2: overlap
    st.sampled_from([600, 600, 600, 600, 200, 1]),  # payload size
    st.sampled_from([0x10, 0x10, 0x10, 0x10, 0x18, 0x11, 0x50]),  # flags
    st.sampled_from([False, False, False, False, True]),  # corrupt checksum
    st.sampled_from([1, 1, 1, 1, 0, 2]),  # IPv4 ID step
    st.sampled_from([True, True, True, False]),  # DF
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(v6=st.booleans(), specs=st.lists(segment_spec, min_size=2, max_size=16))
def test_what_arrives_is_what_would_arrive_unmerged(
    v6: bool, specs: list[tuple[int, int, int, int, bool, int, bool]]
) -> None:
    seq = [1, 1, 1]
    ids = [10, 500, 9000]
    packets = []
    for flow, step, size, flags, corrupt, id_step, df in specs:
        if step == 0:
            seq[flow] += 300
        elif step == 2:
            seq[flow] -= min(seq[flow] - 1, 100)
        ids[flow] = (ids[flow] + id_step) & 0xFFFF
        packets.append(
            tcp_packet(
                v6,
                seq[flow],
                os.urandom(size),
                sport=4000 + flow,
                flags=flags,
                ip_id=ids[flow],
                df=df,
                corrupt=corrupt and size > 1,
            )
        )
        seq[flow] += size
    with forward_path() as (a, c):
        alone = as_sent_alone(a, c, packets)
        assert a.write_batch(packets) == len(packets)
        coalesced = collect(c, len(alone))
    want = {k: [atomic_id_free(p) for p in v] for k, v in flows(alone).items()}
    got = {k: [atomic_id_free(p) for p in v] for k, v in flows(coalesced).items()}
    assert got == want
