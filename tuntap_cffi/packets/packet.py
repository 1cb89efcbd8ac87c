"""Packets: the ``Packet`` value, its Go-seed helpers, and ``parse_packet``.

The read-side rules (what is an IP packet, where it ends, when it is
truncated) live in C (``csrc/classify.c``) so that single reads, batches and
``parse_packet`` share one bounds-checked implementation. The helpers here
only look at bytes a packet already has; they never raise on short input.
"""

from __future__ import annotations

import enum
import ipaddress
from typing import Union

from .. import _lowlevel
from ..errors import NotIPPacketError, ShortReadError, TruncatedPacketError

__all__ = [
    "ETH_P_IP",
    "ETH_P_IPV6",
    "DevKind",
    "DevTap",
    "DevTun",
    "Packet",
    "parse_packet",
]

ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
ETH_HEADER_LEN = 14
VLAN_TAG_TYPES = (0x8100, 0x88A8, 0x9100)
VLAN_TAG_LEN = 4
IPPROTO_ICMP = 1
IPPROTO_ICMPV6 = 58

Body = Union[bytes, bytearray, memoryview]
IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]


class DevKind(enum.IntEnum):
    """What a device carries. Go: DevKind."""

    TUN = _lowlevel.KIND_TUN  #: layer-3 packets (IPv4, IPv6)
    TAP = _lowlevel.KIND_TAP  #: Ethernet II frames


DevTun = DevKind.TUN
DevTap = DevKind.TAP

_IPV6_CHAINED = (0, 43, 60)  # hop-by-hop, routing, destination options
_IPV6_FRAGMENT = 44
_IPV6_AH = 51
_IPV6_NO_NEXT = 59


class Packet:
    """One packet: ``body`` bytes, ``protocol`` EtherType, and the device ``kind``.

    Go: Packet. For TUN the body is the IP packet; for TAP the whole Ethernet
    frame, and the helpers look past the Ethernet header and VLAN tags.
    Offsets returned by the helpers always index into ``body``.
    """

    __slots__ = ("body", "kind", "protocol")

    def __init__(self, body: Body, protocol: int, kind: DevKind = DevKind.TUN) -> None:
        self.body = body
        self.protocol = protocol
        self.kind = kind

    def __repr__(self) -> str:
        return (
            f"Packet(<{len(self.body)} bytes>, protocol=0x{self.protocol:04x}, "
            f"kind={DevKind(self.kind).name})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Packet):
            return NotImplemented
        return (
            self.protocol == other.protocol
            and self.kind == other.kind
            and bytes(self.body) == bytes(other.body)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable bodies: not hashable

    def __bytes__(self) -> bytes:
        return bytes(self.body)

    def __len__(self) -> int:
        return len(self.body)

    def _l3(self) -> tuple[int, int]:
        """(offset of the layer-3 header in body, its EtherType); -1 if incomplete."""
        if self.kind == DevKind.TUN:
            return 0, self.protocol
        body = self.body
        if len(body) < ETH_HEADER_LEN:
            return -1, 0
        off = 12
        ethertype = body[off] << 8 | body[off + 1]
        while ethertype in VLAN_TAG_TYPES:
            off += VLAN_TAG_LEN
            if off + 2 > len(body):
                return -1, 0
            ethertype = body[off] << 8 | body[off + 1]
        return off + 2, ethertype

    def _address(self, v4_at: int, v6_at: int) -> IPAddress | None:
        off, ethertype = self._l3()
        body = self.body
        if off < 0:
            return None
        if ethertype == ETH_P_IP and len(body) >= off + 20:
            return ipaddress.IPv4Address(bytes(body[off + v4_at : off + v4_at + 4]))
        if ethertype == ETH_P_IPV6 and len(body) >= off + 40:
            return ipaddress.IPv6Address(bytes(body[off + v6_at : off + v6_at + 16]))
        return None

    @property
    def sip(self) -> IPAddress | None:
        """Source address, or None when the IP header is incomplete. Go: SIP."""
        return self._address(12, 8)

    @property
    def dip(self) -> IPAddress | None:
        """Destination address, or None when the IP header is incomplete. Go: DIP."""
        return self._address(16, 24)

    @property
    def dscp(self) -> int:
        """Differentiated Services Code Point, 0 when the header is incomplete. Go: DSCP."""
        off, ethertype = self._l3()
        body = self.body
        if off < 0:
            return 0
        if ethertype == ETH_P_IP and len(body) >= off + 20:
            return int(body[off + 1] >> 2)
        if ethertype == ETH_P_IPV6 and len(body) >= off + 40:
            traffic_class = (body[off] & 0x0F) << 4 | body[off + 1] >> 4
            return traffic_class >> 2
        return 0

    def ip_proto(self) -> tuple[int, int, bool]:
        """(upper-layer protocol, its offset in body, is a later fragment). Go: IPProto.

        IPv6 extension headers are walked; a packet that runs off its end
        gives (0, 0, False), "no next header" gives (0, len(body), False).
        """
        off, ethertype = self._l3()
        body = self.body
        if off < 0:
            return 0, 0, False
        if ethertype == ETH_P_IP:
            if len(body) < off + 20:
                return 0, 0, False
            fragment_offset = (body[off + 6] << 8 | body[off + 7]) & 0x1FFF
            return body[off + 9], off + (body[off] & 0x0F) * 4, fragment_offset != 0
        if ethertype != ETH_P_IPV6 or len(body) < off + 40:
            return 0, 0, False
        proto = body[off + 6]
        off += 40
        while True:
            if proto in _IPV6_CHAINED or proto == _IPV6_AH:
                if len(body) < off + 2:
                    return 0, 0, False
                unit = 4 if proto == _IPV6_AH else 8
                proto, off = body[off], off + 8 + body[off + 1] * unit
            elif proto == _IPV6_FRAGMENT:
                if len(body) < off + 8:
                    return 0, 0, False
                proto = body[off]
                fragment_offset = (body[off + 2] << 8 | body[off + 3]) & 0xFFF8
                off += 8
                if fragment_offset != 0:
                    return proto, off, True
            elif proto == _IPV6_NO_NEXT:
                return 0, len(body), False
            else:
                break
        if off > len(body):
            return 0, 0, False
        return proto, off, False

    def icmp_type(self) -> tuple[int, int, int]:
        """(1 or 58, ICMP type, code) for ICMPv4/ICMPv6, else (0, 0, 0). Go: ICMPType."""
        proto, off, later_fragment = self.ip_proto()
        if later_fragment or proto not in (IPPROTO_ICMP, IPPROTO_ICMPV6):
            return 0, 0, 0
        if len(self.body) < off + 4:
            return 0, 0, 0
        return proto, self.body[off], self.body[off + 1]

    def __str__(self) -> str:
        """``"<sip> -> <dip>"``, plus ``", DSCP <n>"`` when non-zero. Go: String."""
        sip, dip = self.sip, self.dip
        text = f"{'<nil>' if sip is None else sip} -> {'<nil>' if dip is None else dip}"
        dscp = self.dscp
        return f"{text}, DSCP {dscp}" if dscp else text


def packet_from_verdict(
    body: Body, verdict: int, protocol: int, body_len: int, kind: DevKind
) -> Packet:
    """Build the Packet for a classification, or raise the seed's error for it."""
    if verdict == _lowlevel.PKT_OK:
        if body_len != len(body):
            body = body[:body_len]
        return Packet(body, protocol, kind)
    if verdict == _lowlevel.PKT_TRUNCATED:
        message = "IP packet is truncated" if kind == DevKind.TUN else "Ethernet frame is truncated"
        raise TruncatedPacketError(message, Packet(body, protocol, kind))
    if verdict == _lowlevel.PKT_SHORT_READ:
        raise ShortReadError()
    raise NotIPPacketError()


def byte_view(obj: object, operation: str) -> memoryview:
    """A flat byte view of a bytes-like object; TypeError naming the call otherwise."""
    try:
        return memoryview(obj).cast("B")  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"{operation} takes a bytes-like object, not {type(obj).__name__}"
        ) from None


def as_kind(kind: object) -> DevKind:
    """Validate a device kind: a DevKind (or its int value); ValueError otherwise."""
    if isinstance(kind, bool) or not isinstance(kind, int):
        raise ValueError(f"kind must be DevKind.TUN or DevKind.TAP, not {kind!r}")
    try:
        return DevKind(kind)
    except ValueError:
        raise ValueError(f"kind must be DevKind.TUN or DevKind.TAP, not {kind!r}") from None


def parse_packet(data: Body, kind: DevKind = DevKind.TUN) -> Packet:
    """Apply the read-side rules of ``read_packet`` to any bytes.

    The body of the result is ``data`` cut to the packet's own length (a
    ``bytes`` stays ``bytes``; other buffers give a zero-copy ``memoryview``).

    Raises:
        ShortReadError: ``data`` is empty.
        TruncatedPacketError: shorter than its header or length field says
            (``.packet`` holds it).
        NotIPPacketError: a TUN packet that is neither IPv4 nor IPv6.
        TypeError: ``data`` is not a bytes-like object.
    """
    kind = as_kind(kind)
    if not isinstance(data, bytes):
        data = byte_view(data, "parse_packet")
    verdict, protocol, body_len = _lowlevel.classify(data, kind)
    return packet_from_verdict(data, verdict, protocol, body_len, kind)
