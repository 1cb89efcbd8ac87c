"""A device's IPv4 address, MTU, flags and hardware address as the ``SIOC[GS]IF*``
ioctls see them, read and changed over rtnetlink.

python-pytun's properties are those ioctls; ``tuntap_cffi.pytun`` answers with
these functions instead, through the library's netlink, with the ioctls'
rules (``net/ipv4/devinet.c``):

- the device's address is the first IPv4 address (in the kernel's order)
  labelled with the device's name; without one, reading it (or changing its
  netmask or peer) is ``EADDRNOTAVAIL``;
- setting the address replaces that one: on a point-to-point device as a
  /32, on another with the prefix of its address class (and the broadcast
  address on a broadcast device); 0.0.0.0 removes it; an address of no class
  (multicast) is ``EINVAL``;
- setting the netmask keeps the address (a non-contiguous mask is
  ``EINVAL``) and moves a broadcast address that followed the old mask;
  setting the peer (``dstaddr``) keeps the rest.

A change is one RTM_DELADDR and one RTM_NEWADDR, as the ioctl is a delete and
an insert inside the kernel. Every call looks the device up by name, on a
socket of its own, as each ioctl does: it acts on whatever device has that
name now (``ENODEV`` when none).
"""

from __future__ import annotations

import errno
import socket

from .. import _lowlevel
from ..errors import os_error
from .netlink import Netlink

__all__ = [
    "get_addr",
    "get_dstaddr",
    "get_hwaddr",
    "get_mtu",
    "get_netmask",
    "set_addr",
    "set_dstaddr",
    "set_hwaddr",
    "set_mtu",
    "set_netmask",
    "set_up",
]

IFF_BROADCAST = 0x2
IFF_POINTOPOINT = 0x10
RT_SCOPE_HOST = 254
ETH_ALEN = 6
_ALL = 0xFFFFFFFF
_ZERO = bytes(4)


def _u32(address: bytes) -> int:
    return int.from_bytes(address, "big")


def _bytes(value: int) -> bytes:
    return (value & _ALL).to_bytes(4, "big")


def _mask(prefixlen: int) -> int:
    return (_ALL << (32 - prefixlen)) & _ALL


def abc_len(address: bytes) -> int:
    """The prefix of an address's class (inet_abc_len): 8, 16, 24, 32 (class E),
    0 for 0.0.0.0/8 and 255.255.255.255, -1 for multicast."""
    value = _u32(address)
    if value >> 24 == 0 or value == _ALL:
        return 0
    if value >> 31 == 0:
        return 8
    if value >> 30 == 0b10:
        return 16
    if value >> 29 == 0b110:
        return 24
    if value >> 28 == 0b1111:
        return 32
    return -1


def mask_ok(mask: bytes) -> bool:
    """Whether a netmask is contiguous (bad_mask(mask, 0) is false)."""
    host = ~_u32(mask) & _ALL
    return host & (host + 1) == 0


def _socket(name: str, operation: str) -> Netlink:
    return Netlink(name, operation)


def _device(nl: Netlink, operation: str) -> _lowlevel.LinkInfo:
    """The device named as ``nl``'s interface (ENODEV when there is none)."""
    return nl.link(0, operation)


def _first(nl: Netlink, link: _lowlevel.LinkInfo, operation: str) -> _lowlevel.AddressEntry | None:
    """The device's address as the ioctls pick it: the first IPv4 one with its label."""
    for entry in nl.addresses(link.ifindex, operation):
        if entry.family == socket.AF_INET and entry.label == link.name:
            return entry
    return None


def _required(nl: Netlink, link: _lowlevel.LinkInfo, operation: str) -> _lowlevel.AddressEntry:
    entry = _first(nl, link, operation)
    if entry is None:
        raise os_error(errno.EADDRNOTAVAIL, operation, link.name, hint="it has no IPv4 address")
    return entry


def _get(name: str, operation: str) -> _lowlevel.AddressEntry:
    with _socket(name, operation) as nl:
        return _required(nl, _device(nl, operation), operation)


def get_addr(name: str) -> bytes:
    """SIOCGIFADDR: the device's own IPv4 address."""
    return _get(name, "SIOCGIFADDR").address


def get_dstaddr(name: str) -> bytes:
    """SIOCGIFDSTADDR: the peer of the address (the address itself when it has none)."""
    entry = _get(name, "SIOCGIFDSTADDR")
    return entry.address if entry.peer is None else entry.peer


def get_netmask(name: str) -> bytes:
    """SIOCGIFNETMASK: the address's netmask."""
    return _bytes(_mask(_get(name, "SIOCGIFNETMASK").prefixlen))


def _replace(
    nl: Netlink,
    link: _lowlevel.LinkInfo,
    old: _lowlevel.AddressEntry | None,
    new: _lowlevel.AddressEntry | None,
    operation: str,
) -> None:
    """Delete ``old`` (when there is one), then add ``new`` (when there is one)."""
    if old is not None:
        nl.change_entry(False, link.ifindex, old, operation)
    if new is not None:
        nl.change_entry(True, link.ifindex, new, operation)


def set_addr(name: str, address: bytes) -> None:
    """SIOCSIFADDR: make ``address`` (4 bytes) the device's address, as the ioctl does."""
    operation = "SIOCSIFADDR"
    with _socket(name, operation) as nl:
        link = _device(nl, operation)
        prefixlen = abc_len(address)
        if prefixlen < 0:
            raise os_error(errno.EINVAL, operation, name, hint="not a unicast address")
        old = _first(nl, link, operation)
        if old is not None and old.address == address:
            return
        if address == _ZERO:  # the kernel frees an address of 0.0.0.0 at once
            _replace(nl, link, old, None, operation)
            return
        broadcast = None
        if link.flags & IFF_POINTOPOINT:
            prefixlen = 32
        elif link.flags & IFF_BROADCAST and prefixlen < 31:
            broadcast = _bytes(_u32(address) | ~_mask(prefixlen))
        new = _lowlevel.AddressEntry(
            socket.AF_INET,
            address,
            prefixlen,
            0,
            RT_SCOPE_HOST if address[0] == 127 else 0,
            None,
            broadcast,
            link.name if old is None else old.label,
        )
        _replace(nl, link, old, new, operation)


def set_netmask(name: str, mask: bytes) -> None:
    """SIOCSIFNETMASK: give the device's address the netmask ``mask`` (4 bytes)."""
    operation = "SIOCSIFNETMASK"
    with _socket(name, operation) as nl:
        link = _device(nl, operation)
        old = _required(nl, link, operation)
        if not mask_ok(mask):
            raise os_error(errno.EINVAL, operation, name, hint="the netmask is not contiguous")
        old_mask = _mask(old.prefixlen)
        if _u32(mask) == old_mask:
            return
        broadcast = old.broadcast
        prefixlen = bin(_u32(mask)).count("1")
        local = _u32(old.address)
        follows = _u32(broadcast or _ZERO) == (local | ~old_mask) & _ALL
        if link.flags & IFF_BROADCAST and prefixlen < 31 and follows:
            broadcast = _bytes(local | ~_u32(mask))
        _replace(nl, link, old, old._replace(prefixlen=prefixlen, broadcast=broadcast), operation)


def set_dstaddr(name: str, peer: bytes) -> None:
    """SIOCSIFDSTADDR: make ``peer`` (4 bytes) the other end of the device's address."""
    operation = "SIOCSIFDSTADDR"
    with _socket(name, operation) as nl:
        link = _device(nl, operation)
        old = _required(nl, link, operation)
        if (old.address if old.peer is None else old.peer) == peer:
            return
        if abc_len(peer) < 0:
            raise os_error(errno.EINVAL, operation, name, hint="not a unicast address")
        new = old._replace(peer=None if peer == old.address else peer)
        _replace(nl, link, old, new, operation)


def get_mtu(name: str) -> int:
    """SIOCGIFMTU."""
    with _socket(name, "SIOCGIFMTU") as nl:
        return _device(nl, "SIOCGIFMTU").mtu


def set_mtu(name: str, mtu: int) -> None:
    """SIOCSIFMTU (the kernel judges the value: EINVAL out of the device's range)."""
    operation = "SIOCSIFMTU"
    with _socket(name, operation) as nl:
        link = _device(nl, operation)
        nl.set_link(link.ifindex, operation, mtu=mtu)


def get_hwaddr(name: str) -> bytes:
    """SIOCGIFHWADDR: the first 6 bytes of the hardware address (zeros when it has none)."""
    with _socket(name, "SIOCGIFHWADDR") as nl:
        hwaddr = _device(nl, "SIOCGIFHWADDR").hwaddr
    return (hwaddr + bytes(ETH_ALEN))[:ETH_ALEN]


def set_hwaddr(name: str, mac: bytes) -> None:
    """SIOCSIFHWADDR with an Ethernet address (a TUN has none to set: EOPNOTSUPP)."""
    operation = "SIOCSIFHWADDR"
    with _socket(name, operation) as nl:
        link = _device(nl, operation)
        nl.set_link(link.ifindex, operation, hwaddr=mac)


def set_up(name: str, up: bool) -> None:
    """SIOCGIFFLAGS, then SIOCSIFFLAGS when IFF_UP is not as asked."""
    operation = "SIOCSIFFLAGS"
    with _socket(name, operation) as nl:
        link = _device(nl, "SIOCGIFFLAGS")
        if bool(link.flags & _lowlevel.IFF_UP) != up:
            nl.set_link(link.ifindex, operation, up=up)
