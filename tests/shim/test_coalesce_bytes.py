"""The pure functions on bytes: TCP coalescing and the Internet checksum.

No device, no fd: packets in, a count or a super-packet out. A super-packet
is checked by segmenting it again (tt_segment) and comparing the payloads,
and by dpkt's own checksums of the segments.
"""

from __future__ import annotations

import errno
import os
import struct

import dpkt
import pytest
from helpers.packets import check_packet, super_packet, tcp_packet
from hypothesis import given, settings, strategies as st

from tuntap_cffi import _lowlevel
from tuntap_cffi._native import ffi, lib

GSO_TCPV4, GSO_TCPV6 = 1, 4
NEEDS_CSUM = 1


def tcp(
    v6: bool, seq: int, payload: bytes, flags: int = 0x10, sport: int = 4000, ip_id: int = 0
) -> bytes:
    """A TCP segment of one flow (ports 4000 -> 5000 unless sport says otherwise), with
    correct checksums: only such segments are merged."""
    return tcp_packet(v6, seq, payload, sport=sport, flags=flags, ip_id=ip_id)


def flow(v6: bool, sizes: list[int], seq: int = 1000) -> list[bytes]:
    """Consecutive segments of one flow, IPv4 IDs counting up as a sender's do."""
    packets = []
    for index, size in enumerate(sizes):
        packets.append(tcp(v6, seq, bytes([65 + index % 26]) * size, ip_id=index))
        seq += size
    return packets


def corrupt(packet: bytes) -> bytes:
    """The packet with its last payload byte flipped (its checksums now wrong)."""
    return packet[:-1] + bytes([packet[-1] ^ 0x5A])


@pytest.mark.parametrize("v6", [False, True])
def test_one_flow_becomes_one_super_packet_that_segments_back(v6: bool) -> None:
    packets = flow(v6, [1000, 1000, 1000, 400])
    assert _lowlevel.coalesce_run(packets) == 4
    length, raw = _lowlevel.coalesce_build(packets, 0, 4)
    assert length == len(raw) == 10 + sum(map(len, packets)) - 3 * (60 if v6 else 40)
    flags, gso_type, hdr_len, gso_size, csum_start, csum_offset = struct.unpack("<BBHHHH", raw[:10])
    assert (flags, gso_type) == (NEEDS_CSUM, GSO_TCPV6 if v6 else GSO_TCPV4)
    assert (hdr_len, gso_size, csum_start, csum_offset) == (
        (60, 1000, 40, 16) if v6 else (40, 1000, 20, 16)
    )
    filled, total, out, results = _lowlevel.segment(raw, 2048, 8)
    assert filled == total == 4
    again = []
    for index in range(4):
        _, _, size = _lowlevel.unpack(results[index])
        again.append(check_packet(out[index * 2048 : index * 2048 + size]).data)
    assert again == [bytes(p[(60 if v6 else 40) :]) for p in packets]


@pytest.mark.parametrize(
    ("why", "second"),
    [
        ("another port", tcp(False, 2000, b"b" * 1000, sport=4001, ip_id=1)),
        ("a gap in the sequence", tcp(False, 2001, b"b" * 1000, ip_id=1)),
        ("a larger payload", tcp(False, 2000, b"b" * 1001, ip_id=1)),
        ("SYN", tcp(False, 2000, b"b" * 1000, flags=0x12, ip_id=1)),
        ("FIN", tcp(False, 2000, b"b" * 1000, flags=0x11, ip_id=1)),
        ("another family", tcp(True, 2000, b"b" * 1000, ip_id=1)),
        ("not TCP", super_packet(False, True, b"b" * 1000)[0]),
        ("an IPv4 ID one less", tcp(False, 2000, b"b" * 1000, ip_id=0xFFFF)),
        ("an IPv4 ID that skips one", tcp(False, 2000, b"b" * 1000, ip_id=2)),
        ("a wrong TCP checksum", corrupt(tcp(False, 2000, b"b" * 1000, ip_id=1))),
        (
            "a wrong IPv4 header checksum",
            (lambda p: p[:10] + bytes([p[10] ^ 1]) + p[11:])(
                tcp(False, 2000, b"b" * 1000, ip_id=1)
            ),
        ),
    ],
)
def test_segments_that_gro_would_not_merge_stay_apart(why: str, second: bytes) -> None:
    first = tcp(False, 1000, b"a" * 1000)
    assert _lowlevel.coalesce_run([first, second]) == 1, why
    assert _lowlevel.coalesce_build([first, second], 0, 2)[0] == -errno.EINVAL, why


def test_a_first_segment_with_a_wrong_checksum_goes_alone() -> None:
    packets = flow(False, [1000, 1000, 1000])
    assert _lowlevel.coalesce_run([corrupt(packets[0]), *packets[1:]]) == 1
    assert _lowlevel.coalesce_run([packets[0], packets[1], corrupt(packets[2])]) == 2
    assert _lowlevel.coalesce_run(flow(True, [1000, 1000])) == 2
    v6 = flow(True, [1000, 1000])
    assert _lowlevel.coalesce_run([v6[0], corrupt(v6[1])]) == 1


def test_a_run_ends_after_push_and_within_its_limits() -> None:
    pushed = [tcp(False, 1000, b"a" * 100, flags=0x18), tcp(False, 1100, b"b" * 100, ip_id=1)]
    assert _lowlevel.coalesce_run(pushed) == 1
    packets = flow(False, [1000] * 10)
    assert _lowlevel.coalesce_run(packets, room=10 + 1040 + 3 * 1000) == 4
    assert _lowlevel.coalesce_run(packets, start=8) == 2
    assert _lowlevel.coalesce_run(packets, write_limit=1039) == 1  # over the write limit
    assert _lowlevel.coalesce_build(packets, 0, 5, out_len=10 + 1040 + 3 * 1000)[0] < 0


def test_coalescing_checks_its_arguments() -> None:
    packets = flow(False, [100, 100])
    einval = -errno.EINVAL
    assert _lowlevel.coalesce_run(packets, start=2) == einval
    assert _lowlevel.coalesce_run([]) == einval
    for start, count in ((0, 1), (0, 3), (1, 2), (2, 0)):
        assert _lowlevel.coalesce_build(packets, start, count)[0] == einval, (start, count)
    assert _lowlevel.coalesce_build(packets, 0, 2, out_len=0)[0] == einval
    # A build takes a plan's members only: in order, from a plan, at most its length.
    for members in ([1, 0], [0, 0], [0, 2], [0, 1, 1]):
        assert _lowlevel.coalesce_build(packets, 0, 0, members=members)[0] == einval, members
    source, _bufs, _lens = _lowlevel.packet_arrays([ffi.from_buffer(p) for p in packets])
    out = ffi.new("char[]", 4096)
    members = ffi.new("uint32_t[]", [0, 1] + [0] * (_lowlevel.COALESCE_MAX - 2))
    every = _lowlevel.ALL_OFFLOADS

    def plan(src: object, room: int = _lowlevel.COALESCE_MAX) -> int:
        return lib.tt_coalesce_plan(src, 0, 1, every, 1600, 4096, members, room)

    def build(src: object, n: int = 2, into: object = out) -> int:
        return lib.tt_coalesce_build(src, members, n, every, into, 4096)

    assert plan(ffi.NULL) == einval
    assert plan(source, room=_lowlevel.COALESCE_MAX - 1) == einval  # too little room for members
    assert lib.tt_coalesce_plan(source, 0, 1, every, 1600, 4096, ffi.NULL, 64) == einval
    assert build(ffi.NULL) == einval
    assert build(source, into=ffi.NULL) == einval
    assert build(source, n=_lowlevel.COALESCE_MAX + 1) == einval
    assert lib.tt_coalesce_build(source, ffi.NULL, 2, every, out, 4096) == einval
    assert plan(source) == 2
    assert build(source) > 0
    for field, value in (("bufs", ffi.NULL), ("lens", ffi.NULL), ("raw", 1)):
        saved = getattr(source, field)
        setattr(source, field, value)
        assert plan(source) == einval, field
        assert build(source) == einval, field
        setattr(source, field, saved)
    batch, _buf, _results = _lowlevel.new_batch(2, 2048, _lowlevel.KIND_TUN)
    source.batch = batch  # the entry points on bytes take arrays only
    assert plan(source) == einval


@settings(max_examples=200, deadline=None)
@given(
    v6=st.booleans(),
    sizes=st.lists(st.integers(1, 1400), min_size=1, max_size=12),
    room=st.integers(0, 20000),
)
def test_any_run_builds_within_its_room_and_segments_back(
    v6: bool, sizes: list[int], room: int
) -> None:
    packets = flow(v6, sizes)
    run = _lowlevel.coalesce_run(packets, room=room)
    assert 1 <= run <= len(packets)
    if run < 2:
        return
    length, raw = _lowlevel.coalesce_build(packets, 0, run, out_len=room)
    assert 0 < length <= room
    filled, total, _, _ = _lowlevel.segment(raw, 2048, 16)
    assert filled == total == run


@given(st.binary(max_size=3000))
def test_the_checksum_is_rfc_1071s(data: bytes) -> None:
    assert _lowlevel.checksum(data) == dpkt.in_cksum(data)


def test_the_checksum_of_a_good_header_is_zero_and_null_is_refused() -> None:
    packet, _ = super_packet(False, True, os.urandom(20))
    assert _lowlevel.checksum(packet[:20]) == 0
    assert lib.tt_checksum(_lowlevel.NULL, 0) == 0xFFFF
    assert lib.tt_checksum(_lowlevel.NULL, 4) == -errno.EINVAL
