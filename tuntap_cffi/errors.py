"""The exception hierarchy, and the one function that turns an errno into an exception.

System failures are plain ``OSError`` subclasses chosen by errno (so
``PermissionError``, ``FileNotFoundError`` ... come for free), built by
:func:`os_error` with the operation and the interface in the message and the
interface's name in ``filename``; the classes here are for conditions of
this library's own, starting with the Go seed's four packet errors (their Go
names are kept as aliases for people porting).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, cast

from ._lowlevel.oserrors import (
    GONE as GONE,
    HINTS as HINTS,
    NO_IPV6_HINT as NO_IPV6_HINT,
    hint_for as hint_for,
    os_error as os_error,
)

if TYPE_CHECKING:
    from .packets.packet import Packet

__all__ = [
    "BatchWriteError",
    "BatchWriteStopped",
    "DeviceBusyError",
    "DeviceMismatchError",
    "ErrJumboPacket",
    "ErrNotIPPacket",
    "ErrShortRead",
    "ErrTruncatedPacket",
    "InterfaceClosedError",
    "JumboPacketError",
    "NamespaceRestoreError",
    "NoDeviceError",
    "NotIPPacketError",
    "ShortReadError",
    "ShortWriteError",
    "TruncatedPacketError",
    "TunTapError",
    "batch_stopped",
    "os_error",
]


class TunTapError(Exception):
    """Base of every ``Exception`` this library defines; never raised itself.

    (:class:`BatchWriteStopped`, which may be a ``KeyboardInterrupt``, is not one.)
    """


class ShortReadError(TunTapError):
    """A read returned no bytes. Go: ErrShortRead."""

    def __init__(self, message: str = "truncated /dev/tun read") -> None:
        super().__init__(message)


class JumboPacketError(TunTapError, ValueError):
    """A packet is larger than the interface can take; nothing was written. Go: ErrJumboPacket."""

    def __init__(self, message: str = "jumbo packet too large for /dev/tun") -> None:
        super().__init__(message)


class NotIPPacketError(TunTapError, ValueError):
    """A TUN packet is neither IPv4 nor IPv6. Go: ErrNotIPPacket."""

    def __init__(self, message: str = "packet is not IPv4 or IPv6") -> None:
        super().__init__(message)


class TruncatedPacketError(TunTapError):
    """A packet is shorter than its header or length says. Go: ErrTruncatedPacket.

    ``packet`` holds what did arrive, for inspection or logging.
    """

    def __init__(
        self, message: str = "IP packet is truncated", packet: Packet | None = None
    ) -> None:
        super().__init__(message)
        self.packet = packet


class InterfaceClosedError(TunTapError, ValueError):
    """The interface is closed, or was closed while this call waited.

    A ``ValueError`` like the one a closed file raises.
    """

    def __init__(self, name: str, operation: str) -> None:
        super().__init__(f"{operation} on closed interface {name}")


class DeviceBusyError(TunTapError, OSError):
    """The device exists and another process holds it (EBUSY). ``filename``: the device."""

    def __init__(self, message: str, name: str | None = None) -> None:
        if name is None:
            super().__init__(errno.EBUSY, message)
        else:
            super().__init__(errno.EBUSY, message, name)


class DeviceMismatchError(TunTapError, OSError):
    """A device of that name exists but is not a TUN/TAP of the asked kind and flags.

    ``filename``: the device.
    """

    def __init__(self, message: str, name: str | None = None) -> None:
        if name is None:
            super().__init__(errno.EINVAL, message)
        else:
            super().__init__(errno.EINVAL, message, name)


class NoDeviceError(TunTapError, AttributeError):
    """A configuration call on an end of :func:`tuntap_cffi.pair`, which has no device.

    An ``AttributeError`` too, so ``hasattr(end, "link")`` is False: the
    configuration an Interface has does not exist on a pair end.
    """

    def __init__(self, name: str, operation: str) -> None:
        super().__init__(
            f"{operation} on {name}: a pair end has no device to configure "
            "(tuntap.pair() joins two ends with no device between them)"
        )


ErrShortRead = ShortReadError
ErrJumboPacket = JumboPacketError
ErrNotIPPacket = NotIPPacketError
ErrTruncatedPacket = TruncatedPacketError


class ShortWriteError(TunTapError, OSError):
    """The kernel took only part of a packet. Go: io.ErrShortWrite."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.EIO, message)


class NamespaceRestoreError(TunTapError, OSError):
    """The calling thread could not return to its own network namespace.

    Raised by calls that switch namespace (``netns=``, :mod:`tuntap_cffi.netns`)
    when switching back failed: the thread is left in the other namespace,
    and sockets it opens from now on belong there. What the call opened was
    closed again.
    """

    def __init__(self, err: int, message: str) -> None:
        super().__init__(err, message)


class BatchWriteStopped(BaseException):
    """A batch write (``write_batch``, ``udp_send_batch``) that ended before its
    last packet, and how far it went: ``written`` (how many packets went out),
    ``index`` (where to resume: the first that did not go, its slot for a batch)
    and ``unwritten`` (the positions from ``index`` on that did not go; before
    ``index`` every packet went, and after it a coalescing write may have sent
    a flow's packets ahead, merged into a super-packet, so ``unwritten`` is
    exact).

    Never raised alone: the exception is also an instance of what stopped the
    write, with its message and attributes. For an ``Exception`` (a refused
    packet, a timeout, the interface closed ...) that is a
    :class:`BatchWriteError`. For one that is not (``KeyboardInterrupt``,
    ``SystemExit``, or whatever a signal handler raises) its class derives from
    this one and the original type only, so ``except KeyboardInterrupt``
    catches it and ``except Exception`` still does not. Whatever arrives once
    the first packet could have gone out, the exception says so: an exception
    from a batch write that is not a ``BatchWriteStopped`` means that the call
    wrote nothing.
    """

    written: int
    index: int
    unwritten: tuple[int, ...]


class BatchWriteError(TunTapError, BatchWriteStopped):
    """``write_batch`` stopped at a packet: ``index`` is its position (its slot for
    a batch), ``written`` how many packets went out, and ``unwritten`` the
    positions from ``index`` on that did not (as :class:`BatchWriteStopped` says).

    Never raised alone: the exception is also an instance of what
    ``write_packet`` raises for that packet (``JumboPacketError``,
    ``NotIPPacketError``, ``TimeoutError``, ``InterfaceClosedError``, another
    ``OSError`` ...), with its message and attributes, so ``except
    JumboPacketError`` catches it as before and ``except BatchWriteError``
    catches every batch an error stopped. Resume with ``write_batch(...,
    start=index)``: a batch remembers which of its slots went out ahead and
    passes over them; for a list, write ``[packets[i] for i in err.unwritten]``.
    """


_stopped_types: dict[type[BaseException], type[BatchWriteStopped]] = {}


def batch_stopped(
    exc: BaseException, written: int, index: int, unwritten: tuple[int, ...]
) -> BatchWriteStopped:
    """``exc`` (what stopped the batch at ``index``) as the BatchWriteStopped of the batch.

    Its class derives from ``type(exc)`` and from BatchWriteError for an
    ``Exception``, from BatchWriteStopped alone for another BaseException (one
    class per type, made once); its args, attributes and OSError fields are exc's.
    """
    base = type(exc)
    if isinstance(exc, BatchWriteStopped):
        stopped = exc
    else:
        cls = _stopped_types.get(base)
        if cls is None:
            mixin = BatchWriteError if isinstance(exc, Exception) else BatchWriteStopped
            cls = type(f"BatchWrite{base.__name__}", (mixin, base), {})
            cls.__module__ = __name__
            _stopped_types[base] = cls
        stopped = cls.__new__(cls, *exc.args)  # an OSError's errno and strerror come from these
        stopped.args = exc.args
        if isinstance(exc, OSError):  # not in args (set only when set: str() shows them)
            if exc.filename is not None:
                cast(OSError, stopped).filename = exc.filename
            if exc.filename2 is not None:
                cast(OSError, stopped).filename2 = exc.filename2
        stopped.__dict__.update(exc.__dict__)
        if isinstance(exc, SystemExit):
            cast("SystemExit", stopped).code = exc.code  # set by __init__, which is not run
        stopped.__traceback__ = exc.__traceback__
    stopped.written = written
    stopped.index = index
    stopped.unwritten = unwritten
    return stopped
