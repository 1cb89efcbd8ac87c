"""The addresses ``addresses()`` returns: ``ip_interface`` values that also name a peer.

A point-to-point address (``add_address("192.0.2.1/32", peer="192.0.2.2")``)
is the interface's own address (IFA_LOCAL) and the other end's
(IFA_ADDRESS); its prefix length is the kernel's, which applies to the peer
(the network reachable through it). The classes here are ``IPv4Interface``
and ``IPv6Interface`` with a ``peer`` attribute, None for an ordinary
address, so code that compares entries to ``ipaddress.ip_interface``
objects keeps working: an entry without a peer equals the plain interface
value, one with a peer equals only an entry with the same peer.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Union

from .addresses import IPAddress

__all__ = ["IPv4PeerInterface", "IPv6PeerInterface", "PeerInterface", "peer_interface"]


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
