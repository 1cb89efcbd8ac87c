"""Coalescing never changes what arrives.

The oracle is the kernel itself: the same packets written one by one
(``write_packet``, nothing merged) into an offload TUN and forwarded to a
plain TUN are what the receiving side must see when ``write_batch`` merges
them into super-packets, which the kernel splits again on the way out. So
a corrupt checksum must stay corrupt (not be replaced by a fresh one over
corrupt bytes), and IPv4 IDs must come out as they were sent.
"""

from __future__ import annotations

import os
import socket
import struct
import time

import dpkt
import pytest
from helpers.forward import as_sent_alone, collect, forward_path, merged_into_super_packets
from helpers.ip import disable_ipv6, ip
from helpers.packets import atomic_id_free, flows, tcp_packet, ttl_free
from hypothesis import HealthCheck, given, settings, strategies as st

import tuntap_cffi as tuntap

pytestmark = pytest.mark.privileged


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
