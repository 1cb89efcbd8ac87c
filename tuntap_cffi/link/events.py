"""Link events: what the kernel announces about one device, as typed values.

``link.events()`` opens a NETLINK_ROUTE socket of its own, joined to the
link and address groups of the device's namespace; the C shim
(``csrc/events.c``) reads one datagram at a time and keeps the records of
this device's messages. An RTM_NEWLINK carries the link's whole state, so
the reader keeps the state it last saw (read from the kernel when it
starts) and reports what changed; it keeps the device's addresses the same
way, so that an address is added once however often the kernel re-announces
it (after DAD, for example).

The reader has a usage count of its own (:class:`~.lifetime.Lifetime`),
closed by its :meth:`LinkEvents.close` and by the close of the Link or
Interface it watches: either wakes a waiting reader at once (an eventfd the
wait in C also polls), and the iteration ends.
"""

from __future__ import annotations

import collections
import contextlib
import enum
import errno
import ipaddress
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Callable, NamedTuple

from .. import _lowlevel, netns
from ..errors import InterfaceClosedError, os_error
from ..lifetime import Lifetime
from ..timeouts import RETRYABLE, Timeout, deadline_of, next_slice, slice_ms
from .addresses import IPInterface
from .channel import Channel
from .netlink import Netlink

__all__ = ["EventKind", "LinkEvent", "LinkEvents", "LinkState", "link_changes"]

_log = logging.getLogger(__name__)
_OPERATION = "events"
# Datagrams dropped at most after an overrun (a socket holds a few hundred).
_DRAIN_MAX = 100_000


class EventKind(enum.Enum):
    """What happened to the device."""

    UP = "up"  # IFF_UP set (ip link set up)
    DOWN = "down"  # IFF_UP cleared
    CARRIER_UP = "carrier-up"  # IFF_LOWER_UP set (a TUN/TAP: a queue is attached, link up)
    CARRIER_DOWN = "carrier-down"  # IFF_LOWER_UP cleared
    MTU = "mtu"  # the MTU changed
    RENAMED = "renamed"  # the device has a new name
    ADDRESS_ADDED = "address-added"
    ADDRESS_REMOVED = "address-removed"
    DELETED = "deleted"  # deleted, or moved to another namespace; the last event
    OVERRUN = "overrun"  # the socket overran: events were lost (then the state is re-read)


@dataclass(frozen=True)
class LinkEvent:
    """One change of one device, with the device's state after it.

    Attributes:
        kind: what happened.
        ifindex: the device's interface index.
        name: its name (the new one for ``RENAMED``).
        flags: its ``IFF_*`` flags after the event.
        mtu: its MTU after the event.
        address: the address added or removed (``ADDRESS_*`` only), else None.
        address_flags: that address's ``IFA_F_*`` flags (``ADDRESS_*`` only), else 0.
    """

    kind: EventKind
    ifindex: int
    name: str
    flags: int
    mtu: int
    address: IPInterface | None = None
    address_flags: int = 0


class LinkState(NamedTuple):
    """What an RTM_NEWLINK says of a device, as far as the events go."""

    flags: int
    mtu: int
    name: str


def _bit_change(old: int, new: int, bit: int, rise: EventKind, fall: EventKind) -> list[EventKind]:
    if (old ^ new) & bit:
        return [rise if new & bit else fall]
    return []


def link_changes(old: LinkState, new: LinkState) -> list[EventKind]:
    """The events that lead from ``old`` to ``new``: the link state, the carrier,
    the MTU, the name (in that order)."""
    kinds = _bit_change(old.flags, new.flags, _lowlevel.IFF_UP, EventKind.UP, EventKind.DOWN)
    kinds += _bit_change(
        old.flags, new.flags, _lowlevel.IFF_LOWER_UP, EventKind.CARRIER_UP, EventKind.CARRIER_DOWN
    )
    if old.mtu != new.mtu:
        kinds.append(EventKind.MTU)
    if old.name != new.name:
        kinds.append(EventKind.RENAMED)
    return kinds


def _address_of(raw: bytes, prefixlen: int) -> IPInterface:
    return ipaddress.ip_interface((ipaddress.ip_address(raw), prefixlen))


def _release(sock: _lowlevel.EventSocket, wakefd: int, name: str) -> None:
    try:
        _lowlevel.check(sock.close(), "close events socket", name)
    finally:
        _lowlevel.close_fd(wakefd, name)


class LinkEvents:
    """The events of one device, as an iterator (``link.events()``, ``iface.link.events()``).

    Each ``next()`` waits for the next event, at most ``timeout`` seconds
    (then ``TimeoutError``; the iterator stays usable). The iteration ends
    after ``DELETED``, and at once when this iterator, its Link or its
    Interface is closed (a wait in another thread returns then). An overrun
    socket is reported as an ``OVERRUN`` event, followed by the changes
    found by reading the device's state afresh. Close it (or use ``with``)
    to release its socket at once; dropping it releases it too.

    Raises:
        InterfaceClosedError: the Link is closed already (when made).
        OSError: the socket could not be opened, or the kernel failed.
    """

    def __init__(self, channel: Channel, timeout: Timeout = None) -> None:
        deadline_of(timeout)  # refuse a bad timeout before any call
        channel.lifetime.check_open(_OPERATION)
        self._timeout = timeout
        self._channel = channel
        self._name = name = channel.name
        self._pending: collections.deque[LinkEvent] = collections.deque()
        self._lock = threading.Lock()
        wakefd = _lowlevel.new_wake_fd(name)
        self._wakefd = wakefd
        sock = self._socket = _lowlevel.EventSocket(0, wakefd)
        # The release closes over the socket, not this object: a reader
        # dropped unclosed is then collected at once, and its __del__ closes it.
        self._lifetime = Lifetime(
            name, lambda: _release(sock, wakefd, name), wake=lambda: _lowlevel.wake(wakefd, name)
        )
        self._cancel_watch: Callable[[], None] = lambda: None
        try:
            channel.request(_OPERATION, self._start)
        except BaseException:
            self._lifetime.close()
            raise
        self._cancel_watch = channel.lifetime.on_close(self._lifetime.close)

    def _start(self, nl: Netlink, ifindex: int) -> None:
        """Subscribe (in the device's namespace), then read the state to compare with."""
        self._socket.c.ifindex = ifindex
        nsfd = self._channel.netns_fd
        if nsfd < 0:
            result = self._socket.open()
        else:
            opened = _lowlevel.nl_new()
            netns.open_in(nsfd, None, _lowlevel.ACCESS_READ, 0, opened, _OPERATION, self._name)
            result = self._socket.adopt(opened)
        if result < 0:
            raise os_error(-result, _OPERATION, self._name, area="netlink")
        self._state, self._addresses = self._read_state(nl, ifindex)

    def _read_state(self, nl: Netlink, ifindex: int) -> tuple[LinkState, dict[IPInterface, int]]:
        info = nl.link(ifindex, _OPERATION)
        addresses = {
            _address_of(e.address, e.prefixlen): e.flags for e in nl.addresses(ifindex, _OPERATION)
        }
        return LinkState(info.flags, info.mtu, info.name), addresses

    # -- the iterator ------------------------------------------------------------

    def __iter__(self) -> Iterator[LinkEvent]:
        return self

    def __next__(self) -> LinkEvent:
        event = self._next(deadline_of(self._timeout), wait=True)
        assert event is not None
        return event

    def next_ready(self) -> LinkEvent | None:
        """The next event if one is ready, else None; never waits (for event loops).

        Raises:
            StopIteration: the iteration has ended.
        """
        return self._next(None, wait=False)

    def _next(self, deadline: float | None, wait: bool) -> LinkEvent | None:
        with self._lock:
            if self._lifetime.closed:
                self._pending.clear()  # closed: what was not taken is dropped
                raise StopIteration
            while not self._pending:
                if self._lifetime.closed:
                    raise StopIteration
                result = self._recv(slice_ms(deadline) if wait else 0)
                if result > 0:
                    self._pending.extend(self._changes(self._socket.records(result)))
                elif result in (-errno.ENOBUFS, -errno.EMSGSIZE):
                    self._pending.extend(self._resync())
                elif result in RETRYABLE:
                    if not wait:
                        return None
                    if next_slice(deadline) is None:
                        raise TimeoutError(
                            errno.ETIMEDOUT, f"{_OPERATION} on {self._name}: timed out"
                        )
                elif result < 0 and result != -errno.ECANCELED:
                    raise os_error(-result, _OPERATION, self._name, area="netlink")
            event = self._pending.popleft()
            if event.kind is EventKind.DELETED:
                self.close()
            return event

    def _recv(self, timeout_ms: int) -> int:
        """One C call under this reader's usage count; -ECANCELED once it is closed."""
        try:
            self._lifetime.enter(_OPERATION)
        except InterfaceClosedError:
            return -errno.ECANCELED
        try:
            return self._socket.recv(timeout_ms)
        finally:
            self._lifetime.leave()

    def _event(
        self, kind: EventKind, address: IPInterface | None = None, flags: int = 0
    ) -> LinkEvent:
        state = self._state
        return LinkEvent(
            kind, self._socket.c.ifindex, state.name, state.flags, state.mtu, address, flags
        )

    def _changes(self, records: list[_lowlevel.EventRecord]) -> list[LinkEvent]:
        """The events of some records, applied to the state in order; none after DELETED."""
        events = []
        for record in records:
            if record.kind == _lowlevel.EVENT_LINK:
                old = self._state
                self._state = LinkState(
                    record.flags, record.mtu or old.mtu, record.name or old.name
                )
                events += [self._event(kind) for kind in link_changes(old, self._state)]
            elif record.kind == _lowlevel.EVENT_LINK_GONE:
                events.append(self._event(EventKind.DELETED))
                break
            else:
                address = _address_of(record.address, record.prefixlen)
                if record.kind == _lowlevel.EVENT_ADDR_NEW:
                    if address not in self._addresses:
                        events.append(self._event(EventKind.ADDRESS_ADDED, address, record.flags))
                    self._addresses[address] = record.flags
                elif self._addresses.pop(address, None) is not None:
                    events.append(self._event(EventKind.ADDRESS_REMOVED, address, record.flags))
        return events

    def _resync(self) -> list[LinkEvent]:
        """After lost notifications: OVERRUN, then what changed meanwhile.

        What the socket still holds is older than the loss: it is dropped
        first, so that no event takes the state back behind the one read.
        """
        _log.warning(
            "%s: link events were lost (the socket's buffer overran); "
            "reading the link's state afresh",
            self._name,
        )
        events = [self._event(EventKind.OVERRUN)]
        for _ in range(_DRAIN_MAX):
            if self._recv(0) in (-errno.EAGAIN, -errno.ECANCELED):
                break
        try:
            state, addresses = self._channel.request(_OPERATION, self._read_state)
        except InterfaceClosedError:
            self.close()
            return events
        except OSError as exc:
            if exc.errno != errno.ENODEV:
                raise
            return [*events, self._event(EventKind.DELETED)]  # the RTM_DELLINK was lost
        old, self._state = self._state, state
        events += [self._event(kind) for kind in link_changes(old, state)]
        for address, flags in self._addresses.items():
            if address not in addresses:
                events.append(self._event(EventKind.ADDRESS_REMOVED, address, flags))
        for address, flags in addresses.items():
            if address not in self._addresses:
                events.append(self._event(EventKind.ADDRESS_ADDED, address, flags))
        self._addresses = addresses
        return events

    # -- fds and lifetime ---------------------------------------------------------

    @property
    def name(self) -> str:
        """The device's name (as the Link knew it when the reader started)."""
        return self._name

    @property
    def closed(self) -> bool:
        """True once the iteration has ended (closed, or the device deleted)."""
        return self._lifetime.closed

    def fileno(self) -> int:
        """The netlink socket's fd (readable when a notification is waiting)."""
        self._lifetime.check_open("fileno")
        return self._socket.fd

    @contextlib.contextmanager
    def held_fds(self) -> Iterator[tuple[int, int]]:
        """Hold the socket and the wake-up eventfd open for a wait outside this
        class (an event loop's ``add_reader``): ``with events.held_fds() as (fd, wakefd)``.
        The eventfd is readable once the reader is closed.

        Raises:
            InterfaceClosedError: the reader is closed.
        """
        self._lifetime.enter("held_fds")
        try:
            yield self._socket.fd, self._wakefd
        finally:
            self._lifetime.leave()

    def close(self) -> None:
        """End the iteration and release the socket (once no call uses it); harmless twice."""
        self._cancel_watch()
        self._lifetime.close()

    def __enter__(self) -> LinkEvents:
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
        if lifetime is not None and not lifetime.closed:
            self.close()

    def __repr__(self) -> str:
        return f"<LinkEvents {self._name} {'closed' if self.closed else 'open'}>"
