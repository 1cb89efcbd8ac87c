"""Parsing what the configuration calls take: IP addresses with their prefix, MAC addresses.

Pure functions over Python values, so every form is checked (and refused
with a clear ``ValueError`` or ``TypeError``) before any request reaches
the kernel.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Union

__all__ = [
    "AddressLike",
    "IPAddress",
    "IPInterface",
    "IPNetwork",
    "SubnetLike",
    "check_flag",
    "check_int",
    "format_mac",
    "parse_address",
    "parse_ip",
    "parse_mac",
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
