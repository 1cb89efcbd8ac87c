"""Property tests: arbitrary bytes never make the parser or helpers misbehave.

A plain-Python model of the seed's rules is the oracle for the C classifier.
"""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

import tuntap_cffi as tuntap
from tuntap_cffi import DevKind, Packet, parse_packet

DOCUMENTED = (tuntap.ShortReadError, tuntap.TruncatedPacketError, tuntap.NotIPPacketError)


def model(data: bytes, kind: DevKind) -> tuple[str, int, int | None]:
    """(verdict, protocol, body length) as the seed's text states them."""
    if not data:
        return "short", 0, None
    if kind == DevKind.TAP:
        if len(data) < 14:
            return "truncated", 0, len(data)
        off = 12
        while int.from_bytes(data[off : off + 2], "big") in (0x8100, 0x88A8, 0x9100):
            off += 4
            if off + 2 > len(data):
                return "truncated", int.from_bytes(data[off - 4 : off - 2], "big"), len(data)
        return "ok", int.from_bytes(data[off : off + 2], "big"), len(data)
    version = data[0] >> 4
    if version == 4:
        if len(data) < 20:
            return "truncated", 0x0800, len(data)
        total = int.from_bytes(data[2:4], "big")
        return ("truncated", 0x0800, len(data)) if len(data) < total else ("ok", 0x0800, total)
    if version == 6:
        if len(data) < 40:
            return "truncated", 0x86DD, len(data)
        total = 40 + int.from_bytes(data[4:6], "big")
        return ("truncated", 0x86DD, len(data)) if len(data) < total else ("ok", 0x86DD, total)
    return "notip", 0, None


ip_like = st.one_of(
    st.binary(max_size=120),
    st.tuples(st.sampled_from([0x45, 0x46, 0x4F, 0x60, 0x6F]), st.binary(max_size=100)).map(
        lambda t: bytes([t[0]]) + t[1]
    ),
)
frames = st.one_of(
    st.binary(max_size=60),
    st.tuples(
        st.binary(min_size=12, max_size=12),
        st.lists(st.sampled_from([b"\x81\x00", b"\x88\xa8", b"\x91\x00", b"\x08\x00"]), max_size=4),
        st.binary(max_size=6),
    ).map(lambda t: t[0] + b"\0\0".join(t[1]) + t[2]),
)


def exercise_helpers(pkt: Packet) -> None:
    str(pkt)
    assert 0 <= pkt.dscp < 64
    proto, offset, later = pkt.ip_proto()
    assert 0 <= proto < 256 and offset >= 0 and isinstance(later, bool)
    assert offset <= max(len(pkt.body), 60 + 15 * 4)
    icmp = pkt.icmp_type()
    assert icmp == (0, 0, 0) or icmp[0] in (1, 58)


def check_against_model(data: bytes, kind: DevKind) -> None:
    verdict, protocol, body_len = model(data, kind)
    try:
        pkt = parse_packet(data, kind)
    except tuntap.ShortReadError:
        assert verdict == "short"
        return
    except tuntap.NotIPPacketError:
        assert verdict == "notip"
        return
    except tuntap.TruncatedPacketError as exc:
        assert verdict == "truncated"
        assert exc.packet is not None and exc.packet.body == data
        assert exc.packet.protocol == protocol
        exercise_helpers(exc.packet)
        return
    assert verdict == "ok", (verdict, data)
    assert pkt.protocol == protocol and len(pkt.body) == body_len
    exercise_helpers(pkt)


@settings(max_examples=1500, deadline=None)
@given(data=ip_like, kind=st.sampled_from([DevKind.TUN, DevKind.TAP]))
def test_parsing_matches_the_model(data: bytes, kind: DevKind) -> None:
    check_against_model(data, kind)


@settings(max_examples=1000, deadline=None)
@given(data=frames)
def test_tap_frames_match_the_model(data: bytes) -> None:
    check_against_model(data, DevKind.TAP)


@settings(max_examples=1000, deadline=None)
@given(
    body=st.binary(max_size=100),
    protocol=st.integers(0, 0xFFFF),
    kind=st.sampled_from([DevKind.TUN, DevKind.TAP]),
)
def test_helpers_never_raise_on_any_packet(body: bytes, protocol: int, kind: DevKind) -> None:
    exercise_helpers(Packet(body, protocol, kind))


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=80))
def test_memoryview_and_bytes_parse_alike(data: bytes) -> None:
    def outcome(obj: object) -> object:
        try:
            pkt = parse_packet(obj)  # type: ignore[arg-type]
        except DOCUMENTED as exc:
            return type(exc)
        return bytes(pkt.body), pkt.protocol

    assert outcome(data) == outcome(bytearray(data)) == outcome(memoryview(data))
