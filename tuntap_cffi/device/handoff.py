"""``send_interface`` and ``receive_interface``: hand an open device to another process.

A privileged process opens and configures the device, then passes its fd
over a Unix socket (``SCM_RIGHTS``) to a process that has none of those
rights; that process reads and writes packets and can change nothing else.

One message carries one device: the fd as ancillary data, and a body that
says what the sender's kernel said of it (network byte order, 24 bytes)::

    4s   magic b"TTIF"
    B    version (1)
    B    kind (0 TUN, 1 TAP)
    B    flags (1 multi-queue, 2 virtio-net headers)
    B    reserved (0)
    16s  name, ASCII, NUL-padded

The receiver checks the body against what its own kernel says of the fd it
got (``adopting.describe``), and closes every fd it does not adopt.
"""

from __future__ import annotations

import array
import errno
import select
import socket
import struct
import time
from typing import NamedTuple

from .. import _lowlevel
from ..errors import DeviceMismatchError, os_error
from ..packets.packet import DevKind
from ..timeouts import Timeout, deadline_of, slice_ms
from .adopt import adopt, describe
from .interface import Interface
from .pair import PairEnd

__all__ = ["MAGIC", "VERSION", "receive_interface", "send_interface"]

MAGIC = b"TTIF"
VERSION = 1
_BODY = struct.Struct("!4sBBBB16s")
_MULTI_QUEUE = 1
_VNET_HDR = 2
# Room to notice a longer message than ours (a newer version, or garbage),
# and for more fds than the one expected: those are received and closed.
_BODY_ROOM = 256
_FDS_ROOM = 16
_INT_SIZE = array.array("i").itemsize


class _Body(NamedTuple):
    name: str
    kind: DevKind
    multi_queue: bool
    vnet_hdr: bool


def _check_socket(sock: object, operation: str) -> socket.socket:
    """A Unix socket, open (checked before any system call)."""
    if not isinstance(sock, socket.socket):
        raise TypeError(f"{operation}: sock must be a socket.socket, not {type(sock).__name__}")
    if sock.fileno() < 0:
        raise os_error(errno.EBADF, operation, None, hint="the socket is closed")
    if sock.family != socket.AF_UNIX:
        family = getattr(sock.family, "name", str(sock.family))
        raise ValueError(f"{operation}: passing an fd needs a Unix socket (AF_UNIX), not {family}")
    return sock


def _encode(device: _lowlevel.FdDevice) -> bytes:
    flags = (_MULTI_QUEUE if device.multi_queue else 0) | (_VNET_HDR if device.vnet_hdr else 0)
    return _BODY.pack(MAGIC, VERSION, device.kind, flags, 0, device.name.encode("ascii"))


def _decode(data: bytes) -> _Body:
    """The body of a message, every field checked; ValueError says what is wrong."""
    what = "receive_interface: the message"
    if len(data) < 5 or data[:4] != MAGIC:
        raise ValueError(f"{what} is not a tuntap-cffi interface message ({len(data)} bytes)")
    if data[4] != VERSION:
        raise ValueError(f"{what} is of version {data[4]}; this library reads version {VERSION}")
    if len(data) != _BODY.size:
        raise ValueError(f"{what} has {len(data)} bytes; version {VERSION} has {_BODY.size}")
    _magic, _version, kind, flags, reserved, raw_name = _BODY.unpack(data)
    if kind not in (DevKind.TUN, DevKind.TAP):
        raise ValueError(f"{what} names an unknown kind of device ({kind})")
    if flags & ~(_MULTI_QUEUE | _VNET_HDR) or reserved:
        raise ValueError(f"{what} has unknown flags ({flags:#x}, {reserved:#x})")
    name = raw_name.rstrip(b"\0")
    if not name or b"\0" in name or not name.isascii() or not name.decode().isprintable():
        raise ValueError(f"{what} carries no valid interface name ({raw_name!r})")
    return _Body(name.decode(), DevKind(kind), bool(flags & _MULTI_QUEUE), bool(flags & _VNET_HDR))


def send_interface(sock: socket.socket, iface: Interface) -> None:
    """Send ``iface``'s device over the Unix socket ``sock`` (SCM_RIGHTS).

    The receiver (:func:`receive_interface`) gets a new fd of the same open
    file; the sender's Interface stays open and its own (close it when it is
    no longer needed: the device lives on while either holds it). The
    message says the device's name, kind and flags as the kernel says them
    now.

    Raises:
        TypeError: ``sock`` is not a socket, ``iface`` not an Interface (or a
            pair end, which has no device).
        ValueError: ``sock`` is not a Unix socket.
        InterfaceClosedError: ``iface`` is closed.
        OSError: the socket is closed, or the kernel refused the message
            (``BrokenPipeError``: the peer is gone); the message names
            ``send_interface`` and the interface.
    """
    sock = _check_socket(sock, "send_interface")
    if not isinstance(iface, Interface):
        raise TypeError(f"send_interface sends an Interface, not {type(iface).__name__}")
    if isinstance(iface, PairEnd):
        raise TypeError(
            f"send_interface sends a device; {iface.name} is an end of tuntap.pair(), "
            "which has none"
        )
    with iface.using_fd("send_interface") as fd:
        result, device = _lowlevel.fd_device(fd)
        if result < 0:
            raise os_error(-result, "send_interface", iface.name, area="device")
        assert device is not None
        body = _encode(device)
        rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))]
        try:
            sent = sock.sendmsg([body], rights, _lowlevel.MSG_NOSIGNAL)
            if sent < len(body):  # a stream socket may take part (the fd went with it)
                sock.sendall(body[sent:], _lowlevel.MSG_NOSIGNAL)
        except OSError as exc:
            # A socket's own timeout (settimeout) has no errno; before Python 3.10
            # socket.timeout is not yet TimeoutError.
            timed_out = isinstance(exc, (TimeoutError, socket.timeout))
            err = exc.errno or (errno.ETIMEDOUT if timed_out else errno.EIO)
            raise os_error(err, "send_interface", iface.name, hint="") from None


def _fds_of(ancdata: list[tuple[int, int, bytes]]) -> list[int]:
    """Every fd an SCM_RIGHTS message installed in this process (whole ints only)."""
    fds: list[int] = []
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            whole = len(data) - len(data) % _INT_SIZE
            fds.extend(array.array("i", data[:whole]))
    return fds


def _wait_readable(sock: socket.socket, deadline: float | None, timeout: Timeout) -> None:
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    while True:
        if poller.poll(slice_ms(deadline)):
            return
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError(
                errno.ETIMEDOUT, f"receive_interface: no interface arrived within {timeout} s"
            )


def _receive(
    sock: socket.socket, deadline: float | None, timeout: Timeout
) -> tuple[bytes, list[int], int]:
    """One message: (body, fds installed, flags); waits until ``deadline``."""
    space = socket.CMSG_SPACE(_FDS_ROOM * _INT_SIZE)
    flags = _lowlevel.MSG_CMSG_CLOEXEC | socket.MSG_DONTWAIT
    while True:
        _wait_readable(sock, deadline, timeout)
        try:
            data, ancdata, msg_flags, _address = sock.recvmsg(_BODY_ROOM, space, flags)
        except BlockingIOError:
            continue  # another reader took it: wait again
        except OSError as exc:
            err = exc.errno or errno.EIO
            raise os_error(err, "receive_interface", None, hint="") from None
        return data, _fds_of(ancdata), msg_flags


def _check_message(sock: socket.socket, data: bytes, fds: list[int], msg_flags: int) -> _Body:
    what = "receive_interface: the message"
    if not fds and not data and sock.type in (socket.SOCK_STREAM, socket.SOCK_SEQPACKET):
        raise EOFError("receive_interface: the peer closed the socket before sending an interface")
    if msg_flags & socket.MSG_CTRUNC:
        raise ValueError(f"{what} carried more file descriptors than the one expected")
    if not fds:
        raise ValueError(f"{what} carried no file descriptor ({len(data)} bytes, no SCM_RIGHTS)")
    if len(fds) != 1:
        raise ValueError(f"{what} carried {len(fds)} file descriptors; one was expected")
    if msg_flags & socket.MSG_TRUNC:
        raise ValueError(f"{what} is longer than {_BODY_ROOM} bytes")
    return _decode(data)


def _words(name: str, kind: DevKind, multi_queue: bool, vnet_hdr: bool) -> str:
    extra = (", multi-queue" if multi_queue else "") + (", vnet_hdr" if vnet_hdr else "")
    return f"{name} ({kind.name}{extra})"


def _check_body(body: _Body, device: _lowlevel.FdDevice) -> None:
    """The fd must be the device the message names (a mix-up, or a lying peer, else)."""
    said = (body.name, body.kind, body.multi_queue, body.vnet_hdr)
    found = (device.name, DevKind(device.kind), device.multi_queue, device.vnet_hdr)
    if said != found:
        raise DeviceMismatchError(
            f"receive_interface: the message names {_words(*said)}, but the fd it "
            f"carried is attached to {_words(*found)}",
            device.name,
        )


def receive_interface(sock: socket.socket, *, timeout: Timeout = None) -> Interface:
    """Receive a device sent by :func:`send_interface`; the Interface owns the fd.

    The fd is checked as :func:`from_fd` checks one, and must be what the
    message says (name, kind, multi-queue, virtio-net headers); the
    Interface is then the one ``from_fd`` makes. Every fd that arrived and
    was not adopted is closed, whatever went wrong.

    Args:
        timeout: seconds to wait for the message (None or ``float("inf")``:
            as long as it takes).

    Raises:
        TypeError: ``sock`` is not a socket; a timeout that is not a number.
        ValueError: ``sock`` is not a Unix socket; a timeout that is NaN,
            negative or too long (``timeouts.deadline_of``); a
            message with no fd, more than one, or a body that is not a
            valid interface message.
        TimeoutError: nothing arrived within ``timeout``.
        EOFError: the peer closed a stream or seqpacket socket.
        DeviceMismatchError: the fd is not the device the message names,
            or one whose headers this library does not read.
        OSError: the fd is not of an attached TUN/TAP device, as for
            :func:`from_fd`; the socket is closed or failed.
    """
    sock = _check_socket(sock, "receive_interface")
    deadline = deadline_of(timeout)
    data, fds, msg_flags = _receive(sock, deadline, timeout)
    try:
        body = _check_message(sock, data, fds, msg_flags)
        adoption = describe(fds[0], f"receive_interface (fd {fds[0]} received)")
        try:
            _check_body(body, adoption.device)
        except BaseException:
            adoption.abandon()
            raise
        return adopt(fds[0], adoption)
    except BaseException:
        for fd in fds:
            _lowlevel.close_fd(fd, "receive_interface")
        raise
