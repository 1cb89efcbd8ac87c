"""``LinkCalls``: the configuration calls of an :class:`~tuntap_cffi.Interface`,
each its :class:`~tuntap_cffi.Link`'s (one line each, so that ``iface.up()``
works as ``iface.link.up()`` does)."""

from __future__ import annotations

from ..link.addresses import AddressLike, PeerInterface, SubnetLike
from ..link.ifaddrs import PeerLike
from ..link.link import Link
from ..link.routes import GatewayLike, NetworkLike, Route
from ..link.stats import LinkStats

__all__ = ["LinkCalls"]


class LinkCalls:
    """The configuration methods that delegate to ``self._link``."""

    _link: Link

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
        self._link.add_address(ip, subnet, nodad=nodad, peer=peer)

    def del_address(
        self, ip: AddressLike, subnet: SubnetLike = None, *, peer: PeerLike | None = None
    ) -> None:
        """Remove an address; without a prefix (or peer), whatever prefix (or peer) it has."""
        self._link.del_address(ip, subnet, peer=peer)

    def get_addr_list(self) -> list[bytes]:
        """Every address of the interface as raw bytes (4 IPv4, 16 IPv6). Go: GetAddrList."""
        return self._link.get_addr_list()

    def addresses(self) -> list[PeerInterface]:
        """Every address with its prefix: ``ip_interface`` values with a ``peer``."""
        return self._link.addresses()

    def add_route(
        self,
        destination: NetworkLike,
        via: GatewayLike = None,
        metric: int | None = None,
        table: int | None = None,
        src: GatewayLike = None,
    ) -> None:
        """Add a route through the device: :meth:`Link.add_route`."""
        self._link.add_route(destination, via, metric, table, src)

    def del_route(
        self,
        destination: NetworkLike,
        via: GatewayLike = None,
        metric: int | None = None,
        table: int | None = None,
        src: GatewayLike = None,
    ) -> None:
        """Delete a route through the device: :meth:`Link.del_route`."""
        self._link.del_route(destination, via, metric, table, src)

    def routes(self) -> list[Route]:
        """Every route through the device, of every table (the kernel's own included)."""
        return self._link.routes()

    @property
    def stats(self) -> LinkStats:
        """The device's counters now (IFLA_STATS64)."""
        return self._link.stats

    @property
    def ifindex(self) -> int:
        """The interface index the kernel gave the device (asked afresh: it may be gone)."""
        return self._link.ifindex

    @property
    def mtu(self) -> int:
        """The link MTU (also sets :attr:`write_limit` to match it)."""
        return self._link.mtu

    def set_mtu(self, mtu: int) -> None:
        """Set the link MTU; raises the write limit with it. Go: SetMTU.

        Checked and refused as :meth:`Link.set_mtu` says.
        """
        self._link.set_mtu(mtu)

    def up(self) -> None:
        """Set the link up. Go: Up."""
        self._link.up()

    def down(self) -> None:
        """Set the link down."""
        self._link.down()

    @property
    def is_up(self) -> bool:
        """True when the link is administratively up (IFF_UP)."""
        return self._link.is_up

    @property
    def txqueuelen(self) -> int:
        """The transmit queue length: packets the kernel holds for us before dropping."""
        return self._link.txqueuelen

    def set_txqueuelen(self, length: int) -> None:
        """Set the transmit queue length (0..2**32-1 packets)."""
        self._link.set_txqueuelen(length)

    @property
    def hwaddr(self) -> str:
        """The TAP device's MAC address, ``"aa:bb:cc:dd:ee:ff"``."""
        return self._link.hwaddr

    def set_hwaddr(self, mac: str | bytes) -> None:
        """Set the TAP device's MAC address (``"02:00:5e:00:53:01"`` or 6 bytes)."""
        self._link.set_hwaddr(mac)

    def set_ipv4_forwarding(self, enabled: bool) -> None:
        """Enable or disable IPv4 forwarding on the device (``ipv4/conf/<name>/forwarding``)."""
        self._link.set_ipv4_forwarding(enabled)

    def set_ipv6(self, enabled: bool) -> None:
        """Enable or disable IPv6 on the device (``disable_ipv6``, inverted). Go: IPv6."""
        self._link.set_ipv6(enabled)

    def set_ipv6_forwarding(self, enabled: bool) -> None:
        """Enable or disable IPv6 forwarding on the device. Go: IPv6Forwarding."""
        self._link.set_ipv6_forwarding(enabled)

    def set_ipv6_slaac(self, enabled: bool) -> None:
        """Enable or disable stateless address autoconfiguration. Go: IPv6SLAAC."""
        self._link.set_ipv6_slaac(enabled)
