"""``Link``: the configuration of one network device: addresses, MTU, link state, IPv6.

Every request is an rtnetlink message on one NETLINK_ROUTE socket per Link
(:class:`~tuntap_cffi.netlink.Netlink`), opened in the device's network
namespace (the caller's unless ``netns=`` was given); the IPv6 controls
write ``/proc/sys/net/ipv6/conf/<name>/...`` of that namespace. An
:class:`~tuntap_cffi.Interface` owns one (``iface.link``), whose calls hold
the interface's fds through its usage count; ``tuntap.Link(name)`` makes one
for a device this process holds no fd of (a persistent device, another
process's). Go: AddAddress, GetAddrList, SetMTU, Up, IPv6, IPv6Forwarding,
IPv6SLAAC.
"""

from __future__ import annotations

import warnings
from typing import Callable

from .. import _lowlevel
from ..lifetime import Lifetime
from ..netns import NetnsLike
from ..packets.packet import DevKind
from . import ifaddrs, routes
from .addresses import (
    AddressLike,
    PeerInterface,
    SubnetLike,
    check_flag,
    check_int,
    format_mac,
    parse_mac,
)
from .channel import Channel, find_link
from .events import LinkEvents
from .ifaddrs import PeerLike
from .netlink import Netlink
from .routes import GatewayLike, NetworkLike, Route
from .stats import LinkStats, link_stats

__all__ = ["IPV6_MIN_MTU", "MAX_MTU", "MIN_MTU", "Link", "MtuCallback"]

MIN_MTU = 68  # the kernel's floor for IPv4 (RFC 791)
IPV6_MIN_MTU = 1280  # below this the kernel silently drops IPv6 from the device
MAX_MTU = 65535
# TAP devices carry the Ethernet header inside the kernel's 65535 limit.
_MAX_MTU = {DevKind.TUN: MAX_MTU, DevKind.TAP: MAX_MTU - 14}
_MAX_TXQLEN = 0xFFFFFFFF
# Told the MTU whenever a Link reads or sets it (an Interface's write limit follows it).
MtuCallback = Callable[[int], None]


def _checked_mtu(mtu: object, kind: DevKind | None, ipv6_on: bool, where: str) -> int:
    """``mtu`` if the kernel would take it for this kind of device; ValueError if not."""
    value = check_int(mtu, where.split(" ")[0], "mtu")
    low = IPV6_MIN_MTU if ipv6_on else MIN_MTU
    high = MAX_MTU if kind is None else _MAX_MTU[kind]
    if not low <= value <= high:
        device = "this device" if kind is None else f"a {kind.name} device"
        ipv6 = " with IPv6 on" if ipv6_on else ""
        raise ValueError(f"{where}: MTU {value} is outside {low}..{high} for {device}{ipv6}")
    return value


def _check_tap(channel: Channel, kind: DevKind | None, operation: str) -> None:
    """Refuse a hardware-address call on a TUN device (or a closed one)."""
    channel.lifetime.check_open(operation)
    if kind == DevKind.TUN:
        raise ValueError(
            f"{operation} on {channel.name}: a TUN device has no hardware address "
            "(only TAP devices have one)"
        )


class Link:
    """The configuration of one network device, found by name or ifindex.

    ``tuntap.Link("tun0")`` (or ``Link(5)``) configures a device this process
    holds no fd of; an open :class:`~tuntap_cffi.Interface` has its own as
    ``iface.link``. A Link made here is closed with :meth:`close` (or a
    ``with`` block); the one an Interface owns is closed by the Interface.
    Calls after closing raise :class:`~tuntap_cffi.InterfaceClosedError`.

    Args:
        name_or_ifindex: the device's name, or its interface index.
        netns: the device's network namespace, as ``open(netns=...)`` takes
            it (a name, a path, an open fd); the caller's when None.
        on_mtu_change: called with the MTU whenever this Link reads or sets it.

    Raises:
        TypeError, ValueError: a bad name, ifindex or netns (before any call).
        OSError: (ENODEV) no such device, with its name in the message and
            in ``filename``; or the namespace could not be entered.
    """

    def __init__(
        self,
        name_or_ifindex: str | int,
        *,
        netns: NetnsLike | None = None,
        on_mtu_change: MtuCallback | None = None,
    ) -> None:
        info, netlink, nsfd = find_link(name_or_ifindex, netns)
        kind = None if info.tun is None else DevKind(info.tun.kind)
        # The release callback holds the channel, not this Link: a Link dropped
        # unclosed is then collected at once, and its __del__ closes the socket.
        lifetime = Lifetime(info.name, lambda: channel.release())
        channel = Channel(info.name, lifetime, netlink, nsfd, info.ifindex)
        self._setup(channel, kind, on_mtu_change)
        self._owned = False

    @classmethod
    def of_device(cls, channel: Channel, kind: DevKind, on_mtu_change: MtuCallback) -> Link:
        """The Link an :class:`~tuntap_cffi.Interface` owns (internal): its requests go
        through ``channel``, which the interface releases with its fds."""
        link = cls.__new__(cls)
        link._setup(channel, kind, on_mtu_change)
        link._owned = True
        return link

    def _setup(
        self, channel: Channel, kind: DevKind | None, on_mtu_change: MtuCallback | None
    ) -> None:
        self._channel = channel
        self._kind = kind  # None: not a TUN/TAP device
        self._on_mtu_change = on_mtu_change

    @property
    def name(self) -> str:
        """The device's name now, asked by ifindex (RTM_GETLINK), so it follows a
        rename; once closed, or when the device is gone, the last name known."""
        return self._channel.name_now()

    @property
    def kind(self) -> DevKind | None:
        """``DevKind.TUN`` or ``DevKind.TAP``; None for a device of another kind."""
        return self._kind

    @property
    def closed(self) -> bool:
        """True once this Link (or the Interface that owns it) is closed."""
        return self._channel.lifetime.closed

    @property
    def netlink(self) -> Netlink | None:
        """The rtnetlink socket, or None while no request has needed one yet."""
        return self._channel.netlink

    def events(self, timeout: float | None = None) -> LinkEvents:
        """The device's events, as an iterator (:class:`~tuntap_cffi.LinkEvents`)."""
        return LinkEvents(self._channel, timeout)

    def close(self) -> None:
        """Close the socket (once no call uses it); harmless twice; does nothing on the
        Link of an Interface (the Interface closes it)."""
        if not self._owned:
            self._channel.lifetime.close()

    def __enter__(self) -> Link:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_owned", True) or self.closed:
            return
        warnings.warn(f"unclosed Link {self._channel.name}", ResourceWarning, stacklevel=2)
        self.close()

    def __repr__(self) -> str:
        return f"<Link {self._channel.name} {'closed' if self.closed else 'open'}>"

    def _mtu_changed(self, mtu: int) -> None:
        if self._on_mtu_change is not None:
            self._on_mtu_change(mtu)

    # -- addresses: see ifaddrs.py ---------------------------------------------------

    def add_address(
        self,
        ip: AddressLike,
        subnet: SubnetLike = None,
        *,
        nodad: bool = False,
        peer: PeerLike | None = None,
    ) -> None:
        """Assign an address to the interface. Go: AddAddress.

        Args:
            ip: ``"192.0.2.1/24"``, ``"2001:db8::1/64"``, an ``ip_interface``,
                or (Go style) an address (str, 4 or 16 bytes, ``ip_address``)
                with ``subnet``; an address alone gets a host prefix.
            subnet: an ``ip_network`` holding ``ip``, a prefix length, or a
                netmask (``"255.255.255.0"`` or raw bytes).
            nodad: skip duplicate address detection (``IFA_F_NODAD``), so
                an IPv6 address is usable at once.
            peer: the other end of a point-to-point link (an address of the
                same family): ``ip`` is then IFA_LOCAL, ``peer`` IFA_ADDRESS,
                and the prefix length applies to the peer.

        Raises:
            ValueError, TypeError: a bad address, prefix, mask or peer.
            FileExistsError: the address is already assigned; PermissionError: no
                CAP_NET_ADMIN; OSError: the interface is gone, or the kernel refused.
        """
        ifaddrs.add_address(self._channel, ip, subnet, nodad, peer)

    def del_address(
        self, ip: AddressLike, subnet: SubnetLike = None, *, peer: PeerLike | None = None
    ) -> None:
        """Remove an address; without a prefix (or peer), whatever prefix (or peer) it has.

        Takes the forms of :meth:`add_address`. Raises OSError (EADDRNOTAVAIL)
        when the address is not assigned, or as add_address.
        """
        ifaddrs.del_address(self._channel, ip, subnet, peer)

    def get_addr_list(self) -> list[bytes]:
        """Every address of the interface as raw bytes (4 IPv4, 16 IPv6). Go: GetAddrList."""
        return [e.address for e in ifaddrs.address_entries(self._channel, "get_addr_list")]

    def addresses(self) -> list[PeerInterface]:
        """Every address with its prefix: ``ip_interface`` values with a ``peer`` (or None)."""
        return ifaddrs.peer_addresses(self._channel)

    # -- routes and counters: see routes.py, stats.py ------------------------------------

    def add_route(
        self,
        destination: NetworkLike,
        via: GatewayLike = None,
        metric: int | None = None,
        table: int | None = None,
        src: GatewayLike = None,
    ) -> None:
        """Add a route through the device (static, exclusive: see :mod:`~tuntap_cffi.routes`).

        Args:
            destination: a network without host bits, ``"198.51.100.0/24"``,
                ``"2001:db8:1::/48"``, ``"0.0.0.0/0"`` (default), an ``ip_network``.
            via: the gateway, of the route's family; None: on the link.
            metric, table: ``RTA_PRIORITY`` 0..2**32-1 (None: the kernel's default);
                the table's id 1..2**32-1 (None: main, 254).
            src: the preferred source address (``RTA_PREFSRC``).

        Raises:
            ValueError, TypeError: a bad argument (before any request);
            FileExistsError: the route exists; OSError: the kernel refused.
        """
        routes.change_route(self._channel, True, destination, via, metric, table, src)

    def del_route(
        self,
        destination: NetworkLike,
        via: GatewayLike = None,
        metric: int | None = None,
        table: int | None = None,
        src: GatewayLike = None,
    ) -> None:
        """Delete a route through the device (the first matching what is given).

        Raises ProcessLookupError (ESRCH) when there is none, or as :meth:`add_route`.
        """
        routes.change_route(self._channel, False, destination, via, metric, table, src)

    def routes(self) -> list[Route]:
        """Every route through the device, of every table (the kernel's own included)."""
        return routes.list_routes(self._channel)

    @property
    def stats(self) -> LinkStats:
        """The device's counters now (IFLA_STATS64)."""
        return link_stats(self._channel)

    # -- link ------------------------------------------------------------------------

    @property
    def ifindex(self) -> int:
        """The interface index the kernel gave the device (asked afresh: it may be gone)."""
        self._channel.lifetime.check_open("ifindex")
        return self._channel.link("ifindex").ifindex

    @property
    def mtu(self) -> int:
        """The link MTU (told to ``on_mtu_change``: an Interface's write limit follows it)."""
        self._channel.lifetime.check_open("mtu")
        mtu = self._channel.link("mtu").mtu
        self._mtu_changed(mtu)
        return mtu

    def set_mtu(self, mtu: int) -> None:
        """Set the link MTU (told to ``on_mtu_change``, as when read). Go: SetMTU.

        Raises:
            ValueError: out of range for this kind of device (68..65535 for
                TUN, 68..65521 for TAP; at least 1280 while IPv6 is on),
                checked before any request.
        """
        operation = "set_mtu"
        self._channel.lifetime.check_open(operation)
        ipv6_on = self._channel.ipv6_on()  # asked first: it learns a new name
        mtu = _checked_mtu(mtu, self._kind, ipv6_on, f"{operation} on {self._channel.name}")
        self._channel.request(operation, lambda nl, index: nl.set_link(index, operation, mtu=mtu))
        self._mtu_changed(mtu)

    def up(self) -> None:
        """Set the link up. Go: Up."""
        self._set_up(True, "up")

    def down(self) -> None:
        """Set the link down."""
        self._set_up(False, "down")

    def _set_up(self, up: bool, operation: str) -> None:
        self._channel.lifetime.check_open(operation)
        self._channel.request(operation, lambda nl, index: nl.set_link(index, operation, up=up))
        if up:
            self._channel.await_nodad(operation)

    @property
    def is_up(self) -> bool:
        """True when the link is administratively up (IFF_UP)."""
        self._channel.lifetime.check_open("is_up")
        return bool(self._channel.link("is_up").flags & _lowlevel.IFF_UP)

    @property
    def txqueuelen(self) -> int:
        """The transmit queue length: packets the kernel holds for us before dropping."""
        self._channel.lifetime.check_open("txqueuelen")
        return self._channel.link("txqueuelen").txqlen

    def set_txqueuelen(self, length: int) -> None:
        """Set the transmit queue length (0..2**32-1 packets)."""
        operation = "set_txqueuelen"
        self._channel.lifetime.check_open(operation)
        length = check_int(length, operation, "length")
        if not 0 <= length <= _MAX_TXQLEN:
            raise ValueError(
                f"{operation} on {self._channel.name}: {length} is outside 0..{_MAX_TXQLEN}"
            )
        self._channel.request(
            operation, lambda nl, index: nl.set_link(index, operation, txqlen=length)
        )

    @property
    def hwaddr(self) -> str:
        """The TAP device's MAC address, ``"aa:bb:cc:dd:ee:ff"``."""
        _check_tap(self._channel, self._kind, "hwaddr")
        return format_mac(self._channel.link("hwaddr").hwaddr)

    def set_hwaddr(self, mac: str | bytes) -> None:
        """Set the TAP device's MAC address (``"02:00:5e:00:53:01"`` or 6 bytes)."""
        operation = "set_hwaddr"
        _check_tap(self._channel, self._kind, operation)
        raw = parse_mac(mac, operation)
        self._channel.request(
            operation, lambda nl, index: nl.set_link(index, operation, hwaddr=raw)
        )

    # -- the IPv4/IPv6 conf switches: /proc/sys/net/ipv{4,6}/conf/<name>/ --------------

    def _write_conf(self, family: str, key: str, value: bool, operation: str) -> None:
        self._channel.lifetime.check_open(operation)
        self._channel.write_conf(family, key, check_flag(value, operation), operation)

    def set_ipv4_forwarding(self, enabled: bool) -> None:
        """Enable or disable IPv4 forwarding on the device (``ipv4/conf/<name>/forwarding``)."""
        self._write_conf("ipv4", "forwarding", enabled, "set_ipv4_forwarding")

    def set_ipv6(self, enabled: bool) -> None:
        """Enable or disable IPv6 on the device (``disable_ipv6``, inverted). Go: IPv6."""
        self._write_conf("ipv6", "disable_ipv6", not check_flag(enabled, "set_ipv6"), "set_ipv6")

    def set_ipv6_forwarding(self, enabled: bool) -> None:
        """Enable or disable IPv6 forwarding on the device. Go: IPv6Forwarding."""
        self._write_conf("ipv6", "forwarding", enabled, "set_ipv6_forwarding")

    def set_ipv6_slaac(self, enabled: bool) -> None:
        """Enable or disable stateless address autoconfiguration. Go: IPv6SLAAC."""
        self._write_conf("ipv6", "autoconf", enabled, "set_ipv6_slaac")
