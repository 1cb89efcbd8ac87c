"""``pair()``: two connected ends with an Interface's packet API, and no device.

What one end writes, the other reads. The kernel joins the ends: a
``SOCK_SEQPACKET`` socketpair, which keeps packet boundaries and reports the
peer's close, so each end has a real fd that ``select``, ``poll`` and asyncio
wait on, and the same queue in C as a device (``struct tt_queue`` with
``pair`` set) with a device's read and write rules for its kind. No root, no
namespace, no ``/dev/net/tun``: for tests of code built on this library.

Where a socket differs from a device, the shim makes it answer as a device
would, or as a pipe does: it sends with ``MSG_NOSIGNAL`` (never SIGPIPE); a
0-byte read once the peer has shut down is the peer's close (``-EPIPE``;
an empty message, which the write rules never send, is an empty read); the
``ECONNRESET`` the kernel reports once, ahead of what is queued, when the
closing end left packets unread, is passed over, so the queue is read first.
"""

from __future__ import annotations

import errno
import itertools
import socket
from typing import TYPE_CHECKING, NoReturn, cast

from .. import _lowlevel
from ..errors import NoDeviceError, os_error
from ..lifetime import Lifetime, close_each
from ..link.link import Link, _checked_mtu
from ..packets.offload import NONE
from ..packets.packet import DevKind, as_kind
from .interface import Interface, _wake
from .queue import Queue

if TYPE_CHECKING:
    from .._native import TTQueue

__all__ = ["PairEnd", "pair"]

PEER_CLOSED = "the other end of the pair is closed"
# The ends' numbers, for their names ("pair0.a", "pair0.b").
_numbers = itertools.count()


class _NoDevice:
    """What stands for an end's Link: every attribute raises NoDeviceError, so each
    configuration call of an Interface says that a pair end has none."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> NoReturn:
        raise NoDeviceError(self._name, attribute)


def _release(
    fd: int, wakefd: int, name: str, failed: list[BaseException], held: list[TTQueue]
) -> None:
    """What the last one out of an end closes: its socket, its wake-up fd and the
    epoll fd a read made (all, even after one failed; then the first failure, a
    failed wake-up first, is raised), once the calls inside its gate have left."""
    _lowlevel.drain_gates(held, name)

    def wake_failure() -> None:
        if failed:
            raise failed[0]

    close_each(
        [
            wake_failure,
            lambda: _lowlevel.close_epoll(held, name),
            lambda: _lowlevel.close_fd(fd, name),
            lambda: _lowlevel.close_fd(wakefd, name),
        ]
    )


class PairEnd(Interface):
    """One end of :func:`pair`: an :class:`Interface`'s packet I/O, and no device.

    ``read_packet``, ``write_packet``, ``read_batch``, ``write_batch``,
    ``read_packets``, ``read``, ``readinto``, ``write``, ``fileno``,
    ``close``, the context manager and ``AsyncInterface(end)`` work as on a
    device of the end's kind, with its read and write rules and its
    :attr:`write_limit`. After the other end
    closes, what it wrote is still read, then reads and writes raise
    ``BrokenPipeError``. Configuration (``link``, ``add_address``, ``up``,
    ``set_mtu``, ``set_persist`` ...) raises :class:`~tuntap_cffi.NoDeviceError`.
    """

    def __init__(self, fd: int, wakefd: int, name: str, kind: DevKind, mtu: int) -> None:
        self._multi_queue = False
        self._pair_mtu = mtu
        wake_failed: list[BaseException] = []
        held: list[TTQueue] = []  # the queue's struct, once the Queue has made it
        lifetime = Lifetime(
            name,
            lambda: _release(fd, wakefd, name, wake_failed, held),
            wake=lambda: _wake(wakefd, name, wake_failed, held),
        )
        # An Interface without its device: the queue only, and no Link.
        Queue.__init__(self, fd, wakefd, name, kind, NONE, lifetime, cast(Link, _NoDevice(name)))
        held.append(self._q)
        self._q.pair = 1
        self._mtu_changed(mtu)

    @property
    def name(self) -> str:
        """The end's name (``pair0.a``, ``pair0.b``): no device, so no kernel name."""
        return self._name

    @property
    def link(self) -> Link:
        """Absent: a pair end has no device (:class:`~tuntap_cffi.NoDeviceError`)."""
        raise NoDeviceError(self._name, "link")

    @property
    def mtu(self) -> int:
        """The MTU the pair was made with (fixed: an end has no link to set it on)."""
        return self._pair_mtu

    def set_persist(self, persist: bool) -> None:
        """Absent: a pair end has no device (:class:`~tuntap_cffi.NoDeviceError`)."""
        raise NoDeviceError(self._name, "set_persist")

    def detach_queue(self) -> None:
        """Absent: a pair end has no device (:class:`~tuntap_cffi.NoDeviceError`)."""
        raise NoDeviceError(self._name, "detach_queue")

    def attach_queue(self) -> None:
        """Absent: a pair end has no device (:class:`~tuntap_cffi.NoDeviceError`)."""
        raise NoDeviceError(self._name, "attach_queue")

    def _limit_grew(self) -> bool:
        """Never: the write limit of an end is fixed by the pair's MTU."""
        return False

    def _error(self, err: int, operation: str) -> Exception:
        """As a device's, with the peer's close said as such (BrokenPipeError)."""
        if err == errno.EPIPE:
            return os_error(err, operation, self._name, hint=PEER_CLOSED)
        return super()._error(err, operation)

    def __enter__(self) -> PairEnd:
        return self

    def __repr__(self) -> str:
        state = "closed" if self._lifetime.closed else f"fd={self._fd}"
        return f"<PairEnd {self._name} {self._kind.name} {state}>"


def pair(kind: DevKind = DevKind.TUN, *, mtu: int = 1500) -> tuple[PairEnd, PairEnd]:
    """Two connected ends: what one writes, the other reads. No device, no root.

    Each end has an Interface's packet API and the rules of a device of
    ``kind`` with that ``mtu`` (its :attr:`~Interface.write_limit` is the
    device's: ``max(1600, mtu)`` for TUN, plus an Ethernet header and a VLAN
    tag for TAP), so code tested on a pair behaves as on a device. A writer
    whose peer does not read waits (``timeout=`` bounds it); every packet
    written is read, in order.

    Args:
        kind: ``DevKind.TUN`` (IP packets) or ``DevKind.TAP`` (Ethernet frames).
        mtu: the MTU of the device the ends stand for (68..65535 for TUN,
            68..65521 for TAP).

    Raises:
        ValueError: a bad kind or an MTU out of range.
        TypeError: an MTU that is not an int.
        OSError: no fds left (EMFILE).
    """
    kind = as_kind(kind)
    mtu = _checked_mtu(mtu, kind, False, "pair")
    number = next(_numbers)
    names = (f"pair{number}.a", f"pair{number}.b")
    fds: list[int] = []  # the sockets, then the wake-up fds
    ends: list[PairEnd] = []
    try:
        socks = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with socks[0], socks[1]:
            for sock in socks:
                sock.setblocking(False)
            for sock in socks:
                fds.append(sock.detach())
        for name in names:
            fds.append(_lowlevel.new_wake_fd(name))
        for index, name in enumerate(names):
            ends.append(PairEnd(fds[index], fds[2 + index], name, kind, mtu))
    except BaseException:
        owned = {index for k in range(len(ends)) for index in (k, 2 + k)}
        for end in ends:  # an end closes its own fds
            end.close()
        for index, fd in enumerate(fds):
            if index not in owned:
                _lowlevel.close_fd(fd, "pair")
        raise
    return ends[0], ends[1]
