"""asyncio: ``AsyncInterface``, an awaitable face of :class:`Interface`.

Waits use ``loop.add_reader``/``add_writer`` on the non-blocking fd, never a
thread. A packet is read only after the fd reported it ready, in the same
step that returns it, so cancelling an ``await`` (or ``asyncio.timeout``)
never loses a packet: it is either returned or left in the kernel. Link
events (:meth:`AsyncInterface.events`) are awaited the same way, on the
event reader's own socket, and so are :func:`udp_recv_batch` and
:func:`udp_send_batch` on an ordinary UDP socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import AsyncIterator, Iterable, Iterator
from types import TracebackType
from typing import Any

from . import _lowlevel
from .device.interface import Interface
from .device.opening import open as open_interface
from .device.queue import coalescing
from .errors import BatchWriteStopped, InterfaceClosedError
from .lifetime import Lifetime
from .link.configurable import Configurable
from .link.events import LinkEvent, LinkEvents
from .link.link import Link
from .packets.batch import PacketBatch
from .packets.offload import Offload
from .packets.packet import DevKind, Packet
from .packets.writes import Writable, write_job
from .timeouts import deadline_of
from .udp import socket_closed, udp_recv_batch as _udp_recv_batch, udp_send_batch as _udp_send_batch

__all__ = ["AsyncInterface", "AsyncLinkEvents", "udp_recv_batch", "udp_send_batch"]


class _Readiness:
    """Futures waiting for some fds to be ready in one direction, sharing one registration.

    While the loop watches the fds, the registration counts as a user of the
    lifetime that owns them, so a close releases them only after the loop
    stopped watching: the loop never holds a registration of a released fd
    number (which another open would re-use). :meth:`closed` wakes every
    waiter, whose next try raises, and stops watching.
    """

    def __init__(self, lifetime: Lifetime, operation: str, for_write: bool) -> None:
        self._lifetime = lifetime
        self._operation = operation
        self._for_write = for_write
        self._waiters: set[asyncio.Future[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fds: tuple[int, ...] = ()

    def _register(self, loop: asyncio.AbstractEventLoop, fds: tuple[int, ...]) -> None:
        self._lifetime.enter(self._operation)  # InterfaceClosedError once closed
        add = loop.add_writer if self._for_write else loop.add_reader
        done: list[int] = []
        try:
            for fd in fds:
                add(fd, self._fire)
                done.append(fd)
        except BaseException:
            self._remove(loop, done)
            raise
        self._loop, self._fds = loop, fds

    def _remove(self, loop: asyncio.AbstractEventLoop, fds: Iterable[int]) -> None:
        """Stop watching ``fds``, then let the lifetime release them."""
        remove = loop.remove_writer if self._for_write else loop.remove_reader
        try:
            for fd in fds:
                remove(fd)
        finally:
            self._lifetime.leave()

    def _unregister(self) -> None:
        loop = self._loop
        if loop is not None:
            self._loop = None
            self._remove(loop, self._fds)

    def _fire(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _stop(self) -> None:
        self._unregister()
        self._fire()

    async def wait(self, fds: tuple[int, ...]) -> None:
        """Return once one of ``fds`` is ready, or the lifetime closed.

        Raises:
            InterfaceClosedError: closed before the wait began.
        """
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._register(loop, fds)
        elif self._loop is not loop:
            raise RuntimeError("an AsyncInterface (or its events) is awaited in one loop at a time")
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.add(waiter)
        if self._lifetime.closing:
            waiter.set_result(None)  # closed meanwhile, maybe unseen by closed(): try again
        try:
            await waiter
        finally:
            self._waiters.discard(waiter)
            if not self._waiters:
                self._unregister()

    def closed(self) -> None:
        """The lifetime closed (in any thread): wake the waiters and stop watching,
        in the loop's own thread (at once when that is this one)."""
        loop = self._loop
        if loop is None:
            return  # nothing watched; a wait that starts now sees the close itself
        try:
            here = asyncio.get_running_loop() is loop
        except RuntimeError:
            here = False
        if here:
            self._stop()
            return
        try:
            loop.call_soon_threadsafe(self._stop)
        except RuntimeError:  # the loop is closed: it watches nothing any more
            self._unregister()


class AsyncInterface(Configurable):
    """An :class:`Interface` whose packet I/O is awaited.

    The rest is the Interface's own, synchronous (quick netlink calls and
    ioctls): ``name``, ``kind``, ``fileno()``, ``write_limit``, the queue
    and persistence calls, and the configuration methods of its :attr:`link`
    (:class:`~tuntap_cffi.link.configurable.Configurable`). The wrapped
    object is :attr:`interface`.
    """

    def __init__(self, interface: Interface) -> None:
        self._iface = interface
        lifetime = interface._lifetime
        readable = self._readable = _Readiness(lifetime, "read", for_write=False)
        writable = self._writable = _Readiness(lifetime, "write", for_write=True)

        def closed() -> None:
            readable.closed()
            writable.closed()

        # However the Interface closes (this close(), its own, its with-block),
        # the waits end and the loop lets go of the fd before it is released.
        self._cancel_watch = lifetime.on_close(closed)

    @classmethod
    def open(cls, name: str, kind: DevKind = DevKind.TUN, **options: Any) -> AsyncInterface:
        """Open a device as :func:`tuntap_cffi.open` does (same arguments)."""
        return cls(open_interface(name, kind, **options))

    @property
    def interface(self) -> Interface:
        """The synchronous Interface underneath."""
        return self._iface

    @property
    def name(self) -> str:
        """The device's name."""
        return self._iface.name

    @property
    def kind(self) -> DevKind:
        """``DevKind.TUN`` or ``DevKind.TAP``."""
        return self._iface.kind

    @property
    def closed(self) -> bool:
        """True once closed."""
        return self._iface.closed

    @property
    def link(self) -> Link:
        """The device's configuration (the Interface's :attr:`~Interface.link`)."""
        return self._iface.link

    @property
    def offload(self) -> Offload:
        """The offload features the kernel accepted (empty: not an offload device)."""
        return self._iface.offload

    @property
    def write_limit(self) -> int:
        """The largest body :meth:`write_packet` accepts, in bytes (follows the MTU)."""
        return self._iface.write_limit

    @property
    def multi_queue(self) -> bool:
        """True for a queue of a multi-queue device (made by :func:`open_queues`)."""
        return self._iface.multi_queue

    def fileno(self) -> int:
        """The device fd."""
        return self._iface.fileno()

    @contextlib.contextmanager
    def using_fd(self, operation: str = "using_fd") -> Iterator[int]:
        """The device fd, kept open for the ``with`` block: :meth:`Interface.using_fd`."""
        with self._iface.using_fd(operation) as fd:
            yield fd

    def set_persist(self, persist: bool) -> None:
        """Keep the device when its last fd closes, or not: :meth:`Interface.set_persist`."""
        self._iface.set_persist(persist)

    def detach_queue(self) -> None:
        """Take this queue out of the device's rotation: :meth:`Interface.detach_queue`."""
        self._iface.detach_queue()

    def attach_queue(self) -> None:
        """Put a detached queue back into the rotation: :meth:`Interface.attach_queue`."""
        self._iface.attach_queue()

    def __repr__(self) -> str:
        return f"<AsyncInterface {self._iface!r}>"

    async def read_packet(self, buffer: bytearray | memoryview | None = None) -> Packet:
        """Await one packet. Go: ReadPacket. Cancelling loses no packet."""
        while True:
            try:
                return self._iface.read_packet(buffer, timeout=0)
            except TimeoutError:
                pass
            await self._readable.wait((self._iface.fileno(),))

    async def write_packet(self, packet: Writable) -> None:
        """Write one packet, awaiting room in the device queue. Go: WritePacket."""
        while True:
            try:
                self._iface.write_packet(packet, timeout=0)
                return
            except TimeoutError:
                pass
            await self._writable.wait((self._iface.fileno(),))

    async def read_batch(self, batch: PacketBatch) -> int:
        """Await packets into ``batch``: every packet ready, 1..capacity. Cancelling loses none."""
        while True:
            count = self._iface.read_batch(batch, timeout=0)
            if count:
                return count
            await self._readable.wait((self._iface.fileno(),))

    async def read_packets(self, max_packets: int = 64) -> list[Packet]:
        """Await at least one packet; every ready one up to ``max_packets``, as Packets."""
        while True:
            packets = self._iface.read_packets(max_packets, timeout=0)
            if packets:
                return packets
            await self._readable.wait((self._iface.fileno(),))

    async def write_batch(self, packets: PacketBatch | Iterable[Writable]) -> int:
        """Write packets in order, awaiting room whenever the device queue is full.

        Returns how many were written, each packet once; a packet the kernel or
        the write limit refuses stops the batch with its exception and
        ``.written``, as :meth:`Interface.write_batch` does.
        """
        iface = self._iface
        merge = coalescing(None, iface.offload, iface.name)
        job = write_job(packets, 0, merge, iface.kind, iface.offload, iface.name)
        if job is None:
            return iface.write_batch((), timeout=0)  # 0, or InterfaceClosedError
        status = job.status
        status.next, status.written = job.start, 0
        progress = (0, status)
        while True:
            try:
                # Every try goes on with the same job: its marks say which packets
                # a coalesced write sent ahead, so none goes out twice.
                return iface._write_loop(job, progress, deadline_of(0))
            except BatchWriteStopped as exc:
                if not isinstance(exc, TimeoutError):
                    raise
                status = _lowlevel.resumed_status(job.status)
                status.next = exc.index
                progress = (exc.written, status)
            await self._writable.wait((iface.fileno(),))

    def events(self, timeout: float | None = None) -> AsyncLinkEvents:
        """The device's link events, awaited: ``async for event in aif.events()``.

        What :meth:`Link.events` gives, as an async iterator; ``timeout``
        bounds the wait for each event (then ``TimeoutError``).
        """
        return AsyncLinkEvents(self._iface.link.events(timeout), timeout)

    def close(self) -> None:
        """Close the device; every pending await raises InterfaceClosedError.

        Closing the :attr:`interface` itself does the same.
        """
        self._iface.close()

    def __del__(self) -> None:
        cancel = getattr(self, "_cancel_watch", None)
        if cancel is not None:
            cancel()

    def __aiter__(self) -> AsyncIterator[Packet]:
        return self

    async def __anext__(self) -> Packet:
        """The next packet; the iteration ends when the interface is closed."""
        try:
            return await self.read_packet()
        except InterfaceClosedError:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> AsyncInterface:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncLinkEvents:
    """The link events of one device as an async iterator (:meth:`AsyncInterface.events`).

    Waits with ``loop.add_reader`` on the reader's socket and on its wake-up
    eventfd (readable once the reader, its Link or its Interface closes),
    whose fds it holds open meanwhile; concurrent waits share the
    registration. Events are read only after that, so cancelling an
    ``await`` loses none. The iteration ends as the synchronous one does:
    after ``DELETED``, or once closed.
    """

    def __init__(self, events: LinkEvents, timeout: float | None) -> None:
        self._events = events
        self._timeout = timeout
        self._readable = _Readiness(events._lifetime, "events", for_write=False)
        self._fds: tuple[int, ...] = ()
        try:
            with events.held_fds() as fds:
                self._fds = fds  # the reader's for its whole life
        except InterfaceClosedError:
            pass  # closed already: the first read ends the iteration

    @property
    def events(self) -> LinkEvents:
        """The synchronous reader underneath."""
        return self._events

    def __aiter__(self) -> AsyncIterator[LinkEvent]:
        return self

    async def __anext__(self) -> LinkEvent:
        loop = asyncio.get_running_loop()
        deadline = None if self._timeout is None else loop.time() + self._timeout
        while True:
            try:
                event = self._events.next_ready()
            except StopIteration:
                raise StopAsyncIteration from None
            if event is not None:
                return event
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(errno.ETIMEDOUT, f"events on {self._events.name}: timed out")
            try:
                await asyncio.wait_for(self._readable.wait(self._fds), remaining)
            except asyncio.TimeoutError:
                pass  # the deadline is seen above
            except InterfaceClosedError:
                pass  # closed: the next read ends the iteration

    def close(self) -> None:
        """End the iteration and release the reader's socket."""
        self._events.close()

    async def __aenter__(self) -> AsyncLinkEvents:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


async def _socket_ready(sock: socket.socket, for_write: bool) -> None:
    """Return once ``sock`` is readable (or writable). The socket's fd must not be
    registered with the loop by anything else meanwhile (``loop.sock_recv``)."""
    loop = asyncio.get_running_loop()
    fd = sock.fileno()
    if fd < 0:
        raise socket_closed("waiting for a socket")
    ready: asyncio.Future[None] = loop.create_future()

    def fire() -> None:
        if not ready.done():
            ready.set_result(None)

    (loop.add_writer if for_write else loop.add_reader)(fd, fire)
    try:
        await ready
    finally:
        (loop.remove_writer if for_write else loop.remove_reader)(fd)


async def udp_recv_batch(
    sock: socket.socket, batch: PacketBatch, *, kind: DevKind | None = None
) -> int:
    """:func:`tuntap_cffi.udp_recv_batch`, awaited: datagrams are taken only in the
    step that returns them, so a cancelled await loses none."""
    while True:
        count = _udp_recv_batch(sock, batch, timeout=0, kind=kind)
        if count:
            return count
        await _socket_ready(sock, for_write=False)


async def udp_send_batch(
    sock: socket.socket,
    packets: PacketBatch | Iterable[Writable],
    address: tuple[str, int] | None = None,
    *,
    start: int = 0,
) -> int:
    """:func:`tuntap_cffi.udp_send_batch`, awaited while the socket cannot take more.

    A cancelled await has sent the datagrams before the position it stopped at
    (the BatchWriteStopped of a stopped send, an interrupt's too, counts those
    of every step).
    """
    if not isinstance(packets, (PacketBatch, list, tuple)):
        try:
            iterator = iter(packets)
        except TypeError:
            pass  # not iterable: the first try says so
        else:
            packets = list(iterator)  # taken once: every try resumes the same packets
    written = 0
    while True:
        try:
            return written + _udp_send_batch(sock, packets, address, timeout=0, start=start)
        except BatchWriteStopped as exc:
            exc.written += written
            if not isinstance(exc, TimeoutError):
                raise
            written, start = exc.written, exc.index
        await _socket_ready(sock, for_write=True)
