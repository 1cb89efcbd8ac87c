"""Bindings of ``csrc/cdef/netlink.h``: interface configuration over rtnetlink
(csrc/netlink.c), and the TUN/TAP details of IFLA_LINKINFO."""

from __future__ import annotations

import errno
import socket
from typing import TYPE_CHECKING, NamedTuple

from .._native import ffi, lib
from .common import StructPtr, check

if TYPE_CHECKING:
    from .common import CData

IFF_UP = lib.IFF_UP
IFA_F_NODAD = lib.IFA_F_NODAD
IFA_F_TENTATIVE = lib.IFA_F_TENTATIVE
RTN_LOCAL = lib.RTN_LOCAL
HWADDR_MAX = lib.TT_HWADDR_MAX
NL_DUMP_INTR = lib.TT_NL_DUMP_INTR
NL_EXPECT_ACK = lib.TT_NL_EXPECT_ACK
NL_EXPECT_LINK = lib.TT_NL_EXPECT_LINK
NL_EXPECT_ADDRS = lib.TT_NL_EXPECT_ADDRS
NL_EXPECT_ROUTE = lib.TT_NL_EXPECT_ROUTE
NL_EXPECT_ROUTES = lib.TT_NL_EXPECT_ROUTES
RT_TABLE_MAIN = lib.RT_TABLE_MAIN
RT_TABLE_LOCAL = lib.RT_TABLE_LOCAL
RTN_UNICAST = lib.RTN_UNICAST
RTPROT_STATIC = lib.RTPROT_STATIC
RT_SCOPE_UNIVERSE = lib.RT_SCOPE_UNIVERSE
RT_SCOPE_LINK = lib.RT_SCOPE_LINK
RT_SCOPE_NOWHERE = lib.RT_SCOPE_NOWHERE
# The counters of struct tt_link_stats (struct rtnl_link_stats64), in the kernel's order.
LINK_STATS_FIELDS: tuple[str, ...] = tuple(
    name for name, _ in ffi.typeof("struct tt_link_stats").fields
)


def _new_struct(ctype: str) -> StructPtr:
    return ffi.new(ctype)


class LinkInfo(NamedTuple):
    """A link as the kernel's RTM_NEWLINK reply describes it."""

    ifindex: int
    flags: int  # IFF_* bits
    mtu: int
    txqlen: int
    type: int  # ARPHRD_*
    hwaddr: bytes  # empty when the device has none (TUN)
    name: str
    kind: str = ""  # IFLA_INFO_KIND: "tun" for TUN/TAP, "" when the link has none
    tun: TunInfo | None = None  # the TUN/TAP details when kind is "tun"


class AddressEntry(NamedTuple):
    """One address of an interface, as an RTM_NEWADDR dump part gives it."""

    family: int  # AF_INET or AF_INET6
    address: bytes  # 4 or 16 bytes
    prefixlen: int
    flags: int  # IFA_F_*
    scope: int
    peer: bytes | None = None  # IFA_ADDRESS of a point-to-point address, when it differs
    broadcast: bytes | None = None  # IFA_BROADCAST (IPv4), when it has one
    label: str = ""  # IFA_LABEL (IPv4): the device's name, or an alias's "name:tag"


class RouteEntry(NamedTuple):
    """One route of a route dump (RTM_NEWROUTE), its addresses as raw bytes."""

    family: int  # AF_INET or AF_INET6
    dst: bytes  # 4 or 16 bytes (zeros for the default route)
    dst_len: int
    gateway: bytes | None  # 4 or 16 bytes: an IPv6 gateway of an IPv4 route is RFC 5549
    prefsrc: bytes | None
    metric: int | None  # RTA_PRIORITY
    table: int
    protocol: int  # RTPROT_*
    scope: int  # RT_SCOPE_*
    type: int  # RTN_*
    oif: int
    flags: int  # rtm_flags


class RouteSpec(NamedTuple):
    """A route to add or delete; None leaves an attribute out of the request."""

    family: int
    dst: bytes
    dst_len: int
    table: int
    protocol: int
    scope: int
    type: int
    gateway: bytes | None = None  # of the route's own family
    prefsrc: bytes | None = None
    metric: int | None = None


class NetlinkReply:
    """A ``struct tt_nl_reply`` with room for ``addrs_max`` dumped addresses
    (or ``routes_max`` dumped routes).

    Keeps the arrays alive for as long as the reply points to them.
    """

    def __init__(self, addrs_max: int = 0, routes_max: int = 0) -> None:
        self.c = _new_struct("struct tt_nl_reply *")
        self._addrs: CData | None = None
        self._routes: CData | None = None
        if addrs_max:
            self._addrs = ffi.new("struct tt_addr[]", addrs_max)
            self.c.addrs = self._addrs
            self.c.addrs_max = addrs_max
        if routes_max:
            self._routes = ffi.new("struct tt_route[]", routes_max)
            self.c.routes = self._routes
            self.c.routes_max = routes_max

    @property
    def ext_ack(self) -> str:
        """The kernel's extended-ack text for the last request ('' when none)."""
        raw = ffi.string(self.c.ext_ack)
        assert isinstance(raw, bytes)
        return raw.decode("utf-8", "replace")

    def link(self) -> LinkInfo:
        """The link the last link request returned."""
        link = self.c.link
        name = ffi.string(link.name)
        kind = ffi.string(link.kind)
        assert isinstance(name, bytes) and isinstance(kind, bytes)
        return LinkInfo(
            link.ifindex,
            link.flags,
            link.mtu,
            link.txqlen,
            link.type,
            bytes(ffi.buffer(link.hwaddr))[: link.hwaddr_len],
            name.decode("ascii", "replace"),
            kind.decode("ascii", "replace"),
            tun_info(link),
        )

    def addresses(self) -> list[AddressEntry]:
        """The addresses the last dump stored (at most ``addrs_max`` of them)."""
        count = min(self.c.addrs_found, self.c.addrs_max)
        entries = []
        for i in range(count):
            entry = self.c.addrs[i]
            size = 4 if entry.family == socket.AF_INET else 16
            raw = bytes(ffi.buffer(entry.addr))[:size]
            peer = bytes(ffi.buffer(entry.peer))[:size] if entry.has_peer else None
            broadcast = bytes(ffi.buffer(entry.broadcast)) if entry.has_broadcast else None
            label = ffi.string(entry.label)
            assert isinstance(label, bytes)
            entries.append(
                AddressEntry(
                    entry.family,
                    raw,
                    entry.prefixlen,
                    entry.flags,
                    entry.scope,
                    peer,
                    broadcast,
                    label.decode("utf-8", "replace"),
                )
            )
        return entries

    def routes(self) -> list[RouteEntry]:
        """The routes the last route dump stored (at most ``routes_max`` of them)."""
        count = min(self.c.routes_found, self.c.routes_max)
        return [_route_entry(self.c.routes[i]) for i in range(count)]

    def link_stats(self) -> dict[str, int] | None:
        """The counters of the last link request, by name; None when it carried none."""
        link = self.c.link
        if not link.stats_len:
            return None
        return {name: getattr(link.stats, name) for name in LINK_STATS_FIELDS}


def _route_entry(route: StructPtr) -> RouteEntry:
    size = 4 if route.family == socket.AF_INET else 16
    has = route.has
    gateway = None
    if has & lib.TT_ROUTE_HAS_GATEWAY:
        gateway_size = 4 if route.gateway_family == socket.AF_INET else 16
        gateway = bytes(ffi.buffer(route.gateway))[:gateway_size]
    return RouteEntry(
        route.family,
        bytes(ffi.buffer(route.dst))[:size],
        route.dst_len,
        gateway,
        bytes(ffi.buffer(route.prefsrc))[:size] if has & lib.TT_ROUTE_HAS_PREFSRC else None,
        route.metric if has & lib.TT_ROUTE_HAS_METRIC else None,
        route.table,
        route.protocol,
        route.scope,
        route.type,
        route.oif,
        route.flags,
    )


def nl_new() -> StructPtr:
    """A closed ``struct tt_nl`` (socket state owned by Python, freed with it)."""
    nl = _new_struct("struct tt_nl *")
    nl.fd = -1
    return nl


def nl_open(nl: CData) -> int:
    """Open the NETLINK_ROUTE socket of ``nl`` in the caller's namespace; 0 or -errno."""
    return lib.tt_nl_open(nl)


def nl_close(nl: CData, name: str) -> None:
    """Close the socket of ``nl`` (harmless when it is closed)."""
    check(lib.tt_nl_close(nl), "close netlink socket", name)


def nl_link_get(nl: CData, ifindex: int, name: str, reply: NetlinkReply) -> int:
    """RTM_GETLINK by ``ifindex`` (or by ``name`` when it is 0); 0 or -errno."""
    return lib.tt_nl_link_get(nl, ifindex, name.encode("ascii"), reply.c)


def nl_link_set(
    nl: CData,
    ifindex: int,
    reply: NetlinkReply,
    *,
    mtu: int | None = None,
    up: bool | None = None,
    txqlen: int | None = None,
    hwaddr: bytes | None = None,
) -> int:
    """RTM_NEWLINK on ``ifindex`` changing only the given fields; 0 or -errno."""
    change = _new_struct("struct tt_link_change *")
    change.ifindex = ifindex
    if mtu is not None:
        change.set |= lib.TT_LINK_SET_MTU
        change.mtu = mtu
    if up is not None:
        change.set |= lib.TT_LINK_SET_UP
        change.up = int(up)
    if txqlen is not None:
        change.set |= lib.TT_LINK_SET_TXQLEN
        change.txqlen = txqlen
    if hwaddr is not None:
        change.set |= lib.TT_LINK_SET_HWADDR
        change.hwaddr_len = len(hwaddr)
        ffi.memmove(change.hwaddr, hwaddr, len(hwaddr))
    return lib.tt_nl_link_set(nl, change, reply.c)


def nl_addr_change(
    nl: CData,
    add: bool,
    ifindex: int,
    family: int,
    address: bytes,
    prefixlen: int,
    flags: int,
    reply: NetlinkReply,
) -> int:
    """RTM_NEWADDR (exclusive) or RTM_DELADDR of one address; 0 or -errno."""
    return lib.tt_nl_addr_change(
        nl, int(add), ifindex, family, address, len(address), prefixlen, flags, reply.c
    )


def nl_addr_peer_change(
    nl: CData,
    add: bool,
    ifindex: int,
    family: int,
    address: bytes,
    peer: bytes,
    prefixlen: int,
    flags: int,
    reply: NetlinkReply,
) -> int:
    """As ``nl_addr_change``, with ``peer`` (same length) as IFA_ADDRESS; 0 or -errno."""
    if len(peer) != len(address):
        return -errno.EINVAL
    return lib.tt_nl_addr_peer_change(
        nl, int(add), ifindex, family, address, peer, len(address), prefixlen, flags, reply.c
    )


def nl_addr_entry_change(
    nl: CData, add: bool, ifindex: int, entry: AddressEntry, reply: NetlinkReply
) -> int:
    """RTM_NEWADDR (exclusive) or RTM_DELADDR of ``entry`` as a dump describes it
    (its peer, broadcast and label included) on ``ifindex``; 0 or -errno."""
    size = 4 if entry.family == socket.AF_INET else 16
    label = entry.label.encode("utf-8")
    if (
        len(entry.address) != size
        or (entry.peer is not None and len(entry.peer) != size)
        or (entry.broadcast is not None and len(entry.broadcast) != 4)
        or len(label) > 15
    ):
        return -errno.EINVAL
    c = _new_struct("struct tt_addr *")
    c.ifindex = ifindex
    c.family = entry.family
    c.prefixlen = entry.prefixlen
    c.scope = entry.scope
    ffi.memmove(c.addr, entry.address, size)
    if entry.peer is not None:
        c.has_peer = 1
        ffi.memmove(c.peer, entry.peer, size)
    if entry.broadcast is not None:
        c.has_broadcast = 1
        ffi.memmove(c.broadcast, entry.broadcast, 4)
    ffi.memmove(c.label, label, len(label))
    return lib.tt_nl_addr_entry_change(nl, int(add), c, reply.c)


def nl_link_stats(nl: CData, ifindex: int, reply: NetlinkReply) -> int:
    """RTM_GETLINK with the counters (``reply.link_stats()``); 0 or -errno."""
    return lib.tt_nl_link_stats(nl, ifindex, reply.c)


def nl_route_dump(nl: CData, ifindex: int, reply: NetlinkReply) -> int:
    """RTM_GETROUTE dump of every table, routes via ``ifindex``; the number found or -errno."""
    return lib.tt_nl_route_dump(nl, ifindex, reply.c)


def nl_route_change(
    nl: CData, add: bool, ifindex: int, spec: RouteSpec, reply: NetlinkReply
) -> int:
    """RTM_NEWROUTE (exclusive) or RTM_DELROUTE of one route via ``ifindex``; 0 or -errno."""
    route = _new_struct("struct tt_route *")
    route.family = spec.family
    route.dst_len = spec.dst_len
    ffi.memmove(route.dst, spec.dst, len(spec.dst))
    route.table = spec.table
    route.protocol = spec.protocol
    route.scope = spec.scope
    route.type = spec.type
    route.oif = ifindex
    if spec.gateway is not None:
        route.has |= lib.TT_ROUTE_HAS_GATEWAY
        route.gateway_family = socket.AF_INET if len(spec.gateway) == 4 else socket.AF_INET6
        ffi.memmove(route.gateway, spec.gateway, len(spec.gateway))
    if spec.prefsrc is not None:
        route.has |= lib.TT_ROUTE_HAS_PREFSRC
        ffi.memmove(route.prefsrc, spec.prefsrc, len(spec.prefsrc))
    if spec.metric is not None:
        route.has |= lib.TT_ROUTE_HAS_METRIC
        route.metric = spec.metric
    return lib.tt_nl_route_change(nl, int(add), route, reply.c)


def nl_addr_dump(nl: CData, ifindex: int, reply: NetlinkReply) -> int:
    """RTM_GETADDR dump of one interface; the number found (may exceed room) or -errno."""
    return lib.tt_nl_addr_dump(nl, ifindex, reply.c)


def nl_route_get(nl: CData, family: int, address: bytes, reply: NetlinkReply) -> int:
    """RTM_GETROUTE for one destination; 0 with ``reply.c.route_type`` set, or -errno."""
    return lib.tt_nl_route_get(nl, family, address, len(address), reply.c)


def nl_parse_reply(data: bytes, reply: NetlinkReply) -> int:
    """The reply parser on raw bytes: 1 complete, 0 more expected, or -errno."""
    return lib.tt_nl_parse_reply(data, len(data), reply.c)


class TunInfo(NamedTuple):
    """What the kernel says of a TUN/TAP link (IFLA_INFO_DATA of kind "tun")."""

    kind: int  # KIND_TUN or KIND_TAP
    pi: bool  # packet information headers (opened without IFF_NO_PI)
    vnet_hdr: bool
    persist: bool
    multi_queue: bool
    owner: int | None
    group: int | None
    queues: int  # attached queues (multi-queue devices only)
    disabled_queues: int  # detached queues (multi-queue devices only)


def tun_info(link: StructPtr) -> TunInfo | None:
    """The TUN/TAP details of a ``struct tt_link_info``, None for another kind of link."""
    flags = link.tun_flags
    if not flags & lib.TT_TUN_INFO:
        return None
    return TunInfo(
        link.tun_type,
        bool(flags & lib.TT_TUN_PI),
        bool(flags & lib.TT_TUN_VNET_HDR),
        bool(flags & lib.TT_TUN_PERSIST),
        bool(flags & lib.TT_TUN_MULTI_QUEUE),
        link.tun_owner if flags & lib.TT_TUN_HAS_OWNER else None,
        link.tun_group if flags & lib.TT_TUN_HAS_GROUP else None,
        link.tun_queues,
        link.tun_disabled_queues,
    )
