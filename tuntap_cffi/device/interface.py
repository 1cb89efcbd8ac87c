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
from ..lifetime import Lifetime, close_each
from ..link.channel import Channel
from ..link.configurable import Configurable
from ..link.link import Link
from ..link.netlink import Netlink
from ..packets.offload import NONE, Offload
from ..packets.packet import DevKind
from ..timeouts import Timeout
from . import attach
from .attach import CLONE_DEVICE
from .queue import DEFAULT_WRITE_LIMIT, Queue, Writable, follow_mtu

if TYPE_CHECKING:
    from .._native import TTQueue

__all__ = ["CLONE_DEVICE", "DEFAULT_WRITE_LIMIT", "Interface", "Timeout", "Writable"]


def _wake(wakefd: int, name: str, failed: list[BaseException], held: list[TTQueue]) -> None:
    """Shut the gate of the queue in ``held`` and fire the eventfd that every wait
    in C polls; a failure is kept in ``failed`` for :func:`_release` to raise, so
    that it cannot stop the close (and leak the fds)."""
    _lowlevel.shut_gates(held)
    try:
        _lowlevel.wake(wakefd, name)
    except OSError as exc:
        failed.append(exc)


def _release(
    fd: int,
    wakefd: int,
    name: str,
    channel: Channel,
    failed: list[BaseException],
    held: list[TTQueue],
) -> None:
    """What the last one out of an Interface closes: its socket, namespace fd and fds
    (the epoll fd of the queue in ``held`` too, if a read made one), once the
    calls inside the queue's gate have left.

    Every one of them, even after a close that failed; then the first
    failure is raised (a failed wake-up first), the others chained to it.
    """
    _lowlevel.drain_gates(held, name)

    def wake_failure() -> None:
        if failed:
            raise failed[0]

    close_each(
        [
            wake_failure,
            channel.release,
            lambda: _lowlevel.close_epoll(held, name),
            lambda: _lowlevel.close_fd(fd, name),
            lambda: _lowlevel.close_fd(wakefd, name),
        ]
    )


def _fd_name(fd: int) -> str | None:
    """The device's name now, as the kernel says it of the fd (TUNGETIFF): it
    follows a rename, which the name given at open does not. None when the fd
    cannot say (a detached queue, a deleted device): the Channel then asks
    rtnetlink, whose error says what is wrong."""
    result, device = _lowlevel.fd_device(fd)
    return device.name if result >= 0 and device is not None else None


def _follow_name(queue: weakref.ref[Interface]) -> Callable[[str], None]:
    """A Channel's rename callback that keeps the interface's name (its messages'
    too) in step, holding it weakly as follow_mtu does."""

    def renamed(name: str) -> None:
        target = queue()
        if target is not None:
            target._name = name

    return renamed


class Interface(Queue, Configurable):
    """An open TUN or TAP device. Go: Interface.

    Create one with :func:`open`. Usable as a context manager; closing it
    destroys a non-persistent device. The packet calls are those of the
    queue it is (``device.queue.Queue``: one packet or a batch); the
    configuration calls those of its :attr:`link` (``link.configurable.Configurable``).
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
        wake_failed: list[BaseException] = []
        held: list[TTQueue] = []  # the queue's struct, once the Queue has made it
        lifetime = Lifetime(
            name,
            lambda: _release(fd, wakefd, name, channel, wake_failed, held),
            wake=lambda: _wake(wakefd, name, wake_failed, held),
        )
        channel = Channel(
            name,
            lifetime,
            netlink,
            netns_fd,
            fd_name=lambda: _fd_name(fd),
            on_rename=_follow_name(weakref.ref(self)),
        )
        link = Link.of_device(channel, kind, follow_mtu(weakref.ref(self)))
        super().__init__(fd, wakefd, name, kind, offload, lifetime, link)
        held.append(self._q)
        self._channel = channel

    # -- identity ---------------------------------------------------------

    @property
    def name(self) -> str:
        """The device's name, as the kernel chose it from the pattern. Go: Name.

        Asked of the kernel (TUNGETIFF on the device fd), so it follows a
        rename (``ip link set NAME name OTHER``); once closed, the last name known.
        """
        return self._channel.name_now()

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
