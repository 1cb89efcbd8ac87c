"""``Netlink``: one rtnetlink socket, its requests, and errno to ``OSError``.

The requests are rtnetlink messages built and parsed by the C shim
(``csrc/netlink.c``); this class only holds the socket state, passes the
arguments and turns a refusal into the ``OSError`` subclass of the kernel's
errno, with the kernel's extended-ack text. :class:`~tuntap_cffi.Link` is
the public face.
"""

from __future__ import annotations

import errno
import socket
from types import TracebackType
from typing import Callable, TypeVar

from .. import _lowlevel, netns
from ..errors import os_error
from .addresses import IPAddress, IPInterface

__all__ = ["Netlink"]

_FIRST_DUMP_ROOM = 64
_DUMP_RESIZES = 4

T = TypeVar("T")


class Netlink:
    """One rtnetlink socket, opened in the caller's network namespace (or another).

    Every method raises the ``OSError`` subclass of the kernel's errno, with
    ``operation`` and the interface ``name`` in its message and the kernel's
    extended-ack text when it gave one.
    """

    def __init__(
        self,
        name: str,
        operation: str = "open netlink socket",
        netns_fd: int = -1,
        opened: _lowlevel.StructPtr | None = None,
    ) -> None:
        """Open the socket: in the namespace ``netns_fd`` when it is >= 0, or
        adopt ``opened``, a ``struct tt_nl`` whose socket is already open."""
        self._name = name
        self._reply = _lowlevel.NetlinkReply()
        if opened is not None:
            self._nl = opened
            return
        self._nl = _lowlevel.nl_new()
        if netns_fd >= 0:
            netns.open_in(netns_fd, None, _lowlevel.ACCESS_READ, 0, self._nl, operation, name)
            return
        result = _lowlevel.nl_open(self._nl)
        if result < 0:
            raise os_error(-result, operation, name, area="netlink")

    def rename(self, name: str) -> None:
        """Name the interface anew (once the kernel has chosen it from a pattern)."""
        self._name = name

    def find(self, name: str) -> _lowlevel.LinkInfo | None:
        """The link called ``name``, or None when there is none (or it cannot be asked)."""
        reply = self._reply
        if _lowlevel.nl_link_get(self._nl, 0, name, reply) < 0:
            return None
        return reply.link()

    def close(self) -> None:
        """Close the socket; harmless when it is closed."""
        _lowlevel.nl_close(self._nl, self._name)

    def __enter__(self) -> Netlink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def name(self) -> str:
        """The interface this socket's errors name."""
        return self._name

    @property
    def fd(self) -> int:
        """The socket's fd (-1 once closed)."""
        return int(self._nl.fd)

    def _check(
        self, result: int, operation: str, reply: _lowlevel.NetlinkReply, area: str = "netlink"
    ) -> int:
        if result < 0:
            raise os_error(-result, operation, self._name, area=area, ext_ack=reply.ext_ack)
        return result

    def link(self, ifindex: int, operation: str, area: str = "netlink") -> _lowlevel.LinkInfo:
        """The link with ``ifindex``, or (ifindex 0) the one named as this socket's interface.

        ``area``: the :data:`~tuntap_cffi.errors.HINTS` that explain a refusal.
        """
        reply = self._reply
        result = _lowlevel.nl_link_get(self._nl, ifindex, self._name, reply)
        self._check(result, operation, reply, area)
        return reply.link()

    def set_link(
        self,
        ifindex: int,
        operation: str,
        *,
        mtu: int | None = None,
        up: bool | None = None,
        txqlen: int | None = None,
        hwaddr: bytes | None = None,
    ) -> None:
        """Change the given fields of a link (one RTM_NEWLINK request)."""
        reply = self._reply
        result = _lowlevel.nl_link_set(
            self._nl, ifindex, reply, mtu=mtu, up=up, txqlen=txqlen, hwaddr=hwaddr
        )
        self._check(result, operation, reply)

    def change_address(
        self,
        add: bool,
        ifindex: int,
        address: IPInterface,
        flags: int,
        operation: str,
        peer: IPAddress | None = None,
    ) -> None:
        """Add (exclusively) or delete one address with its prefix length.

        ``peer``: the other end of a point-to-point address (IFA_ADDRESS; the
        address itself is IFA_LOCAL), of the address's family.
        """
        family = socket.AF_INET if address.version == 4 else socket.AF_INET6
        own = address.ip.packed
        reply = self._reply
        result = _lowlevel.nl_addr_peer_change(
            self._nl,
            add,
            ifindex,
            family,
            own,
            own if peer is None else peer.packed,
            address.network.prefixlen,
            flags,
            reply,
        )
        self._check(result, operation, reply)

    def change_entry(
        self, add: bool, ifindex: int, entry: _lowlevel.AddressEntry, operation: str
    ) -> None:
        """Add (exclusively) or delete an address as a dump describes it (its peer,
        broadcast address and label too): the delete matches exactly that address."""
        reply = self._reply
        result = _lowlevel.nl_addr_entry_change(self._nl, add, ifindex, entry, reply)
        self._check(result, operation, reply)

    def link_stats(self, ifindex: int, operation: str) -> dict[str, int]:
        """The counters of the link ``ifindex`` (IFLA_STATS64), by field name."""
        reply = self._reply
        self._check(_lowlevel.nl_link_stats(self._nl, ifindex, reply), operation, reply)
        stats = reply.link_stats()
        if stats is None:
            raise os_error(errno.EPROTO, operation, self._name, area="netlink")
        return stats

    def change_route(
        self, add: bool, ifindex: int, spec: _lowlevel.RouteSpec, operation: str
    ) -> None:
        """Add (exclusively) or delete one route through the interface ``ifindex``."""
        reply = self._reply
        result = _lowlevel.nl_route_change(self._nl, add, ifindex, spec, reply)
        self._check(result, operation, reply, area="route")

    def routes(self, ifindex: int, operation: str) -> list[_lowlevel.RouteEntry]:
        """Every route of every table whose output interface is ``ifindex``."""
        return self._dump(
            lambda room: _lowlevel.NetlinkReply(routes_max=room),
            lambda reply: _lowlevel.nl_route_dump(self._nl, ifindex, reply),
            _lowlevel.NetlinkReply.routes,
            operation,
            area="route",
        )

    def is_local(self, family: int, address: bytes, operation: str) -> bool:
        """True when the kernel delivers packets for ``address`` to this host.

        That is, the route lookup (as ``ip route get``) gives a local route;
        an unreachable destination is simply not local.
        """
        reply = self._reply
        result = _lowlevel.nl_route_get(self._nl, family, address, reply)
        if -result in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return False
        self._check(result, operation, reply)
        return bool(reply.c.route_type == _lowlevel.RTN_LOCAL)

    def addresses(self, ifindex: int, operation: str) -> list[_lowlevel.AddressEntry]:
        """Every address of the interface ``ifindex`` (IPv4 first, in the kernel's order)."""
        return self._dump(
            lambda room: _lowlevel.NetlinkReply(addrs_max=room),
            lambda reply: _lowlevel.nl_addr_dump(self._nl, ifindex, reply),
            _lowlevel.NetlinkReply.addresses,
            operation,
        )

    def _dump(
        self,
        make_reply: Callable[[int], _lowlevel.NetlinkReply],
        dump: Callable[[_lowlevel.NetlinkReply], int],
        read: Callable[[_lowlevel.NetlinkReply], list[T]],
        operation: str,
        area: str = "netlink",
    ) -> list[T]:
        """Run a dump with room for what it finds, growing the room when more appeared."""
        room = _FIRST_DUMP_ROOM
        for _ in range(_DUMP_RESIZES):
            reply = make_reply(room)
            found = self._check(dump(reply), operation, reply, area)
            if found <= room:
                return read(reply)
            room = found + 16  # more appeared; make room and ask again
        raise os_error(errno.EAGAIN, operation, self._name, area=area)
