"""``Interface``: one open TUN/TAP device (one queue of it); ``opening.open`` makes one.

The packet I/O is the :class:`~tuntap_cffi.queue.Queue`'s that the interface
is; its configuration is its :class:`~tuntap_cffi.Link` (composed: the
configuration methods here delegate to it); its usage count is a
:class:`~tuntap_cffi.lifetime.Lifetime`, so that ``close()`` wakes every call
blocked on it and the last one out releases the fds.
"""

from __future__ import annotations

import contextlib
import errno
import warnings
import weakref
from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Callable

from .. import _lowlevel
from ..errors import hint_for, os_error
from ..lifetime import Lifetime
from ..link.channel import Channel
from ..link.link import Link
from ..link.netlink import Netlink
from ..packets.offload import NONE, Offload
from ..packets.packet import DevKind
from ..timeouts import Timeout
from . import attach
from .attach import CLONE_DEVICE
from .batch_io import BatchQueue
from .bytes_io import BytesQueue
from .link_calls import LinkCalls
from .queue import DEFAULT_WRITE_LIMIT, Writable, follow_mtu

if TYPE_CHECKING:
    from .._native import TTQueue

__all__ = ["CLONE_DEVICE", "DEFAULT_WRITE_LIMIT", "Interface", "Timeout", "Writable"]


def _release(queue: list[TTQueue], name: str, channel: Channel) -> None:
    """What the last one out of an Interface closes: its socket and namespace fd, and
    (through the queue's count in C, which the bytes calls hold) its fds."""
    channel.release()
    _lowlevel.queue_release(queue[0], name)


class Interface(BatchQueue, BytesQueue, LinkCalls):
    """An open TUN or TAP device. Go: Interface.

    Create one with :func:`open`. Usable as a context manager; closing it
    destroys a non-persistent device. The packet calls are those of the
    queue it is (:class:`~tuntap_cffi.queue.Queue` for one packet,
    :class:`~tuntap_cffi.batch_io.BatchQueue` for batches); the configuration
    calls those of its :attr:`link` (:class:`~tuntap_cffi.link_calls.LinkCalls`).
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
        queue: list[TTQueue] = []  # the queue's struct, once the Queue has made it
        lifetime = Lifetime(
            name,
            lambda: _release(queue, name, channel),
            wake=lambda: _lowlevel.queue_close(queue[0], name),
        )
        channel = Channel(name, lifetime, netlink, netns_fd)
        link = Link.of_device(channel, kind, follow_mtu(weakref.ref(self)))
        super().__init__(fd, wakefd, name, kind, offload, lifetime, link)
        queue.append(self._q)
        _lowlevel.allow_epoll(self._q)  # released through _release: its epoll fd too

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

    @contextlib.contextmanager
    def using_fd(self, operation: str = "using_fd") -> Iterator[int]:
        """The device fd, kept open for the ``with`` block, for a system call of your own.

        A :meth:`close` from another thread meanwhile still wakes the waiters,
        but the fd is released only when the block ends, so the call inside
        never reaches a closed (or re-used) fd number; ``send_interface``
        passes the fd this way.

        Raises:
            InterfaceClosedError: the interface is closed (naming ``operation``).
        """
        self._enter(operation)
        try:
            yield self._fd
        finally:
            self._leave()

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
            {errno.E2BIG: attach.FULL_HINT},
        )
