"""The address calls of a device: add (with an optional peer), delete, list.

``Link.add_address`` / ``del_address`` / ``addresses`` / ``get_addr_list``
delegate here. A point-to-point address is sent as the kernel takes it:
``IFA_LOCAL`` the device's own address, ``IFA_ADDRESS`` the peer's (for an
ordinary address both are the own address).
"""

from __future__ import annotations

import ipaddress
from typing import Union

from .. import _lowlevel
from .addresses import (
    AddressLike,
    IPAddress,
    IPInterface,
    PeerInterface,
    SubnetLike,
    check_flag,
    parse_address,
    parse_ip,
    peer_interface,
)
from .channel import Channel
from .netlink import Netlink

__all__ = ["PeerLike", "add_address", "address_entries", "del_address", "peer_addresses"]

# A peer is a plain address: str, 4 or 16 bytes, or an ip_address (no prefix).
PeerLike = Union[str, bytes, bytearray, IPAddress]


def _peer(peer: object, address: IPInterface, where: str) -> IPAddress | None:
    if peer is None:
        return None
    other = parse_ip(peer, "peer", where)
    if other.version != address.version:
        raise ValueError(
            f"{where}: peer {other} is IPv{other.version}, address {address} "
            f"is IPv{address.version}"
        )
    return other


def _label(operation: str, address: IPInterface, peer: IPAddress | None) -> str:
    return f"{operation} {address}" + ("" if peer is None else f" peer {peer}")


def add_address(
    channel: Channel, ip: AddressLike, subnet: SubnetLike, nodad: bool, peer: object
) -> None:
    """Assign an address (``Link.add_address`` says what it takes)."""
    operation = "add_address"
    channel.lifetime.check_open(operation)
    address, _given = parse_address(ip, subnet, operation)
    flags = _lowlevel.IFA_F_NODAD if check_flag(nodad, "add_address nodad") else 0
    other = _peer(peer, address, f"{operation} on {channel.name}")
    label = _label(operation, address, other)
    channel.request(
        operation,
        lambda nl, index: nl.change_address(True, index, address, flags, label, other),
    )
    if flags:
        channel.await_nodad(operation)


def del_address(channel: Channel, ip: AddressLike, subnet: SubnetLike, peer: object) -> None:
    """Remove an address: its prefix and peer, when not given, are the ones it has."""
    operation = "del_address"
    channel.lifetime.check_open(operation)
    address, given = parse_address(ip, subnet, operation)
    other = _peer(peer, address, f"{operation} on {channel.name}")

    def delete(nl: Netlink, index: int) -> None:
        target, target_peer = address, other
        if not given or other is None:
            for entry in nl.addresses(index, operation):
                if _matches(entry, address, given, other):
                    target = ipaddress.ip_interface((address.ip, entry.prefixlen))
                    if entry.peer is not None:
                        target_peer = ipaddress.ip_address(entry.peer)
                    break
        label = _label(operation, target, target_peer)
        nl.change_address(False, index, target, 0, label, target_peer)

    channel.request(operation, delete)


def _matches(
    entry: _lowlevel.AddressEntry, address: IPInterface, given: bool, peer: IPAddress | None
) -> bool:
    if entry.address != address.ip.packed:
        return False
    if given and entry.prefixlen != address.network.prefixlen:
        return False
    return peer is None or entry.peer == peer.packed


def address_entries(channel: Channel, operation: str) -> list[_lowlevel.AddressEntry]:
    """Every address of the device, as the kernel lists them."""
    channel.lifetime.check_open(operation)
    return channel.addresses(operation)


def peer_addresses(channel: Channel) -> list[PeerInterface]:
    """Every address with its prefix (and peer), as ``addresses()`` returns them."""
    return [
        peer_interface(entry.address, entry.prefixlen, entry.peer)
        for entry in address_entries(channel, "addresses")
    ]
