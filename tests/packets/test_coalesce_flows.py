"""Coalescing by flow and of UDP datagrams.

On bytes: which packets a plan takes (a flow's packets past other flows',
never past anything of its own flow that does not merge), and that the
super-packet of any plan segments back into exactly its packets. Through a
device: interleaved flows become one super-packet each, UDP datagrams merge
on a device that took USO, and what arrives is what would have arrived had
each packet been written alone. A write stopped after a flow went out ahead
says exactly what did not go out, and a resumed write sends just that.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct

import pytest
from helpers.forward import (
    PEER_IN,
    PEER_OUT,
    as_sent_alone,
    collect,
    forward_path,
    merged_into_super_packets,
)
from helpers.packets import flows, interleaved, tcp_packet, ttl_free, udp_packet
from hypothesis import HealthCheck, given, settings, strategies as st

import tuntap_cffi as tuntap
from tuntap_cffi import Offload, _lowlevel
from tuntap_cffi._native import ffi, lib

TCP_ONLY = _lowlevel.TUN_F_CSUM | _lowlevel.TUN_F_TSO4 | _lowlevel.TUN_F_TSO6


def plan(packets: list[bytes], start: int = 0, **options: object) -> list[int]:
    result = _lowlevel.coalesce_plan(packets, start, group=True, **options)  # type: ignore[arg-type]
    assert not isinstance(result, int), result
    return result


# -- plans on bytes -------------------------------------------------------------------


@pytest.mark.parametrize("v6", [False, True], ids=["ipv4", "ipv6"])
def test_a_flow_merges_past_other_flows_packets(v6: bool) -> None:
    packets = interleaved(v6, 2, 3)
    assert plan(packets) == [0, 2, 4]
    assert plan(packets, 1) == [1, 3, 5]
    assert _lowlevel.coalesce_plan(packets, 0) == [0]  # without grouping: consecutive only


def icmp(src: str = PEER_IN, dst: str = PEER_OUT) -> bytes:
    head = struct.pack("!BBHHHBBH", 0x45, 0, 28, 1, 0, 64, 1, 0)
    return head + bytes(map(int, src.split("."))) + bytes(map(int, dst.split("."))) + bytes(8)


def fragment(packet: bytes) -> bytes:
    """The IPv4 packet marked as a first fragment (MF): its flow cannot be trusted."""
    return packet[:6] + struct.pack("!H", 0x2000) + packet[8:]


@pytest.mark.parametrize(
    ("why", "between", "expected"),
    [
        ("another protocol is passed over", icmp(), [0, 2, 4]),
        (
            "the reverse direction is another flow",
            tcp_packet(False, 1, b"r" * 50, src=PEER_OUT, dst=PEER_IN),
            [0, 2, 4],
        ),
        ("a fragment might be of any flow", fragment(icmp()), [0]),
        ("not IP might be of any flow", b"\x00" * 60, [0]),
        ("a packet over the write limit is refused in its place", b"\x45" + bytes(1700), [0]),
        (
            "a pure ACK of the same flow does not merge",
            tcp_packet(False, 101, b"", ip_id=11),
            [0],
        ),
    ],
)
def test_what_a_flow_never_merges_past(why: str, between: bytes, expected: list[int]) -> None:
    a = interleaved(False, 1, 3)
    packets = [a[0], between, a[1], between, a[2]]
    assert plan(packets, write_limit=1500) == expected, why


def test_a_flow_stops_at_its_own_packet_that_does_not_merge() -> None:
    a = interleaved(False, 1, 4)
    b = interleaved(False, 2, 1)[1]
    gap = tcp_packet(False, 1 + 250, b"A" * 100, ip_id=11)  # not the next sequence number
    assert plan([a[0], b, gap, a[2], a[3]]) == [0]
    corrupt = tcp_packet(False, 101, b"A" * 100, ip_id=11, corrupt=True)
    assert plan([a[0], b, a[1], corrupt, a[2]]) == [0, 2]
    assert plan([a[0], b, corrupt, a[2]]) == [0]


def test_a_packet_too_short_for_its_tcp_header_is_never_a_candidate() -> None:
    # IPv6 with 10 bytes of "TCP": the data offset lies past its end (found by the fuzzer).
    short = (
        struct.pack("!IHBB", 6 << 28, 10, 6, 64) + bytes(32) + bytes.fromhex("0fa01388") + bytes(6)
    )
    assert plan([short, short]) == [0]
    assert plan([interleaved(True, 1, 1)[0], short]) == [0]


def test_lookahead_and_size_are_bounded() -> None:
    a = interleaved(False, 1, 2)
    others = [icmp()] * _lowlevel.COALESCE_LOOKAHEAD
    assert plan([a[0], *others[:-1], a[1]]) == [0, _lowlevel.COALESCE_LOOKAHEAD]
    assert plan([a[0], *others, a[1]]) == [0]
    many = interleaved(False, 1, _lowlevel.COALESCE_MAX + 6, size=10)
    assert plan(many) == list(range(_lowlevel.COALESCE_MAX))


@pytest.mark.parametrize("v6", [False, True], ids=["ipv4", "ipv6"])
def test_udp_datagrams_of_equal_size_merge_the_last_may_be_shorter(v6: bool) -> None:
    def dgrams(sizes: list[int], **options: object) -> list[bytes]:
        return [
            udp_packet(v6, bytes([66 + k]) * size, ip_id=20 + k, **options)  # type: ignore[arg-type]
            for k, size in enumerate(sizes)
        ]

    assert plan(dgrams([500, 500, 500, 200])) == [0, 1, 2, 3]
    assert plan(dgrams([500, 300, 500])) == [0, 1]  # a shorter one is the last
    assert plan(dgrams([300, 500])) == [0]  # a larger one never follows
    packets = dgrams([500, 500])
    corrupt = udp_packet(v6, b"C" * 500, ip_id=21, corrupt=True)
    assert plan([packets[0], corrupt]) == [0]
    assert plan(packets, offload=TCP_ONLY) == [0]  # no USO: datagrams pass through
    other = _lowlevel.TUN_F_USO4 if v6 else _lowlevel.TUN_F_USO6
    assert plan(packets, offload=TCP_ONLY | other) == [0]  # USO for the other family only
    if not v6:
        assert plan(dgrams([500, 500], no_checksum=True)) == [0]
        same_id = [udp_packet(False, b"x" * 500, ip_id=5), udp_packet(False, b"y" * 500, ip_id=5)]
        assert plan(same_id) == [0]
        df_changes = [packets[0], udp_packet(False, b"C" * 500, ip_id=21, df=False)]
        assert plan(df_changes) == [0]


def segment_back(packets: list[bytes], members: list[int]) -> list[bytes]:
    """The super-packet of ``members``, split again by the segmenter."""
    length, raw = _lowlevel.coalesce_build(packets, 0, 0, members=members)
    assert length == len(raw) > 0
    filled, total, out, results = _lowlevel.segment(raw, 2048, len(members))
    assert filled == total == len(members)
    sizes = [_lowlevel.unpack(results[k])[2] for k in range(filled)]
    return [out[k * 2048 : k * 2048 + size] for k, size in enumerate(sizes)]


@pytest.mark.parametrize("v6", [False, True], ids=["ipv4", "ipv6"])
def test_a_udp_super_packet_segments_back_into_its_datagrams(v6: bool) -> None:
    packets = [udp_packet(v6, os.urandom(n), ip_id=30 + k) for k, n in enumerate([900] * 4 + [7])]
    members = plan(packets)
    assert members == [0, 1, 2, 3, 4]
    _, raw = _lowlevel.coalesce_build(packets, 0, 0, members=members)
    flags, gso_type, hdr_len, gso_size, csum_start, csum_offset = struct.unpack("<BBHHHH", raw[:10])
    l3 = 40 if v6 else 20
    assert (flags, gso_type, hdr_len, gso_size) == (1, 5, l3 + 8, 900)  # NEEDS_CSUM, UDP_L4
    assert (csum_start, csum_offset) == (l3, 6)
    assert segment_back(packets, members) == packets


packet_spec = st.tuples(
    st.sampled_from([0, 0, 0, 1, 2, 3]),  # flow: 0-1 TCP, 2-3 UDP
    st.sampled_from([1, 1, 1, 1, 0]),  # 1: what follows in its flow, 0: a gap (TCP) / odd size
    st.sampled_from([False, False, False, False, True]),  # corrupt
    st.sampled_from([0, 0, 0, 0, 1, 2]),  # 1: an ICMP packet before it, 2: a fragment
)


@settings(max_examples=300, deadline=None)
@given(v6=st.booleans(), specs=st.lists(packet_spec, min_size=1, max_size=24))
def test_every_plan_keeps_each_flows_order_and_segments_back(
    v6: bool, specs: list[tuple[int, int, bool, int]]
) -> None:
    seq, ids = [1, 1], [100, 200, 300, 400]
    packets: list[bytes] = []
    for flow, step, corrupt, before in specs:
        if before == 1:
            packets.append(icmp())
        elif before == 2 and not v6:
            packets.append(fragment(icmp()))
        ids[flow] += 1
        if flow < 2:
            size = 300 if step else 120
            seq[flow] += 0 if step else 77
            packets.append(
                tcp_packet(
                    v6,
                    seq[flow],
                    os.urandom(size),
                    sport=4000 + flow,
                    ip_id=ids[flow],
                    corrupt=corrupt,
                )
            )
            seq[flow] += size
        else:
            size = 300 if step else 120
            packets.append(
                udp_packet(
                    v6, os.urandom(size), sport=4000 + flow, ip_id=ids[flow], corrupt=corrupt
                )
            )
    for start in range(len(packets)):
        members = plan(packets, start)
        assert members[0] == start and members == sorted(set(members))
        if len(members) == 1:
            continue
        # Nothing of the flow, and nothing whose flow is unknown, lies between members
        # without being one: the flow's order stays as it was.
        key = flows([packets[start]])
        for position in range(start, members[-1] + 1):
            packet = packets[position]
            unknown = packet[0] >> 4 == 4 and struct.unpack("!H", packet[6:8])[0] & 0x3FFF
            assert not unknown, position
            if position not in members and packet[9 if not v6 else 6] in (6, 17):
                assert flows([packet]).keys() != key.keys(), (position, members)
        assert segment_back(packets, members) == [packets[k] for k in members]


# -- through a device -----------------------------------------------------------------

privileged = pytest.mark.privileged


@privileged
def test_interleaved_flows_go_out_as_one_super_packet_each() -> None:
    packets = interleaved(False, 3, 4, size=500)
    assert merged_into_super_packets(packets) == 3


@privileged
def test_udp_datagrams_merge_on_a_device_that_took_uso() -> None:
    packets = [udp_packet(False, os.urandom(700), ip_id=40 + k) for k in range(5)]
    with tuntap.open("cuso%d", offload=True) as probe:
        uso = Offload.USO4 in probe.offload
    # Without USO the kernel would refuse a UDP super-packet: each goes alone.
    assert merged_into_super_packets(packets, proto=17) == (1 if uso else 5)


udp_spec = st.tuples(
    st.sampled_from([0, 0, 0, 1]),  # flow
    st.sampled_from([800, 800, 800, 800, 300, 1]),  # payload size
    st.sampled_from([False, False, False, False, True]),  # corrupt checksum
    st.sampled_from([1, 1, 1, 1, 0, 2]),  # IPv4 ID step
    st.sampled_from([False, False, False, False, True]),  # no UDP checksum (IPv4)
)


@privileged
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(v6=st.booleans(), specs=st.lists(udp_spec, min_size=2, max_size=16))
def test_udp_that_arrives_is_what_would_arrive_unmerged(
    v6: bool, specs: list[tuple[int, int, bool, int, bool]]
) -> None:
    ids = [10, 5000]
    packets = []
    for flow, size, corrupt, id_step, no_checksum in specs:
        ids[flow] = (ids[flow] + id_step) & 0xFFFF
        packets.append(
            udp_packet(
                v6,
                os.urandom(size),
                sport=4000 + flow,
                ip_id=ids[flow],
                corrupt=corrupt and size > 1,
                no_checksum=no_checksum and not v6,
            )
        )
    with forward_path() as (a, c):
        alone = as_sent_alone(a, c, packets, proto=17)
        assert a.write_batch(packets) == len(packets)
        coalesced = collect(c, len(alone), proto=17)
    want = {k: [ttl_free(p) for p in v] for k, v in flows(alone).items()}
    got = {k: [ttl_free(p) for p in v] for k, v in flows(coalesced).items()}
    assert got == want


# -- a write stopped after a flow went out ahead ------------------------------------


def test_a_stopped_write_says_exactly_what_did_not_go_out_and_resumes_exactly() -> None:
    """Flow A's three segments go out as one super-packet ahead of flow B's first, which
    finds no room (a pipe with 50 bytes free stands in for the device): the status
    says packets 1, 3 and 5 did not go out, and the resumed write sends just those."""
    packets = interleaved(False, 2, 3)  # A0 B0 A1 B1 A2 B2, 100-byte payloads
    read_end, write_end = os.pipe2(os.O_NONBLOCK)
    wake, never = os.pipe()  # a wake-up fd that never fires (os.eventfd is 3.10+)
    try:
        fcntl.fcntl(write_end, 1031, 4096)  # F_SETPIPE_SZ: one page
        super_len = 10 + 40 + 3 * 100
        os.write(write_end, bytes(4096 - super_len - 50))
        queue = _lowlevel.new_queue(write_end, wake, _lowlevel.KIND_TUN, 0x67, 65535)
        source, _bufs, _lens = _lowlevel.packet_arrays([ffi.from_buffer(p) for p in packets])
        status = _lowlevel.new_write_status()
        _marks = _lowlevel.add_sent_marks(status, len(packets))
        assert lib.tt_queue_write(queue.c, source, 0, 1, 0, status) == 3
        assert (status.error, status.next, status.written) == (-errno.EAGAIN, 1, 3)
        assert _lowlevel.unwritten(status, status.next, len(packets)) == (1, 3, 5)
        assert len(os.read(read_end, 65536)) == 4096 - 50  # the filler and A's super-packet
        assert lib.tt_queue_write(queue.c, source, 1, 1, 0, status) == 3
        assert (status.error, status.next) == (0, len(packets))
        assert len(os.read(read_end, 65536)) == super_len  # B's, once: A's are not repeated
        assert _lowlevel.unwritten(status, 0, len(packets)) == tuple(range(6))  # marks cleared
    finally:
        for fd in (read_end, write_end, wake, never):
            os.close(fd)
