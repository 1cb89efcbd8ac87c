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

import ipaddress
import warnings
from types import TracebackType
from typing import Callable

from . import _lowlevel
from . import events as events_module
from . import netns as netns_module
from .addresses import (
    AddressLike,
    IPInterface,
    SubnetLike,
    check_flag,
    check_int,
    format_mac,
    parse_address,
    parse_mac,
)
from .channel import Channel
from .lifetime import Lifetime
from .netlink import Netlink
from .netns import NetnsLike
from .packet import DevKind

__all__ = ["IPV6_MIN_MTU", "MAX_MTU", "MIN_MTU", "Link", "MtuCallback"]

MIN_MTU = 68  # the kernel's floor for IPv4 (RFC 791)
IPV6_MIN_MTU = 1280  # below this the kernel silently drops IPv6 from the device
MAX_MTU = 65535
# TAP devices carry the Ethernet header inside the kernel's 65535 limit.
_MAX_MTU = {DevKind.TUN: MAX_MTU, DevKind.TAP: MAX_MTU - 14}
_MAX_TXQLEN = 0xFFFFFFFF
_MAX_IFINDEX = 2**31 - 1
# Told the MTU whenever a Link reads or sets it (an Interface's write limit follows it).
MtuCallback = Callable[[int], None]


def _check_target(name_or_ifindex: object) -> tuple[str, int]:
    """(name, 0) or ("", ifindex) from what ``Link()`` was given, checked before any call."""
    if isinstance(name_or_ifindex, bool) or not isinstance(name_or_ifindex, (str, int)):
        raise TypeError(
            f"Link takes an interface name or an ifindex, not {type(name_or_ifindex).__name__}"
        )
    if isinstance(name_or_ifindex, int):
        if not 1 <= name_or_ifindex <= _MAX_IFINDEX:
            raise ValueError(f"ifindex {name_or_ifindex} is not in 1..{_MAX_IFINDEX}")
        return "", name_or_ifindex
    name = name_or_ifindex
    if not name or len(name) > _lowlevel.IFNAME_MAX:
        raise ValueError(f"interface name {name!r} must have 1..{_lowlevel.IFNAME_MAX} bytes")
    if not name.isascii() or not name.isprintable() or any(c in name for c in " /%:"):
        raise ValueError(f"interface name {name!r} is not a device name")
    return name, 0


def _find(
    name_or_ifindex: object, netns: NetnsLike | None
) -> tuple[_lowlevel.LinkInfo, Netlink, int]:
    """Find a device by name or ifindex (RTM_GETLINK) in its namespace.

    Returns what the kernel says of it, the socket that asked (kept for the
    Link's requests) and the namespace fd (-1 for the caller's).
    """
    name, ifindex = _check_target(name_or_ifindex)
    label = name or f"ifindex {ifindex}"
    nsfd = -1 if netns is None else netns_module.open_target(netns)[0]
    netlink: Netlink | None = None
    try:
        netlink = Netlink(label, "find link", nsfd)
        info = netlink.link(ifindex, "find link", area="lookup")
        netlink.rename(info.name)
    except BaseException:
        if netlink is not None:
            netlink.close()
        if nsfd >= 0:
            _lowlevel.close_fd(nsfd, label)
        raise
    return info, netlink, nsfd


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
        info, netlink, nsfd = _find(name_or_ifindex, netns)
        kind = None if info.tun is None else DevKind(info.tun.kind)
        # The release callback holds the channel, not this Link: a Link dropped
        # unclosed is then collected at once, and its __del__ closes the socket.
        lifetime = Lifetime(info.name, lambda: channel.release())
        channel = Channel(info.name, lifetime, netlink, nsfd, info.ifindex)
        self._setup(channel, kind, on_mtu_change)
        self._owned = False

    @classmethod
    def of_device(cls, channel: Channel, kind: DevKind, on_mtu_change: MtuCallback) -> Link:
        """The Link an :class:`~tuntap_cffi.Interface` owns (internal).

        Its requests go through ``channel``, under the interface's lifetime;
        the interface releases the channel with its fds.
        """
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
        """The device's name."""
        return self._channel.name

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

    def events(self, timeout: float | None = None) -> events_module.LinkEvents:
        """The device's events, as an iterator (:class:`~tuntap_cffi.LinkEvents`)."""
        return events_module.LinkEvents(self._channel, timeout)

    def close(self) -> None:
        """Close the socket (once no call uses it); harmless twice.

        The Link of an Interface is closed by the Interface: this does nothing there.
        """
        if not self._owned:
            self._channel.lifetime.close()

    def __enter__(self) -> Link:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_owned", True) or self.closed:
            return
        warnings.warn(f"unclosed Link {self.name}", ResourceWarning, stacklevel=2)
        self.close()

    def __repr__(self) -> str:
        return f"<Link {self.name} {'closed' if self.closed else 'open'}>"

    def _mtu_changed(self, mtu: int) -> None:
        if self._on_mtu_change is not None:
            self._on_mtu_change(mtu)

    # -- addresses -----------------------------------------------------------------

    def add_address(
        self, ip: AddressLike, subnet: SubnetLike = None, *, nodad: bool = False
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

        Raises:
            ValueError, TypeError: a bad address, prefix or mask.
            FileExistsError: the address is already assigned.
            PermissionError: no CAP_NET_ADMIN.
            OSError: the interface is gone, or the kernel refused.
        """
        operation = "add_address"
        self._channel.lifetime.check_open(operation)
        address, _given = parse_address(ip, subnet, operation)
        flags = _lowlevel.IFA_F_NODAD if check_flag(nodad, "add_address nodad") else 0
        label = f"{operation} {address}"
        self._channel.request(
            operation, lambda nl, index: nl.change_address(True, index, address, flags, label)
        )
        if flags:
            self._channel.await_nodad(operation)

    def del_address(self, ip: AddressLike, subnet: SubnetLike = None) -> None:
        """Remove an address; without a prefix, whatever prefix it has.

        Takes the same forms as :meth:`add_address`.

        Raises:
            OSError: (EADDRNOTAVAIL) the address is not assigned; or as add_address.
        """
        operation = "del_address"
        self._channel.lifetime.check_open(operation)
        address, given = parse_address(ip, subnet, operation)

        def delete(nl: Netlink, index: int) -> None:
            target = address
            if not given:
                for entry in nl.addresses(index, operation):
                    if entry.address == address.ip.packed:
                        target = ipaddress.ip_interface((address.ip, entry.prefixlen))
                        break
            nl.change_address(False, index, target, 0, f"{operation} {target}")

        self._channel.request(operation, delete)

    def get_addr_list(self) -> list[bytes]:
        """Every address of the interface as raw bytes (4 IPv4, 16 IPv6). Go: GetAddrList."""
        return [entry.address for entry in self._entries("get_addr_list")]

    def addresses(self) -> list[IPInterface]:
        """Every address of the interface with its prefix, as ``ip_interface`` objects."""
        return [
            ipaddress.ip_interface((ipaddress.ip_address(entry.address), entry.prefixlen))
            for entry in self._entries("addresses")
        ]

    def _entries(self, operation: str) -> list[_lowlevel.AddressEntry]:
        self._channel.lifetime.check_open(operation)
        return self._channel.addresses(operation)

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
        mtu = check_int(mtu, operation, "mtu")
        low = IPV6_MIN_MTU if self._channel.ipv6_on() else MIN_MTU
        high = MAX_MTU if self._kind is None else _MAX_MTU[self._kind]
        if not low <= mtu <= high:
            ipv6 = " with IPv6 on" if low == IPV6_MIN_MTU else ""
            kind = "this device" if self._kind is None else f"a {self._kind.name} device"
            raise ValueError(
                f"{operation} on {self.name}: MTU {mtu} is outside {low}..{high} for {kind}{ipv6}"
            )
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
            raise ValueError(f"{operation} on {self.name}: {length} is outside 0..{_MAX_TXQLEN}")
        self._channel.request(
            operation, lambda nl, index: nl.set_link(index, operation, txqlen=length)
        )

    def _check_tap(self, operation: str) -> None:
        self._channel.lifetime.check_open(operation)
        if self._kind == DevKind.TUN:
            raise ValueError(
                f"{operation} on {self.name}: a TUN device has no hardware address "
                "(only TAP devices have one)"
            )

    @property
    def hwaddr(self) -> str:
        """The TAP device's MAC address, ``"aa:bb:cc:dd:ee:ff"``."""
        self._check_tap("hwaddr")
        return format_mac(self._channel.link("hwaddr").hwaddr)

    def set_hwaddr(self, mac: str | bytes) -> None:
        """Set the TAP device's MAC address (``"02:00:5e:00:53:01"`` or 6 bytes)."""
        operation = "set_hwaddr"
        self._check_tap(operation)
        raw = parse_mac(mac, operation)
        self._channel.request(
            operation, lambda nl, index: nl.set_link(index, operation, hwaddr=raw)
        )

    # -- IPv6 controls ------------------------------------------------------------

    def _write_ipv6_conf(self, key: str, value: bool, operation: str) -> None:
        self._channel.lifetime.check_open(operation)
        self._channel.write_ipv6_conf(key, check_flag(value, operation), operation)

    def set_ipv6(self, enabled: bool) -> None:
        """Enable or disable IPv6 on the device (``disable_ipv6``, inverted). Go: IPv6."""
        self._write_ipv6_conf("disable_ipv6", not check_flag(enabled, "set_ipv6"), "set_ipv6")

    def set_ipv6_forwarding(self, enabled: bool) -> None:
        """Enable or disable IPv6 forwarding on the device. Go: IPv6Forwarding."""
        self._write_ipv6_conf("forwarding", enabled, "set_ipv6_forwarding")

    def set_ipv6_slaac(self, enabled: bool) -> None:
        """Enable or disable stateless address autoconfiguration. Go: IPv6SLAAC."""
        self._write_ipv6_conf("autoconf", enabled, "set_ipv6_slaac")
