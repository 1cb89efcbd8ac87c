"""The exception hierarchy.

System failures are plain ``OSError`` subclasses chosen by errno (so
``PermissionError``, ``FileNotFoundError`` ... come for free); the classes
here are for conditions of this library's own, starting with the Go seed's
four packet errors (their Go names are kept as aliases for people porting).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .packet import Packet

__all__ = [
    "DeviceBusyError",
    "DeviceMismatchError",
    "ErrJumboPacket",
    "ErrNotIPPacket",
    "ErrShortRead",
    "ErrTruncatedPacket",
    "InterfaceClosedError",
    "JumboPacketError",
    "NamespaceRestoreError",
    "NotIPPacketError",
    "ShortReadError",
    "ShortWriteError",
    "TruncatedPacketError",
    "TunTapError",
]


class TunTapError(Exception):
    """Base of every exception this library defines; never raised itself."""


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
    """The device exists and another process holds it (EBUSY)."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.EBUSY, message)


class DeviceMismatchError(TunTapError, OSError):
    """A device of that name exists but is not a TUN/TAP of the asked kind and flags."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.EINVAL, message)


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
