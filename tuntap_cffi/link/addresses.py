"""IP addresses with their prefix (and peer) and MAC addresses: parsed from what the
configuration calls take, built from what the kernel reports.

Pure functions over Python values, so every form is checked (and refused
with a clear ``ValueError`` or ``TypeError``) before any request reaches
the kernel.

The addresses ``addresses()`` returns are ``ip_interface`` values that also
name a peer. A point-to-point address (``add_address("192.0.2.1/32",
peer="192.0.2.2")``) is the interface's own address (IFA_LOCAL) and the other
end's (IFA_ADDRESS); its prefix length is the kernel's, which applies to the
peer (the network reachable through it). ``IPv4PeerInterface`` and
``IPv6PeerInterface`` are ``IPv4Interface`` and ``IPv6Interface`` with a
``peer`` attribute, None for an ordinary address, so code that compares
entries to ``ipaddress.ip_interface`` objects keeps working: an entry without a
peer equals the plain interface value, one with a peer equals only an entry
with the same peer.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Union

__all__ = [
    "AddressLike",
    "IPAddress",
    "IPInterface",
    "IPNetwork",
    "IPv4PeerInterface",
    "IPv6PeerInterface",
    "PeerInterface",
    "SubnetLike",
    "check_flag",
    "check_int",
    "format_mac",
    "parse_address",
    "parse_ip",
    "parse_mac",
    "peer_interface",
]

IPInterface = Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]
IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
AddressLike = Union[str, bytes, bytearray, IPAddress, IPInterface]
SubnetLike = Union[int, str, bytes, bytearray, IPNetwork, None]

_MAC_RE = re.compile(r"^[0-9a-fA-F]{1,2}([:-])(?:[0-9a-fA-F]{1,2}\1){4}[0-9a-fA-F]{1,2}$")


def _mask_prefix(mask: bytes, operation: str) -> int:
    """The prefix length of a contiguous netmask given as bytes."""
    value = int.from_bytes(mask, "big")
    bits = len(mask) * 8
    prefix = bin(value).count("1")
    if value != ((1 << bits) - 1) ^ ((1 << (bits - prefix)) - 1):
        raise ValueError(f"{operation}: netmask {mask.hex()} is not contiguous")
    return prefix


def _prefix_of(subnet: object, address: IPAddress, operation: str) -> int:
    """The prefix length a Go-style ``subnet`` (network, prefix or mask) gives ``address``."""
    max_prefix = address.max_prefixlen
    if isinstance(subnet, bool):
        raise TypeError(f"{operation}: subnet must be a network, prefix length or mask, not bool")
    if isinstance(subnet, int):
        if not 0 <= subnet <= max_prefix:
            raise ValueError(f"{operation}: prefix length {subnet} is not in 0..{max_prefix}")
        return subnet
    if isinstance(subnet, (bytes, bytearray)):
        if len(subnet) * 8 != max_prefix:
            raise ValueError(
                f"{operation}: a {len(subnet)}-byte mask does not fit IPv{address.version} "
                f"address {address}"
            )
        return _mask_prefix(bytes(subnet), operation)
    if isinstance(subnet, str):
        text = subnet.strip()
        if text.isdigit():
            return _prefix_of(int(text), address, operation)
        if "/" not in text:
            try:
                mask = ipaddress.ip_address(text)
            except ValueError:
                raise ValueError(f"{operation}: bad subnet or mask {subnet!r}") from None
            return _prefix_of(mask.packed, address, operation)
        try:
            subnet = ipaddress.ip_network(text, strict=False)
        except ValueError as exc:
            raise ValueError(f"{operation}: bad subnet {subnet!r}: {exc}") from None
    if isinstance(subnet, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        if subnet.version != address.version:
            raise ValueError(
                f"{operation}: subnet {subnet} is IPv{subnet.version}, address {address} "
                f"is IPv{address.version}"
            )
        if address not in subnet:
            raise ValueError(f"{operation}: address {address} is not inside subnet {subnet}")
        return subnet.prefixlen
    raise TypeError(
        f"{operation}: subnet must be an ip_network, prefix length or mask, "
        f"not {type(subnet).__name__}"
    )


def _address_of(ip: object, operation: str) -> IPAddress | IPInterface:
    """An address (no prefix given) or an interface (prefix given) from any accepted form."""
    if isinstance(ip, (ipaddress.IPv4Interface, ipaddress.IPv6Interface)):
        return ip
    if isinstance(ip, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return ip
    if isinstance(ip, (bytes, bytearray)):
        if len(ip) not in (4, 16):
            raise ValueError(f"{operation}: a raw address has 4 or 16 bytes, not {len(ip)}")
        return ipaddress.ip_address(bytes(ip))
    if isinstance(ip, str):
        try:
            return ipaddress.ip_interface(ip) if "/" in ip else ipaddress.ip_address(ip)
        except ValueError as exc:
            raise ValueError(f"{operation}: bad address {ip!r}: {exc}") from None
    raise TypeError(
        f"{operation}: address must be a str, bytes or ipaddress object, not {type(ip).__name__}"
    )


def parse_address(ip: object, subnet: object, operation: str) -> tuple[IPInterface, bool]:
    """Turn Go-style ``(ip, subnet)`` or Python-style ``"a/len"`` into an interface address.

    Returns (the address with its prefix, whether a prefix was given); with
    no prefix it is a host route (/32, /128).
    """
    value = _address_of(ip, operation)
    if isinstance(value, (ipaddress.IPv4Interface, ipaddress.IPv6Interface)):
        if subnet is not None:
            raise ValueError(f"{operation}: {value} already has a prefix; give no subnet")
        result, given = value, True
    elif subnet is None:
        result, given = ipaddress.ip_interface(value), False
    else:
        result = ipaddress.ip_interface((value, _prefix_of(subnet, value, operation)))
        given = True
    if result.ip.is_unspecified or result.ip.is_multicast:
        raise ValueError(f"{operation}: {result.ip} cannot be an interface address")
    return result, given


def parse_ip(value: object, what: str, where: str) -> IPAddress:
    """One unicast address (a peer, a gateway) from a str, 4 or 16 bytes, or an ``ip_address``.

    ``what`` names it and ``where`` the call in the messages.
    """
    if isinstance(value, (bytes, bytearray)):
        if len(value) not in (4, 16):
            raise ValueError(f"{where}: a raw {what} has 4 or 16 bytes, not {len(value)}")
        value = bytes(value)
    elif isinstance(value, str):
        value = value.strip()
    elif not isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        raise TypeError(
            f"{where}: the {what} must be a str, bytes or ip_address, not {type(value).__name__}"
        )
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{where}: the {what} {value!r} is not an IP address") from None
    if address.is_unspecified or address.is_multicast:
        raise ValueError(f"{where}: {address} cannot be a {what}")
    return address


def parse_mac(mac: object, operation: str) -> bytes:
    """A unicast Ethernet address from ``"02:00:5e:00:53:01"`` (or ``-``) or 6 bytes."""
    if isinstance(mac, str):
        if not _MAC_RE.match(mac):
            raise ValueError(f"{operation}: bad MAC address {mac!r} (want 6 hex octets)")
        raw = bytes(int(part, 16) for part in re.split("[:-]", mac))
    elif isinstance(mac, (bytes, bytearray)):
        if len(mac) != 6:
            raise ValueError(f"{operation}: a MAC address has 6 bytes, not {len(mac)}")
        raw = bytes(mac)
    else:
        raise TypeError(
            f"{operation}: MAC address must be a str or bytes, not {type(mac).__name__}"
        )
    if raw[0] & 1:
        raise ValueError(f"{operation}: {format_mac(raw)} is a multicast address")
    if raw == bytes(6):
        raise ValueError(f"{operation}: the all-zero MAC address is not allowed")
    return raw


def format_mac(raw: bytes) -> str:
    """``aa:bb:cc:dd:ee:ff``, as ip(8) prints it."""
    return ":".join(f"{octet:02x}" for octet in raw)


def check_flag(value: object, operation: str) -> bool:
    """``value`` if it is a bool; a TypeError naming ``operation`` if not."""
    if not isinstance(value, bool):
        raise TypeError(f"{operation} takes True or False, not {value!r}")
    return value


def check_int(value: object, operation: str, what: str) -> int:
    """``value`` if it is an int (not a bool); a TypeError naming ``what`` if not."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{operation}: {what} must be an int, not {type(value).__name__}")
    return value


class _WithPeer:
    """What both families add to their ``ip_interface`` class: the peer in
    equality, hashing, repr and pickling (placed before the ipaddress class)."""

    peer: IPAddress | None

    def __eq__(self, other: object) -> bool:
        equal = super().__eq__(other)
        if equal is not True:
            return equal
        return self.peer == getattr(other, "peer", None)

    def __hash__(self) -> int:
        base = super().__hash__()
        return base if self.peer is None else hash((base, self.peer))

    def __repr__(self) -> str:
        peer = "" if self.peer is None else f", peer={str(self.peer)!r}"
        return f"{type(self).__name__}({str(self)!r}{peer})"

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (str(self), self.peer)


class IPv4PeerInterface(_WithPeer, ipaddress.IPv4Interface):
    """An IPv4 address of an interface with its prefix, and its peer (None when none)."""

    peer: ipaddress.IPv4Address | None

    def __init__(self, address: Any, peer: ipaddress.IPv4Address | None = None) -> None:
        super().__init__(address)
        self.peer = peer


class IPv6PeerInterface(_WithPeer, ipaddress.IPv6Interface):
    """An IPv6 address of an interface with its prefix, and its peer (None when none)."""

    peer: ipaddress.IPv6Address | None

    def __init__(self, address: Any, peer: ipaddress.IPv6Address | None = None) -> None:
        super().__init__(address)
        self.peer = peer


PeerInterface = Union[IPv4PeerInterface, IPv6PeerInterface]


def peer_interface(address: bytes, prefixlen: int, peer: bytes | None) -> PeerInterface:
    """The entry for raw ``address`` (4 or 16 bytes) with ``prefixlen`` and raw ``peer``."""
    own = ipaddress.ip_address(address)
    other: IPAddress | None = None if peer is None else ipaddress.ip_address(peer)
    if isinstance(own, ipaddress.IPv4Address):
        assert other is None or isinstance(other, ipaddress.IPv4Address)
        return IPv4PeerInterface((own, prefixlen), other)
    assert other is None or isinstance(other, ipaddress.IPv6Address)
    return IPv6PeerInterface((own, prefixlen), other)
