"""``Interface``: one open TUN/TAP device (one queue of it); ``opening.open`` makes one.

The packet I/O is the :class:`~tuntap_cffi.queue.Queue`'s that the interface
is; its configuration is its :class:`~tuntap_cffi.Link` (composed: the
configuration methods here delegate to it); its usage count is a
:class:`~tuntap_cffi.lifetime.Lifetime`, so that ``close()`` wakes every call
blocked on it and the last one out releases the fds.
"""

from __future__ import annotations

import errno
import warnings
import weakref
from types import TracebackType
from typing import Callable

from . import _lowlevel, devices
from .addresses import AddressLike, SubnetLike
from .batch_io import BatchQueue
from .channel import Channel
from .devices import CLONE_DEVICE
from .errors import hint_for, os_error
from .ifaddrs import PeerLike
from .lifetime import Lifetime
from .link import Link
from .netlink import Netlink
from .offload import NONE, Offload
from .packet import DevKind
from .peer import PeerInterface
from .queue import DEFAULT_WRITE_LIMIT, Timeout, Writable, follow_mtu
from .routes import GatewayLike, NetworkLike, Route
from .stats import LinkStats

__all__ = ["CLONE_DEVICE", "DEFAULT_WRITE_LIMIT", "Interface", "Timeout", "Writable"]


def _release(fd: int, wakefd: int, name: str, channel: Channel) -> None:
    """What the last one out of an Interface closes: its socket, namespace fd and fds."""
    channel.release()
    _lowlevel.close_fd(fd, name)
    _lowlevel.close_fd(wakefd, name)


class Interface(BatchQueue):
    """An open TUN or TAP device. Go: Interface.

    Create one with :func:`open`. Usable as a context manager; closing it
    destroys a non-persistent device. The packet calls are those of the
    queue it is (:class:`~tuntap_cffi.queue.Queue` for one packet,
    :class:`~tuntap_cffi.batch_io.BatchQueue` for batches); the configuration
    calls those of its :attr:`link`.
    """

    def __init__(
        self,
        fd: int,
        wakefd: int,
        name: str,
        kind: DevKind,
        *,
        multi_queue: bool = False,
        netlink: Netlink | None = None,
        netns_fd: int = -1,
        offload: Offload = NONE,
    ) -> None:
        self._multi_queue = multi_queue
        lifetime = Lifetime(
            name,
            lambda: _release(fd, wakefd, name, channel),
            wake=lambda: _lowlevel.wake(wakefd, name),
        )
        channel = Channel(name, lifetime, netlink, netns_fd)
        link = Link.of_device(channel, kind, follow_mtu(weakref.ref(self)))
        super().__init__(fd, wakefd, name, kind, offload, lifetime, link)

    # -- identity ---------------------------------------------------------

    @property
    def name(self) -> str:
        """The device's name, as the kernel chose it from the pattern. Go: Name."""
        return self._name

    @property
    def kind(self) -> DevKind:
        """``DevKind.TUN`` or ``DevKind.TAP``."""
        return self._kind

    @property
    def link(self) -> Link:
        """The device's configuration (addresses, MTU, link state, IPv6), closed with it."""
        return self._link

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._lifetime.closed

    @property
    def offload(self) -> Offload:
        """The offload features the kernel accepted (empty: not an offload device)."""
        return self._offload

    def fileno(self) -> int:
        """The device fd (non-blocking), e.g. for ``select`` or an event loop."""
        self._lifetime.check_open("fileno")
        return self._fd

    def __repr__(self) -> str:
        state = "closed" if self._lifetime.closed else f"fd={self._fd}"
        return f"<Interface {self._name} {self._kind.name} {state}>"

    # -- lifetime: see lifetime.py ------------------------------------------

    def close(self) -> None:
        """Close the device; wakes every call blocked on it. Go: Close.

        Calls waiting in other threads raise :class:`InterfaceClosedError`.
        Closing twice is harmless.
        """
        self._lifetime.close()

    def __enter__(self) -> Interface:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        lifetime = getattr(self, "_lifetime", None)
        if lifetime is None or lifetime.closed:
            return
        warnings.warn(f"unclosed interface {self._name}", ResourceWarning, stacklevel=2)
        self.close()

    # -- configuration: the link's (see link.py) ------------------------------

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

    # -- operating the device: persistence, queues -------------------------

    @property
    def multi_queue(self) -> bool:
        """True for a queue of a multi-queue device (made by :func:`open_queues`)."""
        return self._multi_queue

    def _device_call(
        self,
        operation: str,
        call: Callable[[int], int],
        area: str = "",
        hints: dict[int, str] | None = None,
    ) -> None:
        """Run one ioctl on the device fd, held through the usage count.

        A refusal is explained by the errors.HINTS of ``area``, or by
        ``hints`` (those that depend on more than the errno), or as any
        failure of the device fd.
        """
        self._enter(operation)
        try:
            result = call(self._fd)
        finally:
            self._leave()
        if result < 0:
            hint = (hints or {}).get(-result) or hint_for(-result, area)
            if not hint:
                raise self._error(-result, operation)
            raise os_error(-result, operation, self._name, hint=hint)

    def set_persist(self, persist: bool) -> None:
        """Keep the device when its last fd closes (True), or let it go then (False).

        TUNSETPERSIST. A persistent device stays, with its addresses, until
        ``set_persist(False)`` and the last close, or ``ip link delete``.
        """
        if not isinstance(persist, bool):
            raise TypeError(f"set_persist takes True or False, not {persist!r}")
        self._device_call("set_persist", lambda fd: _lowlevel.set_persist(fd, persist))

    def _check_multi_queue(self, operation: str) -> None:
        self._lifetime.check_open(operation)
        if not self._multi_queue:
            raise ValueError(
                f"{operation} on {self._name}: not a queue of a multi-queue device "
                "(open one with tuntap.open_queues())"
            )

    def detach_queue(self) -> None:
        """Take this queue out of the device's rotation (TUNSETQUEUE, IFF_DETACH_QUEUE).

        The kernel then spreads every flow over the other queues; this one
        receives nothing (its reads wait or time out) until :meth:`attach_queue`.
        Packets it still held are dropped.

        Raises:
            ValueError: not a queue of a multi-queue device.
            OSError: (EINVAL) the queue is detached already.
        """
        self._check_multi_queue("detach_queue")
        self._device_call("detach_queue", lambda fd: _lowlevel.set_queue(fd, False), "detach-queue")

    def attach_queue(self) -> None:
        """Put a detached queue back into the device's rotation (IFF_ATTACH_QUEUE).

        Raises:
            ValueError: not a queue of a multi-queue device.
            OSError: (EINVAL) the queue is attached already; (E2BIG) the device
                has the most queues the kernel allows.
        """
        self._check_multi_queue("attach_queue")
        self._device_call(
            "attach_queue",
            lambda fd: _lowlevel.set_queue(fd, True),
            "attach-queue",
            {errno.E2BIG: devices.FULL_HINT},
        )
