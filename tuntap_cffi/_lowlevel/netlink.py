"""Bindings of ``csrc/cdef/netlink.h``: interface configuration over rtnetlink
(csrc/netlink.c), and the TUN/TAP details of IFLA_LINKINFO."""

from __future__ import annotations

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


class NetlinkReply:
    """A ``struct tt_nl_reply`` with room for ``addrs_max`` dumped addresses.

    Keeps the address array alive for as long as the reply points to it.
    """

    def __init__(self, addrs_max: int = 0) -> None:
        self.c = _new_struct("struct tt_nl_reply *")
        self._addrs: CData | None = None
        if addrs_max:
            self._addrs = ffi.new("struct tt_addr[]", addrs_max)
            self.c.addrs = self._addrs
            self.c.addrs_max = addrs_max

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
            entries.append(
                AddressEntry(entry.family, raw, entry.prefixlen, entry.flags, entry.scope)
            )
        return entries


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
