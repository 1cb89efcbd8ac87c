"""The Go seed's packet rules and helpers, on crafted bytes (no kernel needed)."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from helpers.packets import ethernet, ipv4_udp, ipv6_udp

import tuntap_cffi as tuntap
from tuntap_cffi import DevKind, Packet, parse_packet

V4 = ipv4_udp("192.0.2.1", "198.51.100.7", 1000, 2000, b"hello")
V6 = ipv6_udp("2001:db8::1", "2001:db8::2", 1000, 2000, b"hello")
MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")


def ipv6_with(next_header: int, extension: bytes, payload: bytes = b"") -> bytes:
    body = extension + payload
    return (
        struct.pack("!IHBB", 6 << 28, len(body), next_header, 64)
        + ipaddress.IPv6Address("2001:db8::1").packed
        + ipaddress.IPv6Address("2001:db8::2").packed
        + body
    )


# -- read-side rules ------------------------------------------------------


def test_ipv4_packet() -> None:
    pkt = parse_packet(V4)
    assert pkt.protocol == tuntap.ETH_P_IP == 0x0800
    assert pkt.body == V4 and pkt.kind == DevKind.TUN


def test_ipv6_packet() -> None:
    pkt = parse_packet(V6)
    assert pkt.protocol == tuntap.ETH_P_IPV6 == 0x86DD
    assert pkt.body == V6


def test_empty_is_a_short_read() -> None:
    with pytest.raises(tuntap.ShortReadError, match="truncated /dev/tun read"):
        parse_packet(b"")
    with pytest.raises(tuntap.ErrShortRead):
        parse_packet(b"", DevKind.TAP)


@pytest.mark.parametrize("first", [0x00, 0x12, 0x50, 0x7F, 0xFF])
def test_other_versions_are_not_ip(first: int) -> None:
    with pytest.raises(tuntap.NotIPPacketError, match="packet is not IPv4 or IPv6"):
        parse_packet(bytes([first]) + V4[1:])


@pytest.mark.parametrize(
    "data,protocol",
    [
        (V4[:19], 0x0800),
        (V4[:-1], 0x0800),
        (V6[:39], 0x86DD),
        (V6[:-1], 0x86DD),
        (b"\x45", 0x0800),
    ],
)
def test_truncated_packets_come_back_with_the_error(data: bytes, protocol: int) -> None:
    with pytest.raises(tuntap.TruncatedPacketError, match="IP packet is truncated") as info:
        parse_packet(data)
    assert info.value.packet is not None
    assert info.value.packet.body == data
    assert info.value.packet.protocol == protocol
    assert isinstance(info.value, tuntap.ErrTruncatedPacket)


@pytest.mark.parametrize("packet", [V4, V6])
def test_surplus_bytes_are_cut_to_the_total_length(packet: bytes) -> None:
    assert parse_packet(packet + b"trailing junk").body == packet


def test_buffers_give_zero_copy_views() -> None:
    data = bytearray(V4 + b"xx")
    pkt = parse_packet(data)
    assert isinstance(pkt.body, memoryview)
    data[20] = 0xAB
    assert pkt.body[20] == 0xAB and len(pkt.body) == len(V4)


def test_tap_frame_body_is_the_whole_frame() -> None:
    frame = ethernet(MAC_A, MAC_B, 0x0806, bytes(28))
    pkt = parse_packet(frame, DevKind.TAP)
    assert pkt.protocol == 0x0806 and pkt.body == frame and pkt.kind == DevKind.TAP


def test_tap_protocol_is_found_after_vlan_tags() -> None:
    tags = struct.pack("!HHHH", 0x88A8, 10, 0x8100, 20)
    frame = MAC_A + MAC_B + tags + struct.pack("!H", 0x86DD) + V6
    pkt = parse_packet(frame, DevKind.TAP)
    assert pkt.protocol == 0x86DD
    assert pkt.sip == ipaddress.IPv6Address("2001:db8::1")
    assert pkt.ip_proto() == (17, 14 + 8 + 40, False)


@pytest.mark.parametrize(
    "frame",
    [
        MAC_A,
        MAC_A + MAC_B + b"\x08",
        MAC_A + MAC_B + b"\x81\x00\x00",
        MAC_A + MAC_B + b"\x81\x00\x00\x01",
    ],
)
def test_short_tap_frames_are_truncated(frame: bytes) -> None:
    with pytest.raises(tuntap.TruncatedPacketError, match="Ethernet frame is truncated") as info:
        parse_packet(frame, DevKind.TAP)
    assert info.value.packet is not None and info.value.packet.body == frame


def test_tap_does_not_apply_ip_rules() -> None:
    frame = ethernet(MAC_A, MAC_B, 0x0800, V4[:10])  # a cut IP payload is still a frame
    assert parse_packet(frame, DevKind.TAP).body == frame


# -- helpers ---------------------------------------------------------------


def test_addresses_and_dscp_ipv4() -> None:
    pkt = parse_packet(ipv4_udp("192.0.2.1", "198.51.100.7", 1, 2, b"", tos=46 << 2))
    assert pkt.sip == ipaddress.IPv4Address("192.0.2.1")
    assert pkt.dip == ipaddress.IPv4Address("198.51.100.7")
    assert pkt.dscp == 46
    assert str(pkt) == "192.0.2.1 -> 198.51.100.7, DSCP 46"


def test_addresses_and_dscp_ipv6() -> None:
    data = bytearray(V6)
    data[0:2] = bytes([0x60 | (0xB8 >> 4), (0xB8 & 0x0F) << 4])  # traffic class 0xb8: EF
    pkt = parse_packet(bytes(data))
    assert pkt.dscp == 46
    assert str(pkt) == "2001:db8::1 -> 2001:db8::2, DSCP 46"
    assert str(parse_packet(V6)) == "2001:db8::1 -> 2001:db8::2"


def test_incomplete_headers_give_empty_helpers() -> None:
    pkt = Packet(V4[:12], tuntap.ETH_P_IP)
    assert pkt.sip is None and pkt.dip is None and pkt.dscp == 0
    assert pkt.ip_proto() == (0, 0, False) and pkt.icmp_type() == (0, 0, 0)
    assert str(pkt) == "<nil> -> <nil>"
    assert Packet(b"", 0x0806, DevKind.TAP).sip is None


def test_ip_proto_ipv4_and_fragments() -> None:
    assert parse_packet(V4).ip_proto() == (17, 20, False)
    later = bytearray(V4)
    later[6:8] = struct.pack("!H", 0x2000 | 185)  # MF set, offset 185*8
    assert Packet(bytes(later), 0x0800).ip_proto() == (17, 20, True)
    first = bytearray(V4)
    first[6:8] = struct.pack("!H", 0x2000)  # MF only: the first fragment
    assert Packet(bytes(first), 0x0800).ip_proto() == (17, 20, False)
    options = bytearray(V4)
    options[0] = 0x46
    assert Packet(bytes(options), 0x0800).ip_proto()[1] == 24


def test_ip_proto_walks_ipv6_extension_headers() -> None:
    hop = bytes([43, 0]) + bytes(6)  # hop-by-hop, 8 bytes, next: routing
    routing = bytes([60, 1]) + bytes(14)  # routing, 16 bytes, next: dest options
    dest = bytes([51, 0]) + bytes(6)  # destination options, next: AH
    ah = bytes([6, 1]) + bytes(10)  # AH, 8 + 1*4 = 12 bytes, next: TCP
    pkt = parse_packet(ipv6_with(0, hop + routing + dest + ah, bytes(20)))
    assert pkt.ip_proto() == (6, 40 + 8 + 16 + 8 + 12, False)


def test_ip_proto_ipv6_fragments_and_no_next_header() -> None:
    first = bytes([17, 0, 0, 1]) + bytes(4)  # offset 0, M=1
    assert parse_packet(ipv6_with(44, first, bytes(8))).ip_proto() == (17, 48, False)
    later = bytes([17, 0]) + struct.pack("!H", 100 << 3) + bytes(4)
    assert parse_packet(ipv6_with(44, later, bytes(8))).ip_proto() == (17, 48, True)
    none = parse_packet(ipv6_with(59, bytes(8)))
    assert none.ip_proto() == (0, len(none.body), False)


def test_ip_proto_running_off_the_end() -> None:
    assert parse_packet(ipv6_with(0, bytes([6, 5]) + bytes(6))).ip_proto() == (0, 0, False)
    assert parse_packet(ipv6_with(44, bytes(4))).ip_proto() == (0, 0, False)
    assert parse_packet(ipv6_with(0, b"")).ip_proto() == (0, 0, False)


def test_icmp_type() -> None:
    echo = bytearray(V4)
    echo[9] = 1
    echo[20:24] = bytes([8, 0, 0, 0])
    assert Packet(bytes(echo), 0x0800).icmp_type() == (1, 8, 0)
    echo6 = ipv6_with(58, bytes([128, 0, 0, 0]) + bytes(4))
    assert parse_packet(echo6).icmp_type() == (58, 128, 0)
    assert parse_packet(ipv6_with(58, bytes([128, 0, 0]))).icmp_type() == (0, 0, 0)
    assert parse_packet(V4).icmp_type() == (0, 0, 0)
    later = bytearray(echo)
    later[7] = 1
    assert Packet(bytes(later), 0x0800).icmp_type() == (0, 0, 0)


def test_tap_helpers_look_past_the_ethernet_header() -> None:
    pkt = parse_packet(ethernet(MAC_A, MAC_B, 0x0800, V4), DevKind.TAP)
    assert pkt.sip == ipaddress.IPv4Address("192.0.2.1")
    assert pkt.ip_proto() == (17, 34, False)
    assert bytes(pkt.body[34:36]) == struct.pack("!H", 1000)
    arp = parse_packet(ethernet(MAC_A, MAC_B, 0x0806, bytes(28)), DevKind.TAP)
    assert arp.sip is None and arp.ip_proto() == (0, 0, False)


def test_packet_value_behaviour() -> None:
    a = Packet(V4, 0x0800)
    assert a == Packet(bytearray(V4), 0x0800)
    assert a != Packet(V4, 0x0800, DevKind.TAP)
    assert bytes(a) == V4 and len(a) == len(V4)
    assert "protocol=0x0800" in repr(a) and "TUN" in repr(a)
    with pytest.raises(TypeError):
        hash(a)


# -- bad input -------------------------------------------------------------


@pytest.mark.parametrize("kind", [2, -1, "tun", None, 1.0, True])
def test_parse_rejects_bad_kinds(kind: object) -> None:
    with pytest.raises(ValueError, match="kind must be"):
        parse_packet(V4, kind)  # type: ignore[arg-type]


@pytest.mark.parametrize("data", ["text", 42, None, [0x45]])
def test_parse_rejects_non_bytes(data: object) -> None:
    with pytest.raises(TypeError):
        parse_packet(data)  # type: ignore[arg-type]


def test_aliases_are_the_classes() -> None:
    assert tuntap.ErrJumboPacket is tuntap.JumboPacketError
    assert tuntap.ErrNotIPPacket is tuntap.NotIPPacketError
    assert tuntap.DevTun is DevKind.TUN and tuntap.DevTap is DevKind.TAP
    for cls in (
        tuntap.ShortReadError,
        tuntap.JumboPacketError,
        tuntap.NotIPPacketError,
        tuntap.TruncatedPacketError,
        tuntap.InterfaceClosedError,
    ):
        assert issubclass(cls, tuntap.TunTapError)
