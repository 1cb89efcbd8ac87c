"""Packets built and checked independently of the library (struct, or dpkt): UDP over
IPv4 and IPv6, TCP segments, Ethernet frames, super-packets as the kernel hands them
over, and a checker that recomputes every length and checksum.

``tcp_packet`` and ``udp_packet`` go from one side of the forward path
(``helpers.forward``) to the other unless told otherwise.
"""

from __future__ import annotations

import socket
import struct

import dpkt

from helpers.forward import PEER6_IN, PEER6_OUT, PEER_IN, PEER_OUT

# The addresses of super_packet's packets.
SRC4, DST4 = socket.inet_aton("192.0.2.1"), socket.inet_aton("192.0.2.2")
SRC6 = socket.inet_pton(socket.AF_INET6, "2001:db8::1")
DST6 = socket.inet_pton(socket.AF_INET6, "2001:db8::2")


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4_udp(
    src: str, dst: str, sport: int, dport: int, payload: bytes, ident: int = 1, tos: int = 0
) -> bytes:
    """A complete IPv4/UDP packet with correct header and UDP checksums."""
    udp_len = 8 + len(payload)
    saddr, daddr = socket.inet_aton(src), socket.inet_aton(dst)
    pseudo = saddr + daddr + struct.pack("!BBH", 0, 17, udp_len)
    udp = struct.pack("!HHHH", sport, dport, udp_len, 0) + payload
    csum = checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", csum) + udp[8:]
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, tos, 20 + udp_len, ident, 0, 64, 17, 0, saddr, daddr
    )
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + udp


def ipv6_udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    udp_len = 8 + len(payload)
    saddr = socket.inet_pton(socket.AF_INET6, src)
    daddr = socket.inet_pton(socket.AF_INET6, dst)
    pseudo = saddr + daddr + struct.pack("!I3xB", udp_len, 17)
    udp = struct.pack("!HHHH", sport, dport, udp_len, 0) + payload
    csum = checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", csum) + udp[8:]
    header = struct.pack("!IHBB16s16s", 6 << 28, udp_len, 17, 64, saddr, daddr)
    return header + udp


def ethernet(dst: bytes, src: bytes, ethertype: int, payload: bytes) -> bytes:
    return dst + src + struct.pack("!H", ethertype) + payload


def mac_bytes(mac: str) -> bytes:
    return bytes(int(part, 16) for part in mac.split(":"))


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


def flows(packets: list[bytes]) -> dict[bytes, list[bytes]]:
    """Packets grouped by flow (addresses and ports), in order within each flow."""
    out: dict[bytes, list[bytes]] = {}
    for packet in packets:
        v6 = packet[0] >> 4 == 6
        l3 = 40 if v6 else (packet[0] & 0xF) * 4
        key = (packet[8:40] if v6 else packet[12:20]) + packet[l3 : l3 + 4]
        out.setdefault(key, []).append(packet)
    return out


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


def interleaved(v6: bool, flows_: int, per_flow: int, size: int = 100) -> list[bytes]:
    """``per_flow`` contiguous segments of each of ``flows_`` TCP flows, taking turns."""
    return [
        tcp_packet(v6, 1 + k * size, bytes([65 + f]) * size, sport=4000 + f, ip_id=10 + k)
        for k in range(per_flow)
        for f in range(flows_)
    ]


# virtio_net_hdr.gso_type values (linux/virtio_net.h).
GSO_NONE, GSO_TCPV4, GSO_UDP, GSO_TCPV6, GSO_UDP_L4 = 0, 1, 3, 4, 5


def vnet_header(
    gso_type: int, hdr_len: int, gso_size: int, csum_start: int, csum_offset: int, flags: int = 1
) -> bytes:
    """A struct virtio_net_hdr (little-endian, as the kernel's on x86); flags 1: NEEDS_CSUM."""
    return struct.pack("<BBHHHH", flags, gso_type, hdr_len, gso_size, csum_start, csum_offset)


def super_packet(
    v6: bool, udp: bool, payload: bytes, flags: int = 0x18, options: bytes = b"", ip_id: int = 7
) -> tuple[bytes, int]:
    """An IP packet with a TCP or UDP header (checksum left as the kernel would: partial)."""
    if udp:
        l4 = struct.pack("!HHHH", 4000, 5000, 8 + len(payload), 0)
    else:
        doff = (20 + len(options)) // 4
        l4 = struct.pack("!HHIIBBHHH", 4000, 5000, 1000, 2000, doff << 4, flags, 512, 0, 0)
        l4 += options
    body = l4 + payload
    if v6:
        head = struct.pack("!IHBB", 6 << 28, len(body), 17 if udp else 6, 64) + SRC6 + DST6
    else:
        head = struct.pack(
            "!BBHHHBBH", 0x45, 0, 20 + len(body), ip_id, 0x4000, 64, 17 if udp else 6, 0
        )
        head += SRC4 + DST4
        head = head[:10] + struct.pack("!H", dpkt.in_cksum(head)) + head[12:]
    return head + body, len(head) + len(l4)


def check_packet(raw: bytes) -> dpkt.Packet:
    """Parse with dpkt and recompute every length and checksum independently."""
    if raw[0] >> 4 == 4:
        packet = dpkt.ip.IP(raw)
        hl = packet.hl * 4
        assert packet.len == len(raw)
        assert dpkt.in_cksum(raw[:hl]) == 0, "IPv4 header checksum"
        l4 = raw[hl:]
        pseudo = packet.src + packet.dst + struct.pack("!BBH", 0, packet.p, len(l4))
        proto = packet.p
    else:
        packet = dpkt.ip6.IP6(raw)
        assert packet.plen == len(raw) - 40
        l4 = raw[40:]
        pseudo = packet.src + packet.dst + struct.pack("!IxxxB", len(l4), packet.nxt)
        proto = packet.nxt
    if proto == 17:
        assert struct.unpack("!H", l4[4:6])[0] == len(l4), "UDP length"
        assert l4[6:8] != b"\0\0"
    assert dpkt.in_cksum(pseudo + l4) == 0, "L4 checksum"
    return packet.data


def tcp4(
    src: bytes,
    dst: bytes,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    payload: bytes,
    window: int = 65535,
    ip_id: int = 0,
) -> bytes:
    """A TCP/IPv4 packet with correct checksums (dpkt computes them).

    Segments meant to be coalesced need IDs that follow each other (``ip_id``),
    as a TCP sender's do: only those does the kernel merge."""
    tcp = dpkt.tcp.TCP(
        sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, win=window, data=payload
    )
    if flags & 0x02:
        tcp.opts = b"\x02\x04\x05\xb4"  # MSS 1460
        tcp.off = 6
    packet = dpkt.ip.IP(src=src, dst=dst, p=6, ttl=64, df=1, id=ip_id, data=tcp)
    packet.len = 20 + len(bytes(tcp))
    return bytes(packet)
