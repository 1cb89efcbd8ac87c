"""``Configurable``: the configuration calls of a :class:`~tuntap_cffi.Link` on
what has one as its ``link`` (an :class:`~tuntap_cffi.Interface`, an
:class:`~tuntap_cffi.AsyncInterface`): one line each, so that ``iface.up()``
works as ``iface.link.up()`` does, and written once for both."""

from __future__ import annotations

from abc import abstractmethod

from .addresses import AddressLike, PeerInterface, SubnetLike
from .ifaddrs import PeerLike
from .link import Link
from .routes import GatewayLike, NetworkLike, Route
from .stats import LinkStats

__all__ = ["Configurable"]


class Configurable:
    """The configuration methods of :attr:`link`, delegated to it.

    A class deriving from this one provides the ``link`` property; mypy
    refuses to make an instance of one that does not.
    """

    @property
    @abstractmethod
    def link(self) -> Link:
        """The device's configuration, which every call here goes to."""
        raise NotImplementedError(f"{type(self).__name__} has no link")

    def add_address(
        self,
        ip: AddressLike,
        subnet: SubnetLike = None,
        *,
        nodad: bool = False,
        peer: PeerLike | None = None,
    ) -> None:
        """Assign an address (with ``peer``: point-to-point). Go: AddAddress.

        The forms it takes and its errors: :meth:`Link.add_address`.
        """
        self.link.add_address(ip, subnet, nodad=nodad, peer=peer)

    def del_address(
        self, ip: AddressLike, subnet: SubnetLike = None, *, peer: PeerLike | None = None
    ) -> None:
        """Remove an address; without a prefix (or peer), whatever prefix (or peer) it has."""
        self.link.del_address(ip, subnet, peer=peer)

    def get_addr_list(self) -> list[bytes]:
        """Every address of the interface as raw bytes (4 IPv4, 16 IPv6). Go: GetAddrList."""
        return self.link.get_addr_list()

    def addresses(self) -> list[PeerInterface]:
        """Every address with its prefix: ``ip_interface`` values with a ``peer``."""
        return self.link.addresses()

    def add_route(
        self,
        destination: NetworkLike,
        via: GatewayLike = None,
        metric: int | None = None,
        table: int | None = None,
        src: GatewayLike = None,
    ) -> None:
        """Add a route through the device: :meth:`Link.add_route`."""
        self.link.add_route(destination, via, metric, table, src)

    def del_route(
        self,
        destination: NetworkLike,
        via: GatewayLike = None,
        metric: int | None = None,
        table: int | None = None,
        src: GatewayLike = None,
    ) -> None:
        """Delete a route through the device: :meth:`Link.del_route`."""
        self.link.del_route(destination, via, metric, table, src)

    def routes(self) -> list[Route]:
        """Every route through the device, of every table (the kernel's own included)."""
        return self.link.routes()

    @property
    def stats(self) -> LinkStats:
        """The device's counters now (IFLA_STATS64)."""
        return self.link.stats

    @property
    def ifindex(self) -> int:
        """The interface index the kernel gave the device (asked afresh: it may be gone)."""
        return self.link.ifindex

    @property
    def mtu(self) -> int:
        """The link MTU (also sets :attr:`write_limit` to match it)."""
        return self.link.mtu

    def set_mtu(self, mtu: int) -> None:
        """Set the link MTU; raises the write limit with it. Go: SetMTU.

        Checked and refused as :meth:`Link.set_mtu` says.
        """
        self.link.set_mtu(mtu)

    def up(self) -> None:
        """Set the link up. Go: Up."""
        self.link.up()

    def down(self) -> None:
        """Set the link down."""
        self.link.down()

    @property
    def is_up(self) -> bool:
        """True when the link is administratively up (IFF_UP)."""
        return self.link.is_up

    @property
    def txqueuelen(self) -> int:
        """The transmit queue length: packets the kernel holds for us before dropping."""
        return self.link.txqueuelen

    def set_txqueuelen(self, length: int) -> None:
        """Set the transmit queue length (0..2**32-1 packets)."""
        self.link.set_txqueuelen(length)

    @property
    def hwaddr(self) -> str:
        """The TAP device's MAC address, ``"aa:bb:cc:dd:ee:ff"``."""
        return self.link.hwaddr

    def set_hwaddr(self, mac: str | bytes) -> None:
        """Set the TAP device's MAC address (``"02:00:5e:00:53:01"`` or 6 bytes)."""
        self.link.set_hwaddr(mac)

    def set_ipv4_forwarding(self, enabled: bool) -> None:
        """Enable or disable IPv4 forwarding on the device (``ipv4/conf/<name>/forwarding``)."""
        self.link.set_ipv4_forwarding(enabled)

    def set_ipv6(self, enabled: bool) -> None:
        """Enable or disable IPv6 on the device (``disable_ipv6``, inverted). Go: IPv6."""
        self.link.set_ipv6(enabled)

    def set_ipv6_forwarding(self, enabled: bool) -> None:
        """Enable or disable IPv6 forwarding on the device. Go: IPv6Forwarding."""
        self.link.set_ipv6_forwarding(enabled)

    def set_ipv6_slaac(self, enabled: bool) -> None:
        """Enable or disable stateless address autoconfiguration. Go: IPv6SLAAC."""
        self.link.set_ipv6_slaac(enabled)
